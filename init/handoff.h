/* --init: the root's own init (systemd, busybox init, a script) becomes
 * PID 1, as WSL2 runs systemd. wisp-init forks first: the child, named with
 * a leading '@' so that systemd's final killing spree spares it, carries on
 * with everything wisp-init does (agent, clock, the command, its status),
 * and PID 1 execs the distro's init. */
#ifndef WISP_HANDOFF_H
#define WISP_HANDOFF_H

#include "config.h"

/* Forks; returns in the child only (PID 1 execs c->init, or stays a bare
 * reaper if it cannot). argv0 is wisp-init's own argv[0]. */
void handoff(const struct config *c, char *argv0);

/* In the child: waits until the distro's init says it is ready: for
 * systemd, `systemctl is-system-running --wait` has returned (the default
 * target is reached, or failed: "degraded"); for any other init, the file
 * /run/wisp/ready exists. */
void handoff_wait_ready(void);

/* 1 in the child that handoff() returned in. */
int handoff_active(const struct config *c);

/* In the child, at the end: asks the distro's init to end the VM
 * (systemd: SIGRTMIN+5, a reboot, which the VMM exits on; other inits:
 * SIGTERM, busybox init's reboot), and resets the VM itself if that init
 * has not done so within a grace. Never returns. */
_Noreturn void handoff_power_off(void);

#endif
