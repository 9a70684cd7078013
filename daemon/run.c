/*
 * `keyhealthd run`: the daemon.  Polls every key on its own timer,
 * spread over the interval with jitter, backs off on errors, turns
 * findings into alerts and hands them to the durable outboxes.  SIGHUP
 * reloads (a bad file keeps the old configuration), SIGTERM/SIGINT stop
 * within a few seconds with state saved.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "alert.h"
#include "kms.h"
#include "config.h"
#include "ynode.h"
#include "log.h"
#include "vendor.h"
#include "notify.h"
#include "outbox.h"
#include "keyhealthd.h"

#define RUN_STOP_GRACE		3	/* seconds for polls in flight */
#define RUN_DRAIN_MS		50	/* stopping: outboxes checked this often */

/*
 * A reload's file is parsed on a thread: a large file takes a second or
 * more (100,000 keys), and the loop must keep polling, answering /metrics
 * and feeding the watchdog meanwhile.  The thread only runs
 * config_load_flags() (lib/, no logging, no shared state; lib/notify
 * configures the notifiers there: reads their secret files, loads
 * modules, never touches the loop); its result comes back through a
 * pipe that the loop watches.  SIGHUPs during a parse coalesce: the file
 * is parsed once more when it ends, and only that last result is used.
 */
struct run_parse {
	pthread_t		 thread;
	int			 running;	/* started, not joined */
	int			 again;		/* SIGHUP during the parse */
	int			 fds[2];	/* the thread writes one byte */
	struct event		*ev;
	const char		*path;
	struct config		*conf;		/* the thread's result */
	struct config_errors	 errs;
};

/*
 * Events a notifier's outbox held only in memory (they could not be
 * written) when a reload freed it; the notifier's next outbox takes them.
 */
struct run_carry {
	char			 notifier[128];
	struct alert_events	 evs;
};

/*
 * What the daemon keeps beside struct kh: one instance, run.  The
 * scheduling decisions themselves are lib/sched's (unit-tested there);
 * this file turns them into timers and polls.
 */
struct run {
	struct proc		 proc;
	const char		*config_path;
	int			 exit_code;
	struct run_parse	 parse;
	struct run_carry	*carry;
	size_t			 ncarry;
	struct event		*drain_timer;	/* stopping */
	struct event		*alerts_ev;	/* save alerts.json this turn */
	struct event		*status_ev;	/* STATUS= this turn */
	struct event		*kick_timer;	/* a SIGUSR1 held back */
	int			 alerts_due;	/* a save is scheduled */
	struct timespec		 alerts_at;	/* of the last save */
	double			 kick_last;	/* monotonic s of the last
						 * retry, or 0 */
	int			 disc_failed;	/* this discovery run */
};

static struct run	 run = { .parse.fds = { -1, -1 } };

/* alerts.json is written at most this often (seconds); see
 * run_save_alerts_soon(). */
#define RUN_ALERTS_GAP	1.0

static void	run_key_done(struct kh_key *);
static void	run_apply_pending(struct kh *);
static void	run_stop_check(struct kh *);
static void	run_key_retire(struct kh_key *);
static void	run_forget_unconfigured(struct kh *);

/* A jitter per poll: the CSPRNG's bytes, drawn 64 values at a time
 * (one RAND_bytes() per poll was 1.3% of a key check's CPU). */
static double
run_rand01(void)
{
	static uint32_t	pool[64];
	static size_t	left;
	uint32_t	r;

	if (left == 0) {
		if (RAND_bytes((unsigned char *)pool, sizeof(pool)) != 1)
			return (double)(uint32_t)random() / 4294967296.0;
		left = sizeof(pool) / sizeof(pool[0]);
	}
	r = pool[--left];
	return (double)r / 4294967296.0;
}

static void
run_poll_start(struct kh_key *k)
{
	int	was = k->poll != NULL;

	if (poll_start(k, run_key_done) == -1)
		log_warnx("key %s: cannot start a poll (out of memory)",
		    kh_key_name(k));
	else if (!was && k->poll != NULL && k->ep != NULL)
		sched_queue_started(&k->ep->q);
}

/* Starts the polls waiting for ep while it has room (a queued slot is
 * the one embedded in its key). */
static void
run_poll_next(struct kh *kh, struct kh_endpoint *ep)
{
	struct sched_slot	*s;

	while ((s = sched_queue_next(&ep->q,
	    (size_t)kh->conf->kms.max_inflight,
	    kh->stopping || kh->pending_conf != NULL)) != NULL)
		run_poll_start((struct kh_key *)(void *)((char *)s -
		    offsetof(struct kh_key, slot)));
}

static void
run_key_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kh_key	*k = arg;
	struct kh	*kh = k->kh;

	(void)fd;
	(void)what;
	switch (sched_due(kh->stopping, kh->pending_conf != NULL,
	    k->ep != NULL ? &k->ep->q : NULL, k->poll != NULL,
	    (size_t)kh->conf->kms.max_inflight)) {
	case SCHED_DUE_NOTHING:
		break;
	case SCHED_DUE_AFTER_RELOAD:
		k->sched.due = 1;
		break;
	case SCHED_DUE_WAIT:
		/* No faster than the endpoint lets polls through. */
		sched_queue_wait(&k->ep->q, &k->slot);
		break;
	case SCHED_DUE_START:
		run_poll_start(k);
		break;
	}
}

static double
run_mono(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
run_schedule(struct kh_key *k, double delay)
{
	struct timeval	tv;
	struct timespec	now;

	if (k->timer == NULL &&
	    (k->timer = evtimer_new(k->kh->base, run_key_timer_cb, k)) == NULL)
		fatalx("out of memory");
	if (delay < 0)
		delay = 0;
	tv.tv_sec = (time_t)delay;
	tv.tv_usec = (suseconds_t)((delay - (double)tv.tv_sec) * 1e6);
	(void)evtimer_add(k->timer, &tv);
	/* Remembered so that a reload can keep the schedule. */
	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	k->sched.next_at.tv_sec = now.tv_sec + tv.tv_sec;
	k->sched.next_at.tv_nsec = now.tv_nsec + (long)tv.tv_usec * 1000;
	if (k->sched.next_at.tv_nsec >= 1000000000L) {
		k->sched.next_at.tv_sec++;
		k->sched.next_at.tv_nsec -= 1000000000L;
	}
}

static double
run_next_delay(struct kh_key *k)
{
	return sched_next_delay((double)config_key_interval(k->kh->conf,
	    k->ck), k->sched.failures, run_rand01());
}

/* The window over which first polls are spread (sched_spread()). */
static double
run_first_spread(struct kh *kh)
{
	size_t	i;
	double	shortest = SCHED_FIRST_SPREAD, interval;

	for (i = 0; i < kh->nkeys; i++) {
		interval = (double)config_key_interval(kh->conf,
		    kh->keys[i]->ck);
		if (shortest > interval)
			shortest = interval;
	}
	return sched_spread(shortest);
}

/* Spread the first polls: key i of n at i/n of a short window. */
static void
run_schedule_all(struct kh *kh)
{
	size_t	i;
	double	spread = run_first_spread(kh);

	for (i = 0; i < kh->nkeys; i++)
		run_schedule(kh->keys[i], sched_spread_at(spread, i,
		    kh->nkeys));
}

static void
run_update_status(struct kh *kh)
{
	const size_t	*n = kh->nworst;

	proc_notify("STATUS=%zu key%s: %zu ok, %zu warning, %zu critical, "
	    "%zu unknown", kh->nkeys, kh->nkeys == 1 ? "" : "s",
	    n[SEV_OK] + n[SEV_INFO], n[SEV_WARNING],
	    n[SEV_CRITICAL], n[SEV_UNKNOWN]);
}

/*
 * While alerts.json is behind what the outboxes were given, the outboxes
 * keep what their receivers acknowledge: after a crash that is all that
 * says a receiver saw a firing that must get its resolve.
 */
static void
run_hold_outboxes(struct kh *kh, int on)
{
	size_t	i;

	for (i = 0; i < kh->nnotifiers; i++)
		if (kh->outboxes != NULL && kh->outboxes[i] != NULL)
			outbox_hold(kh->outboxes[i], on);
}

static void
run_update_status_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_update_status(arg);
}

/* One status line per loop turn, however many keys changed in it (a
 * first sweep of 100,000 keys sent as many datagrams). */
static void
run_update_status_soon(struct kh *kh)
{
	if (run.status_ev == NULL && (run.status_ev = event_new(kh->base, -1,
	    0, run_update_status_cb, kh)) == NULL) {
		run_update_status(kh);
		return;
	}
	event_active(run.status_ev, 0, 0);
}

static void
run_save_alerts(struct kh *kh)
{
	json_t	*j;
	char	 err[512];

	if (!kh->state_ok || kh->alerts == NULL)
		return;
	run.alerts_due = 0;
	if (run.alerts_ev != NULL)
		(void)event_del(run.alerts_ev);
	(void)clock_gettime(CLOCK_MONOTONIC, &run.alerts_at);
	if ((j = alert_table_to_json(kh->alerts)) == NULL) {
		log_warnx("alerts: out of memory saving the alert state");
		run_hold_outboxes(kh, 1);
		return;
	}
	/* Not through the writer thread: see run_save_alerts_soon(). */
	if (state_write_json(kh->conf->state_dir, "alerts.json", j, err,
	    sizeof(err)) == -1) {
		kh->stats.state_write_failures++;
		log_warnx("alerts: cannot save the alert state: %s", err);
		run_hold_outboxes(kh, 1);
	} else
		run_hold_outboxes(kh, 0);
	json_decref(j);
}

static void
run_save_alerts_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_save_alerts(arg);
}

/*
 * alerts.json holds every alert: saving it after each poll that changed
 * one is O(alerts) per poll, O(keys^2) in a first sweep where every key
 * fires (10,000 keys: seconds of a held loop).  The polls that finish
 * together share one save, at most one per RUN_ALERTS_GAP: at the end of
 * this loop turn when the last save is older, else when the gap has
 * passed (every key failing at once was a rewrite of the whole table per
 * loop turn).  Until it is written the outboxes are held: an event
 * acknowledged meanwhile is kept as SEQ.acked, so that an alert that
 * was sent is known as firing after a SIGKILL and is not sent again as
 * new (alert_table_replay()).
 */
static void
run_save_alerts_soon(struct kh *kh)
{
	struct timespec	now;
	struct timeval	tv;
	double		wait;

	if (run.alerts_ev == NULL && (run.alerts_ev = event_new(kh->base, -1,
	    0, run_save_alerts_cb, kh)) == NULL) {
		run_save_alerts(kh);
		return;
	}
	if (run.alerts_due)
		return;		/* one save however many polls ask */
	run.alerts_due = 1;
	run_hold_outboxes(kh, 1);
	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	wait = RUN_ALERTS_GAP - ((double)(now.tv_sec - run.alerts_at.tv_sec) +
	    (double)(now.tv_nsec - run.alerts_at.tv_nsec) / 1e9);
	if (run.alerts_at.tv_sec == 0 || wait <= 0) {
		event_active(run.alerts_ev, 0, 0);
		return;
	}
	tv.tv_sec = (time_t)wait;
	tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6);
	if (event_add(run.alerts_ev, &tv) == -1)
		event_active(run.alerts_ev, 0, 0);
}

/* An alert sent without an outbox; freed when the notifier is done. */
struct run_direct {
	struct alert_event	 ev;
	char			 notifier[128];
};

static void
run_direct_done(void *arg, enum notify_result result, const char *why)
{
	struct run_direct	*d = arg;

	if (result != NOTIFY_ACK)
		log_warnx("notifier %s: the %s alert for key %s was not "
		    "delivered and is not retried (no outbox): %s",
		    d->notifier, d->ev.check, d->ev.key_name,
		    why != NULL ? why : "failed");
	alert_event_clear(&d->ev);
	free(d);
}

/*
 * Without a usable outbox (state_dir unusable, or full) an alert still
 * goes out, once and without retries: losing durability must not mean
 * losing the page.
 */
static void
run_send_direct(struct notifier *n, const struct alert_event *ev)
{
	struct run_direct	*d;

	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    alert_event_copy(&d->ev, ev) == -1) {
		free(d);
		log_warnx("notifier %s: out of memory sending the %s alert",
		    notify_name(n), ev->check);
		return;
	}
	(void)snprintf(d->notifier, sizeof(d->notifier), "%s",
	    notify_name(n));
	if (notify_send(n, &d->ev, run_direct_done, d) == -1) {
		log_warnx("notifier %s: cannot send the %s alert for key %s",
		    d->notifier, ev->check, ev->key_name);
		alert_event_clear(&d->ev);
		free(d);
	}
}

/* Queues each event on every notifier whose filter takes it. */
static void
run_dispatch(struct kh *kh, struct alert_events *evs)
{
	size_t	i, j;
	char	err[512];

	for (i = 0; i < evs->n; i++) {
		struct alert_event *ev = &evs->v[i];

		if (ev->status == ALERT_RESOLVED)
			log_notice("resolved: %s on key %s", ev->check,
			    ev->key_name);
		else
			log_notice("%s: %s on key %s: %s",
			    severity_name(ev->severity), ev->check,
			    ev->key_name, ev->summary);
		for (j = 0; j < kh->nnotifiers; j++) {
			if (!notify_filter(kh->notifiers[j], ev))
				continue;
			if (kh->outboxes[j] == NULL) {
				run_send_direct(kh->notifiers[j], ev);
				continue;
			}
			/* alerts.json is now behind until saved. */
			outbox_hold(kh->outboxes[j], 1);
			if (outbox_enqueue(kh->outboxes[j], ev, err,
			    sizeof(err)) == -1) {
				log_warnx("notifier %s: cannot queue the %s "
				    "alert for key %s: %s; sending it without "
				    "the outbox", notify_name(kh->notifiers[j]),
				    ev->check, ev->key_name, err);
				run_send_direct(kh->notifiers[j], ev);
			}
		}
	}
}

static int
run_str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/* Whether a key is watched the same way under both configurations. */
static int
run_key_unchanged(const struct config *oc, const struct config_key *o,
    const struct config *nc, const struct config_key *n)
{
	struct config_aws	oa, na;

	if (run_str_differs(o->name, n->name) ||
	    run_str_differs(o->vendor_name, n->vendor_name) ||
	    !vendor_same(o->vendor, n->vendor) ||
	    run_str_differs(o->alias, n->alias) ||
	    o->expect_rotation != n->expect_rotation ||
	    config_key_use_within(oc, o) != config_key_use_within(nc, n) ||
	    config_key_interval(oc, o) != config_key_interval(nc, n))
		return 0;
	config_key_aws(oc, o, &oa);
	config_key_aws(nc, n, &na);
	return !run_str_differs(oa.profile, na.profile) &&
	    !run_str_differs(oa.region, na.region) &&
	    !run_str_differs(oa.endpoint_url, na.endpoint_url) &&
	    !run_str_differs(oa.sts_endpoint_url, na.sts_endpoint_url) &&
	    !run_str_differs(oa.assume_role, na.assume_role) &&
	    !run_str_differs(oa.ca_file, na.ca_file) &&
	    oa.use_fips == na.use_fips && oa.allow_http == na.allow_http;
}

/*
 * After a reload, a key whose settings did not change keeps its place in
 * the schedule: rescheduling every key at each reload (spread over the
 * first seconds) meant that a stream of SIGHUPs polled only the first
 * keys.  New and changed keys, and keys whose poll fell due while the
 * reload waited, are polled now, spread over a few seconds.
 */
static void
run_schedule_reloaded(struct kh *kh, const struct config *old)
{
	struct kh_key	*k;
	double		 now = run_mono(), spread = run_first_spread(kh);
	size_t		 i, nfresh = 0, ifresh = 0;
	char		*fresh;

	if ((fresh = calloc(kh->nkeys ? kh->nkeys : 1, 1)) == NULL)
		fatalx("out of memory");
	for (i = 0; i < kh->nkeys; i++) {
		k = kh->keys[i];
		/* A replica follows its primary (keys[] matches the config's
		 * keys up to nconfigured). */
		if (k->origin == KH_ORIGIN_REPLICA && k->prev_ck != NULL)
			fresh[i] = k->sched.due ||
			    fresh[k->primary->ck - kh->conf->keys];
		else
			fresh[i] = k->prev_ck == NULL || k->sched.due ||
			    !run_key_unchanged(old, k->prev_ck, kh->conf,
			    k->ck);
		if (fresh[i] && k->prev_ck != NULL && !k->sched.due)
			k->sched.next_slow = 0;	/* new settings: all parts */
		nfresh += (size_t)fresh[i];
	}
	for (i = 0; i < kh->nkeys; i++) {
		k = kh->keys[i];
		if (fresh[i])
			run_schedule(k, sched_spread_at(spread, ifresh++,
			    nfresh));
		else
			run_schedule(k, sched_kept_delay((double)
			    k->sched.next_at.tv_sec +
			    (double)k->sched.next_at.tv_nsec / 1e9, now));
		k->prev_ck = NULL;
		k->sched.due = 0;
	}
	free(fresh);
	log_debug("reload: %zu key%s polled now, %zu kept their schedule",
	    nfresh, nfresh == 1 ? "" : "s", kh->nkeys - nfresh);
}

/* A derived key (a replica) is watched from now on: polled within the
 * first-poll window. */
static void
run_key_added(struct kh *kh, struct kh_key *k)
{
	if (kh->stopping)
		return;
	run_schedule(k, SCHED_FIRST_SPREAD * run_rand01());
	run_update_status_soon(kh);
}

/* A derived key is no longer watched: its alerts resolve. */
static void
run_key_dropped(struct kh *kh, struct kh_key *k)
{
	struct alert_events	evs;

	memset(&evs, 0, sizeof(evs));
	if (kh->alerts != NULL && alert_table_forget_key(kh->alerts,
	    k->ck->arn, time(NULL), &evs) == -1)
		log_warnx("key %s: out of memory resolving its alerts",
		    kh_key_name(k));
	if (evs.n > 0) {
		run_dispatch(kh, &evs);
		run_save_alerts_soon(kh);
	}
	alert_events_clear(&evs);
	run_update_status_soon(kh);
}

static void
run_key_done(struct kh_key *k)
{
	struct kh		*kh = k->kh;
	struct alert_events	 evs;
	enum severity		 oldstatus = k->st.status;
	char			*oldstate;
	int			 changed = 0, statechanged;
	char			 err[256];
	time_t			 now = time(NULL);

	if (k->ep != NULL)
		sched_queue_done(&k->ep->q);
	if (kh->stopping) {
		/* A poll cancelled by the shutdown says nothing about the
		 * key: no alerts, no state from it. */
		run_stop_check(kh);
		return;
	}
	if (k->drop || replica_vanished(k)) {
		/* No longer wanted while this poll ran (discovery or its
		 * primary let it go), or a replica gone from KMS: its result
		 * is of no use, its alerts resolve. */
		struct kh_endpoint *ep = k->ep;

		kh_key_drop(k);
		if (ep != NULL)
			run_poll_next(kh, ep);
		if (kh->pending_conf != NULL && kh->polls_inflight == 0)
			run_apply_pending(kh);
		return;
	}
	memset(&evs, 0, sizeof(evs));
	if (alert_table_update(kh->alerts, &k->expect.id, &k->findings, now,
	    &evs, err, sizeof(err)) == -1)
		log_warnx("key %s: alerts: %s", kh_key_name(k), err);
	if (evs.n > 0) {
		run_dispatch(kh, &evs);
		run_save_alerts_soon(kh);
	}
	alert_events_clear(&evs);

	if (check_update_baseline(&k->st.baseline, &k->snap, now,
	    &changed) == -1)
		log_warnx("key %s: out of memory updating its baseline",
		    kh_key_name(k));
	/* The old KeyState is ours to compare; set_result stores a new one. */
	oldstate = k->st.key_state;
	k->st.key_state = NULL;
	if (state_key_set_result(&k->st, &k->snap, &k->findings) == -1) {
		log_warnx("key %s: out of memory recording its result",
		    kh_key_name(k));
		k->st.key_state = oldstate;
		oldstate = NULL;
	}
	statechanged = k->st.status != oldstatus ||
	    run_str_differs(oldstate, k->st.key_state);
	free(oldstate);
	if (changed)
		k->base_on_disk = 0;
	if (changed || statechanged)
		(void)kh_key_save_state(k);
	/* The policy text and most of the metadata have served: the
	 * baseline holds the accepted policy, and the next poll's is
	 * compared with it by digest (k->pcache). */
	check_snapshot_trim(&k->snap);
	kh_key_baseline_drop(k);

	/* Only when this key's result changed or it was polled for the
	 * first time. */
	if (statechanged || k->metrics.polls == 1)
		run_update_status_soon(kh);
	run_schedule(k, run_next_delay(k));
	if (k->ep != NULL)
		run_poll_next(kh, k->ep);
	if (kh->pending_conf != NULL && kh->polls_inflight == 0)
		run_apply_pending(kh);
}

/* What a reload must not lose: the events held only in memory. */
static void
run_carry_take(struct outbox *ob)
{
	struct outbox_stats	 st;
	struct run_carry	*c;

	outbox_stats(ob, &st);
	if (st.unsaved == 0)
		return;
	if ((c = reallocarray(run.carry, run.ncarry + 1,
	    sizeof(*c))) == NULL) {
		log_warnx("outbox %s: out of memory keeping its unwritten "
		    "events over the reload", outbox_name(ob));
		return;
	}
	run.carry = c;
	c = &run.carry[run.ncarry++];
	memset(c, 0, sizeof(*c));
	(void)snprintf(c->notifier, sizeof(c->notifier), "%s",
	    outbox_name(ob));
	(void)outbox_take_unsaved(ob, &c->evs);
}

/* Hands carried events to the outbox of the same name; with ob NULL,
 * whatever is left is dropped, loudly. */
static void
run_carry_give(struct outbox *ob)
{
	size_t	i, j;
	char	err[512];

	for (i = 0; i < run.ncarry; i++) {
		struct run_carry *c = &run.carry[i];

		if (ob != NULL && strcmp(c->notifier, outbox_name(ob)) != 0)
			continue;
		for (j = 0; j < c->evs.n; j++)
			if (ob == NULL || outbox_enqueue(ob, &c->evs.v[j], err,
			    sizeof(err)) == -1)
				log_warnx("notifier %s: the %s alert for key %s "
				    "is lost: %s", c->notifier,
				    c->evs.v[j].check, c->evs.v[j].key_name,
				    ob == NULL ? "the notifier is gone and the "
				    "alert was never written to disk" : err);
		alert_events_clear(&c->evs);
	}
	if (ob == NULL) {
		free(run.carry);
		run.carry = NULL;
		run.ncarry = 0;
	}
}

static void
run_notifiers_stop(struct kh *kh)
{
	size_t	i;

	for (i = 0; i < kh->nnotifiers; i++)
		notify_stop(kh->notifiers[i]);
	for (i = 0; i < kh->nnotifiers; i++) {
		if (kh->outboxes[i] != NULL && !kh->stopping)
			run_carry_take(kh->outboxes[i]);
		outbox_free(kh->outboxes[i]);
	}
	notify_free_all(kh->notifiers, kh->nnotifiers);
	free(kh->outboxes);
	kh->notifiers = NULL;
	kh->outboxes = NULL;
	kh->nnotifiers = 0;
}

/*
 * The notifiers config_load_flags() configured with conf (once per load):
 * the daemon takes them over, conf keeps the rest.
 */
static void
run_notifiers_take(struct config *conf, struct notifier ***out, size_t *n)
{
	*out = conf->notifiers;
	*n = conf->nnotifiers;
	conf->notifiers = NULL;
	conf->nnotifiers = 0;
}

/*
 * Queues left by notifiers that are no longer configured (renamed or
 * removed) are never delivered: say so, once per start or reload, rather
 * than lose them silently.
 */
static int
run_notifier_named(void *arg, const char *name)
{
	struct kh	*kh = arg;
	size_t		 i;

	for (i = 0; i < kh->nnotifiers; i++)
		if (strcmp(notify_name(kh->notifiers[i]), name) == 0)
			return 1;
	return 0;
}

static void
run_outbox_orphan(void *arg, const char *name, size_t nev, const char *err)
{
	struct kh	*kh = arg;

	if (err != NULL)
		log_warnx("outbox: %s", err);
	else if (nev > 0)
		log_warnx("outbox %s: %zu undelivered alerts for a notifier "
		    "no longer configured stay in %s/outbox/%s (give a "
		    "notifier that name to deliver them)", name, nev,
		    kh->conf->state_dir, name);
}

static void
run_outbox_orphans(struct kh *kh)
{
	if (kh->state_ok)
		outbox_orphans(kh->conf->state_dir, run_notifier_named,
		    run_outbox_orphan, kh);
}

/* The queued events of every outbox, for run_reconcile(). */
struct run_queued {
	const struct alert_event	*ev;
	time_t				 queued;
};

struct run_queue {
	struct run_queued	*v;
	size_t			 n;
	size_t			 cap;
	int			 oom;
};

static void
run_collect(void *arg, const struct alert_event *ev, time_t queued)
{
	struct run_queue	*q = arg;
	struct run_queued	*nv;

	if (q->n == q->cap) {
		size_t ncap = q->cap ? q->cap * 2 : 16;

		if ((nv = reallocarray(q->v, ncap, sizeof(*nv))) == NULL) {
			q->oom = 1;
			return;
		}
		q->v = nv;
		q->cap = ncap;
	}
	q->v[q->n].ev = ev;
	q->v[q->n].queued = queued;
	q->n++;
}

/* Oldest episode first; within one, firings before the resolve, then in
 * queue order: the order alert_table_replay() wants. */
static int
run_queued_cmp(const void *a, const void *b)
{
	const struct run_queued	*x = a, *y = b;

	if (x->ev->started_at != y->ev->started_at)
		return x->ev->started_at < y->ev->started_at ? -1 : 1;
	if (x->ev->status != y->ev->status)
		return x->ev->status == ALERT_FIRING ? -1 : 1;
	if (x->queued != y->queued)
		return x->queued < y->queued ? -1 : 1;
	return 0;
}

/*
 * An event is written to the outboxes before the alert table is saved
 * (the page must not wait for the bookkeeping), so a crash or a failed
 * save in between leaves queued events the table does not know.  Their
 * receivers will see them: the table takes them in before the first
 * poll, so that a firing delivered after a restart still gets its
 * resolve when the key is found fixed.
 */
static void
run_reconcile(struct kh *kh)
{
	struct run_queue	q;
	size_t			i, changed = 0;
	int			r;

	if (kh->alerts == NULL)
		return;
	memset(&q, 0, sizeof(q));
	for (i = 0; i < kh->nnotifiers; i++)
		if (kh->outboxes[i] != NULL)
			outbox_foreach(kh->outboxes[i], run_collect, &q);
	if (q.oom)
		log_warnx("alerts: out of memory reading the outboxes; some "
		    "queued alerts may not get their resolve");
	if (q.n > 1)
		qsort(q.v, q.n, sizeof(*q.v), run_queued_cmp);
	for (i = 0; i < q.n; i++) {
		if ((r = alert_table_replay(kh->alerts, q.v[i].ev,
		    q.v[i].queued)) == -1) {
			log_warnx("alerts: out of memory taking in the queued "
			    "alerts");
			break;
		}
		if (r == 1)
			log_info("alerts: the queued %s %s alert for key %s "
			    "was missing from the alert state (saved after a "
			    "crash or a failed save); taken in",
			    alert_status_name(q.v[i].ev->status),
			    q.v[i].ev->check, q.v[i].ev->key_name);
		changed += (size_t)r;
	}
	free(q.v);
	/* Also releases the acknowledged events kept from before. */
	if (q.n > 0)
		run_save_alerts(kh);
}

static void
run_notifiers_start(struct kh *kh, struct notifier **v, size_t n)
{
	struct notify_env	*env = &kh->nenv;
	char			 err[512];
	size_t			 i;

	kh->notifiers = v;
	kh->nnotifiers = n;
	if ((kh->outboxes = calloc(n ? n : 1, sizeof(*kh->outboxes))) == NULL)
		fatalx("out of memory");
	memset(env, 0, sizeof(*env));
	env->base = kh->base;
	env->http = kh->http;
	env->hostname = kh->hostname;
	env->source = "keyhealthd/" KEYHEALTHD_VERSION;
	for (i = 0; i < n; i++) {
		if (notify_start(v[i], env, err, sizeof(err)) == -1)
			log_warnx("notifier %s: %s", notify_name(v[i]), err);
		/* Without a state directory the outbox is in memory only:
		 * not durable, but still retried. */
		kh->outboxes[i] = outbox_new(kh->base, kh->state_ok ?
		    kh->conf->state_dir : NULL, notify_name(v[i]), NULL,
		    notify_send, v[i], err, sizeof(err));
		if (kh->outboxes[i] == NULL) {
			/* Its alerts are sent without an outbox: at most
			 * once, rather than not at all. */
			log_warnx("notifier %s: outbox: %s; sending its alerts "
			    "without retries", notify_name(v[i]), err);
			continue;
		}
		if (outbox_depth(kh->outboxes[i]) > 0)
			log_info("notifier %s: %zu undelivered alerts from "
			    "before, delivering", notify_name(v[i]),
			    outbox_depth(kh->outboxes[i]));
		run_carry_give(kh->outboxes[i]);
		outbox_start(kh->outboxes[i]);
	}
	run_carry_give(NULL);
	run_outbox_orphans(kh);
	run_reconcile(kh);
}

/*
 * The discover: section at run time.  A run goes through every account
 * and region (daemon/discovery.c) every discover.interval; a key whose
 * policy names a vendor joins the watched set (kh_key_add()) and is
 * polled at once.  Keys of the configuration are never discovered again.
 * A discovered key that ListKeys no longer lists stays until its own
 * poll says it is gone (key-deleted fires as for any key); the next run
 * retires it.  A listing that fails changes nothing.
 */
#define RUN_DISC_FIRST		1	/* s after start or a reload */
#define RUN_DISC_WINDOW		2	/* keys evaluated at once */

static void	run_disc_start(struct kh *);

static void
run_disc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_disc_start(arg);
}

static void
run_disc_schedule(struct kh *kh, double delay)
{
	struct timeval	tv;

	if (kh->disc_timer == NULL && (kh->disc_timer = evtimer_new(kh->base,
	    run_disc_timer_cb, kh)) == NULL) {
		log_warnx("discover: out of memory: no discovery");
		return;
	}
	tv.tv_sec = (time_t)delay;
	tv.tv_usec = (suseconds_t)((delay - (double)tv.tv_sec) * 1e6);
	(void)evtimer_add(kh->disc_timer, &tv);
}

static void
run_disc_stop(struct kh *kh)
{
	discovery_free(kh->disc);
	kh->disc = NULL;
	if (kh->disc_timer != NULL)
		evtimer_del(kh->disc_timer);
}

static int
run_disc_listed(void *arg, size_t source, const char *region,
    const char *arn)
{
	struct kh_key	*k = kh_key_by_arn(arg, arn);

	(void)source;
	(void)region;
	if (k == NULL)
		return 0;
	k->disc_seen = 1;
	return 1;
}

static void
run_disc_found(void *arg, const struct discovery_found *f)
{
	struct kh	*kh = arg;
	struct kh_key	*k;
	char		 err[512];

	if ((k = kh_key_add(kh, kh_ck_found(kh, f, err, sizeof(err)),
	    KH_ORIGIN_DISCOVERED, err, sizeof(err))) == NULL) {
		log_warnx("discover: key %s: not watched: %s", f->arn, err);
		return;
	}
	k->disc_source = (unsigned int)f->source;
	kh->disc_added++;
	log_info("discover: watching key %s (%s): its policy names vendor "
	    "%s", kh_key_name(k), f->arn, f->vendor->name);
	k->disc_seen = 1;
	run_key_added(kh, k);
}

/* Discovery retires a key it found: it leaves through kh_key_drop(),
 * now or when its poll ends; its alerts resolve (run_key_dropped()). */
static void
run_key_retire(struct kh_key *k)
{
	if (k->drop)
		return;
	log_info("discover: key %s (%s) is gone from KMS: no longer watched",
	    kh_key_name(k), k->ck->arn);
	k->kh->disc_removed++;
	kh_key_drop(k);
}

static void
run_disc_scanned(void *arg, size_t source, const char *region,
    const char *err)
{
	struct kh	*kh = arg;
	struct kh_key	*k;
	size_t		 i;

	if (err != NULL) {
		run.disc_failed = 1;
		log_warnx("discover: %s: cannot list the keys (%s); the "
		    "watched keys stay", region, err);
	}
	for (i = kh->nkeys; i-- > 0; ) {
		k = kh->keys[i];
		if (k->origin != KH_ORIGIN_DISCOVERED ||
		    k->disc_source != source ||
		    strcmp(k->ck->parsed.region, region) != 0)
			continue;
		if (k->disc_seen || err != NULL) {
			k->disc_seen = 0;
			continue;
		}
		/* Not listed: gone once its poll has said so. */
		if (k->have_snap && k->snap.describe_err.cls ==
		    KMS_ERR_NOT_FOUND && !k->drop)
			run_key_retire(k);
		else
			log_info("discover: key %s is no longer listed; "
			    "watched until its poll finds it gone",
			    kh_key_name(k));
	}
}

static void
run_disc_done(void *arg)
{
	struct kh	*kh = arg;

	discovery_free(kh->disc);
	kh->disc = NULL;
	kh->disc_runs[run.disc_failed]++;
	log_info("discover: run %s: %zu discovered key%s watched",
	    run.disc_failed ? "incomplete" : "done", kh->ndiscovered,
	    kh->ndiscovered == 1 ? "" : "s");
	/* Alerts of keys neither configured nor found resolve only once a
	 * complete run has had the chance to find them again. */
	if (kh->disc_first && !run.disc_failed) {
		kh->disc_first = 0;
		run_forget_unconfigured(kh);
	}
	run_disc_schedule(kh, (double)kh->conf->discover.interval);
}

static void
run_disc_start(struct kh *kh)
{
	const struct config_discover	*cd = &kh->conf->discover;
	const struct vendor		**vs;
	struct discovery_spec		 sp;
	struct discovery_cbs		 cbs;
	size_t				 i;
	char				 err[256];

	if (kh->stopping || !cd->enabled || kh->disc != NULL)
		return;
	if (discovery_spec_conf(&sp, kh->conf, NULL, 0, &vs, err,
	    sizeof(err)) == -1) {
		log_warnx("discover: %s: nothing can be found", err);
		run_disc_schedule(kh, (double)cd->interval);
		return;
	}
	sp.window = RUN_DISC_WINDOW;
	memset(&cbs, 0, sizeof(cbs));
	cbs.listed = run_disc_listed;
	cbs.found = run_disc_found;
	cbs.scanned = run_disc_scanned;
	cbs.done = run_disc_done;
	cbs.arg = kh;
	run.disc_failed = 0;
	for (i = 0; i < kh->nkeys; i++)
		kh->keys[i]->disc_seen = 0;
	if ((kh->disc = discovery_start(kh, &sp, &cbs, err,
	    sizeof(err))) == NULL) {
		log_warnx("discover: %s", err);
		run_disc_schedule(kh, (double)cd->interval);
	}
	/* The spec's vendors are read at the start of each scan. */
	free(kh->disc_vendors);
	kh->disc_vendors = vs;
}

/* The alert policy that conf asks for (at start and at every reload). */
static void
run_alert_policy(const struct config *conf, struct alert_policy *pol)
{
	memset(pol, 0, sizeof(*pol));
	pol->renotify = conf->renotify;
	pol->fire_after = (unsigned int)conf->alerts.fire_after;
	pol->resolve_after = (unsigned int)conf->alerts.resolve_after;
}

static void
run_load_alerts(struct kh *kh)
{
	struct alert_policy	 pol;
	json_t			*j = NULL;
	char			 err[512];

	run_alert_policy(kh->conf, &pol);
	if (kh->state_ok) {
		switch (state_read_json(kh->conf->state_dir, "alerts.json", 0,
		    NULL, &j, err, sizeof(err))) {
		case STATE_READ_OK:
			kh->alerts = alert_table_from_json(j, &pol, err,
			    sizeof(err));
			if (kh->alerts == NULL)
				log_warnx("alerts: state ignored: %s", err);
			json_decref(j);
			break;
		case STATE_READ_ABSENT:
			break;
		default:
			log_warnx("alerts: %s", err);
			break;
		}
	}
	if (kh->alerts == NULL && (kh->alerts = alert_table_new(&pol)) == NULL)
		fatalx("out of memory");
}

/*
 * Alerts of keys that left the configuration while the daemon was not
 * running resolve now, as they do on a reload: otherwise they would stay
 * firing for ever in the state and on the receivers.
 */
static int
run_key_configured(void *arg, const char *arn)
{
	/* A replica's alerts carry on: it is watched again at once. */
	return kh_key_find(arg, arn) != NULL || replica_adopt(arg, arn);
}

static void
run_forget_unconfigured(struct kh *kh)
{
	struct alert_events	 evs;
	size_t			 n;

	memset(&evs, 0, sizeof(evs));
	if (alert_table_forget_keys(kh->alerts, run_key_configured, kh,
	    time(NULL), &evs, &n) == -1)
		log_warnx("alerts: out of memory resolving the alerts of keys "
		    "no longer configured");
	if (n == 0)
		return;
	log_info("alerts: keys no longer configured: %zu alerts resolved",
	    evs.n);
	run_dispatch(kh, &evs);
	alert_events_clear(&evs);
	run_save_alerts(kh);
}

/*
 * A reload's file, parsed (its notifiers configured with it): apply it
 * once no poll is in flight (a poll's callbacks point at the current
 * keys).
 */
static void
run_reload_parsed(struct kh *kh)
{
	struct config		*conf = run.parse.conf;

	run.parse.conf = NULL;
	if (conf == NULL) {
		kh_config_log_errors(run.config_path, &run.parse.errs);
		config_errors_free(&run.parse.errs);
		kh->stats.reload_failures++;
		log_warnx("reload failed: keeping the running configuration");
		proc_notify("READY=1");
		return;
	}
	config_errors_free(&run.parse.errs);
	if (kh->pending_conf != NULL)
		config_free(kh->pending_conf);
	kh->pending_conf = conf;
	if (kh->polls_inflight == 0)
		run_apply_pending(kh);
	else
		log_info("reload: waiting for %zu polls in flight",
		    kh->polls_inflight);
}

static void *
run_parse_main(void *arg)
{
	struct run_parse	*rp = arg;
	char			 c = 0;

	rp->conf = config_load_flags(rp->path, CONFIG_LOAD_NOTIFIERS,
	    &rp->errs);
	while (write(rp->fds[1], &c, 1) == -1 && errno == EINTR)
		;
	return NULL;
}

static void	run_parse_done_cb(evutil_socket_t, short, void *);

/* At start: the pipe the parser thread answers through.  Without it,
 * reloads are parsed on the loop. */
static void
run_parse_init(struct kh *kh)
{
	if (pipe2(run.parse.fds, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("cannot create the reload parser's pipe; reloads "
		    "will be parsed on the loop");
		run.parse.fds[0] = run.parse.fds[1] = -1;
		return;
	}
	if ((run.parse.ev = event_new(kh->base, run.parse.fds[0],
	    EV_READ | EV_PERSIST, run_parse_done_cb, kh)) == NULL ||
	    event_add(run.parse.ev, NULL) == -1)
		fatalx("cannot watch the reload parser's pipe");
}

static void
run_parse_start(struct kh *kh)
{
	sigset_t	all, old;
	int		rc;

	memset(&run.parse.errs, 0, sizeof(run.parse.errs));
	run.parse.conf = NULL;
	run.parse.path = run.config_path;
	if (run.parse.ev == NULL)
		goto inline_parse;
	/* Signals are the loop's: the thread blocks them all. */
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&run.parse.thread, NULL, run_parse_main,
	    &run.parse);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0) {
		run.parse.running = 1;
		return;
	}
	log_warnx("reload: cannot start the parser thread (%s); parsing on "
	    "the loop", strerror(rc));
inline_parse:
	run.parse.conf = config_load_flags(run.parse.path,
	    CONFIG_LOAD_NOTIFIERS, &run.parse.errs);
	run_reload_parsed(kh);
}

/* Joins a finished (or, when stopping, running) parse; drops its result
 * when drop is set. */
static void
run_parse_join(int drop)
{
	if (!run.parse.running)
		return;
	(void)pthread_join(run.parse.thread, NULL);
	run.parse.running = 0;
	if (drop) {
		config_free(run.parse.conf);
		run.parse.conf = NULL;
		config_errors_free(&run.parse.errs);
	}
}

static void
run_parse_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kh	*kh = arg;
	char		 buf[16];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	if (!run.parse.running)
		return;
	if (kh->stopping || run.parse.again) {
		run_parse_join(1);
		if (kh->stopping)
			return;
		/* Only the file as it is after the last SIGHUP counts. */
		run.parse.again = 0;
		log_info("reload: SIGHUP during the parse, reading %s again",
		    run.config_path);
		run_parse_start(kh);
		return;
	}
	run_parse_join(0);
	run_reload_parsed(kh);
}

/* SIGHUP: parse the file off the loop; a SIGHUP during a parse only asks
 * for one more. */
static void
run_reload(struct kh *kh)
{
	if (run.parse.running) {
		run.parse.again = 1;
		return;
	}
	proc_notify("RELOADING=1");
	log_info("reloading %s", run.config_path);
	/* The parse builds the new configuration beside the running one:
	 * what the loop has freed goes back to the system first, so that
	 * the two together stay near the daemon's usual footprint. */
	(void)malloc_trim(0);
	run_parse_start(kh);
}

static int
run_strp_cmp(const void *a, const void *b)
{
	return strcmp(*(const char * const *)a, *(const char * const *)b);
}

static void
run_apply_pending(struct kh *kh)
{
	struct config		*old = kh->conf, *conf = kh->pending_conf;
	const char		**arns, *arn;
	int			 disc_was = kh->disc != NULL;
	struct alert_events	 evs;
	struct alert_policy	 pol;
	struct notifier		**nv;
	size_t			 nn, i, j;
	char			 err[512];
	time_t			 now = time(NULL);
	int			 http_same;

	kh->pending_conf = NULL;
	memset(&evs, 0, sizeof(evs));
	/* Keys that are no longer configured: their alerts resolve.  Found
	 * by binary search: 100,000 keys compared pairwise took minutes. */
	if ((arns = reallocarray(NULL, conf->nkeys ? conf->nkeys : 1,
	    sizeof(*arns))) == NULL)
		fatalx("out of memory");
	for (j = 0; j < conf->nkeys; j++)
		arns[j] = conf->keys[j].arn;
	qsort(arns, conf->nkeys, sizeof(*arns), run_strp_cmp);
	/* A discovery in flight is of the old settings. */
	run_disc_stop(kh);
	for (i = 0; i < kh->nkeys; i++) {
		/* Found keys stay while discovery does (kh_keys_build()). */
		if (kh->keys[i]->origin == KH_ORIGIN_DISCOVERED &&
		    conf->discover.enabled)
			continue;
		arn = kh->keys[i]->ck->arn;
		if (bsearch(&arn, arns, conf->nkeys, sizeof(*arns),
		    run_strp_cmp) == NULL &&
		    replica_kept(conf, kh->keys[i]) == -1)
			(void)alert_table_forget_key(kh->alerts, arn, now,
			    &evs);
	}
	free(arns);
	if (evs.n > 0)
		run_dispatch(kh, &evs);
	alert_events_clear(&evs);

	run_notifiers_stop(kh);
	/* The same address keeps its listener: a scrape during a reload
	 * must not fail (the endpoint reads kh, not the config it began
	 * with). */
	http_same = kh->httpd != NULL && old->http.listen != NULL &&
	    conf->http.listen != NULL &&
	    strcmp(old->http.listen, conf->http.listen) == 0;
	if (!http_same)
		httpd_stop(kh);
	if (strcmp(old->state_dir, conf->state_dir) != 0)
		log_warnx("reload: state_dir changes take effect at restart");
	free(conf->state_dir);
	if ((conf->state_dir = strdup(old->state_dir)) == NULL)
		fatalx("out of memory");
	if (kh_clients_reset(kh, conf, err, sizeof(err)) == -1 ||
	    kh_keys_build(kh, conf, err, sizeof(err)) == -1)
		fatalx("reload: %s", err);
	kh->conf = conf;
	run_alert_policy(conf, &pol);
	alert_table_set_policy(kh->alerts, &pol);
	run_notifiers_take(conf, &nv, &nn);
	run_notifiers_start(kh, nv, nn);
	if (http_same)
		httpd_reload(kh);
	else if (conf->http.listen != NULL && httpd_start(kh, err,
	    sizeof(err)) == -1)
		log_warnx("reload: %s", err);
	/* Written in a later turn, not this one (the whole table and an
	 * fsync); the new outboxes are held until then. */
	run_hold_outboxes(kh, 1);
	run_save_alerts_soon(kh);
	run_schedule_reloaded(kh, old);
	if (conf->discover.enabled)
		run_disc_schedule(kh, disc_was || !old->discover.enabled ||
		    old->discover.interval != conf->discover.interval ?
		    RUN_DISC_FIRST : (double)conf->discover.interval);
	config_free(old);
	/* Two configurations and two sets of keys were live a moment ago:
	 * give the freed half back to the system (RSS of 10,000 keys). */
	(void)malloc_trim(0);
	kh->stats.reloads++;
	log_info("reloaded: %zu key%s, %zu notifier%s", kh->nkeys,
	    kh->nkeys == 1 ? "" : "s", kh->nnotifiers,
	    kh->nnotifiers == 1 ? "" : "s");
	proc_notify("READY=1");
	run_update_status(kh);
}

/*
 * Stopping waits (at most RUN_STOP_GRACE) for the polls in flight and for
 * the deliveries that are going well: an alert raised just before a stop
 * reaches its receivers now rather than at the next start.  A notifier
 * that is failing is not waited for; its outbox keeps the events.
 */
static int
run_outboxes_settled(struct kh *kh)
{
	struct outbox_stats	st;
	size_t			i;

	for (i = 0; i < kh->nnotifiers; i++) {
		if (kh->outboxes[i] == NULL || outbox_idle(kh->outboxes[i]))
			continue;
		outbox_stats(kh->outboxes[i], &st);
		if (st.failing == 0)
			return 0;
	}
	return 1;
}

static void
run_stop_check(struct kh *kh)
{
	if (kh->polls_inflight == 0 && run_outboxes_settled(kh))
		event_base_loopexit(kh->base, NULL);
}

static void
run_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_stop_check(arg);
}

static void
run_stop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kh	*kh = arg;

	(void)fd;
	(void)what;
	if (kh->polls_inflight > 0)
		log_info("stopping: cancelling %zu polls in flight",
		    kh->polls_inflight);
	if (!run_outboxes_settled(kh))
		log_info("stopping: undelivered alerts stay queued for the "
		    "next start");
	event_base_loopexit(kh->base, NULL);
}

static void
run_kick_all(struct kh *kh)
{
	size_t	i;

	for (i = 0; i < kh->nnotifiers; i++)
		if (kh->outboxes[i] != NULL)
			outbox_kick(kh->outboxes[i]);
	run.kick_last = run_mono();
}

static void
run_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_kick_all(arg);
}

/*
 * SIGUSR1: retry every notifier now, e.g. after fixing a receiver; at most
 * once per SCHED_KICK_MIN seconds.  Each retry is a request to every
 * receiver with a queue, so a burst of signals (a script in a loop) must
 * not become a burst of requests to a receiver that is still failing; a
 * signal inside the window retries once, when it ends.
 */
static void
run_kick(struct kh *kh)
{
	struct timeval	tv;
	double		now = run_mono(), wait;

	if ((wait = sched_kick_wait(run.kick_last, now)) == 0) {
		run_kick_all(kh);
		return;
	}
	if (run.kick_timer == NULL && (run.kick_timer = evtimer_new(kh->base,
	    run_kick_cb, kh)) == NULL) {
		log_warnx("SIGUSR1: out of memory");
		return;
	}
	if (evtimer_pending(run.kick_timer, NULL))
		return;
	tv.tv_sec = (time_t)wait;
	tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6);
	(void)evtimer_add(run.kick_timer, &tv);
	log_info("SIGUSR1: notifiers were retried %.0f s ago; retrying again "
	    "in %.0f s", now - run.kick_last, wait);
}

static void
run_signal(int sig, void *arg)
{
	struct kh	*kh = arg;
	struct timeval	 tv = { RUN_STOP_GRACE, 0 };
	struct timeval	 drain = { 0, RUN_DRAIN_MS * 1000 };
	size_t		 i;

	switch (sig) {
	case SIGHUP:
		if (!kh->stopping)
			run_reload(kh);
		break;
	case SIGUSR1:
		run_kick(kh);
		break;
	case SIGTERM:
	case SIGINT:
		if (kh->stopping)
			break;
		kh->stopping = 1;
		run_disc_stop(kh);
		proc_notify("STOPPING=1");
		log_info("stopping on signal %d", sig);
		for (i = 0; i < kh->nkeys; i++)
			if (kh->keys[i]->timer != NULL)
				evtimer_del(kh->keys[i]->timer);
		if (kh->polls_inflight == 0 && run_outboxes_settled(kh)) {
			event_base_loopexit(kh->base, NULL);
			break;
		}
		kh->stop_timer = evtimer_new(kh->base, run_stop_timer_cb, kh);
		run.drain_timer = event_new(kh->base, -1, EV_PERSIST,
		    run_drain_cb, kh);
		if (kh->stop_timer == NULL || run.drain_timer == NULL ||
		    evtimer_add(kh->stop_timer, &tv) == -1 ||
		    evtimer_add(run.drain_timer, &drain) == -1)
			event_base_loopexit(kh->base, NULL);
		break;
	default:
		break;
	}
}

int
cmd_run(struct kh_opts *opts, int argc, char **argv)
{
	struct event_base	*base;
	struct config		*conf;
	struct notifier		**nv;
	struct kh		*kh;
	size_t			 nn, i;
	char			 err[512];
	int			 first;

	if (argc > 0) {
		first = kh_getopt(opts, argc, argv, NULL, 0);
		if (first == -1 || first < argc) {
			usage_print(1);
			return 2;
		}
		log_setverbose(opts->verbose);
	}
	run.config_path = opts->config;
	if (config_check_file_perms(opts->config, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if ((conf = kh_config_load(opts->config, CONFIG_LOAD_NOTIFIERS)) ==
	    NULL)
		fatalx("%s: configuration not loaded, not starting",
		    opts->config);
	run_notifiers_take(conf, &nv, &nn);
	if ((base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	log_hook_libevent();
	if ((kh = kh_new(KH_MODE_RUN, base, conf, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	kh->on_key_added = run_key_added;
	kh->on_key_dropped = run_key_dropped;
	if (proc_init(&run.proc, base, run_signal, kh) == -1)
		fatalx("cannot set up signal handling");
	if (kh_lag_start(kh) == -1)
		fatalx("out of memory");
	run_parse_init(kh);
	run_load_alerts(kh);
	run_notifiers_start(kh, nv, nn);
	/* With discover:, the keys found at run time are not known yet. */
	if (conf->discover.enabled) {
		kh->disc_first = 1;
		run_disc_schedule(kh, RUN_DISC_FIRST);
	} else
		run_forget_unconfigured(kh);
	if (conf->http.listen != NULL && httpd_start(kh, err,
	    sizeof(err)) == -1)
		fatalx("%s", err);
	run_schedule_all(kh);
	log_info("keyhealthd %s started: %zu key%s, %zu notifier%s, state "
	    "in %s", KEYHEALTHD_VERSION, kh->nkeys, kh->nkeys == 1 ? "" : "s",
	    kh->nnotifiers, kh->nnotifiers == 1 ? "" : "s",
	    kh->state_ok ? conf->state_dir : "(none)");
	proc_notify("READY=1\nSTATUS=%zu key%s: first polls running",
	    kh->nkeys, kh->nkeys == 1 ? "" : "s");

	(void)event_base_dispatch(base);

	/* Stopping: whatever is still in flight is cancelled; its
	 * callbacks run from kms_client_free() inside kh_free(). */
	kh->stopping = 1;
	run_disc_stop(kh);
	if (kh->disc_timer != NULL)
		event_free(kh->disc_timer);
	kh->disc_timer = NULL;
	free(kh->disc_vendors);
	kh->disc_vendors = NULL;
	run_parse_join(1);
	if (run.parse.ev != NULL)
		event_free(run.parse.ev);
	run.parse.ev = NULL;
	if (run.kick_timer != NULL)
		event_free(run.kick_timer);
	run.kick_timer = NULL;
	if (kh->kms != NULL)
		kms_client_free(kh->kms);
	kh->kms = NULL;
	for (i = 0; i < kh->nkeys; i++)
		(void)kh_key_save_state(kh->keys[i]);
	run_save_alerts(kh);
	httpd_stop(kh);
	run_notifiers_stop(kh);
	run_carry_give(NULL);	/* a reload that started no notifier */
	if (kh->stop_timer != NULL)
		event_free(kh->stop_timer);
	if (run.drain_timer != NULL)
		event_free(run.drain_timer);
	run.drain_timer = NULL;
	if (run.alerts_ev != NULL)
		event_free(run.alerts_ev);
	run.alerts_ev = NULL;
	run.alerts_due = 0;
	if (run.status_ev != NULL)
		event_free(run.status_ev);
	run.status_ev = NULL;
	if (kh->pending_conf != NULL)
		config_free(kh->pending_conf);
	conf = kh->conf;
	if (kh->alerts != NULL)
		alert_table_free(kh->alerts);
	kh_free(kh);
	config_free(conf);
	proc_free(&run.proc);
	event_base_free(base);
	if (run.parse.fds[0] != -1) {
		(void)close(run.parse.fds[0]);
		(void)close(run.parse.fds[1]);
		run.parse.fds[0] = run.parse.fds[1] = -1;
	}
	log_info("stopped");
	return run.exit_code;
}
