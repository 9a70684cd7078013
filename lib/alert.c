/*
 * Alerts: the (key, check) state machine, events and their JSON forms.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/random.h>

#include "alert.h"
#include "arn.h"
#include "catalog.h"
#include "errf.h"


enum alert_state {
	ALERT_PENDING,		/* seen, fewer than fire_after polls */
	ALERT_ACTIVE		/* firing was sent */
};

struct alert_entry {
	char		*key_arn;
	char		*check;
	char		 fingerprint[65];
	char		*key_name;
	char		*region;
	char		*account;
	enum alert_state state;
	enum severity	 severity;	/* the last one sent */
	enum severity	 peak;		/* the highest one sent */
	char		*summary;
	json_t		*details;
	unsigned int	 hits;		/* consecutive polls with it */
	unsigned int	 misses;	/* consecutive polls without it */
	time_t		 first_seen;
	time_t		 started_at;
	time_t		 last_sent;
};

struct alert_table {
	struct alert_policy	 pol;
	struct alert_entry	*v;
	size_t			 n;
	size_t			 cap;
	/*
	 * An index by key ARN, so that a poll's update costs the key's
	 * entries, not the table's (10,000 keys firing: 10^8 comparisons
	 * per sweep, on the loop): bucket heads and chains of positions in
	 * v, ALERT_NONE-terminated.  A removal shifts positions: the index
	 * is then stale and rebuilt by the next update (lookups scan v
	 * meanwhile).
	 */
	size_t			*head;
	size_t			*next;
	size_t			 nbuckets;	/* a power of two */
	size_t			 ncap;		/* next[] holds this many */
	int			 stale;
};

#define ALERT_NONE	((size_t)-1)

const char *
alert_status_name(enum alert_status s)
{
	return s == ALERT_RESOLVED ? "resolved" : "firing";
}

int
alert_status_parse(const char *name, enum alert_status *out)
{
	if (strcmp(name, "firing") == 0)
		*out = ALERT_FIRING;
	else if (strcmp(name, "resolved") == 0)
		*out = ALERT_RESOLVED;
	else
		return -1;
	return 0;
}

void
alert_fingerprint(const char *key_arn, const char *check, char out[65])
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0, i;
	EVP_MD_CTX		*ctx;

	out[0] = '\0';
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, key_arn, strlen(key_arn)) == 1 &&
	    EVP_DigestUpdate(ctx, "\n", 1) == 1 &&
	    EVP_DigestUpdate(ctx, check, strlen(check)) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32) {
		for (i = 0; i < mdlen; i++) {
			out[2 * i] = hex[md[i] >> 4];
			out[2 * i + 1] = hex[md[i] & 0xf];
		}
		out[2 * mdlen] = '\0';
	}
	EVP_MD_CTX_free(ctx);
}

void
alert_event_new_id(char out[40])
{
	unsigned char	b[16];

	if (RAND_bytes(b, sizeof(b)) != 1 &&
	    getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		/* Unique enough as an idempotency key when both fail. */
		struct timespec	ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		memset(b, 0, sizeof(b));
		memcpy(b, &ts, sizeof(ts) < sizeof(b) ? sizeof(ts) : sizeof(b));
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	(void)snprintf(out, 40,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
	    b[10], b[11], b[12], b[13], b[14], b[15]);
}

void
alert_event_clear(struct alert_event *ev)
{
	if (ev == NULL)
		return;
	free(ev->check);
	free(ev->key_arn);
	free(ev->key_name);
	free(ev->region);
	free(ev->account);
	free(ev->summary);
	json_decref(ev->details);
	memset(ev, 0, sizeof(*ev));
}

void
alert_event_free(struct alert_event *ev)
{
	if (ev == NULL)
		return;
	alert_event_clear(ev);
	free(ev);
}

static int
alert_dup(char **dst, const char *src)
{
	if (src == NULL) {
		*dst = NULL;
		return 0;
	}
	return (*dst = strdup(src)) == NULL ? -1 : 0;
}

int
alert_event_copy(struct alert_event *dst, const struct alert_event *src)
{
	memset(dst, 0, sizeof(*dst));
	memcpy(dst->id, src->id, sizeof(dst->id));
	memcpy(dst->fingerprint, src->fingerprint, sizeof(dst->fingerprint));
	dst->status = src->status;
	dst->severity = src->severity;
	dst->started_at = src->started_at;
	dst->ended_at = src->ended_at;
	if (alert_dup(&dst->check, src->check) == -1 ||
	    alert_dup(&dst->key_arn, src->key_arn) == -1 ||
	    alert_dup(&dst->key_name, src->key_name) == -1 ||
	    alert_dup(&dst->region, src->region) == -1 ||
	    alert_dup(&dst->account, src->account) == -1 ||
	    alert_dup(&dst->summary, src->summary) == -1)
		goto fail;
	if (src->details != NULL &&
	    (dst->details = json_deep_copy(src->details)) == NULL)
		goto fail;
	return 0;
fail:
	alert_event_clear(dst);
	return -1;
}

char *
alert_time_rfc3339(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (gmtime_r(&t, &tm) == NULL)
		return buf;
	if (strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
	return buf;
}

/* json_string() that maps NULL to JSON null. */
static json_t *
alert_jstr(const char *s)
{
	return s == NULL ? json_null() : json_string(s);
}

json_t *
alert_event_to_json(const struct alert_event *ev)
{
	json_t	*j;

	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:o, s:o, s:o, s:o}, "
	    "s:o, s:o, s:I, s:I}",
	    "id", ev->id,
	    "fingerprint", ev->fingerprint,
	    "status", alert_status_name(ev->status),
	    "check", ev->check != NULL ? ev->check : "",
	    "severity", severity_name(ev->severity),
	    "key",
	    "arn", alert_jstr(ev->key_arn),
	    "name", alert_jstr(ev->key_name),
	    "region", alert_jstr(ev->region),
	    "account", alert_jstr(ev->account),
	    "summary", alert_jstr(ev->summary),
	    "details", ev->details != NULL ? json_incref(ev->details) :
	    json_object(),
	    "started_at", (json_int_t)ev->started_at,
	    "ended_at", (json_int_t)ev->ended_at);
	return j;
}

/* A string member or NULL (absent/null); -1 for another type. */
static int
alert_jget_str(const json_t *o, const char *name, char **out, int required,
    char *err, size_t errlen)
{
	json_t	*v = json_object_get(o, name);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required) {
			errf(err, errlen, "event: missing \"%s\"", name);
			return -1;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		errf(err, errlen, "event: \"%s\" is not a string", name);
		return -1;
	}
	if ((*out = strdup(json_string_value(v))) == NULL) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
alert_event_from_json(const json_t *j, struct alert_event *ev, char *err,
    size_t errlen)
{
	json_t		*v, *key;
	char		*s = NULL;

	memset(ev, 0, sizeof(*ev));
	if (!json_is_object(j)) {
		errf(err, errlen, "event: not a JSON object");
		return -1;
	}
	if (alert_jget_str(j, "id", &s, 1, err, errlen) == -1)
		goto fail;
	if (strlen(s) >= sizeof(ev->id) || s[0] == '\0') {
		errf(err, errlen, "event: bad \"id\"");
		goto fail;
	}
	memcpy(ev->id, s, strlen(s) + 1);
	free(s);
	s = NULL;
	if (alert_jget_str(j, "fingerprint", &s, 1, err, errlen) == -1)
		goto fail;
	if (strlen(s) != 64) {
		errf(err, errlen, "event: bad \"fingerprint\"");
		goto fail;
	}
	memcpy(ev->fingerprint, s, 65);
	free(s);
	s = NULL;
	if (alert_jget_str(j, "status", &s, 1, err, errlen) == -1)
		goto fail;
	if (alert_status_parse(s, &ev->status) == -1) {
		errf(err, errlen, "event: bad \"status\"");
		goto fail;
	}
	free(s);
	s = NULL;
	if (alert_jget_str(j, "severity", &s, 1, err, errlen) == -1)
		goto fail;
	if (severity_parse(s, &ev->severity) == -1) {
		errf(err, errlen, "event: bad \"severity\"");
		goto fail;
	}
	free(s);
	s = NULL;
	if (alert_jget_str(j, "check", &ev->check, 1, err, errlen) == -1 ||
	    alert_jget_str(j, "summary", &ev->summary, 0, err, errlen) == -1)
		goto fail;
	key = json_object_get(j, "key");
	if (!json_is_object(key)) {
		errf(err, errlen, "event: missing \"key\" object");
		goto fail;
	}
	if (alert_jget_str(key, "arn", &ev->key_arn, 1, err, errlen) == -1 ||
	    alert_jget_str(key, "name", &ev->key_name, 0, err, errlen) == -1 ||
	    alert_jget_str(key, "region", &ev->region, 0, err, errlen) == -1 ||
	    alert_jget_str(key, "account", &ev->account, 0, err,
	    errlen) == -1)
		goto fail;
	v = json_object_get(j, "details");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_object(v)) {
			errf(err, errlen, "event: \"details\" is not "
			    "an object");
			goto fail;
		}
		ev->details = json_deep_copy(v);
	} else
		ev->details = json_object();
	if (ev->details == NULL) {
		errf(err, errlen, "out of memory");
		goto fail;
	}
	v = json_object_get(j, "started_at");
	if (v != NULL && !json_is_integer(v)) {
		errf(err, errlen, "event: bad \"started_at\"");
		goto fail;
	}
	ev->started_at = v != NULL ? (time_t)json_integer_value(v) : 0;
	v = json_object_get(j, "ended_at");
	if (v != NULL && !json_is_integer(v) && !json_is_null(v)) {
		errf(err, errlen, "event: bad \"ended_at\"");
		goto fail;
	}
	ev->ended_at = json_is_integer(v) ? (time_t)json_integer_value(v) : 0;
	return 0;
fail:
	free(s);
	alert_event_clear(ev);
	return -1;
}

json_t *
alert_event_payload(const struct alert_event *ev, const char *host,
    const char *source, time_t sent_at)
{
	char	 started[32], ended[32], sent[32];
	json_t	*ended_j;

	alert_time_rfc3339(ev->started_at, started, sizeof(started));
	alert_time_rfc3339(sent_at, sent, sizeof(sent));
	if (ev->status == ALERT_RESOLVED && ev->ended_at != 0)
		ended_j = json_string(alert_time_rfc3339(ev->ended_at, ended,
		    sizeof(ended)));
	else
		ended_j = json_null();
	return json_pack("{s:i, s:s, s:s, s:s, s:{s:o, s:o, s:o, s:o}, "
	    "s:o, s:o, s:s, s:s, s:o, s:s, s:o, s:o}",
	    "version", 1,
	    "status", alert_status_name(ev->status),
	    "check", ev->check != NULL ? ev->check : "",
	    "severity", severity_name(ev->severity),
	    "key",
	    "arn", alert_jstr(ev->key_arn),
	    "name", alert_jstr(ev->key_name),
	    "region", alert_jstr(ev->region),
	    "account", alert_jstr(ev->account),
	    "summary", json_string(ev->summary != NULL ? ev->summary : ""),
	    "details", ev->details != NULL ? json_deep_copy(ev->details) :
	    json_object(),
	    "fingerprint", ev->fingerprint,
	    "started_at", started,
	    "ended_at", ended_j,
	    "sent_at", sent,
	    "host", alert_jstr(host),
	    "source", alert_jstr(source));
}

void
alert_events_clear(struct alert_events *evs)
{
	size_t	i;

	for (i = 0; i < evs->n; i++)
		alert_event_clear(&evs->v[i]);
	free(evs->v);
	memset(evs, 0, sizeof(*evs));
}

/* The state machine. */

static void
alert_policy_fix(struct alert_policy *p, const struct alert_policy *in)
{
	if (in == NULL) {
		p->renotify = ALERT_DEFAULT_RENOTIFY;
		p->fire_after = ALERT_DEFAULT_FIRE_AFTER;
		p->resolve_after = ALERT_DEFAULT_RESOLVE_AFTER;
		return;
	}
	*p = *in;
	if (p->fire_after == 0)
		p->fire_after = 1;
	if (p->resolve_after == 0)
		p->resolve_after = 1;
	if (p->renotify < 0)
		p->renotify = 0;
}

struct alert_table *
alert_table_new(const struct alert_policy *pol)
{
	struct alert_table	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	alert_policy_fix(&t->pol, pol);
	return t;
}

static void
alert_entry_clear(struct alert_entry *e)
{
	free(e->key_arn);
	free(e->check);
	free(e->key_name);
	free(e->region);
	free(e->account);
	free(e->summary);
	json_decref(e->details);
	memset(e, 0, sizeof(*e));
}

void
alert_table_free(struct alert_table *t)
{
	size_t	i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		alert_entry_clear(&t->v[i]);
	free(t->v);
	free(t->head);
	free(t->next);
	free(t);
}

static size_t
alert_bucket(const struct alert_table *t, const char *arn)
{
	uint32_t	h = 2166136261u;

	for (; *arn != '\0'; arn++)
		h = (h ^ (unsigned char)*arn) * 16777619u;
	return h & (t->nbuckets - 1);
}

/* Makes the index current; on failure it stays stale (scans instead). */
static void
alert_index(struct alert_table *t)
{
	size_t	nb = 16, i, b, *head, *next;

	if (!t->stale && t->head != NULL)
		return;
	while (nb < t->cap * 2)
		nb *= 2;
	if ((head = reallocarray(t->head, nb, sizeof(*head))) == NULL)
		return;
	t->head = head;
	if ((next = reallocarray(t->next, t->cap ? t->cap : 1,
	    sizeof(*next))) == NULL)
		return;
	t->next = next;
	t->nbuckets = nb;
	t->ncap = t->cap;
	for (b = 0; b < nb; b++)
		head[b] = ALERT_NONE;
	for (i = 0; i < t->n; i++) {
		b = alert_bucket(t, t->v[i].key_arn);
		next[i] = head[b];
		head[b] = i;
	}
	t->stale = 0;
}

/* Positions of key_arn's entries, ascending, into a new array *out of *n
 * (the caller frees it).  0 or -1 (out of memory). */
static int
alert_key_entries(struct alert_table *t, const char *key_arn, size_t **out,
    size_t *n)
{
	size_t	i, k, j, *v = NULL, *nv, cap = 0;

	*out = NULL;
	*n = 0;
	alert_index(t);
	if (t->stale || t->head == NULL) {
		k = 0;
		i = 0;
	} else {
		k = 1;
		i = t->head[alert_bucket(t, key_arn)];
	}
	for (;;) {
		if (k == 0 && i >= t->n)
			break;
		if (k == 1 && i == ALERT_NONE)
			break;
		if (strcmp(t->v[i].key_arn, key_arn) == 0) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 8;
				if ((nv = reallocarray(v, cap,
				    sizeof(*v))) == NULL) {
					free(v);
					*n = 0;
					return -1;
				}
				v = nv;
			}
			/* Chains run newest first: keep them ascending. */
			for (j = *n; j > 0 && v[j - 1] > i; j--)
				v[j] = v[j - 1];
			v[j] = i;
			(*n)++;
		}
		i = k == 0 ? i + 1 : t->next[i];
	}
	*out = v;
	return 0;
}

void
alert_table_set_policy(struct alert_table *t, const struct alert_policy *pol)
{
	alert_policy_fix(&t->pol, pol);
}

static struct alert_entry *
alert_table_find(const struct alert_table *t, const char *arn,
    const char *check)
{
	size_t	i;

	if (!t->stale && t->head != NULL) {
		for (i = t->head[alert_bucket(t, arn)]; i != ALERT_NONE;
		    i = t->next[i])
			if (strcmp(t->v[i].key_arn, arn) == 0 &&
			    strcmp(t->v[i].check, check) == 0)
				return &t->v[i];
		return NULL;
	}
	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].key_arn, arn) == 0 &&
		    strcmp(t->v[i].check, check) == 0)
			return &t->v[i];
	return NULL;
}

static void
alert_table_remove(struct alert_table *t, size_t i)
{
	alert_entry_clear(&t->v[i]);
	memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(t->v[0]));
	t->n--;
	t->stale = 1;
}

static struct alert_entry *
alert_table_add(struct alert_table *t, const char *arn, const char *check)
{
	struct alert_entry	*e, *v;

	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;

		if ((v = reallocarray(t->v, ncap, sizeof(*v))) == NULL)
			return NULL;
		t->v = v;
		t->cap = ncap;
	}
	e = &t->v[t->n];
	memset(e, 0, sizeof(*e));
	if ((e->key_arn = strdup(arn)) == NULL ||
	    (e->check = strdup(check)) == NULL) {
		free(e->key_arn);
		free(e->check);
		return NULL;
	}
	alert_fingerprint(arn, check, e->fingerprint);
	t->n++;
	if (!t->stale && t->head != NULL && t->n <= t->ncap &&
	    t->n * 2 <= t->nbuckets) {
		size_t b = alert_bucket(t, arn);

		t->next[t->n - 1] = t->head[b];
		t->head[b] = t->n - 1;
	} else {
		/* Grown (or stale): rebuilt, amortised by the doubling. */
		t->stale = 1;
		alert_index(t);
	}
	return &t->v[t->n - 1];
}

/* Replaces *dst with a copy of src unless equal; 0 or -1. */
static int
alert_set_str(char **dst, const char *src)
{
	char	*s;

	if (src == NULL) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if (*dst != NULL && strcmp(*dst, src) == 0)
		return 0;
	if ((s = strdup(src)) == NULL)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

/* The key's description into e; name, region and account may be NULL:
 * the key id (keyid_name()), region and account from the ARN. */
static int
alert_entry_set_key(struct alert_entry *e, const struct keyid *key)
{
	struct arn	 a;
	const char	*name = key->name, *region = key->region;
	const char	*account = key->account;
	char		 err[128];

	if (name == NULL)
		name = keyid_name(key);
	if ((region == NULL || account == NULL) &&
	    arn_parse(key->arn, &a, err, sizeof(err)) == 0) {
		if (region == NULL)
			region = a.region;
		if (account == NULL)
			account = a.account;
	}
	if (alert_set_str(&e->key_name, name) == -1 ||
	    alert_set_str(&e->region, region) == -1 ||
	    alert_set_str(&e->account, account) == -1)
		return -1;
	return 0;
}

static int
alert_emit(struct alert_events *out, const struct alert_entry *e,
    enum alert_status status, enum severity sev, time_t ended_at)
{
	struct alert_event	*ev, *v;

	if (out->n == out->cap) {
		size_t ncap = out->cap ? out->cap * 2 : 8;

		if ((v = reallocarray(out->v, ncap, sizeof(*v))) == NULL)
			return -1;
		out->v = v;
		out->cap = ncap;
	}
	ev = &out->v[out->n];
	memset(ev, 0, sizeof(*ev));
	alert_event_new_id(ev->id);
	memcpy(ev->fingerprint, e->fingerprint, sizeof(ev->fingerprint));
	ev->status = status;
	ev->severity = sev;
	ev->started_at = e->started_at;
	ev->ended_at = ended_at;
	if (alert_dup(&ev->check, e->check) == -1 ||
	    alert_dup(&ev->key_arn, e->key_arn) == -1 ||
	    alert_dup(&ev->key_name, e->key_name) == -1 ||
	    alert_dup(&ev->region, e->region) == -1 ||
	    alert_dup(&ev->account, e->account) == -1 ||
	    alert_dup(&ev->summary, e->summary) == -1 ||
	    (ev->details = e->details != NULL ? json_deep_copy(e->details) :
	    json_object()) == NULL) {
		alert_event_clear(ev);
		return -1;
	}
	out->n++;
	return 0;
}

static int
alert_fire(struct alert_table *t, struct alert_entry *e, enum severity sev,
    time_t now, struct alert_events *out)
{
	(void)t;
	e->severity = sev;
	if (sev > e->peak)
		e->peak = sev;
	e->last_sent = now;
	return alert_emit(out, e, ALERT_FIRING, sev, 0);
}

int
alert_table_update(struct alert_table *t, const struct keyid *key,
    const struct findings *fs, time_t now, struct alert_events *out,
    char *err, size_t errlen)
{
	const struct finding	*f;
	struct alert_entry	*e;
	int			 failed, gone, rc = 0;
	size_t			 i, j, nmine, *mine;

	failed = (f = findings_get(fs, CHECK_CHECK_FAILED)) != NULL &&
	    f->severity != SEV_OK;
	for (i = 0; i < fs->n; i++) {
		f = &fs->v[i];
		if (f->severity == SEV_OK || f->check == NULL)
			continue;
		if ((e = alert_table_find(t, key->arn, f->check)) == NULL) {
			if ((e = alert_table_add(t, key->arn,
			    f->check)) == NULL)
				goto oom;
			e->state = ALERT_PENDING;
			e->first_seen = now;
		}
		if (alert_entry_set_key(e, key) == -1 ||
		    alert_set_str(&e->summary, f->summary) == -1)
			goto oom;
		if (f->details != NULL) {
			json_decref(e->details);
			e->details = json_deep_copy(f->details);
		}
		e->misses = 0;
		if (e->hits < UINT32_MAX)
			e->hits++;
		if (e->state == ALERT_PENDING) {
			if (e->hits >= t->pol.fire_after) {
				e->state = ALERT_ACTIVE;
				e->started_at = e->first_seen;
				e->peak = f->severity;
				if (alert_fire(t, e, f->severity, now,
				    out) == -1)
					goto oom;
			} else
				e->severity = f->severity;
		} else if (f->severity != e->severity) {
			if (alert_fire(t, e, f->severity, now, out) == -1)
				goto oom;
		} else if (t->pol.renotify > 0 &&
		    now - e->last_sent >= t->pol.renotify) {
			if (alert_fire(t, e, f->severity, now, out) == -1)
				goto oom;
		}
	}
	/* The key's entries without a finding in this poll; the ones that
	 * go are removed last, highest position first (a removal shifts
	 * the later ones). */
	if (alert_key_entries(t, key->arn, &mine, &nmine) == -1)
		goto oom;
	for (j = 0; j < nmine; j++) {
		e = &t->v[mine[j]];
		gone = 0;
		/* Still found; or the key could not be evaluated: no news
		 * about the rest. */
		if (findings_get(fs, e->check) != NULL || (failed &&
		    strcmp(e->check, CHECK_CHECK_FAILED) != 0)) {
			mine[j] = ALERT_NONE;
			continue;
		}
		e->hits = 0;
		if (e->misses < UINT32_MAX)
			e->misses++;
		if (e->state == ALERT_PENDING)
			gone = 1;
		else if (e->misses >= t->pol.resolve_after) {
			if (alert_emit(out, e, ALERT_RESOLVED, e->peak,
			    now) == -1) {
				free(mine);
				goto oom;
			}
			gone = 1;
		}
		if (!gone)
			mine[j] = ALERT_NONE;
	}
	for (j = nmine; j > 0; j--)
		if (mine[j - 1] != ALERT_NONE)
			alert_table_remove(t, mine[j - 1]);
	free(mine);
	return rc;
oom:
	errf(err, errlen, "alert table: out of memory");
	return -1;
}

int
alert_table_forget_key(struct alert_table *t, const char *key_arn,
    time_t now, struct alert_events *out)
{
	struct alert_entry	*e;
	size_t			 j, nmine, *mine;
	int			 rc = 0;

	if (alert_key_entries(t, key_arn, &mine, &nmine) == -1)
		return -1;
	for (j = 0; j < nmine; j++) {
		e = &t->v[mine[j]];
		if (e->state == ALERT_ACTIVE &&
		    alert_emit(out, e, ALERT_RESOLVED, e->peak, now) == -1)
			rc = -1;
	}
	for (j = nmine; j > 0; j--)
		alert_table_remove(t, mine[j - 1]);
	free(mine);
	return rc;
}

int
alert_table_forget_keys(struct alert_table *t,
    int (*keep)(void *, const char *), void *arg, time_t now,
    struct alert_events *out, size_t *nforgot)
{
	size_t	 i = 0;
	char	*arn;
	int	 rc = 0;

	*nforgot = 0;
	while (i < t->n) {
		if (keep(arg, t->v[i].key_arn)) {
			i++;
			continue;
		}
		/* Every entry of the key goes at once, this one included:
		 * i is then the next key's (entries before i are kept). */
		if ((arn = strdup(t->v[i].key_arn)) == NULL)
			return -1;
		if (alert_table_forget_key(t, arn, now, out) == -1)
			rc = -1;
		free(arn);
		(*nforgot)++;
	}
	return rc;
}

/* The episode, key description, summary and details of ev into e. */
static int
alert_entry_from_event(const struct alert_table *t, struct alert_entry *e,
    const struct alert_event *ev, time_t queued_at)
{
	struct keyid		key;

	memset(&key, 0, sizeof(key));
	key.arn = ev->key_arn;
	key.name = ev->key_name;
	key.region = ev->region;
	key.account = ev->account;
	if (alert_entry_set_key(e, &key) == -1 ||
	    alert_set_str(&e->summary, ev->summary) == -1)
		return -1;
	if (ev->details != NULL) {
		json_decref(e->details);
		if ((e->details = json_deep_copy(ev->details)) == NULL)
			return -1;
	}
	if (e->state != ALERT_ACTIVE || e->started_at != ev->started_at) {
		e->state = ALERT_ACTIVE;
		e->first_seen = ev->started_at;
		e->started_at = ev->started_at;
		e->peak = ev->severity;
		e->hits = t->pol.fire_after;
		e->misses = 0;
	} else if (ev->severity > e->peak)
		e->peak = ev->severity;
	e->severity = ev->severity;
	if (queued_at > e->last_sent)
		e->last_sent = queued_at;
	return 0;
}

int
alert_table_replay(struct alert_table *t, const struct alert_event *ev,
    time_t queued_at)
{
	struct alert_entry	*e;
	size_t			 i;

	if (ev->key_arn == NULL || ev->check == NULL)
		return 0;
	e = alert_table_find(t, ev->key_arn, ev->check);
	if (ev->status == ALERT_RESOLVED) {
		/* Its episode, or an older one, is over. */
		if (e == NULL || e->state != ALERT_ACTIVE ||
		    e->started_at > ev->started_at)
			return 0;
		i = (size_t)(e - t->v);
		alert_table_remove(t, i);
		return 1;
	}
	if (e != NULL && e->state == ALERT_ACTIVE &&
	    (e->started_at > ev->started_at ||
	    (e->started_at == ev->started_at && e->last_sent >= queued_at)))
		return 0;	/* the table already knows as much */
	if (e == NULL && (e = alert_table_add(t, ev->key_arn,
	    ev->check)) == NULL)
		return -1;
	if (alert_entry_from_event(t, e, ev, queued_at) == -1)
		return -1;
	return 1;
}

size_t
alert_table_size(const struct alert_table *t)
{
	return t->n;
}

size_t
alert_table_firing(const struct alert_table *t)
{
	size_t	i, n = 0;

	for (i = 0; i < t->n; i++)
		if (t->v[i].state == ALERT_ACTIVE)
			n++;
	return n;
}

int
alert_table_is_firing(const struct alert_table *t, const char *key_arn,
    const char *check)
{
	struct alert_entry	*e = alert_table_find(t, key_arn, check);

	return e != NULL && e->state == ALERT_ACTIVE;
}

json_t *
alert_table_to_json(const struct alert_table *t)
{
	const struct alert_entry	*e;
	json_t				*arr, *o;
	size_t				 i;

	if ((arr = json_array()) == NULL)
		return NULL;
	for (i = 0; i < t->n; i++) {
		e = &t->v[i];
		o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:s, "
		    "s:o, s:o, s:I, s:I, s:I, s:I, s:I}",
		    "key_arn", e->key_arn,
		    "check", e->check,
		    "fingerprint", e->fingerprint,
		    "key_name", alert_jstr(e->key_name),
		    "region", alert_jstr(e->region),
		    "account", alert_jstr(e->account),
		    "state", e->state == ALERT_ACTIVE ? "firing" : "pending",
		    "severity", severity_name(e->severity),
		    "peak", severity_name(e->peak),
		    "summary", alert_jstr(e->summary),
		    "details", e->details != NULL ? json_incref(e->details) :
		    json_object(),
		    "hits", (json_int_t)e->hits,
		    "misses", (json_int_t)e->misses,
		    "first_seen", (json_int_t)e->first_seen,
		    "started_at", (json_int_t)e->started_at,
		    "last_sent", (json_int_t)e->last_sent);
		if (o == NULL || json_array_append_new(arr, o) == -1) {
			json_decref(arr);
			return NULL;
		}
	}
	return json_pack("{s:i, s:o}", "version", 1, "alerts", arr);
}

static int
alert_jget_uint(const json_t *o, const char *name, json_int_t *out)
{
	json_t	*v = json_object_get(o, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

struct alert_table *
alert_table_from_json(const json_t *j, const struct alert_policy *pol,
    char *err, size_t errlen)
{
	struct alert_table	*t;
	struct alert_entry	*e;
	json_t			*arr, *o, *v;
	const char		*arn, *check, *state, *sev, *peak;
	json_int_t		 hits, misses, first, started, last;
	size_t			 i;

	if (!json_is_object(j) ||
	    !json_is_integer(json_object_get(j, "version")) ||
	    json_integer_value(json_object_get(j, "version")) != 1 ||
	    !json_is_array(arr = json_object_get(j, "alerts"))) {
		errf(err, errlen, "alert state: not a version 1 "
		    "{\"alerts\": [...]} object");
		return NULL;
	}
	if ((t = alert_table_new(pol)) == NULL) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	json_array_foreach(arr, i, o) {
		arn = json_string_value(json_object_get(o, "key_arn"));
		check = json_string_value(json_object_get(o, "check"));
		state = json_string_value(json_object_get(o, "state"));
		sev = json_string_value(json_object_get(o, "severity"));
		peak = json_string_value(json_object_get(o, "peak"));
		if (arn == NULL || check == NULL || state == NULL ||
		    sev == NULL || alert_jget_uint(o, "hits", &hits) == -1 ||
		    alert_jget_uint(o, "misses", &misses) == -1 ||
		    alert_jget_uint(o, "first_seen", &first) == -1 ||
		    alert_jget_uint(o, "started_at", &started) == -1 ||
		    alert_jget_uint(o, "last_sent", &last) == -1) {
			errf(err, errlen, "alert state: entry %zu: "
			    "missing or mistyped member", i);
			goto fail;
		}
		if (alert_table_find(t, arn, check) != NULL) {
			errf(err, errlen, "alert state: entry %zu: "
			    "duplicate", i);
			goto fail;
		}
		if ((e = alert_table_add(t, arn, check)) == NULL) {
			errf(err, errlen, "out of memory");
			goto fail;
		}
		if (strcmp(state, "firing") == 0)
			e->state = ALERT_ACTIVE;
		else if (strcmp(state, "pending") == 0)
			e->state = ALERT_PENDING;
		else {
			errf(err, errlen, "alert state: entry %zu: "
			    "bad state \"%s\"", i, state);
			goto fail;
		}
		if (severity_parse(sev, &e->severity) == -1 ||
		    (peak != NULL && severity_parse(peak, &e->peak) == -1)) {
			errf(err, errlen, "alert state: entry %zu: "
			    "bad severity", i);
			goto fail;
		}
		if (peak == NULL)
			e->peak = e->severity;
		e->hits = hits > UINT32_MAX ? UINT32_MAX : (unsigned)hits;
		e->misses = misses > UINT32_MAX ? UINT32_MAX :
		    (unsigned)misses;
		e->first_seen = (time_t)first;
		e->started_at = (time_t)started;
		e->last_sent = (time_t)last;
		if (alert_set_str(&e->key_name, json_string_value(
		    json_object_get(o, "key_name"))) == -1 ||
		    alert_set_str(&e->region, json_string_value(
		    json_object_get(o, "region"))) == -1 ||
		    alert_set_str(&e->account, json_string_value(
		    json_object_get(o, "account"))) == -1 ||
		    alert_set_str(&e->summary, json_string_value(
		    json_object_get(o, "summary"))) == -1) {
			errf(err, errlen, "out of memory");
			goto fail;
		}
		v = json_object_get(o, "details");
		e->details = json_is_object(v) ? json_deep_copy(v) :
		    json_object();
	}
	return t;
fail:
	alert_table_free(t);
	return NULL;
}
