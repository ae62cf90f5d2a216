/* The lws side of the AWS API: reads any request header by name (SigV4
 * signs whichever the client chose) and runs aws_api_handle on a routed
 * request. http_api.c calls it from its POST / route. */
#ifndef RELAY_HTTP_AWS_H
#define RELAY_HTTP_AWS_H

#include <stdbool.h>

#include "relay/api.h"
#include "relay/aws_keys.h"
#include "relay/http_router.h"

/* True when req is an AWS call: POST / with X-Amz-Target. */
bool http_aws_wants(struct http_request *req);

/* Runs the AWS call req into res (keys NULL: the AWS API is off). */
void http_aws_handle(const struct aws_keys *keys, struct http_request *req, struct api_env *env,
		     struct api_response *res);

#endif
