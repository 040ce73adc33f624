/* The end of the VM (DESIGN.md step 8). */
#ifndef WISP_SHUTDOWN_H
#define WISP_SHUTDOWN_H

/* sync, unmount everything in reverse, sync, and reset: with reboot=t or
 * reboot=k on the command line every supported VMM exits on the reset.
 * Never returns. */
_Noreturn void power_off(void);

#endif
