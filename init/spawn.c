#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define DEFAULT_TERM "linux"

/* In the child only: say why and end as a shell would (126: found but
 * cannot run; 127: not found). */
static _Noreturn void child_fail(int status, const char *what, const char *arg)
{
	dprintf(STDERR_FILENO, "wisp: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
		strerror(errno));
	_exit(status);
}

/* The user's entry in the root's /etc/passwd, or NULL: a bare uid. */
static const struct passwd *user_entry(const struct config *c)
{
	return getpwuid(c->has_user ? c->uid : 0);
}

static void set_env(const struct config *c, const struct passwd *pw)
{
	clearenv();
	setenv("PATH", DEFAULT_PATH, 1);
	if (pw) {
		setenv("HOME", pw->pw_dir, 1);
		setenv("USER", pw->pw_name, 1);
		setenv("LOGNAME", pw->pw_name, 1);
	} else {
		setenv("HOME", !c->has_user || c->uid == 0 ? "/root" : "/", 1);
	}
	if (c->tty)
		setenv("TERM", DEFAULT_TERM, 1);
	for (int i = 0; c->env[i]; i++)
		if (putenv(c->env[i]) < 0)
			child_fail(126, "environment", c->env[i]);
}

/* -u UID takes the gid and the groups of UID's passwd entry when it has
 * one; -u UID:GID only those two. */
static void set_user(const struct config *c, const struct passwd *pw)
{
	if (!c->has_user)
		return;
	gid_t gid = c->has_gid || !pw ? c->gid : pw->pw_gid;
	if (!c->has_gid && pw ? initgroups(pw->pw_name, gid) < 0 : setgroups(0, NULL) < 0)
		child_fail(126, "setgroups", NULL);
	if (setgid(gid) < 0)
		child_fail(126, "setgid", NULL);
	if (setuid(c->uid) < 0)
		child_fail(126, "setuid", NULL);
}

static _Noreturn void child_exec(const struct config *c, int fds[3], int pty_slave)
{
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	/* An ignored signal stays ignored across exec: the relay's SIGPIPE
	 * must not be the command's. */
	signal(SIGPIPE, SIG_DFL);
	if (setsid() < 0)
		child_fail(126, "setsid", NULL);
	if (pty_slave >= 0 && ioctl(pty_slave, TIOCSCTTY, 0) < 0)
		child_fail(126, "TIOCSCTTY", NULL);
	for (int i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			_exit(126);
	const struct passwd *pw = user_entry(c);
	set_env(c, pw);
	if (chdir(c->cwd ? c->cwd : "/") < 0)
		child_fail(126, "chdir", c->cwd);
	set_user(c, pw);
	static char *const shell[] = { "/bin/sh", NULL };
	char *const *argv = c->argv[0] ? c->argv : shell;
	execvp(argv[0], argv);
	child_fail(errno == ENOENT || errno == ENOTDIR ? 127 : 126, "exec", argv[0]);
}

static int open_pty(const struct config *c, int *master, int *slave)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*master < 0)
		return -1;
	char name[64];
	if (grantpt(*master) < 0 || unlockpt(*master) < 0 ||
	    ptsname_r(*master, name, sizeof(name)) != 0)
		return -1;
	*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0)
		return -1;
	struct winsize ws = { .ws_row = c->rows, .ws_col = c->cols };
	return ioctl(*master, TIOCSWINSZ, &ws);
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int spawn_command(const struct config *c, int console_fd, struct command *cmd)
{
	/* child[i] is the command's fd i; parent[i] PID 1's end of it. */
	int child[3] = { -1, -1, -1 }, parent[3] = { -1, -1, -1 };
	int pty_slave = -1;
	*cmd = (struct command){
		.pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1, .exec_fd = -1
	};
	/* The child holds the write end until exec closes it (O_CLOEXEC). */
	int exec_pipe[2];
	if (pipe2(exec_pipe, O_CLOEXEC) < 0) {
		log_warn("pipe: %s", strerror(errno));
		return -1;
	}

	if (console_fd >= 0) {
		child[0] = child[1] = child[2] = console_fd;
	} else if (c->tty) {
		if (open_pty(c, &parent[1], &pty_slave) < 0) {
			log_warn("open a pty: %s", strerror(errno));
			goto fail;
		}
		child[0] = child[1] = child[2] = pty_slave;
		cmd->is_pty = 1;
	} else {
		int p[2];
		for (int i = 0; i < 3; i++) {
			if (i == 0 && !c->stdin_open)
				continue;
			if (pipe2(p, O_CLOEXEC) < 0) {
				log_warn("pipe: %s", strerror(errno));
				goto fail;
			}
			child[i] = i == 0 ? p[0] : p[1];
			parent[i] = i == 0 ? p[1] : p[0];
		}
		if (!c->stdin_open && (child[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
			log_warn("open /dev/null: %s", strerror(errno));
			goto fail;
		}
	}

	cmd->pid = fork();
	if (cmd->pid < 0) {
		log_warn("fork: %s", strerror(errno));
		goto fail;
	}
	if (cmd->pid == 0)
		child_exec(c, child, pty_slave);
	close(exec_pipe[1]);
	cmd->exec_fd = exec_pipe[0];

	if (console_fd < 0)
		close_all(child, c->tty ? 1 : 3);
	for (int i = 0; i < 3; i++)
		if (parent[i] >= 0 && fcntl(parent[i], F_SETFL, O_NONBLOCK) < 0)
			log_warn("O_NONBLOCK: %s", strerror(errno));
	if (cmd->is_pty) {
		cmd->out_fd = parent[1];
		cmd->in_fd = c->stdin_open ? parent[1] : -1;
	} else {
		cmd->in_fd = parent[0];
		cmd->out_fd = parent[1];
		cmd->err_fd = parent[2];
	}
	return 0;

fail:
	close_all(exec_pipe, 2);
	if (console_fd < 0) {
		close_all(child, c->tty ? 1 : 3);
		close_all(parent, 3);
	}
	return -1;
}
