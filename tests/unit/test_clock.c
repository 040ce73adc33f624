/* Unit tests of the clock arithmetic (init/clock_math.c) and the time
 * service's wire format (common/time_wire.h). */
#include <limits.h>

#include "../../common/time_wire.h"
#include "../../init/clock_math.h"
#include "check.h"

#define MS 1000000LL
#define US 1000LL
/* 2026-11-24T00:00:00Z, a plausible host time. */
#define T0 (1795478400LL * NS_PER_S)

static void test_best_of_n_takes_the_smallest_round_trip(void)
{
	struct clock_sample s[] = {
		{ 100 * MS, 105 * MS, T0 },
		{ 200 * MS, 200 * MS + 300 * US, T0 + 100 * MS },
		{ 300 * MS, 301 * MS, T0 + 200 * MS },
		{ 400 * MS, 399 * MS, T0 }, /* ends before it starts: never chosen */
	};
	CHECK_INT(clock_best(s, 4), 1);
	CHECK_INT(clock_rtt(&s[1]), 300 * US);
	CHECK_INT(clock_best(s, 0), -1);
	CHECK_INT(clock_best(&s[3], 1), -1);
	/* A tie keeps the first. */
	struct clock_sample tie[] = { { 0, 10, T0 }, { 50, 60, T0 + 1 } };
	CHECK_INT(clock_best(tie, 2), 0);
}

static void test_host_time_is_carried_from_the_middle_of_the_exchange(void)
{
	/* Sent at raw 10 s, answered at 10.002 s: the host read T0 at 10.001 s. */
	struct clock_sample s = { 10 * NS_PER_S, 10 * NS_PER_S + 2 * MS, T0 };
	CHECK_INT(clock_host_at(&s, 10 * NS_PER_S + 1 * MS), T0);
	CHECK_INT(clock_host_at(&s, 12 * NS_PER_S), T0 + 2 * NS_PER_S - 1 * MS);
	/* The offset a guest 25 years behind sees: host - guest realtime. */
	int64_t guest_real = 978307200LL * NS_PER_S; /* 2001-01-01 */
	CHECK_INT(clock_host_at(&s, 10 * NS_PER_S + 1 * MS) - guest_real,
		  T0 - 978307200LL * NS_PER_S);
	/* An odd round trip rounds the middle down, never overflows near the
	 * top of the raw clock. */
	struct clock_sample big = { INT64_MAX - 3, INT64_MAX, T0 };
	CHECK_INT(clock_host_at(&big, INT64_MAX - 2), T0);
}

static void test_slew_small_offsets_step_large_ones(void)
{
	CHECK_INT(clock_decide(0, 1), CLOCK_KEEP);
	CHECK_INT(clock_decide(3 * MS, 1), CLOCK_SLEW);
	CHECK_INT(clock_decide(-3 * MS, 1), CLOCK_SLEW);
	CHECK_INT(clock_decide(CLOCK_STEP_NS, 1), CLOCK_SLEW);
	CHECK_INT(clock_decide(CLOCK_STEP_NS + 1, 1), CLOCK_STEP);
	CHECK_INT(clock_decide(-CLOCK_STEP_NS - 1, 1), CLOCK_STEP);
	CHECK_INT(clock_decide(-20 * NS_PER_S, 1), CLOCK_STEP); /* a 20 s pause */
	/* At boot even a small offset is stepped: nothing has read the clock. */
	CHECK_INT(clock_decide(3 * MS, 0), CLOCK_STEP);
	CHECK_INT(clock_decide(0, 0), CLOCK_KEEP);
}

static void test_step_request_is_a_normalized_relative_offset(void)
{
	struct timex tx;
	clock_step_timex(20 * NS_PER_S + 5, &tx);
	CHECK_INT(tx.modes, ADJ_SETOFFSET | ADJ_NANO);
	CHECK_INT(tx.time.tv_sec, 20);
	CHECK_INT(tx.time.tv_usec, 5);
	/* Back by 1.5 s: the kernel wants tv_usec (ns here) in [0, 1e9). */
	clock_step_timex(-1500 * MS, &tx);
	CHECK_INT(tx.time.tv_sec, -2);
	CHECK_INT(tx.time.tv_usec, 500 * MS);
	clock_step_timex(-1, &tx);
	CHECK_INT(tx.time.tv_sec, -1);
	CHECK_INT(tx.time.tv_usec, NS_PER_S - 1);
}

static void test_slew_request_is_the_pll_in_nanoseconds(void)
{
	struct timex tx;
	clock_slew_timex(-4 * MS, 600 * US, &tx);
	CHECK_INT(tx.modes & (ADJ_OFFSET | ADJ_NANO | ADJ_STATUS | ADJ_TIMECONST),
		  ADJ_OFFSET | ADJ_NANO | ADJ_STATUS | ADJ_TIMECONST);
	CHECK_INT(tx.modes & (ADJ_SETOFFSET | ADJ_FREQUENCY), 0);
	CHECK_INT(tx.offset, -4 * MS);
	CHECK_INT(tx.status, STA_PLL | STA_FREQHOLD);
	CHECK_INT(tx.constant, 0);
	CHECK_INT(tx.esterror, 300);
	CHECK_INT(tx.maxerror, 300 + 4000);
	/* The kernel takes at most 0.5 s: more is clamped, not wrapped. */
	clock_slew_timex(3 * NS_PER_S, 0, &tx);
	CHECK_INT(tx.offset, CLOCK_SLEW_MAX_NS);
	clock_slew_timex(-3 * NS_PER_S, -5, &tx);
	CHECK_INT(tx.offset, -CLOCK_SLEW_MAX_NS);
	CHECK_INT(tx.esterror, 0);
}

static void test_timespec_conversion_handles_negative_times(void)
{
	struct timespec ts = clock_timespec(1500 * MS);
	CHECK_INT(ts.tv_sec, 1);
	CHECK_INT(ts.tv_nsec, 500 * MS);
	ts = clock_timespec(-1);
	CHECK_INT(ts.tv_sec, -1);
	CHECK_INT(ts.tv_nsec, NS_PER_S - 1);
	ts = clock_timespec(-2 * NS_PER_S);
	CHECK_INT(ts.tv_sec, -2);
	CHECK_INT(ts.tv_nsec, 0);
	ts = clock_timespec(T0 + 7);
	CHECK_INT(clock_ns(&ts), T0 + 7);
}

static void test_fallback_prefers_the_launch_timestamp(void)
{
	int64_t stamp = T0;
	/* The RTC agrees to a second, or is wrong and early (2001): the stamp. */
	CHECK_INT(clock_pick_fallback(1, stamp, 1, stamp + 700 * MS), CLOCK_SRC_CMDLINE);
	CHECK_INT(clock_pick_fallback(1, stamp, 1, 978307200LL * NS_PER_S), CLOCK_SRC_CMDLINE);
	CHECK_INT(clock_pick_fallback(1, stamp, 0, 0), CLOCK_SRC_CMDLINE);
	CHECK_INT(clock_pick_fallback(1, stamp, 1, stamp + CLOCK_STAMP_STALE_NS),
		  CLOCK_SRC_CMDLINE);
	/* The RTC far later: the stamp is from an earlier launch. */
	CHECK_INT(clock_pick_fallback(1, stamp, 1, stamp + CLOCK_STAMP_STALE_NS + 1),
		  CLOCK_SRC_RTC);
	CHECK_INT(clock_pick_fallback(0, 0, 1, stamp), CLOCK_SRC_RTC);
	CHECK_INT(clock_pick_fallback(0, 0, 0, 0), CLOCK_SRC_NONE);
	CHECK_STR(clock_source_name(CLOCK_SRC_CMDLINE), "cmdline");
	CHECK_STR(clock_source_name(CLOCK_SRC_NONE), "none");
	CHECK_STR(clock_source_name(CLOCK_SRC_VSOCK), "vsock");
}

static struct clock_ptp_time ptp(int64_t ns)
{
	return (struct clock_ptp_time){ .sec = ns / NS_PER_S, .nsec = (uint32_t)(ns % NS_PER_S) };
}

static void test_ptp_sys_offset_takes_the_tightest_bracket(void)
{
	/* Guest 3 ms behind the host. Readings: bracket 40 us, 10 us, 25 us. */
	int64_t g = 1000 * NS_PER_S, off = 3 * MS;
	/* One reading a line: each of the device's between two of the system's. */
	/* clang-format off */
	struct clock_ptp_time ts[7] = {
		ptp(g),
		ptp(g + 20 * US + off), /* bracket [0, 40] us */
		ptp(g + 40 * US),
		ptp(g + 45 * US + off + 2 * US), /* [40, 50]: read 2 us late */
		ptp(g + 50 * US),
		ptp(g + 62 * US + off), /* [50, 75] */
		ptp(g + 75 * US),
	};
	/* clang-format on */
	struct clock_sample s;
	int64_t raw_now = 77 * NS_PER_S, real_now = g + 100 * US;
	CHECK_INT(clock_ptp_sys_sample(ts, 3, raw_now, real_now, &s), 0);
	CHECK_INT(clock_rtt(&s), 10 * US);
	CHECK_INT(s.host, real_now + off + 2 * US);
	/* Carried to raw_now, the host time is the guest's plus the offset. */
	CHECK_INT(clock_host_at(&s, raw_now) - real_now, off + 2 * US);
	/* Invalid readings (nsec out of range, time going back) are skipped. */
	struct clock_ptp_time bad[3] = { ptp(g), ptp(g + off), ptp(g - 1) };
	CHECK_INT(clock_ptp_sys_sample(bad, 1, raw_now, real_now, &s), -1);
	bad[2] = ptp(g + 10 * US);
	bad[1].nsec = 1000000000U;
	CHECK_INT(clock_ptp_sys_sample(bad, 1, raw_now, real_now, &s), -1);
	CHECK_INT(clock_ptp_sys_sample(bad, 0, raw_now, real_now, &s), -1);
}

static void test_ptp_precise_is_a_sample_with_no_round_trip(void)
{
	struct clock_ptp_time dev = ptp(T0 + 123), raw = ptp(55 * NS_PER_S + 9);
	struct clock_sample s;
	CHECK_INT(clock_ptp_precise_sample(&dev, &raw, &s), 0);
	CHECK_INT(clock_rtt(&s), 0);
	CHECK_INT(clock_host_at(&s, 56 * NS_PER_S + 9), T0 + 123 + NS_PER_S);
	raw.sec = -1;
	CHECK_INT(clock_ptp_precise_sample(&dev, &raw, &s), -1);
}

static void test_wire_round_trip(void)
{
	uint8_t req[TIME_WIRE_REQUEST_SIZE], resp[TIME_WIRE_RESPONSE_SIZE];
	time_wire_put_request(req, 0x0102030405060708ULL);
	CHECK(!memcmp(req, "WTIM\x01\x01\x00\x00\x08\x07\x06\x05\x04\x03\x02\x01", 16));
	time_wire_put_response(resp, 42, T0);
	int64_t host = 0;
	CHECK_INT(time_wire_parse_response(resp, 42, &host), 0);
	CHECK_INT(host, T0);
	CHECK_INT(time_wire_parse_response(resp, 43, &host), -1); /* not our answer */
	resp[5] = TIME_WIRE_REQUEST;
	CHECK_INT(time_wire_parse_response(resp, 42, &host), -1);
	time_wire_put_response(resp, 42, 0);
	CHECK_INT(time_wire_parse_response(resp, 42, &host), -1);
	time_wire_put_response(resp, 42, -5); /* 2^64 - 5 as u64 */
	CHECK_INT(time_wire_parse_response(resp, 42, &host), -1);
	time_wire_put_response(resp, 42, (int64_t)TIME_WIRE_MAX_NS);
	CHECK_INT(time_wire_parse_response(resp, 42, &host), -1);
}

static void test_requests_are_reassembled_from_any_chunks(void)
{
	uint8_t two[2 * TIME_WIRE_REQUEST_SIZE];
	time_wire_put_request(two, 7);
	time_wire_put_request(two + TIME_WIRE_REQUEST_SIZE, 8);
	for (size_t chunk = 1; chunk <= sizeof(two); chunk++) {
		struct time_wire_rx rx = { .have = 0 };
		uint64_t seqs[2] = { 0, 0 };
		int n = 0, bad = 0;
		for (size_t at = 0; at < sizeof(two);) {
			size_t len = sizeof(two) - at < chunk ? sizeof(two) - at : chunk;
			for (size_t used = 0; used < len;) {
				int status;
				uint64_t seq;
				used += time_wire_rx_feed(&rx, two + at + used, len - used, &status,
							  &seq);
				if (status == TIME_RX_REQUEST && n < 2)
					seqs[n++] = seq;
				bad |= status == TIME_RX_BAD;
			}
			at += len;
		}
		CHECK_INT(n, 2);
		CHECK_INT(seqs[0], 7);
		CHECK_INT(seqs[1], 8);
		CHECK_INT(bad, 0);
	}
}

static void test_a_bad_header_is_refused_as_soon_as_it_is_in(void)
{
	struct time_wire_rx rx = { .have = 0 };
	int status;
	uint64_t seq;
	CHECK_INT(time_wire_rx_feed(&rx, (const uint8_t *)"GET / HT", 8, &status, &seq), 8);
	CHECK_INT(status, TIME_RX_BAD);
	uint8_t req[TIME_WIRE_REQUEST_SIZE];
	time_wire_put_request(req, 1);
	req[4] = 2; /* a version this side does not speak */
	rx.have = 0;
	time_wire_rx_feed(&rx, req, 5, &status, &seq);
	CHECK_INT(status, TIME_RX_MORE);
	time_wire_rx_feed(&rx, req + 5, 3, &status, &seq);
	CHECK_INT(status, TIME_RX_BAD);
	req[4] = 1;
	req[6] = 1; /* reserved must be 0 */
	rx.have = 0;
	time_wire_rx_feed(&rx, req, sizeof(req), &status, &seq);
	CHECK_INT(status, TIME_RX_BAD);
}

int main(void)
{
	test_best_of_n_takes_the_smallest_round_trip();
	test_host_time_is_carried_from_the_middle_of_the_exchange();
	test_slew_small_offsets_step_large_ones();
	test_step_request_is_a_normalized_relative_offset();
	test_slew_request_is_the_pll_in_nanoseconds();
	test_timespec_conversion_handles_negative_times();
	test_fallback_prefers_the_launch_timestamp();
	test_ptp_sys_offset_takes_the_tightest_bracket();
	test_ptp_precise_is_a_sample_with_no_round_trip();
	test_wire_round_trip();
	test_requests_are_reassembled_from_any_chunks();
	test_a_bad_header_is_refused_as_soon_as_it_is_in();
	return check_summary("test_clock");
}
