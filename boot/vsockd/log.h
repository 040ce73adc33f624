/* wisp-vsockd's log: one line on stderr, "wisp-vsockd: ...", and the
 * limiter every message that an event can repeat goes through, so that a
 * guest sending 64,000 bad packets writes two lines, not 64,000.
 *
 * A limiter is a struct per kind of message, kept by whoever logs it. The
 * first occurrence is logged as it is; the ones after it are counted, and
 * "<what>: N more times" is written at most once per LOG_EPISODE_MS while
 * they go on, and once more at most LOG_EPISODE_MS after the last one. An
 * episode ends after LOG_EPISODE_MS with none: the next one is logged
 * whole again. log_limit_tick() writes the late count lines; the owner
 * calls it from the event loop, which wakes for it when it asks to.
 *
 * The limiter is static inline here so that it goes wherever log_msg()
 * does: into wisp-vsockd with log.c, and into the unit tests and the
 * fuzzer, whose fake guest stands in for log.c (a log_msg() that counts
 * lines, a clock they set). */
#ifndef WISP_VSOCKD_LOG_H
#define WISP_VSOCKD_LOG_H

#include <stdint.h>

void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds on CLOCK_MONOTONIC: the clock of the limiter and of
 * wisp-vsockd's other timers. */
uint64_t mono_ms(void);

#define LOG_EPISODE_MS 1000

struct log_limit {
	const char *what;   /* names the kind in the count line */
	int open;           /* an episode is going on */
	unsigned long more; /* occurrences since the last line, not logged */
	uint64_t last_line; /* when the last line of the episode was written */
};

#define LOG_LIMIT(what_) ((struct log_limit){ .what = (what_) })

static inline void log_limit_count_line(struct log_limit *l, uint64_t now)
{
	log_msg("%s: %lu more time%s", l->what, l->more, l->more == 1 ? "" : "s");
	l->more = 0;
	l->last_line = now;
}

/* One occurrence at now: 1 when the caller logs it (the first of an
 * episode), 0 when it was counted. */
static inline int log_limit_hit(struct log_limit *l, uint64_t now)
{
	if (l->open && l->more == 0 && now - l->last_line >= LOG_EPISODE_MS)
		l->open = 0; /* over, though no tick said so yet */
	if (!l->open) {
		l->open = 1;
		l->more = 0;
		l->last_line = now;
		return 1;
	}
	l->more++;
	if (now - l->last_line >= LOG_EPISODE_MS)
		log_limit_count_line(l, now);
	return 0;
}

/* Writes the count line when it is due and ends a quiet episode. Returns
 * the milliseconds until it wants to be called again, or -1 when the
 * limiter is idle. */
static inline int log_limit_tick(struct log_limit *l, uint64_t now)
{
	if (!l->open)
		return -1;
	uint64_t since = now - l->last_line;
	if (since < LOG_EPISODE_MS)
		return (int)(LOG_EPISODE_MS - since);
	if (l->more == 0) {
		l->open = 0; /* a quiet LOG_EPISODE_MS: the episode is over */
		return -1;
	}
	log_limit_count_line(l, now);
	return LOG_EPISODE_MS;
}

/* The sooner of two timeouts in epoll_wait's terms (-1: none). */
static inline int timeout_min(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/* log_msg() through limiter l: the arguments are not even evaluated when
 * the line is only counted. */
#define log_limited(l, ...)                        \
	do {                                       \
		if (log_limit_hit((l), mono_ms())) \
			log_msg(__VA_ARGS__);      \
	} while (0)

#endif
