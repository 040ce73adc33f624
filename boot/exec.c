/* `wisp exec NAME`: a command through the agent of a VM that `wisp start`
 * keeps. There is no VM here, only a connection: dial the agent, send the
 * EXEC, relay until EXIT, hang up. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../common/wire.h"
#include "command.h"
#include "hybrid.h"
#include "msg.h"
#include "run.h"
#include "runtime.h"
#include "term.h"

struct exec {
	const struct run_opts *o;
	struct loop loop;
	struct relay relay;
	struct command cmd;
	struct outcome out;
	struct trace trace;
	struct timer timeout;
	struct watch sig;
	struct dial dial;
	long long t0;
};

static void dialled(struct dial *d, int fd, const char *err)
{
	struct exec *e = container_of(d, struct exec, dial);
	if (fd < 0) {
		char why[DIAL_ERR_MAX + 40];
		snprintf(why, sizeof(why), "cannot reach the guest agent: %s", err);
		outcome_lost(&e->out, why);
		return;
	}
	if (relay_attach(&e->relay, fd) < 0) {
		outcome_lost(&e->out, "cannot relay the agent's stream");
		return;
	}
	relay_send_exec(&e->relay, e->cmd.keys, e->cmd.keys_len);
}

static void on_exited(struct relay *r, int status)
{
	struct exec *e = container_of(r, struct exec, relay);
	e->out.guest_status = status;
	timer_stop(&e->timeout);
	relay_close(r); /* nothing follows EXIT on an agent's stream */
}

static void on_lost(struct relay *r, int broken, const char *why)
{
	(void)broken;
	struct exec *e = container_of(r, struct exec, relay);
	outcome_lost(&e->out, why);
}

static const struct relay_events relay_events = { on_exited, on_lost };

/* The agent hangs the command up when the connection goes. */
static void hang_up(struct exec *e)
{
	relay_abandon_output(&e->relay);
	dial_cancel(&e->dial);
	relay_close(&e->relay);
}

static void on_timeout(struct timer *t)
{
	struct exec *e = container_of(t, struct exec, timeout);
	e->out.timed_out = 1;
	hang_up(e);
}

static void on_signal(struct watch *w, uint32_t events)
{
	(void)events;
	struct exec *e = container_of(w, struct exec, sig);
	for (int sig; (sig = signals_next(w->fd));) {
		if (sig == SIGCHLD)
			continue;
		if (sig == SIGWINCH) {
			command_winsize(&e->cmd, &e->relay);
		} else if (command_signal(&e->cmd, &e->relay, sig) < 0) {
			hang_up(e);
			if (e->out.guest_status < 0 && !e->out.host_signal)
				e->out.host_signal = sig;
		}
	}
}

static int finish(struct exec *e)
{
	term_restore();
	char why[OUTCOME_TEXT_MAX + 64];
	int status = outcome_status(&e->out, why, sizeof(why));
	if (e->o->trace && (e->out.guest_status >= 0 || e->out.host_signal))
		trace_print(&e->trace, stderr);
	if (why[0])
		msg_warn("%s", why);
	return status;
}

int exec_in_vm(const struct run_opts *o, const char *name)
{
	struct exec e;
	memset(&e, 0, sizeof(e));
	e.o = o;
	outcome_init(&e.out, OUTCOME_EXEC);
	char dir[RUNTIME_PATH_MAX], path[RUNTIME_PATH_MAX + 16], err[300];
	if (runtime_vm_dir(name, dir, sizeof(dir), err, sizeof(err)) < 0) {
		msg_warn("%s", err);
		return EXIT_LAUNCHER;
	}
	struct vm_state st;
	if (!runtime_alive(dir) || runtime_read_state(dir, &st) < 0 || !st.ready) {
		msg_warn("no running VM named %s", name);
		return EXIT_LAUNCHER;
	}
	snprintf(path, sizeof(path), "%s/vsock", dir);
	if (command_prepare(&e.cmd, o, 0) < 0)
		return EXIT_LAUNCHER;
	int fd;
	e.t0 = clock_us();
	if (loop_init(&e.loop) < 0 || (fd = signals_open()) < 0 ||
	    loop_add(&e.loop, &e.sig, fd, EPOLLIN, on_signal) < 0 ||
	    timer_init(&e.loop, &e.timeout, on_timeout) < 0 ||
	    relay_init(&e.relay, &e.loop, &relay_events, &e.trace, e.t0) < 0 ||
	    dial_start(&e.dial, &e.loop, path, WIRE_AGENT_PORT, DIAL_AGENT_MS, dialled) < 0) {
		msg_warn("setup: %s", strerror(errno));
		return EXIT_LAUNCHER;
	}
	if (o->timeout > 0)
		timer_arm_ms(&e.timeout, (long long)(o->timeout * 1000));
	command_open_stdin(&e.cmd, &e.relay);
	while (dial_active(&e.dial) || relay_open(&e.relay) || relay_output_pending(&e.relay)) {
		int busy = relay_pump(&e.relay);
		if (loop_run_once(&e.loop, busy ? 0 : -1) < 0) {
			msg_warn("epoll_wait: %s", strerror(errno));
			break;
		}
	}
	relay_free(&e.relay);
	return finish(&e);
}
