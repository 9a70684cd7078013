/*
 * key-unused: GetKeyLastUsage judged against expect_use_within (see
 * check_usage.h).  Pure, like the rest of lib/check.
 *
 * The API reference reads an answer three ways: KeyLastUsage present,
 * the key was used since TrackingStartDate; absent and KeyCreationDate
 * on or after TrackingStartDate, never used since its creation; absent
 * and created before, no use recorded since tracking began, but perhaps
 * before it.  The last says nothing about the window while tracking is
 * younger than the window: that is "unknown", never an alarm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "check_usage.h"
#include "duration.h"

static void
check_usage_strcpy(char *dst, size_t len, const char *src)
{
	size_t	i;

	if (src == NULL) {
		dst[0] = '\0';
		return;
	}
	/* Ids and operation names are printable ASCII; anything else from
	 * the network is not copied into a summary as is. */
	for (i = 0; i + 1 < len && src[i] != '\0'; i++)
		dst[i] = (src[i] > 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

void
check_usage_free(struct key_usage *u)
{
	if (u == NULL)
		return;
	free(u->err);
	free(u);
}

struct key_usage *
check_usage_dup(const struct key_usage *u)
{
	struct key_usage	*d;

	if ((d = malloc(sizeof(*d))) == NULL)
		return NULL;
	*d = *u;
	if (u->err != NULL && (d->err = malloc(sizeof(*d->err))) == NULL) {
		free(d);
		return NULL;
	}
	if (u->err != NULL)
		*d->err = *u->err;
	return d;
}

struct key_usage *
check_usage_new(const struct kms_key_usage *a, const struct kms_error *err,
    time_t at, double skew)
{
	struct key_usage	*u;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->fetched_at = at;
	u->skew = skew;
	if (err != NULL && err->cls != KMS_OK) {
		if ((u->err = malloc(sizeof(*u->err))) == NULL) {
			free(u);
			return NULL;
		}
		*u->err = *err;
		return u;
	}
	if (a == NULL)
		return u;
	u->used = a->used;
	u->last_used = a->timestamp;
	u->tracking_start = a->tracking_start;
	u->key_creation = a->key_creation;
	check_usage_strcpy(u->operation, sizeof(u->operation), a->operation);
	check_usage_strcpy(u->event_id, sizeof(u->event_id),
	    a->cloudtrail_event_id);
	check_usage_strcpy(u->request_id, sizeof(u->request_id),
	    a->request_id);
	return u;
}

enum check_usage_verdict
check_usage_judge(const struct key_usage *u, double created, long window,
    time_t now, double *since)
{
	double	from, t = (double)now + u->skew;

	if (since != NULL)
		*since = 0;
	if (u->used)
		from = u->last_used;
	else if (created > 0 && u->tracking_start > 0)
		from = created >= u->tracking_start ? created :
		    u->tracking_start;
	else
		return CHECK_USAGE_UNKNOWN;
	if (since != NULL)
		*since = from;
	if (t - from <= (double)window)
		return u->used ? CHECK_USAGE_RECENT : CHECK_USAGE_UNKNOWN;
	if (u->used)
		return CHECK_USAGE_STALE;
	return created >= u->tracking_start ? CHECK_USAGE_NEVER :
	    CHECK_USAGE_NONE_SINCE;
}

const char *
check_usage_verdict_name(enum check_usage_verdict v)
{
	switch (v) {
	case CHECK_USAGE_RECENT:	return "recent";
	case CHECK_USAGE_STALE:		return "stale";
	case CHECK_USAGE_NEVER:		return "never-used";
	case CHECK_USAGE_NONE_SINCE:	return "no-use-since-tracking";
	case CHECK_USAGE_UNKNOWN:	return "unknown";
	}
	return "unknown";
}

/* An age for people: to the nearest minute once it is over an hour. */
static const char *
check_usage_age(double secs, char *buf, size_t len)
{
	long	s = secs > 0 ? (long)(secs + 0.5) : 0;

	if (s >= 3600)
		s = (s + 30) / 60 * 60;
	return duration_format(s, buf, len);
}

/* t as RFC 3339 into buf, or NULL when there is none. */
static const char *
check_usage_when(double t, char *buf, size_t len)
{
	if (t <= 0)
		return NULL;
	check_rfc3339((time_t)t, buf, len);
	return buf[0] != '\0' ? buf : NULL;
}

json_t *
check_usage_json(const struct key_usage *u, double created, long window,
    time_t now)
{
	char	w1[32], w2[32], w3[32], w4[32], win[32];

	return json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, "
	    "s:s}", "verdict", check_usage_verdict_name(check_usage_judge(u,
	    created, window, now, NULL)), "last_used_at", u->used ?
	    check_usage_when(u->last_used, w1, sizeof(w1)) : NULL,
	    "operation", u->operation[0] != '\0' ? u->operation : NULL,
	    "cloudtrail_event_id", u->event_id[0] != '\0' ? u->event_id :
	    NULL, "kms_request_id", u->request_id[0] != '\0' ?
	    u->request_id : NULL, "tracking_start_date",
	    check_usage_when(u->tracking_start, w2, sizeof(w2)),
	    "key_creation_date", check_usage_when(created, w3, sizeof(w3)),
	    "fetched_at", check_usage_when((double)u->fetched_at, w4,
	    sizeof(w4)), "expect_use_within", duration_format(window, win,
	    sizeof(win)));
}

int
check_usage_finding(const struct key_usage *u, const char *name,
    double created, long window, time_t now, struct findings *out)
{
	enum check_usage_verdict v;
	double		 since, age;
	char		 agebuf[32], win[32], when[32];
	json_t		*d;

	v = check_usage_judge(u, created, window, now, &since);
	if (v != CHECK_USAGE_STALE && v != CHECK_USAGE_NEVER &&
	    v != CHECK_USAGE_NONE_SINCE)
		return 0;
	age = (double)now + u->skew - since;
	if ((d = check_usage_json(u, created, window, now)) == NULL ||
	    json_object_set_new(d, "age_seconds", json_integer(
	    (json_int_t)age)) == -1 ||
	    json_object_set_new(d, "expect_use_within_seconds",
	    json_integer(window)) == -1) {
		json_decref(d);
		return -1;
	}
	check_usage_age(age, agebuf, sizeof(agebuf));
	duration_format(window, win, sizeof(win));
	check_rfc3339((time_t)since, when, sizeof(when));
	if (v == CHECK_USAGE_STALE)
		return findings_add(out, CHECK_KEY_UNUSED,
		    catalog_severity(CHECK_KEY_UNUSED), d, "key %s was last "
		    "used %s ago (%s at %s), longer than expect_use_within "
		    "%s: the vendor's backups may have stopped; check the "
		    "vendor's jobs and any SCP, VPC endpoint policy or key "
		    "policy that could deny it", name, agebuf, u->operation[0] ?
		    u->operation : "an operation", when, win);
	if (v == CHECK_USAGE_NEVER)
		return findings_add(out, CHECK_KEY_UNUSED,
		    catalog_severity(CHECK_KEY_UNUSED), d, "key %s was never "
		    "used since it was created %s ago (%s), longer than "
		    "expect_use_within %s: the vendor may never have started "
		    "using it; check the vendor's setup", name, agebuf, when,
		    win);
	return findings_add(out, CHECK_KEY_UNUSED,
	    catalog_severity(CHECK_KEY_UNUSED), d, "key %s has no recorded "
	    "use since KMS began tracking it %s ago (%s), longer than "
	    "expect_use_within %s: the vendor's backups may have stopped",
	    name, agebuf, when, win);
}
