/* Unit tests for term/frames.c over real pipes: frames split across reads,
 * EOF, a broken stream, the write queue when the reader stops. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "term/frames.h"

struct fixture {
	int in[2], out[2];
	struct term_pipe p;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f || pipe(f->in) || pipe(f->out))
		return -1;
	if (term_pipe_init(&f->p, f->in[0], f->out[1]))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	term_pipe_free(&f->p);
	for (int i = 0; i < 2; i++) {
		close(f->in[i]);
		if (f->out[i] >= 0)
			close(f->out[i]);
	}
	free(f);
	return 0;
}

static void put(int fd, const void *data, size_t len)
{
	assert_int_equal(write(fd, data, len), (ssize_t)len);
}

static void test_split_frames(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(term_pipe_next(&f->p), PIPE_WAIT);
	put(f->in[1], "i\0\0", 3);
	assert_int_equal(term_pipe_next(&f->p), PIPE_WAIT);
	put(f->in[1], "\0\2hiy\0\0\0\0r\0", 12);
	assert_int_equal(term_pipe_next(&f->p), PIPE_FRAME);
	assert_int_equal(f->p.dec.type, 'i');
	assert_memory_equal(f->p.dec.payload, "hi", 2);
	assert_true(term_pipe_buffered(&f->p)); /* the next frame is read already */
	assert_int_equal(term_pipe_next(&f->p), PIPE_FRAME);
	assert_int_equal(f->p.dec.type, 'y');
	assert_int_equal(term_pipe_next(&f->p), PIPE_WAIT);
	assert_false(term_pipe_buffered(&f->p)); /* "r\0" sits in the decoder */
	close(f->in[1]);
	f->in[1] = open("/dev/null", O_RDONLY); /* teardown closes something */
	assert_int_equal(term_pipe_next(&f->p), PIPE_EOF);
}

static void test_bad_frame(void **state)
{
	struct fixture *f = *state;
	put(f->in[1], "i\0\0\0\1xQ\0\0\0\0", 11);
	assert_int_equal(term_pipe_next(&f->p), PIPE_FRAME);
	assert_int_equal(term_pipe_next(&f->p), PIPE_BROKEN);
}

static void test_wipe_input(void **state)
{
	struct fixture *f = *state;
	put(f->in[1], "a\0\0\0\6secret", 11);
	assert_int_equal(term_pipe_next(&f->p), PIPE_FRAME);
	term_pipe_wipe_input(&f->p);
	assert_null(memmem(f->p.dec.payload, sizeof(f->p.dec.payload), "secret", 6));
	assert_null(memmem(f->p.in, sizeof(f->p.in), "secret", 6));
}

/* The reader stops: frames queue (the caller bounds them by the backlog),
 * then all arrive in order once it reads again. */
static void test_send_queue(void **state)
{
	struct fixture *f = *state;
	static uint8_t chunk[TERM_FRAME_MAX];
	memset(chunk, 'z', sizeof(chunk));
	size_t frames = 0;
	while (term_pipe_backlog(&f->p) == 0) {
		assert_int_equal(term_pipe_send(&f->p, 'o', chunk, sizeof(chunk)), 0);
		frames++;
	}
	assert_int_equal(term_pipe_send_text(&f->p, 'x', strdup("{\"status\":0}")), 0);
	assert_int_equal(term_pipe_send(&f->p, 'o', chunk, TERM_FRAME_MAX + 1), -1);
	assert_int_equal(term_pipe_send(&f->p, 'Q', "", 0), -1);
	size_t total = frames * (TERM_FRAME_HEADER + TERM_FRAME_MAX) + TERM_FRAME_HEADER + 12;
	uint8_t *got = malloc(total);
	assert_non_null(got);
	size_t have = 0;
	while (have < total) {
		ssize_t n = read(f->out[0], got + have, total - have);
		assert_true(n > 0);
		have += (size_t)n;
		assert_int_equal(term_pipe_flush(&f->p), 0);
	}
	assert_int_equal(term_pipe_backlog(&f->p), 0);
	assert_memory_equal(got + total - 17, "x\0\0\0\x0c{\"status\":0}", 17);
	free(got);
	/* The reader gone: the next write fails. */
	close(f->out[0]);
	f->out[0] = -1;
	assert_int_equal(term_pipe_send(&f->p, 'o', "a", 1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_split_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wipe_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_queue, setup, teardown),
	};
	/* A write to a pipe without a reader must fail, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
