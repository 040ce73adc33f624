#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/wire.h"
#include "config.h"
#include "log.h"
#include "session.h"
#include "spawn.h"
#include "supervise.h"
#include "timesync.h"
#include "trace.h"
#include "vm_sockets.h"

/* The agent's listening socket, the one fd it keeps past the console. */
#define AGENT_LISTEN_FD 3
/* How long a connection may take to say what it wants. */
#define REQUEST_TIMEOUT_MS 10000
/* After the command exits and its own output is read, how long output from
 * what it left behind may still flow before the EXIT frame closes the
 * exchange. */
#define LINGER_MS 100
/* A shutdown of the VM (SIGTERM to every process) gives a command this long
 * to end before its group gets SIGKILL, as PID 1 gives its own command. */
#define TERM_GRACE_MS 10000

static int read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int write_frame(int fd, uint8_t type, const void *p, uint32_t len)
{
	uint8_t hdr[WIRE_HDR_SIZE];
	wire_put_header(hdr, type, len);
	if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
		return -1;
	return len == 0 || write(fd, p, len) == (ssize_t)len ? 0 : -1;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* `wisp run`'s command: the VM ends with it. Not before the host hangs up,
 * though, however long that takes: until then the EXIT frame, and output
 * before it, may still sit in wisp-vsockd's queue behind a slow reader. The
 * host hangs up as soon as it has EXIT, and QEMU dies with the host. */
static _Noreturn void end_vm_once_host_hangs_up(int fd, pid_t boss)
{
	char buf[256];
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			break;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			break;
	}
	log_info("agent: the command is done: shutting down");
	kill(boss, SIGTERM);
	_exit(0);
}

/* The command's exec pipe (spawn.h), beside the session's own fds. */
enum { TAG_LOADED = TAG_OWNER + 1 };

/* Runs one command for one connection, relaying its stdio; never returns. */
static _Noreturn void run_exec(int fd, struct config *cfg, pid_t boss)
{
	struct command cmd = { .pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1, .exec_fd = -1 };
	struct session s;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	/* The VM shuts down: the relay stays to report how the command ended. */
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN); /* the command may exit with its stdin unread */
	int sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sigfd < 0 || epfd < 0 || session_init(&s, fd, &cmd) < 0)
		_exit(1);
	/* Right after a pause the clock is behind: fix it before the command. */
	char facts[TIMESYNC_FACTS_MAX];
	size_t nfacts = timesync_check(facts, sizeof(facts));
	if (nfacts)
		write_frame(fd, WIRE_TRACE, facts, (uint32_t)nfacts);
	struct trace trace = { .n = 0 };
	trace_mark(&trace, "exec");
	if (spawn_command(cfg, -1, &cmd) < 0) {
		uint8_t exit_payload[WIRE_EXIT_SIZE];
		wire_put_exit(exit_payload, WIRE_SETUP, 0);
		write_frame(fd, WIRE_EXIT, exit_payload, sizeof(exit_payload));
		if (cfg->poweroff)
			end_vm_once_host_hangs_up(fd, boss);
		_exit(1);
	}
	/* The relay owns the connection from here, non-blocking. */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	trace_mark(&trace, "spawned");
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_OWNER };
	epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &ev);
	struct epoll_event loaded = { .events = EPOLLIN, .data.u32 = TAG_LOADED };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, cmd.exec_fd, &loaded) < 0) {
		close(cmd.exec_fd);
		cmd.exec_fd = -1;
	}
	int status = 0, exited = 0, reported = 0;
	long long deadline = 0, kill_at = 0;
	for (;;) {
		/* What the command wrote is the host's however slowly it reads;
		 * only later writers (a daemon holding stdout) get a deadline. */
		if (exited && !deadline)
			session_read_owed(&s);
		long long now = now_ms();
		if (exited && !deadline && !session_output_owed(&s))
			deadline = now + LINGER_MS;
		int gave_up = deadline && now >= deadline;
		if (exited && !reported && (session_output_done(&s) || gave_up)) {
			session_abandon_output(&s);
			char text[TRACE_MAX * 40];
			size_t len = trace_format(&trace, text, sizeof(text));
			session_send(&s, WIRE_TRACE, text, (uint32_t)len);
			uint8_t how, p[WIRE_EXIT_SIZE];
			int32_t value;
			wire_exit_from_wait(status, &how, &value);
			wire_put_exit(p, how, value);
			session_send(&s, WIRE_EXIT, p, sizeof(p));
			reported = 1;
		}
		if (reported && session_flushed(&s)) {
			if (cfg->poweroff)
				end_vm_once_host_hangs_up(fd, boss);
			_exit(0);
		}
		session_arm(&s, epfd);
		struct epoll_event evs[8];
		if (kill_at && !exited && now >= kill_at) {
			kill(-cmd.pid, SIGKILL);
			kill_at = 0;
		}
		/* epoll_wait takes any negative timeout for "forever". */
		long long wake = !reported && deadline ? deadline : !exited ? kill_at : 0;
		int timeout = wake ? (int)(wake > now ? wake - now : 0) + 1 : -1;
		int n = epoll_wait(epfd, evs, 8, timeout);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == TAG_LOADED) {
				trace_mark(&trace, "loaded");
				close(cmd.exec_fd); /* closing drops it from the epoll set */
				cmd.exec_fd = -1;
				continue;
			}
			if (evs[i].data.u32 != TAG_OWNER) {
				session_event(&s, evs[i].data.u32, evs[i].events);
				continue;
			}
			struct signalfd_siginfo si;
			while (read(sigfd, &si, sizeof(si)) == sizeof(si))
				if (si.ssi_signo == SIGTERM && !exited && !kill_at) {
					kill(-cmd.pid, SIGTERM);
					kill_at = now_ms() + TERM_GRACE_MS;
				}
			int st;
			pid_t pid;
			while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
				if (pid == cmd.pid && !exited) {
					trace_mark(&trace, "exited");
					exited = 1;
					status = st;
					session_command_ended(&s);
				}
		}
		if (s.chan < 0 && !exited && cmd.pid > 0) {
			/* The host hung up: the command goes with it. */
			kill(-cmd.pid, SIGHUP);
		}
		if (s.chan < 0 && exited)
			_exit(0);
	}
}

/* One connection: HELLO, then one request. */
static _Noreturn void serve(int fd, pid_t boss)
{
	uint8_t version[4];
	wire_put_u32(version, WIRE_VERSION);
	struct timeval tv = { REQUEST_TIMEOUT_MS / 1000, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (write_frame(fd, WIRE_HELLO, version, sizeof(version)) < 0)
		_exit(1);
	static uint8_t buf[WIRE_HDR_SIZE + WIRE_MAX_PAYLOAD];
	struct wire_frame f;
	if (read_full(fd, buf, WIRE_HDR_SIZE) < 0)
		_exit(1);
	uint32_t len = wire_get_u32(buf + 4);
	if (len > WIRE_MAX_PAYLOAD || read_full(fd, buf + WIRE_HDR_SIZE, len) < 0 ||
	    wire_parse(buf, WIRE_HDR_SIZE + len, &f) <= 0)
		_exit(1);
	tv.tv_sec = 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (f.type == WIRE_SHUTDOWN) {
		log_info("agent: shutdown asked by the host");
		kill(boss, SIGTERM);
		_exit(0);
	}
	if (f.type != WIRE_EXEC) {
		log_warn("agent: unexpected frame type %u", f.type);
		_exit(1);
	}
	static struct config cfg;
	if (config_parse((const char *)f.payload, f.len, &cfg) < 0)
		_exit(1);
	for (size_t i = 0; i < cfg.nwarnings; i++)
		write_frame(fd, WIRE_LOG, cfg.warnings[i], (uint32_t)strlen(cfg.warnings[i]));
	run_exec(fd, &cfg, boss);
}

/* Tells the host the agent listens: the notice (frames) to the host's ready
 * port. From a process of its own, since the host may be slow or absent. */
static void announce_ready(int listener, const void *notice, size_t len, pid_t boss)
{
	pid_t pid = fork();
	if (pid != 0) {
		if (pid < 0)
			log_warn("agent: fork: %s", strerror(errno));
		return;
	}
	/* It may outlive the agent: a new agent must be able to listen. */
	close(listener);
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_vm a = { .svm_family = AF_VSOCK,
				 .svm_port = WIRE_READY_PORT,
				 .svm_cid = VMADDR_CID_HOST };
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		_exit(1); /* nobody waits for it: not an error */
	const char *p = notice;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(1);
		p += w;
		len -= (size_t)w;
	}
	/* HELLO ends the notice, and the host may send its first request
	 * right here: a connection and a process fewer on the way to the
	 * command. The relay waits for its own children, so they are not
	 * reaped behind its back as the agent's are. */
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigaction(SIGCHLD, &sa, NULL);
	serve(fd, boss);
}

static _Noreturn void agent_loop(int listener, const void *notice, size_t notice_len, pid_t boss)
{
	/* Handlers are reaped here; the agent itself never waits on them. */
	signal(SIGCHLD, SIG_DFL);
	struct sigaction sa = { .sa_handler = SIG_DFL, .sa_flags = SA_NOCLDWAIT };
	sigaction(SIGCHLD, &sa, NULL);
	if (notice)
		announce_ready(listener, notice, notice_len, boss);
	for (;;) {
		struct sockaddr_vm peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(listener, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR)
				log_warn("agent: accept: %s", strerror(errno));
			continue;
		}
		/* Only the host may ask: not a guest process over loopback. */
		if (peer.svm_cid != VMADDR_CID_HOST) {
			log_warn("agent: refused a connection from CID %u", peer.svm_cid);
			close(fd);
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(listener);
			sa.sa_flags = 0;
			sigaction(SIGCHLD, &sa, NULL);
			serve(fd, boss);
		}
		if (pid < 0)
			log_warn("agent: fork: %s", strerror(errno));
		close(fd);
	}
}

/* A virtio device of type 19 (vsock): without one there is no host to serve. */
static int have_vsock_device(void)
{
	DIR *d = opendir("/sys/bus/virtio/devices");
	if (!d)
		return 0;
	struct dirent *e;
	int found = 0;
	while (!found && (e = readdir(d))) {
		char path[300], id[16] = "";
		snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/device", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, id, sizeof(id) - 1);
		close(fd);
		found = n > 0 && !strncmp(id, "0x0013", 6);
	}
	closedir(d);
	return found;
}

pid_t agent_start(const void *notice, size_t notice_len)
{
	if (!have_vsock_device())
		return -1;
	int listener = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listener < 0)
		return -1; /* no vsock in this VM: not an error */
	struct sockaddr_vm a = { .svm_family = AF_VSOCK,
				 .svm_port = WIRE_AGENT_PORT,
				 .svm_cid = VMADDR_CID_ANY };
	if (bind(listener, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(listener, 64) < 0) {
		log_warn("agent: listen on vsock port %d: %s", WIRE_AGENT_PORT, strerror(errno));
		close(listener);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_warn("agent: fork: %s", strerror(errno));
		close(listener);
		return -1;
	}
	if (pid == 0) {
		/* Who ends the VM when asked: PID 1, or the process beside a
		 * distro's init that does wisp-init's work (handoff.h). */
		pid_t boss = getppid();
		signals_reset();
		/* Nothing of PID 1's but the console on 0-2: its signalfd, timers
		 * and port are not the agent's, nor its commands'. */
		if (listener != AGENT_LISTEN_FD) {
			if (dup3(listener, AGENT_LISTEN_FD, O_CLOEXEC) < 0)
				_exit(1);
			listener = AGENT_LISTEN_FD;
		}
		if (syscall(SYS_close_range, AGENT_LISTEN_FD + 1, ~0U, 0) < 0)
			_exit(1);
		log_open(); /* a log fd of its own: PID 1's went with the rest */
		agent_loop(listener, notice, notice_len, boss);
	}
	close(listener);
	return pid;
}
