/* Tunnel messages: parse + validate a frame body, encode a message into a
 * length-prefixed frame. Pure functions, no I/O. */
#ifndef TUNNEL_MESSAGE_H
#define TUNNEL_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

enum tunnel_msg_type {
	TMSG_UNKNOWN = 0,
	TMSG_DATA = 1,
	TMSG_STREAM_START = 2,
	TMSG_STREAM_RESET = 3,
	TMSG_SESSION_RESET = 4,
	TMSG_SERVICE_IDS = 5,
	TMSG_CONNECTION_START = 6,
	TMSG_CONNECTION_RESET = 7,
};

/* A decoded message. Pointers refer to storage owned by the message (after
 * tunnel_msg_parse) or by the caller (when building one to encode). */
struct tunnel_msg {
	enum tunnel_msg_type type;
	int32_t stream_id;          /* 0 = absent */
	uint32_t connection_id;     /* 0 = absent (means 1 to a destination) */
	bool ignorable;
	const char *service_id;     /* never NULL after parse; "" = absent */
	const uint8_t *payload;     /* may be NULL when payload_len == 0 */
	size_t payload_len;
	size_t n_service_ids;       /* SERVICE_IDS only */
	const char *const *service_ids;
	void *owned_;               /* internal: what tunnel_msg_free releases */
	char service_id_[TUNNEL_MAX_SERVICE_ID + 1]; /* internal: a service id read in place */
};

enum tunnel_msg_status {
	TMSG_OK = 0,
	TMSG_SKIP,                  /* unknown type marked ignorable: drop it */
	TMSG_ERR_GARBAGE,           /* not a valid protobuf Message */
	TMSG_ERR_UNKNOWN_TYPE,      /* unknown type, not ignorable */
	TMSG_ERR_PAYLOAD_TOO_BIG,   /* payload > TUNNEL_MAX_PAYLOAD */
	TMSG_ERR_NO_STREAM_ID,      /* stream id <= 0 where one is required */
	TMSG_ERR_BAD_SERVICE_ID,    /* service id present but malformed */
	TMSG_ERR_TOO_MANY_SERVICES, /* SERVICE_IDS with more than 3 entries or a malformed one */
	TMSG_ERR_FRAME_TOO_BIG,     /* body longer than TUNNEL_MAX_FRAME_BODY */
};

/* Parses one frame body (without the 2-byte prefix) and validates it.
 * On TMSG_OK, *out must be released with tunnel_msg_free. On any other
 * status *out holds nothing to free (tunnel_msg_free is still safe).
 * A plain DATA message (the bulk of a tunnel's traffic) is read in place:
 * out->payload then points into body, so body must outlive *out. Every
 * other message goes through protobuf-c, whose answer is the same. */
enum tunnel_msg_status tunnel_msg_parse(const uint8_t *body, size_t len,
					struct tunnel_msg *out);
/* tunnel_msg_parse with every message through protobuf-c: the reference
 * the in-place reading is held to (tests and the fuzzer compare them). */
enum tunnel_msg_status tunnel_msg_parse_unpacked(const uint8_t *body, size_t len,
						 struct tunnel_msg *out);
void tunnel_msg_free(struct tunnel_msg *msg);

/* Human-readable text for a status, for log lines. */
const char *tunnel_msg_status_str(enum tunnel_msg_status st);
/* "DATA", "STREAM_START", ...; "UNKNOWN" for 0 and any value outside 1..7
 * (no "type N" text, so no static buffer is needed). */
const char *tunnel_msg_type_str(int type);

/* True when s matches ^[a-zA-Z0-9_:-]{1,128}$. */
bool tunnel_service_id_valid(const char *s);

/* Encodes msg as a frame (2-byte big-endian length + protobuf body) into
 * out[0..cap). Returns the frame length, or 0 if it does not fit or the
 * message breaks a limit (payload too big, body too big). Fields equal to
 * their proto3 default are omitted on the wire. */
size_t tunnel_msg_encode(const struct tunnel_msg *msg, uint8_t *out, size_t cap);

/* Upper bound of the encoded frame size of a message, for sizing buffers. */
size_t tunnel_msg_encoded_size(const struct tunnel_msg *msg);

#endif
