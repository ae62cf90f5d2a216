#include "relay/proxy_header.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define V1_PREFIX "PROXY "
#define V1_MIN 15 /* "PROXY UNKNOWN\r\n" */

static const uint8_t v2_signature[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
					  0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

static void need(struct proxy_header *out, size_t n)
{
	out->verdict = PROXY_NEED_MORE;
	out->need = n;
}

static void invalid(struct proxy_header *out, const char *why)
{
	out->verdict = PROXY_INVALID;
	out->why = why;
}

static void done(struct proxy_header *out, size_t length)
{
	out->verdict = PROXY_DONE;
	out->length = length;
}

/* An IPv4-mapped IPv6 address is the IPv4 client of a dual-stack socket:
 * written as IPv4, as the relay writes such a peer everywhere else. */
static void write_ipv6(const uint8_t a[16], char out[PROXY_ADDRESS_MAX])
{
	struct in6_addr in6;
	memcpy(&in6, a, 16);
	if (IN6_IS_ADDR_V4MAPPED(&in6))
		inet_ntop(AF_INET, a + 12, out, PROXY_ADDRESS_MAX);
	else
		inet_ntop(AF_INET6, a, out, PROXY_ADDRESS_MAX);
}

/* ---- version 1 ------------------------------------------------------------ */

/* A decimal number 0..max without leading zeros ("0" itself is fine). */
static bool v1_number(const char *s, unsigned max, unsigned *value)
{
	size_t n = strlen(s);
	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return false;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return false;
	*value = v;
	return true;
}

/* Four decimal numbers 0..255 without leading zeros, one dot apart. */
static bool v1_ipv4(const char *s, uint8_t a[4])
{
	char part[4][8];
	size_t i = 0, k = 0;
	for (const char *p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			unsigned v;
			part[i][k] = '\0';
			if (!v1_number(part[i], 255, &v))
				return false;
			a[i++] = (uint8_t)v;
			k = 0;
			if (*p == '\0')
				return i == 4;
			if (i == 4)
				return false;
		} else if (k + 1 >= sizeof(part[0])) {
			return false;
		} else {
			part[i][k++] = *p;
		}
	}
}

/* Hexadecimal groups and colons (one "::" at most: inet_pton checks);
 * no dotted IPv4 tail, which the spec does not allow. */
static bool v1_ipv6(const char *s, uint8_t a[16])
{
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
		      (*p >= 'A' && *p <= 'F') || *p == ':'))
			return false;
	return inet_pton(AF_INET6, s, a) == 1;
}

/* Splits line at single spaces into exactly n non-empty fields. */
static bool v1_fields(char *line, char **field, size_t n)
{
	size_t i = 0;
	for (char *p = line;; p++) {
		if (i == n)
			return false; /* a space after the last field */
		field[i++] = p;
		p = strchr(p, ' ');
		if (!p)
			break;
		*p = '\0';
	}
	if (i != n)
		return false;
	for (i = 0; i < n; i++)
		if (!field[i][0])
			return false;
	return true;
}

/* line: what follows "PROXY " up to the CRLF. */
static void v1_line(char *line, size_t length, struct proxy_header *out)
{
	if (!strncmp(line, "UNKNOWN", 7) && (line[7] == '\0' || line[7] == ' ')) {
		done(out, length); /* the rest is to be ignored: the socket's peer */
		return;
	}
	bool v4 = !strncmp(line, "TCP4 ", 5);
	if (!v4 && strncmp(line, "TCP6 ", 5)) {
		invalid(out, "a version 1 header names neither TCP4, TCP6 nor UNKNOWN");
		return;
	}
	char *f[4];
	if (!v1_fields(line + 5, f, 4)) {
		invalid(out, "a version 1 header does not have 4 fields one space apart");
		return;
	}
	uint8_t src[16], dst[16];
	unsigned sport, dport;
	if (v4 ? !v1_ipv4(f[0], src) || !v1_ipv4(f[1], dst)
	       : !v1_ipv6(f[0], src) || !v1_ipv6(f[1], dst)) {
		invalid(out, "a version 1 header has a malformed address");
		return;
	}
	if (!v1_number(f[2], 65535, &sport) || !v1_number(f[3], 65535, &dport)) {
		invalid(out, "a version 1 header has a malformed port");
		return;
	}
	if (v4)
		inet_ntop(AF_INET, src, out->address, sizeof(out->address));
	else
		write_ipv6(src, out->address);
	out->port = (uint16_t)sport;
	done(out, length);
}

static void parse_v1(const uint8_t *buf, size_t len, struct proxy_header *out)
{
	size_t prefix = strlen(V1_PREFIX);
	if (memcmp(buf, V1_PREFIX, len < prefix ? len : prefix)) {
		invalid(out, "no PROXY header");
		return;
	}
	/* The CR no later than PROXY_V1_MAX - 2: the line ends within 107 bytes. */
	size_t scan = len < PROXY_V1_MAX - 1 ? len : PROXY_V1_MAX - 1;
	for (size_t i = prefix; i < scan; i++) {
		if (buf[i] == '\r') {
			if (i + 1 >= len) {
				need(out, 1);
			} else if (buf[i + 1] != '\n') {
				invalid(out, "a version 1 header has a CR without LF");
			} else {
				char line[PROXY_V1_MAX + 1];
				memcpy(line, buf + prefix, i - prefix);
				line[i - prefix] = '\0';
				v1_line(line, i + 2, out);
			}
			return;
		}
		if (buf[i] < ' ' || buf[i] > '~') {
			invalid(out, "a version 1 header holds a character that is not printable ASCII");
			return;
		}
	}
	if (len >= PROXY_V1_MAX - 1)
		invalid(out, "a version 1 header has no CRLF within 107 bytes");
	else
		need(out, len < V1_MIN ? V1_MIN - len : 1);
}

/* ---- version 2 ------------------------------------------------------------ */

enum { V2_LOCAL = 0, V2_PROXY = 1 };
enum { V2_UNSPEC = 0, V2_INET = 1, V2_INET6 = 2, V2_UNIX = 3 };
enum { V2_STREAM = 1, V2_DGRAM = 2 };

static void parse_v2(const uint8_t *buf, size_t len, struct proxy_header *out)
{
	size_t sig = sizeof(v2_signature);
	if (memcmp(buf, v2_signature, len < sig ? len : sig)) {
		invalid(out, "no PROXY header");
		return;
	}
	if (len < PROXY_V2_HEAD) {
		need(out, PROXY_V2_HEAD - len);
		return;
	}
	unsigned version = buf[12] >> 4, command = buf[12] & 15;
	unsigned family = buf[13] >> 4, transport = buf[13] & 15;
	size_t total = PROXY_V2_HEAD + ((size_t)buf[14] << 8 | buf[15]);
	if (version != 2 || (command != V2_LOCAL && command != V2_PROXY)) {
		invalid(out, "a version 2 header has an unknown version or command");
		return;
	}
	if (family > V2_UNIX || transport > V2_DGRAM) {
		invalid(out, "a version 2 header has an unknown family or transport");
		return;
	}
	if (total > PROXY_HEADER_MAX) {
		invalid(out, "a version 2 header longer than 536 bytes");
		return;
	}
	if (len < total) {
		need(out, total - len);
		return;
	}
	/* LOCAL (health checks), or no IP address: the socket's peer. */
	if (command == V2_LOCAL || transport == V2_UNSPEC ||
	    (family != V2_INET && family != V2_INET6)) {
		done(out, total);
		return;
	}
	const uint8_t *a = buf + PROXY_V2_HEAD;
	size_t alen = total - PROXY_V2_HEAD;
	if (family == V2_INET) {
		if (alen < 12) {
			invalid(out, "a version 2 header's IPv4 addresses are cut short");
			return;
		}
		inet_ntop(AF_INET, a, out->address, sizeof(out->address));
		out->port = (uint16_t)(a[8] << 8 | a[9]);
	} else {
		if (alen < 36) {
			invalid(out, "a version 2 header's IPv6 addresses are cut short");
			return;
		}
		write_ipv6(a, out->address);
		out->port = (uint16_t)(a[32] << 8 | a[33]);
	}
	done(out, total);
}

void proxy_header_parse(const uint8_t *buf, size_t len, struct proxy_header *out)
{
	memset(out, 0, sizeof(*out));
	if (len == 0)
		need(out, PROXY_V2_HEAD < V1_MIN ? PROXY_V2_HEAD : V1_MIN);
	else if (buf[0] == 'P')
		parse_v1(buf, len, out);
	else if (buf[0] == v2_signature[0])
		parse_v2(buf, len, out);
	else
		invalid(out, "no PROXY header");
}
