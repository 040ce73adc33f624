/* What the host reads on the guest's serial console and the VMM's stderr:
 * bytes split into bounded lines, and the two lines that mean something —
 * the exit marker of a guest without a stream (docs/protocol.md) and a
 * kernel panic. Pure: the fuzzer feeds it guest bytes directly. */
#ifndef WISP_CONSOLE_H
#define WISP_CONSOLE_H

#include <stddef.h>

/* A longer line is cut into pieces of this many bytes. */
#define CONSOLE_LINE_MAX 1024

struct line_splitter {
	char buf[CONSOLE_LINE_MAX];
	size_t len;
};

/* Splits data into lines without "\r" or "\n" and calls fn with each
 * (NUL-terminated, at most CONSOLE_LINE_MAX - 1 bytes). */
void lines_feed(struct line_splitter *s, const char *data, size_t n,
		void (*fn)(void *ctx, char *line), void *ctx);
/* The end of the stream: the unterminated rest, if any, as a last line. */
void lines_end(struct line_splitter *s, void (*fn)(void *ctx, char *line), void *ctx);

enum console_kind {
	CONSOLE_TEXT,   /* anything else */
	CONSOLE_MARKER, /* "WISP-EXIT <nonce> <status>": *status */
	CONSOLE_PANIC,  /* "...Kernel panic - not syncing: <why>": *why points into line */
};

/* What line is, for a guest whose marker carries nonce. */
enum console_kind console_classify(const char *line, const char *nonce, int *status,
				   const char **why);

#endif
