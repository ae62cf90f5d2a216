/* AWS IoT Secure Tunneling's management API (service model
 * iotsecuretunneling 2018-10-05: protocol "json" 1.1, POST / with
 * X-Amz-Target: IoTSecuredTunneling.<Operation>, SigV4 with the signing
 * name IoTSecuredTunneling), as a function from a request to a response,
 * so that the AWS CLI and SDKs work against the relay unchanged. The
 * operations themselves are tunnel_ops.c's, shared with /api/v1. */
#ifndef RELAY_AWS_API_H
#define RELAY_AWS_API_H

#include <stdbool.h>

#include "relay/api.h"
#include "relay/aws_keys.h"
#include "relay/sigv4.h"

#define AWS_TARGET_PREFIX "IoTSecuredTunneling."
#define AWS_SIGNING_NAME "IoTSecuredTunneling"
#define AWS_CONTENT_TYPE "application/x-amz-json-1.1"
/* The account id in the ARNs the relay makes up (it has no accounts). */
#define AWS_ACCOUNT_ID "000000000000"

/* True when an HTTP request is meant for this API: POST / with an
 * X-Amz-Target header (NULL when absent). */
bool aws_api_wants(const char *method, const char *path, const char *target);

/* Authenticates req (SigV4 against keys; NULL or no keys: the API is off),
 * then runs the operation named by its X-Amz-Target header. The response
 * is JSON 1.1, errors as {"__type":"<AWS error name>","message":…}; a
 * call that opens a tunnel or rotates its destination token asks for the
 * device notification like api_handle. body_len > API_MAX_BODY: the body
 * was cut (413). */
void aws_api_handle(struct api_env *env, const struct aws_keys *keys,
		    const struct sigv4_request *req, struct api_response *res);

#endif
