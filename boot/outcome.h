/* The launcher's exit status (README, "Exit status"), decided in one place
 * from everything that can be known at the end of a run: the guest's EXIT
 * frame, the console marker, what the host itself decided (--timeout, a
 * signal), and why the guest's answer could not come. Pure. */
#ifndef WISP_OUTCOME_H
#define WISP_OUTCOME_H

#include <stddef.h>

/* Exit statuses of the launcher itself (DESIGN.md). */
#define EXIT_TIMEOUT 124
#define EXIT_LAUNCHER 125

#define OUTCOME_TEXT_MAX 256

enum outcome_kind {
	OUTCOME_RUN,   /* wisp run: a VM of ours, one command */
	OUTCOME_SERVE, /* wisp start's background VM: 0 once it was ready */
	OUTCOME_EXEC,  /* wisp exec: a command on someone else's VM */
};

struct outcome {
	enum outcome_kind kind;
	int guest_status;             /* from EXIT, or -1 */
	int marker_status;            /* from the console marker, or -1 */
	int timed_out;                /* --timeout expired before the status came */
	int host_signal;              /* a signal ended the VM before the status: 128+N; 0: none */
	int ready;                    /* the guest's agent announced itself */
	char lost[OUTCOME_TEXT_MAX];  /* why the guest's answer can no longer come */
	char panic[OUTCOME_TEXT_MAX]; /* the guest kernel's panic line */
	char vmm_error[OUTCOME_TEXT_MAX]; /* the VMM's first line on stderr */
	int vmm_reaped;                   /* vmm_status is valid */
	int vmm_status;                   /* the VMM's wait status */
};

void outcome_init(struct outcome *o, enum outcome_kind kind);
/* The first reason wins: the ones after it are consequences. */
void outcome_lost(struct outcome *o, const char *why);
/* The exit status, and in why[size] the one line to print ("" for none). */
int outcome_status(const struct outcome *o, char *why, size_t size);

#endif
