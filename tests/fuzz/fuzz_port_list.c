/* libFuzzer target: any bytes as the guest's port announcements, as the
 * host reads them (lines, then each line parsed), and as a forwarded
 * connection's header; and the same bytes as /proc/net/tcp text. Every
 * port that comes out must be 1-65535 and strictly increasing. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/port_list.h"
#include "../../init/listen_table.h"

static void on_line(void *ctx, const char *line, size_t len)
{
	(void)ctx;
	uint16_t ports[PORT_LIST_MAX];
	int more;
	long n = port_list_parse(line, len, ports, PORT_LIST_MAX, &more);
	if (n > PORT_LIST_MAX || (more && n != PORT_LIST_MAX))
		abort();
	for (long i = 0; i < n; i++)
		if (ports[i] == 0 || (i > 0 && ports[i] <= ports[i - 1]))
			abort();
	/* What parses formats back to the same line. */
	if (n >= 0 && !more) {
		char again[PORT_LINE_MAX];
		size_t l = port_list_format(ports, (size_t)n, again, sizeof(again));
		if (l != len + 1 || memcmp(again, line, len))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct port_lines lines;
	lines.len = 0;
	/* In two reads, split where the first byte says. */
	size_t cut = size ? data[0] % (size + 1) : 0;
	if (port_lines_feed(&lines, (const char *)data, cut, on_line, NULL) == 0)
		port_lines_feed(&lines, (const char *)data + cut, size - cut, on_line, NULL);
	if (size >= PORT_HDR_SIZE) {
		int port = port_get_header(data);
		if (port == 0 || port > 65535)
			abort();
	}
	uint16_t ports[PORT_LIST_MAX];
	int more;
	size_t n = listen_table_parse((const char *)data, size, ports, PORT_LIST_MAX, &more);
	for (size_t i = 0; i < n; i++)
		if (ports[i] == 0 || (i > 0 && ports[i] <= ports[i - 1]))
			abort();
	return 0;
}
