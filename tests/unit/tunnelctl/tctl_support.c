/* Helpers shared by tunnelctl's unit tests (tctl_support.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tunnelctl/tctl_support.h"
#include "tunnelctl/render.h"

/* argv lives here: tctl_args points into it, and --key is wiped in it. */
char arg_store[MAX_ARGS][300];
static char *argv_store[MAX_ARGS + 1];
struct tctl_args args;
char err[512];

/* Parses "tunnelctl" followed by the NULL-terminated arguments. */
int parse(const char *first, ...)
{
	int argc = 0;
	snprintf(arg_store[argc], sizeof(arg_store[argc]), "tunnelctl");
	argv_store[argc] = arg_store[argc];
	argc++;
	va_list ap;
	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *)) {
		assert_true(argc < MAX_ARGS);
		snprintf(arg_store[argc], sizeof(arg_store[argc]), "%s", s);
		argv_store[argc] = arg_store[argc];
		argc++;
	}
	va_end(ap);
	argv_store[argc] = NULL;
	tctl_args_free(&args);
	return tctl_parse(argc, argv_store, &args, err, sizeof(err));
}

void contains(const char *text, const char *want)
{
	if (!strstr(text, want))
		fail_msg("'%s' does not contain '%s'", text, want);
}

void not_contains(const char *text, const char *unwanted)
{
	if (strstr(text, unwanted))
		fail_msg("'%s' contains '%s'", text, unwanted);
}

int setup(void **state)
{
	(void)state;
	unsetenv(TCTL_ENV_URL);
	unsetenv(TCTL_ENV_KEY);
	unsetenv(TCTL_ENV_CA);
	memset(&args, 0, sizeof(args));
	err[0] = '\0';
	return 0;
}

int teardown(void **state)
{
	(void)state;
	tctl_args_free(&args);
	unsetenv(TCTL_ENV_URL);
	unsetenv(TCTL_ENV_KEY);
	unsetenv(TCTL_ENV_CA);
	return 0;
}


void capture_free(struct capture *c)
{
	free(c->out);
	free(c->err);
}

struct capture render(const struct tctl_args *a, long status, const char *body)
{
	struct capture c = {0};
	FILE *out = open_memstream(&c.out, &c.out_len);
	FILE *errf = open_memstream(&c.err, &c.err_len);
	assert_non_null(out);
	assert_non_null(errf);
	c.rc = render_response(a, status, body, body ? strlen(body) : 0, out, errf);
	fclose(out);
	fclose(errf);
	return c;
}

void expect_text(const char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fail_msg("got:\n%s\nwant:\n%s", got, want);
}
