/* A guest-side TCP echo server for the forwarding bench and tests (built
 * static with musl, run from a share): `echo_probe PORT` listens on
 * 0.0.0.0:PORT and echoes every connection in one process (poll, no fork:
 * what a round trip costs is the forwarding's, not a process start's). */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 256

static void drop(struct pollfd *p, nfds_t *n, nfds_t i)
{
	close(p[i].fd);
	p[i] = p[--*n];
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: echo_probe PORT\n");
		return 2;
	}
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)atoi(argv[1])) };
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 64) < 0) {
		perror("echo_probe: listen");
		return 1;
	}
	static struct pollfd p[MAX_FDS];
	static char buf[65536];
	nfds_t n = 1;
	p[0] = (struct pollfd){ .fd = s, .events = POLLIN };
	for (;;) {
		if (poll(p, n, -1) < 0 && errno != EINTR)
			return 1;
		for (nfds_t i = n; i-- > 1;) {
			if (!p[i].revents)
				continue;
			ssize_t r = read(p[i].fd, buf, sizeof(buf));
			/* Blocking writes: the bench's clients read what they send. */
			if (r <= 0 || write(p[i].fd, buf, (size_t)r) != r)
				drop(p, &n, i);
		}
		if (p[0].revents && n < MAX_FDS) {
			int c = accept(s, NULL, NULL);
			if (c >= 0)
				p[n++] = (struct pollfd){ .fd = c, .events = POLLIN };
		}
	}
}
