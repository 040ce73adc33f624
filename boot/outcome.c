/* The exit-status decision (outcome.h): pure. */
#include "outcome.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

void outcome_init(struct outcome *o, enum outcome_kind kind)
{
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->guest_status = -1;
	o->marker_status = -1;
}

void outcome_lost(struct outcome *o, const char *why)
{
	if (!o->lost[0])
		snprintf(o->lost, sizeof(o->lost), "%s", why);
}

/* No status from the guest: say why, most telling reason first. */
static int failure(const struct outcome *o, char *why, size_t size)
{
	if (o->lost[0] && !o->panic[0])
		snprintf(why, size, "%s", o->lost);
	else if (o->kind == OUTCOME_EXEC)
		snprintf(why, size, "the guest agent closed the connection without a status");
	else if (o->panic[0])
		snprintf(why, size, "guest kernel panic: %s", o->panic);
	else if (o->vmm_error[0])
		snprintf(why, size, "%s", o->vmm_error);
	else if (o->vmm_reaped && WIFSIGNALED(o->vmm_status))
		snprintf(why, size, "the VMM was killed by signal %d", WTERMSIG(o->vmm_status));
	else if (o->kind == OUTCOME_SERVE || !o->ready)
		snprintf(why, size, "the VM stopped before it was ready (VMM exit status %d)",
			 o->vmm_reaped && WIFEXITED(o->vmm_status) ? WEXITSTATUS(o->vmm_status)
								   : -1);
	else
		snprintf(why, size, "the VM stopped before the command ended (VMM exit status %d)",
			 o->vmm_reaped && WIFEXITED(o->vmm_status) ? WEXITSTATUS(o->vmm_status)
								   : -1);
	return EXIT_LAUNCHER;
}

int outcome_status(const struct outcome *o, char *why, size_t size)
{
	why[0] = '\0';
	if (o->kind == OUTCOME_SERVE) {
		/* Ready and never lost: it served until stopped. */
		if (o->ready && !o->lost[0])
			return 0;
		/* Not ready after all: the guest said why in its notice. */
		if (o->guest_status >= 0 && !o->lost[0])
			return EXIT_LAUNCHER;
		return failure(o, why, size);
	}
	/* The timer stops at EXIT: a timeout came first, and what the guest
	 * may have sent after it is not the command's verdict. */
	if (o->timed_out) {
		snprintf(why, size,
			 o->kind == OUTCOME_EXEC ? "timed out; the command was hung up"
						 : "timed out; the VM was killed");
		return EXIT_TIMEOUT;
	}
	if (o->guest_status >= 0)
		return o->guest_status;
	if (o->host_signal)
		return 128 + o->host_signal;
	if (o->marker_status >= 0)
		return o->marker_status;
	return failure(o, why, size);
}
