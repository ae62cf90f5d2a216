#include "common/config_line.h"

#include <string.h>

int config_line_parse(char *line, char **key, char **value)
{
	char *p = line;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t len = strlen(p);
	while (len && (p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t'))
		p[--len] = '\0';
	if (*p == '\0' || *p == '#' || *p == ';')
		return 0;
	char *eq = strchr(p, '=');
	if (!eq)
		return -1;
	char *k_end = eq;
	while (k_end > p && (k_end[-1] == ' ' || k_end[-1] == '\t'))
		k_end--;
	*k_end = '\0';
	char *v = eq + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (*p == '\0')
		return -1;
	*key = p;
	*value = v;
	return 1;
}
