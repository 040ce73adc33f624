/* wisp-init's messages: one line each, "wisp-init: ..." on the kernel log
 * (so --verbose shows them in order with the kernel's), and the ones the
 * user must see also on the host's stderr through the session. */
#ifndef WISP_LOG_H
#define WISP_LOG_H

#include <time.h>

void log_open(void);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Warnings are also handed to this sink (the session forwards them to the
 * host); NULL detaches it. */
typedef void (*log_sink)(void *ctx, const char *line);
void log_set_sink(log_sink sink, void *ctx);

/* Microseconds of CLOCK_BOOTTIME: time since the kernel started. */
long long boottime_us(void);

#endif
