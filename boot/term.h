/* The host terminal for -t: raw while the guest owns it, restored on every
 * way out (the end of a run, exit()). */
#ifndef WISP_TERM_H
#define WISP_TERM_H

/* Puts fd in raw mode; returns -1 when it is not a terminal. */
int term_raw(int fd);
/* Restores what term_raw changed; idempotent. */
void term_restore(void);
/* The size of the terminal on fd, or 0 when unknown. */
int term_size(int fd, unsigned short *rows, unsigned short *cols);

#endif
