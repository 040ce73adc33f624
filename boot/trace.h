/* The boot trace of one run: the guest's "step=us" and "fact_name=value"
 * lines (docs/protocol.md, TRACE) as the guest sent them, and the host's
 * own moments, printed as text (--trace) or JSON (--trace-json). Pure but
 * for the FILE it writes to: the guest's text is never trusted to be JSON. */
#ifndef WISP_TRACE_H
#define WISP_TRACE_H

#include <stdio.h>

/* What is kept of the guest's text; the rest is dropped. */
#define TRACE_GUEST_MAX 2048

struct trace {
	char guest[TRACE_GUEST_MAX];
	size_t len;
	/* Host moments, microseconds since launch; 0: did not happen. */
	long long ready, hello, status, gone;
	int has_vm; /* the run booted a VM (not an exec): "vm gone" is shown */
};

/* The boot's steps (the ready notice) replace what was kept. */
void trace_set_guest(struct trace *t, const char *text, size_t len);
/* The command's steps follow the boot's. */
void trace_add_guest(struct trace *t, const char *text, size_t len);
void trace_print(const struct trace *t, FILE *f);
/* One JSON object: guest_ms, guest_facts, host_ms, exit_status. */
void trace_write_json(const struct trace *t, int exit_status, FILE *f);

#endif
