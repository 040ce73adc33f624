/* Unit tests of the framed stream (common/wire.c) and the byte queue. */
#include "../../common/queue.h"
#include "../../common/wire.h"
#include "check.h"

static void test_roundtrip(void)
{
	uint8_t buf[64];
	wire_put_header(buf, WIRE_STDOUT, 5);
	memcpy(buf + WIRE_HDR_SIZE, "hello", 5);
	struct wire_frame f;
	for (size_t n = 0; n < WIRE_HDR_SIZE + 5; n++)
		CHECK_INT(wire_parse(buf, n, &f), 0); /* every prefix: need more */
	CHECK_INT(wire_parse(buf, WIRE_HDR_SIZE + 5, &f), WIRE_HDR_SIZE + 5);
	CHECK_INT(f.type, WIRE_STDOUT);
	CHECK_INT(f.len, 5);
	CHECK(memcmp(f.payload, "hello", 5) == 0);
}

static void test_rejects_garbage(void)
{
	uint8_t buf[WIRE_HDR_SIZE] = { 0 };
	struct wire_frame f;
	CHECK_INT(wire_parse(buf, sizeof(buf), &f), -1); /* type 0 */
	wire_put_header(buf, 200, 0);
	CHECK_INT(wire_parse(buf, sizeof(buf), &f), -1); /* unknown type */
	wire_put_header(buf, WIRE_STDIN, WIRE_MAX_PAYLOAD + 1);
	CHECK_INT(wire_parse(buf, sizeof(buf), &f), -1); /* too long */
	wire_put_header(buf, WIRE_STDIN, 0);
	buf[1] = 1;
	CHECK_INT(wire_parse(buf, sizeof(buf), &f), -1); /* flags */
	wire_put_header(buf, WIRE_STDIN, 0);
	buf[3] = 1;
	CHECK_INT(wire_parse(buf, sizeof(buf), &f), -1); /* reserved */
	wire_put_header(buf, WIRE_STDIN, 0);
	CHECK_INT(wire_parse(buf, sizeof(buf), &f), WIRE_HDR_SIZE); /* empty = EOF */
}

static void test_little_endian(void)
{
	uint8_t p[4];
	wire_put_u32(p, 0x01020304);
	CHECK(p[0] == 4 && p[1] == 3 && p[2] == 2 && p[3] == 1);
	CHECK_INT(wire_get_u32(p), 0x01020304);
	wire_put_u16(p, 0xbeef);
	CHECK(p[0] == 0xef && p[1] == 0xbe);
	CHECK_INT(wire_get_u16(p), 0xbeef);
}

static void test_exit_status(void)
{
	CHECK_INT(wire_exit_status(WIRE_EXITED, 0), 0);
	CHECK_INT(wire_exit_status(WIRE_EXITED, 7), 7);
	CHECK_INT(wire_exit_status(WIRE_EXITED, 256 + 3), 3);
	CHECK_INT(wire_exit_status(WIRE_SIGNALED, 9), 137);
	CHECK_INT(wire_exit_status(WIRE_SIGNALED, 15), 143);
	CHECK_INT(wire_exit_status(WIRE_NOT_FOUND, 2), 127);
	CHECK_INT(wire_exit_status(WIRE_NOT_EXEC, 13), 126);
	CHECK_INT(wire_exit_status(WIRE_SETUP, 12), 125);
	CHECK_INT(wire_exit_status(99, 0), 125);
}

static void test_queue(void)
{
	struct queue q;
	CHECK_INT(queue_init(&q, 8), 0);
	CHECK_INT(queue_put(&q, "abcdef", 6), 0);
	CHECK_INT(queue_put(&q, "xyz", 3), -1); /* all or nothing */
	queue_consume(&q, 4);
	CHECK_INT(queue_len(&q), 2);
	CHECK_INT(queue_room(&q), 6); /* compacted */
	CHECK(memcmp(queue_head(&q), "ef", 2) == 0);
	CHECK_INT(queue_put(&q, "123456", 6), 0);
	CHECK_INT(queue_room(&q), 0);
	CHECK(memcmp(queue_head(&q), "ef123456", 8) == 0);
	queue_consume(&q, 8);
	CHECK_INT(queue_len(&q), 0);
	queue_free(&q);
}

int main(void)
{
	test_roundtrip();
	test_rejects_garbage();
	test_little_endian();
	test_exit_status();
	test_queue();
	return check_summary("test_wire");
}
