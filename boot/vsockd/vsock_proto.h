/* The virtio-vsock packet layer: the 44-byte little-endian header, credit
 * arithmetic, and the hybrid-socket "CONNECT <port>\n" line. Pure: no I/O,
 * so the unit tests and the fuzzer call it directly. */
#ifndef WISP_VSOCK_PROTO_H
#define WISP_VSOCK_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define VSOCK_HDR_SIZE 44
#define VSOCK_HOST_CID 2
#define VSOCK_TYPE_STREAM 1
/* The largest payload a guest may put in one packet (Linux: 64 KiB). */
#define VSOCK_MAX_PAYLOAD 65536

enum vsock_op {
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

#define VSOCK_SHUTDOWN_RCV 1
#define VSOCK_SHUTDOWN_SEND 2

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

/* Reads a header from p (VSOCK_HDR_SIZE bytes). */
void vsock_hdr_get(const uint8_t *p, struct vsock_hdr *h);
void vsock_hdr_put(uint8_t *p, const struct vsock_hdr *h);

/* Why a packet from the guest is refused, or NULL when it is well formed:
 * a stream packet from the guest's own CID, a known op, a length that
 * matches what arrived and only RW carrying a payload. */
const char *vsock_check(const struct vsock_hdr *h, uint64_t guest_cid, size_t payload_len);

/* Bytes we may still send to a peer that advertised buf_alloc and fwd_cnt
 * when we have sent tx_cnt in all (all counters wrap at 2^32). */
uint32_t vsock_credit(uint32_t peer_buf_alloc, uint32_t peer_fwd_cnt, uint32_t tx_cnt);

/* Parses "CONNECT <port>\n" at the start of buf[0..n). Returns the bytes
 * the line spans with *port set, 0 when the line is not complete yet, -1
 * when it is malformed (or longer than any valid line). */
int vsock_parse_connect(const char *buf, size_t n, uint32_t *port);

#endif
