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
#include "kcmdline.h"
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

enum { TAG_SIGNAL = 1, TAG_CON, TAG_IO, TAG_VMM_ERR, TAG_STDIN, TAG_TIMER };

struct line {
	char buf[LINE_MAX_LEN];
	size_t len;
};

struct run {
	const struct run_opts *o;
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
	long long t0, t_hello, t_exit, t_gone;
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

static void stop_timeout(void)
{
	struct itimerval off = { 0 };
	setitimer(ITIMER_REAL, &off, NULL);
}

static void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warnx(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* A raw terminal needs \r\n; one more \r is harmless elsewhere. */
	dprintf(STDERR_FILENO, "wisp: %.*s", n, line);
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
		kill(timeout_helpers[i], SIGKILL);
		waitpid(timeout_helpers[i], NULL, 0);
	}
	if (timeout_qmp)
		unlink(timeout_qmp);
	if (timeout_vsock)
		unlink(timeout_vsock);
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

static _Noreturn void exec_vmm(const struct run *r, const struct argv_list *a, int con, int io,
				int err_w, pid_t parent)
{
	/* The VMM dies with the launcher, however the launcher dies. */
	child_prepare(parent, SIGKILL);
	if (dup2(err_w, STDERR_FILENO) < 0 || dup2(con, VMM_FD_CONSOLE) < 0 ||
	    dup2(io, VMM_FD_CHANNEL) < 0)
		_exit(127);
	for (size_t i = 0; i < r->nshares; i++)
		if (r->share_fds[i] >= 0 && dup2(r->share_fds[i], VMM_FD_SHARES + (int)i) < 0)
			_exit(127);
	if (r->vsock_fd >= 0 && dup2(r->vsock_fd, VMM_FD_VSOCK) < 0)
		_exit(127);
	execvp(a->v[0], a->v);
	dprintf(STDERR_FILENO, "cannot run %s: %s\n", a->v[0], strerror(errno));
	_exit(127);
}

static int start_vmm(struct run *r, const struct argv_list *a)
{
	int con[2], io[2], err[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, con) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, io) < 0 ||
	    pipe2(err, O_CLOEXEC) < 0) {
		warnx("socketpair: %s", strerror(errno));
		return -1;
	}
	pid_t parent = getpid();
	r->vmm_pid = fork();
	if (r->vmm_pid < 0) {
		warnx("fork: %s", strerror(errno));
		return -1;
	}
	if (r->vmm_pid == 0)
		exec_vmm(r, a, con[1], io[1], err[1], parent);
	timeout_victim = r->vmm_pid;
	close(con[1]);
	close(io[1]);
	close(err[1]);
	r->con_fd = con[0];
	r->io_fd = io[0];
	r->err_fd = err[0];
	fcntl(r->io_fd, F_SETFL, O_NONBLOCK);
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
	return queue_room(&r->to_guest) >= WIRE_HDR_SIZE + STDIN_CHUNK + CONTROL_RESERVE;
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

static void on_frame(struct run *r, const struct wire_frame *f)
{
	switch (f->type) {
	case WIRE_HELLO:
		r->hello = 1;
		r->t_hello = now_us() - r->t0;
		break;
	case WIRE_TRACE:
		snprintf(r->guest_trace, sizeof(r->guest_trace), "%.*s", (int)f->len,
			 (const char *)f->payload);
		break;
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
			send_frame(r, WIRE_BYE, NULL, 0);
			arm_timer_ms(r, POWEROFF_WAIT_MS);
		}
		break;
	default:
		break; /* a newer guest: ignore what we do not know */
	}
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void read_io(struct run *r)
{
	long n = queue_read_from(&r->from_guest, r->io_fd);
	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		close_fd(&r->io_fd);
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
	if (r->o->verbose)
		dprintf(STDERR_FILENO, "%s\n", line);
}

static void on_vmm_error_line(struct run *r, char *line)
{
	if (!r->vmm_error[0] && *line)
		snprintf(r->vmm_error, sizeof(r->vmm_error), "%s", line);
	if (r->o->verbose)
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
	if (r->exit_status < 0)
		r->exit_status = 128 + sig;
}

static void add_fd(struct run *r, int fd, uint32_t tag, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u32 = tag };
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 && tag != TAG_STDIN)
		warnx("epoll_ctl: %s", strerror(errno));
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
	add_fd(r, r->con_fd, TAG_CON, EPOLLIN);
	add_fd(r, r->err_fd, TAG_VMM_ERR, EPOLLIN);
	add_fd(r, r->io_fd, TAG_IO, EPOLLIN);
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
		int n = epoll_wait(r->epfd, ev, 16, stdin_ready || r->vmm_pid < 0 ? 0 : -1);
		if (n < 0 && errno != EINTR) {
			warnx("epoll_wait: %s", strerror(errno));
			break;
		}
		if (stdin_ready)
			read_stdin(r);
		if (n == 0 && r->vmm_pid < 0)
			break; /* the VMM exited and everything it left is read */
		for (int i = 0; i < n; i++) {
			switch (ev[i].data.u32) {
			case TAG_SIGNAL: {
				struct signalfd_siginfo si;
				while (read(r->sigfd, &si, sizeof(si)) == sizeof(si))
					on_host_signal(r, (int)si.ssi_signo);
				break;
			}
			case TAG_TIMER:
				/* The guest reported its status but did not power off. */
				if (r->vmm_pid > 0)
					kill(r->vmm_pid, SIGKILL);
				break;
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
			}
		}
	}
}

/* What the user learns when there is no exit status from the guest. */
static int failure_status(struct run *r)
{
	if (r->panic[0])
		warnx("guest kernel panic: %s", r->panic);
	else if (r->vmm_error[0])
		warnx("%s", r->vmm_error);
	else if (WIFSIGNALED(r->vmm_status))
		warnx("the VMM was killed by signal %d", WTERMSIG(r->vmm_status));
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
		timeout_vsock = r->o->vsock;
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
	if (!r->o->vsock)
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
		execl(bin, bin, "--vhost-fd", "3", "--uds", r->o->vsock, "--cid", cid, (char *)NULL);
		_exit(127);
	}
	close(sv[0]);
	r->vsock_fd = sv[1];
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
		kill(r->helpers[i], SIGTERM);
	}
	for (size_t i = 0; i < r->nshares; i++)
		waitpid(r->helpers[i], NULL, 0);
	r->nshares = 0;
}

/* The guest's "step=us" lines, each as (name, ms since the kernel started). */
static int next_guest_step(const char **p, char *name, size_t size, double *ms)
{
	long long us;
	int used;
	if (sscanf(*p, "%31[a-z]=%lld\n%n", name, &us, &used) != 2 || size < 32)
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
	dprintf(STDERR_FILENO, "    %-10s %9.1f\n    %-10s %9.1f\n    %-10s %9.1f\n",
		"hello", r->t_hello / 1000.0, "status", r->t_exit / 1000.0, "vm gone",
		r->t_gone / 1000.0);
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
	for (const char *p = r->guest_trace; next_guest_fact(&p, name, value); first = 0) {
		char *end;
		strtoll(value, &end, 10);
		int number = *value && *end == '\0';
		fprintf(f, number ? "%s\"%s\": %s" : "%s\"%s\": \"%s\"", first ? "" : ", ", name, value);
	}
	fprintf(f, "}, \"host_ms\": {\"hello\": %.3f, \"status\": %.3f, \"vm_gone\": %.3f}, "
		   "\"exit_status\": %d}\n",
		r->t_hello / 1000.0, r->t_exit / 1000.0, r->t_gone / 1000.0, r->exit_status);
	return fclose(f) == 0 ? 0 : -1;
}

int run_vm(const struct run_opts *o, const char *self_dir)
{
	struct run r = { .o = o, .vmm_pid = -1, .con_fd = -1, .io_fd = -1, .err_fd = -1, .vsock_fd = -1,
			 .stdin_fd = -1, .exit_status = -1, .marker_status = -1 };
	const struct vmm *vmm = vmm_find(o->vmm);
	char kernel[4096], initrd[4096], cmdline[KCMDLINE_MAX], err[256];
	snprintf(kernel, sizeof(kernel), "%s", o->kernel ? o->kernel : "");
	snprintf(initrd, sizeof(initrd), "%s", o->initrd ? o->initrd : "");
	if (!o->kernel)
		snprintf(kernel, sizeof(kernel), "%s/vmlinux", self_dir);
	if (!o->initrd)
		snprintf(initrd, sizeof(initrd), "%s/initramfs.cpio.lz4", self_dir);
	if (!vmm || !readable("kernel", kernel) || !readable("initrd", initrd) ||
	    check_volumes(o) < 0)
		return EXIT_LAUNCHER;

	/* No command: an interactive shell, with a tty when stdin is one. */
	int tty = o->tty, stdin_open = o->interactive;
	if (o->argc == 0 && !o->tty_given) {
		stdin_open = 1;
		tty = isatty(STDIN_FILENO);
	}
	struct guest_setup g = { .o = o, .stdin_open = stdin_open, .tty = tty, .rows = 24,
				 .cols = 80, .no_pci = !vmm->has_pci, .host_env = environ };
	make_nonce(r.nonce);
	g.nonce = r.nonce;
	if (!strcmp(o->accel, "tcg"))
		g.tsc_khz = host_tsc_khz();
	if (clock_gettime(CLOCK_REALTIME, &g.now) < 0)
		g.now.tv_sec = 0; /* the guest falls back to its RTC */
	if (tty)
		term_size(STDIN_FILENO, &g.rows, &g.cols);
	if (build_kcmdline(&g, cmdline, err, sizeof(err)) < 0) {
		warnx("%s", err);
		return EXIT_LAUNCHER;
	}
	struct vm_spec spec = { .o = o, .kernel = kernel, .initrd = initrd, .cmdline = cmdline };
	struct argv_list argv;
	vmm->build_argv(vmm, &spec, &argv);

	if (queue_init(&r.to_guest, TO_GUEST_CAP) || queue_init(&r.from_guest, FROM_GUEST_CAP) ||
	    setup_signals(&r) < 0 || (r.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (r.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) < 0) {
		warnx("setup: %s", strerror(errno));
		return EXIT_LAUNCHER;
	}
	r.t0 = now_us();
	if (start_shares(&r) < 0 || start_vsockd(&r, self_dir) < 0 || start_vmm(&r, &argv) < 0) {
		stop_shares(&r);
		return EXIT_LAUNCHER;
	}
	start_timeout();
	if (stdin_open)
		r.stdin_fd = STDIN_FILENO;
	if (tty && stdin_open && term_raw(STDIN_FILENO) == 0)
		atexit(term_restore);

	loop(&r);

	if (r.vmm_pid > 0) {
		kill(r.vmm_pid, SIGKILL);
		waitpid(r.vmm_pid, &r.vmm_status, 0);
	}
	stop_shares(&r);
	if (o->qmp)
		unlink(o->qmp); /* QEMU leaves it behind when it is killed */
	term_restore();
	if (o->trace && r.exit_status >= 0)
		print_trace(&r);
	if (o->trace_json && r.exit_status >= 0)
		write_trace_json(&r, o->trace_json);
	if (r.exit_status >= 0)
		return r.exit_status;
	if (r.marker_status >= 0)
		return r.marker_status;
	return failure_status(&r);
}
