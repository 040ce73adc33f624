/* -p HOST_IP:HOST_PORT:GUEST_PORT[/udp]: wisp binds the host's side itself
 * (so a port in use fails at once, with the kernel's reason), and relays
 * each TCP connection, each UDP peer, to QEMU's hostfwd on the namespace's
 * 127.0.0.1 (net_ns.h), a socket the namespace's keeper makes for it.
 * QEMU's slirp takes it from there to the guest's port. */
#ifndef WISP_NET_PUBLISH_H
#define WISP_NET_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>

#include "loop.h"
#include "net_ns.h"
#include "options.h"
#include "splice.h"

/* TCP connections and UDP peers relayed at once, all ports together, and
 * each port gets an equal share of them, so that clients of one port
 * cannot starve another. More connections wait in the backlog; a new UDP
 * peer past its port's share takes the place of that port's peer heard
 * from longest ago. */
#define PUBLISH_MAX_CONNS 64
#define PUBLISH_MAX_PEERS 64

struct net_publish;

struct publish_port {
	struct watch w;
	const struct publish *p;
	uint16_t ns_port;
	struct net_publish *owner;
	size_t nconns, npeers; /* its own, against its share */
};

/* Slots, never freed while the loop runs: an event fetched in the same
 * turn may still name their watches. */

/* One TCP connection: the host's client, and its way into the namespace. */
struct publish_conn {
	struct publish_port *port;
	int used;
	int client_fd; /* until the splice has it */
	struct ns_request req;
	int requested;           /* req is queued at the keeper */
	struct watch connecting; /* the namespace's socket until connected */
	struct splice s;
};

/* One UDP peer of a published port and its socket in the namespace. */
struct publish_peer {
	struct publish_port *port;
	int used;
	struct sockaddr_in addr;
	unsigned long long heard; /* when, in datagrams of all peers */
	struct ns_request req;
	int requested;
	struct watch w; /* the namespace's socket, once it came */
	char *first;    /* what the peer sent before it came */
	size_t first_len;
};

struct net_publish {
	struct loop *loop;
	struct net_ns *ns;
	struct publish_port ports[OPTIONS_MAX_PUBLISH];
	size_t n;
	struct publish_conn conns[PUBLISH_MAX_CONNS];
	size_t nconns;
	size_t conn_share, peer_share; /* each TCP, each UDP port's */
	struct publish_peer peers[PUBLISH_MAX_PEERS];
	unsigned long long heard;
};

void net_publish_init(struct net_publish *pb);
/* Binds every -p port on the host: 0, or -1 with one line in err
 * ("-p 127.0.0.1:8080/tcp: Address already in use"). */
int net_publish_bind(struct net_publish *pb, const struct run_opts *o, char *err, size_t errlen);
/* Relays from now on, through ns. */
int net_publish_start(struct net_publish *pb, struct loop *l, struct net_ns *ns);
void net_publish_free(struct net_publish *pb);

#endif
