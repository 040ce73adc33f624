#include "supervise.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "../common/wire.h"
#include "agent.h"
#include "handoff.h"
#include "log.h"
#include "shutdown.h"
#include "timesync.h"

/* How long the rest of the processes get between SIGTERM and SIGKILL. */
#define GRACE_MS 500
/* How long SIGKILLed processes get to die (a process stuck in the kernel
 * may never); their output is abandoned after that. */
#define KILL_WAIT_MS 2000
/* A shutdown asked of PID 1 (SIGTERM, Ctrl-Alt-Del) gives the command this
 * long to end after SIGTERM before its group gets SIGKILL. */
#define SHUTDOWN_GRACE_MS 10000
/* Serving the agent, the commands are the agent's: their relays give each
 * that grace and report its status; PID 1 waits for them a little longer. */
#define SERVE_GRACE_MS (SHUTDOWN_GRACE_MS + 2000)

enum { TAG_SIGNAL = TAG_OWNER, TAG_TIMER, TAG_TIMESYNC, TAG_LOADED };

enum phase {
	RUNNING,     /* the command runs */
	TERMINATING, /* it ended; the rest got SIGTERM */
	KILLING,     /* the rest got SIGKILL */
	REPORTING,   /* the status is queued; waiting for the host's BYE */
};

struct pid1 {
	const struct config *cfg;
	struct session *s;
	struct command *cmd;
	struct trace *trace;
	int epfd, sigfd, timerfd, console_fd;
	enum phase phase;
	int children_left; /* 0 once waitpid says there are none */
	int timer_fired;
	int shutdown_asked; /* SIGTERM/SIGINT to PID 1 while the command ran */
	pid_t agent;        /* the vsock agent, restarted while the command runs */
	pid_t group;        /* the command's process group, or -1 */
	int serving;        /* no command: the agent serves the host until a shutdown */
	uint8_t how;
	int32_t value;
};

static void no_op(int sig)
{
	(void)sig;
}

int signals_setup(void)
{
	static const int handled[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPWR, SIGUSR1, SIGUSR2 };
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++) {
		sigaddset(&set, handled[i]);
		/* A handler, so that the kernel never drops these for PID 1. */
		struct sigaction sa = { .sa_handler = no_op };
		sigaction(handled[i], &sa, NULL);
	}
	sigaddset(&set, SIGPIPE); /* EPIPE from write() is enough */
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		log_warn("sigprocmask: %s", strerror(errno));
	sigdelset(&set, SIGPIPE);
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		log_warn("signalfd: %s", strerror(errno));
	/* Ctrl-Alt-Del becomes SIGINT to PID 1: an orderly shutdown. */
	if (reboot(RB_DISABLE_CAD) < 0)
		log_warn("disable Ctrl-Alt-Del: %s", strerror(errno));
	return fd;
}

void signals_reset(void)
{
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void arm_timer(struct pid1 *p, int ms)
{
	struct itimerspec its = { .it_value = { ms / 1000, (long)(ms % 1000) * 1000000L } };
	p->timer_fired = 0;
	if (timerfd_settime(p->timerfd, 0, &its, NULL) < 0)
		log_warn("timerfd_settime: %s", strerror(errno));
}

static void record_exit(struct pid1 *p, int status)
{
	wire_exit_from_wait(status, &p->how, &p->value);
}

static void reap(struct pid1 *p)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid > 0) {
			if (pid == p->agent) {
				p->agent = -1;
				if (p->phase == RUNNING) {
					log_warn("the agent died (status %d): restarting it",
						 status);
					p->agent = agent_start(NULL, 0);
				}
			}
			if (pid == p->cmd->pid) {
				trace_mark(p->trace, "exited");
				record_exit(p, status);
				p->cmd->pid = -1;
			}
			continue;
		}
		if (pid < 0 && errno == ECHILD)
			p->children_left = 0;
		else if (pid < 0 && errno != EINTR)
			log_warn("waitpid: %s", strerror(errno));
		return;
	}
}

static void kill_everyone(const struct pid1 *p, int sig)
{
	/* Beside a distro's init, the rest is its services, which it stops
	 * itself: only the command's group and the agent are ours. */
	if (handoff_active(p->cfg)) {
		if (p->group > 0)
			kill(-p->group, sig);
		if (p->agent > 0)
			kill(p->agent, sig);
		return;
	}
	/* kill(-1) reaches every process but PID 1 and kernel threads. */
	if (kill(-1, sig) < 0 && errno != ESRCH)
		log_warn("kill(-1, %d): %s", sig, strerror(errno));
}

static _Noreturn void end_vm(const struct pid1 *p)
{
	if (handoff_active(p->cfg))
		handoff_power_off();
	power_off();
}

static void on_signals(struct pid1 *p)
{
	struct signalfd_siginfo si;
	while (read(p->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			break; /* reaped below, once for any number of them */
		case SIGHUP:
			/* Forwarded as it is: the command decides. */
			if (p->phase == RUNNING && p->cmd->pid > 0 &&
			    kill(-p->cmd->pid, SIGHUP) < 0 && errno != ESRCH)
				log_warn("kill: %s", strerror(errno));
			break;
		case SIGTERM:
		case SIGINT: /* Ctrl-Alt-Del */
		case SIGPWR:
			/* An orderly shutdown: the command ends first, like any end;
			 * one that ignores SIGTERM gets SIGKILL after a grace. */
			if (p->phase == RUNNING && p->serving && !p->shutdown_asked) {
				log_info("signal %u: shutting down", si.ssi_signo);
				p->shutdown_asked = 1;
			}
			if (p->phase == RUNNING && p->cmd->pid > 0 && !p->shutdown_asked) {
				log_info("signal %u: stopping the command", si.ssi_signo);
				p->shutdown_asked = 1;
				if (kill(-p->cmd->pid, SIGTERM) < 0 && errno != ESRCH)
					log_warn("kill: %s", strerror(errno));
				arm_timer(p, SHUTDOWN_GRACE_MS);
			}
			break;
		default:
			break;
		}
	}
	reap(p);
}

static void write_console_marker(struct pid1 *p, int status)
{
	if (p->console_fd < 0)
		return;
	char line[96];
	int n = snprintf(line, sizeof(line), "\r\n" WIRE_EXIT_MARKER " %s %d\r\n",
			 p->cfg->nonce ? p->cfg->nonce : "-", status);
	if (write(p->console_fd, line, (size_t)n) < 0)
		log_warn("console marker: %s", strerror(errno));
	tcdrain(p->console_fd); /* the UART has sent it before the reset */
}

static void report_exit(struct pid1 *p)
{
	if (p->serving)
		return; /* each exec reported its own status */
	char text[TRACE_MAX * 40];
	trace_mark(p->trace, "reported");
	size_t len = trace_format(p->trace, text, sizeof(text));
	session_send(p->s, WIRE_TRACE, text, (uint32_t)len);
	int status = wire_exit_status(p->how, p->value);
	uint8_t payload[WIRE_EXIT_SIZE];
	wire_put_exit(payload, p->how, p->value);
	session_send(p->s, WIRE_EXIT, payload, sizeof(payload));
	write_console_marker(p, status);
	log_info("command ended with status %d", status);
}

/* Moves the shutdown along as far as it can go now. */
static void advance(struct pid1 *p)
{
	switch (p->phase) {
	case RUNNING:
		if (p->cmd->pid > 0 && p->shutdown_asked && p->timer_fired) {
			log_warn("the command ignored SIGTERM: killing it");
			kill(-p->cmd->pid, SIGKILL);
			p->timer_fired = 0;
		}
		if (p->cmd->pid > 0 || (p->serving && !p->shutdown_asked))
			return;
		/* The phase first: an agent reaped from here on stays dead. */
		p->phase = TERMINATING;
		kill_everyone(p, SIGTERM);
		p->children_left = 1;
		reap(p);
		arm_timer(p, p->serving ? SERVE_GRACE_MS : GRACE_MS);
		/* fall through */
	case TERMINATING:
		if (p->children_left && !p->timer_fired)
			return;
		kill_everyone(p, SIGKILL);
		p->children_left = 1;
		reap(p);
		p->phase = KILLING;
		arm_timer(p, KILL_WAIT_MS);
		/* fall through */
	case KILLING:
		/* With every process gone the pipes must reach EOF: wait for all
		 * of the output however slowly the host takes it. Only a process
		 * that will not die makes us give its output up. */
		if (p->children_left && !p->timer_fired)
			return;
		if (p->children_left)
			session_abandon_output(p->s);
		if (!session_output_done(p->s))
			return;
		report_exit(p);
		p->phase = REPORTING;
		/* fall through */
	case REPORTING:
		/* Until the host says BYE, output may still sit in the port's
		 * queue: a reset now would lose it. The host sends BYE once it has
		 * read EXIT, hence everything before it; if it goes away instead,
		 * the port hangs up and that counts as BYE. */
		if (!p->s->bye || !session_flushed(p->s))
			return;
		end_vm(p);
	}
}

static void add_fd(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		log_warn("epoll add: %s", strerror(errno));
}

#define MAX_EVENTS 16

void supervise(const struct config *c, int sigfd, int console_fd, struct session *s,
	       struct command *cmd, struct trace *trace, pid_t agent)
{
	struct pid1 p = { .cfg = c,
			  .s = s,
			  .cmd = cmd,
			  .trace = trace,
			  .agent = agent,
			  .group = cmd->pid,
			  .sigfd = sigfd,
			  .console_fd = console_fd,
			  .phase = RUNNING,
			  .children_left = 1 };
	p.epfd = epoll_create1(EPOLL_CLOEXEC);
	p.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (p.epfd < 0 || p.timerfd < 0) {
		/* Without the loop nothing can be relayed: end the VM in order. */
		log_warn("epoll/timerfd: %s", strerror(errno));
		end_vm(&p);
	}
	p.serving = c->io == IO_VSOCK;
	if (cmd->pid < 0)
		p.how = WIRE_SETUP; /* it never started: the status is 125 */
	add_fd(p.epfd, sigfd, TAG_SIGNAL);
	add_fd(p.epfd, p.timerfd, TAG_TIMER);
	if (cmd->exec_fd >= 0)
		add_fd(p.epfd, cmd->exec_fd, TAG_LOADED);
	int timesync_fd = timesync_timer(c);
	if (timesync_fd >= 0)
		add_fd(p.epfd, timesync_fd, TAG_TIMESYNC);
	reap(&p); /* a command that ended before the loop started */

	for (;;) {
		advance(&p);
		session_arm(s, p.epfd);
		struct epoll_event ev[MAX_EVENTS];
		int n = epoll_wait(p.epfd, ev, MAX_EVENTS, -1);
		if (n < 0 && errno != EINTR)
			log_warn("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			uint32_t tag = ev[i].data.u32;
			if (tag == TAG_SIGNAL) {
				on_signals(&p);
			} else if (tag == TAG_LOADED) {
				trace_mark(trace, "loaded");
				close(cmd->exec_fd); /* and out of the epoll set */
				cmd->exec_fd = -1;
			} else if (tag == TAG_TIMESYNC) {
				timesync_tick(timesync_fd, c, p.phase == RUNNING);
			} else if (tag == TAG_TIMER) {
				uint64_t ticks;
				if (read(p.timerfd, &ticks, sizeof(ticks)) > 0)
					p.timer_fired = 1;
			} else {
				session_event(s, tag, ev[i].events);
			}
		}
	}
}
