/* The boot trace: CLOCK_BOOTTIME (microseconds since the kernel started) at
 * each step of wisp-init, sent to the host as one TRACE frame before the
 * exit status, for `wisp run --trace` and the benchmarks. After the steps
 * come facts, "name_with_underscore=value" lines (the clock's source,
 * offset and round trip), which hosts that know only steps stop before. */
#ifndef WISP_TRACE_H
#define WISP_TRACE_H

#include <stddef.h>

#define TRACE_MAX 16
#define TRACE_FACTS 8
#define TRACE_FACT_LEN 48

struct trace {
	struct {
		const char *name;
		long long us;
	} ev[TRACE_MAX];
	size_t n;
	char fact[TRACE_FACTS][TRACE_FACT_LEN];
	size_t nfacts;
};

void trace_mark(struct trace *t, const char *name);
/* Adds a fact, "name=value" (the name has an underscore, the value is a
 * number or a word). */
void trace_fact(struct trace *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Formats "name=us\n" lines, then the facts, into buf; returns the length. */
size_t trace_format(const struct trace *t, char *buf, size_t size);

#endif
