/* --host-port PORT: the guest reaches the host's 127.0.0.1:PORT, and only
 * those ports, as host.wisp.internal:PORT. QEMU's slirp sends what the
 * guest addresses to the gateway to 127.0.0.1 in the VMM's network
 * namespace (net_ns.h); wisp listens there on exactly these ports, with
 * sockets the namespace's keeper made, and relays each connection to the
 * same port on the host's loopback. */
#ifndef WISP_HOST_PORT_H
#define WISP_HOST_PORT_H

#include <stddef.h>

#include "loop.h"
#include "options.h"
#include "splice.h"

/* Connections relayed at once, all ports together; more wait in the
 * listeners' backlog. */
#define HOST_PORT_MAX_CONNS 64

struct host_ports;

struct host_port_listener {
	struct watch w;
	unsigned short port;
	struct host_ports *owner;
};

/* A slot, never freed while the loop runs: an event fetched in the same
 * turn may still name its watches. */
struct host_port_conn {
	struct host_ports *owner;
	int used;
	int guest_fd;            /* accepted in the namespace, until the splice has it */
	struct watch connecting; /* the host's side, while connect() is under way */
	struct splice s;
};

struct host_ports {
	struct loop *loop;
	struct host_port_listener l[OPTIONS_MAX_HOST_PORTS];
	size_t n;
	struct host_port_conn conns[HOST_PORT_MAX_CONNS];
	size_t nconns;
};

void host_ports_init(struct host_ports *h);
/* Takes the listeners (fds[i] listens for ports[i]), even on failure. */
int host_ports_start(struct host_ports *h, struct loop *l, const int *fds,
		     const unsigned short *ports, size_t n);
/* Closes the listeners and every connection. */
void host_ports_free(struct host_ports *h, struct loop *l);

#endif
