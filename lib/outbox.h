/*
 * The durable outbox: one queue per notifier in
 * STATE_DIR/outbox/NOTIFIER/, one file per event.  An event is written and
 * fsync'd (file and directory) before its delivery starts, and its file is
 * removed only when the notifier acknowledges it or fails for good; after
 * a crash, SIGKILL or power loss every file left is delivered again on
 * start-up (at-least-once; receivers dedup by fingerprint or event id).
 * Deliveries go oldest first, one at a time per notifier; a transient
 * failure is retried after a capped, jittered exponential backoff with no
 * limit in time.  A notifier that keeps failing is logged at growing
 * intervals (collectd's utils_complain) and its recovery once.  When the
 * queue is over its size caps, the oldest info-level events are dropped
 * (loudly, counted); warning and worse are never dropped.
 *
 * An event that cannot be written (a full or failing disk, EMFILE, an
 * outbox directory that cannot be opened) is not lost: it stays queued in
 * memory, is delivered like the others, and is written again with backoff
 * (1 s doubling to 60 s) until it is on disk or delivered; the failure is
 * logged at once, then at growing intervals, and its end once.
 *
 * Runs on a libevent base; apart from the small fsync'd writes nothing
 * blocks.  Logs through log.h (it is part of the daemon's loop).
 */
#ifndef KEYHEALTHD_OUTBOX_H
#define KEYHEALTHD_OUTBOX_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "alert.h"
#include "notify.h"

struct event_base;
struct outbox;

/* Starts one delivery, as notify_ops.send (notify_send() fits). */
typedef int (*outbox_send_fn)(void *arg, const struct alert_event *ev,
    notify_done_cb done, void *donearg);

struct outbox_opts {
	size_t		 max_events;	/* 0: 10000 */
	size_t		 max_bytes;	/* 0: 64 MiB */
	long		 backoff_min_ms;	/* 0: 1000 */
	long		 backoff_max_ms;	/* 0: 300000 */
	/* A failing notifier is logged at its first failure, then after
	 * complain_first_ms, doubling up to complain_max_ms. */
	long		 complain_first_ms;	/* 0: 60000 */
	long		 complain_max_ms;	/* 0: 3600000 */
};

struct outbox_stats {
	size_t		 depth;		/* events queued (incl. in flight) */
	size_t		 bytes;		/* their files' sizes */
	uint64_t	 enqueued;
	uint64_t	 delivered;	/* acknowledged */
	uint64_t	 failed;	/* permanent failures, removed */
	uint64_t	 dropped;	/* info events dropped when full */
	uint64_t	 retries;	/* transient failures */
	uint64_t	 over_cap;	/* accepted although over the caps */
	uint64_t	 complaints;	/* "still failing" lines logged */
	uint64_t	 recoveries;	/* "delivering again" lines logged */
	unsigned int	 failing;	/* consecutive transient failures */
	size_t		 unsaved;	/* queued only in memory */
	uint64_t	 write_failures;	/* event files not written */
	time_t		 oldest;	/* enqueue time of the oldest; 0 */
};

/*
 * Opens (creating it 0700) STATE_DIR/outbox/NAME/ and loads every event
 * file in it (leftover temporary files are removed; unreadable files, and
 * entries that are not regular files of ours, are renamed
 * NAME.bad-<UTC time> and logged).  Nothing in the tree is followed: an
 * outbox or outbox/NAME that is a symbolic link is refused (see
 * statefs.h), and the outbox then works in memory, logging it and trying
 * again (see above).  So it does when the directory cannot be opened for
 * any other reason.  state_dir NULL: in memory only, for a daemon without
 * a usable state directory.  name must be a valid notifier name.
 * Deliveries start with outbox_start().  NULL with err set (out of memory,
 * a bad name).  The caller frees it with outbox_free().
 */
struct outbox	*outbox_new(struct event_base *base, const char *state_dir,
		    const char *name, const struct outbox_opts *opts,
		    outbox_send_fn send, void *sendarg, char *err,
		    size_t errlen);
/* Starts delivering (the loaded events first). */
void		 outbox_start(struct outbox *ob);
/*
 * Writes ev durably (a copy; ev stays the caller's) and queues it.  0 when
 * it is queued: on disk, or in memory while it cannot be written (then
 * err says why and the outbox keeps writing it).  -1 with err set when it
 * is not queued at all (out of memory, an event over 1 MiB).
 */
int		 outbox_enqueue(struct outbox *ob, const struct alert_event *ev,
		    char *err, size_t errlen);
/* Retries now instead of waiting out the backoff (e.g. on SIGHUP). */
void		 outbox_kick(struct outbox *ob);
/*
 * While held, an acknowledged event's file is kept (renamed
 * <seq>.acked, out of the queue, never delivered again) instead of
 * removed, and loaded as such at the next start; releasing (on = 0)
 * removes them.  The daemon holds while its alert table on disk is
 * behind what was queued: a receiver may have seen those events, and
 * after a crash they are all that says so (see alert_table_replay()).
 */
void		 outbox_hold(struct outbox *ob, int on);
/* Calls fn for every queued event, oldest first (in flight included),
 * then for the acknowledged ones kept by outbox_hold(); ev is the
 * outbox's, valid during the call only. */
void		 outbox_foreach(const struct outbox *ob,
		    void (*fn)(void *arg, const struct alert_event *ev,
		    time_t queued_at), void *arg);
void		 outbox_stats(const struct outbox *ob, struct outbox_stats *st);
const char	*outbox_name(const struct outbox *ob);
/* Events queued, in flight included. */
size_t		 outbox_depth(const struct outbox *ob);
/* Non-zero while no delivery is in flight and the queue is empty. */
int		 outbox_idle(const struct outbox *ob);
/*
 * Moves the events held only in memory (not written yet) to out, copies
 * the caller clears, and forgets them; returns how many.  For a reload:
 * the notifier's next outbox takes them over with outbox_enqueue().
 */
size_t		 outbox_take_unsaved(struct outbox *ob,
		    struct alert_events *out);
/*
 * The queues under STATE_DIR/outbox that no notifier takes: for each
 * directory NAME that configured(arg, NAME) refuses, report(arg, NAME,
 * events queued there, NULL), or report(arg, NAME, 0, why) when it cannot
 * be read (never through a link).  An absent or unreadable outbox/ has
 * none.
 */
void		 outbox_orphans(const char *state_dir,
		    int (*configured)(void *, const char *),
		    void (*report)(void *, const char *, size_t,
		    const char *), void *arg);
/*
 * Stops (files stay for the next start; events only in memory are lost,
 * and logged).  A delivery in flight is
 * abandoned: stop the notifier first so its done callback runs; a done
 * that comes later is ignored.  NULL is fine.
 */
void		 outbox_free(struct outbox *ob);

#endif
