/* wisp's one-line messages to the user. They go to stderr, except in the
 * background process of `wisp start`, which sends them to the waiting
 * `start` until the VM is ready, and to its log file after. */
#ifndef WISP_MSG_H
#define WISP_MSG_H

void msg_set_fd(int fd);
int msg_fd(void);
/* "wisp: <text>\n", one write. */
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
