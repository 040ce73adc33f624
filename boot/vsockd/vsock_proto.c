#include "vsock_proto.h"

#include <string.h>

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void vsock_hdr_get(const uint8_t *p, struct vsock_hdr *h)
{
	h->src_cid = get64(p);
	h->dst_cid = get64(p + 8);
	h->src_port = get32(p + 16);
	h->dst_port = get32(p + 20);
	h->len = get32(p + 24);
	h->type = get16(p + 28);
	h->op = get16(p + 30);
	h->flags = get32(p + 32);
	h->buf_alloc = get32(p + 36);
	h->fwd_cnt = get32(p + 40);
}

void vsock_hdr_put(uint8_t *p, const struct vsock_hdr *h)
{
	put64(p, h->src_cid);
	put64(p + 8, h->dst_cid);
	put32(p + 16, h->src_port);
	put32(p + 20, h->dst_port);
	put32(p + 24, h->len);
	put16(p + 28, h->type);
	put16(p + 30, h->op);
	put32(p + 32, h->flags);
	put32(p + 36, h->buf_alloc);
	put32(p + 40, h->fwd_cnt);
}

const char *vsock_check(const struct vsock_hdr *h, uint64_t guest_cid, size_t payload_len)
{
	if (h->src_cid != guest_cid)
		return "source CID is not the guest's";
	if (h->dst_cid != VSOCK_HOST_CID)
		return "destination is not the host";
	if (h->type != VSOCK_TYPE_STREAM)
		return "not a stream packet";
	if (h->op < VSOCK_OP_REQUEST || h->op > VSOCK_OP_CREDIT_REQUEST)
		return "unknown op";
	if (h->len != payload_len || h->len > VSOCK_MAX_PAYLOAD)
		return "length does not match the payload";
	if (h->len && h->op != VSOCK_OP_RW)
		return "payload on a control packet";
	return NULL;
}

uint32_t vsock_credit(uint32_t peer_buf_alloc, uint32_t peer_fwd_cnt, uint32_t tx_cnt)
{
	uint32_t in_flight = tx_cnt - peer_fwd_cnt;
	return in_flight >= peer_buf_alloc ? 0 : peer_buf_alloc - in_flight;
}

/* "CONNECT 4294967295\n" is the longest valid line. */
#define CONNECT_LINE_MAX 19

int vsock_parse_connect(const char *buf, size_t n, uint32_t *port)
{
	static const char word[] = "CONNECT ";
	size_t w = sizeof(word) - 1;
	size_t cmp = n < w ? n : w;
	if (memcmp(buf, word, cmp) != 0)
		return -1;
	uint64_t v = 0;
	size_t i = w, digits = 0;
	for (; i < n && i < CONNECT_LINE_MAX + 1; i++) {
		char c = buf[i];
		if (c == '\n') {
			if (digits == 0 || v > UINT32_MAX)
				return -1;
			*port = (uint32_t)v;
			return (int)(i + 1);
		}
		if (c < '0' || c > '9' || ++digits > 10)
			return -1;
		v = v * 10 + (uint64_t)(c - '0');
	}
	return i > CONNECT_LINE_MAX ? -1 : 0;
}
