/*
 * Alerts: one per (key, check).  The state machine turns each poll's
 * findings into events (firing, re-notify, resolved); the outbox delivers
 * them.  See ARCHITECTURE's Alerts section for the payload.
 */
#ifndef KEYHEALTHD_ALERT_H
#define KEYHEALTHD_ALERT_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "finding.h"
#include "keyid.h"

enum alert_status {
	ALERT_FIRING,
	ALERT_RESOLVED
};

/* One notification to deliver.  All strings owned by the event. */
struct alert_event {
	char			 id[40];	/* unique per event: the
						 * Idempotency-Key */
	char			 fingerprint[65];	/* hex SHA-256 of ARN
							 * and check id */
	enum alert_status	 status;
	char			*check;
	enum severity		 severity;
	char			*key_arn;
	char			*key_name;
	char			*region;
	char			*account;
	char			*summary;
	json_t			*details;	/* object */
	time_t			 started_at;
	time_t			 ended_at;	/* 0 while firing */
};

/* "firing" or "resolved"; alert_status_parse returns 0 or -1. */
const char	*alert_status_name(enum alert_status);
int		 alert_status_parse(const char *name, enum alert_status *out);

/* Hex SHA-256 of "key_arn\ncheck" into out (65 bytes with the NUL). */
void		 alert_fingerprint(const char *key_arn, const char *check,
		    char out[65]);
/* A fresh random event id (UUID v4 text) into out (40 bytes). */
void		 alert_event_new_id(char out[40]);

/* Frees what the event owns (not ev itself); ev can be reused. */
void		 alert_event_clear(struct alert_event *ev);
/* Frees ev and what it owns; NULL is fine. */
void		 alert_event_free(struct alert_event *ev);
/* A deep copy into *dst (which is overwritten, not freed); 0 or -1. */
int		 alert_event_copy(struct alert_event *dst,
		    const struct alert_event *src);
/* The outbox form of an event (times as epoch seconds); new reference. */
json_t		*alert_event_to_json(const struct alert_event *ev);
/* Parses alert_event_to_json's output into *ev (overwritten; the caller
 * clears it with alert_event_clear()).  0, or -1 with err set. */
int		 alert_event_from_json(const json_t *j, struct alert_event *ev,
		    char *err, size_t errlen);
/*
 * The webhook payload, version 1 (ARCHITECTURE, Alerts): host and source
 * ("keyhealthd/VERSION") as given, sent_at as RFC 3339 UTC.  New
 * reference or NULL (out of memory).
 */
json_t		*alert_event_payload(const struct alert_event *ev,
		    const char *host, const char *source, time_t sent_at);
/* "2026-01-02T03:04:05Z" into buf (at least 21 bytes); returns buf. */
char		*alert_time_rfc3339(time_t t, char *buf, size_t len);

/* A growable list of events; the caller owns it and clears it. */
struct alert_events {
	struct alert_event	*v;
	size_t			 n;
	size_t			 cap;
};
/* Frees every event; evs can be reused. */
void		 alert_events_clear(struct alert_events *evs);

/*
 * The state machine.  One entry per (key ARN, check id).  A finding
 * present in fire_after consecutive polls fires; it is re-sent (status
 * firing, same fingerprint, new event id) every renotify seconds while it
 * lasts, and once more at once when its severity changes; absent in
 * resolve_after consecutive polls it resolves once.  A poll whose findings
 * hold check-failed leaves the key's other alerts as they are.  A resolved
 * event carries the highest severity the alert fired with, so a notifier
 * whose filter let a firing through also gets its resolution.
 */
struct alert_policy {
	time_t		 renotify;	/* seconds; 0: never re-send */
	unsigned int	 fire_after;	/* polls; 0 is taken as 1 */
	unsigned int	 resolve_after;	/* polls; 0 is taken as 1 */
};
/* pol NULL: these; a fire_after or resolve_after of 0 is taken as 1.
 * lib/config derives its defaults from them. */
#define ALERT_DEFAULT_RENOTIFY		(4 * 3600)
#define ALERT_DEFAULT_FIRE_AFTER	1
#define ALERT_DEFAULT_RESOLVE_AFTER	1

struct alert_table;

/* A new empty table; pol NULL: defaults (renotify 4h, 1, 1).  The caller
 * frees it with alert_table_free(). */
struct alert_table *alert_table_new(const struct alert_policy *pol);
void		 alert_table_free(struct alert_table *t);
/* Replaces the policy (on reload); entries are kept. */
void		 alert_table_set_policy(struct alert_table *t,
		    const struct alert_policy *pol);
/*
 * Feeds one poll's findings for key (SEV_OK findings count as absent;
 * key's name, region and account may be NULL: the key id, and region
 * and account from the ARN) and
 * appends the resulting events to out (owned by the caller).  0, or -1
 * with err set (out of memory; the table is then still consistent, some
 * events may be missing).
 */
int		 alert_table_update(struct alert_table *t,
		    const struct keyid *key, const struct findings *fs,
		    time_t now, struct alert_events *out, char *err,
		    size_t errlen);
/*
 * The key is no longer configured: its firing alerts resolve now (events
 * appended to out) and its entries are forgotten.  0 or -1.
 */
int		 alert_table_forget_key(struct alert_table *t,
		    const char *key_arn, time_t now, struct alert_events *out);
/*
 * alert_table_forget_key() of every key in the table for which keep(arg,
 * arn) is 0; *nforgot counts them.  0, or -1 when out of memory (the
 * other keys are still forgotten).
 */
int		 alert_table_forget_keys(struct alert_table *t,
		    int (*keep)(void *, const char *), void *arg, time_t now,
		    struct alert_events *out, size_t *nforgot);
/*
 * Brings the table up to date with an event that was queued for delivery
 * at queued_at (from an outbox, after a restart): the alert table is
 * saved after the outboxes are written, so a crash in between leaves
 * events the table does not know, and a receiver may have seen them.  A
 * firing makes its alert firing (that episode, since ev->started_at; a
 * table entry of a later episode wins); a resolved ends the alert of its
 * episode or an older one.  Replay the events oldest episode first and,
 * within one, in queue order.  Returns 1 when the table changed, 0 when
 * it knew as much already, -1 when out of memory.
 */
int		 alert_table_replay(struct alert_table *t,
		    const struct alert_event *ev, time_t queued_at);
/* Entries (pending or firing) and firing ones. */
size_t		 alert_table_size(const struct alert_table *t);
size_t		 alert_table_firing(const struct alert_table *t);
/* Non-zero when (key_arn, check) is firing. */
int		 alert_table_is_firing(const struct alert_table *t,
		    const char *key_arn, const char *check);
/* For the state dir: a new reference, NULL on out of memory. */
json_t		*alert_table_to_json(const struct alert_table *t);
/* The inverse; pol as for alert_table_new.  NULL with err set. */
struct alert_table *alert_table_from_json(const json_t *j,
		    const struct alert_policy *pol, char *err, size_t errlen);

#endif
