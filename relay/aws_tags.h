/* Tags of the AWS API (TagResource, UntagResource, OpenTunnel's tags):
 * validation and the edits, on the compact JSON text a registry tunnel
 * keeps ([{"key":…,"value":…},…], "" for none). Pure. */
#ifndef RELAY_AWS_TAGS_H
#define RELAY_AWS_TAGS_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "relay/tunnel_ops.h"

/* AWS IoT's limit of tags on one resource. */
#define AWS_TAGS_MAX 50
#define AWS_TAG_KEY_MAX 128
#define AWS_TAG_VALUE_MAX 256

/* Adds the tags of list (a TagList: [{"key","value"},…]) to the text in
 * tags (cap bytes), replacing the values of keys already there. Returns 0,
 * or -1 with e filled and tags unchanged. */
int aws_tags_add(char *tags, size_t cap, const cJSON *list, struct ops_error *e);
/* Removes the keys of list (a TagKeyList: ["key",…]); unknown keys are no
 * error, as on AWS. Returns 0, or -1 with e filled and tags unchanged. */
int aws_tags_remove(char *tags, size_t cap, const cJSON *list, struct ops_error *e);
/* The tags as a new cJSON array (empty for ""), or NULL when out of memory. */
cJSON *aws_tags_json(const char *tags);

#endif
