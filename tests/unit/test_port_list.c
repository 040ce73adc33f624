/* Unit tests of what the port forwarder and the host say to each other
 * (common/port_list.c): the host parses these lines from an untrusted guest. */
#include "../../common/port_list.h"
#include "check.h"

static long parse(const char *line, uint16_t *ports, size_t max, int *more)
{
	return port_list_parse(line, strlen(line), ports, max, more);
}

static void test_well_formed_lines(void)
{
	uint16_t p[PORT_LIST_MAX];
	int more = 1;
	CHECK_INT(parse("PORTS", p, PORT_LIST_MAX, &more), 0); /* nothing listens */
	CHECK_INT(more, 0);
	CHECK_INT(parse("PORTS 22 80 65535", p, PORT_LIST_MAX, &more), 3);
	CHECK_INT(p[0], 22);
	CHECK_INT(p[1], 80);
	CHECK_INT(p[2], 65535);
	CHECK_INT(parse("PORTS 1", p, PORT_LIST_MAX, &more), 1);
}

static void test_malformed_lines_are_refused(void)
{
	static const char *const bad[] = {
		"",          "PORT",        "ports 1",
		"PORTS ",    "PORTS  1",    "PORTS 1 ",
		"PORTS 0",   "PORTS 65536", "PORTS 99999999999",
		"PORTS 01",  "PORTS -1",    "PORTS +1",
		"PORTS 2 1", "PORTS 5 5",   "PORTS 1x",
		"PORTSX",    "PORTS 1\t2",  "PORTS\r",
		"XPORTS 1",  "PORTS 1\r",
	};
	uint16_t p[PORT_LIST_MAX];
	int more;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long n = parse(bad[i], p, PORT_LIST_MAX, &more);
		if (n != -1)
			fprintf(stderr, "accepted '%s'\n", bad[i]);
		CHECK_INT(n, -1);
	}
	/* A NUL inside the line is not a digit either. */
	CHECK_INT(port_list_parse("PORTS 1\0", 8, p, PORT_LIST_MAX, &more), -1);
}

static void test_more_than_max_keeps_the_first(void)
{
	uint16_t p[2];
	int more = 0;
	CHECK_INT(parse("PORTS 1 2 3 4", p, 2, &more), 2);
	CHECK_INT(more, 1);
	CHECK_INT(p[1], 2);
}

static void test_format_roundtrip(void)
{
	uint16_t in[PORT_LIST_MAX], out[PORT_LIST_MAX];
	for (size_t i = 0; i < PORT_LIST_MAX; i++)
		in[i] = (uint16_t)(65535 - PORT_LIST_MAX + 1 + i); /* the longest line */
	char line[PORT_LINE_MAX];
	size_t len = port_list_format(in, PORT_LIST_MAX, line, sizeof(line));
	CHECK(len > 0 && len < PORT_LINE_MAX);
	CHECK_INT(line[len - 1], '\n');
	int more;
	CHECK_INT(port_list_parse(line, len - 1, out, PORT_LIST_MAX, &more), PORT_LIST_MAX);
	CHECK(!memcmp(in, out, sizeof(in)));
	CHECK_INT(port_list_format(in, PORT_LIST_MAX, line, 20), 0); /* does not fit */
	CHECK_INT(port_list_format(in, 0, line, sizeof(line)), 6);
	CHECK_STR(line, "PORTS\n");
}

struct seen {
	char lines[4][PORT_LINE_MAX];
	size_t n;
};

static void on_line(void *ctx, const char *line, size_t len)
{
	struct seen *s = ctx;
	if (s->n < 4)
		snprintf(s->lines[s->n], PORT_LINE_MAX, "%.*s", (int)len, line);
	s->n++;
}

static void test_lines_split_across_reads(void)
{
	struct port_lines pl = { .len = 0 };
	struct seen s = { .n = 0 };
	CHECK_INT(port_lines_feed(&pl, "POR", 3, on_line, &s), 0);
	CHECK_INT(s.n, 0);
	CHECK_INT(port_lines_feed(&pl, "TS 1\nPORTS\nPO", 13, on_line, &s), 0);
	CHECK_INT(s.n, 2);
	CHECK_STR(s.lines[0], "PORTS 1");
	CHECK_STR(s.lines[1], "PORTS");
	CHECK_INT(port_lines_feed(&pl, "RTS 2\n", 6, on_line, &s), 0);
	CHECK_STR(s.lines[2], "PORTS 2");
}

static void test_a_line_too_long_breaks_the_stream(void)
{
	struct port_lines pl = { .len = 0 };
	struct seen s = { .n = 0 };
	char big[PORT_LINE_MAX + 1];
	memset(big, '1', sizeof(big));
	/* PORT_LINE_MAX - 1 bytes and the newline fit. */
	CHECK_INT(port_lines_feed(&pl, big, PORT_LINE_MAX - 1, on_line, &s), 0);
	CHECK_INT(port_lines_feed(&pl, "\n", 1, on_line, &s), 0);
	CHECK_INT(s.n, 1);
	CHECK_INT(port_lines_feed(&pl, big, PORT_LINE_MAX, on_line, &s), -1);
}

static void test_header(void)
{
	uint8_t h[PORT_HDR_SIZE];
	port_put_header(h, 8080);
	CHECK_INT(port_get_header(h), 8080);
	CHECK(!memcmp(h, "WFWD\x90\x1f\0\0", PORT_HDR_SIZE));
	port_put_header(h, 0);
	CHECK_INT(port_get_header(h), -1);
	port_put_header(h, 1);
	h[7] = 1;
	CHECK_INT(port_get_header(h), -1);
	port_put_header(h, 1);
	h[0] = 'X';
	CHECK_INT(port_get_header(h), -1);
}

int main(void)
{
	test_well_formed_lines();
	test_malformed_lines_are_refused();
	test_more_than_max_keeps_the_first();
	test_format_roundtrip();
	test_lines_split_across_reads();
	test_a_line_too_long_breaks_the_stream();
	test_header();
	return check_summary("test_port_list");
}
