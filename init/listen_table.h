/* Which TCP ports listen in the guest, from the text of /proc/net/tcp: a
 * pure function, so that unit tests and the fuzzer call it directly. A
 * port counts when a socket listens (state 0A) on 0.0.0.0 or 127.0.0.1:
 * what the host's 127.0.0.1 can stand for. */
#ifndef WISP_LISTEN_TABLE_H
#define WISP_LISTEN_TABLE_H

#include <stddef.h>
#include <stdint.h>

/* The listening ports in text[0..len), sorted and distinct, up to max of
 * them into ports; the count, with *more set when there were more. Lines
 * that are not socket lines (the heading, a cut last line) are skipped. */
size_t listen_table_parse(const char *text, size_t len, uint16_t *ports, size_t max, int *more);

#endif
