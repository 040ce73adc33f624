/* Running a tool to its end, stoppable by the user (proc_run.h). */
#include "proc_run.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/fd.h"
#include "child.h"

/* How long a stopped tool has to clean up (mmdebstrap unmounts and
 * removes its temporary tree) before its group is killed. */
#define STOP_GRACE_MS 10000

static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

int proc_guard_init(struct proc_guard *g)
{
	sigset_t set;
	stop_signals(&set);
	g->signo = 0;
	if (sigprocmask(SIG_BLOCK, &set, &g->old) < 0)
		return -1;
	g->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return g->sigfd < 0 ? -1 : 0;
}

void proc_guard_close(struct proc_guard *g)
{
	close_fd(&g->sigfd);
	sigprocmask(SIG_SETMASK, &g->old, NULL);
}

static _Noreturn void exec_child(pid_t parent, const struct proc_cmd *c)
{
	int null = child_prepare(parent, SIGTERM);
	int fds[3] = { c->in_fd, c->out_fd, c->err_fd };
	for (int i = 0; i < 3; i++)
		if (dup2(fds[i] >= 0 ? fds[i] : null, i) < 0)
			_exit(127);
	for (char *const *e = c->setenv; e && *e; e++)
		if (putenv(*e) != 0)
			_exit(127);
	for (char *const *u = c->unset; u && *u; u++)
		unsetenv(*u);
	if (c->cwd && chdir(c->cwd) < 0)
		_exit(127);
	execvp(c->argv[0], c->argv);
	_exit(127);
}

/* Waits up to ms for the child behind pidfd: 1 when it ended. */
static int wait_end(int pidfd, int ms)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	for (;;) {
		int n = poll(&p, 1, ms);
		if (n >= 0 || errno != EINTR)
			return n > 0;
	}
}

static int reap(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void stop_group(pid_t pid, int pidfd)
{
	kill(-pid, SIGTERM);
	kill(pid, SIGTERM); /* in case it had no group of its own yet */
	if (!wait_end(pidfd, STOP_GRACE_MS)) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
	}
	reap(pid);
	kill(-pid, SIGKILL); /* what it left behind in its group */
}

int proc_run(struct proc_guard *g, const struct proc_cmd *c)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		exec_child(parent, c);
	int pidfd = pidfd_open(pid, 0);
	if (pidfd < 0) {
		int saved = errno;
		kill(pid, SIGKILL);
		reap(pid);
		errno = saved;
		return -1;
	}
	struct pollfd p[2] = { { .fd = pidfd, .events = POLLIN },
			       { .fd = g->sigfd, .events = POLLIN } };
	for (;;) {
		int n = poll(p, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (p[0].revents & POLLIN))
			break;
		struct signalfd_siginfo si;
		if ((p[1].revents & POLLIN) && read(g->sigfd, &si, sizeof(si)) == sizeof(si)) {
			g->signo = (int)si.ssi_signo;
			stop_group(pid, pidfd);
			close(pidfd);
			return PROC_STOPPED;
		}
	}
	close(pidfd);
	return reap(pid);
}
