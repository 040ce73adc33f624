/* A minimal test harness: CHECK() records a failure with what was expected
 * and what was seen; check_summary() prints "N passed, N failed". */
#ifndef WISP_CHECK_H
#define WISP_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (cond) {                                                                 \
			check_passed++;                                                     \
		} else {                                                                    \
			check_failed++;                                                     \
			fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
		}                                                                           \
	} while (0)

#define CHECK_STR(got, want)                                                                  \
	do {                                                                                  \
		const char *g_ = (got), *w_ = (want);                                         \
		if ((g_ == NULL && w_ == NULL) || (g_ && w_ && !strcmp(g_, w_))) {            \
			check_passed++;                                                       \
		} else {                                                                      \
			check_failed++;                                                       \
			fprintf(stderr, "%s:%d: %s: expected \"%s\", saw \"%s\"\n", __FILE__, \
				__LINE__, #got, w_ ? w_ : "(null)", g_ ? g_ : "(null)");      \
		}                                                                             \
	} while (0)

#define CHECK_INT(got, want)                                                              \
	do {                                                                              \
		long long g_ = (long long)(got), w_ = (long long)(want);                  \
		if (g_ == w_) {                                                           \
			check_passed++;                                                   \
		} else {                                                                  \
			check_failed++;                                                   \
			fprintf(stderr, "%s:%d: %s: expected %lld, saw %lld\n", __FILE__, \
				__LINE__, #got, w_, g_);                                  \
		}                                                                         \
	} while (0)

static inline int check_summary(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
