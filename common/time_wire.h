/* The host time service's few bytes (docs/time.md): the guest connects to
 * CID 2 port TIME_WIRE_PORT and sends requests; the host answers each with
 * its CLOCK_REALTIME. Fixed sizes, little-endian, no state but a sequence
 * number the host echoes. Header-only: wisp-init, wisp-vsockd and the fuzz
 * target include it and need no extra object file.
 *
 *   request  (16 bytes): magic "WTIM", u8 version 1, u8 type 1, u16 0, u64 seq
 *   response (24 bytes): magic "WTIM", u8 version 1, u8 type 2, u16 0, u64 seq,
 *                        i64 host CLOCK_REALTIME in nanoseconds
 */
#ifndef WISP_TIME_WIRE_H
#define WISP_TIME_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The vsock port of the host time service (5252 is the agent's, 5253 the
 * ready notification's). */
#define TIME_WIRE_PORT 5254
#define TIME_WIRE_VERSION 1
#define TIME_WIRE_REQUEST 1
#define TIME_WIRE_RESPONSE 2
#define TIME_WIRE_REQUEST_SIZE 16
#define TIME_WIRE_RESPONSE_SIZE 24

static const uint8_t time_wire_magic[4] = { 'W', 'T', 'I', 'M' };

static inline void time_wire_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t time_wire_get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline void time_wire_put_header(uint8_t *p, uint8_t type)
{
	memcpy(p, time_wire_magic, 4);
	p[4] = TIME_WIRE_VERSION;
	p[5] = type;
	p[6] = p[7] = 0;
}

static inline int time_wire_header_ok(const uint8_t *p, uint8_t type)
{
	return !memcmp(p, time_wire_magic, 4) && p[4] == TIME_WIRE_VERSION && p[5] == type &&
	       p[6] == 0 && p[7] == 0;
}

static inline void time_wire_put_request(uint8_t out[TIME_WIRE_REQUEST_SIZE], uint64_t seq)
{
	time_wire_put_header(out, TIME_WIRE_REQUEST);
	time_wire_put64(out + 8, seq);
}

static inline void time_wire_put_response(uint8_t out[TIME_WIRE_RESPONSE_SIZE], uint64_t seq,
					  int64_t host_ns)
{
	time_wire_put_header(out, TIME_WIRE_RESPONSE);
	time_wire_put64(out + 8, seq);
	time_wire_put64(out + 16, (uint64_t)host_ns);
}

/* Host times at or past 2^62 ns (year 2116) are refused: whatever the host
 * says, the guest's arithmetic on it cannot overflow. */
#define TIME_WIRE_MAX_NS (1ULL << 62)

/* A response must echo the request's seq and carry a time after 1970 and
 * before TIME_WIRE_MAX_NS: 0 when it does, -1 when the bytes are not a
 * valid answer to seq. */
static inline int time_wire_parse_response(const uint8_t in[TIME_WIRE_RESPONSE_SIZE], uint64_t seq,
					   int64_t *host_ns)
{
	if (!time_wire_header_ok(in, TIME_WIRE_RESPONSE) || time_wire_get64(in + 8) != seq)
		return -1;
	uint64_t ns = time_wire_get64(in + 16);
	if (ns == 0 || ns >= TIME_WIRE_MAX_NS)
		return -1;
	*host_ns = (int64_t)ns;
	return 0;
}

/* Reassembles requests from a byte stream that arrives in any chunks. */
struct time_wire_rx {
	uint8_t buf[TIME_WIRE_REQUEST_SIZE];
	size_t have;
};

enum { TIME_RX_BAD = -1, TIME_RX_MORE = 0, TIME_RX_REQUEST = 1 };

/* Takes bytes from in[0..n) up to the end of one request and returns how
 * many it took; *status says TIME_RX_REQUEST (*seq is set; the next call
 * starts a new request), TIME_RX_MORE (all of in was used), or TIME_RX_BAD
 * (the bytes cannot be a request: the connection should be closed). A bad
 * header is caught as soon as its 8 bytes are in. Never reads past n. */
static inline size_t time_wire_rx_feed(struct time_wire_rx *rx, const uint8_t *in, size_t n,
				       int *status, uint64_t *seq)
{
	size_t want = TIME_WIRE_REQUEST_SIZE - rx->have;
	size_t take = n < want ? n : want;
	memcpy(rx->buf + rx->have, in, take);
	size_t before = rx->have;
	rx->have += take;
	*status = TIME_RX_MORE;
	if (before < 8 && rx->have >= 8 && !time_wire_header_ok(rx->buf, TIME_WIRE_REQUEST)) {
		*status = TIME_RX_BAD;
		return take;
	}
	if (rx->have == TIME_WIRE_REQUEST_SIZE) {
		*seq = time_wire_get64(rx->buf + 8);
		rx->have = 0;
		*status = TIME_RX_REQUEST;
	}
	return take;
}

#endif
