/* The host's end of the framed stream (relay.h). */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../common/wire.h"
#include "msg.h"

#define TO_GUEST_CAP (256 * 1024)
#define FROM_GUEST_CAP (2 * (WIRE_HDR_SIZE + WIRE_MAX_PAYLOAD))
#define STDIN_CHUNK 32768
/* Stdin never takes the last of the queue: SIGNAL, WINSIZE and BYE fit. */
#define CONTROL_RESERVE 4096

/* Queues one frame: header and payload, or nothing when they do not fit. */
static void send_frame(struct relay *r, uint8_t type, const void *payload, uint32_t len)
{
	uint8_t hdr[WIRE_HDR_SIZE];
	if (r->io_fd < 0 || queue_room(&r->to_guest) < WIRE_HDR_SIZE + len)
		return;
	wire_put_header(hdr, type, len);
	queue_put(&r->to_guest, hdr, sizeof(hdr));
	if (len)
		queue_put(&r->to_guest, payload, len);
}

static int stdin_room(struct relay *r)
{
	return r->stdin_fd >= 0 && r->io_fd >= 0 && r->exit_status < 0 &&
	       queue_room(&r->to_guest) >= WIRE_HDR_SIZE + STDIN_CHUNK + CONTROL_RESERVE;
}

static void on_stdin(struct watch *w, uint32_t events);
static void on_stream(struct watch *w, uint32_t events);

/* Watches fd with fn while want, else not at all: epoll reports a hang-up
 * or an error whatever the mask, so an fd that must wait is taken out. */
static void watch_if(struct relay *r, struct watch *w, int fd, int want, uint32_t events,
		     void (*fn)(struct watch *, uint32_t))
{
	if (!want || fd < 0) {
		loop_del(r->loop, w);
		return;
	}
	if (w->fd < 0 && loop_add(r->loop, w, fd, events, fn) < 0)
		msg_warn("epoll_ctl: %s", strerror(errno));
	else
		loop_set_events(r->loop, w, events);
}

/* Each fd is watched only for what it can do now. */
static void arm(struct relay *r)
{
	if (r->stdin_pollable)
		watch_if(r, &r->in, r->stdin_fd, stdin_room(r), EPOLLIN, on_stdin);
	/* While a frame waits for the user's output, the stream waits too. */
	watch_if(r, &r->io, r->io_fd, !r->blocked,
		 EPOLLIN | (queue_len(&r->to_guest) ? EPOLLOUT : 0), on_stream);
}

static void end_stdin(struct relay *r)
{
	loop_del(r->loop, &r->in);
	r->stdin_fd = -1;
	r->stdin_pollable = 0;
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
	if (r->stdin_pollable || !stdin_room(r))
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

/* Whether the frame's output fits its sink now. */
static int fits(const struct relay *r, const struct wire_frame *f)
{
	switch (f->type) {
	case WIRE_STDOUT:
		return sink_room(&r->out) >= f->len;
	case WIRE_STDERR:
		return sink_room(&r->err) >= f->len;
	case WIRE_LOG:
		return sink_room(&r->err) >= (size_t)f->len + 1;
	default:
		return 1;
	}
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
		r->trace->hello = clock_us() - r->t0;
		break;
	case WIRE_TRACE:
		/* The boot's steps came with the ready notice; the command's follow. */
		trace_add_guest(r->trace, (const char *)f->payload, f->len);
		break;
	case WIRE_STDOUT:
		sink_put(&r->out, f->payload, f->len);
		break;
	case WIRE_STDERR:
		sink_put(&r->err, f->payload, f->len);
		break;
	case WIRE_LOG:
		sink_put(&r->err, f->payload, f->len);
		sink_put(&r->err, "\n", 1);
		break;
	case WIRE_EXIT:
		if (f->len == 8) {
			r->exit_status = wire_exit_status(f->payload[0],
							  (int32_t)wire_get_u32(f->payload + 4));
			r->trace->status = clock_us() - r->t0;
			if (r->stdin_fd >= 0)
				end_stdin(r);
			r->ev->exited(r, r->exit_status);
		}
		break;
	default:
		break; /* a newer guest: ignore what we do not know */
	}
}

/* Hands over the frames that have arrived, until EXIT, a frame that ended
 * the stream (a HELLO of another version), or one whose output does not
 * fit yet: nothing after the first two is the command's. */
static void dispatch(struct relay *r)
{
	struct wire_frame f;
	long used = 0;
	r->blocked = 0;
	while (r->exit_status < 0 && r->io_fd >= 0 &&
	       (used = wire_parse(queue_head(&r->from_guest), queue_len(&r->from_guest), &f)) > 0) {
		if (!fits(r, &f)) {
			r->blocked = 1;
			return;
		}
		on_frame(r, &f);
		queue_consume(&r->from_guest, (size_t)used);
	}
	if (r->exit_status < 0 && r->io_fd >= 0 && used < 0) {
		msg_warn("the guest sent a malformed frame; closing the channel");
		lose(r, 1, "the guest agent broke the protocol");
	}
}

static void read_stream(struct relay *r)
{
	long n = queue_read_from(&r->from_guest, r->io_fd);
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
	dispatch(r);
}

static void on_stream(struct watch *w, uint32_t events)
{
	struct relay *r = container_of(w, struct relay, io);
	/* A failed write (the VMM is gone) drops what we had to say, but what
	 * the guest sent is still read to its end. */
	if ((events & EPOLLOUT) && queue_write_to(&r->to_guest, r->io_fd) < 0 && errno != EAGAIN)
		queue_consume(&r->to_guest, queue_len(&r->to_guest));
	if (r->io_fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		read_stream(r);
	arm(r);
}

/* A sink has room again: the frames that waited for it go on. */
static void on_sink_room(struct sink *s, void *ctx)
{
	(void)s;
	struct relay *r = ctx;
	if (r->blocked) {
		dispatch(r);
		arm(r);
	}
}

int relay_output(struct relay *r, int out_fd, int err_fd)
{
	sink_close(&r->out);
	sink_close(&r->err);
	return sink_open(&r->out, r->loop, out_fd, on_sink_room, r) < 0 ||
			       sink_open(&r->err, r->loop, err_fd, on_sink_room, r) < 0
		       ? -1
		       : 0;
}

int relay_init(struct relay *r, struct loop *l, const struct relay_events *ev, struct trace *t,
	       long long t0)
{
	memset(r, 0, sizeof(*r));
	r->loop = l;
	r->ev = ev;
	r->trace = t;
	r->t0 = t0;
	r->io_fd = r->io.fd = r->in.fd = r->out.w.fd = r->err.w.fd = -1;
	r->stdin_fd = -1;
	r->exit_status = -1;
	if (queue_init(&r->to_guest, TO_GUEST_CAP) < 0 ||
	    queue_init(&r->from_guest, FROM_GUEST_CAP) < 0 ||
	    relay_output(r, STDOUT_FILENO, STDERR_FILENO) < 0) {
		relay_free(r);
		return -1;
	}
	return 0;
}

void relay_free(struct relay *r)
{
	relay_close(r);
	sink_close(&r->out);
	sink_close(&r->err);
	queue_free(&r->to_guest);
	queue_free(&r->from_guest);
}

int relay_open(const struct relay *r)
{
	return r->io_fd >= 0;
}

size_t relay_output_pending(const struct relay *r)
{
	return sink_pending(&r->out) + sink_pending(&r->err);
}

void relay_abandon_output(struct relay *r)
{
	sink_abandon(&r->out);
	sink_abandon(&r->err);
}

int relay_attach(struct relay *r, int fd)
{
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		msg_warn("the guest's stream: %s", strerror(errno));
		close(fd);
		return -1;
	}
	r->io_fd = fd;
	arm(r);
	return 0;
}

void relay_open_stdin(struct relay *r, int fd, int tty)
{
	r->stdin_fd = fd;
	r->tty = tty;
	/* Regular files and /dev/null cannot be polled: they are always ready. */
	r->stdin_pollable = loop_add(r->loop, &r->in, fd, 0, on_stdin) == 0;
	loop_del(r->loop, &r->in);
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
	loop_del(r->loop, &r->io);
	close_fd(&r->io_fd);
	r->blocked = 0;
	if (r->stdin_fd >= 0)
		end_stdin(r);
}
