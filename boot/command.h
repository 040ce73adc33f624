/* The user's command as the host side sees it, for `run` and `exec` alike:
 * which stdio it gets, its EXEC frame, the user's terminal, and what a
 * signal to wisp does to it. Also the few things every subcommand's loop
 * needs: the clock and the signalfd. */
#ifndef WISP_COMMAND_H
#define WISP_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"
#include "relay.h"

/* Blocks INT, TERM, HUP, WINCH and CHLD, ignores PIPE, and returns a
 * signalfd for them (non-blocking), or -1. */
int signals_open(void);
/* The next pending signal from fd, or 0 when there is none. */
int signals_next(int fd);

struct command {
	int stdin_open, tty; /* after the defaults */
	int signals_sent;    /* forwarded so far */
	char keys[65536];    /* the EXEC payload */
	uint32_t keys_len;
};

/* The command's stdio and EXEC keys from the options; poweroff: the VM
 * ends with it (wisp run). -1 with a message printed. */
int command_prepare(struct command *c, const struct run_opts *o, int poweroff);
/* Sets the user's terminal raw for a tty (restored at exit) and hands
 * stdin to the relay when the command reads it. */
void command_open_stdin(const struct command *c, struct relay *r);
/* SIGINT, SIGTERM, SIGHUP: the command's to handle once it runs; returns 0
 * when passed on, -1 when the caller must end the command's VM or stream
 * instead (a second signal, or one before the command started). */
int command_signal(struct command *c, struct relay *r, int sig);
/* SIGWINCH: the user's terminal size to the command's pty. */
void command_winsize(const struct command *c, struct relay *r);

#endif
