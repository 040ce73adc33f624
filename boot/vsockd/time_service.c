#include "time_service.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../common/time_wire.h"
#include "log.h"

/* Read this much at a time: a few requests, never a flood's worth. */
#define READ_CHUNK 256

struct time_conn {
	int fd;                    /* -1: the slot is free */
	unsigned long long opened; /* order of arrival, to close the oldest */
	struct time_wire_rx rx;
};

struct time_service {
	int epfd;
	unsigned long long opened;
	struct time_conn conns[TIME_SERVICE_MAX_CONNS];
	int debug;
	struct log_limit open_failed; /* each guest connection can fail again */
};

struct time_service *time_service_new(void)
{
	struct time_service *ts = calloc(1, sizeof(*ts));
	if (!ts)
		return NULL;
	ts->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ts->epfd < 0) {
		free(ts);
		return NULL;
	}
	for (int i = 0; i < TIME_SERVICE_MAX_CONNS; i++)
		ts->conns[i].fd = -1;
	const char *dbg = getenv("WISP_VSOCKD_DEBUG");
	ts->debug = dbg && *dbg == '1';
	ts->open_failed = LOG_LIMIT("time service: a connection failed to open");
	return ts;
}

int time_service_fd(const struct time_service *ts)
{
	return ts->epfd;
}

static void conn_close(struct time_service *ts, struct time_conn *c)
{
	epoll_ctl(ts->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

static struct time_conn *free_slot(struct time_service *ts)
{
	struct time_conn *oldest = &ts->conns[0];
	for (int i = 0; i < TIME_SERVICE_MAX_CONNS; i++) {
		if (ts->conns[i].fd < 0)
			return &ts->conns[i];
		if (ts->conns[i].opened < oldest->opened)
			oldest = &ts->conns[i];
	}
	if (ts->debug)
		log_msg("time service: %d connections open: closing the oldest",
			TIME_SERVICE_MAX_CONNS);
	conn_close(ts, oldest);
	return oldest;
}

int time_service_open(void *ctx)
{
	struct time_service *ts = ctx;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		log_limited(&ts->open_failed, "time service: socketpair: %s", strerror(errno));
		return -1;
	}
	struct time_conn *c = free_slot(ts);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
	if (epoll_ctl(ts->epfd, EPOLL_CTL_ADD, sv[1], &ev) < 0) {
		log_limited(&ts->open_failed, "time service: epoll_ctl: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	*c = (struct time_conn){ .fd = sv[1], .opened = ++ts->opened };
	return sv[0];
}

static int64_t realtime_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* One answer, stamped as late as possible. A client has one request in
 * flight; one whose answers do not fit the socket is not reading them. */
static int answer(struct time_conn *c, uint64_t seq)
{
	uint8_t out[TIME_WIRE_RESPONSE_SIZE];
	time_wire_put_response(out, seq, realtime_ns());
	return write(c->fd, out, sizeof(out)) == (ssize_t)sizeof(out) ? 0 : -1;
}

/* Reads what is there and answers it: 0 to keep the connection, -1 to close. */
static int serve(struct time_service *ts, struct time_conn *c)
{
	for (;;) {
		uint8_t buf[READ_CHUNK];
		ssize_t n = read(c->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1; /* the guest closed, or the connection was reset */
		for (size_t at = 0; at < (size_t)n;) {
			int status;
			uint64_t seq = 0;
			at += time_wire_rx_feed(&c->rx, buf + at, (size_t)n - at, &status, &seq);
			if (status == TIME_RX_BAD) {
				if (ts->debug)
					log_msg("time service: not a request: closing");
				return -1;
			}
			if (status == TIME_RX_REQUEST && answer(c, seq) < 0)
				return -1;
		}
	}
}

void time_service_run(struct time_service *ts)
{
	struct epoll_event ev[TIME_SERVICE_MAX_CONNS];
	int n = epoll_wait(ts->epfd, ev, TIME_SERVICE_MAX_CONNS, 0);
	for (int i = 0; i < n; i++) {
		struct time_conn *c = ev[i].data.ptr;
		if (c->fd >= 0 && serve(ts, c) < 0)
			conn_close(ts, c);
	}
}

int time_service_tick(struct time_service *ts)
{
	return log_limit_tick(&ts->open_failed, mono_ms());
}

void time_service_free(struct time_service *ts)
{
	for (int i = 0; i < TIME_SERVICE_MAX_CONNS; i++)
		if (ts->conns[i].fd >= 0)
			conn_close(ts, &ts->conns[i]);
	close(ts->epfd);
	free(ts);
}
