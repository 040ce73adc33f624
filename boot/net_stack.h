/* --net user (docs/network.md): the guest's NIC is QEMU's slirp, and the
 * VMM runs in a network namespace of its own (net_ns.h), joined to the host
 * by slirp4netns with the host's loopback cut off. Whatever the guest sends
 * to 127.0.0.1 or to the gateway lands on the namespace's own loopback,
 * where only the --host-port relays listen (host_port.h); -p is relayed by
 * wisp to QEMU's hostfwd there (net_publish.h). */
#ifndef WISP_NET_STACK_H
#define WISP_NET_STACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "host_port.h"
#include "loop.h"
#include "net_ns.h"
#include "net_publish.h"
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
/* Where QEMU's hostfwd for the i-th -p listens in the namespace. */
#define NET_NS_PORT_BASE 40000
/* Room for net_qemu_netdev()'s value. */
#define NET_NETDEV_MAX (128 + OPTIONS_MAX_PUBLISH * 48)

struct net_stack {
	struct net_ns ns;
	struct net_publish publish;
	struct host_ports ports;
	pid_t slirp;  /* slirp4netns; 0 before it starts, -1 once reaped */
	int released; /* the command is over: slirp4netns may go */
	struct loop *loop;
	struct watch err; /* slirp4netns's stderr */
	int err_fd;       /* where it goes: the log, wisp's stderr, or -1 */
	char tail[512];   /* the end of it, for why it failed */
	size_t tail_len;
	struct watch ready; /* slirp4netns's ready fd, until it answers */
	int up;             /* slirp4netns configured the namespace */
	/* Called from the loop when it did (why NULL) or failed (one line). */
	void (*on_up)(struct net_stack *n, const char *why);
};

/* --- pure (net_args.c) --- */

/* QEMU's -netdev value for o (slirp, with -p's hostfwd). 0, or -1 when it
 * does not fit. */
int net_qemu_netdev(const struct run_opts *o, char *buf, size_t size);
/* slirp4netns's argv for the keeper's pid (as_root: no user namespace to
 * enter) and its ready fd. 0, or -1 when too long. */
int net_slirp_argv(pid_t pid, int as_root, int ready_fd, char **argv, size_t max, char *buf,
		   size_t size);
/* The namespace's port of the i-th -p: NET_NS_PORT_BASE + i, stepping over
 * the --host-port ports, which listen there too. */
uint16_t net_ns_port(const struct run_opts *o, size_t i);

/* --- the stack --- */

void net_stack_init(struct net_stack *n);
/* Before the VMM's fork: binds -p's ports, starts the namespace's keeper
 * and slirp4netns (its stderr to err_fd, else dropped) and the relays.
 * slirp4netns configures the namespace meanwhile: on_up() tells when.
 * -1 with a message said. Either way the processes started are in
 * n->ns.pid and n->slirp, for the caller to stop. */
int net_stack_start(struct net_stack *n, struct loop *l, const struct run_opts *o, int err_fd);
/* Waits (bounded) until slirp4netns is up, for a guest that may use the
 * network from its first instruction. 0, or -1 with a message said. */
int net_stack_wait_up(struct net_stack *n);
/* In the VMM's child, before exec: joins the namespace, or says why on
 * stderr and exits 125. */
void net_stack_join(const struct net_stack *n);
/* Closes every relay and socket (the processes are the caller's). */
void net_stack_free(struct net_stack *n);

#endif
