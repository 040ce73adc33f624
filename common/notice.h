/* The ready notice (docs/protocol.md): the frames the guest agent sends to
 * host port 5253 once it listens — LOG lines, one TRACE, an EXIT only when
 * the guest could not be set up — ended by a HELLO (the connection then
 * takes one request) or, from a version-1 guest, by EOF. wisp-init builds
 * it, wisp parses it: both with this one pure code. */
#ifndef WISP_NOTICE_H
#define WISP_NOTICE_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* The guest side: frames appended until the notice is full. */
struct notice_out {
	uint8_t buf[WIRE_NOTICE_MAX];
	size_t len;
};

/* What LOG lines leave free for the TRACE and EXIT that follow them. */
#define NOTICE_LOG_RESERVE 4096

/* Appends one frame; -1 (and nothing appended) when it does not fit. */
int notice_add(struct notice_out *n, uint8_t type, const void *payload, uint32_t len);
/* A LOG line, only while the reserve stays free. */
int notice_add_log(struct notice_out *n, const char *line, uint32_t len);

/* The host side. The notice and its HELLO, whole, fit this many bytes. */
#define NOTICE_IN_MAX (WIRE_NOTICE_MAX + WIRE_HDR_SIZE + 4)

enum notice_state {
	NOTICE_MORE, /* incomplete: read more */
	NOTICE_DONE, /* complete: see struct notice */
	NOTICE_BAD,  /* not a notice this guest could have sent */
};

struct notice {
	int hello;         /* ended by HELLO: the connection takes a request */
	uint32_t version;  /* HELLO's protocol version; 0 without HELLO */
	int status;        /* EXIT's status (wire_exit_status), or -1: ready */
	const char *trace; /* the last TRACE's text (not NUL-terminated) */
	uint32_t trace_len;
	size_t end; /* bytes the notice spans, its HELLO included */
};

/* Reads the notice in buf[0..n); eof: no more bytes will come. For each LOG
 * frame calls on_log (may be NULL) once the notice is complete, in order.
 * Never reads past n; pointers in *out point into buf. */
enum notice_state notice_parse(const uint8_t *buf, size_t n, int eof, struct notice *out,
			       void (*on_log)(void *ctx, const char *line, uint32_t len),
			       void *ctx);

#endif
