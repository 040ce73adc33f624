/* The user's command on the host side: stdio, EXEC keys, signals (command.h). */
#include "command.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "kcmdline.h"
#include "msg.h"
#include "term.h"

extern char **environ;

int signals_open(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGWINCH);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return -1;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int signals_next(int fd)
{
	struct signalfd_siginfo si;
	return read(fd, &si, sizeof(si)) == sizeof(si) ? (int)si.ssi_signo : 0;
}

int command_prepare(struct command *c, const struct run_opts *o, int poweroff)
{
	memset(c, 0, sizeof(*c));
	/* A shell without a command, with a tty when stdin is one. */
	c->tty = o->tty;
	c->stdin_open = o->interactive;
	if (o->argc == 0 && !o->tty_given) {
		c->stdin_open = 1;
		c->tty = isatty(STDIN_FILENO);
	}
	struct guest_setup g = { .o = o,
				 .stdin_open = c->stdin_open,
				 .tty = c->tty,
				 .rows = 24,
				 .cols = 80,
				 .host_env = environ,
				 .term = getenv("TERM"),
				 .poweroff = poweroff };
	if (c->tty)
		term_size(STDIN_FILENO, &g.rows, &g.cols);
	char err[256];
	int len = build_exec_keys(&g, c->keys, sizeof(c->keys), err, sizeof(err));
	if (len < 0) {
		msg_warn("%s", err);
		return -1;
	}
	c->keys_len = (uint32_t)len;
	return 0;
}

void command_open_stdin(const struct command *c, struct relay *r)
{
	if (!c->stdin_open)
		return;
	if (c->tty && term_raw(STDIN_FILENO) == 0)
		atexit(term_restore);
	relay_open_stdin(r, STDIN_FILENO, c->tty);
}

int command_signal(struct command *c, struct relay *r, int sig)
{
	if (r->hello && r->exit_status < 0 && relay_open(r) && c->signals_sent++ == 0) {
		relay_send_signal(r, sig);
		return 0;
	}
	return -1;
}

void command_winsize(const struct command *c, struct relay *r)
{
	unsigned short rows, cols;
	if (c->tty && term_size(STDIN_FILENO, &rows, &cols) == 0)
		relay_send_winsize(r, rows, cols);
}
