/* The guest's side of the -p .../udp test: receives one datagram on the
 * UDP port given, writes it to stdout and sends it back to its sender
 * (busybox's nc has no UDP). Prints "up" once bound. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: udp_probe PORT\n");
		return 2;
	}
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((unsigned short)atoi(argv[1])) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("udp_probe: bind");
		return 1;
	}
	printf("up\n");
	fflush(stdout);
	char buf[2048];
	struct sockaddr_in from;
	socklen_t len = sizeof(from);
	ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
	if (n < 0 || write(STDOUT_FILENO, buf, (size_t)n) != n ||
	    sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len) != n) {
		perror("udp_probe");
		return 1;
	}
	return 0;
}
