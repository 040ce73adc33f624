#include "base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_size(size_t n)
{
	return (n + 2) / 3 * 4 + 1;
}

void base64_encode(const unsigned char *src, size_t n, char *dst)
{
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)src[i] << 16 | (unsigned)src[i + 1] << 8 | src[i + 2];
		*dst++ = alphabet[v >> 18];
		*dst++ = alphabet[v >> 12 & 63];
		*dst++ = alphabet[v >> 6 & 63];
		*dst++ = alphabet[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)src[i] << 16;
		*dst++ = alphabet[v >> 18];
		*dst++ = alphabet[v >> 12 & 63];
		*dst++ = '=';
		*dst++ = '=';
	} else if (n - i == 2) {
		unsigned v = (unsigned)src[i] << 16 | (unsigned)src[i + 1] << 8;
		*dst++ = alphabet[v >> 18];
		*dst++ = alphabet[v >> 12 & 63];
		*dst++ = alphabet[v >> 6 & 63];
		*dst++ = '=';
	}
	*dst = '\0';
}

static int sextet(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long base64_decode(const char *src, size_t n, unsigned char *dst)
{
	if (n % 4 != 0)
		return -1;
	long out = 0;
	for (size_t i = 0; i < n; i += 4) {
		int pad = 0;
		unsigned v = 0;
		for (int k = 0; k < 4; k++) {
			char c = src[i + k];
			int s;
			if (c == '=' && i + 4 == n && k >= 2) {
				pad++;
				s = 0;
			} else {
				if (pad)
					return -1; /* data after padding */
				s = sextet(c);
				if (s < 0)
					return -1;
			}
			v = v << 6 | (unsigned)s;
		}
		dst[out++] = (unsigned char)(v >> 16);
		if (pad < 2)
			dst[out++] = (unsigned char)(v >> 8);
		if (pad < 1)
			dst[out++] = (unsigned char)v;
	}
	return out;
}
