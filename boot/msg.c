/* wisp's one-line messages (msg.h). */
#include "msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

/* Process-wide on purpose: every part of the launcher reports through it,
 * and only the start of a background VM ever moves it. */
static int out_fd = STDERR_FILENO;

void msg_set_fd(int fd)
{
	out_fd = fd;
}

int msg_fd(void)
{
	return out_fd;
}

void msg_warn(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	dprintf(out_fd, "wisp: %.*s", n, line);
}
