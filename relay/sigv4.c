#include "relay/sigv4.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bounds: a management call's canonical request is a few hundred bytes. */
#define MAX_CANONICAL 8192
#define MAX_SIGNED_HEADERS 512
#define MAX_QUERY_PARAMS 32
#define ALGORITHM "AWS4-HMAC-SHA256"

struct buf {
	char text[MAX_CANONICAL];
	size_t len;
	bool full;
};

static void put(struct buf *b, const char *s, size_t len)
{
	if (b->full || len >= sizeof(b->text) - b->len) {
		b->full = true;
		return;
	}
	memcpy(b->text + b->len, s, len);
	b->len += len;
	b->text[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static bool unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

/* RFC 3986 encoding as SigV4 wants it: upper-case hex, '/' kept if asked. */
static void put_encoded(struct buf *b, const char *s, size_t len, bool keep_slash)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			put(b, (const char *)&c, 1);
		} else {
			char hex[4];
			snprintf(hex, sizeof(hex), "%%%02X", c);
			put(b, hex, 3);
		}
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s[0..len) into out (cap bytes); '+' stays '+'. */
static size_t decode(const char *s, size_t len, char *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < len && n + 1 < cap; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < len && (hi = hexval(s[i + 1])) >= 0 &&
		    (lo = hexval(s[i + 2])) >= 0) {
			out[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[n++] = s[i];
		}
	}
	out[n] = '\0';
	return n;
}

struct param {
	char enc[512]; /* "name=value", both encoded */
	size_t name_len;
};

static int cmp_param(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->enc, y->enc, n);
	if (c || x->name_len != y->name_len)
		return c ? c : (x->name_len < y->name_len ? -1 : 1);
	return strcmp(x->enc + x->name_len, y->enc + y->name_len);
}

/* Canonical query: every parameter decoded, re-encoded, sorted by name
 * then value. Returns -1 when there are too many or they are too long. */
static int put_query(struct buf *b, const char *query)
{
	struct param params[MAX_QUERY_PARAMS];
	size_t n = 0;
	for (const char *p = query; p && *p; p += *p ? 1 : 0) {
		size_t len = strcspn(p, "&");
		if (len) {
			if (n == MAX_QUERY_PARAMS)
				return -1;
			const char *eq = memchr(p, '=', len);
			size_t name_raw = eq ? (size_t)(eq - p) : len;
			char raw[512];
			struct buf e = { .len = 0, .full = false };
			size_t k = decode(p, name_raw, raw, sizeof(raw));
			put_encoded(&e, raw, k, false);
			size_t name_len = e.len;
			put(&e, "=", 1);
			if (eq) {
				k = decode(eq + 1, len - name_raw - 1, raw, sizeof(raw));
				put_encoded(&e, raw, k, false);
			}
			if (e.full || e.len >= sizeof(params[n].enc))
				return -1;
			memcpy(params[n].enc, e.text, e.len + 1);
			params[n].name_len = name_len;
			n++;
		}
		p += len;
	}
	qsort(params, n, sizeof(params[0]), cmp_param);
	for (size_t i = 0; i < n; i++) {
		if (i)
			put(b, "&", 1);
		puts_(b, params[i].enc);
	}
	return 0;
}

/* A header value as SigV4 canonicalizes it: trimmed, runs of spaces as one. */
static void put_header_value(struct buf *b, const char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	bool space = false;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = true;
			continue;
		}
		if (space)
			put(b, " ", 1);
		space = false;
		put(b, v, 1);
	}
}

static void hex(const unsigned char *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

static int sha256_hex(const char *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int md_len = 0;
	if (EVP_Digest(data ? data : "", len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
		return -1;
	hex(md, 32, out);
	return 0;
}

static int hmac(const unsigned char *key, size_t key_len, const char *msg, unsigned char out[32])
{
	unsigned int len = 0;
	if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out, &len) ||
	    len != 32)
		return -1;
	return 0;
}

/* Builds the canonical request into b. */
static int canonical_request(const struct sigv4_request *req, const char *signed_headers, struct buf *b)
{
	puts_(b, req->method);
	put(b, "\n", 1);
	const char *path = req->path && *req->path ? req->path : "/";
	put_encoded(b, path, strlen(path), true);
	put(b, "\n", 1);
	if (put_query(b, req->query))
		return -1;
	put(b, "\n", 1);
	for (const char *p = signed_headers; *p;) {
		size_t len = strcspn(p, ";");
		char name[64];
		if (len == 0 || len >= sizeof(name))
			return -1;
		memcpy(name, p, len);
		name[len] = '\0';
		const char *value = req->header(req->header_ctx, name);
		if (!value)
			return -1;
		puts_(b, name);
		put(b, ":", 1);
		put_header_value(b, value);
		put(b, "\n", 1);
		p += len;
		p += *p ? 1 : 0;
	}
	put(b, "\n", 1);
	puts_(b, signed_headers);
	put(b, "\n", 1);
	char body_hash[65];
	if (sha256_hex(req->body, req->body_len, body_hash))
		return -1;
	put(b, body_hash, 64);
	return b->full ? -1 : 0;
}

int sigv4_signature(const struct sigv4_request *req, const char *signed_headers,
		    const char *amz_date, const char *scope, const char *secret, char out[65])
{
	struct buf *b = malloc(sizeof(*b));
	if (!b)
		return -1;
	b->len = 0;
	b->full = false;
	b->text[0] = '\0';
	char creq_hash[65];
	int rc = canonical_request(req, signed_headers, b) || sha256_hex(b->text, b->len, creq_hash) ? -1 : 0;
	free(b);
	if (rc)
		return -1;
	char sts[512];
	if (snprintf(sts, sizeof(sts), ALGORITHM "\n%s\n%s\n%s", amz_date, scope, creq_hash) >= (int)sizeof(sts))
		return -1;

	/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
	char first[SIGV4_MAX_SECRET + 5];
	if (snprintf(first, sizeof(first), "AWS4%s", secret) >= (int)sizeof(first))
		return -1;
	unsigned char key[32];
	char part[128];
	const char *p = scope;
	rc = 0;
	for (int i = 0; i < 4 && !rc; i++) {
		size_t len = strcspn(p, "/");
		if (len >= sizeof(part) || (i < 3 && p[len] != '/')) {
			rc = -1;
			break;
		}
		memcpy(part, p, len);
		part[len] = '\0';
		p += len + (p[len] ? 1 : 0);
		rc = i == 0 ? hmac((unsigned char *)first, strlen(first), part, key)
			    : hmac(key, sizeof(key), part, key);
	}
	unsigned char sig[32];
	if (!rc)
		rc = hmac(key, sizeof(key), sts, sig);
	if (!rc)
		hex(sig, 32, out);
	OPENSSL_cleanse(first, sizeof(first));
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* ---- verification -------------------------------------------------------- */

struct authorization {
	char credential[256];   /* AKID/DATE/REGION/SERVICE/aws4_request */
	char signed_headers[MAX_SIGNED_HEADERS];
	char signature[65];
};

/* Copies the value of "Name=" from the comma-separated list into out. */
static bool auth_field(const char *list, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ",");
		if (len > nlen && !strncmp(p, name, nlen) && p[nlen] == '=') {
			size_t vlen = len - nlen - 1;
			while (vlen && p[nlen + vlen] == ' ')
				vlen--;
			if (vlen == 0 || vlen >= cap)
				return false;
			memcpy(out, p + nlen + 1, vlen);
			out[vlen] = '\0';
			return true;
		}
		p += len;
	}
	return false;
}

static bool parse_authorization(const char *header, struct authorization *a)
{
	size_t alen = strlen(ALGORITHM);
	if (strncmp(header, ALGORITHM, alen) || header[alen] != ' ')
		return false;
	const char *list = header + alen + 1;
	if (!auth_field(list, "Credential", a->credential, sizeof(a->credential)) ||
	    !auth_field(list, "SignedHeaders", a->signed_headers, sizeof(a->signed_headers)) ||
	    !auth_field(list, "Signature", a->signature, sizeof(a->signature)) ||
	    strlen(a->signature) != 64)
		return false;
	/* Signed header names: lower case, sorted, no repeats, host among them. */
	bool host = false;
	const char *prev = NULL;
	size_t prev_len = 0;
	for (const char *p = a->signed_headers; *p;) {
		size_t len = strcspn(p, ";");
		if (len == 0)
			return false;
		for (size_t i = 0; i < len; i++)
			if (!(islower((unsigned char)p[i]) || isdigit((unsigned char)p[i]) || p[i] == '-'))
				return false;
		if (prev) {
			size_t n = len < prev_len ? len : prev_len;
			int c = memcmp(prev, p, n);
			if (c > 0 || (c == 0 && prev_len >= len))
				return false;
		}
		if (len == 4 && !memcmp(p, "host", 4))
			host = true;
		prev = p;
		prev_len = len;
		p += len;
		p += *p ? 1 : 0;
	}
	return host;
}

/* 1..max characters: letters and digits, or (region) a-z, 0-9 and '-'. */
static bool text_of(const char *s, size_t max, bool region)
{
	size_t len = strlen(s);
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (region ? !(islower(c) || isdigit(c) || c == '-') : !isalnum(c))
			return false;
	}
	return true;
}

/* "20150830T123600Z" as Unix seconds; -1 when it is not that form. */
static int64_t parse_amz_date(const char *s)
{
	if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return -1;
	for (int i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char)s[i]))
			return -1;
	struct tm tm = { 0 };
	if (sscanf(s, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

enum sigv4_verdict sigv4_verify(const struct sigv4_request *req, int64_t now, const char *service,
				sigv4_secret_fn secret_of, void *keys, struct sigv4_result *out)
{
	memset(out, 0, sizeof(*out));
	const char *header = req->header(req->header_ctx, "authorization");
	if (!header || !*header) {
		snprintf(out->reason, sizeof(out->reason), "Missing Authentication Token");
		return SIGV4_MISSING;
	}
	struct authorization a;
	if (strlen(header) >= MAX_SIGNED_HEADERS + 400 || !parse_authorization(header, &a)) {
		snprintf(out->reason, sizeof(out->reason),
			 "Authorization header requires AWS4-HMAC-SHA256 with Credential, SignedHeaders "
			 "(including host) and Signature");
		return SIGV4_MALFORMED;
	}
	/* Credential = AKID/DATE/REGION/SERVICE/aws4_request */
	char *parts[5];
	char *cred = a.credential;
	for (int i = 0; i < 5; i++) {
		parts[i] = cred;
		cred = strchr(cred, '/');
		if ((i < 4) != (cred != NULL)) {
			snprintf(out->reason, sizeof(out->reason), "Credential must be KEYID/DATE/REGION/SERVICE/aws4_request");
			return SIGV4_MALFORMED;
		}
		if (cred)
			*cred++ = '\0';
	}
	/* Both go into logs and ARNs: only their plain alphabets. */
	if (!text_of(parts[0], SIGV4_MAX_KEY_ID, false) || !text_of(parts[2], sizeof(out->region) - 1, true)) {
		snprintf(out->reason, sizeof(out->reason),
			 "Credential needs an access key id of letters and digits and a region of [a-z0-9-]");
		return SIGV4_MALFORMED;
	}
	snprintf(out->key_id, sizeof(out->key_id), "%s", parts[0]);
	snprintf(out->region, sizeof(out->region), "%s", parts[2]);
	const char *amz_date = req->header(req->header_ctx, "x-amz-date");
	char date[20];
	snprintf(date, sizeof(date), "%s", amz_date ? amz_date : "");
	int64_t when = parse_amz_date(date);
	if (when < 0 || !strstr(a.signed_headers, "x-amz-date")) {
		snprintf(out->reason, sizeof(out->reason), "X-Amz-Date must be signed and of the form YYYYMMDDTHHMMSSZ");
		return SIGV4_MALFORMED;
	}
	if (strlen(parts[1]) != 8 || strncmp(parts[1], date, 8) || strcmp(parts[3], service) ||
	    strcmp(parts[4], "aws4_request")) {
		snprintf(out->reason, sizeof(out->reason),
			 "Credential should be scoped to a valid date, a region and the service %s", service);
		return SIGV4_WRONG_SCOPE;
	}
	char secret[SIGV4_MAX_SECRET + 1];
	if (!secret_of(keys, parts[0], secret, sizeof(secret))) {
		snprintf(out->reason, sizeof(out->reason), "The security token included in the request is invalid.");
		return SIGV4_UNKNOWN_KEY;
	}
	if (when < now - SIGV4_MAX_SKEW_SECONDS || when > now + SIGV4_MAX_SKEW_SECONDS) {
		OPENSSL_cleanse(secret, sizeof(secret));
		snprintf(out->reason, sizeof(out->reason),
			 "Signature expired: %s is now more than 15 minutes from the server's time", date);
		return SIGV4_EXPIRED;
	}
	/* Rebuild the scope text with its slashes (parsing cut them). */
	char scope_text[256];
	snprintf(scope_text, sizeof(scope_text), "%s/%s/%s/%s", parts[1], parts[2], parts[3], parts[4]);
	char expected[65];
	int rc = sigv4_signature(req, a.signed_headers, date, scope_text, secret, expected);
	OPENSSL_cleanse(secret, sizeof(secret));
	/* Constant time: the comparison's length says nothing about the signature. */
	if (rc || CRYPTO_memcmp(expected, a.signature, 64) != 0) {
		snprintf(out->reason, sizeof(out->reason),
			 "The request signature we calculated does not match the signature you provided.");
		OPENSSL_cleanse(expected, sizeof(expected));
		return SIGV4_BAD_SIGNATURE;
	}
	OPENSSL_cleanse(expected, sizeof(expected));
	return SIGV4_OK;
}
