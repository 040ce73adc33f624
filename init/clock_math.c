#include "clock_math.h"

const char *clock_source_name(enum clock_source s)
{
	switch (s) {
	case CLOCK_SRC_PTP:
		return "ptp";
	case CLOCK_SRC_VSOCK:
		return "vsock";
	case CLOCK_SRC_CMDLINE:
		return "cmdline";
	case CLOCK_SRC_RTC:
		return "rtc";
	default:
		return "none";
	}
}

int64_t clock_rtt(const struct clock_sample *s)
{
	return s->t_recv - s->t_send;
}

int clock_best(const struct clock_sample *s, size_t n)
{
	int best = -1;
	for (size_t i = 0; i < n; i++) {
		if (clock_rtt(&s[i]) < 0)
			continue;
		if (best < 0 || clock_rtt(&s[i]) < clock_rtt(&s[best]))
			best = (int)i;
	}
	return best;
}

int64_t clock_host_at(const struct clock_sample *s, int64_t raw_now)
{
	int64_t middle = s->t_send + clock_rtt(s) / 2; /* no overflow of t_send + t_recv */
	return s->host + (raw_now - middle);
}

enum clock_action clock_decide(int64_t offset_ns, int may_slew)
{
	if (offset_ns == 0)
		return CLOCK_KEEP;
	if (!may_slew || offset_ns > CLOCK_STEP_NS || offset_ns < -CLOCK_STEP_NS)
		return CLOCK_STEP;
	return CLOCK_SLEW;
}

void clock_step_timex(int64_t offset_ns, struct timex *tx)
{
	struct timespec by = clock_timespec(offset_ns);
	*tx = (struct timex){ 0 };
	tx->modes = ADJ_SETOFFSET | ADJ_NANO;
	tx->time.tv_sec = by.tv_sec;
	tx->time.tv_usec = by.tv_nsec; /* nanoseconds, with ADJ_NANO */
}

void clock_slew_timex(int64_t offset_ns, int64_t rtt_ns, struct timex *tx)
{
	if (offset_ns > CLOCK_SLEW_MAX_NS)
		offset_ns = CLOCK_SLEW_MAX_NS;
	if (offset_ns < -CLOCK_SLEW_MAX_NS)
		offset_ns = -CLOCK_SLEW_MAX_NS;
	int64_t est_us = rtt_ns > 0 ? rtt_ns / 2 / NS_PER_US : 0;
	*tx = (struct timex){ 0 };
	tx->modes = ADJ_OFFSET | ADJ_NANO | ADJ_STATUS | ADJ_TIMECONST | ADJ_ESTERROR |
		    ADJ_MAXERROR;
	tx->offset = (long)offset_ns;
	/* The PLL takes ADJ_OFFSET; FREQHOLD keeps it from also learning a
	 * frequency from measurements this far apart. */
	tx->status = STA_PLL | STA_FREQHOLD;
	tx->constant = 0;
	tx->esterror = (long)est_us;
	tx->maxerror = (long)(est_us + (offset_ns < 0 ? -offset_ns : offset_ns) / NS_PER_US);
}

struct timespec clock_timespec(int64_t ns)
{
	int64_t sec = ns / NS_PER_S, rem = ns % NS_PER_S;
	if (rem < 0) {
		rem += NS_PER_S;
		sec--;
	}
	return (struct timespec){ .tv_sec = (time_t)sec, .tv_nsec = (long)rem };
}

int64_t clock_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * NS_PER_S + ts->tv_nsec;
}

enum clock_source clock_pick_fallback(int have_stamp, int64_t stamp_now, int have_rtc,
				      int64_t rtc_now)
{
	if (have_stamp && (!have_rtc || rtc_now - stamp_now <= CLOCK_STAMP_STALE_NS))
		return CLOCK_SRC_CMDLINE;
	return have_rtc ? CLOCK_SRC_RTC : CLOCK_SRC_NONE;
}

static int ptp_valid(const struct clock_ptp_time *t)
{
	return t->nsec < NS_PER_S && t->sec >= 0 && t->sec < CLOCK_MAX_NS / NS_PER_S;
}

static int64_t ptp_ns(const struct clock_ptp_time *t)
{
	return t->sec * NS_PER_S + (int64_t)t->nsec;
}

int clock_ptp_sys_sample(const struct clock_ptp_time *ts, unsigned n_samples, int64_t raw_now,
			 int64_t real_now, struct clock_sample *s)
{
	int64_t offset = 0, delay = -1;
	for (unsigned i = 0; i < n_samples; i++) {
		const struct clock_ptp_time *before = &ts[2 * i], *phc = &ts[2 * i + 1],
					    *after = &ts[2 * i + 2];
		if (!ptp_valid(before) || !ptp_valid(phc) || !ptp_valid(after))
			continue;
		int64_t d = ptp_ns(after) - ptp_ns(before);
		if (d < 0 || (delay >= 0 && d >= delay))
			continue;
		delay = d;
		offset = ptp_ns(phc) - (ptp_ns(before) + d / 2);
	}
	if (delay < 0)
		return -1;
	s->t_send = raw_now - delay / 2;
	s->t_recv = s->t_send + delay;
	s->host = real_now + offset;
	return 0;
}

int clock_ptp_precise_sample(const struct clock_ptp_time *device,
			     const struct clock_ptp_time *sys_monoraw, struct clock_sample *s)
{
	if (!ptp_valid(device) || !ptp_valid(sys_monoraw))
		return -1;
	s->t_send = s->t_recv = ptp_ns(sys_monoraw);
	s->host = ptp_ns(device);
	return 0;
}
