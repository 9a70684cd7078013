/*
 * The poll scheduler's decisions, pure: when a key is polled next (the
 * interval with jitter, backoff after failures), how first polls are
 * spread, what a key's timer does when it fires, the per-endpoint pacing
 * by kms.max_inflight, and how often SIGUSR1 may retry the notifiers.
 * No loop, no clock, no randomness of its own: the caller passes the
 * time (monotonic seconds) and a uniform draw; daemon/run.c turns the
 * answers into timers and polls.
 */
#ifndef KEYHEALTHD_SCHED_H
#define KEYHEALTHD_SCHED_H

#include <stddef.h>

#define SCHED_FIRST_SPREAD	5	/* first polls within this many s */
#define SCHED_RETRY_BASE	15	/* first retry after a failed poll, s */
#define SCHED_KICK_MIN		10	/* s between two SIGUSR1 retries */

/*
 * Seconds until the next poll of a key polled every interval seconds that
 * failed its last `failures` polls in a row: the interval with +-10%
 * jitter; after failures sooner, doubling from SCHED_RETRY_BASE, never
 * later than the interval, with +-20% jitter.  r is uniform in [0, 1).
 */
double	sched_next_delay(double interval, int failures, double r);

/* The window over which first polls (and a reload's new or changed keys)
 * are spread: short, and never longer than the shortest interval. */
double	sched_spread(double shortest_interval);

/* Where the i-th of n keys starts in that window: at i/n of it. */
double	sched_spread_at(double window, size_t i, size_t n);

/* A key that keeps its schedule across a reload: the time left until
 * next_at, 0 when that has passed. */
double	sched_kept_delay(double next_at, double now);

/*
 * Pacing: a poll starts only while fewer than max_inflight of its
 * endpoint's polls run; the rest wait in the endpoint's queue, in the
 * order they fell due, holding nothing.  The scheduled thing (a key)
 * embeds a sched_slot; the endpoint a sched_queue.  Zeroed is empty.
 */
struct sched_slot {
	struct sched_slot	*next;		/* in its queue */
	int			 waiting;	/* in a queue */
};

struct sched_queue {
	size_t			 polling;	/* started, not done */
	size_t			 nwaiting;	/* slots queued */
	struct sched_slot	*head;
	struct sched_slot	*tail;
};

/* What a key's timer does when it fires. */
enum sched_due {
	SCHED_DUE_NOTHING,	/* stopping: no new poll */
	SCHED_DUE_AFTER_RELOAD,	/* a reload waits for the polls in flight:
				 * poll it right after the reload */
	SCHED_DUE_WAIT,		/* its endpoint is full: queue it */
	SCHED_DUE_START		/* poll now */
};

/* q NULL: the key has no endpoint (its poll fails by itself); polling:
 * the key's own poll is still running (it is not paced twice). */
enum sched_due	 sched_due(int stopping, int reload_pending,
		    const struct sched_queue *q, int polling,
		    size_t max_inflight);

/* Queues s at the tail; nothing when it already waits. */
void		 sched_queue_wait(struct sched_queue *q, struct sched_slot *s);
/* Takes s off q wherever it waits (a key that goes away); nothing when
 * it does not wait. */
void		 sched_queue_remove(struct sched_queue *q, struct sched_slot *s);
/* The next slot to start, taken off the queue, while a poll may start
 * (fewer than max_inflight polling, not paused by a stop or a pending
 * reload); NULL otherwise or when none waits. */
struct sched_slot *sched_queue_next(struct sched_queue *q,
		    size_t max_inflight, int paused);
/* Forgets every waiting slot without touching them (they are freed). */
void		 sched_queue_drop(struct sched_queue *q);
/* A poll of q's endpoint started or ended. */
void		 sched_queue_started(struct sched_queue *q);
void		 sched_queue_done(struct sched_queue *q);

/* SIGUSR1 at now, the last retry at last (0: none yet): 0 to retry the
 * notifiers now, else the seconds until a retry is allowed (a burst of
 * signals is one retry when the window ends). */
double		 sched_kick_wait(double last, double now);

#endif
