/* The forwarded ports' messages (port_list.h). */
#include "port_list.h"

#include <stdio.h>
#include <string.h>

#include "wire.h"

size_t port_list_format(const uint16_t *ports, size_t n, char *out, size_t size)
{
	size_t at = (size_t)snprintf(out, size, "%s", PORT_LINE_KEY);
	for (size_t i = 0; i < n && at < size; i++)
		at += (size_t)snprintf(out + at, size - at, " %u", (unsigned)ports[i]);
	if (at + 1 >= size)
		return 0;
	out[at++] = '\n';
	out[at] = '\0';
	return at;
}

/* One decimal port at line[*at..len): 1-65535, no sign, no leading zero. */
static long parse_port(const char *line, size_t len, size_t *at)
{
	size_t i = *at;
	long v = 0;
	if (i >= len || line[i] < '1' || line[i] > '9')
		return -1;
	for (; i < len && line[i] >= '0' && line[i] <= '9'; i++) {
		v = v * 10 + (line[i] - '0');
		if (v > 65535)
			return -1;
	}
	*at = i;
	return v;
}

long port_list_parse(const char *line, size_t len, uint16_t *ports, size_t max, int *more)
{
	size_t key = strlen(PORT_LINE_KEY), at = key;
	long n = 0, last = 0;
	*more = 0;
	if (len < key || memcmp(line, PORT_LINE_KEY, key))
		return -1;
	while (at < len) {
		if (line[at++] != ' ')
			return -1;
		long port = parse_port(line, len, &at);
		if (port < 0 || port <= last)
			return -1;
		last = port;
		if ((size_t)n < max)
			ports[n++] = (uint16_t)port;
		else
			*more = 1;
	}
	return n;
}

int port_lines_feed(struct port_lines *s, const char *data, size_t n,
		    void (*fn)(void *ctx, const char *line, size_t len), void *ctx)
{
	for (size_t i = 0; i < n; i++) {
		if (data[i] == '\n') {
			fn(ctx, s->buf, s->len);
			s->len = 0;
			continue;
		}
		/* The newline counts: a line of PORT_LINE_MAX bytes with it fits. */
		if (s->len + 1 >= PORT_LINE_MAX)
			return -1;
		s->buf[s->len++] = data[i];
	}
	return 0;
}

void port_put_header(uint8_t h[PORT_HDR_SIZE], uint16_t port)
{
	memcpy(h, PORT_HDR_MAGIC, 4);
	wire_put_u16(h + 4, port);
	wire_put_u16(h + 6, 0);
}

int port_get_header(const uint8_t h[PORT_HDR_SIZE])
{
	uint16_t port = wire_get_u16(h + 4);
	if (memcmp(h, PORT_HDR_MAGIC, 4) || wire_get_u16(h + 6) || port == 0)
		return -1;
	return port;
}
