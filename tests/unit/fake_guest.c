#include "fake_guest.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../boot/vsockd/log.h"

char fg_last_log[512];
unsigned long fg_log_count;
uint64_t fg_now_ms = 1000000;
static int log_verbose;

/* Stands in for log.c: the tests look at what was logged, the fuzzer
 * would drown in it. Formatting still runs, so bad arguments still show. */
void log_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fg_last_log, sizeof(fg_last_log), fmt, ap);
	va_end(ap);
	fg_log_count++;
	if (log_verbose)
		fprintf(stderr, "wisp-vsockd: %s\n", fg_last_log);
}

uint64_t mono_ms(void)
{
	return fg_now_ms;
}

int fg_open(struct fake_guest *g)
{
	memset(g, 0, sizeof(*g));
	g->vhost[0] = g->vhost[1] = g->epfd = -1;
	signal(SIGPIPE, SIG_IGN); /* as wisp-vsockd does: host programs close early */
	const char *v = getenv("FG_LOG");
	log_verbose = v && *v == '1';
	const char *tmp = getenv("TMPDIR");
	snprintf(g->dir, sizeof(g->dir), "%s/wisp-fg-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (strlen(g->dir) > 40 || !mkdtemp(g->dir)) {
		/* sun_path must hold "<dir>/v.sock_<port>" */
		snprintf(g->dir, sizeof(g->dir), "/tmp/wisp-fg-XXXXXX");
		if (!mkdtemp(g->dir)) {
			perror("fake guest: mkdtemp");
			return -1;
		}
	}
	snprintf(g->uds, sizeof(g->uds), "%s/v.sock", g->dir);
	g->memfd = memfd_create("fake-guest-ram", MFD_CLOEXEC);
	if (g->memfd < 0 || ftruncate(g->memfd, FG_MEM_SIZE) < 0) {
		perror("fake guest: memfd");
		return -1;
	}
	g->mem = mmap(NULL, FG_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, g->memfd, 0);
	if (g->mem == MAP_FAILED) {
		perror("fake guest: mmap");
		return -1;
	}
	return 0;
}

static void listener_path(const struct fake_guest *g, uint32_t port, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s_%u", g->uds, port);
}

void fg_close(struct fake_guest *g)
{
	for (int i = 0; i < g->nlisteners; i++) {
		struct sockaddr_un sa;
		listener_path(g, g->listener_port[i], &sa);
		unlink(sa.sun_path);
		close(g->listener[i]);
	}
	g->nlisteners = 0;
	rmdir(g->dir);
	munmap(g->mem, FG_MEM_SIZE);
	close(g->memfd);
}

void fg_default_conf(struct fg_conf *c)
{
	/* Each ring in its own 4 KiB page, rx first; room for FG_MAX_NUM. */
	for (int q = 0; q < VU_NQUEUES; q++) {
		uint64_t base = FG_R0_GPA + 0x4000ull * (uint64_t)q;
		c->q[q] = (struct fg_ring_conf){ FG_NUM, base, base + 0x1000, base + 0x2000 };
	}
}

static int inside(uint64_t gpa, uint64_t len, uint64_t base, uint64_t size)
{
	return gpa >= base && len <= size && gpa - base <= size - len;
}

uint64_t fg_gpa_to_qva(uint64_t gpa)
{
	if (inside(gpa, 1, FG_R1_GPA, FG_R1_SIZE))
		return FG_R1_QVA + (gpa - FG_R1_GPA);
	return FG_R0_QVA + (gpa - FG_R0_GPA); /* wraps or misses for junk: fine */
}

uint8_t *fg_ptr(struct fake_guest *g, uint64_t gpa, uint64_t len)
{
	if (inside(gpa, len, FG_R0_GPA, FG_R0_SIZE))
		return g->mem + (gpa - FG_R0_GPA);
	if (inside(gpa, len, FG_R1_GPA, FG_R1_SIZE))
		return g->mem + FG_R1_MMAP_OFFSET + (gpa - FG_R1_GPA);
	return NULL;
}

struct vu_msg fg_msg(uint32_t request, uint32_t size)
{
	struct vu_msg m;
	memset(&m, 0, sizeof(m));
	m.request = request;
	m.flags = VU_VERSION;
	m.size = size;
	return m;
}

int fg_vhost(struct fake_guest *g, struct vu_msg *m)
{
	if (vu_check(m, VU_NQUEUES)) {
		vu_close_fds(m);
		return -2;
	}
	int r = vu_dev_handle(&g->dev, g->vhost[0], m);
	vu_close_fds(m);
	char reply[512];
	while (read(g->vhost[1], reply, sizeof(reply)) > 0)
		; /* "QEMU" reads and forgets the replies */
	return r;
}

static int vring_state(struct fake_guest *g, uint32_t request, int q, uint32_t num)
{
	struct vu_msg m = fg_msg(request, sizeof(struct vu_state));
	m.p.state = (struct vu_state){ (uint32_t)q, num };
	return fg_vhost(g, &m);
}

static int vring_fd(struct fake_guest *g, uint32_t request, int q)
{
	struct vu_msg m = fg_msg(request, 8);
	m.p.u64 = (uint64_t)q;
	m.fds[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	m.nfds = 1;
	if (m.fds[0] < 0)
		return -1;
	return fg_vhost(g, &m);
}

int fg_set_ring(struct fake_guest *g, int q, const struct fg_ring_conf *rc)
{
	g->ring[q].c = *rc;
	struct vu_msg m = fg_msg(VU_SET_VRING_ADDR, sizeof(struct vu_addr));
	m.p.addr = (struct vu_addr){ .index = (uint32_t)q,
				     .desc = fg_gpa_to_qva(rc->desc),
				     .used = fg_gpa_to_qva(rc->used),
				     .avail = fg_gpa_to_qva(rc->avail) };
	int r = vring_state(g, VU_SET_VRING_NUM, q, rc->num);
	int r2 = fg_vhost(g, &m);
	return r < 0 ? r : r2;
}

static int set_mem_table(struct fake_guest *g)
{
	struct vu_msg m = fg_msg(VU_SET_MEM_TABLE, 8 + 2 * sizeof(struct vu_region));
	m.p.mem.nregions = 2;
	m.p.mem.regions[0] = (struct vu_region){ FG_R0_GPA, FG_R0_SIZE, FG_R0_QVA, 0 };
	m.p.mem.regions[1] = (struct vu_region){ FG_R1_GPA, FG_R1_SIZE, FG_R1_QVA,
						 FG_R1_MMAP_OFFSET };
	m.fds[0] = dup(g->memfd);
	m.fds[1] = dup(g->memfd);
	m.nfds = 2;
	return fg_vhost(g, &m);
}

int fg_start(struct fake_guest *g, const struct fg_conf *c)
{
	memset(g->ring, 0, sizeof(g->ring));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, g->vhost) < 0 ||
	    fcntl(g->vhost[1], F_SETFL, O_NONBLOCK) < 0)
		return -1;
	g->epfd = epoll_create1(EPOLL_CLOEXEC);
	vu_dev_init(&g->dev, FG_GUEST_CID);
	struct vu_msg m = fg_msg(VU_SET_FEATURES, 8);
	m.p.u64 = VIRTIO_F_VERSION_1_BIT | VU_F_PROTOCOL_FEATURES;
	int bad = fg_vhost(g, &m) != 0;
	m = fg_msg(VU_SET_PROTOCOL_FEATURES, 8);
	m.p.u64 = VU_PROTOCOL_F_CONFIG;
	bad |= fg_vhost(g, &m) != 0;
	bad |= set_mem_table(g) != 0;
	for (int q = 0; q < VU_NQUEUES; q++) {
		/* A refused ring (the fuzzer's sizes) just leaves the queue dead. */
		fg_set_ring(g, q, &c->q[q]);
		bad |= vring_state(g, VU_SET_VRING_BASE, q, 0) != 0;
		bad |= vring_fd(g, VU_SET_VRING_KICK, q) != 0;
		bad |= vring_fd(g, VU_SET_VRING_CALL, q) != 0;
		bad |= vring_state(g, VU_SET_VRING_ENABLE, q, 1) != 0;
	}
	g->vs = vsock_dev_new(&g->dev, g->uds, g->epfd);
	return bad || g->epfd < 0 || !g->vs ? -1 : 0;
}

void fg_stop(struct fake_guest *g)
{
	if (g->vs)
		vsock_dev_free(g->vs);
	g->vs = NULL;
	vu_dev_reset(&g->dev);
	close(g->epfd);
	close(g->vhost[0]);
	close(g->vhost[1]);
	g->epfd = g->vhost[0] = g->vhost[1] = -1;
	memset(g->mem, 0, FG_MEM_SIZE);
}

/* Ring fields may sit anywhere the fuzzer put them: memcpy, never a cast. */
static void put16(struct fake_guest *g, uint64_t gpa, uint16_t v)
{
	uint8_t *p = fg_ptr(g, gpa, 2);
	if (p)
		memcpy(p, &v, 2);
}

static uint16_t get16(struct fake_guest *g, uint64_t gpa)
{
	uint16_t v = 0;
	uint8_t *p = fg_ptr(g, gpa, 2);
	if (p)
		memcpy(&v, p, 2);
	return v;
}

static uint32_t get32(struct fake_guest *g, uint64_t gpa)
{
	uint32_t v = 0;
	uint8_t *p = fg_ptr(g, gpa, 4);
	if (p)
		memcpy(&v, p, 4);
	return v;
}

void fg_desc(struct fake_guest *g, int q, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags,
	     uint16_t next)
{
	struct vring_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };
	uint8_t *p = fg_ptr(g, g->ring[q].c.desc + 16ull * idx, sizeof(d));
	if (p)
		memcpy(p, &d, sizeof(d));
}

uint16_t fg_alloc_desc(struct fake_guest *g, int q)
{
	struct fg_ring *r = &g->ring[q];
	return (uint16_t)(r->next_desc++ % (r->c.num ? r->c.num : 1));
}

uint64_t fg_alloc_buf(struct fake_guest *g, int q, uint64_t len)
{
	struct fg_ring *r = &g->ring[q];
	uint64_t base = q == VQ_TX ? FG_TX_AREA : FG_RX_AREA;
	uint64_t size = q == VQ_TX ? FG_TX_AREA_SIZE : FG_RX_AREA_SIZE;
	if (len > size)
		len = size;
	if (r->next_buf + len > size)
		r->next_buf = 0;
	uint64_t gpa = base + r->next_buf;
	r->next_buf += (len + 15) & ~15ull;
	return gpa;
}

void fg_avail(struct fake_guest *g, int q, uint16_t head)
{
	struct fg_ring *r = &g->ring[q];
	uint32_t num = r->c.num ? r->c.num : 1;
	put16(g, r->c.avail + 4 + 2ull * (r->avail_idx % num), head);
	fg_set_avail_idx(g, q, (uint16_t)(r->avail_idx + 1));
}

void fg_set_avail_idx(struct fake_guest *g, int q, uint16_t idx)
{
	g->ring[q].avail_idx = idx;
	put16(g, g->ring[q].c.avail + 2, idx);
}

int fg_used(struct fake_guest *g, int q, uint32_t *id, uint32_t *len)
{
	struct fg_ring *r = &g->ring[q];
	uint32_t num = r->c.num ? r->c.num : 1;
	if (get16(g, r->c.used + 2) == r->used_seen)
		return 0;
	uint64_t e = r->c.used + 4 + 8ull * (r->used_seen % num);
	*id = get32(g, e);
	*len = get32(g, e + 4);
	r->used_seen++;
	return 1;
}

struct vsock_hdr fg_hdr(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t buf_alloc)
{
	return (struct vsock_hdr){ .src_cid = FG_GUEST_CID,
				   .dst_cid = VSOCK_HOST_CID,
				   .src_port = src_port,
				   .dst_port = dst_port,
				   .type = VSOCK_TYPE_STREAM,
				   .op = op,
				   .buf_alloc = buf_alloc };
}

uint16_t fg_send(struct fake_guest *g, const struct vsock_hdr *h, const void *payload, size_t len)
{
	uint16_t head = fg_alloc_desc(g, VQ_TX);
	uint64_t gpa = fg_alloc_buf(g, VQ_TX, VSOCK_HDR_SIZE);
	uint8_t *p = fg_ptr(g, gpa, VSOCK_HDR_SIZE);
	if (p)
		vsock_hdr_put(p, h);
	if (len == 0) {
		fg_desc(g, VQ_TX, head, gpa, VSOCK_HDR_SIZE, 0, 0);
	} else {
		uint16_t d = fg_alloc_desc(g, VQ_TX);
		uint64_t pgpa = fg_alloc_buf(g, VQ_TX, len);
		uint8_t *pp = fg_ptr(g, pgpa, len);
		if (pp)
			memcpy(pp, payload, len);
		fg_desc(g, VQ_TX, head, gpa, VSOCK_HDR_SIZE, VRING_DESC_F_NEXT, d);
		fg_desc(g, VQ_TX, d, pgpa, (uint32_t)len, 0, 0);
	}
	fg_avail(g, VQ_TX, head);
	return head;
}

void fg_post_rx(struct fake_guest *g, int n, uint32_t size)
{
	for (int i = 0; i < n; i++) {
		uint16_t d = fg_alloc_desc(g, VQ_RX);
		fg_desc(g, VQ_RX, d, fg_alloc_buf(g, VQ_RX, size), size, VRING_DESC_F_WRITE, 0);
		fg_avail(g, VQ_RX, d);
	}
}

int fg_recv(struct fake_guest *g, struct vsock_hdr *h, void *payload, size_t cap, size_t *len)
{
	static uint8_t buf[VSOCK_HDR_SIZE + VSOCK_MAX_PAYLOAD];
	uint32_t id, used_len;
	if (!fg_used(g, VQ_RX, &id, &used_len))
		return 0;
	/* Gather the chain the way the driver would, up to the used length. */
	size_t at = 0;
	uint32_t num = g->ring[VQ_RX].c.num;
	uint16_t i = (uint16_t)id;
	for (uint32_t hops = 0; hops < num && i < num && at < used_len; hops++) {
		struct vring_desc d;
		uint8_t *dp = fg_ptr(g, g->ring[VQ_RX].c.desc + 16ull * i, sizeof(d));
		if (!dp)
			break;
		memcpy(&d, dp, sizeof(d));
		size_t n = d.len < used_len - at ? d.len : used_len - at;
		if (n > sizeof(buf) - at)
			n = sizeof(buf) - at;
		uint8_t *src = n ? fg_ptr(g, d.addr, n) : buf;
		if (!src)
			break;
		memcpy(buf + at, src, n);
		at += n;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		i = d.next;
	}
	if (at < VSOCK_HDR_SIZE)
		return -1;
	vsock_hdr_get(buf, h);
	size_t n = at - VSOCK_HDR_SIZE < cap ? at - VSOCK_HDR_SIZE : cap;
	if (payload && n)
		memcpy(payload, buf + VSOCK_HDR_SIZE, n);
	if (len)
		*len = at - VSOCK_HDR_SIZE;
	return 1;
}

int fg_pass(struct fake_guest *g, int *events)
{
	struct epoll_event ev[32];
	int n = epoll_wait(g->epfd, ev, 32, 0);
	for (int i = 0; i < n; i++) {
		if (log_verbose)
			fprintf(stderr, "fake guest: event %#x for %p\n", ev[i].events,
				ev[i].data.ptr);
		if (ev[i].data.u64 == FG_TAG_LISTEN)
			vsock_dev_accept_ready(g->vs);
		else
			vsock_dev_conn_event(g->vs, ev[i].data.ptr, ev[i].events);
	}
	if (events)
		*events = n;
	return vsock_dev_pump(g->vs);
}

int fg_run(struct fake_guest *g)
{
	for (int round = 1; round <= FG_MAX_ROUNDS; round++) {
		int n;
		int more = fg_pass(g, &n);
		/* The first pump may have made work that shows as events. */
		if (n <= 0 && !more && round > 1)
			return round;
	}
	return -1;
}

int fg_listen(struct fake_guest *g, uint32_t port)
{
	if (g->nlisteners == FG_MAX_LISTENERS)
		return -1;
	struct sockaddr_un sa;
	listener_path(g, port, &sa);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	unlink(sa.sun_path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		perror("fake guest: listen");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	g->listener[g->nlisteners] = fd;
	g->listener_port[g->nlisteners++] = port;
	return fd;
}

int fg_connect(struct fake_guest *g, const char *line, size_t n)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	vsock_dev_accept(g->vs, sv[0]);
	if (n && write(sv[1], line, n) < 0 && errno != EAGAIN) {
		close(sv[1]);
		return -1;
	}
	return sv[1];
}
