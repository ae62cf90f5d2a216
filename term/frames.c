#include "term/frames.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"

static int set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	return flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ? -1 : 0;
}

int term_pipe_init(struct term_pipe *p, int in_fd, int out_fd)
{
	p->in_fd = in_fd;
	p->out_fd = out_fd;
	p->in_pos = p->in_len = 0;
	term_frame_decoder_init(&p->dec);
	bytequeue_init(&p->out, 0);
	if (set_nonblocking(in_fd) || set_nonblocking(out_fd)) {
		log_error("cannot make stdin/stdout non-blocking: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void term_pipe_free(struct term_pipe *p)
{
	term_pipe_wipe_input(p);
	bytequeue_free(&p->out);
}

enum term_pipe_in term_pipe_next(struct term_pipe *p)
{
	for (;;) {
		if (p->in_pos == p->in_len) {
			ssize_t n = read(p->in_fd, p->in, sizeof(p->in));
			if (n < 0 && io_try_again(errno))
				return PIPE_WAIT;
			if (n < 0) {
				log_error("reading the relay's pipe: %s", strerror(errno));
				return PIPE_BROKEN;
			}
			if (n == 0)
				return PIPE_EOF;
			p->in_pos = 0;
			p->in_len = (size_t)n;
		}
		size_t used;
		enum term_frame_result r = term_frame_decode(&p->dec, p->in + p->in_pos,
							     p->in_len - p->in_pos, &used);
		p->in_pos += used;
		switch (r) {
		case TERM_FRAME_READY:
			return PIPE_FRAME;
		case TERM_FRAME_NEED_MORE:
			continue; /* every buffered byte taken: read more */
		case TERM_FRAME_BAD_TYPE:
			log_error("the relay sent a frame of unknown type 0x%02x", p->dec.type);
			return PIPE_BROKEN;
		case TERM_FRAME_TOO_LONG:
		default:
			log_error("the relay sent a frame of %u bytes (at most %d)",
				  (unsigned)p->dec.len, TERM_FRAME_MAX);
			return PIPE_BROKEN;
		}
	}
}

bool term_pipe_buffered(const struct term_pipe *p)
{
	return p->in_pos < p->in_len;
}

void term_pipe_wipe_input(struct term_pipe *p)
{
	OPENSSL_cleanse(p->dec.payload, sizeof(p->dec.payload));
	OPENSSL_cleanse(p->in, sizeof(p->in));
}

int term_pipe_send(struct term_pipe *p, uint8_t type, const void *payload, size_t len)
{
	uint8_t header[TERM_FRAME_HEADER];
	if (term_frame_header(header, type, len))
		return -1;
	uint8_t *dst = bytequeue_reserve(&p->out, sizeof(header) + len);
	if (!dst)
		return -1;
	memcpy(dst, header, sizeof(header));
	if (len)
		memcpy(dst + sizeof(header), payload, len);
	bytequeue_commit(&p->out, sizeof(header) + len);
	return term_pipe_flush(p);
}

int term_pipe_send_text(struct term_pipe *p, uint8_t type, char *json)
{
	if (!json)
		return -1;
	int rc = term_pipe_send(p, type, json, strlen(json));
	free(json);
	return rc;
}

int term_pipe_flush(struct term_pipe *p)
{
	while (bytequeue_len(&p->out)) {
		ssize_t n = write(p->out_fd, bytequeue_peek(&p->out), bytequeue_len(&p->out));
		if (n < 0 && io_try_again(errno))
			return 0;
		if (n < 0) {
			log_error("writing to the relay's pipe: %s", strerror(errno));
			return -1;
		}
		bytequeue_consume(&p->out, (size_t)n);
	}
	return 0;
}

size_t term_pipe_backlog(const struct term_pipe *p)
{
	return bytequeue_len(&p->out);
}
