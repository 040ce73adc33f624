/* The pure half of --net user (net_stack.h): the text given to QEMU and
 * to slirp4netns, apart so that unit tests reach it. */
#include "net_stack.h"

#include <stdarg.h>
#include <stdio.h>

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

uint16_t net_ns_port(const struct run_opts *o, size_t i)
{
	unsigned port = NET_NS_PORT_BASE;
	for (size_t k = 0;; port++) {
		int taken = 0;
		for (size_t j = 0; j < o->nhost_ports; j++)
			taken |= o->host_ports[j] == port;
		if (!taken && k++ == i)
			return (uint16_t)port;
	}
}

int net_qemu_netdev(const struct run_opts *o, char *buf, size_t size)
{
	/* No IPv6: the guest's kernel has none. The host's own address
	 * (host=) is the gateway, which slirp maps to 127.0.0.1: the
	 * namespace's, where only the --host-port relays listen. */
	int n = snprintf(buf, size,
			 "user,id=net0,net=" NET_GUEST_ADDR "/%d,host=" NET_GATEWAY ",ipv6=off",
			 NET_PREFIX);
	size_t at = n < 0 ? size : (size_t)n;
	/* -p: from the namespace's loopback, where wisp relays the host's
	 * port, to the guest's. */
	for (size_t i = 0; i < o->npublish && at < size; i++) {
		const struct publish *p = &o->publish[i];
		n = snprintf(buf + at, size - at, ",hostfwd=%s:127.0.0.1:%u-:%u",
			     p->udp ? "udp" : "tcp", net_ns_port(o, i), p->guest_port);
		at = n < 0 ? size : at + (size_t)n;
	}
	return at < size ? 0 : -1;
}

int net_slirp_argv(pid_t pid, int as_root, int ready_fd, char **argv, size_t max, char *buf,
		   size_t size)
{
	struct words w = { .argv = argv, .max = max, .buf = buf, .size = size };
	word(&w, "slirp4netns");
	word(&w, "--configure");
	word(&w, "--mtu=%d", NET_MTU);
	/* The one line that keeps the guest off the host's loopback. */
	word(&w, "--disable-host-loopback");
	word(&w, "--cidr=" NET_NS_CIDR);
	/* It parses what the guest sends: as root, an empty root and a
	 * syscall filter of its own once it runs (its sandbox fails in a
	 * user namespace: "parent failed"). */
	if (as_root) {
		word(&w, "--enable-sandbox");
		word(&w, "--enable-seccomp");
	}
	word(&w, "--ready-fd=%d", ready_fd);
	/* Not root: the namespace belongs to the keeper's user namespace,
	 * which slirp4netns must enter first to join it. */
	if (!as_root)
		word(&w, "--userns-path=/proc/%d/ns/user", (int)pid);
	word(&w, "%d", (int)pid);
	word(&w, "tap0");
	return w.overflow ? -1 : 0;
}
