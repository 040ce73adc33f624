/* The network namespace of --net user, held by a small process of wisp's
 * (the keeper) that makes sockets in it on request. The keeper enters a new
 * network namespace (with a user namespace when wisp is not root, mapping
 * only wisp's own ids), brings up its loopback and hands wisp the
 * --host-port listeners; the VMM joins the namespace before exec and
 * slirp4netns joins it to the host. Sockets in a namespace can only be made
 * from inside it, so each -p connection's way in is a socket the keeper
 * makes and passes back over a SOCK_SEQPACKET pair (SCM_RIGHTS). */
#ifndef WISP_NET_NS_H
#define WISP_NET_NS_H

#include <stdint.h>
#include <sys/types.h>

#include "loop.h"
#include "options.h"

/* A request for a socket in the namespace, connected (TCP: connecting,
 * non-blocking) to its 127.0.0.1:port. */
struct ns_pending;

struct ns_request {
	void (*done)(struct ns_request *r, int fd, int err); /* fd, or -1 and errno */
	uint8_t udp;
	uint16_t port;
};

struct net_ns {
	pid_t pid; /* the keeper, or 0 */
	struct loop *loop;
	struct watch ctl;                 /* the pair with the keeper */
	int userns_fd, netns_fd;          /* for the VMM's child to join; -1 */
	struct ns_pending *queue, **tail; /* sent, answered in order */
};

/* Forks the keeper and waits (bounded) for its namespaces and the
 * --host-port listeners, which go into listeners[] in o's order. -1 with a
 * message said; the keeper, if any, is in n->pid for the caller to stop. */
int net_ns_start(struct net_ns *n, struct loop *l, const struct run_opts *o, int *listeners);
/* In the VMM's child, before exec: joins the namespaces. 0, or -1 with
 * errno. */
int net_ns_join(const struct net_ns *n);
/* Asks for a socket; r->done() is called from the loop, or at once with an
 * error when the keeper cannot be asked. */
void net_ns_request(struct net_ns *n, struct ns_request *r);
/* Takes r out of the queue: its done() is not called, the socket made for
 * it is closed on arrival. */
void net_ns_cancel(struct net_ns *n, const struct ns_request *r);
/* Closes the pair (the keeper ends with it); queued requests are dropped. */
void net_ns_free(struct net_ns *n);

#endif
