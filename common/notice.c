#include "notice.h"

#include <string.h>

int notice_add(struct notice_out *n, uint8_t type, const void *payload, uint32_t len)
{
	if (len > sizeof(n->buf) || n->len + WIRE_HDR_SIZE + len > sizeof(n->buf))
		return -1;
	wire_put_header(n->buf + n->len, type, len);
	if (len)
		memcpy(n->buf + n->len + WIRE_HDR_SIZE, payload, len);
	n->len += WIRE_HDR_SIZE + len;
	return 0;
}

int notice_add_log(struct notice_out *n, const char *line, uint32_t len)
{
	if (n->len + WIRE_HDR_SIZE + len > sizeof(n->buf) - NOTICE_LOG_RESERVE)
		return -1;
	return notice_add(n, WIRE_LOG, line, len);
}

enum notice_state notice_parse(const uint8_t *buf, size_t n, int eof, struct notice *out,
			       void (*on_log)(void *ctx, const char *line, uint32_t len), void *ctx)
{
	*out = (struct notice){ .status = -1 };
	struct wire_frame f;
	long used = 0;
	size_t at = 0;
	/* First find where it ends: nothing is reported of a notice that
	 * turns out to be broken. */
	while ((used = wire_parse(buf + at, n - at, &f)) > 0) {
		at += (size_t)used;
		if (f.type == WIRE_HELLO) {
			out->hello = 1;
			out->version = f.len == 4 ? wire_get_u32(f.payload) : 0;
			break;
		}
	}
	if (used < 0)
		return NOTICE_BAD;
	if (!out->hello) {
		/* Incomplete: more may come, unless it has filled its room. */
		if (n >= NOTICE_IN_MAX || (eof && at != n))
			return NOTICE_BAD;
		if (!eof)
			return NOTICE_MORE;
	}
	out->end = at;
	for (size_t p = 0; p < at; p += (size_t)used) {
		used = wire_parse(buf + p, at - p, &f);
		if (f.type == WIRE_LOG && on_log) {
			on_log(ctx, (const char *)f.payload, f.len);
		} else if (f.type == WIRE_TRACE) {
			out->trace = (const char *)f.payload;
			out->trace_len = f.len;
		} else if (f.type == WIRE_EXIT && f.len == 8) {
			out->status = wire_exit_status(f.payload[0],
						       (int32_t)wire_get_u32(f.payload + 4));
		}
	}
	return NOTICE_DONE;
}
