/* What the guest's port forwarder and the host say to each other
 * (docs/protocol.md, "Forwarded ports"), as pure functions: the
 * announcement lines, "PORTS p1 p2 ...\n" (the whole set, strictly
 * increasing, at most PORT_LIST_MAX ports in PORT_LINE_MAX bytes), and the
 * header of a forwarded connection. The host parses what an untrusted
 * guest sends with these: nothing here reads past what it is given. */
#ifndef WISP_PORT_LIST_H
#define WISP_PORT_LIST_H

#include <stddef.h>
#include <stdint.h>

/* Ports forwarded at most; a guest listing more gets the first ones. */
#define PORT_LIST_MAX 128
/* An announcement line with its newline; "PORTS" and 128 five-digit ports fit. */
#define PORT_LINE_MAX 1024
#define PORT_LINE_KEY "PORTS"

/* The header of a forwarded connection: "WFWD", u16 port (LE), u16 0. */
#define PORT_HDR_SIZE 8
#define PORT_HDR_MAGIC "WFWD"

/* Writes "PORTS p1 p2 ...\n" for ports[0..n) (sorted, distinct); the
 * length, or 0 when it does not fit in size. */
size_t port_list_format(const uint16_t *ports, size_t n, char *out, size_t size);
/* Parses one line (without its newline) into ports (up to max of them):
 * the count, with *more set when the line named more than max; -1 when it
 * is not a well-formed line (unknown word, a port outside 1-65535, not
 * strictly increasing, leading zeros, stray spaces). */
long port_list_parse(const char *line, size_t len, uint16_t *ports, size_t max, int *more);

/* Splits a stream into lines of at most PORT_LINE_MAX bytes. */
struct port_lines {
	char buf[PORT_LINE_MAX];
	size_t len;
};
/* Calls fn for each complete line in data[0..n) (without its newline).
 * 0, or -1 when a line is longer than PORT_LINE_MAX (the stream is broken;
 * fn has seen the lines before it). */
int port_lines_feed(struct port_lines *s, const char *data, size_t n,
		    void (*fn)(void *ctx, const char *line, size_t len), void *ctx);

void port_put_header(uint8_t h[PORT_HDR_SIZE], uint16_t port);
/* The port a header names, or -1 when it is not a header. */
int port_get_header(const uint8_t h[PORT_HDR_SIZE]);

#endif
