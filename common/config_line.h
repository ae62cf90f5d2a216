/* One line of a "key = value" configuration file (localproxy's config,
 * tunnel-relay's relay.conf). Pure. */
#ifndef COMMON_CONFIG_LINE_H
#define COMMON_CONFIG_LINE_H

/* Parses one "key = value" config line. Returns 1 with key/value set, 0 for
 * a blank or comment line (# or ;), -1 for a malformed one. Modifies line. */
int config_line_parse(char *line, char **key, char **value);

#endif
