/* A fake guest for driving wisp-vsockd's device layer without QEMU, shared
 * by the unit tests and the fuzzer.
 *
 * Guest RAM is a memfd handed to vu_dev with the same vhost-user messages
 * QEMU sends (two regions, the second at a non-zero mmap_offset); the split
 * rings live in it at guest-physical addresses we choose and are given to
 * the backend as "QEMU virtual" addresses. The test writes descriptors and
 * avail entries through its own mapping of the memfd, as a guest driver
 * would, and runs the backend with fg_pass(): one step of wisp-vsockd's main
 * loop (connection events, then the pump), or fg_run(): steps until quiet.
 * Hybrid sockets live in a temporary directory; host-initiated connections
 * are socketpairs handed to vsock_dev_accept(), or real connections to a
 * listener given to vsock_dev_listen() with the tag FG_TAG_LISTEN. The
 * clock wisp-vsockd's timers and log limiter read is fg_now_ms, which only
 * the tests move. */
#ifndef WISP_FAKE_GUEST_H
#define WISP_FAKE_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "../../boot/vsockd/vhost_user.h"
#include "../../boot/vsockd/vsock_dev.h"
#include "../../boot/vsockd/vsock_proto.h"
#include "../../boot/vsockd/vu_dev.h"

#define FG_GUEST_CID 3

/* Guest-physical layout: region 0 holds the rings, region 1 the buffers.
 * The gap between them is not guest memory. */
#define FG_R0_GPA 0x0ull
#define FG_R0_SIZE 0x10000ull
#define FG_R1_GPA 0x100000ull
#define FG_R1_SIZE 0x30000ull
/* Where "QEMU" has them mapped, and region 1's offset in the memfd. */
#define FG_R0_QVA 0x7f1200000000ull
#define FG_R1_QVA 0x7f1200800000ull
#define FG_R1_MMAP_OFFSET FG_R0_SIZE
#define FG_MEM_SIZE (FG_R0_SIZE + FG_R1_SIZE)

/* Buffers the helpers hand out: tx packets, then rx buffers. */
#define FG_TX_AREA FG_R1_GPA
#define FG_TX_AREA_SIZE 0x20000ull
#define FG_RX_AREA (FG_R1_GPA + FG_TX_AREA_SIZE)
#define FG_RX_AREA_SIZE 0x10000ull

/* The default ring size and the largest the default layout has room for. */
#define FG_NUM 128
#define FG_MAX_NUM 256
/* fg_run gives up (returns -1) after this many loop steps without quiet:
 * enough for the largest ring the fuzzer can set up (8192 chains) to be
 * worked through at vsock_dev's budget per step. */
#define FG_MAX_ROUNDS 256
#define FG_MAX_LISTENERS 4
/* The epoll data of a hybrid listener given to vsock_dev_listen(). */
#define FG_TAG_LISTEN 1

struct fg_ring_conf {
	uint32_t num;
	uint64_t desc, avail, used; /* guest-physical */
};

struct fg_conf {
	struct fg_ring_conf q[VU_NQUEUES];
};

/* The guest driver's side of one queue. */
struct fg_ring {
	struct fg_ring_conf c;
	uint16_t avail_idx; /* next avail slot the guest fills */
	uint16_t used_seen; /* used entries the guest has consumed */
	uint16_t next_desc;
	uint64_t next_buf; /* offset in the queue's buffer area */
};

struct fake_guest {
	int memfd;
	uint8_t *mem; /* all of guest RAM, as the guest sees it */
	int vhost[2]; /* [0] is the backend's end of the "QEMU" socket */
	int epfd;
	struct vu_dev dev;
	struct vsock_dev *vs;
	struct fg_ring ring[VU_NQUEUES];
	int listener[FG_MAX_LISTENERS];
	uint32_t listener_port[FG_MAX_LISTENERS];
	int nlisteners;
	char dir[64];
	char uds[96];
};

/* What the stand-in for log.c saw last, and how many lines in all.
 * FG_LOG=1 in the environment prints them too. */
extern char fg_last_log[512];
extern unsigned long fg_log_count;
/* The stand-in's mono_ms(): it stands still unless a test moves it. */
extern uint64_t fg_now_ms;

/* Once: the memfd, its mapping and the temp directory (0, or -1). */
int fg_open(struct fake_guest *g);
void fg_close(struct fake_guest *g);

void fg_default_conf(struct fg_conf *c);
/* Per test or fuzz input: the vhost-user setup QEMU does (features, memory
 * table, rings, kick and call eventfds, enable) and a fresh vsock_dev. */
int fg_start(struct fake_guest *g, const struct fg_conf *c);
/* Frees the device and its connections, zeroes guest RAM. */
void fg_stop(struct fake_guest *g);

/* Handles one vhost-user message as main() does: checked first, fds closed
 * after. Returns vu_dev_handle's result, or -2 when the check refused it. */
int fg_vhost(struct fake_guest *g, struct vu_msg *m);
struct vu_msg fg_msg(uint32_t request, uint32_t size);
/* Points queue q at the rings in rc (SET_VRING_NUM and SET_VRING_ADDR). */
int fg_set_ring(struct fake_guest *g, int q, const struct fg_ring_conf *rc);
uint64_t fg_gpa_to_qva(uint64_t gpa);

/* The guest's view of [gpa, gpa+len), or NULL outside guest RAM. */
uint8_t *fg_ptr(struct fake_guest *g, uint64_t gpa, uint64_t len);

/* Ring access as a driver does it; writes outside guest RAM are skipped. */
void fg_desc(struct fake_guest *g, int q, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags,
	     uint16_t next);
uint16_t fg_alloc_desc(struct fake_guest *g, int q);
uint64_t fg_alloc_buf(struct fake_guest *g, int q, uint64_t len);
void fg_avail(struct fake_guest *g, int q, uint16_t head);
void fg_set_avail_idx(struct fake_guest *g, int q, uint16_t idx);
/* The next used entry the device returned: 1, or 0 when there is none. */
int fg_used(struct fake_guest *g, int q, uint32_t *id, uint32_t *len);

/* A packet on the tx queue: the header in one descriptor, the payload (if
 * any) in a second. Returns the head descriptor. */
uint16_t fg_send(struct fake_guest *g, const struct vsock_hdr *h, const void *payload, size_t len);
/* A header from the guest to the host with the usual fields filled in. */
struct vsock_hdr fg_hdr(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t buf_alloc);
/* n writable rx buffers of size bytes each, one descriptor apiece. */
void fg_post_rx(struct fake_guest *g, int n, uint32_t size);
/* The next packet the device put on the rx queue: 1 with *h and up to cap
 * payload bytes, 0 when there is none, -1 for a used buffer with no
 * header in it (a dropped packet). */
int fg_recv(struct fake_guest *g, struct vsock_hdr *h, void *payload, size_t cap, size_t *len);

/* One turn of wisp-vsockd's loop: the events now ready (connections, and
 * the listener tagged FG_TAG_LISTEN), then the pump. Returns what
 * vsock_dev_pump() did (1: it stopped at a budget) and the number of
 * events in *events when it is not NULL. */
int fg_pass(struct fake_guest *g, int *events);
/* Turns until quiet (no events, nothing left at a budget). Returns the
 * turns taken, -1 if never quiet. */
int fg_run(struct fake_guest *g);

/* A host program listening at <uds>_<port> (non-blocking); the fd. */
int fg_listen(struct fake_guest *g, uint32_t port);
/* A host client on the hybrid socket that has written line[0..n): the
 * client's end (non-blocking), or -1. */
int fg_connect(struct fake_guest *g, const char *line, size_t n);

#endif
