#include "vu_dev.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../common/fd.h"
#include "log.h"

/* Offered: virtio 1.0 and the vhost-user protocol features; nothing that
 * needs work we do not do (no EVENT_IDX, no indirect descriptors). */
#define OFFERED_FEATURES (VIRTIO_F_VERSION_1_BIT | VU_F_PROTOCOL_FEATURES)
#define OFFERED_PROTOCOL (VU_PROTOCOL_F_CONFIG)

void vu_dev_init(struct vu_dev *d, uint64_t guest_cid)
{
	memset(d, 0, sizeof(*d));
	d->guest_cid = guest_cid;
	d->log.ring_addr = LOG_LIMIT("ring addresses refused");
	d->log.avail_idx = LOG_LIMIT("queue stopped for its avail index");
	d->log.bad_chain = LOG_LIMIT("dropping a malformed descriptor chain");
	d->log.notify = LOG_LIMIT("notifying the guest failed");
	for (int q = 0; q < VU_NQUEUES; q++)
		d->vq[q].kick_fd = d->vq[q].call_fd = -1;
}

static void unmap_all(struct vu_dev *d)
{
	for (uint32_t i = 0; i < d->nregions; i++)
		munmap(d->regions[i].map, d->regions[i].map_len);
	d->nregions = 0;
}

void vu_dev_reset(struct vu_dev *d)
{
	unmap_all(d);
	for (int q = 0; q < VU_NQUEUES; q++) {
		close_fd(&d->vq[q].kick_fd);
		close_fd(&d->vq[q].call_fd);
	}
	struct vu_dev_logs log = d->log;
	vu_dev_init(d, d->guest_cid);
	d->log = log;
}

int vu_dev_log_tick(struct vu_dev *d, uint64_t now)
{
	int t = log_limit_tick(&d->log.ring_addr, now);
	t = timeout_min(t, log_limit_tick(&d->log.avail_idx, now));
	t = timeout_min(t, log_limit_tick(&d->log.bad_chain, now));
	return timeout_min(t, log_limit_tick(&d->log.notify, now));
}

static void *translate(const struct vu_dev *d, uint64_t addr, uint64_t len, int by_qva)
{
	for (uint32_t i = 0; i < d->nregions; i++) {
		const struct vu_mem_region *r = &d->regions[i];
		uint64_t base = by_qva ? r->qva : r->gpa;
		if (addr >= base && len <= r->size && addr - base <= r->size - len)
			return r->host + (addr - base);
	}
	return NULL;
}

static void *gpa_to_host(const struct vu_dev *d, uint64_t gpa, uint64_t len)
{
	return translate(d, gpa, len, 0);
}

static int misaligned(const void *p, uintptr_t align)
{
	return (uintptr_t)p % align != 0;
}

/* Ring addresses are QEMU's virtual addresses; they can only be resolved
 * once the memory table is known, and again whenever it changes. The
 * guest chooses them, so they are checked like everything else it sends. */
static void map_rings(struct vu_dev *d, int q)
{
	struct vq *vq = &d->vq[q];
	const struct vu_addr *a = &d->pending_addr[q];
	if (!d->addr_set[q] || vq->num == 0)
		return;
	vq->desc = translate(d, a->desc, sizeof(struct vring_desc) * vq->num, 1);
	vq->avail = translate(d, a->avail, sizeof(struct vring_avail) + 2 * vq->num + 2, 1);
	vq->used = translate(
		d, a->used,
		sizeof(struct vring_used) + sizeof(struct vring_used_elem) * vq->num + 2, 1);
	const char *why = NULL;
	if (!vq->desc || !vq->avail || !vq->used)
		why = "outside guest memory";
	else if (misaligned(vq->desc, VRING_DESC_ALIGN_SIZE) ||
		 misaligned(vq->avail, VRING_AVAIL_ALIGN_SIZE) ||
		 misaligned(vq->used, VRING_USED_ALIGN_SIZE))
		why = "misaligned"; /* virtio 1.0 section 2.4: 16, 2, 4 */
	if (why) {
		log_limited(&d->log.ring_addr, "queue %d: ring addresses %s", q, why);
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
	}
}

static int set_mem_table(struct vu_dev *d, struct vu_msg *m)
{
	unmap_all(d);
	for (uint32_t i = 0; i < m->p.mem.nregions; i++) {
		const struct vu_region *in = &m->p.mem.regions[i];
		struct vu_mem_region *r = &d->regions[i];
		size_t len = in->size + in->mmap_offset;
		void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fds[i], 0);
		if (map == MAP_FAILED) {
			log_msg("mmap guest memory region %u: %s", i, strerror(errno));
			unmap_all(d);
			return -1;
		}
		*r = (struct vu_mem_region){ .gpa = in->guest_addr,
					     .size = in->size,
					     .qva = in->qemu_addr,
					     .map = map,
					     .map_len = len,
					     .host = (uint8_t *)map + in->mmap_offset };
		d->nregions = i + 1;
	}
	vu_close_fds(m);
	for (int q = 0; q < VU_NQUEUES; q++)
		map_rings(d, q);
	return 0;
}

static int take_fd(struct vu_msg *m)
{
	if (m->nfds == 0)
		return -1;
	int fd = m->fds[0];
	m->nfds = 0;
	return fd;
}

int vu_dev_handle(struct vu_dev *d, int sock, struct vu_msg *m)
{
	uint64_t u64;
	struct vq *vq;
	switch (m->request) {
	case VU_GET_FEATURES:
		u64 = OFFERED_FEATURES;
		return vu_reply(sock, m, &u64, 8);
	case VU_SET_FEATURES:
		d->features = m->p.u64 & OFFERED_FEATURES;
		/* Without the protocol features, rings start enabled. */
		if (!(d->features & VU_F_PROTOCOL_FEATURES))
			for (int q = 0; q < VU_NQUEUES; q++)
				d->vq[q].enabled = 1;
		return 0;
	case VU_GET_PROTOCOL_FEATURES:
		u64 = OFFERED_PROTOCOL;
		return vu_reply(sock, m, &u64, 8);
	case VU_SET_PROTOCOL_FEATURES:
		d->protocol_features = m->p.u64 & OFFERED_PROTOCOL;
		return 0;
	case VU_GET_QUEUE_NUM:
		u64 = VU_NQUEUES;
		return vu_reply(sock, m, &u64, 8);
	case VU_SET_OWNER:
		return 0;
	case VU_RESET_OWNER:
		vu_dev_reset(d);
		return 0;
	case VU_SET_MEM_TABLE:
		return set_mem_table(d, m);
	case VU_SET_VRING_NUM:
		d->vq[m->p.state.index].num = m->p.state.num;
		map_rings(d, (int)m->p.state.index);
		return 0;
	case VU_SET_VRING_ADDR:
		d->pending_addr[m->p.addr.index] = m->p.addr;
		d->addr_set[m->p.addr.index] = 1;
		map_rings(d, (int)m->p.addr.index);
		return 0;
	case VU_SET_VRING_BASE:
		vq = &d->vq[m->p.state.index];
		vq->last_avail = vq->used_idx = (uint16_t)m->p.state.num;
		vq->broken = 0;
		return 0;
	case VU_GET_VRING_BASE: {
		/* QEMU stops the ring: report where we are and let go of it. */
		vq = &d->vq[m->p.state.index];
		struct vu_state st = { m->p.state.index, vq->last_avail };
		vq->enabled = 0;
		close_fd(&vq->kick_fd);
		close_fd(&vq->call_fd);
		return vu_reply(sock, m, &st, sizeof(st));
	}
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR: {
		vq = &d->vq[m->p.u64 & VU_VRING_IDX_MASK];
		int fd = take_fd(m);
		if (m->request == VU_SET_VRING_ERR) {
			if (fd >= 0)
				close(fd);
		} else if (m->request == VU_SET_VRING_KICK) {
			close_fd(&vq->kick_fd);
			vq->kick_fd = fd;
			if (!(d->features & VU_F_PROTOCOL_FEATURES))
				vq->enabled = 1;
		} else {
			close_fd(&vq->call_fd);
			vq->call_fd = fd;
		}
		return 0;
	}
	case VU_SET_VRING_ENABLE:
		d->vq[m->p.state.index].enabled = m->p.state.num != 0;
		return 0;
	case VU_GET_CONFIG: {
		/* virtio-vsock's config space is one le64: the guest's CID. */
		struct vu_config c = m->p.config;
		memset(c.payload, 0, c.size);
		uint8_t cid[8];
		for (int i = 0; i < 8; i++)
			cid[i] = (uint8_t)(d->guest_cid >> (8 * i));
		for (uint32_t i = 0; i < c.size; i++)
			if (c.offset + i < 8)
				c.payload[i] = cid[c.offset + i];
		return vu_reply(sock, m, &c, 12 + c.size);
	}
	case VU_SET_CONFIG:
		return 0; /* the CID is not the guest's to change */
	default:
		return 0;
	}
}

int vq_ready(const struct vu_dev *d, int q)
{
	const struct vq *vq = &d->vq[q];
	return vq->enabled && vq->desc && vq->avail && vq->used && vq->kick_fd >= 0;
}

static uint16_t avail_idx(const struct vq *vq)
{
	uint16_t idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	return idx;
}

int vq_pop(struct vu_dev *d, struct vq *vq, struct chain *c)
{
	uint16_t avail = avail_idx(vq);
	if (vq->broken || vq->last_avail == avail)
		return 0;
	if ((uint16_t)(avail - vq->last_avail) > vq->num) {
		/* More new chains than the ring holds: what is past the ring
		 * would be stale entries, packets handled before. */
		log_limited(&d->log.avail_idx,
			    "avail index %u is more than %u chains past %u: queue stopped", avail,
			    vq->num, vq->last_avail);
		vq->broken = 1;
		return 0;
	}
	uint16_t head = vq->avail->ring[vq->last_avail % vq->num];
	vq->last_avail++;
	c->head = head;
	c->nout = c->nin = 0;
	c->out_len = c->in_len = 0;
	uint16_t i = head;
	int writable = 0;
	for (unsigned hops = 0;; hops++) {
		if (i >= vq->num || hops >= vq->num || hops >= VQ_MAX_CHAIN)
			goto bad;
		const struct vring_desc *desc = &vq->desc[i];
		uint64_t addr = desc->addr;
		uint32_t len = desc->len;
		uint16_t flags = desc->flags;
		if (flags & VRING_DESC_F_INDIRECT)
			goto bad; /* not offered */
		if (flags & VRING_DESC_F_WRITE)
			writable = 1;
		else if (writable)
			goto bad; /* readable after writable */
		/* An empty descriptor carries nothing, wherever it points: it
		 * gets no iovec, so every iovec points into guest memory. */
		if (len) {
			void *p = gpa_to_host(d, addr, len);
			if (!p)
				goto bad;
			if (flags & VRING_DESC_F_WRITE) {
				c->in[c->nin++] = (struct iovec){ p, len };
				c->in_len += len;
			} else {
				c->out[c->nout++] = (struct iovec){ p, len };
				c->out_len += len;
			}
		}
		if (!(flags & VRING_DESC_F_NEXT))
			return 1;
		i = desc->next;
	}
bad:
	log_limited(&d->log.bad_chain, "dropping a malformed descriptor chain (head %u)", head);
	vq_push(vq, head, 0);
	return -1;
}

void vq_unpop(struct vq *vq)
{
	vq->last_avail--;
}

void vq_push(struct vq *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vq->used->ring[vq->used_idx % vq->num];
	e->id = head;
	e->len = len;
	vq->used_idx++;
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
}

void vq_notify(struct vu_dev *d, struct vq *vq)
{
	uint64_t one = 1;
	if (vq->call_fd >= 0 && write(vq->call_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_limited(&d->log.notify, "notify the guest: %s", strerror(errno));
}
