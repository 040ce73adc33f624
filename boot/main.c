/* wisp: the host side of a wisp VM. One function per subcommand. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/fd.h"
#include "image_cmd.h"
#include "loop.h"
#include "msg.h"
#include "options.h"
#include "port_forward.h"
#include "root_stage.h"
#include "rootfs.h"
#include "run.h"
#include "runtime.h"

static const char usage[] =
	"usage: wisp run [OPTIONS] [--] [COMMAND [ARG...]]   boot, run COMMAND (or a shell), power off\n"
	"       wisp start --name NAME [OPTIONS]           boot a VM that stays up\n"
	"       wisp exec NAME [OPTIONS] [--] COMMAND...    run COMMAND in it\n"
	"       wisp stop NAME [--timeout SECONDS]          shut it down in order\n"
	"       wisp ps                                    list the running VMs\n"
	"       wisp port NAME                             the guest ports forwarded to 127.0.0.1\n"
	"       wisp image build|verify|ls|rm ...           reproducible Debian roots for --rootfs\n"
	"       wisp help                                  this text (wisp COMMAND --help: more)\n";

/* How long `stop` waits for the VM to end, unless --timeout says otherwise
 * (`start` waits OPTIONS_START_TIMEOUT_S for the guest to be ready). */
#define STOP_TIMEOUT_S 30.0

static void self_dir(char *out, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", out, size - 1);
	if (n < 0) {
		snprintf(out, size, ".");
		return;
	}
	out[n] = '\0';
	char *slash = strrchr(out, '/');
	if (slash)
		*slash = '\0';
}

/* -w's default with a real root: the host's cwd through the volume that
 * holds it, else (--rootfs host) the cwd itself where the guest sees it. */
static void default_workdir(struct run_opts *o)
{
	char cwd[PATH_MAX];
	struct rootfs_mapping maps[OPTIONS_MAX_VOLUMES];
	char *real[OPTIONS_MAX_VOLUMES];
	size_t n = 0;
	if (!getcwd(cwd, sizeof(cwd)))
		return; /* no cwd to follow: the guest's default */
	for (size_t i = 0; i < o->nvolumes; i++) {
		/* A volume that does not resolve fails later, with its reason. */
		if ((real[n] = realpath(o->volumes[i].host, NULL))) {
			maps[n].host = real[n];
			maps[n].guest = o->volumes[i].guest;
			n++;
		}
	}
	int host = o->root.kind == ROOTFS_HOST && root_stage_host_visible(cwd);
	if (rootfs_workdir(cwd, maps, n, host, o->workdir_buf, sizeof(o->workdir_buf)) == 1)
		o->workdir = o->workdir_buf;
	for (size_t i = 0; i < n; i++)
		free(real[i]);
}

/* --rootfs: checked before anything starts (one line and 125 if it will
 * not do), then run's defaults for it. */
static int prepare_root(enum opts_cmd cmd, struct run_opts *o)
{
	char err[ROOTFS_PATH_MAX + 200];
	/* A name of a built image (or debian:SUITE, built now) boots that image. */
	if (o->root.source && strcmp(o->root.source, "host")) {
		char image[ROOTFS_PATH_MAX];
		int named = image_rootfs_name(o->root.source, image, sizeof(image), err,
					      sizeof(err));
		if (named < 0) {
			if (err[0])
				msg_warn("%s", err);
			return -1;
		}
		if (named)
			snprintf(o->root.source_buf, sizeof(o->root.source_buf), "%s", image);
		o->root.source = o->root.source_buf;
	}
	int needs_shell = cmd == OPTS_RUN && o->argc == 0 && !o->init;
	if (rootfs_check(&o->root, needs_shell, err, sizeof(err)) < 0) {
		msg_warn("%s", err);
		return -1;
	}
	if (cmd != OPTS_RUN || o->root.kind == ROOTFS_NONE)
		return 0;
	/* The host's files, as the user who runs wisp: what they write to
	 * volumes is theirs. */
	if (!o->user && o->root.kind == ROOTFS_HOST) {
		snprintf(o->user_buf, sizeof(o->user_buf), "%u:%u", (unsigned)getuid(),
			 (unsigned)getgid());
		o->user = o->user_buf;
	}
	if (!o->workdir)
		default_workdir(o);
	return 0;
}

/* Parses the options of cmd; 1: done (help or error, status in *status). */
static int get_options(enum opts_cmd cmd, int argc, char **argv, struct run_opts *o, int *status)
{
	struct opts_defaults d = { .accel = getenv("WISP_ACCEL") };
	char err[OPTIONS_ERR_LEN];
	if (parse_options(cmd, &d, argc, argv, o, err, sizeof(err)) < 0) {
		fprintf(stderr, "wisp: %s\n", err);
		options_usage(cmd, stderr);
		*status = EXIT_LAUNCHER;
		return 1;
	}
	if (o->help) {
		options_usage(cmd, stdout);
		*status = 0;
		return 1;
	}
	if (cmd != OPTS_EXEC && prepare_root(cmd, o) < 0) {
		*status = EXIT_LAUNCHER;
		return 1;
	}
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	struct run_opts o;
	int status;
	if (get_options(OPTS_RUN, argc, argv, &o, &status))
		return status;
	char dir[PATH_MAX];
	self_dir(dir, sizeof(dir));
	return run_vm(&o, dir);
}

/* The background process that keeps a started VM: a session of its own,
 * no terminal; its messages go to `start` through report_fd until the VM
 * is ready, and to the log in the VM's directory. */
static _Noreturn void supervise_vm(const struct run_opts *o, const char *dir, int report_fd)
{
	setsid();
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
	    dup2(null, STDERR_FILENO) < 0)
		_exit(EXIT_LAUNCHER);
	msg_set_fd(report_fd);
	_exit(serve_vm(o, dir));
}

static int cmd_start(int argc, char **argv)
{
	struct run_opts o;
	int status;
	if (get_options(OPTS_START, argc, argv, &o, &status))
		return status;
	char dir[PATH_MAX];
	self_dir(dir, sizeof(dir));
	int report[2];
	if (pipe2(report, O_CLOEXEC) < 0) {
		msg_warn("pipe: %s", strerror(errno));
		return EXIT_LAUNCHER;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		msg_warn("fork: %s", strerror(errno));
		return EXIT_LAUNCHER;
	}
	if (pid == 0) {
		close(report[0]);
		supervise_vm(&o, dir, report[1]);
	}
	close(report[1]);
	/* Relay what the background process says until it says "ready" (a
	 * NUL byte) or ends; give up after the timeout. */
	double timeout = o.timeout > 0 ? o.timeout : OPTIONS_START_TIMEOUT_S;
	long long deadline = clock_us() / 1000 + (long long)(timeout * 1000);
	for (;;) {
		long long left = deadline - clock_us() / 1000;
		struct pollfd p = { .fd = report[0], .events = POLLIN };
		int n = left > 0 ? poll(&p, 1, (int)(left > 1000000 ? 1000000 : left)) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			msg_warn("VM %s was not ready within %g s", o.name, timeout);
			kill(pid, SIGKILL); /* its VMM and helpers die with it */
			waitpid(pid, NULL, 0);
			char vm_dir[PATH_MAX], err[300];
			if (runtime_vm_dir(o.name, vm_dir, sizeof(vm_dir), err, sizeof(err)) == 0)
				runtime_reap(vm_dir);
			return EXIT_LAUNCHER;
		}
		char buf[4096];
		ssize_t got = read(report[0], buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			/* It ended without the VM being ready: it said why. */
			waitpid(pid, &status, 0);
			return EXIT_LAUNCHER;
		}
		/* What it says before the NUL is for the user. */
		char *nul = memchr(buf, '\0', (size_t)got);
		ssize_t text = nul ? nul - buf : got;
		if (write(STDERR_FILENO, buf, (size_t)text) < 0) {
			/* a stderr that cannot take it changes nothing about the VM */
		}
		if (nul)
			return 0;
	}
}

static int cmd_exec(int argc, char **argv)
{
	/* Options may come before the name too (`exec -i NAME`): move it first. */
	int at = options_first_operand(argc, argv);
	for (; at > 1; at--) {
		char *name = argv[at];
		argv[at] = argv[at - 1];
		argv[at - 1] = name;
	}
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			options_usage(OPTS_EXEC, stdout);
			return 0;
		}
		fputs("wisp: exec needs the name of a VM\n", stderr);
		options_usage(OPTS_EXEC, stderr);
		return EXIT_LAUNCHER;
	}
	const char *name = argv[1];
	if (!vm_name_valid(name)) {
		fprintf(stderr, "wisp: invalid VM name '%s'\n", name);
		return EXIT_LAUNCHER;
	}
	struct run_opts o;
	int status;
	if (get_options(OPTS_EXEC, argc - 1, argv + 1, &o, &status))
		return status;
	return exec_in_vm(&o, name);
}

static int cmd_stop(int argc, char **argv)
{
	double timeout = STOP_TIMEOUT_S;
	const char *name = NULL;
	for (int i = 1; i < argc; i++) {
		char *end;
		if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			timeout = strtod(argv[++i], &end);
			if (*end || !(timeout > 0)) {
				fprintf(stderr, "wisp: invalid --timeout '%s': want seconds > 0\n",
					argv[i]);
				return EXIT_LAUNCHER;
			}
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs("usage: wisp stop NAME [--timeout SECONDS]\n", stdout);
			return 0;
		} else if (!name && argv[i][0] != '-') {
			name = argv[i];
		} else {
			fprintf(stderr,
				"wisp: stop: unexpected '%s'\nusage: wisp stop NAME [--timeout SECONDS]\n",
				argv[i]);
			return EXIT_LAUNCHER;
		}
	}
	if (!name || !vm_name_valid(name)) {
		fprintf(stderr,
			"wisp: stop needs the name of a VM\nusage: wisp stop NAME [--timeout SECONDS]\n");
		return EXIT_LAUNCHER;
	}
	char dir[PATH_MAX], err[300];
	if (runtime_vm_dir(name, dir, sizeof(dir), err, sizeof(err)) < 0) {
		msg_warn("%s", err);
		return EXIT_LAUNCHER;
	}
	/* The supervisor is signalled through a pidfd taken while its start
	 * time still matches the state file's: never a process that merely
	 * reuses its PID. */
	struct vm_state st;
	int pidfd = -1;
	if (runtime_alive(dir) && runtime_read_state(dir, &st) == 0)
		pidfd = pidfd_open(st.pid, 0);
	if (pidfd < 0 || st.pid_start <= 0 || runtime_pid_start(st.pid) != st.pid_start) {
		msg_warn("no running VM named %s", name);
		close_fd(&pidfd);
		return EXIT_LAUNCHER;
	}
	/* Its supervisor asks the guest to shut down in order; it is gone
	 * when it lets go of the directory's lock. */
	if (pidfd_send_signal(pidfd, SIGTERM, NULL, 0) < 0) {
		msg_warn("stop %s: %s", name, strerror(errno));
		close(pidfd);
		return EXIT_LAUNCHER;
	}
	long long deadline = clock_us() / 1000 + (long long)(timeout * 1000);
	int status = 0;
	while (runtime_alive(dir)) {
		if (clock_us() / 1000 > deadline) {
			msg_warn("VM %s did not shut down within %g s: killed", name, timeout);
			pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
			for (int i = 0; i < 100 && runtime_alive(dir); i++)
				usleep(20000);
			runtime_reap(dir);
			status = EXIT_LAUNCHER;
			break;
		}
		usleep(10000);
	}
	close(pidfd);
	return status;
}

static void print_vm(const char *name, const char *dir, void *ctx)
{
	(void)ctx;
	struct vm_state st;
	if (runtime_read_state(dir, &st) < 0)
		return;
	long long up = st.started ? (long long)time(NULL) - st.started : 0;
	printf("%-20s %-8d %-9s %-8lld %-14s %-8u %u\n", name, (int)st.pid,
	       st.ready ? "running" : "starting", up, st.vmm, st.memory_mib, st.cpus);
}

static int cmd_ps(int argc, char **argv)
{
	if (argc > 1) {
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
			fputs("usage: wisp ps\n", stdout);
			return 0;
		}
		fprintf(stderr, "wisp: ps takes no arguments\n");
		return EXIT_LAUNCHER;
	}
	char root[PATH_MAX], err[300];
	if (runtime_root(root, sizeof(root), err, sizeof(err)) < 0) {
		msg_warn("%s", err);
		return EXIT_LAUNCHER;
	}
	printf("%-20s %-8s %-9s %-8s %-14s %-8s %s\n", "NAME", "PID", "STATE", "UP(s)", "VMM",
	       "MEM(MiB)", "CPUS");
	runtime_each_vm(print_vm, NULL);
	return 0;
}

/* The ports the VM's guest listens on that its host's 127.0.0.1 forwards:
 * one per line, as the supervisor last wrote them. */
static int cmd_port(int argc, char **argv)
{
	static const char port_usage[] = "usage: wisp port NAME\n";
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(port_usage, stdout);
		return 0;
	}
	if (argc != 2 || !vm_name_valid(argv[1])) {
		fprintf(stderr, "wisp: port needs the name of a VM\n%s", port_usage);
		return EXIT_LAUNCHER;
	}
	char dir[PATH_MAX], path[PATH_MAX + 16], err[300];
	if (runtime_vm_dir(argv[1], dir, sizeof(dir), err, sizeof(err)) < 0) {
		msg_warn("%s", err);
		return EXIT_LAUNCHER;
	}
	if (!runtime_alive(dir)) {
		msg_warn("no running VM named %s", argv[1]);
		return EXIT_LAUNCHER;
	}
	snprintf(path, sizeof(path), "%s/" FWD_STATE_FILE, dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0
				       : (msg_warn("%s: %s", path, strerror(errno)), EXIT_LAUNCHER);
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			break;
	close(fd);
	return n < 0 ? EXIT_LAUNCHER : 0;
}

/* A closed stdin, stdout or stderr would be taken by the next fd wisp
 * opens (its signalfd, say) and read or written as the user's: /dev/null
 * holds the place instead. */
static void hold_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int null = open("/dev/null", O_RDWR);
		if (null >= 0 && null != fd) {
			dup2(null, fd);
			close(null);
		}
	}
}

int main(int argc, char **argv)
{
	hold_std_fds();
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = { { "run", cmd_run },   { "start", cmd_start }, { "exec", cmd_exec },
		     { "stop", cmd_stop }, { "ps", cmd_ps },       { "image", cmd_image },
		     { "port", cmd_port } };
	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_LAUNCHER;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, stdout);
		return 0;
	}
	fprintf(stderr, "wisp: unknown command '%s'\n%s", argv[1], usage);
	return EXIT_LAUNCHER;
}
