/* Names of JSON value types for the agent's error messages. */
#ifndef AGENT_JSON_TYPE_H
#define AGENT_JSON_TYPE_H

struct cJSON;

/* "a string", "a number", ... */
const char *json_type_name(const struct cJSON *item);

#endif
