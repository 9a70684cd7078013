/*
 * Prometheus Alertmanager: POST {url}/api/v2/alerts with one alert per
 * event.  Alertmanager forgets an alert whose endsAt has passed and, for
 * one posted without endsAt, after its resolve_timeout (5m by default);
 * the daemon only repeats a firing alert every `renotify` (hours).  So this
 * notifier keeps its own small table of the alerts it saw firing and
 * re-posts them every repost_interval with endsAt = now + 3 intervals, the
 * way Prometheus itself does, until their resolve arrives (which is posted
 * with endsAt = the resolve time, so the alert is gone at once).
 *
 *	- type: alertmanager
 *	  url: http://127.0.0.1:9093		# required; the API base
 *	  repost_interval: 1m
 *	  timeout: 10s
 *	  labels: {team: storage}		# extra static labels
 *	  generator_url: https://status.example.com/keyhealthd
 *	  state_file: alertmanager-am.json	# default under $STATE_DIRECTORY
 *
 * The table is saved to state_file (when there is one) on every change and
 * loaded at start, then re-posted at once: the daemon does not re-send an
 * acknowledged firing alert after a restart until `renotify`, and by then
 * Alertmanager would have let it expire.
 *
 * alertname is "Keyhealthd" + the check id in CamelCase
 * (KeyhealthdKeyPendingDeletion, KeyhealthdCheckFailed): Alertmanager
 * users route and group by alertname, and one alert type per check is what
 * Prometheus rules would give them; the raw id is in the "check" label.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "endpoint.h"
#include "log.h"
#include "notify.h"
#include "notify_payloads.h"
#include "notify_util.h"
#include "statefs.h"
#include "ynode.h"

#define AM_TYPE			"alertmanager"
#define AM_PATH			"/api/v2/alerts"
/* The table only holds (key, check) pairs that are firing; a config
 * watches tens of keys.  The cap is a guard, not a working limit. */
#define AM_MAX_FIRING		10000
/* Alerts per re-post request. */
#define AM_BATCH		500
#define AM_DESCRIPTION_MAX	4096
#define AM_STATE_MAX		(16 * 1024 * 1024)
#define AM_STATE_VERSION	1

struct am_entry {
	TAILQ_ENTRY(am_entry)	 entry;
	char			 fingerprint[65];
	unsigned long		 gen;
	json_t			*alert;		/* without endsAt */
};
TAILQ_HEAD(am_entries, am_entry);

struct alertmanager {
	char				*url;		/* .../api/v2/alerts */
	char				*shown_url;	/* without user:pass@ */
	char				*generator_url;
	char				*state_file;	/* NULL: not saved */
	int				 save_failing;
	json_t				*labels;	/* extra; object */
	char				*host;
	long long			 repost_ms;
	long long			 timeout_ms;
	int				 started;
	struct event			*timer;
	struct notify_util_poster	 poster;	/* deliveries */
	struct notify_util_poster	 reposter;	/* the timer's */
	struct am_entries		 firing;
	size_t				 nfiring;
	/* Alerts ended while a re-post was in flight: posted again after it,
	 * see am_send(). */
	json_t				*reended;
	unsigned long			 gen;
	/* Re-post failures are logged at growing intervals, recovery once. */
	unsigned long			 repost_failures;
	time_t				 next_complaint;
	long				 complaint_s;
};

/* One delivery of send(): the outbox's callback and what to undo if
 * Alertmanager refuses the alert for good. */
struct am_delivery {
	struct alertmanager	*am;
	char			 fingerprint[65];
	unsigned long		 gen;		/* 0: nothing to undo */
	notify_done_cb		 done;
	void			*arg;
};

static const char * const am_options[] = {
	"url", "repost_interval", "timeout", "labels", "generator_url",
	"state_file", NULL
};

/* Ours; the extra labels may not override them. */
static const char * const am_reserved[] = {
	"alertname", "check", "severity", "key_arn", "key_name", "region",
	"account", NULL
};

const char *
notify_alertmanager_alertname(const char *check, char *buf, size_t len)
{
	size_t	 n;
	int	 up = 1;

	if (len == 0)
		return buf;
	n = (size_t)snprintf(buf, len, "Keyhealthd");
	if (n >= len)
		return buf;
	for (; check != NULL && *check != '\0' && n + 1 < len; check++) {
		unsigned char c = (unsigned char)*check;

		if (!isalnum(c)) {
			up = 1;
			continue;
		}
		buf[n++] = up ? (char)toupper(c) : (char)c;
		up = 0;
	}
	buf[n] = '\0';
	return buf;
}

static int
am_set(json_t *obj, const char *key, const char *value)
{
	if (value == NULL || *value == '\0')
		return 0;
	return json_object_set_new(obj, key, json_string(value));
}

static char *
am_description(const struct alert_event *ev)
{
	char	*details = NULL, *text = NULL, *out;
	int	 n;

	if (ev->details != NULL && json_object_size(ev->details) > 0)
		details = json_dumps(ev->details, JSON_COMPACT |
		    JSON_SORT_KEYS);
	n = asprintf(&text, "%s key %s (%s)%s%s%s%s: %s, severity %s.%s%s",
	    ev->status == ALERT_FIRING ? "Firing for" : "Resolved for",
	    ev->key_name != NULL ? ev->key_name : "-",
	    ev->key_arn != NULL ? ev->key_arn : "-",
	    ev->region != NULL && *ev->region ? " in " : "",
	    ev->region != NULL ? ev->region : "",
	    ev->account != NULL && *ev->account ? ", account " : "",
	    ev->account != NULL ? ev->account : "",
	    ev->check, severity_name(ev->severity),
	    details != NULL ? " Details: " : "",
	    details != NULL ? details : "");
	free(details);
	if (n == -1)
		return NULL;
	out = notify_util_truncate(text, AM_DESCRIPTION_MAX);
	free(text);
	return out;
}

json_t *
notify_alertmanager_alert(const struct alert_event *ev,
    const json_t *extra_labels, const char *host, const char *generator_url,
    time_t ends_at)
{
	json_t		*alert = NULL, *labels = NULL, *ann = NULL;
	const char	*k;
	json_t		*v;
	char		 name[128], ts[32], *desc = NULL;
	time_t		 starts = ev->started_at;
	int		 rc = 0;

	if ((alert = json_object()) == NULL || (labels = json_object()) ==
	    NULL || (ann = json_object()) == NULL)
		goto fail;
	if (extra_labels != NULL) {
		json_object_foreach((json_t *)(uintptr_t)extra_labels, k, v)
			rc |= json_object_set(labels, k, v);
	}
	rc |= am_set(labels, "alertname", notify_alertmanager_alertname(
	    ev->check, name, sizeof(name)));
	rc |= am_set(labels, "check", ev->check);
	rc |= am_set(labels, "severity", severity_name(ev->severity));
	rc |= am_set(labels, "key_arn", ev->key_arn);
	rc |= am_set(labels, "key_name", ev->key_name);
	rc |= am_set(labels, "region", ev->region);
	rc |= am_set(labels, "account", ev->account);

	rc |= am_set(ann, "summary", ev->summary);
	if ((desc = am_description(ev)) == NULL)
		goto fail;
	rc |= am_set(ann, "description", desc);
	rc |= am_set(ann, "fingerprint", ev->fingerprint);
	rc |= am_set(ann, "host", host);

	if (starts == 0)
		starts = time(NULL);
	/* Alertmanager refuses an alert that ends before it starts. */
	if (ends_at != 0 && ends_at < starts)
		ends_at = starts;
	rc |= json_object_set_new(alert, "labels", labels);
	labels = NULL;
	rc |= json_object_set_new(alert, "annotations", ann);
	ann = NULL;
	rc |= json_object_set_new(alert, "startsAt", json_string(
	    notify_util_rfc3339(starts, ts, sizeof(ts))));
	if (ends_at != 0)
		rc |= json_object_set_new(alert, "endsAt", json_string(
		    notify_util_rfc3339(ends_at, ts, sizeof(ts))));
	rc |= am_set(alert, "generatorURL", generator_url);
	free(desc);
	if (rc != 0) {
		json_decref(alert);
		return NULL;
	}
	return alert;
fail:
	free(desc);
	json_decref(labels);
	json_decref(ann);
	json_decref(alert);
	return NULL;
}

static struct am_entry *
am_find(struct alertmanager *am, const char *fingerprint)
{
	struct am_entry	*e;

	TAILQ_FOREACH(e, &am->firing, entry)
		if (strcmp(e->fingerprint, fingerprint) == 0)
			return e;
	return NULL;
}

static void
am_remove(struct alertmanager *am, struct am_entry *e)
{
	TAILQ_REMOVE(&am->firing, e, entry);
	am->nfiring--;
	json_decref(e->alert);
	free(e);
}

static int
am_set_ends(json_t *alert, time_t ends)
{
	char	ts[32];

	return json_object_set_new(alert, "endsAt", json_string(
	    notify_util_rfc3339(ends, ts, sizeof(ts))));
}

/*
 * Opens the directory of state_file (through statefs: the file itself is
 * never followed); its last part goes to *leaf.  -1 with err.
 */
static int
am_state_dir(const struct alertmanager *am, const char **leaf, char *err,
    size_t errlen)
{
	char		 dir[PATH_MAX];
	const char	*slash = strrchr(am->state_file, '/');
	size_t		 len;

	/* am_state_file() makes it absolute. */
	if (slash == NULL || slash[1] == '\0') {
		(void)snprintf(err, errlen, "%s: not a file path",
		    am->state_file);
		return -1;
	}
	len = slash == am->state_file ? 1 : (size_t)(slash - am->state_file);
	if (len >= sizeof(dir)) {
		(void)snprintf(err, errlen, "%s: path too long",
		    am->state_file);
		return -1;
	}
	memcpy(dir, am->state_file, len);
	dir[len] = '\0';
	*leaf = slash + 1;
	return statefs_open_top(dir, 0, NULL, err, errlen);
}

/*
 * Writes the table to state_file: a temporary file, fsync'd, renamed over
 * the old one, so a crash leaves either table.  A failure costs only the
 * re-posts after a restart: it is logged, once per streak.
 */
static void
am_save(struct alertmanager *am)
{
	struct am_entry	*e;
	json_t		*root, *arr;
	const char	*leaf;
	char		*text = NULL, err[1024];
	int		 dfd = -1, ok = 0;

	if (am->state_file == NULL)
		return;
	(void)snprintf(err, sizeof(err), "out of memory");
	if ((root = json_pack("{s:i, s:[]}", "version", AM_STATE_VERSION,
	    "alerts")) == NULL)
		goto out;
	arr = json_object_get(root, "alerts");
	TAILQ_FOREACH(e, &am->firing, entry) {
		if (json_array_append_new(arr, json_pack("{s:s, s:O}",
		    "fingerprint", e->fingerprint, "alert", e->alert)) == -1)
			goto out;
	}
	if ((text = json_dumps(root, JSON_COMPACT)) == NULL)
		goto out;
	if ((dfd = am_state_dir(am, &leaf, err, sizeof(err))) == -1)
		goto out;
	if (statefs_write(dfd, am->state_file, leaf, text, strlen(text), err,
	    sizeof(err)) == -1)
		goto out;
	ok = 1;
out:
	if (dfd != -1)
		close(dfd);
	free(text);
	json_decref(root);
	if (!ok && !am->save_failing)
		log_warnx("alertmanager %s: cannot save the firing alerts to "
		    "%s (%s); after a restart they may expire in Alertmanager "
		    "until re-notified", am->shown_url, am->state_file, err);
	else if (ok && am->save_failing)
		log_info("alertmanager %s: saving firing alerts to %s works "
		    "again", am->shown_url, am->state_file);
	am->save_failing = !ok;
}

/* Loads what am_save() wrote; a missing file is an empty table, a bad one
 * is reported and ignored (the daemon must run without it).  Anything but
 * a regular file of ours (a link, a FIFO) is refused, never opened. */
static void
am_load(struct alertmanager *am)
{
	struct am_entry	*e;
	json_error_t	 jerr;
	json_t		*root, *arr, *item, *alert;
	const char	*fp, *leaf;
	struct stat	 st;
	char		 err[1024];
	size_t		 i;
	int		 dfd, fd, refused;

	if (am->state_file == NULL)
		return;
	if ((dfd = am_state_dir(am, &leaf, err, sizeof(err))) == -1) {
		if (errno != ENOENT)
			log_warnx("alertmanager %s: %s", am->shown_url, err);
		return;
	}
	fd = statefs_open_read(dfd, am->state_file, leaf, 0, &st, &refused,
	    err, sizeof(err));
	close(dfd);
	if (fd == -1) {
		if (refused)
			log_warnx("alertmanager %s: state_file %s %s: ignored, "
			    "not followed (the next save replaces it)",
			    am->shown_url, am->state_file, err);
		else if (errno != ENOENT)
			log_warnx("alertmanager %s: %s", am->shown_url, err);
		return;
	}
	if (st.st_size > AM_STATE_MAX) {
		close(fd);
		log_warnx("alertmanager %s: %s is larger than %d bytes; "
		    "ignored", am->shown_url, am->state_file, AM_STATE_MAX);
		return;
	}
	root = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
	close(fd);
	if (root == NULL) {
		log_warnx("alertmanager %s: %s:%d: %s; ignored", am->shown_url,
		    am->state_file, jerr.line, jerr.text);
		return;
	}
	arr = json_object_get(root, "alerts");
	if (json_integer_value(json_object_get(root, "version")) !=
	    AM_STATE_VERSION || !json_is_array(arr)) {
		log_warnx("alertmanager %s: %s: not a version %d state file; "
		    "ignored", am->shown_url, am->state_file,
		    AM_STATE_VERSION);
		json_decref(root);
		return;
	}
	json_array_foreach(arr, i, item) {
		fp = json_string_value(json_object_get(item, "fingerprint"));
		alert = json_object_get(item, "alert");
		if (fp == NULL || strlen(fp) >= sizeof(e->fingerprint) ||
		    !json_is_object(alert) ||
		    !json_is_object(json_object_get(alert, "labels")) ||
		    am_find(am, fp) != NULL || am->nfiring >= AM_MAX_FIRING)
			continue;
		if ((e = calloc(1, sizeof(*e))) == NULL)
			break;
		(void)snprintf(e->fingerprint, sizeof(e->fingerprint), "%s",
		    fp);
		e->alert = json_incref(alert);
		json_object_del(e->alert, "endsAt");
		e->gen = ++am->gen;
		TAILQ_INSERT_TAIL(&am->firing, e, entry);
		am->nfiring++;
	}
	json_decref(root);
}

static void
am_delivery_done(void *arg, enum notify_result r, const char *why)
{
	struct am_delivery	*d = arg;
	struct am_entry		*e;

	/* Re-posting what Alertmanager refused for good would only fail
	 * again every interval. */
	if (r == NOTIFY_PERMANENT && d->gen != 0 &&
	    (e = am_find(d->am, d->fingerprint)) != NULL &&
	    e->gen == d->gen) {
		am_remove(d->am, e);
		am_save(d->am);
	}
	d->done(d->arg, r, why);
	free(d);
}

/* Best effort: without memory the alert lingers until the late re-post's
 * endsAt, as it would without this.  Bounded: re-posts time out, and then
 * the list is flushed. */
static void
am_reend_later(struct alertmanager *am, json_t *alert)
{
	if (am->reended == NULL && (am->reended = json_array()) == NULL)
		return;
	if (json_array_size(am->reended) < AM_MAX_FIRING)
		(void)json_array_append(am->reended, alert);
}

static int
am_send(void *arg, const struct alert_event *ev, notify_done_cb done,
    void *done_arg)
{
	struct alertmanager	*am = arg;
	struct am_delivery	*d = NULL;
	struct am_entry		*e, *fresh = NULL;
	json_t			*alert = NULL, *arr = NULL, *stale, *copy;
	char			*body = NULL;
	time_t			 now = time(NULL), ends;

	if (!am->started)
		return -1;
	if (ev->status == ALERT_FIRING)
		ends = now + (time_t)(3 * am->repost_ms / 1000);
	else
		ends = ev->ended_at != 0 && ev->ended_at < now ?
		    ev->ended_at : now;
	if ((alert = notify_alertmanager_alert(ev, am->labels, am->host,
	    am->generator_url, ends)) == NULL || (arr = json_array()) == NULL)
		goto fail;
	if (json_array_append(arr, alert) == -1)
		goto fail;

	e = am_find(am, ev->fingerprint);
	/*
	 * The same (key, check) fired before under other labels (a new
	 * severity): end that one now, or it would linger as a second alert
	 * until its endsAt.
	 */
	if (e != NULL && !json_equal(json_object_get(e->alert, "labels"),
	    json_object_get(alert, "labels"))) {
		if ((stale = json_deep_copy(e->alert)) == NULL ||
		    am_set_ends(stale, now) == -1 ||
		    json_array_append_new(arr, stale) == -1)
			goto fail;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		goto fail;
	d->am = am;
	d->done = done;
	d->arg = done_arg;
	(void)snprintf(d->fingerprint, sizeof(d->fingerprint), "%s",
	    ev->fingerprint);

	if (ev->status == ALERT_FIRING && (e != NULL ||
	    am->nfiring < AM_MAX_FIRING)) {
		if (e == NULL) {
			if ((fresh = calloc(1, sizeof(*fresh))) == NULL)
				goto fail;
			(void)snprintf(fresh->fingerprint,
			    sizeof(fresh->fingerprint), "%s",
			    ev->fingerprint);
		}
		if ((copy = json_deep_copy(alert)) == NULL) {
			free(fresh);
			goto fail;
		}
		json_object_del(copy, "endsAt");
		if (fresh != NULL) {
			fresh->alert = copy;
			TAILQ_INSERT_TAIL(&am->firing, fresh, entry);
			am->nfiring++;
			e = fresh;
		} else {
			json_decref(e->alert);
			e->alert = copy;
		}
		e->gen = ++am->gen;
		d->gen = e->gen;
	} else if (ev->status != ALERT_FIRING && e != NULL)
		am_remove(am, e);
	am_save(am);

	/*
	 * A re-post in flight was built before this event.  Should it reach
	 * Alertmanager after this post (a slow network or Alertmanager), the
	 * alert this post ends (a resolve, or the old labels of a new
	 * severity) would be back until the re-post's endsAt, minutes later:
	 * post the ended alerts again once the re-posts are done.
	 */
	if (notify_util_poster_inflight(&am->reposter) > 0) {
		size_t	 i;
		json_t	*a;

		json_array_foreach(arr, i, a)
			if (i > 0 || ev->status != ALERT_FIRING)
				am_reend_later(am, a);
	}
	if ((body = json_dumps(arr, JSON_COMPACT)) == NULL)
		goto fail;
	json_decref(arr);
	json_decref(alert);
	if (notify_util_post(&am->poster, body, NULL, am_delivery_done,
	    d) == -1) {
		free(body);
		free(d);
		return -1;
	}
	free(body);
	return 0;
fail:
	free(d);
	json_decref(arr);
	json_decref(alert);
	return -1;
}

static void	am_reposter_idle(struct alertmanager *);

/* The poster was cancelled (stop, free): nothing to log or to post. */
static int
am_cancelled(enum notify_result r, const char *why)
{
	return r == NOTIFY_RETRY && why != NULL && strcmp(why, "stopped") == 0;
}

static void
am_reend_done(void *arg, enum notify_result r, const char *why)
{
	struct alertmanager	*am = arg;

	if (am_cancelled(r, why))
		return;
	if (r != NOTIFY_ACK)
		log_warnx("alertmanager %s: posting resolved alerts again "
		    "after a late re-post failed: %s; they may show as firing "
		    "until their endsAt", am->shown_url,
		    why != NULL ? why : "?");
	am_reposter_idle(am);
}

/* The re-posts are done (answered or failed): what ended meanwhile goes
 * again, through the reposter so that no new re-post overtakes it. */
static void
am_reposter_idle(struct alertmanager *am)
{
	struct am_entry	*e;
	const char	*fp;
	json_t		*a;
	char		*body;
	size_t		 i, n;

	if (am->reended == NULL ||
	    notify_util_poster_inflight(&am->reposter) > 0)
		return;
	/* One that fired again since, under the same labels, stays firing. */
	for (i = 0; i < json_array_size(am->reended); ) {
		a = json_array_get(am->reended, i);
		fp = json_string_value(json_object_get(json_object_get(a,
		    "annotations"), "fingerprint"));
		if (fp != NULL && (e = am_find(am, fp)) != NULL &&
		    json_equal(json_object_get(e->alert, "labels"),
		    json_object_get(a, "labels")))
			(void)json_array_remove(am->reended, i);
		else
			i++;
	}
	n = json_array_size(am->reended);
	body = n > 0 ? json_dumps(am->reended, JSON_COMPACT) : NULL;
	json_decref(am->reended);
	am->reended = NULL;
	if (n == 0)
		return;
	if (body == NULL) {
		log_warnx("alertmanager %s: out of memory posting resolved "
		    "alerts again", am->shown_url);
		return;
	}
	if (notify_util_post(&am->reposter, body, NULL, am_reend_done,
	    am) == -1)
		log_warnx("alertmanager %s: cannot post resolved alerts "
		    "again", am->shown_url);
	free(body);
}

static void
am_repost_done(void *arg, enum notify_result r, const char *why)
{
	struct alertmanager	*am = arg;
	time_t			 now = time(NULL);

	if (am_cancelled(r, why))
		return;
	am_reposter_idle(am);
	if (r == NOTIFY_ACK) {
		if (am->repost_failures > 0)
			log_info("alertmanager %s: re-posting firing alerts "
			    "works again after %lu failures", am->shown_url,
			    am->repost_failures);
		am->repost_failures = 0;
		am->complaint_s = 0;
		am->next_complaint = 0;
		return;
	}
	am->repost_failures++;
	if (now >= am->next_complaint) {
		log_warnx("alertmanager %s: re-posting %zu firing alerts "
		    "failed (%lu in a row): %s", am->shown_url, am->nfiring,
		    am->repost_failures, why != NULL ? why : "?");
		am->complaint_s = am->complaint_s == 0 ? 60 :
		    (am->complaint_s >= 3600 ? 3600 : am->complaint_s * 2);
		am->next_complaint = now + am->complaint_s;
	}
}

static void
am_repost(struct alertmanager *am)
{
	struct am_entry	*e;
	json_t		*arr = NULL, *copy;
	char		*body;
	time_t		 ends = time(NULL) + (time_t)(3 * am->repost_ms / 1000);
	size_t		 n = 0;

	TAILQ_FOREACH(e, &am->firing, entry) {
		if (arr == NULL && (arr = json_array()) == NULL)
			return;
		if ((copy = json_deep_copy(e->alert)) == NULL ||
		    am_set_ends(copy, ends) == -1 ||
		    json_array_append_new(arr, copy) == -1) {
			json_decref(arr);
			return;
		}
		if (++n < AM_BATCH && TAILQ_NEXT(e, entry) != NULL)
			continue;
		body = json_dumps(arr, JSON_COMPACT);
		json_decref(arr);
		arr = NULL;
		n = 0;
		if (body == NULL)
			return;
		if (notify_util_post(&am->reposter, body, NULL,
		    am_repost_done, am) == -1)
			am_repost_done(am, NOTIFY_RETRY, "cannot start request");
		free(body);
	}
	json_decref(arr);
}

static void
am_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct alertmanager	*am = arg;

	(void)fd;
	(void)what;
	/* A slow Alertmanager must not pile up re-posts. */
	if (TAILQ_EMPTY(&am->firing) ||
	    notify_util_poster_inflight(&am->reposter) > 0)
		return;
	am_repost(am);
}

static int
am_reserved_label(const char *name)
{
	const char * const *r;

	for (r = am_reserved; *r != NULL; r++)
		if (strcmp(*r, name) == 0)
			return 1;
	return 0;
}

static int
am_labels(const struct ynode *block, json_t **out, struct notify_conf *nc)
{
	const struct ynode	*n = ynode_get(block, "labels");
	const char		*p;
	size_t			 i;

	*out = NULL;
	if (n == NULL)
		return 0;
	if (n->type != YNODE_MAP) {
		notify_util_error(nc, n, "labels: expected a mapping "
		    "of label names to strings, not a %s",
		    ynode_type_name(n->type));
		return -1;
	}
	if ((*out = json_object()) == NULL) {
		notify_util_error(nc, block, "out of memory");
		return -1;
	}
	for (i = 0; i < n->nitems; i++) {
		const struct ynode *k = n->keys[i], *v = n->items[i];
		int ok = k->value[0] != '\0' &&
		    !isdigit((unsigned char)k->value[0]);

		for (p = k->value; *p != '\0'; p++)
			if (!isalnum((unsigned char)*p) && *p != '_')
				ok = 0;
		if (!ok || strncmp(k->value, "__", 2) == 0) {
			notify_util_error(nc, k, "labels: \"%.64s\" is "
			    "not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not "
			    "starting with __)", k->value);
			goto fail;
		}
		if (am_reserved_label(k->value)) {
			notify_util_error(nc, k, "labels: \"%s\" is set "
			    "by keyhealthd and cannot be overridden", k->value);
			goto fail;
		}
		if (v->type != YNODE_SCALAR || ynode_is_null(v) ||
		    v->valuelen == 0) {
			notify_util_error(nc, v, "labels: %s: expected "
			    "a non-empty string", k->value);
			goto fail;
		}
		if (json_object_set_new(*out, k->value,
		    json_stringn(v->value, v->valuelen)) == -1) {
			notify_util_error(nc, v, "labels: %s: not valid "
			    "UTF-8", k->value);
			goto fail;
		}
	}
	return 0;
fail:
	json_decref(*out);
	*out = NULL;
	return -1;
}

static void
am_free(void *arg)
{
	struct alertmanager	*am = arg;
	struct am_entry		*e;

	if (am == NULL)
		return;
	notify_util_poster_cancel(&am->poster);
	notify_util_poster_cancel(&am->reposter);
	if (am->timer != NULL)
		event_free(am->timer);
	while ((e = TAILQ_FIRST(&am->firing)) != NULL)
		am_remove(am, e);
	free(am->url);
	free(am->shown_url);
	free(am->generator_url);
	free(am->state_file);
	json_decref(am->labels);
	json_decref(am->reended);
	free(am->host);
	free(am);
}

/*
 * state_file: an absolute path, or a name under $STATE_DIRECTORY (the
 * first one, as systemd's StateDirectory= sets it); by default
 * alertmanager-NAME.json there, and nothing is saved without it.
 */
static int
am_state_file(const struct ynode *block, char **out,
    struct notify_conf *nc)
{
	const struct ynode	*n;
	const char		*file, *dir, *name = AM_TYPE, *p;
	size_t			 dirlen;

	*out = NULL;
	if (notify_util_string(block, AM_TYPE, "state_file", 0, &file,
	    nc) == -1)
		return -1;
	if (file != NULL && file[0] == '/') {
		if ((*out = strdup(file)) == NULL)
			goto nomem;
		return 0;
	}
	dir = getenv("STATE_DIRECTORY");
	if (dir == NULL || *dir == '\0' || *dir != '/') {
		if (file == NULL)
			return 0;
		n = ynode_get(block, "state_file");
		notify_util_error(nc, n, "state_file: \"%s\" is a "
		    "relative name but $STATE_DIRECTORY is not set (use an "
		    "absolute path)", file);
		return -1;
	}
	dirlen = (p = strchr(dir, ':')) != NULL ? (size_t)(p - dir) :
	    strlen(dir);
	if (file != NULL) {
		if (strstr(file, "..") != NULL) {
			n = ynode_get(block, "state_file");
			notify_util_error(nc, n, "state_file: a "
			    "relative name may not contain \"..\"");
			return -1;
		}
		if (asprintf(out, "%.*s/%s", (int)dirlen, dir, file) == -1)
			goto nomem;
		return 0;
	}
	if ((n = ynode_get(block, "name")) != NULL &&
	    n->type == YNODE_SCALAR && n->valuelen > 0 &&
	    strchr(n->value, '/') == NULL && strstr(n->value, "..") == NULL)
		name = n->value;
	if (asprintf(out, "%.*s/alertmanager-%s.json", (int)dirlen, dir,
	    name) == -1)
		goto nomem;
	return 0;
nomem:
	*out = NULL;
	notify_util_error(nc, block, "out of memory");
	return -1;
}

static int
am_configure(const struct ynode *block, void **state,
    struct notify_conf *nc)
{
	struct alertmanager	*am;
	const char		*url, *gen;
	size_t			 len;

	*state = NULL;
	if (notify_util_check_keys(block, AM_TYPE, am_options, nc) == -1)
		return -1;
	if ((am = calloc(1, sizeof(*am))) == NULL) {
		notify_util_error(nc, block, "out of memory");
		return -1;
	}
	TAILQ_INIT(&am->firing);
	notify_util_poster_init(&am->poster, NULL, NULL, NULL, 0);
	notify_util_poster_init(&am->reposter, NULL, NULL, NULL, 0);
	if (notify_util_string(block, AM_TYPE, "url", 1, &url, nc) == -1 ||
	    notify_util_check_url(block, "url", url, 0, nc) == -1)
		goto fail;
	if (notify_util_string(block, AM_TYPE, "generator_url", 0, &gen,
	    nc) == -1 || (gen != NULL && notify_util_check_url(block,
	    "generator_url", gen, 0, nc) == -1))
		goto fail;
	if (notify_util_duration(block, AM_TYPE, "repost_interval", 60000,
	    1000, 3600000, &am->repost_ms, nc) == -1)
		goto fail;
	if (notify_util_http_timeout(block, AM_TYPE, &am->timeout_ms,
	    nc) == -1)
		goto fail;
	if (am_labels(block, &am->labels, nc) == -1)
		goto fail;
	if (am_state_file(block, &am->state_file, nc) == -1)
		goto fail;
	/* The API base, or the full endpoint if that is what was given. */
	len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		len--;
	if (len >= strlen(AM_PATH) &&
	    strncmp(url + len - strlen(AM_PATH), AM_PATH, strlen(AM_PATH)) == 0)
		len -= strlen(AM_PATH);
	if (asprintf(&am->url, "%.*s%s", (int)len, url, AM_PATH) == -1) {
		am->url = NULL;
		notify_util_error(nc, block, "out of memory");
		goto fail;
	}
	if ((am->shown_url = endpoint_url_shown(am->url)) == NULL) {
		notify_util_error(nc, block, "out of memory");
		goto fail;
	}
	if (gen != NULL && (am->generator_url = strdup(gen)) == NULL) {
		notify_util_error(nc, block, "out of memory");
		goto fail;
	}
	*state = am;
	return 0;
fail:
	am_free(am);
	return -1;
}

static int
am_start(void *arg, const struct notify_env *env, char *err, size_t errlen)
{
	struct alertmanager	*am = arg;
	struct timeval		 tv;

	if (env == NULL || env->http == NULL || env->base == NULL) {
		(void)snprintf(err, errlen, "alertmanager notifier: no event "
		    "base or HTTP client");
		return -1;
	}
	free(am->host);
	am->host = NULL;
	if (env->hostname != NULL && (am->host = strdup(env->hostname)) ==
	    NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (am->timer != NULL)
		event_free(am->timer);
	if ((am->timer = event_new(env->base, -1, EV_PERSIST, am_timer_cb,
	    am)) == NULL) {
		(void)snprintf(err, errlen, "alertmanager notifier: cannot "
		    "create the re-post timer");
		return -1;
	}
	tv.tv_sec = (time_t)(am->repost_ms / 1000);
	tv.tv_usec = (suseconds_t)((am->repost_ms % 1000) * 1000);
	if (event_add(am->timer, &tv) == -1) {
		(void)snprintf(err, errlen, "alertmanager notifier: cannot "
		    "arm the re-post timer");
		return -1;
	}
	notify_util_poster_init(&am->poster, env->http, am->url, NULL,
	    (long)am->timeout_ms);
	notify_util_poster_init(&am->reposter, env->http, am->url, NULL,
	    (long)am->timeout_ms);
	am->started = 1;
	/* After a restart: tell Alertmanager at once what is still firing. */
	if (TAILQ_EMPTY(&am->firing))
		am_load(am);
	if (!TAILQ_EMPTY(&am->firing))
		event_active(am->timer, EV_TIMEOUT, 0);
	return 0;
}

static void
am_stop(void *arg)
{
	struct alertmanager	*am = arg;

	if (am->timer != NULL)
		event_del(am->timer);
	notify_util_poster_cancel(&am->poster);
	notify_util_poster_cancel(&am->reposter);
	am->started = 0;
}

const struct notify_ops notify_alertmanager_ops = {
	.type = AM_TYPE,
	.configure = am_configure,
	.start = am_start,
	.send = am_send,
	.stop = am_stop,
	.free = am_free,
};
