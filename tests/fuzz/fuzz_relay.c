/* libFuzzer target: guest bytes on the host's end of the framed stream
 * (boot/relay.c), as wisp reads them from the agent or PID 1's port:
 * frames dispatched to stdout, stderr, the trace, EXIT, until the stream
 * ends or breaks. The relay must neither crash nor hang, and must report
 * exactly one end. */
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../boot/relay.h"

static int ended;

static void exited(struct relay *r, int status)
{
	(void)r;
	if (status < 0 || status > 255)
		abort();
	ended++;
	relay_close(r);
}

static void lost(struct relay *r, int broken, const char *why)
{
	(void)r, (void)broken, (void)why;
	ended++;
}

static const struct relay_events events = { exited, lost };

static int null_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	signal(SIGPIPE, SIG_IGN); /* as wisp does: a peer that is gone is EPIPE */
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	return null_fd < 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct trace trace;
	struct loop loop;
	struct relay r;
	int sv[2];
	if (loop_init(&loop) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ||
	    relay_init(&r, &loop, &events, &trace, 0) < 0)
		abort();
	trace.len = 0;
	ended = 0;
	/* The input is the guest's side of the stream, then its end. */
	int big = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (size && write(sv[1], data, size) != (ssize_t)size)
		abort();
	close(sv[1]);
	/* The command's output goes nowhere. */
	if (relay_output(&r, null_fd, null_fd) < 0 || relay_attach(&r, sv[0]) < 0)
		abort();
	relay_send_signal(&r, 2); /* something to write back, to a peer that is gone */
	for (int turns = 0; relay_open(&r); turns++) {
		if (turns > 100000)
			abort(); /* it must get to the end */
		loop_run_once(&loop, 1000);
	}
	if (ended != 1)
		abort();
	relay_free(&r);
	loop_free(&loop);
	return 0;
}
