/* A bounded byte queue for non-blocking relays: bytes are appended at the
 * tail and consumed from the head; a full queue is the back-pressure signal
 * (stop reading the source until it drains). */
#ifndef WISP_QUEUE_H
#define WISP_QUEUE_H

#include <stddef.h>
#include <stdint.h>

struct queue {
	uint8_t *data;
	size_t cap, head, tail;
};

int queue_init(struct queue *q, size_t cap);
void queue_free(struct queue *q);
size_t queue_len(const struct queue *q);
/* Contiguous room at the tail (compacts first). */
size_t queue_room(struct queue *q);
uint8_t *queue_tail(struct queue *q);
void queue_produced(struct queue *q, size_t n);
const uint8_t *queue_head(const struct queue *q);
void queue_consume(struct queue *q, size_t n);
/* Appends all of p or nothing; returns -1 when it does not fit. */
int queue_put(struct queue *q, const void *p, size_t n);

/* Reads what fd has (at most the room) into q: >0 bytes, 0 EOF, -1 error
 * with errno (EAGAIN: nothing now). */
long queue_read_from(struct queue *q, int fd);
/* Writes the head of q to fd: bytes written, or -1 with errno. */
long queue_write_to(struct queue *q, int fd);

#endif
