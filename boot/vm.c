/* One VM's life on the host (vm.h). */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/unix_sock.h"
#include "../common/wire.h"
#include "child.h"
#include "msg.h"
#include "net_stack.h"
#include "root_stage.h"
#include "virtiofsd.h"
#include "volumes.h"

/* wisp-vsockd saw QEMU hang up: how long QEMU gets to be gone as well. */
#define BACKEND_GONE_WAIT_MS 2000
/* How long a helper gets to end on SIGTERM before SIGKILL. */
#define HELPER_STOP_MS 1000

/* --- console and VMM stderr --- */

static void on_console_line(void *ctx, char *line)
{
	struct vm *vm = ctx;
	int status;
	const char *why;
	switch (console_classify(line, vm->c->nonce, &status, &why)) {
	case CONSOLE_MARKER:
		vm->out->marker_status = status;
		return; /* the marker is wisp's, not the user's */
	case CONSOLE_PANIC:
		if (!vm->out->panic[0])
			snprintf(vm->out->panic, sizeof(vm->out->panic), "%s", why);
		break;
	case CONSOLE_TEXT:
		break;
	}
	if (vm->c->echo_console)
		vm_log_line(&vm->log, line);
}

static void on_vmm_error_line(void *ctx, char *line)
{
	struct vm *vm = ctx;
	if (!vm->out->vmm_error[0] && *line)
		snprintf(vm->out->vmm_error, sizeof(vm->out->vmm_error), "%s", line);
	if (vm->c->echo_console)
		vm_log_line(&vm->log, line);
}

static void on_helper_line(void *ctx, char *line)
{
	struct vm *vm = ctx;
	vm_log_line(&vm->log, line);
}

/* Reads what w has into lines; at the end, the rest and the fd go. */
static void read_lines(struct vm *vm, struct watch *w, struct line_splitter *s,
		       void (*fn)(void *, char *))
{
	char buf[4096];
	ssize_t n = read(w->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		lines_end(s, fn, vm);
		loop_close(vm->loop, w);
		return;
	}
	lines_feed(s, buf, (size_t)n, fn, vm);
}

static void on_console(struct watch *w, uint32_t events)
{
	(void)events;
	struct vm *vm = container_of(w, struct vm, con);
	read_lines(vm, w, &vm->con_lines, on_console_line);
}

static void on_vmm_stderr(struct watch *w, uint32_t events)
{
	(void)events;
	struct vm *vm = container_of(w, struct vm, err);
	read_lines(vm, w, &vm->err_lines, on_vmm_error_line);
}

static void on_helper_stderr(struct watch *w, uint32_t events)
{
	(void)events;
	struct vm *vm = container_of(w, struct vm, helper_err);
	read_lines(vm, w, &vm->helper_lines, on_helper_line);
}

/* With a log, the helpers' stderr is a pipe read into it, so that what
 * they say counts against the log's bound; -1 where they keep wisp's. */
static int helper_stderr(struct vm *vm)
{
	int p[2];
	if (!vm->c->log)
		return -1;
	if (vm->helper_err.fd < 0) {
		if (pipe2(p, O_CLOEXEC) < 0) {
			msg_warn("pipe: %s", strerror(errno));
			return -1;
		}
		if (loop_add(vm->loop, &vm->helper_err, p[0], EPOLLIN, on_helper_stderr) < 0) {
			close(p[0]), close(p[1]);
			return -1;
		}
		vm->helper_err_w = p[1];
	}
	return vm->helper_err_w;
}

/* --- the ready notice --- */

static void notice_log(void *ctx, const char *line, uint32_t len)
{
	(void)ctx;
	dprintf(msg_fd(), "%.*s\n", (int)len, line);
}

static void read_notice(struct watch *w, uint32_t events)
{
	(void)events;
	struct vm *vm = container_of(w, struct vm, ready_conn);
	ssize_t n = read(w->fd, vm->notice + vm->notice_len, sizeof(vm->notice) - vm->notice_len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0)
		vm->notice_len += (size_t)n;
	struct notice nt;
	enum notice_state st = notice_parse(vm->notice, vm->notice_len, n <= 0, &nt, notice_log,
					    NULL);
	if (st == NOTICE_MORE)
		return;
	int conn = loop_del(vm->loop, w);
	if (st == NOTICE_BAD) {
		/* Not a notice this guest could have sent: do not trust it. */
		msg_warn("the guest's ready notice is malformed");
		nt = (struct notice){ .status = wire_exit_status(WIRE_SETUP, 0) };
	} else if (nt.hello && nt.version != WIRE_VERSION) {
		/* A guest of another protocol: its requests would not be ours. */
		msg_warn("the guest speaks protocol %u; this wisp speaks %d", nt.version,
			 WIRE_VERSION);
		nt = (struct notice){ .status = wire_exit_status(WIRE_SETUP, 0) };
	}
	if (!nt.hello)
		close_fd(&conn);
	if (nt.trace)
		trace_set_guest(vm->trace, nt.trace, nt.trace_len);
	vm->trace->ready = clock_us() - vm->t0;
	vm->out->ready = 1;
	if (vm->net.ns.pid > 0 && !vm->net.up) {
		/* --net user: the command waits for the way out (net_up()). */
		vm->held_notice = nt;
		vm->held_conn = conn;
		vm->holding = 1;
		return;
	}
	vm->ev->ready(vm, conn, &nt);
}

/* slirp4netns is up, or failed: the notice held for it goes on, or the VM
 * ends. */
static void net_up(struct net_stack *n, const char *why)
{
	struct vm *vm = container_of(n, struct vm, net);
	if (why) {
		outcome_lost(vm->out, why);
		if (vm->holding)
			close_fd(&vm->held_conn);
		vm->holding = 0;
		vm_kill(vm);
		return;
	}
	if (vm->holding) {
		vm->holding = 0;
		vm->ev->ready(vm, vm->held_conn, &vm->held_notice);
	}
}

static void on_ready_listen(struct watch *w, uint32_t events)
{
	(void)events;
	struct vm *vm = container_of(w, struct vm, ready_listen);
	int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (vm->announced) {
		close(fd); /* one notice per boot */
		return;
	}
	vm->announced = 1;
	if (loop_add(vm->loop, &vm->ready_conn, fd, EPOLLIN, read_notice) < 0) {
		msg_warn("epoll: %s", strerror(errno));
		close(fd);
	}
}

/* Whether dir holds path or is it. */
static int path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return !strncmp(path, dir, n) &&
	       (path[n] == '/' || path[n] == '\0' || (n == 1 && dir[0] == '/'));
}

/* --vsock PATH: guest connections to host port P reach PATH_P, so only the
 * user may be able to put anything there: its directory must be writable
 * by no one else, and not be one the guest can write through a volume. */
static int check_vsock_dir(const struct run_opts *o)
{
	char dir[PATH_MAX], real[PATH_MAX], shared[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", o->vsock);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir] = '\0'; /* "/x" keeps "/" */
	struct stat st;
	if (!realpath(dir, real) || stat(real, &st) < 0) {
		msg_warn("--vsock %s: %s", o->vsock, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != 0) ||
	    (st.st_mode & 022)) {
		msg_warn(
			"--vsock %s: %s is writable by others; want a directory only you can write",
			o->vsock, real);
		return -1;
	}
	for (size_t i = 0; i < o->nvolumes; i++) {
		if (realpath(o->volumes[i].host, shared) && path_within(real, shared)) {
			msg_warn("--vsock %s: inside the volume %s, where the guest can write",
				 o->vsock, o->volumes[i].host);
			return -1;
		}
	}
	return 0;
}

/* The VM's private runtime directory, and its log there. */
static int claim_dir(struct vm *vm)
{
	char err[300];
	vm->lock_fd = runtime_claim(vm->c->name, vm->dir, sizeof(vm->dir), err, sizeof(err));
	if (vm->lock_fd < 0) {
		vm->dir[0] = '\0';
		msg_warn("%s", err);
		return -1;
	}
	if (vm->c->log && vm_log_open(&vm->log, vm->dir) < 0)
		return -1;
	return 0;
}

/* The empty directory on which the VMM's own mount namespace stages a
 * shared root (root_stage.h); by its real path, as mountinfo names it. */
static int make_stage_dir(struct vm *vm)
{
	char path[RUNTIME_PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/" ROOT_STAGE_DIR, vm->dir);
	if (mkdir(path, 0700) < 0 || !realpath(path, vm->stage)) {
		msg_warn("staging directory %s: %s", path, strerror(errno));
		return -1;
	}
	snprintf(vm->root_export, sizeof(vm->root_export), "%s" ROOT_STAGE_TREE, vm->stage);
	return 0;
}

/* Where the VM's sockets go: its private directory, or the user's --vsock
 * path with its ready socket beside it. */
static int listen_ready(struct vm *vm)
{
	const struct run_opts *o = vm->c->o;
	if (o->vsock && check_vsock_dir(o) < 0)
		return -1;
	if (o->vsock)
		snprintf(vm->vsock_path, sizeof(vm->vsock_path), "%s", o->vsock);
	else
		snprintf(vm->vsock_path, sizeof(vm->vsock_path), "%s/vsock", vm->dir);
	snprintf(vm->ready_path, sizeof(vm->ready_path), "%s_%d", vm->vsock_path, WIRE_READY_PORT);
	unlink(vm->ready_path); /* a leftover of a VM that ran with the same --vsock */
	int fd = unix_listen(vm->ready_path, 16, 1);
	if (fd < 0) {
		msg_warn("listen on %s: %s", vm->ready_path, strerror(errno));
		vm->ready_path[0] = '\0';
		return -1;
	}
	if (loop_add(vm->loop, &vm->ready_listen, fd, EPOLLIN, on_ready_listen) < 0) {
		close(fd);
		msg_warn("epoll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* --- helpers --- */

/* stop_sig: how teardown asks it to end. SIGTERM lets a helper remove its
 * files; SIGKILL is for one with nothing to clean that would take its time
 * over SIGTERM (slirp4netns: 23 ms). */
static void add_helper(struct vm *vm, pid_t pid, int stop_sig)
{
	if (vm->nhelpers == VM_MAX_HELPERS) {
		/* VM_MAX_HELPERS counts every kind: this is a bug, never a
		 * write past the table. */
		msg_warn("internal: more than %d helpers", VM_MAX_HELPERS);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return;
	}
	vm->helper_stop_sig[vm->nhelpers] = stop_sig;
	vm->helpers[vm->nhelpers++] = pid;
}

static int start_shares(struct vm *vm)
{
	const struct run_opts *o = vm->c->o;
	if (strcmp(o->fs, "virtiofs"))
		return 0;
	for (size_t i = 0; i < o->nvolumes; i++) {
		pid_t pid;
		vm->share_fds[i] = virtiofsd_start(&o->volumes[i], o->verbose, helper_stderr(vm),
						   &pid);
		if (vm->share_fds[i] < 0)
			return -1;
		add_helper(vm, pid, SIGTERM);
	}
	return 0;
}

/* wisp-vsockd for this VM: one end of a socket pair for it, one for the VMM. */
static int start_vsockd(struct vm *vm)
{
	char bin[4200];
	const char *env = getenv("WISP_VSOCKD");
	if (env && *env)
		snprintf(bin, sizeof(bin), "%s", env);
	else
		snprintf(bin, sizeof(bin), "%s/wisp-vsockd", vm->c->self_dir);
	int sv[2];
	if (access(bin, X_OK) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		msg_warn("wisp-vsockd %s: %s", bin, strerror(errno));
		return -1;
	}
	char cid[16];
	snprintf(cid, sizeof(cid), "%u", vm->c->o->cid);
	int err_w = helper_stderr(vm);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		msg_warn("fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		/* SIGTERM, not SIGKILL: it removes its socket file on the way out. */
		child_prepare(parent, SIGTERM);
		if (dup2(sv[0], 3) < 0 || (err_w >= 0 && dup2(err_w, STDERR_FILENO) < 0))
			_exit(127);
		execl(bin, bin, "--vhost-fd", "3", "--uds", vm->vsock_path, "--cid", cid,
		      (char *)NULL);
		_exit(127);
	}
	close(sv[0]);
	vm->vsock_fd = sv[1];
	vm->vsockd = pid;
	add_helper(vm, pid, SIGTERM);
	return 0;
}

/* --net user's namespace, slirp4netns and relays. */
static int start_net(struct vm *vm)
{
	const struct vm_config *c = vm->c;
	int err_fd = c->log ? helper_stderr(vm) : c->o->verbose ? STDERR_FILENO : -1;
	vm->net.on_up = net_up;
	int r = net_stack_start(&vm->net, vm->loop, c->o, err_fd);
	/* PID 1 runs the command itself, from its first moment: the way out
	 * must be there before the VM starts. */
	if (r == 0 && !c->agent)
		r = net_stack_wait_up(&vm->net);
	if (vm->net.ns.pid > 0)
		add_helper(vm, vm->net.ns.pid, SIGKILL);
	if (vm->net.slirp > 0)
		add_helper(vm, vm->net.slirp, SIGKILL);
	return r;
}

/* --- the VMM --- */

static _Noreturn void exec_vmm(const struct vm *vm, const struct vmm_launch *a, int err_w,
			       pid_t parent)
{
	/* The VMM dies with the launcher, however the launcher dies. */
	child_prepare(parent, SIGKILL);
	if (dup2(err_w, STDERR_FILENO) < 0)
		_exit(127);
	/* --net user: the namespaces first, so that QEMU and the staging
	 * both live in them. */
	if (vm->net.ns.pid > 0)
		net_stack_join(&vm->net);
	/* Staging allocates and formats after fork: safe only because wisp
	 * has no threads (keep it so, or move this before the fork). */
	const struct rootfs *r = &vm->c->o->root;
	char err[ROOTFS_PATH_MAX + 200];
	if (rootfs_is_tree(r) && root_stage_build(r->path, vm->stage, err, sizeof(err)) < 0) {
		dprintf(STDERR_FILENO, "--rootfs %s: %s\n", r->source, err);
		_exit(EXIT_LAUNCHER);
	}
	/* Two rounds: a target number may be another fd's source. */
	int moved[VMM_MAX_FDS];
	for (size_t i = 0; i < a->nfds; i++)
		if ((moved[i] = fcntl(a->fds[i].from, F_DUPFD_CLOEXEC, 100)) < 0)
			_exit(127);
	for (size_t i = 0; i < a->nfds; i++)
		if (dup2(moved[i], a->fds[i].to) < 0)
			_exit(127);
	execvp(a->argv[0], a->argv);
	dprintf(STDERR_FILENO, "cannot run %s: %s\n", a->argv[0], strerror(errno));
	_exit(127);
}

/* --qmp PATH: wisp makes the socket (0600 from the start, whatever the
 * umask) and QEMU gets it by fd. A socket left there is replaced, as QEMU
 * would; anything else is refused. */
static int open_qmp(struct vm *vm)
{
	const char *path = vm->c->o->qmp;
	struct stat st;
	if (!path)
		return 0;
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		msg_warn("--qmp %s: exists and is not a socket", path);
		return -1;
	}
	unlink(path);
	vm->qmp_fd = unix_listen(path, 1, 0);
	if (vm->qmp_fd < 0) {
		msg_warn("--qmp %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int start_vmm(struct vm *vm)
{
	const struct vm_config *c = vm->c;
	int con[2], io[2] = { -1, -1 }, err[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, con) < 0) {
		msg_warn("socketpair: %s", strerror(errno));
		return -1;
	}
	if ((c->channel && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, io) < 0) ||
	    pipe2(err, O_CLOEXEC) < 0) {
		msg_warn("socketpair: %s", strerror(errno));
		close(con[0]), close(con[1]);
		close_fd(&io[0]), close_fd(&io[1]);
		return -1;
	}
	struct vm_spec spec = { .o = c->o,
				.kernel = c->kernel,
				.initrd = c->initrd,
				.cmdline = c->cmdline,
				.channel = c->channel,
				.vsock = c->agent };
	if (rootfs_is_tree(&c->o->root))
		spec.root = vm->root_export;
	else if (c->o->root.kind == ROOTFS_IMAGE)
		spec.root = c->o->root.path;
	struct vm_fds fds = {
		.console = con[1], .channel = io[1], .vsock = vm->vsock_fd, .qmp = vm->qmp_fd
	};
	for (size_t i = 0; i < OPTIONS_MAX_VOLUMES; i++)
		fds.shares[i] = vm->share_fds[i];
	struct vmm_launch a;
	int ok = c->vmm->launch(c->vmm, &spec, &fds, &a) == 0;
	pid_t parent = getpid();
	pid_t pid = ok ? fork() : -1;
	if (pid == 0)
		exec_vmm(vm, &a, err[1], parent);
	vmm_launch_free(&a);
	/* Only the VMM may hold these: a helper sees it go when it does. */
	close(con[1]);
	close_fd(&io[1]);
	close(err[1]);
	close_fd(&vm->vsock_fd);
	close_fd(&vm->qmp_fd);
	for (size_t i = 0; i < OPTIONS_MAX_VOLUMES; i++)
		close_fd(&vm->share_fds[i]);
	if (pid < 0) {
		msg_warn(ok ? "fork: %s" : "%s: too many arguments",
			 ok ? strerror(errno) : c->vmm->name);
		close(con[0]);
		close_fd(&io[0]);
		close(err[0]);
		return -1;
	}
	vm->vmm_pid = pid;
	vm->channel_fd = io[0];
	if (loop_add(vm->loop, &vm->con, con[0], EPOLLIN, on_console) < 0 ||
	    loop_add(vm->loop, &vm->err, err[0], EPOLLIN, on_vmm_stderr) < 0) {
		msg_warn("epoll: %s", strerror(errno));
		if (vm->con.fd < 0)
			close(con[0]);
		if (vm->err.fd < 0)
			close(err[0]);
		return -1;
	}
	return 0;
}

/* --- the end --- */

static void on_deadline(struct timer *t)
{
	struct vm *vm = container_of(t, struct vm, deadline);
	if (vm->vmm_pid <= 0)
		return;
	if (vm->deadline_why[0]) {
		if (!vm->answered)
			outcome_lost(vm->out, vm->deadline_why);
	} else {
		/* Its shares may not be synced: say so. */
		msg_warn("the guest did not power off in time: VM killed");
	}
	vm_kill(vm);
}

void vm_expect_end(struct vm *vm, long long ms, const char *why)
{
	snprintf(vm->deadline_why, sizeof(vm->deadline_why), "%s", why ? why : "");
	timer_arm_ms(&vm->deadline, ms);
}

void vm_kill(struct vm *vm)
{
	if (vm->vmm_pid > 0)
		kill(vm->vmm_pid, SIGKILL);
}

int vm_ended(const struct vm *vm)
{
	return vm->vmm_pid < 0;
}

/* wisp-vsockd ended: without it the VM can neither answer nor be stopped
 * in order. Status 0 says QEMU hung up on it, so QEMU should be ending
 * too; if it is not gone soon, it has lost its vsock all the same. */
static void vsockd_ended(struct vm *vm, int status)
{
	char why[128];
	if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "wisp-vsockd was killed by signal %d", WTERMSIG(status));
	else
		snprintf(why, sizeof(why), "wisp-vsockd exited with status %d",
			 WEXITSTATUS(status));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if (vm->vmm_pid > 0)
			vm_expect_end(vm, BACKEND_GONE_WAIT_MS, why);
	} else if (!vm->answered) {
		outcome_lost(vm->out, why);
		vm_kill(vm);
	}
}

void vm_reap(struct vm *vm)
{
	int status;
	if (vm->vmm_pid > 0 && waitpid(vm->vmm_pid, &status, WNOHANG) == vm->vmm_pid) {
		vm->out->vmm_reaped = 1;
		vm->out->vmm_status = status;
		vm->vmm_pid = -1;
		vm->trace->gone = clock_us() - vm->t0;
		timer_stop(&vm->deadline);
	}
	for (size_t i = 0; i < vm->nhelpers; i++) {
		pid_t pid = vm->helpers[i];
		if (pid <= 0 || waitpid(pid, &status, WNOHANG) != pid)
			continue;
		/* Reaped: its pid may be anyone's now, never signal it. */
		vm->helpers[i] = -1;
		if (pid == vm->net.slirp) {
			vm->net.slirp = -1;
			if (!vm->net.released && vm->net.up)
				msg_warn("--net user: slirp4netns ended: the guest has no way out "
					 "any more");
		}
		if (pid == vm->vsockd) {
			vm->vsockd = -1;
			vsockd_ended(vm, status);
		}
	}
}

static void on_shutdown_answer(struct watch *w, uint32_t events)
{
	(void)events;
	struct vm *vm = container_of(w, struct vm, shutdown_conn);
	char buf[4096];
	ssize_t n = read(w->fd, buf, sizeof(buf));
	/* Until the agent hangs up: closing first could reset the stream
	 * before the request is read. What it says is of no interest, and
	 * the deadline bounds how long it may talk. */
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		loop_close(vm->loop, w);
}

static void shutdown_dialled(struct dial *d, int fd, const char *err)
{
	struct vm *vm = container_of(d, struct vm, dial);
	uint8_t hdr[WIRE_HDR_SIZE];
	wire_put_header(hdr, WIRE_SHUTDOWN, 0);
	/* A fresh connection's buffer takes 8 bytes whole. */
	if (fd >= 0 && write(fd, hdr, sizeof(hdr)) == (ssize_t)sizeof(hdr) &&
	    loop_add(vm->loop, &vm->shutdown_conn, fd, EPOLLIN, on_shutdown_answer) == 0)
		return;
	if (fd >= 0)
		err = strerror(errno);
	close_fd(&fd);
	/* No agent: the guest may be shutting down on its own (a command
	 * signalled PID 1); the deadline ends it if it is not. */
	if (vm->c->name)
		msg_warn("cannot ask the guest to shut down: %s", err);
}

void vm_release_net(struct vm *vm)
{
	vm->net.released = 1;
	/* Still among the helpers: reaped by vm_reap() or the teardown. */
	for (size_t i = 0; i < vm->nhelpers; i++)
		if (vm->helpers[i] > 0 && vm->helpers[i] == vm->net.slirp)
			kill(vm->helpers[i], SIGKILL);
}

void vm_request_shutdown(struct vm *vm, long long ms)
{
	if (vm->shutdown_sent || vm->vmm_pid <= 0)
		return;
	vm->shutdown_sent = 1;
	vm_expect_end(vm, ms, NULL);
	if (dial_start(&vm->dial, vm->loop, vm->vsock_path, WIRE_AGENT_PORT, DIAL_AGENT_MS,
		       shutdown_dialled) < 0 &&
	    vm->c->name)
		msg_warn("cannot ask the guest to shut down: %s", strerror(errno));
}

int vm_start(struct vm *vm, struct loop *l, const struct vm_config *c, const struct vm_events *ev,
	     struct outcome *out, struct trace *t, long long t0)
{
	memset(vm, 0, sizeof(*vm));
	vm->loop = l;
	vm->c = c;
	vm->ev = ev;
	vm->out = out;
	vm->trace = t;
	vm->t0 = t0;
	vm->lock_fd = vm->vsock_fd = vm->channel_fd = vm->qmp_fd = vm->held_conn = -1;
	net_stack_init(&vm->net);
	vm->vmm_pid = vm->vsockd = 0;
	vm->ready_listen.fd = vm->ready_conn.fd = vm->con.fd = vm->err.fd = -1;
	vm->shutdown_conn.fd = vm->deadline.w.fd = vm->helper_err.fd = vm->helper_err_w = -1;
	for (size_t i = 0; i < OPTIONS_MAX_VOLUMES; i++)
		vm->share_fds[i] = -1;
	t->has_vm = 1;
	if (volumes_check(c->o) < 0)
		return -1;
	if (timer_init(l, &vm->deadline, on_deadline) < 0) {
		msg_warn("timerfd: %s", strerror(errno));
		return -1;
	}
	int tree = rootfs_is_tree(&c->o->root);
	if ((c->agent || tree) && claim_dir(vm) < 0)
		return -1;
	if (tree && make_stage_dir(vm) < 0)
		return -1;
	if (c->agent && listen_ready(vm) < 0)
		return -1;
	if (start_shares(vm) < 0)
		return -1;
	if (c->agent && c->vmm->needs_vsockd && start_vsockd(vm) < 0)
		return -1;
	if (open_qmp(vm) < 0)
		return -1;
	if (!strcmp(c->o->net, "user") && start_net(vm) < 0)
		return -1;
	return start_vmm(vm);
}

/* SIGTERM, a while to end, then SIGKILL: every helper is reaped. */
static void stop_helpers(struct vm *vm)
{
	for (size_t i = 0; i < vm->nhelpers; i++)
		if (vm->helpers[i] > 0)
			kill(vm->helpers[i], vm->helper_stop_sig[i]);
	for (int waited = 0;; waited++) {
		int left = 0;
		for (size_t i = 0; i < vm->nhelpers; i++) {
			if (vm->helpers[i] <= 0)
				continue;
			if (waitpid(vm->helpers[i], NULL, WNOHANG) == vm->helpers[i])
				vm->helpers[i] = -1;
			else if (waited >= HELPER_STOP_MS)
				kill(vm->helpers[i], SIGKILL), waitpid(vm->helpers[i], NULL, 0),
					vm->helpers[i] = -1;
			else
				left = 1;
		}
		if (!left)
			break;
		usleep(1000); /* helpers end within a few ms: a coarse step would cost each run */
	}
	vm->nhelpers = 0;
}

static void remove_socket(const char *path)
{
	struct stat st;
	if (path && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
}

void vm_teardown(struct vm *vm)
{
	if (!vm->loop)
		return;
	dial_cancel(&vm->dial);
	if (vm->holding)
		close_fd(&vm->held_conn);
	vm->holding = 0;
	loop_close(vm->loop, &vm->shutdown_conn);
	loop_close(vm->loop, &vm->ready_conn);
	loop_close(vm->loop, &vm->ready_listen);
	if (vm->vmm_pid > 0) {
		int status;
		kill(vm->vmm_pid, SIGKILL);
		if (waitpid(vm->vmm_pid, &status, 0) == vm->vmm_pid && !vm->out->vmm_reaped) {
			vm->out->vmm_reaped = 1;
			vm->out->vmm_status = status;
		}
		vm->vmm_pid = -1;
	}
	stop_helpers(vm);
	loop_close(vm->loop, &vm->con);
	loop_close(vm->loop, &vm->err);
	close_fd(&vm->helper_err_w);
	/* What the helpers said on their way out: every writer is gone, so
	 * the pipe ends; at most 64 KiB of it. */
	for (int i = 0; i < 16 && vm->helper_err.fd >= 0; i++)
		read_lines(vm, &vm->helper_err, &vm->helper_lines, on_helper_line);
	loop_close(vm->loop, &vm->helper_err);
	close_fd(&vm->channel_fd);
	close_fd(&vm->vsock_fd);
	close_fd(&vm->qmp_fd);
	for (size_t i = 0; i < OPTIONS_MAX_VOLUMES; i++)
		close_fd(&vm->share_fds[i]);
	/* The --qmp socket is wisp's to remove; wisp-vsockd leaves its
	 * --vsock socket behind when it is killed. */
	remove_socket(vm->c->o->qmp);
	remove_socket(vm->c->o->vsock);
	net_stack_free(&vm->net);
	if (vm->ready_path[0])
		unlink(vm->ready_path);
	if (vm->dir[0])
		runtime_remove(vm->dir);
	close_fd(&vm->lock_fd);
	timer_free(vm->loop, &vm->deadline);
	vm->loop = NULL;
}
