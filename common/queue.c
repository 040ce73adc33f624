#include "queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int queue_init(struct queue *q, size_t cap)
{
	q->data = malloc(cap);
	q->cap = cap;
	q->head = q->tail = 0;
	return q->data ? 0 : -1;
}

void queue_free(struct queue *q)
{
	free(q->data);
	q->data = NULL;
	q->cap = q->head = q->tail = 0;
}

size_t queue_len(const struct queue *q)
{
	return q->tail - q->head;
}

size_t queue_room(struct queue *q)
{
	if (q->head > 0) {
		memmove(q->data, q->data + q->head, q->tail - q->head);
		q->tail -= q->head;
		q->head = 0;
	}
	return q->cap - q->tail;
}

uint8_t *queue_tail(struct queue *q)
{
	return q->data + q->tail;
}

void queue_produced(struct queue *q, size_t n)
{
	q->tail += n;
}

const uint8_t *queue_head(const struct queue *q)
{
	return q->data + q->head;
}

void queue_consume(struct queue *q, size_t n)
{
	q->head += n;
	if (q->head == q->tail)
		q->head = q->tail = 0;
}

int queue_put(struct queue *q, const void *p, size_t n)
{
	if (queue_room(q) < n)
		return -1;
	memcpy(queue_tail(q), p, n);
	queue_produced(q, n);
	return 0;
}

long queue_read_from(struct queue *q, int fd)
{
	size_t room = queue_room(q);
	if (room == 0) {
		errno = EAGAIN;
		return -1;
	}
	ssize_t n;
	do
		n = read(fd, queue_tail(q), room);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		queue_produced(q, (size_t)n);
	return n;
}

long queue_write_to(struct queue *q, int fd)
{
	ssize_t n;
	do
		n = write(fd, queue_head(q), queue_len(q));
	while (n < 0 && errno == EINTR);
	if (n > 0)
		queue_consume(q, (size_t)n);
	return n;
}
