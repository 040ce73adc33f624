/* Keeping the guest clock right (DESIGN.md boot step 5, docs/time.md).
 *
 * At boot, before the command starts and in at most TIMESYNC_BOOT_MS, the
 * clock is stepped to the host's: from ptp_kvm's /dev/ptp0 where it exists,
 * else from the host time service over vsock (several exchanges, the one
 * with the smallest round trip wins); without either, from the launch
 * timestamp (wisp.now) or the RTC; without those it is left alone, with
 * one line saying so.
 *
 * Afterwards a CLOCK_BOOTTIME timerfd in PID 1's loop fires every
 * wisp.timesync seconds and a short-lived child re-measures: small offsets
 * are slewed, large ones (a paused VM) stepped. The agent calls
 * timesync_check() before each `wisp exec` command, so a command run right
 * after a pause sees the right time without waiting for the timer.
 *
 * Measurements are on CLOCK_MONOTONIC_RAW, which no correction moves.
 * Corrections are adjtimex: ADJ_SETOFFSET for a step (the kernel applies
 * it to its own reading of the time, so no syscall latency is lost) and
 * ADJ_OFFSET for a slew; a lock in /run makes read-compute-apply one step,
 * so two processes syncing at once cannot add their corrections up. */
#ifndef WISP_TIMESYNC_H
#define WISP_TIMESYNC_H

#include <stddef.h>

#include "config.h"
#include "trace.h"

/* The boot sync never holds PID 1 up longer than this. */
#define TIMESYNC_BOOT_MS 200
/* Room for what timesync_check() reports. */
#define TIMESYNC_FACTS_MAX 160

/* Sets the clock at boot and notes source, offset and round trip in the
 * trace. */
void timesync_boot(const struct config *c, struct trace *t);
/* The resync timer for PID 1's loop, or -1 when wisp.timesync=0. */
int timesync_timer(const struct config *c);
/* The timer fd is readable: consumes it and, when resync is set, forks a
 * child that re-measures and corrects the clock. Never blocks. */
void timesync_tick(int fd, const struct config *c, int resync);
/* For the agent, before a command: a quick measure-and-correct (at most
 * about 100 ms), by the boot's keys (read again from /proc/cmdline: the
 * agent has no copy of PID 1's). Writes trace facts
 * ("clock_source=vsock\n...") into buf and returns their length; 0 when
 * wisp.timesync=0 or nothing was measured. */
size_t timesync_check(char *buf, size_t size);

#endif
