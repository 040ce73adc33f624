#include "trace.h"

#include <stdarg.h>
#include <stdio.h>

#include "log.h"

void trace_mark(struct trace *t, const char *name)
{
	if (t->n < TRACE_MAX) {
		t->ev[t->n].name = name;
		t->ev[t->n].us = boottime_us();
		t->n++;
	}
}

void trace_fact(struct trace *t, const char *fmt, ...)
{
	if (t->nfacts == TRACE_FACTS)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->fact[t->nfacts], TRACE_FACT_LEN, fmt, ap);
	va_end(ap);
	if (n > 0 && n < TRACE_FACT_LEN)
		t->nfacts++;
}

static int add_line(char *buf, size_t size, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int add_line(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *len)
		return -1;
	*len += (size_t)n;
	return 0;
}

size_t trace_format(const struct trace *t, char *buf, size_t size)
{
	size_t len = 0;
	if (size == 0)
		return 0;
	for (size_t i = 0; i < t->n; i++)
		if (add_line(buf, size, &len, "%s=%lld\n", t->ev[i].name, t->ev[i].us) < 0)
			return len;
	for (size_t i = 0; i < t->nfacts; i++)
		if (add_line(buf, size, &len, "%s\n", t->fact[i]) < 0)
			return len;
	return len;
}
