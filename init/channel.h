/* The host channel: the virtio-serial port named "wisp.io" that carries the
 * framed stream (common/wire.h). */
#ifndef WISP_CHANNEL_H
#define WISP_CHANNEL_H

#define CHANNEL_PORT_NAME "wisp.io"

/* Opens the port non-blocking, waiting up to wait_ms for the host to name
 * it (names arrive after the driver probes). Returns the fd or -1. */
int channel_open(int wait_ms);

/* Whether the kernel found any virtio-serial port at all. */
int channel_ports_exist(void);

#endif
