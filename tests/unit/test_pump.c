/* Unit tests of two sockets joined both ways (common/pump.c), on socket
 * pairs: bytes in order through a small ring, half-close passed on each
 * way, the buffer bound, a peer that goes away. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/pump.h"
#include "check.h"

struct rig {
	int a[2], b[2]; /* the pump has a[1] and b[0]; the test a[0] and b[1] */
	struct pump p;
};

static void rig_init(struct rig *r, size_t bufsize)
{
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, r->a);
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, r->b);
	CHECK_INT(pump_init(&r->p, r->a[1], r->b[0], bufsize), 0);
}

static enum pump_state kick(struct rig *r)
{
	pump_event(&r->p, 0, EPOLLIN | EPOLLOUT);
	pump_event(&r->p, 1, EPOLLIN | EPOLLOUT);
	return pump_run(&r->p);
}

static void rig_free(struct rig *r)
{
	pump_free(&r->p);
	close(r->a[0]);
	close(r->b[1]);
}

static void test_bytes_in_order_through_a_small_ring(void)
{
	struct rig r;
	rig_init(&r, 7);
	unsigned char out[3000], in[3000];
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (unsigned char)(i * 31 + i / 7);
	size_t sent = 0, got = 0;
	for (int turn = 0; turn < 10000 && got < sizeof(in); turn++) {
		if (sent < sizeof(out)) {
			ssize_t n = write(r.a[0], out + sent,
					  sizeof(out) - sent < 13 ? sizeof(out) - sent : 13);
			if (n > 0)
				sent += (size_t)n;
		}
		CHECK_INT(kick(&r), PUMP_MORE);
		ssize_t n = read(r.b[1], in + got, 5);
		if (n > 0)
			got += (size_t)n;
	}
	CHECK_INT(got, sizeof(in));
	CHECK(!memcmp(in, out, sizeof(in)));
	CHECK(r.p.moved[0] == sizeof(out));
	rig_free(&r);
}

static void test_half_close_passes_both_ways(void)
{
	struct rig r;
	rig_init(&r, 4096);
	CHECK_INT(write(r.a[0], "ask", 3), 3);
	shutdown(r.a[0], SHUT_WR);
	CHECK_INT(kick(&r), PUMP_MORE);
	char buf[16];
	CHECK_INT(read(r.b[1], buf, sizeof(buf)), 3);
	CHECK_INT(read(r.b[1], buf, sizeof(buf)), 0); /* the end of stream passed on */
	/* The other way still flows. */
	CHECK_INT(write(r.b[1], "answer", 6), 6);
	CHECK_INT(kick(&r), PUMP_MORE);
	CHECK_INT(read(r.a[0], buf, sizeof(buf)), 6);
	shutdown(r.b[1], SHUT_WR);
	CHECK_INT(kick(&r), PUMP_DONE);
	CHECK_INT(read(r.a[0], buf, sizeof(buf)), 0);
	rig_free(&r);
}

static void test_a_full_buffer_stops_reading(void)
{
	struct rig r;
	rig_init(&r, 4096);
	char chunk[4096] = { 0 };
	/* Fill everything: the far reader never reads. */
	size_t written = 0;
	for (int i = 0; i < 4096; i++) {
		ssize_t n = write(r.a[0], chunk, sizeof(chunk));
		if (n > 0)
			written += (size_t)n;
		kick(&r);
		if (n < 0 && errno == EAGAIN && !r.p.side[0].readable)
			break;
	}
	CHECK(r.p.dir[0].len <= r.p.dir[0].size);
	CHECK(r.p.dir[0].len == r.p.dir[0].size); /* full, and the source left alone */
	CHECK(written < 4096 * sizeof(chunk));
	rig_free(&r);
}

static void test_a_peer_gone_fails_the_pump(void)
{
	struct rig r;
	rig_init(&r, 4096);
	close(r.b[1]);
	r.b[1] = -1;
	CHECK_INT(write(r.a[0], "x", 1), 1);
	CHECK_INT(kick(&r), PUMP_FAILED); /* EPIPE writing to b */
	rig_free(&r);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as in wisp and the forwarder */
	test_bytes_in_order_through_a_small_ring();
	test_half_close_passes_both_ways();
	test_a_full_buffer_stops_reading();
	test_a_peer_gone_fails_the_pump();
	return check_summary("test_pump");
}
