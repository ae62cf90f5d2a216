/* Builds the management API request (method, URL, JSON body) for parsed
 * tunnelctl arguments. Pure. */
#ifndef TUNNELCTL_REQUEST_H
#define TUNNELCTL_REQUEST_H

#include <stddef.h>

#include "tunnelctl/cli.h"

struct tctl_request {
	const char *method; /* "GET", "POST", "DELETE" */
	char *url;          /* malloc'd */
	char *body;         /* malloc'd JSON, or NULL when there is none */
};

/* Returns 0, or -1 with the reason in err. Free with tctl_request_free. */
int tctl_request_build(const struct tctl_args *a, struct tctl_request *req, char *err,
		       size_t err_cap);
void tctl_request_free(struct tctl_request *req);

#endif
