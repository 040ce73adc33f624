/* Small fd helpers shared by every program of wisp. */
#ifndef WISP_FD_H
#define WISP_FD_H

#include <unistd.h>

/* Closes *fd if it is open and marks it closed (-1). */
static inline void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

#endif
