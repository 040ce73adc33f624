/* Unit tests of what the host parses of the guest's bytes: the ready
 * notice (common/notice.c), the boot trace (boot/trace.c) and console
 * lines (boot/console.c). */
#include <stdio.h>
#include <stdlib.h>

#include "../../boot/console.h"
#include "../../boot/trace.h"
#include "../../common/notice.h"
#include "check.h"
#include "json_check.h"

struct logs {
	char text[512];
	size_t len;
};

static void collect_log(void *ctx, const char *line, uint32_t len)
{
	struct logs *l = ctx;
	l->len += (size_t)snprintf(l->text + l->len, sizeof(l->text) - l->len, "%.*s|", (int)len,
				   line);
}

static void put_hello(struct notice_out *n, uint32_t version)
{
	uint8_t v[4];
	wire_put_u32(v, version);
	notice_add(n, WIRE_HELLO, v, sizeof(v));
}

static void test_notice_round_trip(void)
{
	static struct notice_out n;
	n.len = 0;
	CHECK_INT(notice_add(&n, WIRE_LOG, "wisp-init: first", 16), 0);
	CHECK_INT(notice_add(&n, WIRE_TRACE, "init=1\n", 7), 0);
	CHECK_INT(notice_add(&n, WIRE_LOG, "second", 6), 0);
	put_hello(&n, WIRE_VERSION);
	struct notice nt;
	struct logs logs = { 0 };
	/* Every prefix is incomplete; the whole is a notice that takes a request. */
	for (size_t i = 0; i < n.len; i++)
		CHECK_INT(notice_parse(n.buf, i, 0, &nt, collect_log, &logs), NOTICE_MORE);
	CHECK_INT(logs.len, 0); /* nothing is reported of an incomplete notice */
	CHECK_INT(notice_parse(n.buf, n.len, 0, &nt, collect_log, &logs), NOTICE_DONE);
	CHECK_STR(logs.text, "wisp-init: first|second|");
	CHECK_INT(nt.hello, 1);
	CHECK_INT(nt.version, WIRE_VERSION);
	CHECK_INT(nt.status, -1);
	CHECK_INT(nt.end, n.len);
	CHECK(nt.trace_len == 7 && !memcmp(nt.trace, "init=1\n", 7));
}

static void test_notice_of_a_guest_that_failed(void)
{
	static struct notice_out n;
	n.len = 0;
	uint8_t exit[WIRE_EXIT_SIZE];
	wire_put_exit(exit, WIRE_SETUP, 0);
	notice_add(&n, WIRE_EXIT, exit, sizeof(exit));
	struct notice nt;
	/* Version 1: no HELLO, the notice ends at EOF. */
	CHECK_INT(notice_parse(n.buf, n.len, 0, &nt, NULL, NULL), NOTICE_MORE);
	CHECK_INT(notice_parse(n.buf, n.len, 1, &nt, NULL, NULL), NOTICE_DONE);
	CHECK_INT(nt.hello, 0);
	CHECK_INT(nt.status, 125);
	/* An empty notice at EOF: ready, from a version-1 guest. */
	CHECK_INT(notice_parse(n.buf, 0, 1, &nt, NULL, NULL), NOTICE_DONE);
	CHECK_INT(nt.status, -1);
}

static void test_notice_that_cannot_be(void)
{
	static struct notice_out n;
	struct notice nt;
	uint8_t junk[WIRE_HDR_SIZE] = { 0xee };
	CHECK_INT(notice_parse(junk, sizeof(junk), 0, &nt, NULL, NULL), NOTICE_BAD);
	/* Cut off at EOF in the middle of a frame. */
	n.len = 0;
	notice_add(&n, WIRE_LOG, "abc", 3);
	CHECK_INT(notice_parse(n.buf, n.len - 1, 1, &nt, NULL, NULL), NOTICE_BAD);
	/* Frames that fill the host's room without a HELLO. */
	static uint8_t big[NOTICE_IN_MAX];
	size_t at = 0;
	while (at + WIRE_HDR_SIZE + 100 <= sizeof(big)) {
		wire_put_header(big + at, WIRE_LOG, 100);
		at += WIRE_HDR_SIZE + 100;
	}
	CHECK_INT(notice_parse(big, at, 0, &nt, NULL, NULL), NOTICE_MORE);
	memset(big + at, 0, sizeof(big) - at);
	wire_put_header(big + at, WIRE_LOG, 1000); /* runs past the end */
	CHECK_INT(notice_parse(big, sizeof(big), 0, &nt, NULL, NULL), NOTICE_BAD);
	/* The guest side never builds more than its room. */
	n.len = 0;
	static char payload[WIRE_NOTICE_MAX];
	CHECK_INT(notice_add(&n, WIRE_TRACE, payload, sizeof(payload)), -1);
	CHECK_INT(n.len, 0);
	CHECK_INT(notice_add(&n, WIRE_TRACE, payload, sizeof(payload) - WIRE_HDR_SIZE), 0);
	CHECK_INT(notice_add(&n, WIRE_HELLO, NULL, 0), -1);
	/* LOG lines never take the room of the TRACE and EXIT after them. */
	n.len = 0;
	while (notice_add_log(&n, "a warning", 9) == 0)
		;
	CHECK(n.len <= sizeof(n.buf) - NOTICE_LOG_RESERVE);
	CHECK_INT(notice_add(&n, WIRE_TRACE, payload, 640), 0);
	uint8_t exit[WIRE_EXIT_SIZE];
	wire_put_exit(exit, WIRE_SETUP, 0);
	CHECK_INT(notice_add(&n, WIRE_EXIT, exit, sizeof(exit)), 0);
	CHECK_INT(notice_parse(n.buf, n.len, 1, &nt, NULL, NULL), NOTICE_DONE);
	CHECK_INT(nt.status, 125);
}

static char *json_of(const struct trace *t, int status)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	trace_write_json(t, status, f);
	fclose(f);
	return text;
}

static char *text_of(const struct trace *t)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	trace_print(t, f);
	fclose(f);
	return text;
}

static void test_trace(void)
{
	struct trace t = {
		.ready = 1500, .hello = 1600, .status = 2000, .gone = 2500, .has_vm = 1
	};
	const char boot[] = "init=1000\nmounted=2500\nclock_source=vsock\nclock_offset_us=-12\n";
	trace_set_guest(&t, boot, strlen(boot));
	const char cmd[] = "exec=3000\nclock_offset_us=7\nexited=4000\n";
	trace_add_guest(&t, cmd, strlen(cmd));
	char *json = json_of(&t, 3);
	CHECK_STR(json,
		  "{\"guest_ms\": {\"init\": 1.000, \"mounted\": 2.500, \"exec\": 3.000, "
		  "\"exited\": 4.000}, \"guest_facts\": {\"clock_source\": \"vsock\", "
		  "\"clock_offset_us\": 7}, \"host_ms\": {\"ready\": 1.500, \"hello\": 1.600, "
		  "\"status\": 2.000, \"vm_gone\": 2.500}, \"exit_status\": 3}\n");
	CHECK(json_valid(json));
	free(json);
	char *text = text_of(&t);
	CHECK(strstr(text, "    mounted          2.5\n") != NULL);
	CHECK(strstr(text, "    clock_source     vsock\n") != NULL);
	CHECK(strstr(text, "    vm gone          2.5\n") != NULL);
	free(text);
	/* A new boot trace replaces the old. */
	trace_set_guest(&t, "init=5\n", 7);
	CHECK_STR(t.guest, "init=5\n");
}

/* Whatever the guest writes, the JSON is JSON. */
static void test_trace_json_from_a_hostile_guest(void)
{
	static const char *const lines[] = {
		"a=+5\n",
		"b=007\n",
		"c=1e5\n",
		"d=--\n",
		"e=\"\\\n",
		"x_y=+1\n",
		"x_z=0123\n",
		"x_w=1.5\n",
		"x_q=-0\n",
		"p=99999999999999999999\n",
		"x_big=99999999999999999999\n",
		"=5\n",
		"q=\n",
		"UPPER=1\n",
		"n-m=1\n",
		"x_s=a b\n",
		"x_t=\t\n",
		"r=1\r\n",
		"long_name_that_is_far_too_long_for_wisp=1\n",
		"x_u=\xff\n",
		"s=-\n",
	};
	/* The checker itself tells JSON from what only looks like it. */
	CHECK(!json_valid("{\"a\": +5}") && !json_valid("{\"a\": 007}"));
	CHECK(!json_valid("{\"a\": 1,}") && !json_valid("{\"a\" 1}") && !json_valid("{} {}"));
	CHECK(json_valid("{\"a\": [1, -0.5e3, \"x\\n\", true, null]}"));
	struct trace t = { 0 };
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		trace_add_guest(&t, lines[i], strlen(lines[i]));
	char *json = json_of(&t, 0);
	CHECK(json_valid(json));
	CHECK(strstr(json, "\"x_y\": \"+1\"") != NULL);
	CHECK(strstr(json, "\"x_z\": \"0123\"") != NULL);
	CHECK(strstr(json, "\"x_q\": -0") != NULL);
	CHECK(strstr(json, "\"x_big\": \"99999999999999999999\"") != NULL);
	CHECK(strstr(json, "\"a\"") == NULL && strstr(json, "\"b\"") == NULL);
	if (!json_valid(json))
		fprintf(stderr, "%s", json);
	free(json);
	/* More than it keeps: cut, never overrun. */
	static char flood[3 * TRACE_GUEST_MAX];
	memset(flood, 'a', sizeof(flood));
	trace_add_guest(&t, flood, sizeof(flood));
	CHECK_INT(t.len, TRACE_GUEST_MAX - 1);
	CHECK_INT(strlen(t.guest), TRACE_GUEST_MAX - 1);
}

struct seen {
	char lines[8][CONSOLE_LINE_MAX];
	int n;
};

static void see(void *ctx, char *line)
{
	struct seen *s = ctx;
	if (s->n < 8)
		snprintf(s->lines[s->n++], CONSOLE_LINE_MAX, "%s", line);
}

static void test_console_lines(void)
{
	struct line_splitter sp = { .len = 0 };
	static struct seen s;
	const char in[] = "one\r\ntw";
	lines_feed(&sp, in, strlen(in), see, &s);
	lines_feed(&sp, "o\nthree", 7, see, &s);
	lines_end(&sp, see, &s);
	lines_end(&sp, see, &s); /* nothing more */
	CHECK_INT(s.n, 3);
	CHECK_STR(s.lines[0], "one");
	CHECK_STR(s.lines[1], "two");
	CHECK_STR(s.lines[2], "three");
	s.n = 0;
	static char longline[CONSOLE_LINE_MAX * 2];
	memset(longline, 'x', sizeof(longline));
	lines_feed(&sp, longline, sizeof(longline), see, &s);
	CHECK_INT(s.n, 2);
	CHECK_INT(strlen(s.lines[0]), CONSOLE_LINE_MAX - 1);
}

static void test_console_classify(void)
{
	int status = -1;
	const char *why = NULL;
	CHECK_INT(console_classify("WISP-EXIT 00ff 7", "00ff", &status, &why), CONSOLE_MARKER);
	CHECK_INT(status, 7);
	CHECK_INT(console_classify("WISP-EXIT 00ff 255", "00ff", &status, &why), CONSOLE_MARKER);
	CHECK_INT(status, 255);
	/* Another nonce, a status out of range or followed by more: plain text. */
	CHECK_INT(console_classify("WISP-EXIT 00fe 7", "00ff", &status, &why), CONSOLE_TEXT);
	CHECK_INT(console_classify("WISP-EXIT 00ff 256", "00ff", &status, &why), CONSOLE_TEXT);
	CHECK_INT(console_classify("WISP-EXIT 00ff 7x", "00ff", &status, &why), CONSOLE_TEXT);
	CHECK_INT(console_classify("WISP-EXIT 00ff ", "00ff", &status, &why), CONSOLE_TEXT);
	CHECK_INT(console_classify("WISP-EXIT 00ff", "00ff", &status, &why), CONSOLE_TEXT);
	CHECK_INT(console_classify(" WISP-EXIT 00ff 7", "00ff", &status, &why), CONSOLE_TEXT);
	CHECK_INT(console_classify("WISP-EXIT 00ffa 7", "00ff", &status, &why), CONSOLE_TEXT);
	CHECK_INT(console_classify("[    0.5] Kernel panic - not syncing: No init found", "00ff",
				   &status, &why),
		  CONSOLE_PANIC);
	CHECK_STR(why, "No init found");
	CHECK_INT(console_classify("hello", "00ff", &status, &why), CONSOLE_TEXT);
}

int main(void)
{
	test_notice_round_trip();
	test_notice_of_a_guest_that_failed();
	test_notice_that_cannot_be();
	test_trace();
	test_trace_json_from_a_hostile_guest();
	test_console_lines();
	test_console_classify();
	return check_summary("test_guest_text");
}
