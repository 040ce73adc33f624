/* The host's end of the framed stream (relay.h). */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "../common/wire.h"
#include "msg.h"

#define TO_GUEST_CAP (256 * 1024)
#define FROM_GUEST_CAP (2 * (WIRE_HDR_SIZE + WIRE_MAX_PAYLOAD))
#define STDIN_CHUNK 32768
/* Stdin never takes the last of the queue: SIGNAL, WINSIZE and BYE fit. */
#define CONTROL_RESERVE 4096

static long long since(long long t0)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - t0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Queues one frame: header and payload, or nothing when they do not fit. */
static void send_frame(struct relay *r, uint8_t type, const void *payload, uint32_t len)
{
	uint8_t hdr[WIRE_HDR_SIZE];
	if (r->io.fd < 0 || queue_room(&r->to_guest) < WIRE_HDR_SIZE + len)
		return;
	wire_put_header(hdr, type, len);
	queue_put(&r->to_guest, hdr, sizeof(hdr));
	if (len)
		queue_put(&r->to_guest, payload, len);
}

static int stdin_room(struct relay *r)
{
	return r->stdin_fd >= 0 && r->io.fd >= 0 && r->exit_status < 0 &&
	       queue_room(&r->to_guest) >= WIRE_HDR_SIZE + STDIN_CHUNK + CONTROL_RESERVE;
}

/* Each fd is watched only for what it can do now: a full queue must not
 * turn level-triggered readiness into a busy loop. */
static void arm(struct relay *r)
{
	if (r->stdin_polled && r->in.fd >= 0)
		loop_set_events(r->loop, &r->in, stdin_room(r) ? EPOLLIN : 0);
	if (r->io.fd >= 0)
		loop_set_events(r->loop, &r->io,
				EPOLLIN | (queue_len(&r->to_guest) ? EPOLLOUT : 0));
}

static void end_stdin(struct relay *r)
{
	if (r->stdin_polled)
		loop_del(r->loop, &r->in);
	r->stdin_fd = -1;
	r->stdin_polled = 0;
}

static void read_stdin(struct relay *r)
{
	if (!stdin_room(r))
		return;
	uint8_t buf[STDIN_CHUNK];
	ssize_t n = read(r->stdin_fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* End of input; on a tty the guest's line discipline decides. */
		if (!r->tty)
			send_frame(r, WIRE_STDIN, NULL, 0);
		end_stdin(r);
	} else {
		send_frame(r, WIRE_STDIN, buf, (uint32_t)n);
	}
	arm(r);
}

static void on_stdin(struct watch *w, uint32_t events)
{
	(void)events;
	read_stdin(container_of(w, struct relay, in));
}

int relay_pump(struct relay *r)
{
	if (r->stdin_polled || !stdin_room(r))
		return 0;
	read_stdin(r);
	return stdin_room(r);
}

static void lose(struct relay *r, int broken, const char *why)
{
	relay_close(r);
	if (r->exit_status < 0)
		r->ev->lost(r, broken, why);
}

static void on_frame(struct relay *r, const struct wire_frame *f)
{
	switch (f->type) {
	case WIRE_HELLO:
		if (f->len != 4 || wire_get_u32(f->payload) != WIRE_VERSION) {
			char why[96];
			snprintf(why, sizeof(why),
				 "the guest speaks protocol %u; this wisp speaks %d",
				 f->len == 4 ? wire_get_u32(f->payload) : 0, WIRE_VERSION);
			lose(r, 1, why);
			return;
		}
		r->hello = 1;
		r->trace->hello = since(r->t0);
		break;
	case WIRE_TRACE:
		/* The boot's steps came with the ready notice; the command's follow. */
		trace_add_guest(r->trace, (const char *)f->payload, f->len);
		break;
	case WIRE_STDOUT:
		if (!r->stdout_gone && write_all(r->out_fd, f->payload, f->len) < 0)
			r->stdout_gone = 1; /* EPIPE: keep the VM going, drop the rest */
		break;
	case WIRE_STDERR:
		write_all(r->err_fd, f->payload, f->len);
		break;
	case WIRE_LOG:
		dprintf(r->err_fd, "%.*s\n", (int)f->len, (const char *)f->payload);
		break;
	case WIRE_EXIT:
		if (f->len == 8) {
			r->exit_status = wire_exit_status(f->payload[0],
							  (int32_t)wire_get_u32(f->payload + 4));
			r->trace->status = since(r->t0);
			if (r->stdin_fd >= 0)
				end_stdin(r);
			r->ev->exited(r, r->exit_status);
		}
		break;
	default:
		break; /* a newer guest: ignore what we do not know */
	}
}

static void read_stream(struct relay *r)
{
	long n = queue_read_from(&r->from_guest, r->io.fd);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		lose(r, 0, "lost the connection to the guest agent");
		return;
	}
	/* Nothing after EXIT is the command's: it is read and dropped, and
	 * the owner's deadline bounds how long. */
	if (r->exit_status >= 0) {
		queue_consume(&r->from_guest, queue_len(&r->from_guest));
		return;
	}
	struct wire_frame f;
	long used = 0;
	/* Until EXIT, or a frame that ended the stream (a HELLO of another
	 * version): nothing after either is the command's. */
	while (r->exit_status < 0 && r->io.fd >= 0 &&
	       (used = wire_parse(queue_head(&r->from_guest), queue_len(&r->from_guest), &f)) > 0) {
		on_frame(r, &f);
		queue_consume(&r->from_guest, (size_t)used);
	}
	if (r->exit_status < 0 && r->io.fd >= 0 && used < 0) {
		msg_warn("the guest sent a malformed frame; closing the channel");
		lose(r, 1, "the guest agent broke the protocol");
	}
}

static void on_stream(struct watch *w, uint32_t events)
{
	struct relay *r = container_of(w, struct relay, io);
	/* A failed write (the VMM is gone) drops what we had to say, but what
	 * the guest sent is still read to its end. */
	if ((events & EPOLLOUT) && queue_write_to(&r->to_guest, w->fd) < 0 && errno != EAGAIN)
		queue_consume(&r->to_guest, queue_len(&r->to_guest));
	if (r->io.fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		read_stream(r);
	arm(r);
}

int relay_init(struct relay *r, struct loop *l, const struct relay_events *ev, struct trace *t,
	       long long t0)
{
	memset(r, 0, sizeof(*r));
	r->loop = l;
	r->ev = ev;
	r->trace = t;
	r->t0 = t0;
	r->io.fd = r->in.fd = -1;
	r->stdin_fd = -1;
	r->exit_status = -1;
	r->out_fd = STDOUT_FILENO;
	r->err_fd = STDERR_FILENO;
	if (queue_init(&r->to_guest, TO_GUEST_CAP) < 0 ||
	    queue_init(&r->from_guest, FROM_GUEST_CAP) < 0) {
		relay_free(r);
		return -1;
	}
	return 0;
}

void relay_free(struct relay *r)
{
	relay_close(r);
	queue_free(&r->to_guest);
	queue_free(&r->from_guest);
}

int relay_attach(struct relay *r, int fd)
{
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ||
	    loop_add(r->loop, &r->io, fd, EPOLLIN, on_stream) < 0) {
		msg_warn("the guest's stream: %s", strerror(errno));
		close(fd);
		return -1;
	}
	arm(r);
	return 0;
}

void relay_open_stdin(struct relay *r, int fd, int tty)
{
	r->stdin_fd = fd;
	r->tty = tty;
	/* Regular files and /dev/null cannot be polled: they are always ready. */
	r->stdin_polled = loop_add(r->loop, &r->in, fd, 0, on_stdin) == 0;
	arm(r);
}

void relay_send_exec(struct relay *r, const void *keys, uint32_t len)
{
	send_frame(r, WIRE_EXEC, keys, len);
	arm(r);
}

void relay_send_signal(struct relay *r, int sig)
{
	uint8_t p[4];
	wire_put_u32(p, (uint32_t)sig);
	send_frame(r, WIRE_SIGNAL, p, sizeof(p));
	arm(r);
}

void relay_send_winsize(struct relay *r, unsigned short rows, unsigned short cols)
{
	uint8_t p[4];
	wire_put_u16(p, rows);
	wire_put_u16(p + 2, cols);
	send_frame(r, WIRE_WINSIZE, p, sizeof(p));
	arm(r);
}

void relay_send_bye(struct relay *r)
{
	send_frame(r, WIRE_BYE, NULL, 0);
	arm(r);
}

void relay_close(struct relay *r)
{
	loop_close(r->loop, &r->io);
	if (r->stdin_fd >= 0)
		end_stdin(r);
}
