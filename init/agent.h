/* The guest agent (DESIGN.md boot step 4): a process of its own, so that a
 * fault in it cannot take PID 1 down, listening on vsock port
 * WIRE_AGENT_PORT for the host's requests and accepting connections from
 * the host's CID only. Each connection gets a process of its own: it says
 * HELLO, takes one EXEC (the keys of the kernel command line) or SHUTDOWN,
 * and for EXEC runs the command with the same framed stream as `wisp run`.
 * See docs/protocol.md. */
#ifndef WISP_AGENT_H
#define WISP_AGENT_H

#include <sys/types.h>

/* Forks the agent; returns its pid, or -1 when vsock is not there. Once it
 * listens, it sends the notice (frames, unless NULL) to the host's ready
 * port WIRE_READY_PORT. */
pid_t agent_start(const void *notice, size_t notice_len);

#endif
