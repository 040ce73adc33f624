/* The vhost-user message layer: framing of QEMU's control messages on the
 * Unix socket (header, payload, passed fds) and their validation. What a
 * message does to the device lives in vu_dev.c. */
#ifndef WISP_VHOST_USER_H
#define WISP_VHOST_USER_H

#include <stddef.h>
#include <stdint.h>

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
};

#define VU_VERSION 0x1
#define VU_FLAG_REPLY (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)
#define VU_HDR_SIZE 12
#define VU_MAX_FDS 8
#define VU_MAX_REGIONS 8
#define VU_MAX_CONFIG 256
#define VU_VRING_NOFD (1ull << 8)
#define VU_VRING_IDX_MASK 0xffull

/* Feature bits. */
#define VU_F_PROTOCOL_FEATURES (1ull << 30)
#define VIRTIO_F_VERSION_1_BIT (1ull << 32)
#define VU_PROTOCOL_F_CONFIG (1ull << 9)

struct vu_state {
	uint32_t index, num;
};

struct vu_addr {
	uint32_t index, flags;
	uint64_t desc, used, avail, log; /* QEMU virtual addresses */
};

struct vu_region {
	uint64_t guest_addr, size, qemu_addr, mmap_offset;
};

struct vu_mem {
	uint32_t nregions, padding;
	struct vu_region regions[VU_MAX_REGIONS];
};

struct vu_config {
	uint32_t offset, size, flags;
	uint8_t payload[VU_MAX_CONFIG];
};

struct vu_msg {
	uint32_t request, flags, size;
	union {
		uint64_t u64;
		struct vu_state state;
		struct vu_addr addr;
		struct vu_mem mem;
		struct vu_config config;
		uint8_t raw[sizeof(struct vu_mem)];
	} p;
	int fds[VU_MAX_FDS];
	int nfds;
};

/* Why the message cannot be acted on, or NULL: the payload size the
 * request needs, the fds it must carry, bounds of counts and indexes. */
const char *vu_check(const struct vu_msg *m, unsigned nqueues);

/* Reads one message: 1, 0 at EOF, -1 on error (errno) or malformed framing
 * (EPROTO). Passed fds are closed on error. */
int vu_recv(int sock, struct vu_msg *m);

/* Sends a reply to m with the given payload. */
int vu_reply(int sock, const struct vu_msg *m, const void *payload, uint32_t size);

void vu_close_fds(struct vu_msg *m);

#endif
