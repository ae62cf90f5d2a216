/* Cutting a fuzz input into fields. See fuzz_input.h. */
#include "tests/fuzz/fuzz_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t *fuzz_copy(const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		fuzz_fail("out of memory");
	if (len)
		memcpy(copy, data, len);
	return copy;
}

uint8_t fuzz_byte(struct fuzz_input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->data++;
}

size_t fuzz_sizes(struct fuzz_input *in, uint8_t sizes[FUZZ_MAX_SIZES])
{
	size_t n = fuzz_byte(in) % (FUZZ_MAX_SIZES + 1);
	for (size_t i = 0; i < n; i++)
		sizes[i] = fuzz_byte(in);
	return n;
}

char *fuzz_line(struct fuzz_input *in)
{
	if (!in->left)
		return NULL;
	const uint8_t *nl = memchr(in->data, '\n', in->left);
	size_t n = nl ? (size_t)(nl - in->data) : in->left;
	char *line = malloc(n + 1);
	if (!line)
		fuzz_fail("out of memory");
	memcpy(line, in->data, n);
	line[n] = '\0';
	size_t used = nl ? n + 1 : n;
	in->data += used;
	in->left -= used;
	return line;
}

uint8_t *fuzz_rest(struct fuzz_input *in, size_t *len)
{
	uint8_t *rest = fuzz_copy(in->data, in->left);
	*len = in->left;
	in->data += in->left;
	in->left = 0;
	return rest;
}

void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz: invariant broken: %s\n", what);
	abort();
}
