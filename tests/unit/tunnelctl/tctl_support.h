/* What tunnelctl's unit tests share: argv building and parsing, text
 * checks, and capturing what a render call prints (tctl_support.c). */
#ifndef TESTS_UNIT_TUNNELCTL_SUPPORT_H
#define TESTS_UNIT_TUNNELCTL_SUPPORT_H

#include <stddef.h>

#include "tunnelctl/cli.h"

/* argv of the last parse() (tctl_args points into it, and --key is wiped
 * in it), the arguments it gave and its error text. */
#define MAX_ARGS 32
extern char arg_store[MAX_ARGS][300];
extern struct tctl_args args;
extern char err[512];

/* Parses "tunnelctl" followed by the NULL-terminated arguments. */
int parse(const char *first, ...);
void contains(const char *text, const char *want);
void not_contains(const char *text, const char *unwanted);
/* cmocka setup/teardown: no tunnelctl environment, empty args. */
int setup(void **state);
int teardown(void **state);

/* Captured stdout/stderr of one render call. */
struct capture {
	char *out, *err;
	size_t out_len, err_len;
	int rc;
};

void capture_free(struct capture *c);
struct capture render(const struct tctl_args *a, long status, const char *body);
void expect_text(const char *got, const char *want);

#endif
