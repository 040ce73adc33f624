/* Lines of the guest's console and the VMM's stderr, and what they mean. */
#include "console.h"

#include <stdio.h>
#include <string.h>

#include "../common/wire.h"

#define PANIC_TEXT "Kernel panic - not syncing: "

void lines_feed(struct line_splitter *s, const char *data, size_t n,
		void (*fn)(void *ctx, char *line), void *ctx)
{
	for (size_t i = 0; i < n; i++) {
		char c = data[i];
		if (c == '\r')
			continue;
		if (c == '\n' || s->len == sizeof(s->buf) - 1) {
			s->buf[s->len] = '\0';
			fn(ctx, s->buf);
			s->len = 0;
			if (c == '\n')
				continue;
		}
		s->buf[s->len++] = c;
	}
}

void lines_end(struct line_splitter *s, void (*fn)(void *ctx, char *line), void *ctx)
{
	if (!s->len)
		return;
	s->buf[s->len] = '\0';
	s->len = 0;
	fn(ctx, s->buf);
}

/* A decimal status of 0-255 and nothing after it. */
static int parse_status(const char *p, int *status)
{
	int v = 0, digits = 0;
	for (; *p >= '0' && *p <= '9' && digits < 4; p++, digits++)
		v = v * 10 + (*p - '0');
	if (!digits || *p || v > 255)
		return -1;
	*status = v;
	return 0;
}

enum console_kind console_classify(const char *line, const char *nonce, int *status,
				   const char **why)
{
	size_t plen = strlen(WIRE_EXIT_MARKER), nlen = strlen(nonce);
	if (!strncmp(line, WIRE_EXIT_MARKER, plen) && line[plen] == ' ' &&
	    !strncmp(line + plen + 1, nonce, nlen) && line[plen + 1 + nlen] == ' ' &&
	    parse_status(line + plen + nlen + 2, status) == 0)
		return CONSOLE_MARKER;
	const char *panic = strstr(line, PANIC_TEXT);
	if (panic) {
		*why = panic + strlen(PANIC_TEXT);
		return CONSOLE_PANIC;
	}
	return CONSOLE_TEXT;
}
