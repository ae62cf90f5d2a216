#include "relay/aws_tags.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int invalid(struct ops_error *e, const char *field, const char *message)
{
	e->failure = OPS_INVALID;
	e->field = field;
	snprintf(e->message, sizeof(e->message), "%s", message);
	return -1;
}

/* AWS's tag alphabet: letters, digits, spaces and _.:/=+-@ (bytes of
 * UTF-8 sequences count as letters). */
static bool tag_text_valid(const char *s, size_t min, size_t max)
{
	size_t len = strlen(s);
	if (len < min || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr(" _.:/=+-@", c)))
			return false;
	}
	return true;
}

cJSON *aws_tags_json(const char *tags)
{
	cJSON *list = tags && *tags ? cJSON_Parse(tags) : cJSON_CreateArray();
	if (list && !cJSON_IsArray(list)) {
		cJSON_Delete(list);
		list = cJSON_CreateArray();
	}
	return list;
}

static cJSON *find_key(cJSON *list, const char *key)
{
	cJSON *tag;
	cJSON_ArrayForEach(tag, list) {
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(tag, "key");
		if (cJSON_IsString(k) && !strcmp(k->valuestring, key))
			return tag;
	}
	return NULL;
}

/* Writes list into tags when it fits; takes list. */
static int store_list(char *tags, size_t cap, cJSON *list, struct ops_error *e)
{
	char *text = cJSON_GetArraySize(list) ? cJSON_PrintUnformatted(list) : strdup("");
	cJSON_Delete(list);
	if (!text) {
		e->failure = OPS_INTERNAL;
		e->field = NULL;
		snprintf(e->message, sizeof(e->message), "out of memory");
		return -1;
	}
	if (strlen(text) >= cap) {
		free(text);
		return invalid(e, "tags", "the tags of a tunnel may take at most 4096 bytes as JSON");
	}
	strcpy(tags, text);
	free(text);
	return 0;
}

int aws_tags_add(char *tags, size_t cap, const cJSON *add, struct ops_error *e)
{
	int n = cJSON_IsArray(add) ? cJSON_GetArraySize(add) : -1;
	if (n < 1 || n > AWS_TAGS_MAX)
		return invalid(e, "tags", "tags must be a list of 1 to 50 {key, value} objects");
	cJSON *list = aws_tags_json(tags);
	if (!list)
		return invalid(e, "tags", "out of memory");
	const cJSON *tag;
	cJSON_ArrayForEach(tag, add) {
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(tag, "key");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(tag, "value");
		if (!cJSON_IsString(k) || !cJSON_IsString(v) ||
		    !tag_text_valid(k->valuestring, 1, AWS_TAG_KEY_MAX) ||
		    !tag_text_valid(v->valuestring, 0, AWS_TAG_VALUE_MAX)) {
			cJSON_Delete(list);
			return invalid(e, "tags", "a tag needs a key of 1-128 and a value of 0-256 "
				       "letters, digits, spaces or _.:/=+-@");
		}
		cJSON *old = find_key(list, k->valuestring);
		cJSON *fresh = cJSON_CreateObject();
		if (!fresh || !cJSON_AddStringToObject(fresh, "key", k->valuestring) ||
		    !cJSON_AddStringToObject(fresh, "value", v->valuestring)) {
			cJSON_Delete(fresh);
			cJSON_Delete(list);
			return invalid(e, "tags", "out of memory");
		}
		if (old)
			cJSON_ReplaceItemViaPointer(list, old, fresh);
		else
			cJSON_AddItemToArray(list, fresh);
	}
	if (cJSON_GetArraySize(list) > AWS_TAGS_MAX) {
		cJSON_Delete(list);
		return invalid(e, "tags", "a tunnel may have at most 50 tags");
	}
	return store_list(tags, cap, list, e);
}

int aws_tags_remove(char *tags, size_t cap, const cJSON *keys, struct ops_error *e)
{
	if (!cJSON_IsArray(keys) || cJSON_GetArraySize(keys) > 200)
		return invalid(e, "tagKeys", "tagKeys must be a list of at most 200 keys");
	const cJSON *k;
	cJSON_ArrayForEach(k, keys)
		if (!cJSON_IsString(k) || !tag_text_valid(k->valuestring, 1, AWS_TAG_KEY_MAX))
			return invalid(e, "tagKeys", "a tag key is 1-128 letters, digits, spaces or _.:/=+-@");
	cJSON *list = aws_tags_json(tags);
	if (!list)
		return invalid(e, "tagKeys", "out of memory");
	cJSON_ArrayForEach(k, keys) {
		cJSON *old = find_key(list, k->valuestring);
		if (old)
			cJSON_Delete(cJSON_DetachItemViaPointer(list, old));
	}
	return store_list(tags, cap, list, e);
}
