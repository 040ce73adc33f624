/* A guest that takes host connections and then does nothing with them
 * (built static with musl, run from a share by tests/test_vsock.py):
 * `hold_probe PORT` listens on vsock PORT, accepts every connection and
 * keeps it: it never reads, writes or closes one, until it is killed. It
 * prints "listening" once it listens. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../init/vm_sockets.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: hold_probe PORT\n");
		return 2;
	}
	int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_vm a = { .svm_family = AF_VSOCK,
				 .svm_port = (unsigned)atoi(argv[1]),
				 .svm_cid = VMADDR_CID_ANY };
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 128) < 0) {
		perror("hold_probe: listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		int fd = accept(s, NULL, NULL);
		if (fd < 0 && errno != EINTR) {
			perror("hold_probe: accept");
			sleep(1);
		}
	}
}
