/* wisp-init: the PID 1 of a wisp VM. main() is the boot order of
 * DESIGN.md, one call per step; supervise() is the rest of PID 1's life. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "../common/notice.h"
#include "../common/wire.h"
#include "agent.h"
#include "channel.h"
#include "config.h"
#include "etc_files.h"
#include "forward.h"
#include "handoff.h"
#include "log.h"
#include "mounts.h"
#include "net.h"
#include "rootfs.h"
#include "session.h"
#include "shares.h"
#include "shutdown.h"
#include "spawn.h"
#include "supervise.h"
#include "timesync.h"
#include "trace.h"

#define CMDLINE_MAX 65536
/* How long the host gets to name its virtio port after the driver probed. */
#define CHANNEL_WAIT_MS 3000

static int open_console(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		log_warn("open /dev/console: %s", strerror(errno));
	return fd;
}

static void read_config(struct config *c)
{
	static char text[CMDLINE_MAX];
	ssize_t n = 0;
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, text, sizeof(text))) < 0) {
		log_warn("read /proc/cmdline: %s", strerror(errno));
		n = 0;
	}
	if (fd >= 0)
		close(fd);
	if (config_parse(text, (size_t)n, c) < 0) {
		log_warn("out of memory parsing the command line");
		config_parse("", 0, c);
	}
	for (size_t i = 0; i < c->nwarnings; i++)
		log_warn("%s", c->warnings[i]);
}

static void set_hostname(const struct config *c)
{
	if (sethostname(c->hostname, strlen(c->hostname)) < 0)
		log_warn("sethostname: %s", strerror(errno));
}

/* The serial console carries raw bytes when it is the command's stdio. */
static void console_raw(int fd)
{
	struct termios t;
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
}

static int open_channel(const struct config *c)
{
	if (c->io == IO_CONSOLE || c->io == IO_VSOCK ||
	    (c->io == IO_AUTO && !channel_ports_exist()))
		return -1;
	return channel_open(CHANNEL_WAIT_MS);
}

static void forward_log(void *ctx, const char *line)
{
	session_send(ctx, WIRE_LOG, line, (uint32_t)strlen(line));
}

/* Serving the agent, PID 1 has no stream of its own: what it has to say
 * reaches the host in the ready notice (common/notice.h), as frames; what
 * does not fit is dropped. */
static void notice_log(void *ctx, const char *line)
{
	notice_add_log(ctx, line, (uint32_t)strlen(line));
}

static void say_hello(struct session *s)
{
	uint8_t version[4];
	wire_put_u32(version, WIRE_VERSION);
	session_send(s, WIRE_HELLO, version, sizeof(version));
}

int main(int argc, char **argv)
{
	static struct config cfg;
	static struct session session;
	static struct trace trace;
	struct command cmd = { .pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1, .exec_fd = -1 };

	if (getpid() != 1) {
		fprintf(stderr, "wisp-init: must run as PID 1\n");
		return 1;
	}
	trace_mark(&trace, "init");
	/* 1. The basic filesystems, lo, the hostname, the console. */
	mount_basics();
	log_open();
	loopback_up();
	int console_fd = open_console();
	trace_mark(&trace, "mounted");
	/* 2. The configuration, from the kernel command line. */
	read_config(&cfg);
	set_hostname(&cfg);
	int sigfd = signals_setup();
	/* The host channel first, so that what goes wrong next reaches the user. */
	int chan = open_channel(&cfg);
	if (session_init(&session, chan, &cmd) < 0) {
		log_warn("out of memory");
		power_off();
	}
	static struct notice_out notice;
	int serving = cfg.io == IO_VSOCK;
	void (*sink)(void *, const char *) = serving ? notice_log : forward_log;
	void *sink_ctx = serving ? (void *)&notice : (void *)&session;
	log_set_sink(sink, sink_ctx);
	for (size_t i = 0; i < cfg.nwarnings; i++) {
		char line[CONFIG_WARNING_LEN + 16];
		snprintf(line, sizeof(line), "wisp-init: %s", cfg.warnings[i]);
		sink(sink_ctx, line);
	}
	trace_mark(&trace, "channel");
	/* Asked for the port and it is not there: the output would go nowhere. */
	int channel_ok = chan >= 0 || cfg.io != IO_VIRTIO;
	/* The real root, when one was asked for (--rootfs): everything
	 * after this happens inside it. */
	int root_ok = channel_ok && rootfs_switch(&cfg) == 0;
	if (cfg.root.kind != ROOT_NONE)
		trace_mark(&trace, "root");
	/* The NIC (--net user) and the /etc files that name the network, in
	 * the root the command will see. A NIC that fails is a warning: the
	 * command may not need it. */
	if (cfg.net.on) {
		net_up(&cfg);
		trace_mark(&trace, "net");
	}
	etc_write_network(&cfg);
	/* 3. The shares: a command never runs on a share that failed. */
	int shares_ok = root_ok && mount_shares(&cfg) == 0;
	trace_mark(&trace, "shares");
	/* 5. The clock, from the host, before anything can read it: before
	 * the agent (4), which could start a command. */
	timesync_boot(&cfg, &trace);
	trace_mark(&trace, "clock");
	/* --init: the root's own init takes PID 1; this process goes on
	 * beside it once it is ready. */
	if (cfg.init && shares_ok) {
		handoff(&cfg, argc > 0 ? argv[0] : NULL);
		handoff_wait_ready();
		trace_mark(&trace, "distro-init");
	}
	/* 4. The agent, for the host's requests over vsock. Serving only those,
	 * it tells the host when it listens: the boot trace, PID 1's warnings
	 * and, when a share failed, a status of 125 go with the notice. */
	if (serving) {
		char text[TRACE_MAX * 40];
		trace_mark(&trace, "agent");
		size_t len = trace_format(&trace, text, sizeof(text));
		log_set_sink(NULL, NULL);
		notice_add(&notice, WIRE_TRACE, text, (uint32_t)len);
		if (!shares_ok) {
			uint8_t status[WIRE_EXIT_SIZE];
			wire_put_exit(status, WIRE_SETUP, 0);
			notice_add(&notice, WIRE_EXIT, status, sizeof(status));
		}
		pid_t agent = agent_start(notice.buf, notice.len);
		if (agent < 0) {
			log_warn("no vsock agent to serve the host: powering off");
			power_off();
		}
		/* Localhost ports to the host, if it asked (forward.h). */
		forward_start();
		supervise(&cfg, sigfd, -1, &session, &cmd, &trace, agent);
	}
	pid_t agent = agent_start(NULL, 0);
	if (agent > 0)
		forward_start();
	say_hello(&session);
	/* 6. The user's command; without a channel, on the console. The
	 * agent (4) serves `wisp exec`s beside it. */
	int stdio_console = chan < 0 ? console_fd : -1;
	if (stdio_console >= 0 && !cfg.tty)
		console_raw(stdio_console);
	if (!shares_ok || spawn_command(&cfg, stdio_console, &cmd) < 0)
		cmd.pid = -1;
	trace_mark(&trace, "spawned");
	/* 7-8. Supervise until the command ends, then power off. */
	supervise(&cfg, sigfd, console_fd, &session, &cmd, &trace, agent);
}
