/* The host half of localhost port forwarding (docs/protocol.md,
 * "Forwarded ports"), in the event loop of the process that keeps the VM:
 * it takes the guest forwarder's announcements on <vsock>_5255, listens on
 * 127.0.0.1:PORT for each port the guest announces (and stops when it is
 * gone), and joins each client to a fresh connection to the guest's
 * forwarder (vsock port 5256) with a splice. The ports forwarded are in
 * <dir>/ports, one per line, for `wisp port`. Everything the guest sends
 * is bounded and checked: at most PORT_LIST_MAX ports, FWD_MAX_CONNS
 * connections at once, lines of PORT_LINE_MAX bytes; a broken stream is
 * closed and logged. */
#ifndef WISP_PORT_FORWARD_H
#define WISP_PORT_FORWARD_H

#include <stdint.h>

#include "../common/port_list.h"
#include "hybrid.h"
#include "loop.h"
#include "runtime.h"
#include "splice.h"

/* Clients joined to the guest at once; more are closed as they come. */
#define FWD_MAX_CONNS 64
/* How long the guest's forwarder gets to take a connection. */
#define FWD_DIAL_MS 5000
/* The file of forwarded ports in the VM's directory. */
#define FWD_STATE_FILE "ports"

struct port_forward;

struct fwd_listener {
	struct port_forward *pf;
	uint16_t port;
	struct watch w; /* fd -1: slot unused */
};

struct fwd_conn {
	struct port_forward *pf;
	int used;
	int client;    /* until the splice has it */
	uint16_t port; /* the guest's */
	struct dial dial;
	struct splice sp;
};

struct port_forward {
	struct loop *loop;
	char vsock_path[RUNTIME_PATH_MAX + 16];
	char sock_path[RUNTIME_PATH_MAX + 32];
	char state_path[RUNTIME_PATH_MAX + 16];
	struct watch listen; /* <vsock>_5255 */
	struct watch conn;   /* the guest's announcements */
	struct port_lines lines;
	/* The last well-formed set in what was just read. */
	uint16_t wanted[PORT_LIST_MAX];
	long nwanted; /* -1: none in this read */
	int broken;
	struct fwd_listener ports[PORT_LIST_MAX];
	uint8_t reported[65536 / 8]; /* host ports already said to be unusable */
	int said_more, said_full;
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
	struct fwd_conn conns[FWD_MAX_CONNS];
};

/* Listens for the guest's announcements beside vsock_path; the state file
 * goes into dir. log() takes each message (a line without newline).
 * 0, or -1 with errno. */
int port_forward_start(struct port_forward *pf, struct loop *l, const char *vsock_path,
		       const char *dir, void (*log)(void *ctx, const char *line), void *ctx);
/* Closes every listener and connection and removes its files. Safe to
 * call twice, or after a failed start. */
void port_forward_stop(struct port_forward *pf);

#endif
