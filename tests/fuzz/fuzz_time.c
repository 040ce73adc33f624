/* libFuzzer target: the time service's bytes from both sides. Guest bytes
 * in chunks of any size through the host's request reassembly (every
 * request it finds must round-trip through an answer), any 24 bytes as an
 * answer on the guest's side, and readings from a hostile PHC through the
 * ptp_kvm maths, which must never overflow (UBSan). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../common/time_wire.h"
#include "../../init/clock_math.h"

static void requests(const uint8_t *data, size_t size)
{
	struct time_wire_rx rx = { .have = 0 };
	for (size_t at = 0; at < size;) {
		size_t chunk = 1 + data[at++] % 40;
		if (chunk > size - at)
			chunk = size - at;
		for (size_t used = 0; used < chunk;) {
			int status;
			uint64_t seq = 0;
			size_t n = time_wire_rx_feed(&rx, data + at + used, chunk - used, &status,
						     &seq);
			if (n == 0 || n > chunk - used || rx.have > TIME_WIRE_REQUEST_SIZE)
				__builtin_trap();
			used += n;
			if (status == TIME_RX_BAD)
				return; /* the service closes the connection */
			if (status == TIME_RX_REQUEST) {
				uint8_t resp[TIME_WIRE_RESPONSE_SIZE];
				int64_t host;
				time_wire_put_response(resp, seq, 1795478400LL * NS_PER_S);
				if (time_wire_parse_response(resp, seq, &host) < 0 ||
				    host != 1795478400LL * NS_PER_S)
					__builtin_trap();
			}
		}
		at += chunk;
	}
}

static void answer(const uint8_t *data, size_t size)
{
	if (size < TIME_WIRE_RESPONSE_SIZE)
		return;
	int64_t host;
	if (time_wire_parse_response(data, time_wire_get64(data + 8), &host) == 0) {
		if (host <= 0 || host >= CLOCK_MAX_NS)
			__builtin_trap();
		/* The guest carries it forward from a sample with a sane raw clock. */
		struct clock_sample s = { 5 * NS_PER_S, 5 * NS_PER_S + 700000, host };
		(void)clock_host_at(&s, 6 * NS_PER_S);
	}
}

static void phc(const uint8_t *data, size_t size)
{
	struct clock_ptp_time ts[7];
	if (size < sizeof(ts))
		return;
	memcpy(ts, data, sizeof(ts));
	struct clock_sample s;
	int64_t raw = 100 * NS_PER_S, real = 1795478400LL * NS_PER_S;
	if (clock_ptp_sys_sample(ts, 3, raw, real, &s) == 0) {
		if (clock_rtt(&s) < 0)
			__builtin_trap();
		(void)(clock_host_at(&s, raw + NS_PER_S) - real);
	}
	if (clock_ptp_precise_sample(&ts[0], &ts[1], &s) == 0)
		(void)(clock_host_at(&s, s.t_send + NS_PER_S) - real);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	requests(data, size);
	answer(data, size);
	phc(data, size);
	return 0;
}
