/* Standard base64 (RFC 4648, with padding): the launcher encodes the
 * command, environment and working directory so that any bytes, spaces and
 * quotes survive the kernel command line; wisp-init decodes them. */
#ifndef WISP_BASE64_H
#define WISP_BASE64_H

#include <stddef.h>

/* Bytes needed to encode n bytes, including the terminating NUL. */
size_t base64_encoded_size(size_t n);

/* Encodes src[0..n) into dst (base64_encoded_size(n) bytes), NUL-terminated. */
void base64_encode(const unsigned char *src, size_t n, char *dst);

/* Decodes the NUL-free text src[0..n) into dst, which must hold n / 4 * 3
 * bytes. Returns the decoded length, or -1 when src is not base64. */
long base64_decode(const char *src, size_t n, unsigned char *dst);

#endif
