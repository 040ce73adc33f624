/* Unit tests of wisp-vsockd's parsers: the virtio-vsock header and its
 * checks, credit arithmetic, the hybrid CONNECT line, and the validation
 * of vhost-user messages. No QEMU involved. */
#include "../../boot/vsockd/vhost_user.h"
#include "../../boot/vsockd/vsock_proto.h"
#include "check.h"

static void test_header_roundtrip(void)
{
	struct vsock_hdr h = { .src_cid = 3, .dst_cid = 2, .src_port = 0x12345678, .dst_port = 5000,
			       .len = 7, .type = 1, .op = VSOCK_OP_RW, .flags = 0,
			       .buf_alloc = 262144, .fwd_cnt = 0xfffffff0 }, g;
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
	CHECK_INT(vsock_credit(1000, 0, 5000), 0);             /* overrun: none */
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

int main(void)
{
	test_header_roundtrip();
	test_checks();
	test_credit();
	test_connect_line();
	test_vhost_user_checks();
	return check_summary("test_vsock");
}
