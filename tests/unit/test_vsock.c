/* Unit tests of wisp-vsockd: the virtio-vsock header and its checks,
 * credit arithmetic, the hybrid CONNECT line, the validation of vhost-user
 * messages, and the device itself driven through a fake guest (guest RAM
 * in a memfd, split rings written by hand; see fake_guest.h). No QEMU. */
#include <errno.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../boot/vsockd/log.h"
#include "../../boot/vsockd/vhost_user.h"
#include "../../boot/vsockd/vsock_proto.h"
#include "check.h"
#include "fake_guest.h"

static void test_header_roundtrip(void)
{
	struct vsock_hdr h = { .src_cid = 3,
			       .dst_cid = 2,
			       .src_port = 0x12345678,
			       .dst_port = 5000,
			       .len = 7,
			       .type = 1,
			       .op = VSOCK_OP_RW,
			       .flags = 0,
			       .buf_alloc = 262144,
			       .fwd_cnt = 0xfffffff0 };
	struct vsock_hdr g;
	uint8_t p[VSOCK_HDR_SIZE];
	vsock_hdr_put(p, &h);
	CHECK(p[0] == 3 && p[8] == 2 && p[16] == 0x78 && p[19] == 0x12); /* little-endian */
	vsock_hdr_get(p, &g);
	/* Field by field: the struct's tail padding is not part of it. */
	CHECK(g.src_cid == h.src_cid && g.dst_cid == h.dst_cid && g.src_port == h.src_port &&
	      g.dst_port == h.dst_port && g.len == h.len && g.type == h.type && g.op == h.op &&
	      g.flags == h.flags && g.buf_alloc == h.buf_alloc && g.fwd_cnt == h.fwd_cnt);
}

static void test_checks(void)
{
	struct vsock_hdr h = { .src_cid = 3, .dst_cid = 2, .type = 1, .op = VSOCK_OP_RW, .len = 5 };
	CHECK(vsock_check(&h, 3, 5) == NULL);
	CHECK_STR(vsock_check(&h, 4, 5), "source CID is not the guest's");
	CHECK_STR(vsock_check(&h, 3, 4), "length does not match the payload");
	h.dst_cid = 7;
	CHECK_STR(vsock_check(&h, 3, 5), "destination is not the host");
	h.dst_cid = 2;
	h.type = 2;
	CHECK_STR(vsock_check(&h, 3, 5), "not a stream packet");
	h.type = 1;
	h.op = 99;
	CHECK_STR(vsock_check(&h, 3, 5), "unknown op");
	h.op = VSOCK_OP_REQUEST;
	CHECK_STR(vsock_check(&h, 3, 5), "payload on a control packet");
	h.len = 0;
	CHECK(vsock_check(&h, 3, 0) == NULL);
	h.op = VSOCK_OP_RW;
	h.len = VSOCK_MAX_PAYLOAD + 1;
	CHECK(vsock_check(&h, 3, VSOCK_MAX_PAYLOAD + 1) != NULL);
}

static void test_credit(void)
{
	CHECK_INT(vsock_credit(1000, 0, 0), 1000);
	CHECK_INT(vsock_credit(1000, 0, 400), 600);
	CHECK_INT(vsock_credit(1000, 400, 1400), 0);
	CHECK_INT(vsock_credit(1000, 0, 5000), 0);              /* overrun: none */
	CHECK_INT(vsock_credit(1000, 0xffffff00u, 0x100), 488); /* counters wrap */
	CHECK_INT(vsock_credit(0, 0, 0), 0);
}

static void test_connect_line(void)
{
	uint32_t port = 0;
	CHECK_INT(vsock_parse_connect("CONNECT 52\n", 11, &port), 11);
	CHECK_INT(port, 52);
	CHECK_INT(vsock_parse_connect("CONNECT 4294967295\nxyz", 22, &port), 19);
	CHECK_INT(port, 4294967295u);
	CHECK_INT(vsock_parse_connect("CONN", 4, &port), 0);
	CHECK_INT(vsock_parse_connect("CONNECT 12", 10, &port), 0);
	CHECK_INT(vsock_parse_connect("CONNECT 4294967296\n", 19, &port), -1);
	CHECK_INT(vsock_parse_connect("CONNECT \n", 9, &port), -1);
	CHECK_INT(vsock_parse_connect("CONNECT -1\n", 11, &port), -1);
	CHECK_INT(vsock_parse_connect("GET / HTTP", 10, &port), -1);
	CHECK_INT(vsock_parse_connect("CONNECT 00000000001\n", 20, &port), -1);
	CHECK_INT(vsock_parse_connect("CONNECT 123456789012345", 23, &port), -1);
}

static struct vu_msg msg(uint32_t req, uint32_t size)
{
	struct vu_msg m;
	memset(&m, 0, sizeof(m));
	m.request = req;
	m.flags = VU_VERSION;
	m.size = size;
	return m;
}

static void test_vhost_user_checks(void)
{
	struct vu_msg m = msg(VU_GET_FEATURES, 0);
	CHECK(vu_check(&m, 2) == NULL);
	m.flags = 2;
	CHECK_STR(vu_check(&m, 2), "unknown protocol version");

	m = msg(VU_SET_FEATURES, 4);
	CHECK_STR(vu_check(&m, 2), "bad payload size");

	m = msg(VU_SET_VRING_NUM, 8);
	m.p.state.index = 1;
	m.p.state.num = 256;
	CHECK(vu_check(&m, 2) == NULL);
	m.p.state.num = 100;
	CHECK_STR(vu_check(&m, 2), "queue size is not a power of two up to 32768");
	m.p.state.num = 256;
	m.p.state.index = 2; /* the event queue stays with QEMU */
	CHECK_STR(vu_check(&m, 2), "bad queue index");

	m = msg(VU_SET_VRING_KICK, 8);
	m.p.u64 = 1;
	CHECK_STR(vu_check(&m, 2), "wrong number of fds");
	m.nfds = 1;
	CHECK(vu_check(&m, 2) == NULL);
	m.p.u64 = 1 | VU_VRING_NOFD;
	CHECK_STR(vu_check(&m, 2), "wrong number of fds");

	m = msg(VU_SET_MEM_TABLE, 8 + 32);
	m.p.mem.nregions = 1;
	m.p.mem.regions[0] = (struct vu_region){ 0, 4096, 0x7f0000000000ull, 0 };
	CHECK_STR(vu_check(&m, 2), "one fd per region expected");
	m.nfds = 1;
	CHECK(vu_check(&m, 2) == NULL);
	m.p.mem.regions[0].guest_addr = ~0ull - 10;
	CHECK_STR(vu_check(&m, 2), "bad region");
	m.p.mem.nregions = 9;
	CHECK_STR(vu_check(&m, 2), "bad region count");

	m = msg(VU_GET_CONFIG, 12 + 8);
	m.p.config.size = 8;
	CHECK(vu_check(&m, 2) == NULL);
	m.p.config.size = 4000;
	CHECK_STR(vu_check(&m, 2), "bad payload size");

	m = msg(VU_SET_LOG_BASE, 8);
	CHECK_STR(vu_check(&m, 2), "unsupported request");
}

/* The log limiter: the first of an episode is logged, the rest counted;
 * a count line at most once a second, and one after the last; a quiet
 * second ends the episode. (log_msg is the fake guest's: it counts.) */
static void test_log_limiter(void)
{
	struct log_limit l = LOG_LIMIT("dropping a thing");
	unsigned long lines = fg_log_count;
	CHECK_INT(log_limit_tick(&l, 5000), -1); /* idle */
	CHECK_INT(log_limit_hit(&l, 5000), 1);
	for (int i = 0; i < 99999; i++)
		CHECK(log_limit_hit(&l, 5000 + (uint64_t)i / 1000) == 0);
	CHECK_INT(fg_log_count - lines, 0);
	CHECK_INT(log_limit_tick(&l, 5400), 600); /* not due yet */
	CHECK_INT(fg_log_count - lines, 0);
	CHECK_INT(log_limit_tick(&l, 6000), LOG_EPISODE_MS);
	CHECK_INT(fg_log_count - lines, 1);
	CHECK_STR(fg_last_log, "dropping a thing: 99999 more times");
	CHECK_INT(log_limit_tick(&l, 6500), 500);
	CHECK_INT(log_limit_tick(&l, 7000), -1); /* a quiet second: over, no line */
	CHECK_INT(fg_log_count - lines, 1);
	CHECK_INT(log_limit_hit(&l, 7001), 1); /* a new episode is logged whole */

	/* A flood that goes on: a count line per second, from the hits alone. */
	lines = fg_log_count;
	for (uint64_t t = 7002; t < 17001; t++)
		CHECK(log_limit_hit(&l, t) == 0);
	CHECK_INT(fg_log_count - lines, 9);
	CHECK_STR(fg_last_log, "dropping a thing: 1000 more times");
	CHECK_INT(log_limit_tick(&l, 18000), LOG_EPISODE_MS);
	CHECK_STR(fg_last_log, "dropping a thing: 999 more times");
	CHECK_INT(log_limit_hit(&l, 18001), 0);
	CHECK_INT(log_limit_tick(&l, 19000), LOG_EPISODE_MS);
	CHECK_STR(fg_last_log, "dropping a thing: 1 more time");
	/* No tick for long: the next hit opens a new episode all the same. */
	CHECK_INT(log_limit_hit(&l, 60000), 1);

	CHECK_INT(timeout_min(-1, -1), -1);
	CHECK_INT(timeout_min(-1, 5), 5);
	CHECK_INT(timeout_min(7, -1), 7);
	CHECK_INT(timeout_min(7, 0), 0);
}

/* ---- the device, through the fake guest ---- */

#define LISTEN_PORT 5000
#define NO_LISTENER_PORT 7777
#define SYMLINK_PORT 7778

static struct fake_guest G;
static int listen_fd = -1;
static uint8_t payload[VSOCK_MAX_PAYLOAD];

static struct fake_guest *start(void)
{
	struct fg_conf c;
	fg_default_conf(&c);
	int r = fg_start(&G, &c);
	CHECK_INT(r, 0);
	return &G;
}

/* The next packet to the guest, with its op (0 when there is none). */
static int recv_op(struct fake_guest *g, struct vsock_hdr *h, size_t *len)
{
	memset(h, 0, sizeof(*h));
	int r = fg_recv(g, h, payload, sizeof(payload), len);
	return r == 1 ? h->op : 0;
}

/* A guest connection from guest_port to the host program at LISTEN_PORT:
 * REQUEST, RESPONSE; returns the host program's end and the RESPONSE. */
static int open_guest_conn(struct fake_guest *g, uint32_t guest_port, uint32_t buf_alloc,
			   struct vsock_hdr *resp)
{
	struct vsock_hdr h = fg_hdr(VSOCK_OP_REQUEST, guest_port, LISTEN_PORT, buf_alloc);
	fg_send(g, &h, NULL, 0);
	CHECK(fg_run(g) > 0);
	CHECK_INT(recv_op(g, resp, NULL), VSOCK_OP_RESPONSE);
	int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	CHECK(fd >= 0);
	return fd;
}

/* A link at <uds>_<port> is not followed, even to a listening socket. */
static void test_request_to_a_symlinked_port_gets_rst(void)
{
	struct fake_guest *g = start();
	fg_post_rx(g, 4, 4096);
	char link[160], target[160];
	snprintf(link, sizeof(link), "%s_%d", g->uds, SYMLINK_PORT);
	snprintf(target, sizeof(target), "%s_%d", g->uds, LISTEN_PORT);
	unlink(link);
	CHECK_INT(symlink(target, link), 0);
	struct vsock_hdr h = fg_hdr(VSOCK_OP_REQUEST, 1234, SYMLINK_PORT, 65536), r;
	fg_send(g, &h, NULL, 0);
	CHECK(fg_run(g) > 0);
	CHECK_INT(recv_op(g, &r, NULL), VSOCK_OP_RST);
	int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	CHECK_INT(fd, -1); /* the listener behind the link saw nothing */
	if (fd >= 0)
		close(fd);
	unlink(link);
	fg_stop(g);
}

static void test_request_to_port_without_listener_gets_rst(void)
{
	struct fake_guest *g = start();
	fg_post_rx(g, 4, 4096);
	struct vsock_hdr h = fg_hdr(VSOCK_OP_REQUEST, 1234, NO_LISTENER_PORT, 65536), r;
	uint16_t head = fg_send(g, &h, NULL, 0);
	CHECK(fg_run(g) > 0);
	uint32_t id = ~0u, len = ~0u;
	CHECK_INT(fg_used(g, VQ_TX, &id, &len), 1);
	CHECK_INT(id, head);
	CHECK_INT(len, 0);
	CHECK_INT(recv_op(g, &r, NULL), VSOCK_OP_RST);
	CHECK_INT(r.src_cid, VSOCK_HOST_CID);
	CHECK_INT(r.dst_cid, FG_GUEST_CID);
	CHECK_INT(r.src_port, NO_LISTENER_PORT);
	CHECK_INT(r.dst_port, 1234);
	CHECK_INT(r.len, 0);
	CHECK_INT(recv_op(g, &r, NULL), 0);
	fg_stop(g);
}

/* The backend and the host programs share this process: two fds a
 * connection, past the usual soft limit of 1024. Asks for want fds; 0
 * when at least need can be had. */
static int want_fds(rlim_t want, rlim_t need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
		fprintf(stderr, "  skipped: %llu file descriptors are too few\n",
			(unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

/* Connections are bounded: past the limit a REQUEST gets RST, and once
 * one ends the next is taken again. */
static void test_connections_past_the_limit_are_reset(void)
{
	enum { LIMIT = 512 };
	if (want_fds(4 * LIMIT, 2 * LIMIT + 64) < 0)
		return;
	struct fake_guest *g = start();
	static int hosts[LIMIT];
	struct vsock_hdr resp, r;
	for (int i = 0; i < LIMIT; i++) {
		fg_post_rx(g, 1, 4096);
		hosts[i] = open_guest_conn(g, 20000 + (uint32_t)i, 65536, &resp);
	}
	fg_post_rx(g, 2, 4096);
	struct vsock_hdr h = fg_hdr(VSOCK_OP_REQUEST, 30000, LISTEN_PORT, 65536);
	fg_send(g, &h, NULL, 0);
	CHECK(fg_run(g) > 0);
	CHECK_INT(recv_op(g, &r, NULL), VSOCK_OP_RST);
	CHECK_INT(r.dst_port, 30000);
	/* The guest ends one: a new one is taken. */
	h = fg_hdr(VSOCK_OP_RST, 20000, LISTEN_PORT, 65536);
	fg_send(g, &h, NULL, 0);
	CHECK(fg_run(g) > 0);
	int fd = open_guest_conn(g, 30001, 65536, &resp);
	close(fd);
	for (int i = 0; i < LIMIT; i++)
		close(hosts[i]);
	fg_stop(g);
}

/* The backend buffers at most the buf_alloc it advertised: a guest that
 * sends past it is reset, whatever the host program does not read. */
static void test_guest_overrunning_its_credit_is_reset(void)
{
	struct fake_guest *g = start();
	fg_post_rx(g, 16, 4096);
	struct vsock_hdr resp, r;
	int host = open_guest_conn(g, 1001, 65536, &resp);
	CHECK(resp.buf_alloc > 0);
	size_t sent = 0;
	int reset = 0;
	for (int i = 0; i < 64 && !reset; i++) {
		struct vsock_hdr h = fg_hdr(VSOCK_OP_RW, 1001, LISTEN_PORT, 65536);
		h.len = VSOCK_MAX_PAYLOAD;
		fg_send(g, &h, payload, VSOCK_MAX_PAYLOAD);
		sent += VSOCK_MAX_PAYLOAD;
		CHECK(fg_run(g) > 0);
		int op;
		while ((op = recv_op(g, &r, NULL)) != 0) {
			reset |= op == VSOCK_OP_RST;
			fg_post_rx(g, 1, 4096);
		}
	}
	CHECK(reset);
	/* What the backend took before the overrunning packet was either
	 * written to the host program or held within the advertised buffer. */
	size_t got = 0;
	ssize_t n;
	while ((n = read(host, payload, sizeof(payload))) > 0)
		got += (size_t)n;
	CHECK_INT(n, 0); /* EOF: the backend closed its end */
	CHECK(sent - VSOCK_MAX_PAYLOAD <= got + resp.buf_alloc);
	if (sent - VSOCK_MAX_PAYLOAD > got + resp.buf_alloc)
		fprintf(stderr, "  sent %zu, host got %zu, buf_alloc %u\n", sent, got,
			resp.buf_alloc);
	close(host);
	fg_stop(g);
}

/* With no credit from the guest nothing is read from the host socket; the
 * backend asks for credit once, not again each time it runs. */
static void test_no_host_read_without_guest_credit(void)
{
	struct fake_guest *g = start();
	fg_post_rx(g, 16, 4096);
	struct vsock_hdr resp, r;
	int host = open_guest_conn(g, 1002, 0, &resp);
	char data[1000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('a' + i % 26);
	CHECK_INT(write(host, data, sizeof(data)), sizeof(data));
	int rw = 0, credit_requests = 0;
	for (int round = 0; round < 4; round++) {
		CHECK(fg_run(g) > 0);
		int op;
		while ((op = recv_op(g, &r, NULL)) != 0) {
			rw += op == VSOCK_OP_RW;
			credit_requests += op == VSOCK_OP_CREDIT_REQUEST;
		}
		/* A Linux guest answers with its (still zero) credit. */
		struct vsock_hdr u = fg_hdr(VSOCK_OP_CREDIT_UPDATE, 1002, LISTEN_PORT, 0);
		fg_send(g, &u, NULL, 0);
	}
	CHECK_INT(rw, 0);
	CHECK_INT(credit_requests, 1);
	/* 100 bytes of room: exactly 100 bytes come, the first 100. */
	struct vsock_hdr u = fg_hdr(VSOCK_OP_CREDIT_UPDATE, 1002, LISTEN_PORT, 100);
	fg_send(g, &u, NULL, 0);
	CHECK(fg_run(g) > 0);
	size_t len = 0;
	int op;
	while ((op = recv_op(g, &r, &len)) == VSOCK_OP_CREDIT_REQUEST)
		;
	CHECK_INT(op, VSOCK_OP_RW);
	CHECK_INT(len, 100);
	CHECK(memcmp(payload, data, 100) == 0);
	CHECK(fg_run(g) > 0);
	while ((op = recv_op(g, &r, &len)) != 0)
		CHECK(op != VSOCK_OP_RW);
	close(host);
	fg_stop(g);
}

/* Chains the device cannot use are returned unused and nothing else
 * happens; the queue keeps working after them. */
static void test_bad_descriptors_are_dropped(void)
{
	struct fake_guest *g = start();
	fg_post_rx(g, 4, 4096);
	struct vsock_hdr h = fg_hdr(VSOCK_OP_REQUEST, 1234, NO_LISTENER_PORT, 65536), r;
	uint64_t pkt = fg_alloc_buf(g, VQ_TX, VSOCK_HDR_SIZE);
	vsock_hdr_put(fg_ptr(g, pkt, VSOCK_HDR_SIZE), &h);
	const struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;
	} bad[] = {
		{ 0x40000000, VSOCK_HDR_SIZE, 0, 0 },                      /* far outside */
		{ FG_R0_GPA + FG_R0_SIZE - 20, VSOCK_HDR_SIZE, 0, 0 },     /* runs off region 0 */
		{ FG_R0_GPA + FG_R0_SIZE + 0x1000, VSOCK_HDR_SIZE, 0, 0 }, /* between regions */
		{ pkt, 0xffffffffu, 0, 0 },                                /* huge */
		{ ~0ull - 10, VSOCK_HDR_SIZE, 0, 0 },                      /* wraps */
		{ pkt, VSOCK_HDR_SIZE, VRING_DESC_F_NEXT, 0xffff },        /* next out of range */
		{ pkt, VSOCK_HDR_SIZE, VRING_DESC_F_INDIRECT, 0 },         /* not offered */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint16_t d = fg_alloc_desc(g, VQ_TX);
		fg_desc(g, VQ_TX, d, bad[i].addr, bad[i].len, bad[i].flags, bad[i].next);
		fg_avail(g, VQ_TX, d);
	}
	uint16_t loop = fg_alloc_desc(g, VQ_TX); /* a chain that points at itself */
	fg_desc(g, VQ_TX, loop, pkt, VSOCK_HDR_SIZE, VRING_DESC_F_NEXT, loop);
	fg_avail(g, VQ_TX, loop);
	fg_avail(g, VQ_TX, 0x9999); /* a head past the table */
	CHECK(fg_run(g) > 0);
	uint32_t id, len;
	int used = 0;
	while (fg_used(g, VQ_TX, &id, &len)) {
		used++;
		CHECK_INT(len, 0);
	}
	CHECK_INT(used, sizeof(bad) / sizeof(bad[0]) + 2);
	CHECK_INT(recv_op(g, &r, NULL), 0); /* dropped, not answered */
	fg_send(g, &h, NULL, 0);
	CHECK(fg_run(g) > 0);
	CHECK_INT(recv_op(g, &r, NULL), VSOCK_OP_RST);
	fg_stop(g);
}

/* A zero-length descriptor carries nothing, wherever it points: the chain
 * is used as if it were not there (and no NULL pointer reaches memcpy). */
static void test_zero_length_descriptors_carry_nothing(void)
{
	struct fake_guest *g = start();
	uint16_t rx[2] = { fg_alloc_desc(g, VQ_RX), fg_alloc_desc(g, VQ_RX) };
	fg_desc(g, VQ_RX, rx[0], 0x40000000, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, rx[1]);
	fg_desc(g, VQ_RX, rx[1], fg_alloc_buf(g, VQ_RX, 4096), 4096, VRING_DESC_F_WRITE, 0);
	fg_avail(g, VQ_RX, rx[0]);
	struct vsock_hdr h = fg_hdr(VSOCK_OP_REQUEST, 1234, NO_LISTENER_PORT, 65536), r;
	uint64_t pkt = fg_alloc_buf(g, VQ_TX, VSOCK_HDR_SIZE);
	vsock_hdr_put(fg_ptr(g, pkt, VSOCK_HDR_SIZE), &h);
	uint16_t tx[2] = { fg_alloc_desc(g, VQ_TX), fg_alloc_desc(g, VQ_TX) };
	fg_desc(g, VQ_TX, tx[0], pkt, VSOCK_HDR_SIZE, VRING_DESC_F_NEXT, tx[1]);
	fg_desc(g, VQ_TX, tx[1], 0x40000000, 0, 0, 0);
	fg_avail(g, VQ_TX, tx[0]);
	CHECK(fg_run(g) > 0);
	CHECK_INT(recv_op(g, &r, NULL), VSOCK_OP_RST);
	CHECK_INT(r.src_port, NO_LISTENER_PORT);
	fg_stop(g);
}

/* Rings where virtio does not allow them (desc 16-, avail 2-, used 4-byte
 * aligned) leave the queue unusable instead of being read askew. */
static void test_misaligned_rings_are_refused(void)
{
	static const uint64_t skew[3][3] = { { 8, 0, 0 }, { 0, 1, 0 }, { 0, 0, 2 } };
	for (int k = 0; k < 3; k++) {
		struct fake_guest *g = start();
		CHECK(vq_ready(&g->dev, VQ_TX));
		struct fg_ring_conf rc = g->ring[VQ_TX].c;
		rc.desc += skew[k][0];
		rc.avail += skew[k][1];
		rc.used += skew[k][2];
		fg_set_ring(g, VQ_TX, &rc);
		CHECK(!vq_ready(&g->dev, VQ_TX));
		CHECK(strstr(fg_last_log, "misaligned") != NULL);
		fg_post_rx(g, 4, 4096);
		struct vsock_hdr h = fg_hdr(VSOCK_OP_REQUEST, 1234, NO_LISTENER_PORT, 65536), r;
		fg_send(g, &h, NULL, 0);
		CHECK(fg_run(g) > 0);
		uint32_t id, len;
		CHECK_INT(fg_used(g, VQ_TX, &id, &len), 0);
		CHECK_INT(recv_op(g, &r, NULL), 0);
		fg_stop(g);
	}
}

/* ---- host clients that give up ---- */

#define AGENT_PORT 5252

/* Every packet the device has put on rx, each buffer given back: how many
 * had op (any op when op is 0); *last is the last REQUEST's header. */
static int drain_rx(struct fake_guest *g, uint16_t op, struct vsock_hdr *last)
{
	struct vsock_hdr r;
	int n = 0, got;
	while ((got = recv_op(g, &r, NULL)) != 0) {
		fg_post_rx(g, 1, 256);
		n += op == 0 || got == op;
		if (got == VSOCK_OP_REQUEST && last)
			*last = r;
	}
	return n;
}

/* A host client's CONNECT to the agent's port, accepted by the guest with
 * buf_alloc: the client's end; *host_port is the port the device chose. */
static int open_host_conn(struct fake_guest *g, uint32_t buf_alloc, uint32_t *host_port)
{
	int fd = fg_connect(g, "CONNECT 5252\n", 13);
	struct vsock_hdr req = { 0 };
	fg_run(g);
	CHECK_INT(drain_rx(g, VSOCK_OP_REQUEST, &req), 1);
	CHECK_INT(req.dst_port, AGENT_PORT);
	struct vsock_hdr h = fg_hdr(VSOCK_OP_RESPONSE, AGENT_PORT, req.src_port, buf_alloc);
	fg_send(g, &h, NULL, 0);
	fg_run(g);
	*host_port = req.src_port;
	return fd;
}

/* 600 host clients give up, in every state a connection can be in, while
 * the guest does nothing about it (it never answers, or never closes its
 * end). Each is ended with an RST to the guest once its client is gone, so
 * the table (512) has room for the next one. */
static void test_abandoned_host_connections_are_reaped(void)
{
	enum { ABANDONED = 600, LINE_ONLY = 50 };
	if (want_fds(4 * ABANDONED, 2 * ABANDONED) < 0)
		return;
	struct fake_guest *g = start();
	fg_post_rx(g, FG_NUM, 256);
	int rst = 0, shutdowns = 0;
	for (int i = 0; i < ABANDONED; i++) {
		int kind = i < LINE_ONLY ? 0 : 1 + i % 5, fd;
		uint32_t port = 0;
		char ok[32];
		struct vsock_hdr req = { 0 };
		switch (kind) {
		case 0: /* gone before its CONNECT line was whole */
			fd = fg_connect(g, "CONNECT 52", 10);
			fg_run(g);
			break;
		case 1: /* gone while the guest had not answered */
			fd = fg_connect(g, "CONNECT 5252\n", 13);
			fg_run(g);
			CHECK_INT(drain_rx(g, VSOCK_OP_REQUEST, &req), 1);
			break;
		case 2: /* gone after reading OK */
			fd = open_host_conn(g, 65536, &port);
			CHECK(read(fd, ok, sizeof(ok)) > 0 && memcmp(ok, "OK ", 3) == 0);
			break;
		case 3: /* gone without reading OK */
			fd = open_host_conn(g, 65536, &port);
			break;
		case 4: /* half-closed first: the guest saw its end of input */
			fd = open_host_conn(g, 65536, &port);
			shutdown(fd, SHUT_WR);
			fg_run(g);
			shutdowns += drain_rx(g, VSOCK_OP_SHUTDOWN, NULL);
			break;
		default: /* gone with bytes the guest has no credit for */
			fd = open_host_conn(g, 0, &port);
			CHECK_INT(write(fd, payload, 1000), 1000);
			fg_run(g);
			break;
		}
		close(fd);
		fg_run(g);
		rst += drain_rx(g, VSOCK_OP_RST, NULL);
	}
	CHECK_INT(shutdowns, (ABANDONED - LINE_ONLY) / 5);
	/* The last kind waits for the guest to take the bytes, for a while. */
	CHECK_INT(rst, (ABANDONED - LINE_ONLY) * 4 / 5);
	fg_now_ms += 60000;
	fg_run(g);
	rst += drain_rx(g, VSOCK_OP_RST, NULL);
	CHECK_INT(rst, ABANDONED - LINE_ONLY);

	uint32_t port;
	int fd = open_host_conn(g, 65536, &port);
	char ok[32];
	ssize_t n = read(fd, ok, sizeof(ok));
	CHECK(n > 3 && memcmp(ok, "OK ", 3) == 0);
	close(fd);
	fg_stop(g);
}

/* A client that gives up before its REQUEST could even go to the guest (no
 * rx buffers yet): the REQUEST is taken back, the guest hears nothing. */
static void test_client_gone_before_the_guest_heard_of_it(void)
{
	struct fake_guest *g = start();
	int fd = fg_connect(g, "CONNECT 5252\n", 13);
	fg_run(g);
	close(fd);
	fg_run(g);
	fg_post_rx(g, 8, 256);
	fg_run(g);
	CHECK_INT(drain_rx(g, 0, NULL), 0);
	fg_stop(g);
}

/* A host client that hangs up while the guest is still taking what it
 * wrote: all of it reaches the guest, then the connection ends. */
static void test_hung_up_clients_bytes_still_reach_the_guest(void)
{
	struct fake_guest *g = start();
	fg_post_rx(g, 4, 256);
	uint32_t port;
	int fd = open_host_conn(g, 65536, &port);
	CHECK_INT(write(fd, "last words", 10), 10);
	close(fd);
	fg_post_rx(g, 4, 4096);
	fg_run(g);
	struct vsock_hdr r;
	size_t len = 0;
	CHECK_INT(recv_op(g, &r, &len), VSOCK_OP_RW);
	CHECK(len == 10 && memcmp(payload, "last words", 10) == 0);
	CHECK_INT(recv_op(g, &r, NULL), VSOCK_OP_RST);
	CHECK_INT(r.src_port, port);
	fg_stop(g);
}

/* ---- a full fd table ---- */

/* In a child: it fills its own fd table. */
static int full_fd_table_child(void)
{
	check_failed = 0;
	struct fake_guest *g = start();
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/hybrid", g->dir);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(l >= 0 && bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(l, 16) == 0);
	vsock_dev_listen(g->vs, l, FG_TAG_LISTEN);
	int ours = fg_connect(g, "CONNECT 5252\n", 13); /* one that can end */
	fg_run(g);
	int clients[3];
	for (int i = 0; i < 3; i++) {
		clients[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		CHECK_INT(connect(clients[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	/* The lowest free fd is the limit: no new fd from here on. */
	struct rlimit saved, rl;
	getrlimit(RLIMIT_NOFILE, &saved);
	rl = saved;
	int lowest = dup(0);
	close(lowest);
	rl.rlim_cur = (rlim_t)lowest;
	CHECK_INT(setrlimit(RLIMIT_NOFILE, &rl), 0);

	unsigned long lines = fg_log_count;
	int events = 0, n;
	for (int i = 0; i < 100; i++) {
		fg_pass(g, &n);
		events += n;
	}
	CHECK_INT(events, 1); /* the first accept() failed: then not watched */
	CHECK_INT(fg_log_count - lines, 1);
	CHECK(strstr(fg_last_log, "Too many open files") != NULL);
	/* Tried again after a second: fails, counted, not watched again. */
	fg_now_ms += 1000;
	events = 0;
	for (int i = 0; i < 100; i++) {
		fg_pass(g, &n);
		events += n;
	}
	CHECK_INT(events, 1);
	CHECK_INT(fg_log_count - lines, 1);

	/* Room again, and a connection of ours ends: the clients are taken. */
	setrlimit(RLIMIT_NOFILE, &saved);
	close(ours);
	fg_run(g);
	fg_post_rx(g, 8, 256);
	for (int i = 0; i < 3; i++)
		CHECK_INT(write(clients[i], "CONNECT 5252\n", 13), 13);
	fg_run(g);
	CHECK_INT(drain_rx(g, VSOCK_OP_REQUEST, NULL), 3);
	for (int i = 0; i < 3; i++)
		close(clients[i]);
	fg_run(g);
	fg_stop(g);
	close(l);
	unlink(sa.sun_path);
	return check_failed ? 1 : 0;
}

/* A full fd table does not turn the hybrid listener into a busy loop: it
 * is not watched until a connection closes (or a second passes), and the
 * failure is one log line. */
static void test_full_fd_table_does_not_spin_the_listener(void)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(full_fd_table_child());
	int st = -1;
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- a guest that keeps its tx ring full ---- */

#define REFILL_PORT 6000

/* A guest vCPU that posts a packet for each one the device takes: the
 * packets are REQUESTs to a port served in this process, whose open_fd
 * (this) posts the next one, until cap. */
static struct {
	struct fake_guest *g;
	long posted, cap;
} refill;

static int refill_open(void *ctx)
{
	(void)ctx;
	if (refill.posted < refill.cap) {
		struct vsock_hdr h = fg_hdr(VSOCK_OP_REQUEST, 2000, REFILL_PORT, 65536);
		fg_send(refill.g, &h, NULL, 0);
		refill.posted++;
	}
	return -1; /* refused: an RST for each */
}

/* The device takes a bounded number of the guest's packets per pass, so a
 * host CONNECT made meanwhile reaches the guest within a few passes, not
 * after the flood (the vhost_net CVE-2019-3900 pattern). */
static void test_full_tx_ring_does_not_starve_a_host_connect(void)
{
	struct fg_conf c;
	fg_default_conf(&c);
	c.q[VQ_RX].num = FG_MAX_NUM; /* room for a pass's RSTs */
	CHECK_INT(fg_start(&G, &c), 0);
	struct fake_guest *g = &G;
	vsock_dev_serve_port(g->vs, REFILL_PORT, refill_open, NULL);
	refill.g = g;
	refill.posted = 0;
	refill.cap = 50000;
	for (int i = 0; i < 100; i++) {
		struct vsock_hdr h = fg_hdr(VSOCK_OP_REQUEST, 2000, REFILL_PORT, 65536);
		fg_send(g, &h, NULL, 0);
	}
	fg_post_rx(g, FG_MAX_NUM, 64);
	int host = fg_connect(g, "CONNECT 5252\n", 13);
	int passes = 0, more = 1, served = 0;
	long most = 0;
	while (!served && passes < 16) {
		long before = refill.posted;
		more &= fg_pass(g, NULL);
		passes++;
		if (refill.posted - before > most)
			most = refill.posted - before;
		struct vsock_hdr r;
		int op;
		while ((op = recv_op(g, &r, NULL)) != 0) {
			served |= op == VSOCK_OP_REQUEST && r.dst_port == AGENT_PORT;
			fg_post_rx(g, 1, 64);
		}
	}
	CHECK(served);
	CHECK(passes <= 4);
	CHECK(more); /* each pass said it had left work */
	CHECK(most <= 1000);
	CHECK(refill.posted < refill.cap); /* served while the flood went on */
	if (most > 1000 || passes > 4)
		fprintf(stderr, "  %d passes, at most %ld packets in one\n", passes, most);
	refill.cap = 0; /* the guest stops: what is left is done, and quiet */
	for (int i = 0; i < 64 && fg_run(g) < 0; i++)
		drain_rx(g, 0, NULL);
	CHECK(fg_run(g) > 0);
	close(host);
	fg_stop(g);
}

/* A guest that floods the tx ring with bad packets gets one log line for
 * the whole flood and a count line a second at most, not a line a packet;
 * the count comes when the limiter's timer is due, and a quiet second ends
 * the episode. */
static void test_bad_packet_flood_is_one_log_line(void)
{
	struct fake_guest *g = start();
	enum { FLOOD = 100000, BATCH = 100 };
	struct vsock_hdr h = fg_hdr(VSOCK_OP_RST, 1234, NO_LISTENER_PORT, 0);
	h.type = 2; /* not a stream packet (and an RST: it gets no answer) */
	unsigned long lines = fg_log_count;
	uint32_t id, len;
	for (int sent = 0; sent < FLOOD; sent += BATCH) {
		for (int i = 0; i < BATCH; i++)
			fg_send(g, &h, NULL, 0);
		fg_run(g);
		while (fg_used(g, VQ_TX, &id, &len))
			;
	}
	CHECK_INT(fg_log_count - lines, 1);
	CHECK_STR(fg_last_log, "dropping a packet from the guest: not a stream packet");
	CHECK_INT(vsock_dev_tick(g->vs), LOG_EPISODE_MS);
	fg_now_ms += LOG_EPISODE_MS;
	CHECK_INT(vsock_dev_tick(g->vs), LOG_EPISODE_MS);
	CHECK_INT(fg_log_count - lines, 2);
	CHECK_STR(fg_last_log, "dropping a packet from the guest: 99999 more times");
	fg_now_ms += LOG_EPISODE_MS;
	CHECK_INT(vsock_dev_tick(g->vs), -1); /* over */
	CHECK_INT(fg_log_count - lines, 2);

	/* With time passing during the flood: at most a line a second. */
	lines = fg_log_count;
	for (int sent = 0; sent < FLOOD; sent += BATCH) {
		for (int i = 0; i < BATCH; i++)
			fg_send(g, &h, NULL, 0);
		fg_run(g);
		while (fg_used(g, VQ_TX, &id, &len))
			;
		fg_now_ms += 10; /* 10 s in all */
		vsock_dev_tick(g->vs);
	}
	CHECK(fg_log_count - lines >= 10 && fg_log_count - lines <= 12);
	fg_now_ms += 2 * LOG_EPISODE_MS;
	vsock_dev_tick(g->vs);
	fg_stop(g);
}

/* The guest resets a connection while its host socket has news: both in
 * one batch of events. The connection goes and the event for it is not
 * acted on after it is freed (ASan would say). */
static void test_guest_reset_and_host_data_in_one_batch(void)
{
	struct fake_guest *g = start();
	fg_post_rx(g, 8, 4096);
	struct vsock_hdr resp, h = fg_hdr(VSOCK_OP_RST, 1003, LISTEN_PORT, 0);
	int host = open_guest_conn(g, 1003, 65536, &resp);
	CHECK_INT(write(host, "x", 1), 1);
	fg_send(g, &h, NULL, 0);
	CHECK(fg_run(g) > 0);
	char c;
	ssize_t n = read(host, &c, 1);
	CHECK(n == 0 || (n < 0 && errno == ECONNRESET)); /* reset with "x" unread */
	close(host);
	fg_stop(g);
}

/* Credit news for a connection is one packet however often it was asked
 * for while the guest had no rx buffers: it must not crowd the control
 * queue until an RST is dropped. */
static void test_repeated_credit_news_is_queued_once(void)
{
	struct fake_guest *g = start();
	fg_post_rx(g, 1, 4096); /* for the RESPONSE, then none */
	struct vsock_hdr resp, r;
	int host = open_guest_conn(g, 1004, 65536, &resp);
	for (int i = 0; i < 1100; i++) {
		struct vsock_hdr h = fg_hdr(VSOCK_OP_CREDIT_REQUEST, 1004, LISTEN_PORT, 65536);
		fg_send(g, &h, NULL, 0);
		fg_run(g);
	}
	struct vsock_hdr h = fg_hdr(VSOCK_OP_REQUEST, 1234, NO_LISTENER_PORT, 65536);
	fg_send(g, &h, NULL, 0);
	fg_run(g);
	int updates = 0, rst = 0, got, op;
	do { /* rx buffers until the backend has nothing more to say */
		fg_post_rx(g, 64, 256);
		fg_run(g);
		for (got = 0; (op = recv_op(g, &r, NULL)) != 0; got++) {
			updates += op == VSOCK_OP_CREDIT_UPDATE;
			rst += op == VSOCK_OP_RST && r.src_port == NO_LISTENER_PORT;
		}
	} while (got == 64);
	CHECK_INT(updates, 1);
	CHECK_INT(rst, 1);
	close(host);
	fg_stop(g);
}

/* The guest is done sending, the host program still has to answer: the
 * host sees EOF, its answer still reaches the guest, and the backend goes
 * quiet meanwhile (shutdown() on a Unix socket wakes its own epoll entry,
 * so shutting down again on each event would spin). */
static void test_guest_half_close_goes_quiet(void)
{
	struct fake_guest *g = start();
	fg_post_rx(g, 8, 4096);
	struct vsock_hdr resp, r, h = fg_hdr(VSOCK_OP_SHUTDOWN, 1005, LISTEN_PORT, 65536);
	int host = open_guest_conn(g, 1005, 65536, &resp);
	h.flags = VSOCK_SHUTDOWN_SEND;
	fg_send(g, &h, NULL, 0);
	CHECK(fg_run(g) > 0);
	char c;
	CHECK_INT(read(host, &c, 1), 0);
	CHECK(fg_run(g) > 0);
	CHECK_INT(write(host, "answer", 6), 6);
	CHECK(fg_run(g) > 0);
	size_t len = 0;
	CHECK_INT(recv_op(g, &r, &len), VSOCK_OP_RW);
	CHECK(len == 6 && memcmp(payload, "answer", 6) == 0);
	close(host);
	fg_stop(g);
}

/* A guest that claims more new chains than its ring holds has a broken
 * ring: the stale entries are not replayed (their packets were handled
 * already); the queue stops until QEMU sets the ring up again. */
static void test_avail_index_past_the_ring_stops_the_queue(void)
{
	struct fake_guest *g = start();
	fg_post_rx(g, 64, 256);
	struct vsock_hdr h = fg_hdr(VSOCK_OP_REQUEST, 1234, NO_LISTENER_PORT, 65536), r;
	fg_send(g, &h, NULL, 0);
	CHECK(fg_run(g) > 0);
	CHECK_INT(recv_op(g, &r, NULL), VSOCK_OP_RST);
	uint32_t id, len;
	CHECK_INT(fg_used(g, VQ_TX, &id, &len), 1);
	fg_set_avail_idx(g, VQ_TX, (uint16_t)(g->ring[VQ_TX].avail_idx + FG_NUM + 1));
	CHECK(fg_run(g) > 0);
	CHECK_INT(fg_used(g, VQ_TX, &id, &len), 0);
	CHECK_INT(recv_op(g, &r, NULL), 0);
	CHECK(strstr(fg_last_log, "avail index") != NULL);
	/* QEMU restarting the ring where the guest now is brings it back. */
	struct vu_msg m = fg_msg(VU_SET_VRING_BASE, sizeof(struct vu_state));
	m.p.state = (struct vu_state){ VQ_TX, g->ring[VQ_TX].avail_idx };
	CHECK_INT(fg_vhost(g, &m), 0);
	fg_send(g, &h, NULL, 0);
	CHECK(fg_run(g) > 0);
	CHECK_INT(recv_op(g, &r, NULL), VSOCK_OP_RST);
	fg_stop(g);
}

/* A malformed rx chain is returned and the next one is used, in the same
 * pass: control packets do not wait for some later event. */
static void test_bad_rx_chain_does_not_hold_up_control_packets(void)
{
	struct fake_guest *g = start();
	uint16_t d = fg_alloc_desc(g, VQ_RX);
	fg_desc(g, VQ_RX, d, 0x40000000, 4096, VRING_DESC_F_WRITE, 0);
	fg_avail(g, VQ_RX, d);
	fg_post_rx(g, 1, 4096);
	struct vsock_hdr h = fg_hdr(VSOCK_OP_REQUEST, 1234, NO_LISTENER_PORT, 65536), r;
	fg_send(g, &h, NULL, 0);
	vsock_dev_pump(g->vs);                        /* one pass, as after one batch of events */
	CHECK_INT(fg_recv(g, &r, NULL, 0, NULL), -1); /* the bad one, unused */
	CHECK_INT(recv_op(g, &r, NULL), VSOCK_OP_RST);
	fg_stop(g);
}

int main(void)
{
	test_header_roundtrip();
	test_checks();
	test_credit();
	test_connect_line();
	test_vhost_user_checks();
	test_log_limiter();
	if (fg_open(&G) < 0 || (listen_fd = fg_listen(&G, LISTEN_PORT)) < 0)
		return 1;
	test_request_to_port_without_listener_gets_rst();
	test_request_to_a_symlinked_port_gets_rst();
	test_connections_past_the_limit_are_reset();
	test_guest_overrunning_its_credit_is_reset();
	test_no_host_read_without_guest_credit();
	test_bad_descriptors_are_dropped();
	test_zero_length_descriptors_carry_nothing();
	test_misaligned_rings_are_refused();
	test_guest_reset_and_host_data_in_one_batch();
	test_repeated_credit_news_is_queued_once();
	test_guest_half_close_goes_quiet();
	test_avail_index_past_the_ring_stops_the_queue();
	test_bad_rx_chain_does_not_hold_up_control_packets();
	test_bad_packet_flood_is_one_log_line();
	test_abandoned_host_connections_are_reaped();
	test_client_gone_before_the_guest_heard_of_it();
	test_hung_up_clients_bytes_still_reach_the_guest();
	test_full_tx_ring_does_not_starve_a_host_connect();
	test_full_fd_table_does_not_spin_the_listener();
	fg_close(&G);
	return check_summary("test_vsock");
}
