/* What every fuzz target shares: libFuzzer's entry point and a cursor that
 * cuts the fuzzer's input into fields. Each piece is copied into a buffer of
 * exactly its size, so AddressSanitizer catches any read past its end (the
 * fuzzer's own buffer would hide a read into the next field). */
#ifndef TESTS_FUZZ_INPUT_H
#define TESTS_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_input {
	const uint8_t *data;
	size_t left;
};

/* One byte, or 0 once the input is used up. */
uint8_t fuzz_byte(struct fuzz_input *in);

/* The text up to the next '\n' (not included; the '\n' is consumed) as a
 * malloc'd NUL-terminated string, or NULL when the input is used up (an
 * absent field). Bytes after an embedded NUL are kept but unseen by C
 * string functions, as with a real header. Free with free(). */
char *fuzz_line(struct fuzz_input *in);

/* The rest of the input in a malloc'd buffer of exactly *len bytes (never
 * NUL-terminated; a 1-byte allocation when empty). Free with free(). */
uint8_t *fuzz_rest(struct fuzz_input *in, size_t *len);

/* The chunk-size prefix several targets share: one byte n, then n size
 * bytes (n taken modulo FUZZ_MAX_SIZES + 1). Returns n; sizes[] holds them. */
#define FUZZ_MAX_SIZES 16
size_t fuzz_sizes(struct fuzz_input *in, uint8_t sizes[FUZZ_MAX_SIZES]);

/* A copy of len bytes in an allocation of exactly len (1 when len is 0). */
uint8_t *fuzz_copy(const uint8_t *data, size_t len);

/* Stops the run with a message: a broken invariant is a finding, like a crash. */
void fuzz_fail(const char *what) __attribute__((noreturn));

#endif
