/* Tunnel messages: protobuf-c unpack/pack plus the protocol's checks.
 * See message.h and docs/protocol.md §4-§6. */
#include "proto/message.h"

#include <string.h>

#include "proto/tunnel.pb-c.h"

typedef Com__Amazonaws__Iot__Securedtunneling__Message pb_msg;

static bool type_known(int type)
{
	return type >= TMSG_DATA && type <= TMSG_CONNECTION_RESET;
}

static bool needs_stream_id(int type)
{
	return type != TMSG_SESSION_RESET && type != TMSG_SERVICE_IDS;
}

bool tunnel_service_id_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == ':' ||
			  c == '-';
		if (!ok || n >= TUNNEL_MAX_SERVICE_ID)
			return false;
	}
	return n > 0;
}

static enum tunnel_msg_status validate(const pb_msg *m)
{
	size_t i;

	if (!type_known((int)m->type))
		return m->ignorable ? TMSG_SKIP : TMSG_ERR_UNKNOWN_TYPE;
	if (m->payload.len > TUNNEL_MAX_PAYLOAD)
		return TMSG_ERR_PAYLOAD_TOO_BIG;
	if (needs_stream_id((int)m->type) && m->streamid <= 0)
		return TMSG_ERR_NO_STREAM_ID;
	if (m->serviceid != NULL && m->serviceid[0] != '\0' &&
	    !tunnel_service_id_valid(m->serviceid))
		return TMSG_ERR_BAD_SERVICE_ID;
	if ((int)m->type == TMSG_SERVICE_IDS) {
		if (m->n_availableserviceids > TUNNEL_MAX_SERVICES)
			return TMSG_ERR_TOO_MANY_SERVICES;
		for (i = 0; i < m->n_availableserviceids; i++)
			if (!tunnel_service_id_valid(m->availableserviceids[i]))
				return TMSG_ERR_TOO_MANY_SERVICES;
	}
	return TMSG_OK;
}

enum tunnel_msg_status tunnel_msg_parse(const uint8_t *body, size_t len,
					struct tunnel_msg *out)
{
	static const uint8_t empty[1];
	enum tunnel_msg_status st;
	pb_msg *m;

	memset(out, 0, sizeof(*out));
	if (len > TUNNEL_MAX_FRAME_BODY)
		return TMSG_ERR_FRAME_TOO_BIG;
	if (body == NULL) {
		if (len > 0)
			return TMSG_ERR_GARBAGE;
		body = empty;
	}
	m = com__amazonaws__iot__securedtunneling__message__unpack(NULL, len,
								   body);
	if (m == NULL)
		return TMSG_ERR_GARBAGE;
	st = validate(m);
	if (st != TMSG_OK) {
		com__amazonaws__iot__securedtunneling__message__free_unpacked(m,
									       NULL);
		return st;
	}
	out->type = (enum tunnel_msg_type)m->type;
	out->stream_id = m->streamid;
	out->connection_id = m->connectionid;
	out->ignorable = m->ignorable != 0;
	out->service_id = m->serviceid != NULL ? m->serviceid : "";
	out->payload = m->payload.data;
	out->payload_len = m->payload.len;
	/* availableServiceIds means something only in SERVICE_IDS. */
	if (out->type == TMSG_SERVICE_IDS) {
		out->n_service_ids = m->n_availableserviceids;
		out->service_ids = (const char *const *)m->availableserviceids;
	}
	out->owned_ = m;
	return TMSG_OK;
}

void tunnel_msg_free(struct tunnel_msg *msg)
{
	if (msg == NULL)
		return;
	if (msg->owned_ != NULL)
		com__amazonaws__iot__securedtunneling__message__free_unpacked(
			msg->owned_, NULL);
	memset(msg, 0, sizeof(*msg));
}

/* Fills a protobuf-c struct that borrows msg's storage. protobuf-c's field
 * types are not const, but packing only reads them. proto3 fields
 * (PROTOBUF_C_LABEL_NONE) equal to 0 / "" / empty bytes are not emitted by
 * the packer, so no has_ flags are needed to keep defaults off the wire. */
static bool to_pb(const struct tunnel_msg *msg, pb_msg *m)
{
	size_t i;

	if (msg->payload_len > 0 && msg->payload == NULL)
		return false;
	if (msg->n_service_ids > 0 && msg->service_ids == NULL)
		return false;
	for (i = 0; i < msg->n_service_ids; i++)
		if (msg->service_ids[i] == NULL)
			return false;
	com__amazonaws__iot__securedtunneling__message__init(m);
	m->type = (Com__Amazonaws__Iot__Securedtunneling__Message__Type)msg->type;
	m->streamid = msg->stream_id;
	m->ignorable = msg->ignorable;
	m->payload.data = (uint8_t *)msg->payload;
	m->payload.len = msg->payload_len;
	m->serviceid = (char *)(msg->service_id != NULL ? msg->service_id : "");
	m->n_availableserviceids = msg->n_service_ids;
	m->availableserviceids = (char **)msg->service_ids;
	m->connectionid = msg->connection_id;
	return true;
}

size_t tunnel_msg_encoded_size(const struct tunnel_msg *msg)
{
	pb_msg m;

	if (!to_pb(msg, &m))
		return 0;
	return TUNNEL_FRAME_PREFIX +
	       com__amazonaws__iot__securedtunneling__message__get_packed_size(&m);
}

size_t tunnel_msg_encode(const struct tunnel_msg *msg, uint8_t *out, size_t cap)
{
	pb_msg m;
	size_t body, packed;

	if (msg->payload_len > TUNNEL_MAX_PAYLOAD || !to_pb(msg, &m))
		return 0;
	body = com__amazonaws__iot__securedtunneling__message__get_packed_size(&m);
	if (body > TUNNEL_MAX_FRAME_BODY || cap < TUNNEL_FRAME_PREFIX + body)
		return 0;
	packed = com__amazonaws__iot__securedtunneling__message__pack(
		&m, out + TUNNEL_FRAME_PREFIX);
	if (packed != body)
		return 0;
	out[0] = (uint8_t)(body >> 8);
	out[1] = (uint8_t)body;
	return TUNNEL_FRAME_PREFIX + body;
}

const char *tunnel_msg_status_str(enum tunnel_msg_status st)
{
	switch (st) {
	case TMSG_OK:
		return "ok";
	case TMSG_SKIP:
		return "unknown ignorable message, skipped";
	case TMSG_ERR_GARBAGE:
		return "garbage protobuf";
	case TMSG_ERR_UNKNOWN_TYPE:
		return "unknown message type (not ignorable)";
	case TMSG_ERR_PAYLOAD_TOO_BIG:
		return "payload too big";
	case TMSG_ERR_NO_STREAM_ID:
		return "missing stream id";
	case TMSG_ERR_BAD_SERVICE_ID:
		return "malformed service id";
	case TMSG_ERR_TOO_MANY_SERVICES:
		return "too many or malformed service ids";
	case TMSG_ERR_FRAME_TOO_BIG:
		return "frame too big";
	}
	return "invalid status";
}

const char *tunnel_msg_type_str(int type)
{
	switch (type) {
	case TMSG_DATA:
		return "DATA";
	case TMSG_STREAM_START:
		return "STREAM_START";
	case TMSG_STREAM_RESET:
		return "STREAM_RESET";
	case TMSG_SESSION_RESET:
		return "SESSION_RESET";
	case TMSG_SERVICE_IDS:
		return "SERVICE_IDS";
	case TMSG_CONNECTION_START:
		return "CONNECTION_START";
	case TMSG_CONNECTION_RESET:
		return "CONNECTION_RESET";
	}
	return "UNKNOWN";
}
