/* --net user: the guest's NIC backed by passt, run inside a user and
 * network namespace of pasta's (docs/network.md). The namespace is what
 * keeps an untrusted guest off the host's loopback: whatever the guest
 * sends to 127.0.0.1 or to the gateway lands on the namespace's own
 * loopback, where only the --host-port splices lead out. */
#ifndef WISP_NET_STACK_H
#define WISP_NET_STACK_H

#include <stddef.h>
#include <sys/types.h>

#include "options.h"

/* The guest's side of the user-mode network, fixed: slirp's numbers. */
#define NET_GUEST_ADDR "10.0.2.15"
#define NET_PREFIX 24
#define NET_GATEWAY "10.0.2.2" /* also host.wisp.internal */
#define NET_DNS "10.0.2.3"
#define NET_MTU 65520

/* The argv of pasta running passt on fd 5 for o's ports, into argv (at
 * most max entries; the strings in buf). Pure. 0, or -1 when too long. */
#define NET_STACK_FD 5
int net_stack_argv(const struct run_opts *o, int as_root, char **argv, size_t max, char *buf,
		   size_t size);

/* Each -p host address and port is free to bind now: 0, or -1 with one
 * line in err ("-p 127.0.0.1:8080: Address already in use"). */
int net_ports_free(const struct run_opts *o, char *err, size_t errlen);

/* Starts the stack: the fd QEMU's -netdev stream takes, the helper's pid
 * in *pid; -1 with a message said. */
int net_stack_start(const struct run_opts *o, int err_fd, pid_t *pid);

#endif
