/*
 * The poll scheduler's decisions (sched.h).
 */
#include <stddef.h>

#include "sched.h"

double
sched_next_delay(double interval, int failures, double r)
{
	double	d;
	int	i;

	if (failures <= 0)
		return interval * (0.9 + 0.2 * r);
	d = SCHED_RETRY_BASE;
	for (i = 1; i < failures && d < interval; i++)
		d *= 2;
	if (d > interval)
		d = interval;
	return d * (0.8 + 0.4 * r);
}

double
sched_spread(double shortest_interval)
{
	return shortest_interval < SCHED_FIRST_SPREAD ? shortest_interval :
	    SCHED_FIRST_SPREAD;
}

double
sched_spread_at(double window, size_t i, size_t n)
{
	return n > 1 ? window * (double)i / (double)n : 0;
}

double
sched_kept_delay(double next_at, double now)
{
	return next_at > now ? next_at - now : 0;
}

enum sched_due
sched_due(int stopping, int reload_pending, const struct sched_queue *q,
    int polling, size_t max_inflight)
{
	if (stopping)
		return SCHED_DUE_NOTHING;
	if (reload_pending)
		return SCHED_DUE_AFTER_RELOAD;
	if (q != NULL && !polling && q->polling >= max_inflight)
		return SCHED_DUE_WAIT;
	return SCHED_DUE_START;
}

void
sched_queue_wait(struct sched_queue *q, struct sched_slot *s)
{
	if (s->waiting)
		return;
	s->waiting = 1;
	s->next = NULL;
	if (q->tail != NULL)
		q->tail->next = s;
	else
		q->head = s;
	q->tail = s;
	q->nwaiting++;
}

void
sched_queue_remove(struct sched_queue *q, struct sched_slot *s)
{
	struct sched_slot	*p, *prev = NULL;

	if (!s->waiting)
		return;
	for (p = q->head; p != NULL && p != s; p = p->next)
		prev = p;
	if (p == s) {
		if (prev != NULL)
			prev->next = s->next;
		else
			q->head = s->next;
		if (q->tail == s)
			q->tail = prev;
		q->nwaiting--;
	}
	s->waiting = 0;
	s->next = NULL;
}

struct sched_slot *
sched_queue_next(struct sched_queue *q, size_t max_inflight, int paused)
{
	struct sched_slot	*s = q->head;

	if (s == NULL || paused || q->polling >= max_inflight)
		return NULL;
	if ((q->head = s->next) == NULL)
		q->tail = NULL;
	s->next = NULL;
	s->waiting = 0;
	q->nwaiting--;
	return s;
}

void
sched_queue_drop(struct sched_queue *q)
{
	q->head = q->tail = NULL;
	q->nwaiting = 0;
}

void
sched_queue_started(struct sched_queue *q)
{
	q->polling++;
}

void
sched_queue_done(struct sched_queue *q)
{
	if (q->polling > 0)
		q->polling--;
}

double
sched_kick_wait(double last, double now)
{
	double	since = now - last;

	if (last == 0 || since >= SCHED_KICK_MIN)
		return 0;
	return SCHED_KICK_MIN - since;
}
