#ifndef WISP_VSOCKD_LOG_H
#define WISP_VSOCKD_LOG_H

/* One line on stderr, "wisp-vsockd: ...". */
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
