#include "term/messages.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints and frees obj; NULL in, NULL out. */
static char *print_free(cJSON *obj, bool ok)
{
	char *text = ok && obj ? cJSON_PrintUnformatted(obj) : NULL;
	cJSON_Delete(obj);
	return text;
}

char *msg_status(const char *state, const char *message, unsigned methods)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o && cJSON_AddStringToObject(o, "state", state);
	if (ok && message)
		ok = cJSON_AddStringToObject(o, "message", message) != NULL;
	if (ok && methods) {
		cJSON *m = cJSON_AddArrayToObject(o, "methods");
		ok = m != NULL;
		if (ok && (methods & TERM_AUTH_PASSWORD))
			ok = cJSON_AddItemToArray(m, cJSON_CreateString("password"));
		if (ok && (methods & TERM_AUTH_PUBLICKEY))
			ok = cJSON_AddItemToArray(m, cJSON_CreateString("publickey"));
	}
	return print_free(o, ok);
}

char *msg_hostkey(const char *fingerprint, const char *key_type, const char *status)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o && cJSON_AddStringToObject(o, "fingerprint", fingerprint) &&
		  cJSON_AddStringToObject(o, "keyType", key_type) &&
		  cJSON_AddStringToObject(o, "status", status);
	return print_free(o, ok);
}

char *msg_error(const char *code, const char *message)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o && cJSON_AddStringToObject(o, "code", code) &&
		  cJSON_AddStringToObject(o, "message", message);
	return print_free(o, ok);
}

char *msg_exit(int status)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o && cJSON_AddNumberToObject(o, "status", status);
	return print_free(o, ok);
}

static bool int_field(const cJSON *o, const char *name, int lo, int hi, int *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
	    v->valuedouble != (double)(int)v->valuedouble)
		return false;
	*out = (int)v->valuedouble;
	return true;
}

int msg_parse_resize(const uint8_t *p, size_t n, int *cols, int *rows)
{
	cJSON *o = cJSON_ParseWithLength((const char *)p, n);
	int c, r;
	bool ok = cJSON_IsObject(o) && int_field(o, "cols", 1, 1000, &c) &&
		  int_field(o, "rows", 1, 1000, &r);
	cJSON_Delete(o);
	if (!ok)
		return -1;
	*cols = c;
	*rows = r;
	return 0;
}

/* Overwrites every string cJSON copied out of the payload. */
static void wipe_tree(cJSON *item)
{
	for (; item; item = item->next) {
		if (item->valuestring)
			OPENSSL_cleanse(item->valuestring, strlen(item->valuestring));
		wipe_tree(item->child);
	}
}

/* A copy of an optional string member: 0 absent, 1 copied, -1 wrong type or
 * out of memory. */
static int take_string(const cJSON *o, const char *name, char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!v)
		return 0;
	if (!cJSON_IsString(v))
		return -1;
	*out = strdup(v->valuestring);
	return *out ? 1 : -1;
}

int msg_parse_creds(const uint8_t *p, size_t n, struct term_creds *c, char *err, size_t cap)
{
	memset(c, 0, sizeof(*c));
	cJSON *o = cJSON_ParseWithLength((const char *)p, n);
	int rc = -1;
	if (!cJSON_IsObject(o)) {
		snprintf(err, cap, "the credentials are not a JSON object");
		goto out;
	}
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(o, "user");
	if (!cJSON_IsString(user) || !user->valuestring[0] ||
	    strlen(user->valuestring) > TERM_USER_MAX) {
		snprintf(err, cap, "a user name (1-%d characters) is required", TERM_USER_MAX);
		goto out;
	}
	strcpy(c->user, user->valuestring);
	int pw = take_string(o, "password", &c->password);
	int key = take_string(o, "key", &c->key);
	int pp = take_string(o, "passphrase", &c->passphrase);
	if (pw < 0 || key < 0 || pp < 0) {
		snprintf(err, cap, "password, key and passphrase must be strings");
		goto out;
	}
	if ((pw > 0) == (key > 0)) {
		snprintf(err, cap, "give either a password or a private key");
		goto out;
	}
	rc = 0;
out:
	if (o)
		wipe_tree(o->child);
	cJSON_Delete(o);
	return rc;
}

static void wipe_free(char **s)
{
	if (*s) {
		OPENSSL_cleanse(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void creds_wipe(struct term_creds *c)
{
	wipe_free(&c->password);
	wipe_free(&c->key);
	wipe_free(&c->passphrase);
	OPENSSL_cleanse(c->user, sizeof(c->user));
}
