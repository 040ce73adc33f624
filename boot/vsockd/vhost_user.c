#include "vhost_user.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

void vu_close_fds(struct vu_msg *m)
{
	for (int i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

static int queue_index_ok(uint64_t index, unsigned nqueues)
{
	return index < nqueues;
}

const char *vu_check(const struct vu_msg *m, unsigned nqueues)
{
	if ((m->flags & 3) != VU_VERSION)
		return "unknown protocol version";
	switch (m->request) {
	case VU_GET_FEATURES:
	case VU_GET_PROTOCOL_FEATURES:
	case VU_GET_QUEUE_NUM:
	case VU_SET_OWNER:
	case VU_RESET_OWNER:
		return m->nfds ? "unexpected fds" : NULL;
	case VU_SET_FEATURES:
	case VU_SET_PROTOCOL_FEATURES:
		return m->size != 8 ? "bad payload size" : m->nfds ? "unexpected fds" : NULL;
	case VU_SET_MEM_TABLE: {
		if (m->size < 8)
			return "bad payload size";
		uint32_t n = m->p.mem.nregions;
		if (n == 0 || n > VU_MAX_REGIONS)
			return "bad region count";
		if (m->size != 8 + n * sizeof(struct vu_region))
			return "bad payload size";
		if ((uint32_t)m->nfds != n)
			return "one fd per region expected";
		for (uint32_t i = 0; i < n; i++) {
			const struct vu_region *r = &m->p.mem.regions[i];
			if (r->size == 0 || r->guest_addr + r->size < r->guest_addr ||
			    r->qemu_addr + r->size < r->qemu_addr ||
			    r->mmap_offset + r->size < r->mmap_offset)
				return "bad region";
		}
		return NULL;
	}
	case VU_SET_VRING_NUM:
	case VU_SET_VRING_BASE:
	case VU_GET_VRING_BASE:
	case VU_SET_VRING_ENABLE:
		if (m->size != sizeof(struct vu_state))
			return "bad payload size";
		if (!queue_index_ok(m->p.state.index, nqueues))
			return "bad queue index";
		if (m->request == VU_SET_VRING_NUM &&
		    (m->p.state.num == 0 || m->p.state.num > 32768 ||
		     (m->p.state.num & (m->p.state.num - 1))))
			return "queue size is not a power of two up to 32768";
		return m->nfds ? "unexpected fds" : NULL;
	case VU_SET_VRING_ADDR:
		if (m->size != sizeof(struct vu_addr))
			return "bad payload size";
		return queue_index_ok(m->p.addr.index, nqueues) ? NULL : "bad queue index";
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR: {
		if (m->size != 8)
			return "bad payload size";
		if (!queue_index_ok(m->p.u64 & VU_VRING_IDX_MASK, nqueues))
			return "bad queue index";
		int want = (m->p.u64 & VU_VRING_NOFD) ? 0 : 1;
		return m->nfds != want ? "wrong number of fds" : NULL;
	}
	case VU_GET_CONFIG:
	case VU_SET_CONFIG:
		if (m->size < 12 || m->p.config.size > VU_MAX_CONFIG ||
		    m->size != 12 + m->p.config.size)
			return "bad payload size";
		return m->nfds ? "unexpected fds" : NULL;
	case VU_SET_LOG_BASE:
	case VU_SET_LOG_FD:
	default:
		return "unsupported request";
	}
}

int vu_recv(int sock, struct vu_msg *m)
{
	uint8_t hdr[VU_HDR_SIZE];
	struct iovec iov = { hdr, sizeof(hdr) };
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	m->nfds = 0;
	ssize_t n;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < count; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (m->nfds < VU_MAX_FDS)
				m->fds[m->nfds++] = fd;
			else
				close(fd);
		}
	}
	if (n == 0)
		return 0;
	if (n != (ssize_t)sizeof(hdr) || (mh.msg_flags & MSG_CTRUNC)) {
		vu_close_fds(m);
		if (n >= 0)
			errno = EPROTO;
		return -1;
	}
	memcpy(&m->request, hdr, 4);
	memcpy(&m->flags, hdr + 4, 4);
	memcpy(&m->size, hdr + 8, 4);
	if (m->size > sizeof(m->p)) {
		vu_close_fds(m);
		errno = EPROTO;
		return -1;
	}
	memset(&m->p, 0, sizeof(m->p));
	size_t got = 0;
	while (got < m->size) {
		n = read(sock, m->p.raw + got, m->size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			vu_close_fds(m);
			if (n == 0)
				errno = EPROTO;
			return -1;
		}
		got += (size_t)n;
	}
	return 1;
}

int vu_reply(int sock, const struct vu_msg *m, const void *payload, uint32_t size)
{
	uint8_t buf[VU_HDR_SIZE + sizeof(m->p)];
	uint32_t flags = VU_VERSION | VU_FLAG_REPLY;
	if (size > sizeof(m->p))
		return -1;
	memcpy(buf, &m->request, 4);
	memcpy(buf + 4, &flags, 4);
	memcpy(buf + 8, &size, 4);
	memcpy(buf + VU_HDR_SIZE, payload, size);
	size_t len = VU_HDR_SIZE + size, off = 0;
	while (off < len) {
		ssize_t n = write(sock, buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}
