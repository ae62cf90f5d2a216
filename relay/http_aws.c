#include "relay/http_aws.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "relay/aws_api.h"

struct header_reader {
	struct lws *wsi;
	char value[1024];   /* the last header read: valid until the next */
};

/* A sigv4_header_fn: any request header by lower-case name. lws 4.1 keeps
 * the headers it knows under tokens, the others as custom headers
 * (lws_hdr_custom_*, which take the name with its colon). */
static const char *read_header(void *ctx, const char *name)
{
	static const struct { const char *name; enum lws_token_indexes token; } known[] = {
		{ "host", WSI_TOKEN_HOST },
		{ "content-type", WSI_TOKEN_HTTP_CONTENT_TYPE },
		{ "content-length", WSI_TOKEN_HTTP_CONTENT_LENGTH },
		{ "authorization", WSI_TOKEN_HTTP_AUTHORIZATION },
		{ "user-agent", WSI_TOKEN_HTTP_USER_AGENT },
		{ "accept", WSI_TOKEN_HTTP_ACCEPT },
		{ "accept-encoding", WSI_TOKEN_HTTP_ACCEPT_ENCODING },
	};
	struct header_reader *r = ctx;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strcmp(name, known[i].name))
			continue;
		if (lws_hdr_total_length(r->wsi, known[i].token) <= 0 ||
		    lws_hdr_copy(r->wsi, r->value, sizeof(r->value), known[i].token) < 0)
			return NULL;
		return r->value;
	}
	char key[64];
	int klen = snprintf(key, sizeof(key), "%s:", name);
	if (klen <= 0 || klen >= (int)sizeof(key))
		return NULL;
	int len = lws_hdr_custom_length(r->wsi, key, klen);
	if (len < 0 || len >= (int)sizeof(r->value) ||
	    lws_hdr_custom_copy(r->wsi, r->value, sizeof(r->value), key, klen) < 0)
		return NULL;
	return r->value;
}

bool http_aws_wants(struct http_request *req)
{
	struct header_reader r = { .wsi = req->wsi };
	return aws_api_wants(req->method, req->path, read_header(&r, "x-amz-target"));
}

void http_aws_handle(const struct aws_keys *keys, struct http_request *req, struct api_env *env,
		     struct api_response *res)
{
	struct header_reader r = { .wsi = req->wsi };
	struct sigv4_request sreq = {
		.method = req->method,
		.path = req->path,
		.query = req->query[0] ? req->query : NULL,
		.body = req->body,
		.body_len = req->body_too_big ? API_MAX_BODY + 1 : req->body_len,
		.header = read_header,
		.header_ctx = &r,
	};
	aws_api_handle(env, keys, &sreq, res);
	OPENSSL_cleanse(r.value, sizeof(r.value)); /* it may hold the Authorization header */
}
