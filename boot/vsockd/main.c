/* wisp-vsockd: a vhost-user backend for QEMU's vhost-user-vsock devices
 * that needs no /dev/vhost-vsock, with Firecracker-style hybrid Unix
 * sockets on the host side, and the host time service of docs/time.md on
 * vsock port 5254. One process per VM, one epoll loop.
 *
 *   wisp-vsockd --vhost-fd N | --vhost-socket PATH  --uds PATH  [--cid N]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../common/time_wire.h"
#include "../../common/unix_sock.h"
#include "log.h"
#include "time_service.h"
#include "vhost_user.h"
#include "vsock_dev.h"
#include "vu_dev.h"

#define DEFAULT_CID 3

/* For the signal handler: the socket file to remove on the way out. */
static const char *uds_to_remove;

/* Not 0: that status says QEMU hung up (wisp reads it so). */
static void on_term(int sig)
{
	if (uds_to_remove)
		unlink(uds_to_remove);
	_exit(128 + sig);
}
enum { TAG_VHOST = 1, TAG_LISTEN, TAG_KICK_RX, TAG_KICK_TX, TAG_TIME };

static int accept_vhost(const char *path)
{
	unlink(path);
	int l = unix_listen(path, 64, 1);
	if (l < 0)
		return -1;
	/* QEMU connects once; wait for it with the socket made blocking. */
	int fl = fcntl(l, F_GETFL);
	fcntl(l, F_SETFL, fl & ~O_NONBLOCK);
	int fd;
	do
		fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	close(l);
	unlink(path);
	return fd;
}

static void watch(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
	epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Kick fds change under vhost-user messages: follow them in epoll. */
static void track_kicks(int epfd, struct vu_dev *d, int watched[VU_NQUEUES])
{
	for (int q = 0; q < VU_NQUEUES; q++) {
		if (watched[q] == d->vq[q].kick_fd)
			continue;
		if (watched[q] >= 0)
			epoll_ctl(epfd, EPOLL_CTL_DEL, watched[q], NULL);
		watched[q] = d->vq[q].kick_fd;
		if (watched[q] >= 0)
			watch(epfd, watched[q], q == VQ_RX ? TAG_KICK_RX : TAG_KICK_TX);
	}
}

static int is_tag(const struct epoll_event *ev)
{
	return ev->data.u64 <= TAG_TIME;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vhost-fd", required_argument, NULL, 'f' },
		{ "vhost-socket", required_argument, NULL, 's' },
		{ "uds", required_argument, NULL, 'u' },
		{ "cid", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	int vhost = -1;
	const char *vhost_path = NULL, *uds = NULL;
	unsigned long long cid = DEFAULT_CID;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		switch (o) {
		case 'f':
			vhost = (int)strtol(optarg, &end, 10);
			break;
		case 's':
			vhost_path = optarg;
			break;
		case 'u':
			uds = optarg;
			break;
		case 'c':
			cid = strtoull(optarg, &end, 10);
			if (*end || cid < 3 || cid > 0xfffffffeULL) {
				log_msg("invalid --cid '%s': want 3 or more", optarg);
				return 2;
			}
			break;
		default:
			fprintf(stderr,
				"usage: wisp-vsockd --vhost-fd N|--vhost-socket PATH --uds PATH [--cid N]\n");
			return 2;
		}
	}
	if ((vhost < 0 && !vhost_path) || !uds) {
		fprintf(stderr,
			"usage: wisp-vsockd --vhost-fd N|--vhost-socket PATH --uds PATH [--cid N]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	unlink(uds);
	int listener = unix_listen(uds, 64, 1);
	uds_to_remove = uds;
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (listener < 0) {
		log_msg("listen on %s: %s", uds, strerror(errno));
		return 1;
	}
	if (vhost < 0 && (vhost = accept_vhost(vhost_path)) < 0) {
		log_msg("vhost-user socket %s: %s", vhost_path, strerror(errno));
		return 1;
	}
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	static struct vu_dev dev;
	vu_dev_init(&dev, cid);
	struct vsock_dev *vs = vsock_dev_new(&dev, uds, epfd);
	struct time_service *ts = time_service_new();
	if (epfd < 0 || !vs || !ts) {
		log_msg("setup: %s", strerror(errno));
		return 1;
	}
	watch(epfd, vhost, TAG_VHOST);
	vsock_dev_listen(vs, listener, TAG_LISTEN);
	/* The host time service (docs/time.md) is answered here. */
	watch(epfd, time_service_fd(ts), TAG_TIME);
	vsock_dev_serve_port(vs, TIME_WIRE_PORT, time_service_open, ts);
	int watched[VU_NQUEUES] = { -1, -1 };
	int status = 0;
	/* What QEMU or a kick can repeat is logged through these (log.h). */
	struct log_limit ignored = LOG_LIMIT("ignoring a vhost-user request");
	struct log_limit kick_failed = LOG_LIMIT("reading a kick failed");
	int timeout = -1;
	for (;;) {
		struct epoll_event ev[32];
		int n = epoll_wait(epfd, ev, 32, timeout);
		if (n < 0 && errno != EINTR) {
			log_msg("epoll_wait: %s", strerror(errno));
			status = 1;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (!is_tag(&ev[i])) {
				vsock_dev_conn_event(vs, ev[i].data.ptr, ev[i].events);
				continue;
			}
			uint64_t tag = ev[i].data.u64, count;
			if (tag == TAG_VHOST) {
				struct vu_msg m;
				int r = vu_recv(vhost, &m);
				if (r <= 0)
					goto done; /* QEMU is gone: so is this VM */
				const char *why = vu_check(&m, VU_NQUEUES);
				if (why) {
					log_limited(&ignored, "ignoring vhost-user request %u: %s",
						    m.request, why);
					vu_close_fds(&m);
					continue;
				}
				if (vu_dev_handle(&dev, vhost, &m) < 0) {
					status = 1;
					goto done;
				}
				vu_close_fds(&m);
				track_kicks(epfd, &dev, watched);
			} else if (tag == TAG_TIME) {
				time_service_run(ts);
			} else if (tag == TAG_LISTEN) {
				vsock_dev_accept_ready(vs);
			} else {
				/* The pump below drains tx: a packet handled here could
				 * free a connection a later ev[] entry points to. */
				int q = tag == TAG_KICK_RX ? VQ_RX : VQ_TX;
				if (read(dev.vq[q].kick_fd, &count, sizeof(count)) < 0 &&
				    errno != EAGAIN)
					log_limited(&kick_failed, "kick: %s", strerror(errno));
			}
		}
		/* Work left at a budget: after the events now waiting, at once. */
		int more = vsock_dev_pump(vs);
		uint64_t now = mono_ms();
		timeout = timeout_min(vsock_dev_tick(vs), time_service_tick(ts));
		timeout = timeout_min(timeout, log_limit_tick(&ignored, now));
		timeout = timeout_min(timeout, log_limit_tick(&kick_failed, now));
		if (more)
			timeout = 0;
	}
done:
	vsock_dev_free(vs);
	time_service_free(ts);
	vu_dev_reset(&dev);
	close(listener);
	unlink(uds);
	return status;
}
