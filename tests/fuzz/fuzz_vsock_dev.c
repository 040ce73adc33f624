/* libFuzzer target: wisp-vsockd's device layer (vu_dev + vsock_dev) as a
 * hostile guest and a careless host program see it, through the fake guest
 * of tests/unit/fake_guest.h (guest RAM in a memfd, hand-written rings).
 *
 * The input is a little program. Three bytes set the rings up (sizes, and
 * whether their addresses are the fuzzer's own, aligned or not); then each
 * action byte picks one of:
 *   tx       a vsock packet on the tx queue: any op, CID, type, ports from
 *            a table (the ones with listeners, the first host ports) or
 *            raw, lengths that match or lie, 1-3 descriptors, and now and
 *            then one descriptor spoilt (outside memory, huge, looping,
 *            writable, indirect, zero-length)
 *   desc, avail, avail_idx, mem
 *            raw writes to a descriptor, the avail ring, its index, memory
 *   rx       rx buffers of awkward sizes, in 1-3 descriptors
 *   run      one step of the daemon's loop, to quiet (never quiet = bug)
 *   host_*   hybrid clients (CONNECT lines good and bad), writes, reads,
 *            half and full closes, accepting guest connections
 *   vhost    what QEMU may send mid-stream: enable/disable, stop a ring,
 *            new kick fd, new base, size, addresses, memory table, reset
 * Everything is undone at the end of each input; nothing forks.
 * fuzz_vsock_dev_seeds.sh writes two seed programs that open connections;
 * FG_LOG=1 traces an input's actions, events and the daemon's log. */
#include <errno.h>
#include <sanitizer/common_interface_defs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../unit/fake_guest.h"

#define LISTEN_A 5000
#define LISTEN_B 5001
#define MAX_HOST 16
#define MAX_ACTIONS 256
#define HOST_CHUNK 65536

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static uint16_t u16(struct in *in)
{
	uint16_t lo = u8(in);
	return (uint16_t)(lo | u8(in) << 8);
}

static uint32_t u32(struct in *in)
{
	uint32_t lo = u16(in);
	return lo | (uint32_t)u16(in) << 16;
}

static uint64_t u64(struct in *in)
{
	uint64_t lo = u32(in);
	return lo | (uint64_t)u32(in) << 32;
}

static struct fake_guest G;
static int listeners[2];
static int host[MAX_HOST];
static int nhost;
static uint8_t scratch[HOST_CHUNK];

/* Ports worth hitting: the first ports the backend gives host clients,
 * the guest-side listeners, one nobody listens on, the extremes. */
static uint32_t port(struct in *in)
{
	static const uint32_t ports[] = { 1024, 1025, 1026, LISTEN_A,   LISTEN_B,
					  5002, 52,   0,    0xffffffffu };
	uint8_t b = u8(in);
	return b < 0xf0 ? ports[b % (sizeof(ports) / sizeof(ports[0]))] : u32(in);
}

static uint32_t length(struct in *in)
{
	static const uint32_t lens[] = { 0, 1, 43, 44, 45, 100, 3776, 65536, 65537 };
	uint8_t b = u8(in);
	if (b < 0xe0)
		return lens[b % (sizeof(lens) / sizeof(lens[0]))];
	return b < 0xf0 ? u16(in) : u32(in);
}

static uint32_t ring_num(struct fake_guest *g, int q)
{
	return g->ring[q].c.num ? g->ring[q].c.num : 1;
}

static void add_host(int fd)
{
	if (fd < 0)
		return;
	if (nhost == MAX_HOST)
		close(fd);
	else
		host[nhost++] = fd;
}

/* ---- the guest ---- */

struct dsc {
	uint16_t idx;
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static void spoil(struct in *in, struct dsc *d, int n)
{
	struct dsc *k = &d[u8(in) % n];
	switch (u8(in) % 9) {
	case 0:
		k->addr = u64(in);
		break;
	case 1:
		k->len = u32(in);
		break;
	case 2:
		k->flags ^= VRING_DESC_F_WRITE;
		break;
	case 3:
		k->flags |= VRING_DESC_F_INDIRECT;
		break;
	case 4: /* the last one leads back to the head */
		d[n - 1].flags |= VRING_DESC_F_NEXT;
		d[n - 1].next = d[0].idx;
		break;
	case 5:
		k->flags |= VRING_DESC_F_NEXT;
		k->next = u16(in);
		break;
	case 6: /* nothing, just past the end of a region */
		k->addr = u8(in) & 1 ? FG_R0_GPA + FG_R0_SIZE : FG_R1_GPA + FG_R1_SIZE;
		k->len = 0;
		break;
	case 7:
		k->len = 0;
		break;
	default: /* straddles the end of region 1 */
		k->addr = FG_R1_GPA + FG_R1_SIZE - (u8(in) % 64);
		break;
	}
}

static void act_tx(struct in *in)
{
	struct fake_guest *g = &G;
	static const uint32_t bufs[] = { 0, 100, 4096, 262144 };
	uint8_t f = u8(in);
	uint16_t op = u8(in) % 9; /* 0 and 8 are not ops */
	uint32_t src = port(in), dst = port(in);
	struct vsock_hdr h = fg_hdr(op, src, dst, bufs[u8(in) % 4]);
	if (f & 1)
		h.src_cid = u8(in) & 1 ? u64(in) : FG_GUEST_CID + 1;
	if (f & 2)
		h.dst_cid = u64(in);
	if (f & 4)
		h.type = u16(in);
	h.flags = f & 8 ? u32(in) : u8(in) & 3;
	if (f & 16)
		h.buf_alloc = u32(in);
	h.fwd_cnt = f & 32 ? u32(in) : 0;
	uint32_t plen = length(in);
	if (plen > FG_TX_AREA_SIZE - VSOCK_HDR_SIZE)
		plen = (uint32_t)(FG_TX_AREA_SIZE - VSOCK_HDR_SIZE);
	h.len = f & 64 ? u32(in) : plen;

	uint64_t gpa = fg_alloc_buf(g, VQ_TX, VSOCK_HDR_SIZE + (uint64_t)plen);
	uint8_t *p = fg_ptr(g, gpa, VSOCK_HDR_SIZE + (uint64_t)plen);
	if (p) {
		vsock_hdr_put(p, &h);
		memset(p + VSOCK_HDR_SIZE, op, plen);
	}
	/* Cut the bytes into descriptors: whole, header|payload, header in
	 * two|payload, header|payload in two. */
	uint32_t cut[3], ncut = 0, total = VSOCK_HDR_SIZE + plen;
	switch (u8(in) % 4) {
	case 0:
		break;
	case 1:
		cut[ncut++] = VSOCK_HDR_SIZE;
		break;
	case 2:
		cut[ncut++] = 1 + u8(in) % (VSOCK_HDR_SIZE - 1);
		cut[ncut++] = VSOCK_HDR_SIZE;
		break;
	default:
		cut[ncut++] = VSOCK_HDR_SIZE;
		cut[ncut++] = VSOCK_HDR_SIZE + plen / 2;
		break;
	}
	struct dsc d[4];
	int n = 0;
	uint32_t at = 0;
	for (uint32_t i = 0; i <= ncut; i++) {
		uint32_t end = i < ncut ? cut[i] : total;
		d[n] = (struct dsc){ fg_alloc_desc(g, VQ_TX), gpa + at, end - at, 0, 0 };
		if (n > 0) {
			d[n - 1].flags |= VRING_DESC_F_NEXT;
			d[n - 1].next = d[n].idx;
		}
		n++;
		at = end;
	}
	if (f & 128)
		spoil(in, d, n);
	for (int i = 0; i < n; i++)
		fg_desc(g, VQ_TX, d[i].idx, d[i].addr, d[i].len, d[i].flags, d[i].next);
	fg_avail(g, VQ_TX, d[0].idx);
}

static uint64_t address(struct in *in)
{
	switch (u8(in) % 4) {
	case 0:
		return u64(in);
	case 1:
		return FG_R0_GPA + u16(in);
	case 2:
		return FG_R1_GPA + u32(in) % (FG_R1_SIZE + 64);
	default:
		return FG_TX_AREA + u16(in);
	}
}

static void act_desc(struct in *in)
{
	int q = u8(in) & 1;
	uint16_t idx = (uint16_t)(u16(in) % ring_num(&G, q));
	uint64_t addr = address(in);
	uint32_t len = length(in);
	uint16_t flags = u8(in);
	fg_desc(&G, q, idx, addr, len, flags, u16(in));
}

static void act_avail(struct in *in)
{
	int q = u8(in) & 1;
	uint8_t b = u8(in);
	fg_avail(&G, q, b == 0xff ? u16(in) : b);
}

static void act_avail_idx(struct in *in)
{
	int q = u8(in) & 1;
	uint8_t b = u8(in);
	fg_set_avail_idx(&G, q, b == 0xff ? u16(in) : (uint16_t)(G.ring[q].avail_idx + (int8_t)b));
}

static void act_mem(struct in *in)
{
	uint64_t gpa = address(in);
	size_t n = u8(in);
	if (n > in->n)
		n = in->n;
	uint8_t *p = fg_ptr(&G, gpa, n);
	if (p)
		memcpy(p, in->p, n);
	in->p += n;
	in->n -= n;
}

static void act_rx(struct in *in)
{
	struct fake_guest *g = &G;
	int nbuf = 1 + u8(in) % 8;
	uint32_t size = length(in);
	int parts = 1 + u8(in) % 3;
	uint8_t f = u8(in);
	for (int b = 0; b < nbuf; b++) {
		uint64_t gpa = fg_alloc_buf(g, VQ_RX, size);
		struct dsc d[3];
		uint32_t at = 0;
		for (int i = 0; i < parts; i++) {
			uint32_t end = i == parts - 1 ? size
						      : size / (uint32_t)parts * (uint32_t)(i + 1);
			d[i] = (struct dsc){ fg_alloc_desc(g, VQ_RX), gpa + at, end - at,
					     VRING_DESC_F_WRITE, 0 };
			if (i > 0) {
				d[i - 1].flags |= VRING_DESC_F_NEXT;
				d[i - 1].next = d[i].idx;
			}
			at = end;
		}
		if (f & 1)
			spoil(in, d, parts);
		for (int i = 0; i < parts; i++)
			fg_desc(g, VQ_RX, d[i].idx, d[i].addr, d[i].len, d[i].flags, d[i].next);
		fg_avail(g, VQ_RX, d[0].idx);
	}
}

static void cleanup(void);

static void act_run(void)
{
	if (fg_run(&G) < 0) {
		fprintf(stderr, "fuzz_vsock_dev: the daemon's loop never went quiet\n");
		cleanup();
		abort();
	}
}

/* ---- the host ---- */

static void act_host_connect(struct in *in)
{
	char line[64];
	size_t n;
	switch (u8(in) % 4) {
	case 0:
		n = (size_t)snprintf(line, sizeof(line), "CONNECT %u\n", port(in));
		break;
	case 1: /* the rest of the line never comes */
		n = (size_t)snprintf(line, sizeof(line), "CONNECT %u", port(in));
		break;
	case 2: /* the data follows the line at once */
		n = (size_t)snprintf(line, sizeof(line), "CONNECT %u\nhello", port(in));
		break;
	default:
		n = u8(in) % 32;
		for (size_t i = 0; i < n; i++)
			line[i] = (char)u8(in);
		break;
	}
	add_host(fg_connect(&G, line, n));
}

static int pick_host(struct in *in)
{
	return nhost ? (int)(u8(in) % nhost) : -1;
}

static void act_host_write(struct in *in)
{
	static const size_t sizes[] = { 1, 100, 4096, HOST_CHUNK, 8 * HOST_CHUNK };
	int k = pick_host(in);
	size_t want = sizes[u8(in) % 5];
	if (k < 0)
		return;
	while (want > 0) {
		size_t n = want < sizeof(scratch) ? want : sizeof(scratch);
		ssize_t w = write(host[k], scratch, n);
		if (w <= 0)
			break;
		want -= (size_t)w;
	}
}

static void act_host_read(struct in *in)
{
	int k = pick_host(in);
	int all = u8(in) & 1;
	if (k < 0)
		return;
	while (read(host[k], scratch, sizeof(scratch)) > 0 && all)
		;
}

static void act_host_close(struct in *in)
{
	int k = pick_host(in);
	uint8_t how = u8(in) % 3;
	if (k < 0)
		return;
	if (how < 2) {
		shutdown(host[k], how == 0 ? SHUT_WR : SHUT_RD);
		return;
	}
	close(host[k]);
	host[k] = host[--nhost];
}

static void act_host_accept(void)
{
	for (int i = 0; i < 2; i++) {
		int fd;
		while ((fd = accept4(listeners[i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
			add_host(fd);
	}
}

/* ---- QEMU ---- */

static struct fg_ring_conf raw_ring(struct in *in, uint32_t num)
{
	struct fg_ring_conf c = { num, 0, 0, 0 };
	c.desc = FG_R0_GPA + u16(in);
	c.avail = FG_R0_GPA + u16(in);
	c.used = FG_R0_GPA + u16(in);
	return c;
}

static void state_msg(uint32_t request, int q, uint32_t num)
{
	struct vu_msg m = fg_msg(request, sizeof(struct vu_state));
	m.p.state = (struct vu_state){ (uint32_t)q, num };
	if (fg_vhost(&G, &m) == 0 && request == VU_SET_VRING_NUM)
		G.ring[q].c.num = num;
}

static void mem_table(struct in *in)
{
	struct vu_msg m = fg_msg(VU_SET_MEM_TABLE, 0);
	uint8_t how = u8(in) % 3;
	uint32_t n = how == 1 ? 1 : 2;
	m.size = 8 + n * sizeof(struct vu_region);
	m.p.mem.nregions = n;
	m.p.mem.regions[0] = (struct vu_region){ FG_R0_GPA, FG_R0_SIZE, FG_R0_QVA, 0 };
	m.p.mem.regions[1] = (struct vu_region){ FG_R1_GPA, FG_R1_SIZE, FG_R1_QVA,
						 FG_R1_MMAP_OFFSET };
	if (how == 2) /* region 1 moved: buffers now land elsewhere */
		m.p.mem.regions[1].guest_addr += 0x1000ull * (1 + u8(in));
	for (uint32_t i = 0; i < n; i++)
		m.fds[i] = dup(G.memfd);
	m.nfds = (int)n;
	fg_vhost(&G, &m);
}

static void act_vhost(struct in *in)
{
	int q = u8(in) & 1;
	struct vu_msg m;
	switch (u8(in) % 10) {
	case 0:
		state_msg(VU_SET_VRING_ENABLE, q, u8(in) & 1);
		break;
	case 1:
		state_msg(VU_GET_VRING_BASE, q, 0);
		break;
	case 2:
		m = fg_msg(VU_SET_VRING_KICK, 8);
		m.p.u64 = (uint64_t)q;
		if (u8(in) & 1) {
			m.p.u64 |= VU_VRING_NOFD;
		} else {
			m.fds[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			m.nfds = m.fds[0] >= 0;
		}
		fg_vhost(&G, &m);
		break;
	case 3:
		state_msg(VU_SET_VRING_BASE, q, u16(in));
		break;
	case 4:
		state_msg(VU_SET_VRING_NUM, q, 1u << (u8(in) % 16));
		break;
	case 5: {
		struct fg_ring_conf c = raw_ring(in, G.ring[q].c.num);
		fg_set_ring(&G, q, &c);
		break;
	}
	case 6:
		mem_table(in);
		break;
	case 7:
		m = fg_msg(VU_RESET_OWNER, 0);
		fg_vhost(&G, &m);
		break;
	case 8: /* no protocol features: rings start enabled */
		m = fg_msg(VU_SET_FEATURES, 8);
		m.p.u64 = VIRTIO_F_VERSION_1_BIT;
		fg_vhost(&G, &m);
		break;
	default:
		m = fg_msg(VU_GET_CONFIG, 12 + 8);
		m.p.config.offset = u32(in);
		m.p.config.size = 8;
		fg_vhost(&G, &m);
		break;
	}
}

/* ---- one input ---- */

static void setup(struct in *in)
{
	struct fg_conf c;
	fg_default_conf(&c);
	const uint8_t sizes[2] = { u8(in), u8(in) };
	uint8_t own = u8(in);
	for (int q = 0; q < VU_NQUEUES; q++) {
		c.q[q].num = 1u << ((sizes[q] + 7) % 9); /* 0 is the usual 128 */
		if (own & (1 << q))
			c.q[q] = raw_ring(in, c.q[q].num);
	}
	if (fg_start(&G, &c) < 0) {
		fprintf(stderr, "fuzz_vsock_dev: fake guest setup failed\n");
		cleanup();
		abort();
	}
}

static void teardown(void)
{
	fg_stop(&G);
	for (int i = 0; i < nhost; i++)
		close(host[i]);
	nhost = 0;
	/* Guest connections the host never took. */
	for (int i = 0; i < 2; i++) {
		int fd;
		while ((fd = accept4(listeners[i], NULL, NULL, SOCK_CLOEXEC)) >= 0)
			close(fd);
	}
}

/* FG_LOG=1 shows the actions along with the daemon's log lines. */
static int trace;
static const char *const action_names[] = { "tx",           "tx",      "desc",        "avail",
					    "avail_idx",    "mem",     "rx",          "run",
					    "host_connect", "host_io", "host_accept", "vhost",
					    "run" };

/* The temp directory goes on a normal exit and when a sanitizer reports. */
static void cleanup(void)
{
	static int done;
	if (!done)
		fg_close(&G);
	done = 1;
}

/* The fuzz build lets UBSan recover; a report must stop the run here, or
 * a misaligned ring or a NULL memcpy scrolls by and the run "passes". */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (fg_open(&G) < 0 || (listeners[0] = fg_listen(&G, LISTEN_A)) < 0 ||
	    (listeners[1] = fg_listen(&G, LISTEN_B)) < 0)
		abort();
	atexit(cleanup);
	__sanitizer_set_death_callback(cleanup);
	const char *log = getenv("FG_LOG");
	trace = log && *log == '1';
	memset(scratch, 'x', sizeof(scratch));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	setup(&in);
	for (int i = 0; i < MAX_ACTIONS && in.n > 0; i++) {
		uint8_t action = u8(&in) % 13;
		if (trace)
			fprintf(stderr, "action %d: %s\n", i, action_names[action]);
		switch (action) {
		case 0:
		case 1:
			act_tx(&in);
			break;
		case 2:
			act_desc(&in);
			break;
		case 3:
			act_avail(&in);
			break;
		case 4:
			act_avail_idx(&in);
			break;
		case 5:
			act_mem(&in);
			break;
		case 6:
			act_rx(&in);
			break;
		case 7:
			act_run();
			break;
		case 8:
			act_host_connect(&in);
			break;
		case 9:
			switch (u8(&in) % 3) {
			case 0:
				act_host_write(&in);
				break;
			case 1:
				act_host_read(&in);
				break;
			default:
				act_host_close(&in);
				break;
			}
			break;
		case 10:
			act_host_accept();
			break;
		case 11:
			act_vhost(&in);
			break;
		default:
			act_run();
			break;
		}
	}
	act_run();
	teardown();
	return 0;
}
