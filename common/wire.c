#include "wire.h"

#include <string.h>
#include <sys/wait.h>

void wire_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void wire_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint16_t wire_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

uint32_t wire_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void wire_put_header(uint8_t hdr[WIRE_HDR_SIZE], uint8_t type, uint32_t len)
{
	hdr[0] = type;
	hdr[1] = 0;
	wire_put_u16(hdr + 2, 0);
	wire_put_u32(hdr + 4, len);
}

static int known_type(uint8_t t)
{
	return t >= WIRE_HELLO && t <= WIRE_SHUTDOWN;
}

long wire_parse(const uint8_t *buf, size_t n, struct wire_frame *f)
{
	if (n < WIRE_HDR_SIZE)
		return 0;
	uint32_t len = wire_get_u32(buf + 4);
	if (!known_type(buf[0]) || buf[1] != 0 || wire_get_u16(buf + 2) != 0 ||
	    len > WIRE_MAX_PAYLOAD)
		return -1;
	if (n - WIRE_HDR_SIZE < len)
		return 0;
	f->type = buf[0];
	f->len = len;
	f->payload = buf + WIRE_HDR_SIZE;
	return (long)(WIRE_HDR_SIZE + len);
}

void wire_put_exit(uint8_t p[WIRE_EXIT_SIZE], uint8_t how, int32_t value)
{
	memset(p, 0, WIRE_EXIT_SIZE);
	p[0] = how;
	wire_put_u32(p + 4, (uint32_t)value);
}

void wire_exit_from_wait(int wait_status, uint8_t *how, int32_t *value)
{
	if (WIFSIGNALED(wait_status)) {
		*how = WIRE_SIGNALED;
		*value = WTERMSIG(wait_status);
	} else {
		*how = WIRE_EXITED;
		*value = WEXITSTATUS(wait_status);
	}
}

int wire_exit_status(uint8_t how, int32_t value)
{
	switch (how) {
	case WIRE_EXITED:
		return value & 0xff;
	case WIRE_SIGNALED:
		return 128 + (value & 0x7f);
	case WIRE_NOT_FOUND:
		return 127;
	case WIRE_NOT_EXEC:
		return 126;
	default:
		return 125;
	}
}
