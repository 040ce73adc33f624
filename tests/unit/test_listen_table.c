/* Unit tests of the guest forwarder's reading of /proc/net/tcp
 * (init/listen_table.c). */
#include "../../init/listen_table.h"
#include "check.h"

static const char table[] =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
	"timeout inode\n"
	/* 0.0.0.0:8080, listening */
	"   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0     "
	"   0 123 1 0000000000000000 100 0 0 10 0\n"
	/* 127.0.0.1:22, listening */
	"   1: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0     "
	"   0 124 1 0000000000000000 100 0 0 10 0\n"
	/* 10.0.2.15:9000, listening: not loopback, not any */
	"   2: 0F02000A:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0     "
	"   0 125 1 0000000000000000 100 0 0 10 0\n"
	/* 127.0.0.1:8080 established: not a listener */
	"   3: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0     "
	"   0 126 1 0000000000000000 20 4 30 10 -1\n"
	/* 127.0.0.2:7000, listening: only 127.0.0.1 stands for the host's */
	"   4: 0200007F:1B58 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0     "
	"   0 127 1 0000000000000000 100 0 0 10 0\n"
	/* 0.0.0.0:8080 again (SO_REUSEPORT): one port */
	"   5: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0     "
	"   0 128 1 0000000000000000 100 0 0 10 0\n";

static void test_listeners_on_any_and_loopback(void)
{
	uint16_t p[16];
	int more = 1;
	size_t n = listen_table_parse(table, sizeof(table) - 1, p, 16, &more);
	CHECK_INT(n, 2);
	CHECK_INT(p[0], 22);
	CHECK_INT(p[1], 8080);
	CHECK_INT(more, 0);
}

static void test_more_than_max(void)
{
	uint16_t p[1];
	int more = 0;
	CHECK_INT(listen_table_parse(table, sizeof(table) - 1, p, 1, &more), 1);
	CHECK_INT(p[0], 22);
	CHECK_INT(more, 1);
}

static void test_cut_and_odd_lines_are_skipped(void)
{
	uint16_t p[16];
	int more;
	/* Every prefix of the table parses, and never finds a wrong port. */
	for (size_t len = 0; len < sizeof(table); len++) {
		size_t n = listen_table_parse(table, len, p, 16, &more);
		CHECK(n <= 2);
		for (size_t i = 0; i < n; i++)
			CHECK(p[i] == 22 || p[i] == 8080);
	}
	static const char odd[] = "0: 00000000:0000 00000000:0000 0A\n" /* port 0 */
				  "x: 00000000:0050 00000000:0000 0A\n"
				  "1: 0000000G:0050 00000000:0000 0A\n"
				  "2: 00000000:0050 00000000:0000 0\n"
				  "3:00000000:0050 00000000:0000 0A\n"
				  "4: 00000000:0051 00000000:0000 0a\n"; /* lower case is hex too */
	CHECK_INT(listen_table_parse(odd, sizeof(odd) - 1, p, 16, &more), 1);
	CHECK_INT(p[0], 0x51);
}

int main(void)
{
	test_listeners_on_any_and_loopback();
	test_more_than_max();
	test_cut_and_odd_lines_are_skipped();
	return check_summary("test_listen_table");
}
