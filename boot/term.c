/* The user's terminal for -t: raw, restored, its size (term.h). */
#include "term.h"

#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* File scope because term_restore() runs from atexit(), which passes no
 * argument, as well as at the end of a run. */
static struct termios saved;
static int saved_fd = -1;

int term_raw(int fd)
{
	struct termios t;
	if (tcgetattr(fd, &saved) < 0)
		return -1;
	t = saved;
	cfmakeraw(&t);
	if (tcsetattr(fd, TCSADRAIN, &t) < 0)
		return -1;
	saved_fd = fd;
	return 0;
}

void term_restore(void)
{
	if (saved_fd >= 0)
		tcsetattr(saved_fd, TCSADRAIN, &saved);
	saved_fd = -1;
}

int term_size(int fd, unsigned short *rows, unsigned short *cols)
{
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0 || ws.ws_col == 0)
		return -1;
	*rows = ws.ws_row;
	*cols = ws.ws_col;
	return 0;
}
