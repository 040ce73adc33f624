#include "session.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "../common/fd.h"
#include "../common/wire.h"
#include "log.h"

#define TO_HOST_CAP (256 * 1024)
#define FROM_HOST_CAP (2 * (WIRE_HDR_SIZE + WIRE_MAX_PAYLOAD))
#define TO_CMD_CAP (256 * 1024)
/* Output is read in chunks that leave room for a frame header. */
#define READ_CHUNK (WIRE_MAX_PAYLOAD)
/* Output never takes the last of the queue: LOG, TRACE and EXIT always fit. */
#define CONTROL_RESERVE 4096

int session_init(struct session *s, int chan, struct command *cmd)
{
	memset(s, 0, sizeof(*s));
	s->chan = chan;
	s->cmd = cmd;
	/* Without a channel there is no input to wait for and nobody to ack. */
	s->stdin_ended = s->bye = chan < 0;
	for (size_t i = 0; i < sizeof(s->armed) / sizeof(s->armed[0]); i++)
		s->armed[i].fd = -1;
	if (queue_init(&s->to_host, TO_HOST_CAP) || queue_init(&s->from_host, FROM_HOST_CAP) ||
	    queue_init(&s->to_cmd, TO_CMD_CAP))
		return -1;
	return 0;
}

int session_send(struct session *s, uint8_t type, const void *payload, uint32_t len)
{
	if (s->chan < 0)
		return -1;
	if (queue_room(&s->to_host) < WIRE_HDR_SIZE + len)
		return -1;
	uint8_t hdr[WIRE_HDR_SIZE];
	wire_put_header(hdr, type, len);
	queue_put(&s->to_host, hdr, sizeof(hdr));
	queue_put(&s->to_host, payload, len);
	return 0;
}

static void channel_gone(struct session *s, const char *why)
{
	if (s->chan < 0)
		return;
	log_info("host channel closed: %s", why);
	close_fd(&s->chan);
	s->to_host.head = s->to_host.tail = 0;
	/* Nobody will send more input or acknowledge the exit. */
	s->stdin_ended = 1;
	s->bye = 1;
}

/* The command's stdin is closed once the host ended it and all of it was
 * written (a pty stays open: closing the master would hang up the tty). */
static void maybe_close_stdin(struct session *s)
{
	struct command *c = s->cmd;
	if (s->stdin_ended && queue_len(&s->to_cmd) == 0 && c->in_fd >= 0 && !c->is_pty)
		close_fd(&c->in_fd);
}

static void deliver(struct session *s, const struct wire_frame *f)
{
	struct command *c = s->cmd;
	switch (f->type) {
	case WIRE_STDIN:
		if (f->len == 0)
			s->stdin_ended = 1;
		else if (c->in_fd >= 0)
			queue_put(&s->to_cmd, f->payload, f->len); /* room checked by caller */
		break;
	case WIRE_SIGNAL:
		if (f->len == 4 && c->pid > 0) {
			int sig = (int)wire_get_u32(f->payload);
			if (sig > 0 && sig < NSIG && kill(-c->pid, sig) < 0 && errno != ESRCH)
				log_warn("kill %d: %s", sig, strerror(errno));
		}
		break;
	case WIRE_WINSIZE:
		if (f->len == 4 && c->is_pty && c->out_fd >= 0) {
			struct winsize ws = { .ws_row = wire_get_u16(f->payload),
					      .ws_col = wire_get_u16(f->payload + 2) };
			if (ioctl(c->out_fd, TIOCSWINSZ, &ws) < 0)
				log_warn("TIOCSWINSZ: %s", strerror(errno));
		}
		break;
	case WIRE_BYE:
		s->bye = 1;
		break;
	default:
		log_warn("ignoring frame type %u from the host", f->type);
	}
}

/* Unframes what the host sent, as far as the command's stdin has room. */
static void parse_from_host(struct session *s)
{
	struct wire_frame f;
	long n;
	while ((n = wire_parse(queue_head(&s->from_host), queue_len(&s->from_host), &f)) > 0) {
		if (f.type == WIRE_STDIN && s->cmd->in_fd >= 0 && f.len > queue_room(&s->to_cmd))
			return; /* resumes when the command has read */
		deliver(s, &f);
		queue_consume(&s->from_host, (size_t)n);
	}
	if (n < 0)
		channel_gone(s, "malformed frame");
}

static void read_channel(struct session *s)
{
	long n = queue_read_from(&s->from_host, s->chan);
	if (n == 0)
		channel_gone(s, "end of stream");
	else if (n < 0 && errno != EAGAIN)
		channel_gone(s, strerror(errno));
	else
		parse_from_host(s);
}

static void write_channel(struct session *s)
{
	if (queue_write_to(&s->to_host, s->chan) < 0 && errno != EAGAIN)
		channel_gone(s, strerror(errno));
}

static int output_room(struct session *s)
{
	return queue_room(&s->to_host) > CONTROL_RESERVE + WIRE_HDR_SIZE;
}

/* The command's stdin is gone: what the host still sends for it is dropped. */
static void drop_stdin(struct session *s)
{
	s->to_cmd.head = s->to_cmd.tail = 0;
	parse_from_host(s);
}

static void read_output(struct session *s, int *fd, uint8_t type, size_t *owed)
{
	if (!output_room(s))
		return;
	size_t room = queue_room(&s->to_host) - WIRE_HDR_SIZE - CONTROL_RESERVE;
	if (room > READ_CHUNK)
		room = READ_CHUNK;
	uint8_t *hdr = queue_tail(&s->to_host);
	ssize_t n;
	do
		n = read(*fd, hdr + WIRE_HDR_SIZE, room);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		*owed -= (size_t)n < *owed ? (size_t)n : *owed;
		if (s->chan < 0)
			return; /* nobody to send it to: keep draining */
		wire_put_header(hdr, type, (uint32_t)n);
		queue_produced(&s->to_host, WIRE_HDR_SIZE + (size_t)n);
	} else if (n < 0 && errno == EAGAIN) {
		*owed = 0; /* a pty master says EAGAIN only once its tty buffers are empty */
	} else {
		/* EOF, or EIO from a pty master once the last slave is gone. */
		int was_pty = s->cmd->is_pty;
		if (was_pty)
			s->cmd->in_fd = -1;
		close_fd(fd);
		*owed = 0;
		if (was_pty)
			drop_stdin(s);
	}
}

static void write_input(struct session *s)
{
	struct command *c = s->cmd;
	if (queue_write_to(&s->to_cmd, c->in_fd) < 0 && errno != EAGAIN) {
		/* The command closed its stdin (EPIPE): drop what it did not want. */
		if (!c->is_pty)
			close_fd(&c->in_fd);
		drop_stdin(s);
		return;
	}
	maybe_close_stdin(s);
	parse_from_host(s); /* frames held back for room may fit now */
}

void session_event(struct session *s, uint32_t tag, uint32_t events)
{
	struct command *c = s->cmd;
	switch (tag) {
	case TAG_CHAN:
		/* A hang-up with no room to read would be reported forever. */
		if (s->chan >= 0 && (events & (EPOLLHUP | EPOLLERR)) &&
		    queue_room(&s->from_host) == 0)
			channel_gone(s, "hang-up");
		if (s->chan >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			read_channel(s);
		if (s->chan >= 0 && (events & EPOLLOUT))
			write_channel(s);
		break;
	case TAG_OUT: /* also the pty, which is the command's stdin too */
		if (c->in_fd >= 0 && c->in_fd == c->out_fd && (events & EPOLLOUT))
			write_input(s);
		if (c->out_fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			read_output(s, &c->out_fd, WIRE_STDOUT, &s->owed_out);
		break;
	case TAG_ERR:
		if (c->err_fd >= 0)
			read_output(s, &c->err_fd, WIRE_STDERR, &s->owed_err);
		break;
	case TAG_IN:
		if (c->in_fd >= 0)
			write_input(s);
		break;
	}
	maybe_close_stdin(s);
}

int session_output_done(const struct session *s)
{
	return s->cmd->out_fd < 0 && s->cmd->err_fd < 0;
}

static size_t unread(int fd)
{
	int n = 0;
	/* FIONREAD counts what a pipe or a pty master holds. */
	if (fd < 0 || ioctl(fd, FIONREAD, &n) < 0 || n < 0)
		return 0;
	return (size_t)n;
}

/* A pty's FIONREAD leaves out what still waits in the tty's flip buffers
 * (at most this much); reading until EAGAIN finds the true end. */
#define PTY_FLIP_MAX 8192

void session_command_ended(struct session *s)
{
	s->owed_out = unread(s->cmd->out_fd) + (s->cmd->is_pty ? PTY_FLIP_MAX : 0);
	s->owed_err = unread(s->cmd->err_fd);
}

void session_read_owed(struct session *s)
{
	struct command *c = s->cmd;
	if (s->owed_out && c->out_fd >= 0)
		read_output(s, &c->out_fd, WIRE_STDOUT, &s->owed_out);
	if (s->owed_err && c->err_fd >= 0)
		read_output(s, &c->err_fd, WIRE_STDERR, &s->owed_err);
}

int session_output_owed(const struct session *s)
{
	return s->owed_out > 0 || s->owed_err > 0;
}

void session_abandon_output(struct session *s)
{
	if (s->cmd->out_fd >= 0 && s->cmd->out_fd == s->cmd->in_fd)
		s->cmd->in_fd = -1;
	close_fd(&s->cmd->out_fd);
	close_fd(&s->cmd->err_fd);
	s->owed_out = s->owed_err = 0;
}

int session_flushed(const struct session *s)
{
	return s->chan < 0 || queue_len(&s->to_host) == 0;
}

/* An fd with nothing wanted leaves epoll: it would still report HUP and
 * spin the loop while its data waits for room. Closing an fd drops it from
 * epoll by itself, so a changed number means a new registration. */
static void arm(int epfd, struct armed *a, int fd, uint32_t tag, uint32_t events)
{
	if (a->fd >= 0 && a->fd != fd)
		a->fd = -1; /* closed since */
	if (fd < 0)
		return;
	if (events == 0) {
		if (a->fd == fd && epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
			log_warn("epoll del: %s", strerror(errno));
		a->fd = -1;
		return;
	}
	if (a->fd != fd) {
		struct epoll_event ev = { .events = events, .data.u32 = tag };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			log_warn("epoll add: %s", strerror(errno));
		a->fd = fd;
		a->events = events;
	} else if (a->events != events) {
		struct epoll_event ev = { .events = events, .data.u32 = tag };
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			log_warn("epoll mod: %s", strerror(errno));
		a->events = events;
	}
}

void session_arm(struct session *s, int epfd)
{
	struct armed *armed = s->armed;
	struct command *c = s->cmd;
	int host_room = output_room(s);
	if (s->chan >= 0) {
		uint32_t ev = 0;
		/* Read while a whole frame fits; a full buffer waits for the command. */
		if (queue_room(&s->from_host) > 0)
			ev |= EPOLLIN;
		if (queue_len(&s->to_host))
			ev |= EPOLLOUT;
		arm(epfd, &armed[TAG_CHAN], s->chan, TAG_CHAN, ev);
	}
	if (c->out_fd >= 0) {
		uint32_t ev = host_room ? EPOLLIN : 0;
		if (c->in_fd == c->out_fd && queue_len(&s->to_cmd))
			ev |= EPOLLOUT;
		arm(epfd, &armed[TAG_OUT], c->out_fd, TAG_OUT, ev);
	}
	if (c->err_fd >= 0)
		arm(epfd, &armed[TAG_ERR], c->err_fd, TAG_ERR, host_room ? EPOLLIN : 0);
	if (c->in_fd >= 0 && c->in_fd != c->out_fd)
		arm(epfd, &armed[TAG_IN], c->in_fd, TAG_IN, queue_len(&s->to_cmd) ? EPOLLOUT : 0);
}
