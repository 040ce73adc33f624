/* The boot trace: CLOCK_BOOTTIME (microseconds since the kernel started) at
 * each step of wisp-init, sent to the host as one TRACE frame before the
 * exit status, for `wisp run --trace` and the benchmarks. */
#ifndef WISP_TRACE_H
#define WISP_TRACE_H

#include <stddef.h>

#define TRACE_MAX 16

struct trace {
	struct {
		const char *name;
		long long us;
	} ev[TRACE_MAX];
	size_t n;
};

void trace_mark(struct trace *t, const char *name);
/* Formats "name=us\n" lines into buf; returns the length. */
size_t trace_format(const struct trace *t, char *buf, size_t size);

#endif
