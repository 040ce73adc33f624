/* The log of a background VM (<dir>/log): its console, its VMM's and
 * helpers' messages and wisp's own. The guest decides how much of that
 * there is, so the log is bounded: past VM_LOG_MAX bytes it is rotated to
 * log.1 (replacing the older one), and the two never hold more than twice
 * that. */
#ifndef WISP_VM_LOG_H
#define WISP_VM_LOG_H

#define VM_LOG_MAX (1024 * 1024)

struct vm_log {
	char path[160];
	int on;
};

/* Makes <dir>/log wisp's stderr (created 0600, never through a symlink).
 * 0, or -1 with a message. */
int vm_log_open(struct vm_log *l, const char *dir);
/* One line (a newline is added) on stderr, rotating the log first when it
 * would pass VM_LOG_MAX. Without a log, the line goes to stderr as it is. */
void vm_log_line(struct vm_log *l, const char *line);

#endif
