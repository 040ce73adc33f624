/* A vhost-user device as the backend sees it: the guest memory QEMU shared
 * with us, the virtqueues it configured, and the handling of each control
 * message. Queue 0 is rx (to the guest), 1 is tx (from it); QEMU keeps the
 * event queue. */
#ifndef WISP_VU_DEV_H
#define WISP_VU_DEV_H

#include <linux/virtio_ring.h>
#include <stdint.h>
#include <sys/uio.h>

#include "log.h"
#include "vhost_user.h"

#define VU_NQUEUES 2
#define VQ_RX 0
#define VQ_TX 1
#define VQ_MAX_CHAIN 64

struct vu_mem_region {
	uint64_t gpa, size, qva;
	uint8_t *host; /* where gpa is mapped here */
	void *map;     /* the whole mapping, for munmap */
	size_t map_len;
};

struct vq {
	uint32_t num;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail;
	uint16_t used_idx;
	int kick_fd, call_fd;
	int enabled;
	int broken; /* the guest's avail index made no sense: stopped until SET_VRING_BASE */
};

/* What the guest can make happen again and again is logged through these
 * (see log.h); they outlive a reset of the device. */
struct vu_dev_logs {
	struct log_limit ring_addr, avail_idx, bad_chain, notify;
};

struct vu_dev {
	uint64_t features, protocol_features;
	uint64_t guest_cid;
	struct vu_mem_region regions[VU_MAX_REGIONS];
	uint32_t nregions;
	struct vq vq[VU_NQUEUES];
	struct vu_addr pending_addr[VU_NQUEUES]; /* translated when memory is known */
	int addr_set[VU_NQUEUES];
	struct vu_dev_logs log;
};

/* One descriptor chain: the guest's readable buffers, then its writable ones. */
struct chain {
	uint16_t head;
	struct iovec out[VQ_MAX_CHAIN]; /* device reads (tx) */
	struct iovec in[VQ_MAX_CHAIN];  /* device writes (rx) */
	int nout, nin;
	size_t out_len, in_len;
};

void vu_dev_init(struct vu_dev *d, uint64_t guest_cid);
void vu_dev_reset(struct vu_dev *d);

/* Applies a checked message and replies where the protocol wants one.
 * Returns -1 when the connection to QEMU must be dropped. */
int vu_dev_handle(struct vu_dev *d, int sock, struct vu_msg *m);

/* Whether the queue can move data: enabled, addressed and kickable. */
int vq_ready(const struct vu_dev *d, int q);

/* Takes the next available chain: 1, 0 when none (or the ring is
 * broken), -1 when the guest's descriptors are malformed (the chain is
 * then returned unused). */
int vq_pop(struct vu_dev *d, struct vq *vq, struct chain *c);
void vq_push(struct vq *vq, uint16_t head, uint32_t len);
void vq_notify(struct vu_dev *d, struct vq *vq);
/* Writes the limiters' late count lines: see log_limit_tick(). */
int vu_dev_log_tick(struct vu_dev *d, uint64_t now);
/* Gives back a popped chain unused (rx: no packet to put in it after all). */
void vq_unpop(struct vq *vq);

#endif
