/* A guest-side clock probe for the tests (built static with musl, run from
 * a share). It speaks the time protocol of docs/time.md to any host
 * listener (a test's own, at <uds>_PORT) and measures the guest's
 * CLOCK_REALTIME against it, independently of wisp-init:
 *
 *   clock_probe offset CID PORT [N]      N exchanges (default 16); prints
 *                                        "offset_us rtt_us" of the one with
 *                                        the smallest round trip
 *   clock_probe watch CID PORT MS        the same every MS milliseconds,
 *                                        "monotonic_ms offset_us rtt_us"
 *                                        per line, until killed
 *   clock_probe now                      CLOCK_REALTIME in nanoseconds
 *                                        (busybox date has no %N)
 *
 * offset is host minus guest. Exit status 1 when the host cannot be asked. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../common/time_wire.h"
#include "../../init/vm_sockets.h"

#define WATCH_EXCHANGES 5
#define ANSWER_TIMEOUT_MS 2000

static int64_t now(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int connect_host(unsigned cid, unsigned port)
{
	int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_port = port, .svm_cid = cid };
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "clock_probe: connect %u:%u: %s\n", cid, port, strerror(errno));
		if (s >= 0)
			close(s);
		return -1;
	}
	return s;
}

/* n exchanges; the smallest round trip's offset and rtt, in ns. */
static int measure(int s, int n, uint64_t *seq, int64_t *offset, int64_t *rtt)
{
	int got = 0;
	for (int i = 0; i < n; i++, (*seq)++) {
		uint8_t req[TIME_WIRE_REQUEST_SIZE], resp[TIME_WIRE_RESPONSE_SIZE];
		time_wire_put_request(req, *seq);
		int64_t t1 = now(CLOCK_REALTIME);
		if (write(s, req, sizeof(req)) != (ssize_t)sizeof(req))
			return -1;
		size_t have = 0;
		while (have < sizeof(resp)) {
			struct pollfd p = { .fd = s, .events = POLLIN };
			if (poll(&p, 1, ANSWER_TIMEOUT_MS) <= 0)
				return -1;
			ssize_t r = read(s, resp + have, sizeof(resp) - have);
			if (r <= 0)
				return -1;
			have += (size_t)r;
		}
		int64_t t4 = now(CLOCK_REALTIME), host;
		if (time_wire_parse_response(resp, *seq, &host) < 0) {
			fprintf(stderr, "clock_probe: not a time answer\n");
			return -1;
		}
		if (t4 < t1)
			continue; /* the clock was stepped back meanwhile */
		if (!got || t4 - t1 < *rtt) {
			*rtt = t4 - t1;
			*offset = host - (t1 + (t4 - t1) / 2);
		}
		got = 1;
	}
	return got ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "now")) {
		printf("%lld\n", (long long)now(CLOCK_REALTIME));
		return 0;
	}
	if (argc < 4 || (strcmp(argv[1], "offset") && strcmp(argv[1], "watch"))) {
		fprintf(stderr,
			"usage: clock_probe offset CID PORT [N] | watch CID PORT MS | now\n");
		return 2;
	}
	int watch = !strcmp(argv[1], "watch");
	unsigned cid = (unsigned)atoi(argv[2]), port = (unsigned)atoi(argv[3]);
	int arg = argc > 4 ? atoi(argv[4]) : watch ? 500 : 16;
	uint64_t seq = 1;
	int64_t offset, rtt;
	int s = connect_host(cid, port);
	if (s < 0)
		return 1;
	if (!watch) {
		if (measure(s, arg, &seq, &offset, &rtt) < 0)
			return 1;
		printf("%lld %lld\n", (long long)(offset / 1000), (long long)(rtt / 1000));
		return 0;
	}
	for (;;) {
		if (measure(s, WATCH_EXCHANGES, &seq, &offset, &rtt) < 0)
			return 1;
		printf("%lld %lld %lld\n", (long long)(now(CLOCK_MONOTONIC) / 1000000),
		       (long long)(offset / 1000), (long long)(rtt / 1000));
		fflush(stdout);
		struct timespec pause = { arg / 1000, (long)(arg % 1000) * 1000000 };
		nanosleep(&pause, NULL);
	}
}
