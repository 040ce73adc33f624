#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/queue.h"
#include "../common/wire.h"
#include "child.h"
#include "hybrid.h"
#include "kcmdline.h"
#include "msg.h"
#include "runtime.h"
#include "term.h"
#include "virtiofsd.h"
#include "vmm.h"

extern char **environ;

#define TO_GUEST_CAP (256 * 1024)
#define FROM_GUEST_CAP (2 * (WIRE_HDR_SIZE + WIRE_MAX_PAYLOAD))
#define STDIN_CHUNK 32768
/* Stdin never takes the last of the queue: SIGNAL, WINSIZE and BYE fit. */
#define CONTROL_RESERVE 4096
#define LINE_MAX_LEN 1024
/* After the exit status arrived, how long the VM gets to power off. */
#define POWEROFF_WAIT_MS 5000
/* How long the agent gets to answer a connection. */
#define AGENT_CONNECT_MS 10000
/* A `wisp stop` gives the guest this long to end in order. */
#define STOP_WAIT_MS 15000
/* wisp-vsockd saw QEMU hang up: how long QEMU gets to be gone as well. */
#define BACKEND_GONE_WAIT_MS 2000

enum { TAG_SIGNAL = 1, TAG_CON, TAG_IO, TAG_VMM_ERR, TAG_STDIN, TAG_TIMER, TAG_READY,
       TAG_READY_CONN };

struct line {
	char buf[LINE_MAX_LEN];
	size_t len;
};

/* The guest's ready notice as it arrives, and the HELLO that ends it. */
struct notice {
	uint8_t buf[WIRE_NOTICE_MAX + WIRE_HDR_SIZE + 4];
	size_t len;
};

struct run {
	const struct run_opts *o;
	const struct launch *l;
	char vm_dir[RUNTIME_PATH_MAX];
	char vsock_path[RUNTIME_PATH_MAX + 16]; /* the hybrid socket of wisp-vsockd */
	int lock_fd;       /* holds the VM directory while the VM lives */
	int ready_fd;      /* listens for the guest's ready notice */
	int ready_conn;    /* the notice being read */
	struct notice notice;
	int ready;
	int exec_pending;  /* the agent connection waits for EXEC */
	char *exec_keys;   /* its payload */
	uint32_t exec_len;
	int shutdown_sent;
	pid_t vsockd_pid;
	char lost[512];    /* why the guest's answer can no longer come */
	char backend_gone[128]; /* wisp-vsockd ended as if QEMU had: QEMU should follow */
	char nonce[17];
	pid_t vmm_pid;
	int vmm_status;   /* wait status, valid once vmm_pid == -1 */
	int epfd, sigfd, timerfd;
	int con_fd, io_fd, err_fd, stdin_fd;
	int stdin_polled; /* stdin is in epoll (a regular file cannot be) */
	int stdout_gone;
	struct queue to_guest, from_guest;
	struct line con_line, err_line;
	int hello;        /* the guest started the command */
	int exit_status;  /* from the EXIT frame, or -1 */
	int marker_status;/* from the console marker, or -1 */
	int signals_sent;
	char panic[256], vmm_error[256];
	/* Helper processes: one virtiofsd per virtiofs volume (in volume order,
	 * with the VMM's end of its socket), then wisp-vsockd (fd -1 here). */
	int share_fds[OPTIONS_MAX_VOLUMES + 1];
	int vsock_fd;                        /* the VMM's end of wisp-vsockd's socket */
	pid_t helpers[OPTIONS_MAX_VOLUMES + 1];
	size_t nshares;
	/* Host-side trace, microseconds of CLOCK_MONOTONIC since launch. */
	long long t0, t_ready, t_hello, t_exit, t_gone;
	char guest_trace[1024];
};

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* What the timeout handler must kill; it acts from a signal. */
static volatile pid_t timeout_victim = -1;
static volatile pid_t timeout_helpers[OPTIONS_MAX_VOLUMES + 1];
static volatile size_t timeout_nhelpers;
static double timeout_seconds;
/* Sockets whose owners (QEMU, wisp-vsockd) a SIGKILL stops from removing. */
static const char *timeout_qmp, *timeout_vsock;
/* The VM's runtime directory and its ready socket, removed on a timeout. */
static const char *timeout_dir, *timeout_ready;

static void stop_timeout(void)
{
	struct itimerval off = { 0 };
	setitimer(ITIMER_REAL, &off, NULL);
}

/* Only async-signal-safe calls: end the VM, restore the terminal, exit 124. */
static void on_timeout(int sig)
{
	(void)sig;
	static const char msg[] = "wisp: timed out; the VM was killed\n";
	pid_t pid = timeout_victim;
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	for (size_t i = 0; i < timeout_nhelpers; i++) {
		pid_t helper = timeout_helpers[i];
		if (helper <= 0) /* reaped already: kill(-1) would be everyone */
			continue;
		kill(helper, SIGKILL);
		waitpid(helper, NULL, 0);
	}
	if (timeout_qmp)
		unlink(timeout_qmp);
	if (timeout_vsock)
		unlink(timeout_vsock);
	if (timeout_ready)
		unlink(timeout_ready);
	if (timeout_dir) {
		static const char *const files[] = { "vsock", "vsock_5253", "lock", "state", "log" };
		char path[RUNTIME_PATH_MAX + 16];
		size_t n = strlen(timeout_dir);
		if (n < RUNTIME_PATH_MAX) {
			for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
				memcpy(path, timeout_dir, n);
				path[n] = '/';
				memcpy(path + n + 1, files[i], strlen(files[i]) + 1);
				unlink(path);
			}
			rmdir(timeout_dir);
		}
	}
	term_restore();
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	_exit(EXIT_TIMEOUT);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void make_nonce(char out[17])
{
	unsigned char b[8];
	if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		memcpy(b, &ts.tv_nsec, sizeof(b) < sizeof(ts.tv_nsec) ? sizeof(b) : sizeof(ts.tv_nsec));
	}
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* The host TSC frequency in kHz, which TCG guests see as theirs; with it
 * the guest skips a calibration against the PIT that can hang under TCG. */
static unsigned long host_tsc_khz(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return 0;
	char line[256];
	double mhz = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "cpu MHz : %lf", &mhz) == 1)
			break;
	fclose(f);
	return (unsigned long)(mhz * 1000);
}

static int readable(const char *what, const char *path)
{
	if (access(path, R_OK) == 0)
		return 1;
	warnx("%s %s: %s", what, path, strerror(errno));
	return 0;
}

static _Noreturn void exec_vmm(const struct vmm_launch *a, int err_w, pid_t parent)
{
	/* The VMM dies with the launcher, however the launcher dies. */
	child_prepare(parent, SIGKILL);
	if (dup2(err_w, STDERR_FILENO) < 0)
		_exit(127);
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

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int start_vmm(struct run *r, const struct vmm *vmm, const struct vm_spec *spec)
{
	int con[2], io[2], err[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, con) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, io) < 0 ||
	    pipe2(err, O_CLOEXEC) < 0) {
		warnx("socketpair: %s", strerror(errno));
		return -1;
	}
	struct vm_fds fds = { .console = con[1], .channel = io[1], .vsock = r->vsock_fd };
	for (size_t i = 0; i < r->nshares && i < OPTIONS_MAX_VOLUMES; i++)
		fds.shares[i] = r->share_fds[i];
	struct vmm_launch a;
	if (vmm->launch(vmm, spec, &fds, &a) < 0) {
		warnx("%s: too many arguments", vmm->name);
		return -1;
	}
	pid_t parent = getpid();
	r->vmm_pid = fork();
	if (r->vmm_pid < 0) {
		warnx("fork: %s", strerror(errno));
		return -1;
	}
	if (r->vmm_pid == 0)
		exec_vmm(&a, err[1], parent);
	vmm_launch_free(&a);
	timeout_victim = r->vmm_pid;
	/* Only QEMU may hold its end: wisp-vsockd sees it go when QEMU does,
	 * and ends beside it instead of after it. */
	close_fd(&r->vsock_fd);
	close(con[1]);
	close(io[1]);
	close(err[1]);
	r->con_fd = con[0];
	r->err_fd = err[0];
	/* Over vsock the stream will be the agent's connection. */
	if (r->l->mode == MODE_CHANNEL) {
		r->io_fd = io[0];
		fcntl(r->io_fd, F_SETFL, O_NONBLOCK);
	} else {
		close(io[0]);
	}
	return 0;
}

static void send_frame(struct run *r, uint8_t type, const void *payload, uint32_t len)
{
	uint8_t hdr[WIRE_HDR_SIZE];
	/* A header without its payload would break the stream: both or none. */
	if (r->io_fd < 0 || queue_room(&r->to_guest) < WIRE_HDR_SIZE + len)
		return;
	wire_put_header(hdr, type, len);
	queue_put(&r->to_guest, hdr, sizeof(hdr));
	if (len)
		queue_put(&r->to_guest, payload, len);
}

static int stdin_room(struct run *r)
{
	/* Nothing for the command before the agent has its EXEC. */
	return !r->exec_pending &&
	       queue_room(&r->to_guest) >= WIRE_HDR_SIZE + STDIN_CHUNK + CONTROL_RESERVE;
}

static void send_u32(struct run *r, uint8_t type, uint32_t v)
{
	uint8_t p[4];
	wire_put_u32(p, v);
	send_frame(r, type, p, 4);
}

static void send_winsize(struct run *r)
{
	unsigned short rows, cols;
	if (term_size(STDIN_FILENO, &rows, &cols) < 0)
		return;
	uint8_t p[4];
	wire_put_u16(p, rows);
	wire_put_u16(p + 2, cols);
	send_frame(r, WIRE_WINSIZE, p, 4);
}

static void arm_timer_ms(struct run *r, int ms)
{
	struct itimerspec its = { .it_value = { ms / 1000, (long)(ms % 1000) * 1000000L } };
	timerfd_settime(r->timerfd, 0, &its, NULL);
}

static void request_shutdown(struct run *r);

static void on_frame(struct run *r, const struct wire_frame *f)
{
	switch (f->type) {
	case WIRE_HELLO:
		r->hello = 1;
		r->t_hello = now_us() - r->t0;
		break;
	case WIRE_TRACE: {
		/* The boot's steps came with the ready notice; the command's follow. */
		size_t have = strlen(r->guest_trace);
		snprintf(r->guest_trace + have, sizeof(r->guest_trace) - have, "%.*s", (int)f->len,
			 (const char *)f->payload);
		break;
	}
	case WIRE_STDOUT:
		if (!r->stdout_gone && write_all(STDOUT_FILENO, f->payload, f->len) < 0)
			r->stdout_gone = 1; /* EPIPE: keep the VM going, drop the rest */
		break;
	case WIRE_STDERR:
		write_all(STDERR_FILENO, f->payload, f->len);
		break;
	case WIRE_LOG:
		dprintf(STDERR_FILENO, "%.*s\n", (int)f->len, (const char *)f->payload);
		break;
	case WIRE_EXIT:
		if (f->len == 8) {
			r->exit_status = wire_exit_status(f->payload[0], (int32_t)wire_get_u32(f->payload + 4));
			r->t_exit = now_us() - r->t0;
			stop_timeout(); /* the command ended in time, whatever follows */
			if (r->l->mode == MODE_CHANNEL) {
				send_frame(r, WIRE_BYE, NULL, 0);
				arm_timer_ms(r, POWEROFF_WAIT_MS);
			} else {
				/* Nothing follows EXIT on an agent's stream. For
				 * `run` (wisp.poweroff) hanging up is what ends
				 * the VM: the guest then knows the status arrived. */
				epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->io_fd, NULL);
				close_fd(&r->io_fd);
				if (r->l->mode == MODE_VSOCK && !r->shutdown_sent) {
					r->shutdown_sent = 1;
					arm_timer_ms(r, POWEROFF_WAIT_MS);
				}
			}
		}
		break;
	default:
		break; /* a newer guest: ignore what we do not know */
	}
}

/* The agent's stream ended before the exit status: the command's fate is
 * unknown, and a VM of ours is of no more use. */
static void agent_lost(struct run *r, const char *why)
{
	if (r->exit_status >= 0 || r->lost[0])
		return;
	snprintf(r->lost, sizeof(r->lost), "%s", why);
	if (r->vmm_pid > 0)
		kill(r->vmm_pid, SIGKILL);
}

static void read_io(struct run *r)
{
	long n = queue_read_from(&r->from_guest, r->io_fd);
	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		close_fd(&r->io_fd);
		if (r->l->mode == MODE_VSOCK || r->l->mode == MODE_EXEC)
			agent_lost(r, "lost the connection to the guest agent");
		return;
	}
	struct wire_frame f;
	long used;
	while ((used = wire_parse(queue_head(&r->from_guest), queue_len(&r->from_guest), &f)) > 0) {
		on_frame(r, &f);
		queue_consume(&r->from_guest, (size_t)used);
	}
	if (used < 0) {
		warnx("the guest sent a malformed frame; closing the channel");
		close_fd(&r->io_fd);
		agent_lost(r, "the guest agent broke the protocol");
	}
}

static void on_console_line(struct run *r, char *line)
{
	char prefix[32];
	int plen = snprintf(prefix, sizeof(prefix), "WISP-EXIT %s ", r->nonce);
	if (!strncmp(line, prefix, (size_t)plen)) {
		r->marker_status = atoi(line + plen) & 0xff;
		return;
	}
	const char *panic = strstr(line, "Kernel panic - not syncing: ");
	if (panic && !r->panic[0])
		snprintf(r->panic, sizeof(r->panic), "%s", panic + strlen("Kernel panic - not syncing: "));
	/* A background VM's log file keeps the console. */
	if (r->o->verbose || r->l->mode == MODE_SERVE)
		dprintf(STDERR_FILENO, "%s\n", line);
}

static void on_vmm_error_line(struct run *r, char *line)
{
	if (!r->vmm_error[0] && *line)
		snprintf(r->vmm_error, sizeof(r->vmm_error), "%s", line);
	if (r->o->verbose || r->l->mode == MODE_SERVE)
		dprintf(STDERR_FILENO, "%s\n", line);
}

/* Splits what fd has into lines (without \r\n) for handle(). */
static void read_lines(struct run *r, int *fd, struct line *l, void (*handle)(struct run *, char *))
{
	char buf[4096];
	ssize_t n = read(*fd, buf, sizeof(buf));
	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0) {
		if (l->len) {
			l->buf[l->len] = '\0';
			handle(r, l->buf);
			l->len = 0;
		}
		close_fd(fd);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		char c = buf[i];
		if (c == '\r')
			continue;
		if (c == '\n' || l->len == sizeof(l->buf) - 1) {
			l->buf[l->len] = '\0';
			handle(r, l->buf);
			l->len = 0;
			if (c == '\n')
				continue;
		}
		l->buf[l->len++] = c;
	}
}

static void read_stdin(struct run *r)
{
	if (!stdin_room(r))
		return;
	uint8_t buf[STDIN_CHUNK];
	ssize_t n = read(r->stdin_fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* End of input; on a tty the guest's line discipline decides. */
		if (!r->o->tty)
			send_frame(r, WIRE_STDIN, NULL, 0);
		if (r->stdin_polled)
			epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->stdin_fd, NULL);
		r->stdin_fd = -1;
		return;
	}
	send_frame(r, WIRE_STDIN, buf, (uint32_t)n);
}

static void on_host_signal(struct run *r, int sig)
{
	if (sig == SIGWINCH) {
		send_winsize(r);
		return;
	}
	if (sig == SIGCHLD) {
		int status;
		if (r->vmm_pid > 0 && waitpid(r->vmm_pid, &status, WNOHANG) == r->vmm_pid) {
			r->vmm_status = status;
			r->vmm_pid = -1;
			r->t_gone = now_us() - r->t0;
			timeout_victim = -1;
		}
		/* Without its vsock backend the VM can neither answer nor be
		 * stopped in order: end it. */
		if (r->vsockd_pid > 0 && waitpid(r->vsockd_pid, &status, WNOHANG) == r->vsockd_pid) {
			/* Reaped: its pid may be anyone's now, never signal it. */
			for (size_t i = 0; i < r->nshares; i++)
				if (r->helpers[i] == r->vsockd_pid)
					r->helpers[i] = timeout_helpers[i] = -1;
			r->vsockd_pid = -1;
			char why[128];
			if (WIFSIGNALED(status))
				snprintf(why, sizeof(why), "wisp-vsockd was killed by signal %d",
					 WTERMSIG(status));
			else
				snprintf(why, sizeof(why), "wisp-vsockd exited with status %d",
					 WEXITSTATUS(status));
			/* Status 0: QEMU closed the vhost-user socket, so it should
			 * be ending too; if it is not gone soon, it has lost its
			 * vsock device all the same. */
			int qemu_left = WIFEXITED(status) && WEXITSTATUS(status) == 0;
			if (qemu_left && r->vmm_pid > 0) {
				snprintf(r->backend_gone, sizeof(r->backend_gone), "%s", why);
				arm_timer_ms(r, BACKEND_GONE_WAIT_MS);
			} else if (!qemu_left && (r->exit_status < 0 || r->l->mode == MODE_SERVE)) {
				snprintf(r->lost, sizeof(r->lost), "%s", why);
				if (r->vmm_pid > 0)
					kill(r->vmm_pid, SIGKILL);
			}
		}
		return;
	}
	if (r->l->mode == MODE_SERVE) {
		/* `wisp stop`: an orderly shutdown; a second signal, or one
		 * before the guest is ready, ends the VM at once. */
		if (r->ready && !r->shutdown_sent) {
			request_shutdown(r);
			arm_timer_ms(r, STOP_WAIT_MS);
		} else if (r->vmm_pid > 0) {
			kill(r->vmm_pid, SIGKILL);
		}
		return;
	}
	/* INT, TERM, HUP: the command's to handle; a second one, or one before
	 * the command started, ends the VM at once. */
	if (r->hello && r->exit_status < 0 && r->signals_sent++ == 0) {
		send_u32(r, WIRE_SIGNAL, (uint32_t)sig);
		return;
	}
	if (r->vmm_pid > 0)
		kill(r->vmm_pid, SIGKILL);
	if (r->l->mode == MODE_EXEC)
		close_fd(&r->io_fd); /* the agent hangs the command up */
	if (r->exit_status < 0)
		r->exit_status = 128 + sig;
}

static void add_fd(struct run *r, int fd, uint32_t tag, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u32 = tag };
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 && tag != TAG_STDIN)
		warnx("epoll_ctl: %s", strerror(errno));
}

/* Sends the command to the agent: on the ready connection when the guest
 * left it open for a request (conn >= 0), else on a new one to its port. */
static void start_exec(struct run *r, int conn)
{
	char err[256], why[300];
	int fd = conn;
	if (fd >= 0) {
		/* Its HELLO ended the notice. */
		r->hello = 1;
		r->t_hello = now_us() - r->t0;
	} else {
		fd = hybrid_connect(r->vsock_path, WIRE_AGENT_PORT, AGENT_CONNECT_MS, err, sizeof(err));
		if (fd < 0) {
			snprintf(why, sizeof(why), "cannot reach the guest agent: %s", err);
			agent_lost(r, why);
			return;
		}
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	r->io_fd = fd;
	add_fd(r, fd, TAG_IO, EPOLLIN);
	send_frame(r, WIRE_EXEC, r->exec_keys, r->exec_len);
	r->exec_pending = 0;
}

/* Asks the agent for an orderly shutdown and gives the VM a while for it;
 * if the agent cannot be reached, the VM ends at once. */
static void request_shutdown(struct run *r)
{
	if (r->shutdown_sent || r->vmm_pid <= 0)
		return;
	r->shutdown_sent = 1;
	char err[256];
	int fd = hybrid_connect(r->vsock_path, WIRE_AGENT_PORT, AGENT_CONNECT_MS, err, sizeof(err));
	uint8_t hdr[WIRE_HDR_SIZE];
	wire_put_header(hdr, WIRE_SHUTDOWN, 0);
	if (fd < 0 || write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr)) {
		/* No agent: the guest may be shutting down on its own (a command
		 * signalled PID 1); the timer ends it if it is not. */
		if (r->l->mode == MODE_SERVE)
			warnx("cannot ask the guest to shut down: %s", err);
	} else {
		/* Until the agent hangs up: closing first could reset the stream
		 * before the request is read. */
		struct timeval tv = { 2, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		char buf[256];
		while (read(fd, buf, sizeof(buf)) > 0)
			;
	}
	if (fd >= 0)
		close(fd);
	arm_timer_ms(r, POWEROFF_WAIT_MS);
}

/* conn: the ready connection, open for one request, or -1. */
static void on_ready(struct run *r, int conn)
{
	r->ready = 1;
	r->t_ready = now_us() - r->t0;
	if (r->l->mode == MODE_VSOCK && r->exit_status < 0) {
		start_exec(r, conn);
		return;
	}
	if (conn >= 0)
		close(conn); /* the agent's process for it goes away quietly */
	if (r->l->mode == MODE_VSOCK) {
		request_shutdown(r); /* the guest could not set up */
		return;
	}
	if (r->exit_status >= 0) {
		/* Not ready after all (a share failed): `start` fails, having
		 * read why; the VM ends in order. */
		int fd = msg_fd();
		msg_set_fd(STDERR_FILENO);
		close(fd);
		request_shutdown(r);
		return;
	}
	struct vm_state st = { .pid = getpid(), .started = time(NULL), .ready = 1,
			       .memory_mib = r->o->memory_mib, .cpus = r->o->cpus };
	snprintf(st.vmm, sizeof(st.vmm), "%s", r->o->vmm);
	if (runtime_write_state(r->vm_dir, &st) < 0)
		warnx("state file in %s: %s", r->vm_dir, strerror(errno));
	/* One NUL byte tells the waiting `start` it worked. From now on there
	 * is no one to tell: messages go to the log. */
	int fd = msg_fd();
	msg_set_fd(STDERR_FILENO);
	if (write(fd, "", 1) != 1)
		warnx("cannot tell wisp start: %s", strerror(errno));
	close(fd);
}

/* The ready notice: frames (LOG, TRACE, and EXIT when the guest failed to
 * set up) that the guest sends once its agent listens, ended by HELLO (the
 * connection then takes one request, like one to the agent's port) or, from
 * a guest that offers none, by EOF. */
static void read_ready(struct run *r)
{
	struct notice *b = &r->notice;
	ssize_t n = read(r->ready_conn, b->buf + b->len, sizeof(b->buf) - b->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0)
		b->len += (size_t)n;
	struct wire_frame f;
	long used = 0;
	size_t end = 0;
	int hello = 0;
	while (!hello && (used = wire_parse(b->buf + end, b->len - end, &f)) > 0) {
		end += (size_t)used;
		hello = f.type == WIRE_HELLO;
	}
	if (!hello && used == 0 && n > 0 && b->len < sizeof(b->buf))
		return; /* more to come */
	if (!hello && (used < 0 || b->len == sizeof(b->buf))) {
		/* Not a notice this guest could have sent: do not trust it. */
		warnx("the guest's ready notice is malformed");
		r->exit_status = wire_exit_status(WIRE_SETUP, 0);
	}
	epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->ready_conn, NULL);
	int conn = -1;
	if (hello)
		conn = r->ready_conn, r->ready_conn = -1;
	else
		close_fd(&r->ready_conn);
	for (size_t at = 0; at < end; at += (size_t)used) {
		used = wire_parse(b->buf + at, end - at, &f);
		if (f.type == WIRE_LOG)
			dprintf(msg_fd(), "%.*s\n", (int)f.len, (const char *)f.payload);
		else if (f.type == WIRE_TRACE)
			snprintf(r->guest_trace, sizeof(r->guest_trace), "%.*s", (int)f.len,
				 (const char *)f.payload);
		else if (f.type == WIRE_EXIT && f.len == 8)
			r->exit_status = wire_exit_status(f.payload[0],
							  (int32_t)wire_get_u32(f.payload + 4));
	}
	b->len = 0;
	if (!r->ready)
		on_ready(r, conn);
	else if (conn >= 0)
		close(conn);
}

static void accept_ready(struct run *r)
{
	int fd = accept4(r->ready_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (r->ready_conn >= 0 || r->ready) {
		close(fd); /* one notice per boot */
		return;
	}
	r->ready_conn = fd;
	add_fd(r, fd, TAG_READY_CONN, EPOLLIN);
}

/* Stdin is watched only while there is room for what it brings; a full
 * queue must not turn level-triggered readiness into a busy loop. */
static void arm_stdin(struct run *r)
{
	if (r->stdin_fd < 0 || !r->stdin_polled)
		return;
	struct epoll_event ev = { .events = stdin_room(r) && r->io_fd >= 0 ? EPOLLIN : 0,
				  .data.u32 = TAG_STDIN };
	epoll_ctl(r->epfd, EPOLL_CTL_MOD, r->stdin_fd, &ev);
}

static void arm_io(struct run *r)
{
	arm_stdin(r);
	if (r->io_fd < 0)
		return;
	struct epoll_event ev = { .events = EPOLLIN | (queue_len(&r->to_guest) ? EPOLLOUT : 0),
				  .data.u32 = TAG_IO };
	epoll_ctl(r->epfd, EPOLL_CTL_MOD, r->io_fd, &ev);
}

static void loop(struct run *r)
{
	add_fd(r, r->sigfd, TAG_SIGNAL, EPOLLIN);
	add_fd(r, r->timerfd, TAG_TIMER, EPOLLIN);
	if (r->con_fd >= 0)
		add_fd(r, r->con_fd, TAG_CON, EPOLLIN);
	if (r->err_fd >= 0)
		add_fd(r, r->err_fd, TAG_VMM_ERR, EPOLLIN);
	/* The agent's connection is added when it is made. */
	if (r->io_fd >= 0 && r->l->mode == MODE_CHANNEL)
		add_fd(r, r->io_fd, TAG_IO, EPOLLIN);
	if (r->ready_fd >= 0)
		add_fd(r, r->ready_fd, TAG_READY, EPOLLIN);
	int has_vm = r->l->mode != MODE_EXEC;
	if (r->stdin_fd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_STDIN };
		/* Regular files and /dev/null cannot be polled: they are always ready. */
		r->stdin_polled = epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->stdin_fd, &ev) == 0;
	}
	while (r->vmm_pid > 0 || r->con_fd >= 0 || r->io_fd >= 0 || r->err_fd >= 0) {
		/* Once the VMM is gone its fds must be at EOF; don't wait on them. */
		int stdin_ready = r->stdin_fd >= 0 && !r->stdin_polled && stdin_room(r) && r->io_fd >= 0;
		arm_io(r);
		struct epoll_event ev[16];
		int n = epoll_wait(r->epfd, ev, 16, stdin_ready || (has_vm && r->vmm_pid < 0) ? 0 : -1);
		if (n < 0 && errno != EINTR) {
			warnx("epoll_wait: %s", strerror(errno));
			break;
		}
		if (stdin_ready)
			read_stdin(r);
		if (n == 0 && has_vm && r->vmm_pid < 0)
			break; /* the VMM exited and everything it left is read */
		for (int i = 0; i < n; i++) {
			switch (ev[i].data.u32) {
			case TAG_SIGNAL: {
				struct signalfd_siginfo si;
				while (read(r->sigfd, &si, sizeof(si)) == sizeof(si))
					on_host_signal(r, (int)si.ssi_signo);
				break;
			}
			case TAG_TIMER: {
				/* The guest reported its status but did not power off. */
				uint64_t ticks;
				if (read(r->timerfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					warnx("timerfd: %s", strerror(errno));
				if (r->vmm_pid > 0 && r->backend_gone[0]) {
					/* QEMU dropped wisp-vsockd and went on. */
					if (r->exit_status < 0 || r->l->mode == MODE_SERVE)
						snprintf(r->lost, sizeof(r->lost), "%s", r->backend_gone);
					kill(r->vmm_pid, SIGKILL);
				} else if (r->vmm_pid > 0) {
					/* Its shares may not be synced: say so. */
					warnx("the guest did not power off in time: VM killed");
					kill(r->vmm_pid, SIGKILL);
				}
				break;
			}
			case TAG_CON:
				read_lines(r, &r->con_fd, &r->con_line, on_console_line);
				break;
			case TAG_VMM_ERR:
				read_lines(r, &r->err_fd, &r->err_line, on_vmm_error_line);
				break;
			case TAG_IO:
				/* A failed write (the VMM is gone) drops what we had to
				 * say, but what the guest sent is still read to its end. */
				if (ev[i].events & EPOLLOUT && queue_write_to(&r->to_guest, r->io_fd) < 0 &&
				    errno != EAGAIN)
					r->to_guest.head = r->to_guest.tail = 0;
				if (r->io_fd >= 0 && (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
					read_io(r);
				break;
			case TAG_STDIN:
				read_stdin(r);
				break;
			case TAG_READY:
				accept_ready(r);
				break;
			case TAG_READY_CONN:
				read_ready(r);
				break;
			}
		}
	}
}

/* What the user learns when there is no exit status from the guest. */
static int failure_status(struct run *r)
{
	if (r->lost[0] && !r->panic[0])
		warnx("%s", r->lost);
	else if (r->l->mode == MODE_EXEC)
		warnx("the guest agent closed the connection without a status");
	else if (r->panic[0])
		warnx("guest kernel panic: %s", r->panic);
	else if (r->vmm_error[0])
		warnx("%s", r->vmm_error);
	else if (WIFSIGNALED(r->vmm_status))
		warnx("the VMM was killed by signal %d", WTERMSIG(r->vmm_status));
	else if (r->l->mode == MODE_SERVE || (r->l->mode == MODE_VSOCK && !r->ready))
		warnx("the VM stopped before it was ready (VMM exit status %d)",
		      WEXITSTATUS(r->vmm_status));
	else
		warnx("the VM stopped before the command ended (VMM exit status %d)",
		      WEXITSTATUS(r->vmm_status));
	return EXIT_LAUNCHER;
}

static int setup_signals(struct run *r)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGWINCH);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	r->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (r->sigfd < 0)
		return -1;
	if (r->o->timeout > 0) {
		struct sigaction sa = { .sa_handler = on_timeout };
		sigaction(SIGALRM, &sa, NULL);
		timeout_seconds = r->o->timeout;
		timeout_qmp = r->o->qmp;
	}
	return 0;
}

static void start_timeout(void)
{
	if (timeout_seconds <= 0)
		return;
	struct itimerval it = { 0 };
	it.it_value.tv_sec = (time_t)timeout_seconds;
	it.it_value.tv_usec = (suseconds_t)((timeout_seconds - (double)it.it_value.tv_sec) * 1e6);
	if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
		it.it_value.tv_usec = 1;
	setitimer(ITIMER_REAL, &it, NULL);
}

/* Every volume's host side must exist before anything starts. */
static int check_volumes(const struct run_opts *o)
{
	for (size_t i = 0; i < o->nvolumes; i++) {
		struct stat st;
		const char *host = o->volumes[i].host;
		if (stat(host, &st) < 0) {
			warnx("volume %s: %s", host, strerror(errno));
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			warnx("volume %s: not a directory", host);
			return -1;
		}
	}
	return 0;
}

/* wisp-vsockd for this VM: one end of a socket pair for it, one for QEMU. */
static int start_vsockd(struct run *r, const char *self_dir)
{
	if (r->l->mode == MODE_CHANNEL)
		return 0;
	char bin[4200];
	const char *env = getenv("WISP_VSOCKD");
	snprintf(bin, sizeof(bin), "%s", env && *env ? env : "");
	if (!bin[0])
		snprintf(bin, sizeof(bin), "%s/wisp-vsockd", self_dir);
	int sv[2];
	if (access(bin, X_OK) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		warnx("wisp-vsockd %s: %s", bin, strerror(errno));
		return -1;
	}
	char cid[16];
	snprintf(cid, sizeof(cid), "%u", r->o->cid);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		warnx("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* SIGTERM, not SIGKILL: it removes its socket file on the way out. */
		child_prepare(parent, SIGTERM);
		if (dup2(sv[0], 3) < 0)
			_exit(127);
		execl(bin, bin, "--vhost-fd", "3", "--uds", r->vsock_path, "--cid", cid, (char *)NULL);
		_exit(127);
	}
	close(sv[0]);
	r->vsock_fd = sv[1];
	r->vsockd_pid = pid;
	timeout_helpers[r->nshares] = pid;
	r->helpers[r->nshares] = pid;
	r->share_fds[r->nshares] = -1;
	r->nshares++;
	timeout_nhelpers = r->nshares;
	return 0;
}

static int start_shares(struct run *r)
{
	if (strcmp(r->o->fs, "virtiofs"))
		return 0;
	for (size_t i = 0; i < r->o->nvolumes; i++) {
		const struct volume *v = &r->o->volumes[i];
		r->share_fds[i] = virtiofsd_start(v->host, v->cache, r->o->verbose, &r->helpers[i]);
		if (r->share_fds[i] < 0)
			return -1;
		timeout_helpers[r->nshares] = r->helpers[i];
		r->nshares++;
		timeout_nhelpers = r->nshares;
	}
	return 0;
}

static void stop_shares(struct run *r)
{
	timeout_nhelpers = 0;
	for (size_t i = 0; i < r->nshares; i++) {
		if (r->share_fds[i] >= 0)
			close(r->share_fds[i]);
		if (r->helpers[i] > 0) /* -1: reaped already */
			kill(r->helpers[i], SIGTERM);
	}
	for (size_t i = 0; i < r->nshares; i++)
		if (r->helpers[i] > 0)
			waitpid(r->helpers[i], NULL, 0);
	r->nshares = 0;
}

/* The guest's "step=us" lines, each as (name, ms since the kernel started). */
static int next_guest_step(const char **p, char *name, size_t size, double *ms)
{
	long long us;
	int used = 0;
	if (size < 32)
		return 0;
	/* Facts (names with '_') and lines we cannot read are passed over. */
	while (**p && (sscanf(*p, "%31[a-z]=%lld\n%n", name, &us, &used) != 2 || !used)) {
		const char *nl = strchr(*p, '\n');
		*p = nl ? nl + 1 : *p + strlen(*p);
		used = 0;
	}
	if (!used)
		return 0;
	*p += used;
	*ms = (double)us / 1000.0;
	return 1;
}

/* The facts after the steps: "name_with_underscore=value" lines, each as
 * (name, value); the value is a number or a word, so JSON needs no escape. */
static int next_guest_fact(const char **p, char name[32], char value[48])
{
	int used = 0;
	while (**p && (sscanf(*p, "%31[a-z_]=%47[A-Za-z0-9.+-]\n%n", name, value, &used) != 2 ||
		       !used || !strchr(name, '_'))) {
		const char *nl = strchr(*p, '\n'); /* a step, or a line we cannot read */
		*p = nl ? nl + 1 : *p + strlen(*p);
		used = 0;
	}
	*p += used;
	return used > 0;
}

static void print_trace(const struct run *r)
{
	char name[32], value[48];
	double ms;
	dprintf(STDERR_FILENO, "wisp trace (ms)\n  guest, since the kernel started:\n");
	for (const char *p = r->guest_trace; next_guest_step(&p, name, sizeof(name), &ms);)
		dprintf(STDERR_FILENO, "    %-10s %9.1f\n", name, ms);
	for (const char *p = r->guest_trace; next_guest_fact(&p, name, value);)
		dprintf(STDERR_FILENO, "    %-16s %s\n", name, value);
	dprintf(STDERR_FILENO, "  host, since launch:\n");
	if (r->t_ready)
		dprintf(STDERR_FILENO, "    %-10s %9.1f\n", "ready", r->t_ready / 1000.0);
	dprintf(STDERR_FILENO, "    %-10s %9.1f\n    %-10s %9.1f\n", "hello", r->t_hello / 1000.0,
		"status", r->t_exit / 1000.0);
	if (r->l->mode != MODE_EXEC)
		dprintf(STDERR_FILENO, "    %-10s %9.1f\n", "vm gone", r->t_gone / 1000.0);
}

static int write_trace_json(const struct run *r, const char *path)
{
	FILE *f = fopen(path, "we");
	if (!f) {
		warnx("--trace-json %s: %s", path, strerror(errno));
		return -1;
	}
	char name[32], value[48];
	double ms;
	fprintf(f, "{\"guest_ms\": {");
	int first = 1;
	for (const char *p = r->guest_trace; next_guest_step(&p, name, sizeof(name), &ms); first = 0)
		fprintf(f, "%s\"%s\": %.3f", first ? "" : ", ", name, ms);
	fprintf(f, "}, \"guest_facts\": {");
	first = 1;
	for (const char *p = r->guest_trace; next_guest_fact(&p, name, value);) {
		/* An exec reports the clock again: its figures replace the boot's. */
		char later[40];
		snprintf(later, sizeof(later), "\n%s=", name);
		if (strstr(p - 1, later))
			continue;
		char *end;
		strtoll(value, &end, 10);
		int number = *value && *end == '\0';
		fprintf(f, number ? "%s\"%s\": %s" : "%s\"%s\": \"%s\"", first ? "" : ", ", name, value);
		first = 0;
	}
	fprintf(f, "}, \"host_ms\": {");
	if (r->t_ready)
		fprintf(f, "\"ready\": %.3f, ", r->t_ready / 1000.0);
	fprintf(f, "\"hello\": %.3f, \"status\": %.3f, \"vm_gone\": %.3f}, \"exit_status\": %d}\n",
		r->t_hello / 1000.0, r->t_exit / 1000.0, r->t_gone / 1000.0, r->exit_status);
	return fclose(f) == 0 ? 0 : -1;
}

/* Where the VM's sockets go: the private directory of this VM, or the
 * user's --vsock path (its ready socket beside it). */
static int claim_vm_dir(struct run *r)
{
	char err[300];
	if (r->l->mode == MODE_CHANNEL)
		return 0;
	r->lock_fd = runtime_claim(r->l->mode == MODE_SERVE ? r->l->vm_name : NULL, r->vm_dir,
				   sizeof(r->vm_dir), err, sizeof(err));
	if (r->lock_fd < 0) {
		warnx("%s", err);
		return -1;
	}
	if (r->l->mode == MODE_SERVE) {
		/* The background VM's stderr: the console and what happens. */
		char log[RUNTIME_PATH_MAX + 16];
		snprintf(log, sizeof(log), "%s/log", r->vm_dir);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
			warnx("%s: %s", log, strerror(errno));
			return -1;
		}
		close(fd);
	}
	if (r->o->vsock)
		snprintf(r->vsock_path, sizeof(r->vsock_path), "%s", r->o->vsock);
	else
		snprintf(r->vsock_path, sizeof(r->vsock_path), "%s/vsock", r->vm_dir);
	static char ready[RUNTIME_PATH_MAX + 32];
	snprintf(ready, sizeof(ready), "%s_%u", r->vsock_path, WIRE_READY_PORT);
	unlink(ready); /* a leftover of a VM that ran with the same --vsock */
	r->ready_fd = unix_listen(ready, err, sizeof(err));
	/* A timeout ends wisp from a signal handler: it removes these. */
	timeout_dir = r->vm_dir;
	timeout_vsock = r->vsock_path;
	timeout_ready = ready;
	if (r->ready_fd < 0) {
		warnx("%s", err);
		return -1;
	}
	return 0;
}

static void release_vm_dir(struct run *r)
{
	if (r->ready_fd >= 0) {
		char ready[RUNTIME_PATH_MAX + 32];
		snprintf(ready, sizeof(ready), "%s_%u", r->vsock_path, WIRE_READY_PORT);
		unlink(ready);
		close_fd(&r->ready_fd);
	}
	if (r->vm_dir[0])
		runtime_remove(r->vm_dir);
	close_fd(&r->lock_fd);
}

static int setup_loop(struct run *r)
{
	if (queue_init(&r->to_guest, TO_GUEST_CAP) || queue_init(&r->from_guest, FROM_GUEST_CAP) ||
	    setup_signals(r) < 0 || (r->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (r->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) < 0) {
		warnx("setup: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The command's stdio: a shell without a command, with a tty when stdin is one. */
static void command_stdio(const struct run_opts *o, int *stdin_open, int *tty)
{
	*tty = o->tty;
	*stdin_open = o->interactive;
	if (o->argc == 0 && !o->tty_given) {
		*stdin_open = 1;
		*tty = isatty(STDIN_FILENO);
	}
}

static int finish(struct run *r)
{
	const struct run_opts *o = r->o;
	if (o->qmp && r->l->mode != MODE_EXEC)
		unlink(o->qmp); /* QEMU leaves it behind when it is killed */
	term_restore();
	if (o->trace && r->exit_status >= 0)
		print_trace(r);
	if (o->trace_json && r->exit_status >= 0)
		write_trace_json(r, o->trace_json);
	if (r->exit_status >= 0 && !r->lost[0])
		return r->exit_status;
	if (r->marker_status >= 0)
		return r->marker_status;
	return failure_status(r);
}

static void run_init(struct run *r, const struct run_opts *o, const struct launch *l)
{
	*r = (struct run){ .o = o, .l = l, .vmm_pid = -1, .con_fd = -1, .io_fd = -1, .err_fd = -1,
			   .vsock_fd = -1, .stdin_fd = -1, .exit_status = -1, .marker_status = -1,
			   .lock_fd = -1, .ready_fd = -1, .ready_conn = -1, .vsockd_pid = -1 };
}

/* The EXEC frame the agent gets once it can be reached. */
static int prepare_exec(struct run *r, const struct guest_setup *g)
{
	static char keys[WIRE_MAX_PAYLOAD];
	char err[256];
	int len = build_exec_keys(g, keys, sizeof(keys), err, sizeof(err));
	if (len < 0) {
		warnx("%s", err);
		return -1;
	}
	r->exec_keys = keys;
	r->exec_len = (uint32_t)len;
	r->exec_pending = 1;
	return 0;
}

static void open_stdin(struct run *r, int stdin_open, int tty)
{
	if (stdin_open)
		r->stdin_fd = STDIN_FILENO;
	if (tty && stdin_open && term_raw(STDIN_FILENO) == 0)
		atexit(term_restore);
}

int run_vm(const struct run_opts *o, const struct launch *l)
{
	struct run r;
	run_init(&r, o, l);
	const struct vmm *vmm = vmm_find(o->vmm);
	char kernel[4096], initrd[4096], cmdline[KCMDLINE_MAX], err[256];
	snprintf(kernel, sizeof(kernel), "%s", o->kernel ? o->kernel : "");
	snprintf(initrd, sizeof(initrd), "%s", o->initrd ? o->initrd : "");
	if (!o->kernel)
		snprintf(kernel, sizeof(kernel), "%s/vmlinux", l->self_dir);
	if (!o->initrd)
		snprintf(initrd, sizeof(initrd), "%s/initramfs.cpio.lz4", l->self_dir);
	if (!vmm || !readable("kernel", kernel) || !readable("initrd", initrd) ||
	    check_volumes(o) < 0)
		return EXIT_LAUNCHER;

	int tty, stdin_open;
	command_stdio(o, &stdin_open, &tty);
	if (l->mode == MODE_SERVE)
		tty = stdin_open = 0;
	struct guest_setup g = { .o = o, .stdin_open = stdin_open, .tty = tty, .rows = 24,
				 .cols = 80, .vmm = vmm, .host_env = environ, .term = getenv("TERM"),
				 .serve = l->mode != MODE_CHANNEL, .poweroff = l->mode == MODE_VSOCK };
	make_nonce(r.nonce);
	g.nonce = r.nonce;
	g.tcg = !strcmp(o->accel, "tcg");
	if (g.tcg)
		g.tsc_khz = host_tsc_khz();
	if (clock_gettime(CLOCK_REALTIME, &g.now) < 0)
		g.now.tv_sec = 0; /* the guest falls back to its RTC */
	if (tty)
		term_size(STDIN_FILENO, &g.rows, &g.cols);
	if (build_kcmdline(&g, cmdline, err, sizeof(err)) < 0) {
		warnx("%s", err);
		return EXIT_LAUNCHER;
	}
	if (l->mode == MODE_VSOCK && prepare_exec(&r, &g) < 0)
		return EXIT_LAUNCHER;
	struct vm_spec spec = { .o = o, .kernel = kernel, .initrd = initrd, .cmdline = cmdline,
				.channel = l->mode == MODE_CHANNEL, .vsock = l->mode != MODE_CHANNEL };

	if (setup_loop(&r) < 0)
		return EXIT_LAUNCHER;
	r.t0 = now_us();
	if (claim_vm_dir(&r) < 0 || start_shares(&r) < 0 || start_vsockd(&r, l->self_dir) < 0 ||
	    start_vmm(&r, vmm, &spec) < 0) {
		stop_shares(&r);
		release_vm_dir(&r);
		return EXIT_LAUNCHER;
	}
	/* For `start`, --timeout bounds the wait until ready, which the
	 * waiting `start` keeps itself. */
	if (l->mode == MODE_SERVE) {
		struct vm_state st = { .pid = getpid(), .started = time(NULL),
				       .memory_mib = o->memory_mib, .cpus = o->cpus };
		snprintf(st.vmm, sizeof(st.vmm), "%s", o->vmm);
		runtime_write_state(r.vm_dir, &st);
	} else {
		start_timeout();
	}
	open_stdin(&r, stdin_open, tty);

	loop(&r);

	if (r.vmm_pid > 0) {
		kill(r.vmm_pid, SIGKILL);
		waitpid(r.vmm_pid, &r.vmm_status, 0);
	}
	stop_shares(&r);
	release_vm_dir(&r);
	if (l->mode == MODE_SERVE) {
		if (r.ready && !r.lost[0])
			return 0;
		if (r.exit_status >= 0 && !r.lost[0])
			return EXIT_LAUNCHER; /* the guest said why, in the notice */
		return failure_status(&r);
	}
	return finish(&r);
}

int exec_in_vm(const struct run_opts *o, const char *name)
{
	struct launch l = { .mode = MODE_EXEC, .vm_name = name };
	struct run r;
	run_init(&r, o, &l);
	char err[300];
	if (runtime_vm_dir(name, r.vm_dir, sizeof(r.vm_dir), err, sizeof(err)) < 0) {
		warnx("%s", err);
		return EXIT_LAUNCHER;
	}
	struct vm_state st;
	if (!runtime_alive(r.vm_dir) || runtime_read_state(r.vm_dir, &st) < 0 || !st.ready) {
		warnx("no running VM named %s", name);
		return EXIT_LAUNCHER;
	}
	snprintf(r.vsock_path, sizeof(r.vsock_path), "%s/vsock", r.vm_dir);
	int tty, stdin_open;
	command_stdio(o, &stdin_open, &tty);
	struct guest_setup g = { .o = o, .stdin_open = stdin_open, .tty = tty, .rows = 24,
				 .cols = 80, .host_env = environ, .term = getenv("TERM") };
	if (tty)
		term_size(STDIN_FILENO, &g.rows, &g.cols);
	if (prepare_exec(&r, &g) < 0 || setup_loop(&r) < 0)
		return EXIT_LAUNCHER;
	r.t0 = now_us();
	start_timeout();
	start_exec(&r, -1);
	if (r.lost[0])
		return finish(&r);
	open_stdin(&r, stdin_open, tty);
	loop(&r);
	return finish(&r);
}
