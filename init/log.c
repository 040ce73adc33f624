#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The one piece of file-scope state in wisp-init: every step logs, and
 * threading a logger through each call would only add noise. */
static struct {
	int fd;
	log_sink sink;
	void *ctx;
} logger = { .fd = -1 };

void log_open(void)
{
	logger.fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (logger.fd < 0)
		logger.fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
}

void log_set_sink(log_sink sink, void *ctx)
{
	logger.sink = sink;
	logger.ctx = ctx;
}

static void emit(int level, const char *fmt, va_list ap)
{
	char line[512];
	int prefix = snprintf(line, sizeof(line), "<%d>wisp-init: ", level);
	int n = vsnprintf(line + prefix, sizeof(line) - (size_t)prefix - 1, fmt, ap);
	if (n < 0)
		return;
	size_t len = strlen(line);
	if (logger.sink && level <= 4)
		logger.sink(logger.ctx, line + 3); /* without "<N>" */
	line[len++] = '\n';
	if (logger.fd >= 0 && write(logger.fd, line, len) < 0) {
		/* Nowhere left to report it. */
	}
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(6, fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(4, fmt, ap);
	va_end(ap);
}

long long boottime_us(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
		return 0;
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
