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

/* ---- DATA read in place ------------------------------------------------- */

/* Field tags of a plain DATA message: (number << 3) | wire type, one byte. */
enum {
	TAG_TYPE = 1 << 3 | 0,
	TAG_STREAM_ID = 2 << 3 | 0,
	TAG_IGNORABLE = 3 << 3 | 0,
	TAG_PAYLOAD = 4 << 3 | 2,
	TAG_SERVICE_ID = 5 << 3 | 2,
	TAG_CONNECTION_ID = 7 << 3 | 0,
};

/* A base-128 varint of at most 5 bytes at *p (advanced past it); false
 * when it is longer or runs past end. */
static bool varint32(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int i = 0; i < 5 && *p < end; i++) {
		uint8_t b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/* Forwarding needs only a DATA message's type, stream, connection and
 * service: protobuf-c would allocate the message and copy the payload
 * (up to 63 KiB) for each. A plain DATA message is read here instead:
 * each field at most once, with its proto3 wire type, one-byte tags,
 * varints of at most 5 bytes, values in range, a valid service id. For
 * any other body it returns false and protobuf-c decides; so this never
 * answers differently from it (test_message, fuzz_frame). */
static bool read_plain_data(const uint8_t *body, size_t len, struct tunnel_msg *out)
{
	const uint8_t *p = body, *end = body + len;
	unsigned seen = 0;
	uint64_t type = 0, stream = 0, conn = 0, ignorable = 0, n;
	const uint8_t *payload = NULL, *service = NULL;
	size_t payload_len = 0, service_len = 0;
	while (p < end) {
		uint8_t tag = *p++;
		if (tag & 0x80 || seen & (1u << (tag >> 3)))
			return false;
		seen |= 1u << (tag >> 3);
		switch (tag) {
		case TAG_TYPE:
		case TAG_STREAM_ID:
		case TAG_IGNORABLE:
		case TAG_CONNECTION_ID:
			if (!varint32(&p, end, &n))
				return false;
			if (tag == TAG_TYPE)
				type = n;
			else if (tag == TAG_STREAM_ID)
				stream = n;
			else if (tag == TAG_IGNORABLE)
				ignorable = n;
			else
				conn = n;
			break;
		case TAG_PAYLOAD:
		case TAG_SERVICE_ID:
			if (!varint32(&p, end, &n) || n > (uint64_t)(end - p))
				return false;
			if (tag == TAG_PAYLOAD) {
				payload = p;
				payload_len = (size_t)n;
			} else {
				service = p;
				service_len = (size_t)n;
			}
			p += n;
			break;
		default:
			return false;
		}
	}
	if (type != TMSG_DATA || stream < 1 || stream > INT32_MAX || ignorable > 1 ||
	    conn > UINT32_MAX || payload_len > TUNNEL_MAX_PAYLOAD || service_len > TUNNEL_MAX_SERVICE_ID)
		return false;
	if (service_len)
		memcpy(out->service_id_, service, service_len);
	out->service_id_[service_len] = '\0';
	if (service_len && (strlen(out->service_id_) != service_len ||
			    !tunnel_service_id_valid(out->service_id_)))
		return false;
	out->type = TMSG_DATA;
	out->stream_id = (int32_t)stream;
	out->connection_id = (uint32_t)conn;
	out->ignorable = ignorable != 0;
	out->service_id = out->service_id_;
	out->payload = payload_len ? payload : NULL;
	out->payload_len = payload_len;
	return true;
}

enum tunnel_msg_status tunnel_msg_parse(const uint8_t *body, size_t len,
					struct tunnel_msg *out)
{
	memset(out, 0, sizeof(*out));
	if (body != NULL && len <= TUNNEL_MAX_FRAME_BODY && read_plain_data(body, len, out))
		return TMSG_OK;
	return tunnel_msg_parse_unpacked(body, len, out);
}

enum tunnel_msg_status tunnel_msg_parse_unpacked(const uint8_t *body, size_t len,
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
