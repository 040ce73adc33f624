/* Unit tests of the exit-status decision (boot/outcome.c): every row of
 * README's exit-status table, and which reason wins when several are
 * known at once. */
#include <sys/wait.h>

#include "../../boot/outcome.h"
#include "check.h"

/* A wait status as waitpid() reports it. */
#define EXITED(code) ((code) << 8)
#define KILLED(sig) (sig)

static int status_of(const struct outcome *o, const char *want_why)
{
	char why[OUTCOME_TEXT_MAX + 64];
	int s = outcome_status(o, why, sizeof(why));
	CHECK_STR(why, want_why);
	return s;
}

static void test_the_command_decides(void)
{
	struct outcome o;
	outcome_init(&o, OUTCOME_RUN);
	o.ready = 1;
	o.vmm_reaped = 1;
	o.vmm_status = EXITED(0);
	int rows[] = { 0, 1, 7, 126, 127, 128 + 9, 128 + 15, 255 };
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		o.guest_status = rows[i];
		CHECK_INT(status_of(&o, ""), rows[i]);
	}
	/* The guest's status beats the marker, a lost agent, a killed VMM. */
	o.guest_status = 3;
	o.marker_status = 4;
	outcome_lost(&o, "lost the connection to the guest agent");
	o.vmm_status = KILLED(9);
	CHECK_INT(status_of(&o, ""), 3);
	o.kind = OUTCOME_EXEC;
	CHECK_INT(status_of(&o, ""), 3);
}

static void test_timeout_is_124(void)
{
	struct outcome o;
	outcome_init(&o, OUTCOME_RUN);
	o.timed_out = 1;
	o.vmm_reaped = 1;
	o.vmm_status = KILLED(9);
	CHECK_INT(status_of(&o, "timed out; the VM was killed"), 124);
	/* What the guest sent after the timeout is not the verdict. */
	o.guest_status = 0;
	o.marker_status = 0;
	CHECK_INT(status_of(&o, "timed out; the VM was killed"), 124);
	o.kind = OUTCOME_EXEC;
	CHECK_INT(status_of(&o, "timed out; the command was hung up"), 124);
}

static void test_a_host_signal_is_128_plus_n(void)
{
	struct outcome o;
	outcome_init(&o, OUTCOME_RUN);
	o.host_signal = 2;
	o.vmm_reaped = 1;
	o.vmm_status = KILLED(9);
	CHECK_INT(status_of(&o, ""), 130);
	o.marker_status = 5; /* the host decided first */
	CHECK_INT(status_of(&o, ""), 130);
	o.guest_status = 0; /* the command got there before the signal */
	CHECK_INT(status_of(&o, ""), 0);
}

static void test_the_console_marker_without_a_stream(void)
{
	struct outcome o;
	outcome_init(&o, OUTCOME_RUN);
	o.ready = 1;
	o.marker_status = 42;
	o.vmm_reaped = 1;
	o.vmm_status = EXITED(0);
	CHECK_INT(status_of(&o, ""), 42);
	/* A lost stream does not hide a marker that came. */
	outcome_lost(&o, "the guest agent broke the protocol");
	CHECK_INT(status_of(&o, ""), 42);
}

static void test_failures_are_125_with_the_most_telling_reason(void)
{
	struct outcome o;
	outcome_init(&o, OUTCOME_RUN);
	o.vmm_reaped = 1;
	o.vmm_status = EXITED(1);
	CHECK_INT(status_of(&o, "the VM stopped before it was ready (VMM exit status 1)"), 125);
	o.ready = 1;
	CHECK_INT(status_of(&o, "the VM stopped before the command ended (VMM exit status 1)"),
		  125);
	o.vmm_status = KILLED(11);
	CHECK_INT(status_of(&o, "the VMM was killed by signal 11"), 125);
	snprintf(o.vmm_error, sizeof(o.vmm_error), "qemu: could not load kernel");
	CHECK_INT(status_of(&o, "qemu: could not load kernel"), 125);
	snprintf(o.panic, sizeof(o.panic), "VFS: Unable to mount root fs");
	CHECK_INT(status_of(&o, "guest kernel panic: VFS: Unable to mount root fs"), 125);
	/* A panic explains a lost agent better than the loss does. */
	outcome_lost(&o, "lost the connection to the guest agent");
	CHECK_INT(status_of(&o, "guest kernel panic: VFS: Unable to mount root fs"), 125);
	o.panic[0] = '\0';
	CHECK_INT(status_of(&o, "lost the connection to the guest agent"), 125);
	/* The first reason is kept: later ones are its consequences. */
	outcome_lost(&o, "wisp-vsockd exited with status 1");
	CHECK_INT(status_of(&o, "lost the connection to the guest agent"), 125);
}

static void test_exec_without_a_status(void)
{
	struct outcome o;
	outcome_init(&o, OUTCOME_EXEC);
	CHECK_INT(status_of(&o, "the guest agent closed the connection without a status"), 125);
	outcome_lost(
		&o, "cannot reach the guest agent: no answer from guest port 5252 within 10000 ms");
	CHECK_INT(status_of(&o, "cannot reach the guest agent: no answer from guest port 5252 "
				"within 10000 ms"),
		  125);
}

static void test_serve(void)
{
	struct outcome o;
	outcome_init(&o, OUTCOME_SERVE);
	o.vmm_reaped = 1;
	o.vmm_status = EXITED(0);
	CHECK_INT(status_of(&o, "the VM stopped before it was ready (VMM exit status 0)"), 125);
	o.ready = 1;
	CHECK_INT(status_of(&o, ""), 0); /* served until stopped */
	o.ready = 0;
	o.guest_status = 125; /* the notice said why, already */
	CHECK_INT(status_of(&o, ""), 125);
	o.ready = 1;
	outcome_lost(&o, "wisp-vsockd was killed by signal 9");
	CHECK_INT(status_of(&o, "wisp-vsockd was killed by signal 9"), 125);
}

int main(void)
{
	test_the_command_decides();
	test_timeout_is_124();
	test_a_host_signal_is_128_plus_n();
	test_the_console_marker_without_a_stream();
	test_failures_are_125_with_the_most_telling_reason();
	test_exec_without_a_status();
	test_serve();
	return check_summary("test_outcome");
}
