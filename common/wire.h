/* The framed stream between wisp-init and the host: one ordered byte
 * stream (a vsock connection to the guest agent, or the virtio-serial port
 * "wisp.io" to PID 1 with `wisp run --no-vsock`) that carries
 * the command's stdin, stdout, stderr, signals, window size and exit
 * status. Ordering is the point: the EXIT frame arrives after every byte of
 * output, so the host knows it has everything before the VM goes away.
 *
 * A frame is an 8-byte little-endian header, then `len` payload bytes:
 *   u8 type, u8 flags (0), u16 reserved (0), u32 len (<= WIRE_MAX_PAYLOAD).
 * See docs/protocol.md for every type. */
#ifndef WISP_WIRE_H
#define WISP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION 2
#define WIRE_HDR_SIZE 8
#define WIRE_MAX_PAYLOAD 65536
/* The ready notice (docs/protocol.md) is at most this long, its HELLO
 * not counted. */
#define WIRE_NOTICE_MAX 8192

enum wire_type {
	WIRE_HELLO = 1,     /* guest->host: u32 version; the command is about to start */
	WIRE_STDIN = 2,     /* host->guest: bytes for the command; empty = end of input */
	WIRE_STDOUT = 3,    /* guest->host: the command's stdout (or its tty) */
	WIRE_STDERR = 4,    /* guest->host: the command's stderr */
	WIRE_EXIT = 5,      /* guest->host: struct wire_exit; the last data frame */
	WIRE_SIGNAL = 6,    /* host->guest: u32 signal number for the command's group */
	WIRE_WINSIZE = 7,   /* host->guest: u16 rows, u16 cols */
	WIRE_BYE = 8,       /* host->guest: EXIT received, power off now */
	WIRE_LOG = 9,       /* guest->host: one line from wisp-init for the user */
	WIRE_TRACE = 10,    /* guest->host: "step=microseconds\n" lines, before EXIT */
	WIRE_EXEC = 11,     /* host->agent: "wisp.KEY=VALUE ..." as on the kernel command line */
	WIRE_SHUTDOWN = 12, /* host->agent: power the VM off in order */
};

/* The vsock port the guest agent listens on. */
#define WIRE_AGENT_PORT 5252
/* The host port the agent connects to once it listens: "the guest is ready".
 * It sends the ready notice (common/notice.h), ends it with HELLO and leaves
 * the connection open for one request, as on WIRE_AGENT_PORT. */
#define WIRE_READY_PORT 5253

/* Forwarded ports (docs/protocol.md, "Forwarded ports"): the guest's
 * forwarder connects to this host port and sends, at every change, the
 * whole set of TCP ports that listen on 0.0.0.0 or 127.0.0.1 as one line
 * (common/port_list.h). */
#define WIRE_FWD_ANNOUNCE_PORT 5255
/* The forwarder listens here for the host's connections to those ports;
 * each starts with a header naming the guest port (common/port_list.h). */
#define WIRE_FWD_CONNECT_PORT 5256

/* The console line of a guest without a stream: "WISP-EXIT <nonce> <status>"
 * (docs/protocol.md, "The console fallback"). */
#define WIRE_EXIT_MARKER "WISP-EXIT"

/* How the command ended. */
enum wire_exit_how {
	WIRE_EXITED = 0,    /* value: exit code */
	WIRE_SIGNALED = 1,  /* value: signal number */
	WIRE_NOT_FOUND = 2, /* value: errno of the failed exec (127) */
	WIRE_NOT_EXEC = 3,  /* value: errno of the failed exec (126) */
	WIRE_SETUP = 4,     /* value: errno; the guest could not set the command up */
};

struct wire_frame {
	uint8_t type;
	uint32_t len;
	const uint8_t *payload; /* points into the parsed buffer */
};

/* Parses one frame from buf[0..n). Returns the bytes it spans, 0 when more
 * bytes are needed, -1 when the bytes cannot be a frame (the stream is then
 * unusable). Never reads past n. */
long wire_parse(const uint8_t *buf, size_t n, struct wire_frame *f);

/* Writes a header for a frame of `len` payload bytes into hdr. */
void wire_put_header(uint8_t hdr[WIRE_HDR_SIZE], uint8_t type, uint32_t len);

void wire_put_u16(uint8_t *p, uint16_t v);
void wire_put_u32(uint8_t *p, uint32_t v);
uint16_t wire_get_u16(const uint8_t *p);
uint32_t wire_get_u32(const uint8_t *p);

/* EXIT's payload: u8 how, u8[3] zero, i32 value. */
#define WIRE_EXIT_SIZE 8
void wire_put_exit(uint8_t p[WIRE_EXIT_SIZE], uint8_t how, int32_t value);
/* How a process ended, from its wait status: exited (code) or signaled. */
void wire_exit_from_wait(int wait_status, uint8_t *how, int32_t *value);

/* The exit status a shell would report: the code, 128+signal, 127, 126;
 * 125 when the guest could not set the command up. */
int wire_exit_status(uint8_t how, int32_t value);

#endif
