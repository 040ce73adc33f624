/* A hostile guest for the tests: an /init that speaks wisp's protocol
 * (docs/protocol.md) only as far as it must to get a status to the host,
 * then keeps talking and never powers off. The mode is the kernel
 * argument hostile=MODE:
 *   vsock  the ready notice, takes the EXEC on its connection, answers
 *          "hi\n" and EXIT 7, then writes STDOUT frames on it forever;
 *   port   on PID 1's virtio port: HELLO, "hi\n", EXIT 7, then STDOUT
 *          frames forever;
 *   serve  announces itself as an agent, and answers a SHUTDOWN by
 *          trickling a byte every 500 ms forever;
 *   version and version-port: a HELLO of protocol 99 on the ready
 *          connection, or on the port, then the answer of vsock/port. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../common/wire.h"
#include "../../init/vm_sockets.h"

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static _Noreturn void idle(void)
{
	for (;;)
		pause();
}

static int send_frame(int fd, uint8_t type, const void *payload, uint32_t len)
{
	uint8_t buf[WIRE_HDR_SIZE + 64];
	if (len > 64)
		return -1;
	wire_put_header(buf, type, len);
	memcpy(buf + WIRE_HDR_SIZE, payload, len);
	return write(fd, buf, WIRE_HDR_SIZE + len) == (ssize_t)(WIRE_HDR_SIZE + len) ? 0 : -1;
}

static int read_full(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* One frame from the host; its payload is dropped. Returns its type. */
static int read_frame(int fd)
{
	uint8_t hdr[WIRE_HDR_SIZE], buf[4096];
	if (read_full(fd, hdr, sizeof(hdr)) < 0)
		return -1;
	for (uint32_t len = wire_get_u32(hdr + 4); len > 0;) {
		uint32_t n = len < sizeof(buf) ? len : sizeof(buf);
		if (read_full(fd, buf, n) < 0)
			return -1;
		len -= n;
	}
	return hdr[0];
}

static uint32_t hello_version = WIRE_VERSION;

static int say_hello(int fd)
{
	uint8_t v[4];
	wire_put_u32(v, hello_version);
	return send_frame(fd, WIRE_HELLO, v, sizeof(v));
}

/* "hi\n" and EXIT 7, then output that is no longer the command's. */
static _Noreturn void answer_then_trickle(int fd)
{
	uint8_t exit_payload[8] = { WIRE_EXITED };
	wire_put_u32(exit_payload + 4, 7);
	send_frame(fd, WIRE_STDOUT, "hi\n", 3);
	send_frame(fd, WIRE_EXIT, exit_payload, sizeof(exit_payload));
	while (send_frame(fd, WIRE_STDOUT, "after EXIT\n", 11) == 0)
		nap_ms(50);
	idle();
}

static int vsock_connect(unsigned port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK,
				 .svm_port = port,
				 .svm_cid = VMADDR_CID_HOST };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	return fd;
}

static int vsock_listen(unsigned port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK,
				 .svm_port = port,
				 .svm_cid = VMADDR_CID_ANY };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0)
		return -1;
	return fd;
}

static _Noreturn void over_vsock(void)
{
	int fd = vsock_connect(WIRE_READY_PORT);
	if (fd < 0 || say_hello(fd) < 0 || read_frame(fd) != WIRE_EXEC)
		idle();
	answer_then_trickle(fd);
}

static _Noreturn void over_port(void)
{
	int fd = -1;
	for (int i = 0; i < 200 && (fd = open("/dev/vport0p1", O_RDWR)) < 0; i++)
		nap_ms(10);
	if (fd < 0 || say_hello(fd) < 0)
		idle();
	answer_then_trickle(fd);
}

static _Noreturn void serve(void)
{
	int listener = vsock_listen(WIRE_AGENT_PORT);
	int ready = vsock_connect(WIRE_READY_PORT);
	if (listener < 0 || ready < 0)
		idle();
	close(ready); /* an empty notice: ready */
	for (;;) {
		int fd = accept(listener, NULL, NULL);
		if (fd < 0)
			continue;
		if (say_hello(fd) == 0 && read_frame(fd) == WIRE_SHUTDOWN)
			while (write(fd, ".", 1) == 1)
				nap_ms(500);
		close(fd);
	}
}

int main(void)
{
	char cmdline[4096] = "";
	signal(SIGPIPE, SIG_IGN);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("dev", "/dev", "devtmpfs", 0, NULL);
	int fd = open("/proc/cmdline", O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, cmdline, sizeof(cmdline) - 1);
		cmdline[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	if (strstr(cmdline, "hostile=version"))
		hello_version = 99;
	if (strstr(cmdline, "hostile=version-port"))
		over_port();
	if (strstr(cmdline, "hostile=vsock") || strstr(cmdline, "hostile=version"))
		over_vsock();
	if (strstr(cmdline, "hostile=port"))
		over_port();
	if (strstr(cmdline, "hostile=serve"))
		serve();
	idle();
}
