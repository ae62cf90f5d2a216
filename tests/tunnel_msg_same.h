/* Whether two parsed tunnel messages say the same thing (every field, the
 * payload's bytes, the service id list): for the tests and the fuzzers
 * that hold two readings or a round trip to one answer. */
#ifndef TESTS_TUNNEL_MSG_SAME_H
#define TESTS_TUNNEL_MSG_SAME_H

#include <stdbool.h>
#include <string.h>

#include "proto/message.h"

static inline bool tunnel_msg_same(const struct tunnel_msg *a, const struct tunnel_msg *b)
{
	if (a->type != b->type || a->stream_id != b->stream_id ||
	    a->connection_id != b->connection_id || a->ignorable != b->ignorable ||
	    strcmp(a->service_id, b->service_id) || a->payload_len != b->payload_len ||
	    a->n_service_ids != b->n_service_ids)
		return false;
	if (a->payload_len && memcmp(a->payload, b->payload, a->payload_len))
		return false;
	for (size_t i = 0; i < a->n_service_ids; i++)
		if (strcmp(a->service_ids[i], b->service_ids[i]))
			return false;
	return true;
}

#endif
