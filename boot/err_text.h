/* How the pure units (options, rootfs, root_stage) fail: one line of text
 * into the caller's buffer, -1 returned, nothing printed; the caller
 * decides where the line goes. */
#ifndef WISP_ERR_TEXT_H
#define WISP_ERR_TEXT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline int err_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline int err_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

#endif
