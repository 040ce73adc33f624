/* A guest-side vsock tool for the tests (built static with musl, run from a
 * share): `vsock_probe connect CID PORT` joins stdin/stdout to a stream
 * connection; `vsock_probe listen PORT [N]` accepts N connections (default
 * 1), each echoed back by a process of its own, and exits when all ended. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../init/vm_sockets.h"

static int copy(int from, int to)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n <= 0)
		return (int)n;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));
		if (w < 0)
			return -1;
		off += w;
	}
	return 1;
}

static int relay(int s)
{
	struct pollfd p[2] = { { 0, POLLIN, 0 }, { s, POLLIN, 0 } };
	int in_open = 1;
	for (;;) {
		if (poll(p, 2, -1) < 0)
			return 1;
		if (in_open && p[0].revents) {
			int r = copy(0, s);
			if (r <= 0) {
				shutdown(s, SHUT_WR);
				in_open = 0;
				p[0].fd = -1;
			}
		}
		if (p[1].fd >= 0 && p[1].revents) {
			int r = copy(s, 1);
			if (r < 0)
				return 1;
			if (r == 0)
				p[1].fd = -1; /* the peer is done sending; we may not be */
		}
		if (!in_open && p[1].fd < 0)
			return 0;
	}
}

int main(int argc, char **argv)
{
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (s < 0) {
		perror("socket");
		return 1;
	}
	struct sockaddr_vm a = { .svm_family = AF_VSOCK };
	if (argc == 4 && !strcmp(argv[1], "connect")) {
		a.svm_cid = (unsigned)atoi(argv[2]);
		a.svm_port = (unsigned)atoi(argv[3]);
		if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
			perror("connect");
			return 1;
		}
		return relay(s);
	}
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "listen")) {
		int conns = argc == 4 ? atoi(argv[3]) : 1;
		a.svm_cid = 0xffffffffU;
		a.svm_port = (unsigned)atoi(argv[2]);
		if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 1) < 0) {
			perror("bind");
			return 1;
		}
		printf("listening\n");
		fflush(stdout);
		for (int i = 0; i < conns; i++) {
			int c = accept(s, NULL, NULL);
			if (c < 0) {
				perror("accept");
				return 1;
			}
			if (fork() == 0) {
				int r;
				while ((r = copy(c, c)) > 0)
					;
				_exit(r < 0);
			}
			close(c);
		}
		int status, failed = 0;
		while (wait(&status) > 0)
			failed |= !WIFEXITED(status) || WEXITSTATUS(status);
		return failed;
	}
	fprintf(stderr, "usage: vsock_probe connect CID PORT | listen PORT\n");
	return 2;
}
