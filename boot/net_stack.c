/* pasta and passt for --net user (net_stack.h). */
#include "net_stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "child.h"
#include "err_text.h"
#include "msg.h"

struct words {
	char **argv;
	size_t n, max;
	char *buf;
	size_t used, size;
	int overflow;
};

static void word(struct words *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void word(struct words *w, const char *fmt, ...)
{
	if (w->n + 1 >= w->max || w->used >= w->size) {
		w->overflow = 1;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(w->buf + w->used, w->size - w->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= w->size - w->used) {
		w->overflow = 1;
		return;
	}
	w->argv[w->n++] = w->buf + w->used;
	w->argv[w->n] = NULL;
	w->used += (size_t)n + 1;
}

/* "-T 5432,6379" or "-T none": the host's loopback ports the namespace
 * may reach; pasta splices exactly these. */
static void host_ports(struct words *w, const struct run_opts *o)
{
	char list[OPTIONS_MAX_HOST_PORTS * 6 + 8] = "none";
	size_t at = 0;
	for (size_t i = 0; i < o->nhost_ports; i++)
		at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%u", i ? "," : "",
				       o->host_ports[i]);
	word(w, "-T");
	word(w, "%s", list);
}

int net_stack_argv(const struct run_opts *o, int as_root, char **argv, size_t max, char *buf,
		   size_t size)
{
	struct words w = { .argv = argv, .max = max, .buf = buf, .size = size };
	word(&w, "pasta");
	if (as_root) {
		/* pasta would become nobody, who cannot map the namespace's ids. */
		word(&w, "--runas");
		word(&w, "0");
	}
	word(&w, "--config-net");
	word(&w, "--no-map-gw"); /* the namespace's gateway is not the host */
	word(&w, "-q");
	host_ports(&w, o);
	word(&w, "-U");
	word(&w, "none");
	/* Published ports: the host's IP:PORT into the namespace's PORT... */
	int tcp = 0, udp = 0;
	for (size_t i = 0; i < o->npublish; i++) {
		const struct publish *p = &o->publish[i];
		word(&w, p->udp ? "-u" : "-t");
		word(&w, "%s/%u", p->host_ip, p->host_port);
		tcp |= !p->udp;
		udp |= p->udp;
	}
	if (!tcp) {
		word(&w, "-t");
		word(&w, "none");
	}
	if (!udp) {
		word(&w, "-u");
		word(&w, "none");
	}
	word(&w, "--");
	word(&w, "passt");
	word(&w, "-f");
	word(&w, "-q");
	word(&w, "-F");
	word(&w, "%d", NET_STACK_FD);
	word(&w, "-4");
	word(&w, "-a");
	word(&w, NET_GUEST_ADDR);
	word(&w, "-n");
	word(&w, "%d", NET_PREFIX);
	word(&w, "-g");
	word(&w, NET_GATEWAY);
	word(&w, "--dns-forward");
	word(&w, NET_DNS);
	/* ...and from there to the guest's port. The gateway stays mapped to
	 * the namespace's loopback: host.wisp.internal:PORT reaches pasta's
	 * splice for the ports of -T, and nothing else. */
	for (size_t i = 0; i < o->npublish; i++) {
		const struct publish *p = &o->publish[i];
		word(&w, p->udp ? "-u" : "-t");
		word(&w, "%u:%u", p->host_port, p->guest_port);
	}
	if (!tcp) {
		word(&w, "-t");
		word(&w, "none");
	}
	if (!udp) {
		word(&w, "-u");
		word(&w, "none");
	}
	return w.overflow ? -1 : 0;
}

int net_ports_free(const struct run_opts *o, char *err, size_t errlen)
{
	for (size_t i = 0; i < o->npublish; i++) {
		const struct publish *p = &o->publish[i];
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(p->host_port) };
		inet_pton(AF_INET, p->host_ip, &a.sin_addr);
		int fd = socket(AF_INET, (p->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
		int one = 1;
		if (fd >= 0)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		int saved = errno;
		if (fd >= 0)
			close(fd);
		if (!ok)
			return err_fail(err, errlen, "-p %s:%u/%s: %s", p->host_ip, p->host_port,
					p->udp ? "udp" : "tcp", strerror(saved));
	}
	return 0;
}

int net_stack_start(const struct run_opts *o, int err_fd, pid_t *pid)
{
	char *argv[128], buf[8192];
	if (net_stack_argv(o, geteuid() == 0, argv, 128, buf, sizeof(buf)) < 0) {
		msg_warn("--net user: too many ports");
		return -1;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		msg_warn("socketpair: %s", strerror(errno));
		return -1;
	}
	pid_t parent = getpid();
	*pid = fork();
	if (*pid < 0) {
		msg_warn("fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (*pid == 0) {
		/* pasta's warnings as root (uid_map, ping_group_range) are
		 * noise: they go to the log or --verbose only. */
		int null = child_prepare(parent, SIGTERM);
		if (dup2(sv[0], NET_STACK_FD) < 0 ||
		    dup2(err_fd >= 0 ? err_fd : null, STDERR_FILENO) < 0)
			_exit(127);
		execvp(argv[0], argv);
		dprintf(STDERR_FILENO, "wisp: --net user: cannot run pasta: %s\n", strerror(errno));
		_exit(127);
	}
	close(sv[0]);
	return sv[1];
}
