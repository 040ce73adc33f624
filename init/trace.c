#include "trace.h"

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

size_t trace_format(const struct trace *t, char *buf, size_t size)
{
	size_t len = 0;
	for (size_t i = 0; i < t->n && len < size; i++) {
		int n = snprintf(buf + len, size - len, "%s=%lld\n", t->ev[i].name, t->ev[i].us);
		if (n < 0 || (size_t)n >= size - len)
			break;
		len += (size_t)n;
	}
	return len;
}
