/* The arithmetic of keeping the guest clock right (docs/time.md), with no
 * I/O so that the unit tests call it directly: picking the best of several
 * host exchanges, the offset, slew or step, the adjtimex request for a
 * slew, the fallback between a launch timestamp and the RTC, and the
 * offset maths of ptp_kvm's PTP_SYS_OFFSET and PTP_SYS_OFFSET_PRECISE.
 *
 * Times are int64_t nanoseconds. Guest-side instants are CLOCK_MONOTONIC_RAW,
 * which no step or slew moves, so a measurement stays valid while another
 * process corrects the clock; host times are the host's CLOCK_REALTIME. */
#ifndef WISP_CLOCK_MATH_H
#define WISP_CLOCK_MATH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/timex.h>
#include <time.h>

#define NS_PER_S 1000000000LL
#define NS_PER_US 1000LL
/* Times from the host at or past 2^62 ns (year 2116) are refused, so that
 * sums of them cannot overflow (the same bound as TIME_WIRE_MAX_NS). */
#define CLOCK_MAX_NS (1LL << 62)

/* Offsets above this are stepped at once (a paused VM, a host suspend);
 * smaller ones are slewed so that time never jumps under a program. */
#define CLOCK_STEP_NS (100 * 1000000LL)
/* The kernel slews at most this much per ADJ_OFFSET (its MAXPHASE). */
#define CLOCK_SLEW_MAX_NS (500 * 1000000LL)
/* A launch timestamp the RTC is later than by more than this was not
 * written for this boot (a command line reused from an earlier launch). */
#define CLOCK_STAMP_STALE_NS (60 * NS_PER_S)

enum clock_source {
	CLOCK_SRC_NONE,
	CLOCK_SRC_PTP,
	CLOCK_SRC_VSOCK,
	CLOCK_SRC_CMDLINE,
	CLOCK_SRC_RTC
};

/* One exchange: the guest sent at t_send and had the answer at t_recv
 * (MONOTONIC_RAW); the host's CLOCK_REALTIME was `host` somewhere between.
 * A source with a single instant (the RTC, a PTP cross-timestamp) has
 * t_send == t_recv. */
struct clock_sample {
	int64_t t_send, t_recv;
	int64_t host;
};

const char *clock_source_name(enum clock_source s);

/* The round trip: the bound on the error of one sample is half of it. */
int64_t clock_rtt(const struct clock_sample *s);
/* The index of the sample with the smallest round trip, skipping any that
 * end before they start; -1 when there is none. */
int clock_best(const struct clock_sample *s, size_t n);
/* The host's time at guest instant raw_now, from one sample: the host's
 * reading taken at the middle of the exchange, carried forward. */
int64_t clock_host_at(const struct clock_sample *s, int64_t raw_now);

enum clock_action { CLOCK_KEEP, CLOCK_SLEW, CLOCK_STEP };
/* What to do about offset (host minus guest): step when it is large or
 * when slewing is not allowed (at boot nothing has read the clock yet), else
 * slew; keep a clock that is exactly right. */
enum clock_action clock_decide(int64_t offset_ns, int may_slew);
/* The adjtimex request that steps the clock by offset_ns (ADJ_SETOFFSET):
 * the kernel adds it to the time it reads itself, so the time the call
 * takes is not lost, as it is by clock_settime (measured under TCG: up to
 * 150 us on the first, cold call). */
void clock_step_timex(int64_t offset_ns, struct timex *tx);
/* The adjtimex request that slews offset_ns away: the kernel's PLL in
 * nanosecond mode with the fastest time constant and its frequency held,
 * which takes a quarter of what is left each second (a 100 ms offset is
 * under 1 ms in about 17 s, at most 2.5% fast or slow meanwhile). The
 * error estimate is half the round trip. */
void clock_slew_timex(int64_t offset_ns, int64_t rtt_ns, struct timex *tx);

/* ns as a timespec, tv_nsec in [0, 1e9) also for negative ns. */
struct timespec clock_timespec(int64_t ns);
int64_t clock_ns(const struct timespec *ts);

/* Without a host to ask: the launch timestamp carried forward by
 * CLOCK_BOOTTIME (stamp_now, a lower bound of the time: the VMM started
 * before the kernel's clock did) or the RTC (rtc_now). The timestamp wins;
 * the RTC only when there is no timestamp or when it is later than the
 * timestamp by more than CLOCK_STAMP_STALE_NS. */
enum clock_source clock_pick_fallback(int have_stamp, int64_t stamp_now, int have_rtc,
				      int64_t rtc_now);

/* ptp_kvm's clock is the host's CLOCK_REALTIME. This is the kernel's
 * struct ptp_clock_time, byte for byte. */
struct clock_ptp_time {
	int64_t sec;
	uint32_t nsec;
	uint32_t reserved;
};
/* PTP_SYS_OFFSET: ts[0..2n] alternate guest CLOCK_REALTIME, PHC, ...,
 * CLOCK_REALTIME. Takes the reading with the shortest bracket; its offset
 * (PHC minus the guest clock at the bracket's middle) holds at any instant,
 * so the sample is anchored at (raw_now, real_now), read together just
 * after the ioctl, with the bracket as its round trip. 0, or -1 when no
 * reading is usable. */
int clock_ptp_sys_sample(const struct clock_ptp_time *ts, unsigned n_samples, int64_t raw_now,
			 int64_t real_now, struct clock_sample *s);
/* PTP_SYS_OFFSET_PRECISE: the PHC and CLOCK_MONOTONIC_RAW at one instant,
 * a sample with no round trip. 0, or -1 when the times are not valid. */
int clock_ptp_precise_sample(const struct clock_ptp_time *device,
			     const struct clock_ptp_time *sys_monoraw, struct clock_sample *s);

#endif
