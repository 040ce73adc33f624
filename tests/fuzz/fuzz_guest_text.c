/* libFuzzer target: guest bytes through everything the host parses of the
 * guest's text: the ready notice (as it arrives, in two pieces, and at
 * EOF), the trace (whose JSON must be valid JSON whatever it holds) and
 * console lines with the exit marker and panic lines. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../boot/console.h"
#include "../../boot/trace.h"
#include "../../common/notice.h"
#include "../unit/json_check.h"

static void on_log(void *ctx, const char *line, uint32_t len)
{
	const uint8_t *buf = ctx;
	(void)buf;
	if (len && !line)
		abort();
	volatile char c = len ? line[len - 1] : 0; /* ASan checks the bounds */
	(void)c;
}

static void on_line(void *ctx, char *line)
{
	int status = -1;
	const char *why = NULL;
	if (strlen(line) >= CONSOLE_LINE_MAX)
		abort();
	if (console_classify(line, ctx, &status, &why) == CONSOLE_MARKER &&
	    (status < 0 || status > 255))
		abort();
}

static void notice(const uint8_t *data, size_t size)
{
	struct notice n;
	for (int eof = 0; eof < 2; eof++) {
		enum notice_state st = notice_parse(data, size, eof, &n, on_log, (void *)data);
		if (st == NOTICE_DONE &&
		    (n.end > size ||
		     (n.trace && (const uint8_t *)n.trace + n.trace_len > data + size) ||
		     n.status > 255))
			abort();
		if (eof && st == NOTICE_MORE)
			abort(); /* at EOF a notice is done or bad */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	notice(data, size < NOTICE_IN_MAX ? size : NOTICE_IN_MAX);

	static struct trace t;
	memset(&t, 0, sizeof(t));
	trace_set_guest(&t, (const char *)data, size / 2);
	trace_add_guest(&t, (const char *)data + size / 2, size - size / 2);
	/* A NUL in the guest's bytes ends what is read of the text. */
	char *json = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&json, &len);
	if (!f)
		abort();
	trace_write_json(&t, 0, f);
	trace_print(&t, f);
	fclose(f);
	const char *nl = strchr(json, '\n');
	char *first = strndup(json, (size_t)(nl - json));
	if (!json_valid(first)) {
		fprintf(stderr, "invalid JSON: %s\n", first);
		abort();
	}
	free(first);
	free(json);

	struct line_splitter s = { .len = 0 };
	lines_feed(&s, (const char *)data, size, on_line, "00ff");
	lines_end(&s, on_line, "00ff");
	return 0;
}
