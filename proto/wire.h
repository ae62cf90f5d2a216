/* Facts of the AWS IoT Secure Tunneling wire protocol (docs/protocol.md):
 * its WebSocket subprotocol names and its limits. Every program takes them
 * from here, so that no other file spells them again. */
#ifndef PROTO_WIRE_H
#define PROTO_WIRE_H

/* Sec-WebSocket-Protocol of each protocol version (V1..V3). */
#define SUBPROTOCOL_V1 "aws.iot.securetunneling-1.0"
#define SUBPROTOCOL_V2 "aws.iot.securetunneling-2.0"
#define SUBPROTOCOL_V3 "aws.iot.securetunneling-3.0"

/* The upgrade request: its path, the query parameter that says which end
 * connects ("source" or "destination"), and the two token headers. */
#define WIRE_PATH "/tunnel"
#define WIRE_MODE_PARAM "local-proxy-mode"
#define WIRE_HEADER_ACCESS_TOKEN "access-token"
#define WIRE_HEADER_CLIENT_TOKEN "client-token"

/* Largest payload of one DATA message (63 KiB). */
#define TUNNEL_MAX_PAYLOAD 64512u
/* Largest WebSocket message payload, both directions. */
#define TUNNEL_MAX_WS_MESSAGE 131076u
/* Size of the big-endian length prefix in front of every frame. */
#define TUNNEL_FRAME_PREFIX 2u
/* Largest protobuf body we accept after the prefix: a full DATA payload plus
 * room for every other field (a 128-byte service id, varints, tags). */
#define TUNNEL_MAX_FRAME_BODY (TUNNEL_MAX_PAYLOAD + 512u)
/* Largest whole frame, prefix included. */
#define TUNNEL_MAX_FRAME (TUNNEL_FRAME_PREFIX + TUNNEL_MAX_FRAME_BODY)
/* Service ids: ^[a-zA-Z0-9_:-]{1,128}$, at most 3 per tunnel. */
#define TUNNEL_MAX_SERVICE_ID 128u
#define TUNNEL_MAX_SERVICES 3u
/* Access tokens travel in an HTTP header of at most this many characters. */
#define TUNNEL_MAX_ACCESS_TOKEN 4096u
#define TUNNEL_ACCESS_TOKEN_SYNTAX "1-4096 printable characters, no spaces"
/* Client tokens: ^[a-zA-Z0-9-]{32,128}$ */
#define TUNNEL_MIN_CLIENT_TOKEN 32u
#define TUNNEL_MAX_CLIENT_TOKEN 128u
#define TUNNEL_CLIENT_TOKEN_SYNTAX "32-128 of [A-Za-z0-9-]"
/* The whole HTTP upgrade request. */
#define TUNNEL_MAX_HTTP_REQUEST 4096u
/* Default cap on concurrent TCP connections in one tunnel. */
#define TUNNEL_DEFAULT_MAX_CONNECTIONS 10u

#endif
