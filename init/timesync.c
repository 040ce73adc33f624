#include "timesync.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include "../common/time_wire.h"
#include "clock_math.h"
#include "log.h"
#include "vm_sockets.h"

/* musl has no <linux/rtc.h> or <linux/ptp_clock.h>: their layouts, declared here. */
struct rtc_time {
	int tm_sec, tm_min, tm_hour, tm_mday, tm_mon, tm_year, tm_wday, tm_yday, tm_isdst;
};
#define RTC_RD_TIME _IOR('p', 0x09, struct rtc_time)
#define PTP_MAX_SAMPLES 25
struct ptp_sys_offset {
	unsigned int n_samples;
	unsigned int rsv[3];
	struct clock_ptp_time ts[2 * PTP_MAX_SAMPLES + 1];
};
struct ptp_sys_offset_precise {
	struct clock_ptp_time device, sys_realtime, sys_monoraw;
	unsigned int rsv[4];
};
#define PTP_SYS_OFFSET _IOW('=', 5, struct ptp_sys_offset)
#define PTP_SYS_OFFSET_PRECISE _IOWR('=', 8, struct ptp_sys_offset_precise)

/* Held while reading the clock, computing and applying a correction. */
#define LOCK_PATH "/run/wisp-clock.lock"
#define LOCK_RETRY_NS 1000000
#define RTC_PATH "/dev/rtc0"
#define PTP_PATH "/dev/ptp0"
#define PTP_NAME_PATH "/sys/class/ptp/ptp0/clock_name"
#define PTP_KVM_NAME "KVM virtual PTP"
#define PTP_READINGS 10
/* The RTC counts whole seconds: its reading is on average half a second
 * behind. */
#define RTC_HALF_SECOND_NS (NS_PER_S / 2)
/* A resync child that somehow outlives its deadlines is killed by this. */
#define RESYNC_ALARM_S 2
/* How long the boot's fallback may wait for the clock lock. */
#define FALLBACK_LOCK_NS (20 * 1000000LL)
/* At most this many host exchanges in one measurement. */
#define MAX_SAMPLES 16

/* How hard one sync tries: exchanges to choose from, exchanges to check a
 * step with, the time it may take in all, and whether it may slew. */
struct plan {
	int samples, verify;
	int64_t budget_ns;
	int may_slew;
	const char *name;
};
static const struct plan boot_plan = { 8, 4, TIMESYNC_BOOT_MS * 1000000LL, 0, "boot" };
static const struct plan resync_plan = { 8, 4, 500 * 1000000LL, 1, "resync" };
static const struct plan exec_plan = { 4, 4, 100 * 1000000LL, 1, "exec" };

/* What one sync did. offset_ns is the guest's offset from the host after
 * it (host minus guest), as measured: after a step, by fresh exchanges;
 * after a slew, the offset being slewed away. */
struct report {
	unsigned port; /* the host time service's, asked */
	enum clock_source source;
	int measured; /* offset_ns and rtt_ns are known */
	int64_t offset_ns, rtt_ns;
	int64_t step_ns, slew_ns;
	int quiet;    /* the host has no time service at all (no vsock) */
	char why[96]; /* why the host could not be asked */
};

static int64_t now_ns(clockid_t id)
{
	struct timespec ts;
	if (clock_gettime(id, &ts) < 0)
		return 0;
	return clock_ns(&ts);
}

/* A non-blocking stream to the host service, connected before deadline. */
static int vsock_connect(unsigned port, int64_t deadline, struct report *r)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r->quiet = 1;
		snprintf(r->why, sizeof(r->why), "vsock: %s", strerror(errno));
		return -1;
	}
	struct sockaddr_vm a = { .svm_family = AF_VSOCK,
				 .svm_port = port,
				 .svm_cid = VMADDR_CID_HOST };
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	int err = errno;
	if (err == EINPROGRESS) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int64_t left = deadline - now_ns(CLOCK_MONOTONIC);
		int n = left > 0 ? poll(&p, 1, (int)(left / 1000000) + 1) : 0;
		socklen_t len = sizeof(err);
		if (n <= 0)
			err = n == 0 ? ETIMEDOUT : errno;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err == 0)
			return fd;
	}
	/* No vsock device, or no transport to the host: nothing to say. */
	r->quiet = err == ENODEV || err == ENETUNREACH || err == EHOSTUNREACH ||
		   err == EAFNOSUPPORT;
	snprintf(r->why, sizeof(r->why), "connect to vsock port %u: %s", port, strerror(err));
	close(fd);
	return -1;
}

/* Waits for fd to be readable before deadline: 1 readable, 0 not. */
static int wait_readable(int fd, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ns(CLOCK_MONOTONIC);
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n = poll(&p, 1, (int)(left / 1000000) + 1);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return 0;
	}
}

enum { NO_ANSWER = -1, BAD_ANSWER = -2 };

/* One request and its answer: 0 with the sample filled, else NO_ANSWER or
 * BAD_ANSWER with why. */
static int exchange(int fd, uint64_t seq, int64_t deadline, struct clock_sample *s,
		    struct report *r)
{
	uint8_t req[TIME_WIRE_REQUEST_SIZE], resp[TIME_WIRE_RESPONSE_SIZE];
	time_wire_put_request(req, seq);
	s->t_send = now_ns(CLOCK_MONOTONIC_RAW);
	if (write(fd, req, sizeof(req)) != (ssize_t)sizeof(req)) {
		snprintf(r->why, sizeof(r->why), "send: %s", strerror(errno));
		return NO_ANSWER;
	}
	size_t got = 0;
	while (got < sizeof(resp)) {
		if (!wait_readable(fd, deadline)) {
			snprintf(r->why, sizeof(r->why), "no answer from vsock port %u", r->port);
			return NO_ANSWER;
		}
		ssize_t n = read(fd, resp + got, sizeof(resp) - got);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			snprintf(r->why, sizeof(r->why), "vsock port %u closed: %s", r->port,
				 n < 0 ? strerror(errno) : "end of stream");
			return NO_ANSWER;
		}
		got += (size_t)n;
	}
	s->t_recv = now_ns(CLOCK_MONOTONIC_RAW);
	if (time_wire_parse_response(resp, seq, &s->host) < 0) {
		snprintf(r->why, sizeof(r->why), "vsock port %u: not a time answer", r->port);
		return BAD_ANSWER;
	}
	return 0;
}

/* Up to n exchanges on fd before deadline; the best one in *best. Returns
 * 0 when at least one answer came, -1 (with why) when none did or any was
 * malformed: a service that answers garbage is not trusted for the rest. */
static int vsock_samples(int fd, int n, uint64_t *seq, int64_t deadline, struct clock_sample *best,
			 struct report *r)
{
	struct clock_sample s[MAX_SAMPLES];
	int got = 0, err = 0;
	while (got < n && got < MAX_SAMPLES &&
	       (err = exchange(fd, (*seq)++, deadline, &s[got], r)) == 0)
		got++;
	if (err == BAD_ANSWER || got == 0)
		return -1;
	int i = clock_best(s, (size_t)got);
	if (i < 0) {
		snprintf(r->why, sizeof(r->why), "vsock port %u: no usable exchange", r->port);
		return -1;
	}
	*best = s[i];
	return 0;
}

/* ptp_kvm only: another PHC is not the host's clock. */
static int ptp_is_kvm(void)
{
	char name[64] = "";
	int fd = open(PTP_NAME_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, name, sizeof(name) - 1);
	close(fd);
	return n > 0 && !strncmp(name, PTP_KVM_NAME, strlen(PTP_KVM_NAME));
}

/* The host's time from /dev/ptp0: a cross-timestamp where the host offers
 * one, else the tightest of PTP_READINGS bracketed readings. */
static int ptp_sample(struct clock_sample *best, struct report *r)
{
	if (!ptp_is_kvm())
		return -1;
	int fd = open(PTP_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct ptp_sys_offset_precise p = { 0 };
	int ok = -1;
	if (ioctl(fd, PTP_SYS_OFFSET_PRECISE, &p) == 0) {
		ok = clock_ptp_precise_sample(&p.device, &p.sys_monoraw, best);
	} else {
		static struct ptp_sys_offset o;
		memset(&o, 0, sizeof(o));
		o.n_samples = PTP_READINGS;
		if (ioctl(fd, PTP_SYS_OFFSET, &o) == 0) {
			int64_t raw = now_ns(CLOCK_MONOTONIC_RAW), real = now_ns(CLOCK_REALTIME);
			ok = clock_ptp_sys_sample(o.ts, o.n_samples, raw, real, best);
		} else {
			snprintf(r->why, sizeof(r->why), "%s: %s", PTP_PATH, strerror(errno));
		}
	}
	close(fd);
	return ok;
}

/* Corrections are relative, so two wisp processes correcting at once
 * (PID 1's resync child and an exec check) must not both read the old
 * time: the lock makes read, compute, apply one step. It is held for
 * microseconds; waiting is bounded by deadline all the same. Returns the
 * lock's fd, -1 when there is no lock file to take (correct anyway), -2
 * when another process held it until the deadline. */
static int lock_clock(int64_t deadline)
{
	int fd = open(LOCK_PATH, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int busy = errno == EWOULDBLOCK || errno == EINTR;
		if (!busy || now_ns(CLOCK_MONOTONIC) >= deadline) {
			close(fd);
			return busy ? -2 : -1;
		}
		struct timespec pause = { 0, LOCK_RETRY_NS };
		nanosleep(&pause, NULL);
	}
	return fd;
}

/* Steps or slews the clock to the host's as sample s tells it. */
static void correct(const struct clock_sample *s, int may_slew, int64_t deadline, struct report *r)
{
	int lock = lock_clock(deadline);
	if (lock == -2) {
		log_info("clock: another process is correcting the clock: leaving it to it");
		return;
	}
	int64_t offset = clock_host_at(s, now_ns(CLOCK_MONOTONIC_RAW)) - now_ns(CLOCK_REALTIME);
	r->offset_ns = offset;
	r->rtt_ns = clock_rtt(s);
	struct timex tx;
	enum clock_action action = clock_decide(offset, may_slew);
	if (action == CLOCK_STEP)
		clock_step_timex(offset, &tx);
	else if (action == CLOCK_SLEW)
		clock_slew_timex(offset, clock_rtt(s), &tx);
	if (action != CLOCK_KEEP && adjtimex(&tx) < 0)
		log_warn("clock: adjtimex (%s): %s", action == CLOCK_STEP ? "step" : "slew",
			 strerror(errno));
	else if (action == CLOCK_STEP)
		r->step_ns = offset;
	else if (action == CLOCK_SLEW)
		r->slew_ns = offset;
	if (lock >= 0)
		close(lock);
}

/* Measures the offset again after a step, to report what it left. */
static void verify(int fd, int n, uint64_t *seq, int64_t deadline, struct report *r)
{
	struct clock_sample best;
	struct report scratch = { .port = r->port };
	if (vsock_samples(fd, n, seq, deadline, &best, &scratch) < 0) {
		r->measured = 0;
		return;
	}
	r->offset_ns = clock_host_at(&best, now_ns(CLOCK_MONOTONIC_RAW)) - now_ns(CLOCK_REALTIME);
	r->rtt_ns = clock_rtt(&best);
}

/* The host's clock, by ptp_kvm or by the vsock service: 0 when the clock
 * was corrected, -1 (with why) when the host could not be asked. */
static int sync_from_host(const struct plan *p, struct report *r)
{
	int64_t deadline = now_ns(CLOCK_MONOTONIC) + p->budget_ns;
	struct clock_sample best;
	if (ptp_sample(&best, r) == 0) {
		r->source = CLOCK_SRC_PTP;
		r->measured = 1;
		correct(&best, p->may_slew, deadline, r);
		if (r->step_ns && ptp_sample(&best, r) == 0) {
			r->offset_ns = clock_host_at(&best, now_ns(CLOCK_MONOTONIC_RAW)) -
				       now_ns(CLOCK_REALTIME);
			r->rtt_ns = clock_rtt(&best);
		}
		return 0;
	}
	int fd = vsock_connect(r->port, deadline, r);
	if (fd < 0)
		return -1;
	uint64_t seq = (uint64_t)now_ns(CLOCK_MONOTONIC_RAW);
	int ok = vsock_samples(fd, p->samples, &seq, deadline, &best, r);
	if (ok == 0) {
		r->source = CLOCK_SRC_VSOCK;
		r->measured = 1;
		correct(&best, p->may_slew, deadline, r);
		if (r->step_ns)
			verify(fd, p->verify, &seq, deadline, r);
	}
	close(fd);
	return ok;
}

/* Without the host: the launch timestamp or the RTC, whichever
 * clock_pick_fallback() trusts; always a step. */
static void sync_fallback(const struct config *c, int64_t deadline, struct report *r)
{
	int64_t raw = now_ns(CLOCK_MONOTONIC_RAW);
	int64_t stamp_now = c->now_ns + now_ns(CLOCK_BOOTTIME), rtc_now = 0;
	int have_rtc = 0;
	int fd = open(RTC_PATH, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		struct rtc_time rt;
		if (ioctl(fd, RTC_RD_TIME, &rt) == 0) {
			struct tm tm = { .tm_sec = rt.tm_sec,
					 .tm_min = rt.tm_min,
					 .tm_hour = rt.tm_hour,
					 .tm_mday = rt.tm_mday,
					 .tm_mon = rt.tm_mon,
					 .tm_year = rt.tm_year };
			time_t t = timegm(&tm);
			have_rtc = t != (time_t)-1;
			rtc_now = (int64_t)t * NS_PER_S + RTC_HALF_SECOND_NS;
		}
		close(fd);
	}
	r->source = clock_pick_fallback(c->has_now, stamp_now, have_rtc, rtc_now);
	if (r->source == CLOCK_SRC_NONE)
		return;
	struct clock_sample s = { .t_send = raw,
				  .t_recv = raw,
				  .host = r->source == CLOCK_SRC_RTC ? rtc_now : stamp_now };
	correct(&s, 0, deadline, r);
}

static void note(struct trace *t, const struct report *r)
{
	trace_fact(t, "clock_source=%s", clock_source_name(r->source));
	if (r->measured) {
		trace_fact(t, "clock_offset_us=%lld", (long long)(r->offset_ns / NS_PER_US));
		trace_fact(t, "clock_rtt_us=%lld", (long long)(r->rtt_ns / NS_PER_US));
	}
	if (r->step_ns)
		trace_fact(t, "clock_step_us=%lld", (long long)(r->step_ns / NS_PER_US));
	if (r->slew_ns)
		trace_fact(t, "clock_slew_us=%lld", (long long)(r->slew_ns / NS_PER_US));
}

void timesync_boot(const struct config *c, struct trace *t)
{
	struct report r = { .port = c->timeport };
	if (sync_from_host(&boot_plan, &r) == 0) {
		log_info(
			"clock: from %s, stepped %+lld us, now off by %+lld us (round trip %lld us)",
			clock_source_name(r.source), (long long)(r.step_ns / NS_PER_US),
			(long long)(r.offset_ns / NS_PER_US), (long long)(r.rtt_ns / NS_PER_US));
		note(t, &r);
		return;
	}
	char why[sizeof(r.why)];
	memcpy(why, r.why, sizeof(why));
	int quiet = r.quiet;
	r = (struct report){ .port = c->timeport };
	sync_fallback(c, now_ns(CLOCK_MONOTONIC) + FALLBACK_LOCK_NS, &r);
	note(t, &r);
	if (r.source == CLOCK_SRC_NONE) {
		log_warn("clock: no time source (%s; no wisp.now, no RTC): left as it is", why);
		return;
	}
	if (quiet)
		log_info("clock: from %s, stepped %+lld us", clock_source_name(r.source),
			 (long long)(r.step_ns / NS_PER_US));
	else
		log_warn("clock: the host time service failed (%s): set from %s instead", why,
			 clock_source_name(r.source));
}

int timesync_timer(const struct config *c)
{
	if (c->timesync_s == 0)
		return -1;
	/* CLOCK_BOOTTIME: time the guest spends suspended counts, so the
	 * first thing after a resume is a resync. */
	int fd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	struct itimerspec its = { .it_interval = { (time_t)c->timesync_s, 0 },
				  .it_value = { (time_t)c->timesync_s, 0 } };
	if (fd < 0 || timerfd_settime(fd, 0, &its, NULL) < 0) {
		log_warn("clock: resync timer: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void log_report(const struct plan *p, const struct report *r)
{
	log_info("clock: %s from %s: off by %+lld us (round trip %lld us), stepped %+lld us, "
		 "slewing %+lld us",
		 p->name, clock_source_name(r->source), (long long)(r->offset_ns / NS_PER_US),
		 (long long)(r->rtt_ns / NS_PER_US), (long long)(r->step_ns / NS_PER_US),
		 (long long)(r->slew_ns / NS_PER_US));
}

void timesync_tick(int fd, const struct config *c, int resync)
{
	uint64_t expirations;
	if (read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_warn("clock: resync timer: %s", strerror(errno));
	if (!resync)
		return;
	/* The exchange blocks (within its deadline): a child does it, so that
	 * PID 1's loop never waits on the host. PID 1 reaps it like any. */
	pid_t pid = fork();
	if (pid < 0) {
		log_warn("clock: resync: fork: %s", strerror(errno));
		return;
	}
	if (pid > 0)
		return;
	log_set_sink(NULL, NULL); /* PID 1's session is not ours to write */
	alarm(RESYNC_ALARM_S);
	struct report r = { .port = c->timeport };
	if (sync_from_host(&resync_plan, &r) == 0)
		log_report(&resync_plan, &r);
	else
		log_info("clock: resync: %s", r.why);
	_exit(0);
}

/* The boot's time keys, for a process that has no copy of them: 0 when
 * the clock is kept right, with the service's port. */
static int boot_keys(unsigned *port)
{
	static char text[CONFIG_CMDLINE_MAX];
	static struct config c;
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, text, sizeof(text));
	close(fd);
	if (n < 0 || config_parse(text, (size_t)n, &c) < 0)
		return -1;
	*port = c.timeport;
	int on = c.timesync_s > 0;
	config_free(&c);
	return on ? 0 : -1;
}

size_t timesync_check(char *buf, size_t size)
{
	unsigned port;
	if (boot_keys(&port) < 0)
		return 0;
	struct report r = { .port = port };
	if (sync_from_host(&exec_plan, &r) < 0)
		return 0;
	log_report(&exec_plan, &r);
	struct trace t = { .n = 0 };
	note(&t, &r);
	return trace_format(&t, buf, size);
}
