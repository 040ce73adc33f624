/* --net user (docs/network.md): the guest's NIC is QEMU's slirp, and the
 * VMM runs in a network namespace of its own (a user namespace too when
 * wisp is not root), joined to the host by slirp4netns with the host's
 * loopback cut off. Whatever the guest sends to 127.0.0.1 or to the
 * gateway lands on the namespace's own loopback, where wisp listens only
 * on the --host-port ports and relays those to the host's 127.0.0.1
 * (host_port.h). -p is slirp4netns's port forward to the namespace and
 * QEMU's hostfwd from there to the guest. */
#ifndef WISP_NET_STACK_H
#define WISP_NET_STACK_H

#include <stddef.h>
#include <sys/types.h>

#include "host_port.h"
#include "loop.h"
#include "options.h"

/* The guest's side, fixed: slirp's numbers. The resolver is slirp4netns's,
 * reached through QEMU's NAT, so that a host resolver on 127.0.0.53 works
 * (QEMU's own, in the namespace, could not reach it). */
#define NET_GUEST_ADDR "10.0.2.15"
#define NET_PREFIX 24
#define NET_GATEWAY "10.0.2.2" /* also host.wisp.internal */
#define NET_DNS "10.0.3.3"
#define NET_MTU 65520
/* The namespace's side of slirp4netns: another subnet than the guest's. */
#define NET_NS_CIDR "10.0.3.0/24"

struct net_stack {
	pid_t pid;    /* slirp4netns, or 0 */
	int sync_fd;  /* wisp's end of the pair with the VMM's child */
	int child_fd; /* the child's end, until the fork */
	char api[128];
	struct host_ports ports;
	struct loop *loop;
	struct watch err; /* slirp4netns's stderr */
	int err_fd;       /* where it goes: the log, wisp's stderr, or -1 */
};

/* QEMU's -netdev value for o (slirp, with -p's hostfwd). Pure: 0, or -1
 * when it does not fit. */
int net_qemu_netdev(const struct run_opts *o, char *buf, size_t size);

/* slirp4netns's argv for the VMM's pid (as_root: no user namespace to
 * enter), its ready fd and API socket. Pure: 0, or -1 when too long. */
int net_slirp_argv(pid_t pid, int as_root, int ready_fd, const char *api, char **argv, size_t max,
		   char *buf, size_t size);

/* slirp4netns's add_hostfwd request for p. Pure. */
int net_hostfwd_request(const struct publish *p, char *buf, size_t size);

/* Each -p host address and port is free to bind now: 0, or -1 with one
 * line in err ("-p 127.0.0.1:8080/tcp: Address already in use"). */
int net_ports_free(const struct run_opts *o, char *err, size_t errlen);

/* Before the VMM's fork: the pair the child and wisp talk over. */
int net_stack_prepare(struct net_stack *n);
/* In the VMM's child, before exec: enters the namespaces, brings up lo,
 * hands wisp the --host-port listeners and waits for slirp4netns to be
 * ready. Says why on stderr and exits 125 when it cannot. */
void net_stack_enter(const struct run_opts *o, int fd);
/* In wisp, after the fork: starts slirp4netns for the child (its stderr
 * to err_fd), adds -p's forwards, lets the child go on and starts the
 * --host-port relays. dir: where the API socket goes. -1 with a message. */
int net_stack_attach(struct net_stack *n, struct loop *l, const struct run_opts *o, pid_t child,
		     const char *dir, int err_fd);
/* Closes what is left (slirp4netns is the caller's helper to stop). */
void net_stack_free(struct net_stack *n, struct loop *l);

#endif
