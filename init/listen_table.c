/* Listening ports from /proc/net/tcp (listen_table.h). A line reads
 * "  sl: LOCAL_ADDR:PORT REM_ADDR:PORT ST ...", addresses and ports in
 * hex; an address is the raw network-order word printed as a number. */
#include "listen_table.h"

#include <arpa/inet.h>
#include <string.h>

#define TCP_LISTEN 0x0A

/* n hex digits at *p (within end): the value, or -1. */
static long hex(const char **p, const char *end, int n)
{
	long v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (*p >= end)
			return -1;
		char c = **p;
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
					       : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static int expect(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return -1;
	(*p)++;
	return 0;
}

/* The port of a listening socket on a forwarded address, or -1. */
static long listening_port(const char *p, const char *end)
{
	while (p < end && *p == ' ')
		p++;
	const char *digits = p;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	if (p == digits || expect(&p, end, ':') < 0 || expect(&p, end, ' ') < 0)
		return -1;
	long addr = hex(&p, end, 8);
	if (addr < 0 || expect(&p, end, ':') < 0)
		return -1;
	long port = hex(&p, end, 4);
	if (port < 0 || expect(&p, end, ' ') < 0 || hex(&p, end, 8) < 0 ||
	    expect(&p, end, ':') < 0 || hex(&p, end, 4) < 0 || expect(&p, end, ' ') < 0)
		return -1;
	long state = hex(&p, end, 2);
	/* Numerically, the network-order word as the kernel printed it. */
	unsigned long loopback = htonl(INADDR_LOOPBACK);
	if (state != TCP_LISTEN || port == 0 || (addr != 0 && (unsigned long)addr != loopback))
		return -1;
	return port;
}

size_t listen_table_parse(const char *text, size_t len, uint16_t *ports, size_t max, int *more)
{
	uint8_t seen[65536 / 8];
	memset(seen, 0, sizeof(seen));
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;
		long port = listening_port(p, line_end);
		if (port > 0)
			seen[port / 8] |= (uint8_t)(1u << (port % 8));
		p = nl ? nl + 1 : end;
	}
	size_t n = 0;
	*more = 0;
	for (long port = 1; port < 65536; port++) {
		if (!seen[port / 8]) {
			port |= 7; /* none of these eight */
			continue;
		}
		if (!(seen[port / 8] & (1u << (port % 8))))
			continue;
		if (n < max)
			ports[n++] = (uint16_t)port;
		else
			*more = 1;
	}
	return n;
}
