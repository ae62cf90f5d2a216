/* libcurl transport for tunnelctl. */
#include "tunnelctl/http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int http_global_init(char *err, size_t err_cap)
{
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		snprintf(err, err_cap, "cannot initialise libcurl: %s", curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

struct sink {
	char *data;
	size_t len, cap;
	bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;
	if (n > HTTP_MAX_RESPONSE - s->len) {
		s->too_big = true;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *p = realloc(s->data, cap);
		if (!p)
			return 0;
		s->data = p;
		s->cap = cap;
	}
	memcpy(s->data + s->len, ptr, n);
	s->len += n;
	s->data[s->len] = '\0';
	return n;
}

/* Prints one block of header lines with a prefix, redacting Authorization. */
static void print_headers(const char *prefix, const char *data, size_t size)
{
	while (size > 0) {
		const char *nl = memchr(data, '\n', size);
		size_t line = nl ? (size_t)(nl - data) + 1 : size;
		size_t text = line;
		while (text > 0 && (data[text - 1] == '\n' || data[text - 1] == '\r'))
			text--;
		if (text > 0) {
			if (text >= 14 && !strncasecmp(data, "Authorization:", 14))
				fprintf(stderr, "%s Authorization: (redacted)\n", prefix);
			else
				fprintf(stderr, "%s %.*s\n", prefix, (int)text, data);
		}
		data += line;
		size -= line;
	}
}

static int on_debug(CURL *curl, curl_infotype type, char *data, size_t size, void *userdata)
{
	switch (type) {
	case CURLINFO_TEXT:
		fprintf(stderr, "* %.*s", (int)size, data);
		if (size == 0 || data[size - 1] != '\n')
			fputc('\n', stderr);
		break;
	case CURLINFO_HEADER_OUT:
		print_headers(">", data, size);
		break;
	case CURLINFO_HEADER_IN:
		print_headers("<", data, size);
		break;
	default: /* bodies and raw TLS data: not shown (the body carries tokens) */
		break;
	}
	return 0;
}

int http_perform(const struct http_request *req, struct http_response *resp, char *err,
		 size_t err_cap)
{
	memset(resp, 0, sizeof(*resp));
	char curl_err[CURL_ERROR_SIZE] = "";
	struct sink sink = {0};
	struct curl_slist *headers = NULL;
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	CURL *curl = curl_easy_init();
	if (!curl) {
		snprintf(err, err_cap, "cannot create a libcurl handle");
		return -1;
	}

	struct curl_slist *h = curl_slist_append(headers, "Accept: application/json");
	if (h)
		headers = h;
	if (h && req->body) {
		h = curl_slist_append(headers, "Content-Type: application/json");
		if (h)
			headers = h;
	}
	if (!h)
		goto done;

	/* Each setopt below only fails for out-of-range values or a libcurl
	 * built without the feature; the ones that matter are checked. */
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	if ((rc = curl_easy_setopt(curl, CURLOPT_URL, req->url)) != CURLE_OK)
		goto done;
	/* Only HTTPS, and no redirects: the key goes nowhere else. */
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
	rc = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
#else
	rc = curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	if (rc != CURLE_OK)
		goto done;
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	if ((rc = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L)) != CURLE_OK ||
	    (rc = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L)) != CURLE_OK)
		goto done;
	if (req->ca_file && (rc = curl_easy_setopt(curl, CURLOPT_CAINFO, req->ca_file)) != CURLE_OK)
		goto done;
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)HTTP_CONNECT_TIMEOUT);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)HTTP_TOTAL_TIMEOUT);
	curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_MAX_RESPONSE);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "tunnelctl");
	if ((rc = curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER)) != CURLE_OK ||
	    (rc = curl_easy_setopt(curl, CURLOPT_XOAUTH2_BEARER, req->api_key)) != CURLE_OK)
		goto done;
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
	if (req->body) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(req->body));
	}
	if (strcmp(req->method, "GET") == 0)
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	else if (!(req->body && strcmp(req->method, "POST") == 0))
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	if (req->verbose) {
		curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, on_debug);
		curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
	}

	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
		if (!sink.data) {
			sink.data = calloc(1, 1);
			if (!sink.data)
				rc = CURLE_OUT_OF_MEMORY;
		}
	}
done:
	if (rc != CURLE_OK) {
		if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED)
			snprintf(err, err_cap, "%s: the response is larger than %d KiB", req->url,
				 HTTP_MAX_RESPONSE / 1024);
		else
			snprintf(err, err_cap, "%s: %s", req->url,
				 curl_err[0] ? curl_err : curl_easy_strerror(rc));
		/* curl's error buffer ends with a newline for some errors */
		size_t n = strlen(err);
		while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == '\r'))
			err[--n] = '\0';
		free(sink.data);
	} else {
		resp->body = sink.data;
		resp->len = sink.len;
	}
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	return rc == CURLE_OK ? 0 : -1;
}

void http_response_free(struct http_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}
