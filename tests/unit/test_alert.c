/*
 * lib/alert: fingerprints, the (key, check) state machine, JSON forms.
 */
#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"

#define ARN	"arn:aws:kms:eu-west-1:111122223333:key/" \
		"1234abcd-12ab-34cd-56ef-1234567890ab"
#define ARN2	"arn:aws:kms:us-east-1:444455556666:key/" \
		"99999999-12ab-34cd-56ef-1234567890ab"
#define T0	1700000000

static const struct keyid	key1 = { .arn = ARN, .name = "gearset-eu" };
static const struct keyid	key2 = { .arn = ARN2 };

/* One poll with the findings given as (check, severity) pairs. */
static struct alert_events
feed(struct alert_table *t, const struct keyid *k, time_t now, ...)
{
	struct alert_events	 out = { NULL, 0, 0 };
	struct findings		 fs = { NULL, 0, 0 };
	const char		*check;
	va_list			 ap;
	char			 err[128];

	va_start(ap, now);
	while ((check = va_arg(ap, const char *)) != NULL) {
		enum severity s = (enum severity)va_arg(ap, int);

		ck_assert_int_eq(findings_add(&fs, check, s, NULL,
		    "%s is wrong", check), 0);
	}
	va_end(ap);
	ck_assert_msg(alert_table_update(t, k, &fs, now, &out, err,
	    sizeof(err)) == 0, "%s", err);
	findings_clear(&fs);
	free(fs.v);
	return out;
}

static struct alert_table *
table(time_t renotify, unsigned fire_after, unsigned resolve_after)
{
	struct alert_policy	pol = { renotify, fire_after, resolve_after };
	struct alert_table	*t = alert_table_new(&pol);

	ck_assert_ptr_nonnull(t);
	return t;
}

START_TEST(test_alert_fingerprint_is_sha256_of_arn_and_check)
{
	char	fp[65], fp2[65];

	alert_fingerprint(ARN, "key-disabled", fp);
	ck_assert_str_eq(fp, "4c05e16ef43170b3a873993de3b7d019"
	    "30edbd44d25c2fce473e0cc8eecf43d9");
	alert_fingerprint(ARN, "key-disabled", fp2);
	ck_assert_str_eq(fp, fp2);
	alert_fingerprint(ARN, "key-deleted", fp2);
	ck_assert_str_ne(fp, fp2);
}
END_TEST

START_TEST(test_alert_event_ids_are_unique_uuids)
{
	char	a[40], b[40];

	alert_event_new_id(a);
	alert_event_new_id(b);
	ck_assert_uint_eq(strlen(a), 36);
	ck_assert_int_eq(a[14], '4');
	ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(test_alert_new_finding_fires_once)
{
	struct alert_table	*t = table(3600, 1, 1);
	struct alert_events	 e;
	char			 fp[65];

	e = feed(t, &key1, T0, "key-disabled", SEV_CRITICAL, NULL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_int_eq(e.v[0].status, ALERT_FIRING);
	ck_assert_str_eq(e.v[0].check, "key-disabled");
	ck_assert_int_eq(e.v[0].severity, SEV_CRITICAL);
	ck_assert_str_eq(e.v[0].key_arn, ARN);
	ck_assert_str_eq(e.v[0].key_name, "gearset-eu");
	ck_assert_str_eq(e.v[0].region, "eu-west-1");
	ck_assert_str_eq(e.v[0].account, "111122223333");
	ck_assert_str_eq(e.v[0].summary, "key-disabled is wrong");
	ck_assert_int_eq(e.v[0].started_at, T0);
	ck_assert_int_eq(e.v[0].ended_at, 0);
	alert_fingerprint(ARN, "key-disabled", fp);
	ck_assert_str_eq(e.v[0].fingerprint, fp);
	alert_events_clear(&e);
	e = feed(t, &key1, T0 + 60, "key-disabled", SEV_CRITICAL, NULL);
	ck_assert_uint_eq(e.n, 0);
	ck_assert(alert_table_is_firing(t, ARN, "key-disabled"));
	alert_events_clear(&e);
	alert_table_free(t);
}
END_TEST

START_TEST(test_alert_key_name_defaults_to_key_id)
{
	struct alert_table	*t = table(3600, 1, 1);
	struct alert_events	 e;

	e = feed(t, &key2, T0, "key-deleted", SEV_CRITICAL, NULL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_str_eq(e.v[0].key_name,
	    "99999999-12ab-34cd-56ef-1234567890ab");
	ck_assert_str_eq(e.v[0].account, "444455556666");
	alert_events_clear(&e);
	alert_table_free(t);
}
END_TEST

START_TEST(test_alert_still_present_renotifies_every_renotify)
{
	struct alert_table	*t = table(3600, 1, 1);
	struct alert_events	 e;
	char			 id[40], fp[65];

	e = feed(t, &key1, T0, "key-disabled", SEV_CRITICAL, NULL);
	memcpy(id, e.v[0].id, sizeof(id));
	memcpy(fp, e.v[0].fingerprint, sizeof(fp));
	alert_events_clear(&e);
	e = feed(t, &key1, T0 + 3599, "key-disabled", SEV_CRITICAL, NULL);
	ck_assert_uint_eq(e.n, 0);
	e = feed(t, &key1, T0 + 3600, "key-disabled", SEV_CRITICAL, NULL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_int_eq(e.v[0].status, ALERT_FIRING);
	ck_assert_str_eq(e.v[0].fingerprint, fp);
	ck_assert_str_ne(e.v[0].id, id);
	ck_assert_int_eq(e.v[0].started_at, T0);
	alert_events_clear(&e);
	/* The next one counts from the re-send, not from the start. */
	e = feed(t, &key1, T0 + 7100, "key-disabled", SEV_CRITICAL, NULL);
	ck_assert_uint_eq(e.n, 0);
	e = feed(t, &key1, T0 + 7200, "key-disabled", SEV_CRITICAL, NULL);
	ck_assert_uint_eq(e.n, 1);
	alert_events_clear(&e);
	alert_table_free(t);
}
END_TEST

START_TEST(test_alert_renotify_zero_never_resends)
{
	struct alert_table	*t = table(0, 1, 1);
	struct alert_events	 e;

	e = feed(t, &key1, T0, "key-disabled", SEV_CRITICAL, NULL);
	alert_events_clear(&e);
	e = feed(t, &key1, T0 + 86400 * 30, "key-disabled", SEV_CRITICAL,
	    NULL);
	ck_assert_uint_eq(e.n, 0);
	alert_table_free(t);
}
END_TEST

START_TEST(test_alert_gone_resolves_once)
{
	struct alert_table	*t = table(3600, 1, 1);
	struct alert_events	 e;
	char			 fp[65];

	e = feed(t, &key1, T0, "key-disabled", SEV_CRITICAL, NULL);
	memcpy(fp, e.v[0].fingerprint, sizeof(fp));
	alert_events_clear(&e);
	e = feed(t, &key1, T0 + 300, NULL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_int_eq(e.v[0].status, ALERT_RESOLVED);
	ck_assert_str_eq(e.v[0].fingerprint, fp);
	ck_assert_int_eq(e.v[0].started_at, T0);
	ck_assert_int_eq(e.v[0].ended_at, T0 + 300);
	ck_assert_int_eq(e.v[0].severity, SEV_CRITICAL);
	alert_events_clear(&e);
	e = feed(t, &key1, T0 + 600, NULL);
	ck_assert_uint_eq(e.n, 0);
	ck_assert_uint_eq(alert_table_size(t), 0);
	alert_table_free(t);
}
END_TEST

START_TEST(test_alert_severity_change_is_a_new_firing)
{
	struct alert_table	*t = table(3600, 1, 1);
	struct alert_events	 e;

	e = feed(t, &key1, T0, "key-material-expiring", SEV_WARNING, NULL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_int_eq(e.v[0].severity, SEV_WARNING);
	alert_events_clear(&e);
	e = feed(t, &key1, T0 + 60, "key-material-expiring", SEV_CRITICAL,
	    NULL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_int_eq(e.v[0].status, ALERT_FIRING);
	ck_assert_int_eq(e.v[0].severity, SEV_CRITICAL);
	ck_assert_int_eq(e.v[0].started_at, T0);
	alert_events_clear(&e);
	e = feed(t, &key1, T0 + 120, "key-material-expiring", SEV_CRITICAL,
	    NULL);
	ck_assert_uint_eq(e.n, 0);
	alert_table_free(t);
}
END_TEST

START_TEST(test_alert_resolved_carries_the_peak_severity)
{
	struct alert_table	*t = table(3600, 1, 1);
	struct alert_events	 e;

	e = feed(t, &key1, T0, "key-material-expiring", SEV_CRITICAL, NULL);
	alert_events_clear(&e);
	e = feed(t, &key1, T0 + 60, "key-material-expiring", SEV_WARNING,
	    NULL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_int_eq(e.v[0].severity, SEV_WARNING);
	alert_events_clear(&e);
	e = feed(t, &key1, T0 + 120, NULL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_int_eq(e.v[0].status, ALERT_RESOLVED);
	ck_assert_int_eq(e.v[0].severity, SEV_CRITICAL);
	alert_events_clear(&e);
	alert_table_free(t);
}
END_TEST

START_TEST(test_alert_fire_after_needs_consecutive_polls)
{
	struct alert_table	*t = table(3600, 3, 1);
	struct alert_events	 e;

	e = feed(t, &key1, T0, "key-disabled", SEV_CRITICAL, NULL);
	ck_assert_uint_eq(e.n, 0);
	e = feed(t, &key1, T0 + 60, "key-disabled", SEV_CRITICAL, NULL);
	ck_assert_uint_eq(e.n, 0);
	/* A poll without it starts the count again, silently. */
	e = feed(t, &key1, T0 + 120, NULL);
	ck_assert_uint_eq(e.n, 0);
	e = feed(t, &key1, T0 + 180, "key-disabled", SEV_CRITICAL, NULL);
	e = feed(t, &key1, T0 + 240, "key-disabled", SEV_CRITICAL, NULL);
	ck_assert_uint_eq(e.n, 0);
	ck_assert(!alert_table_is_firing(t, ARN, "key-disabled"));
	e = feed(t, &key1, T0 + 300, "key-disabled", SEV_CRITICAL, NULL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_int_eq(e.v[0].status, ALERT_FIRING);
	/* started_at is when the streak began. */
	ck_assert_int_eq(e.v[0].started_at, T0 + 180);
	alert_events_clear(&e);
	alert_table_free(t);
}
END_TEST

START_TEST(test_alert_resolve_after_needs_consecutive_polls)
{
	struct alert_table	*t = table(3600, 1, 2);
	struct alert_events	 e;

	e = feed(t, &key1, T0, "key-disabled", SEV_CRITICAL, NULL);
	alert_events_clear(&e);
	e = feed(t, &key1, T0 + 60, NULL);
	ck_assert_uint_eq(e.n, 0);
	ck_assert(alert_table_is_firing(t, ARN, "key-disabled"));
	/* Back again: still the same alert, nothing new to say. */
	e = feed(t, &key1, T0 + 120, "key-disabled", SEV_CRITICAL, NULL);
	ck_assert_uint_eq(e.n, 0);
	e = feed(t, &key1, T0 + 180, NULL);
	ck_assert_uint_eq(e.n, 0);
	e = feed(t, &key1, T0 + 240, NULL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_int_eq(e.v[0].status, ALERT_RESOLVED);
	ck_assert_int_eq(e.v[0].ended_at, T0 + 240);
	alert_events_clear(&e);
	alert_table_free(t);
}
END_TEST

START_TEST(test_alert_check_failed_keeps_the_keys_other_alerts)
{
	struct alert_table	*t = table(3600, 1, 1);
	struct alert_events	 e;

	e = feed(t, &key1, T0, "key-disabled", SEV_CRITICAL,
	    "policy-changed", SEV_WARNING, NULL);
	ck_assert_uint_eq(e.n, 2);
	alert_events_clear(&e);
	/* Could not evaluate: check-failed fires, nothing resolves. */
	e = feed(t, &key1, T0 + 60, "check-failed", SEV_UNKNOWN, NULL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_str_eq(e.v[0].check, "check-failed");
	ck_assert_int_eq(e.v[0].status, ALERT_FIRING);
	ck_assert_int_eq(e.v[0].severity, SEV_UNKNOWN);
	alert_events_clear(&e);
	/* ... nor re-fires, even past renotify. */
	e = feed(t, &key1, T0 + 7200, "check-failed", SEV_UNKNOWN, NULL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_str_eq(e.v[0].check, "check-failed");
	alert_events_clear(&e);
	ck_assert(alert_table_is_firing(t, ARN, "key-disabled"));
	ck_assert(alert_table_is_firing(t, ARN, "policy-changed"));
	/* Evaluated again: check-failed resolves, policy-changed too, and
	 * key-disabled, overdue, is re-sent. */
	e = feed(t, &key1, T0 + 7260, "key-disabled", SEV_CRITICAL, NULL);
	ck_assert_uint_eq(e.n, 3);
	ck_assert_int_eq(e.v[0].status, ALERT_FIRING);
	ck_assert_str_eq(e.v[0].check, "key-disabled");
	ck_assert_int_eq(e.v[1].status, ALERT_RESOLVED);
	ck_assert_int_eq(e.v[2].status, ALERT_RESOLVED);
	ck_assert(alert_table_is_firing(t, ARN, "key-disabled"));
	ck_assert(!alert_table_is_firing(t, ARN, "check-failed"));
	alert_events_clear(&e);
	alert_table_free(t);
}
END_TEST

START_TEST(test_alert_keys_are_independent)
{
	struct alert_table	*t = table(3600, 1, 1);
	struct alert_events	 e;

	e = feed(t, &key1, T0, "key-disabled", SEV_CRITICAL, NULL);
	alert_events_clear(&e);
	e = feed(t, &key2, T0 + 10, NULL);
	ck_assert_uint_eq(e.n, 0);
	ck_assert(alert_table_is_firing(t, ARN, "key-disabled"));
	alert_table_free(t);
}
END_TEST

START_TEST(test_alert_ok_findings_count_as_absent)
{
	struct alert_table	*t = table(3600, 1, 1);
	struct alert_events	 e;

	e = feed(t, &key1, T0, "key-disabled", SEV_OK, NULL);
	ck_assert_uint_eq(e.n, 0);
	ck_assert_uint_eq(alert_table_size(t), 0);
	alert_table_free(t);
}
END_TEST

START_TEST(test_alert_forget_key_resolves_its_alerts)
{
	struct alert_table	*t = table(3600, 1, 1);
	struct alert_events	 e = { NULL, 0, 0 };

	e = feed(t, &key1, T0, "key-disabled", SEV_CRITICAL, NULL);
	alert_events_clear(&e);
	ck_assert_int_eq(alert_table_forget_key(t, ARN, T0 + 5, &e), 0);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_int_eq(e.v[0].status, ALERT_RESOLVED);
	ck_assert_uint_eq(alert_table_size(t), 0);
	alert_events_clear(&e);
	alert_table_free(t);
}
END_TEST

static int
keep_arn(void *arg, const char *arn)
{
	return strcmp(arg, arn) == 0;
}

START_TEST(test_alert_forget_keys_keeps_only_the_kept)
{
	struct alert_table	*t = table(3600, 1, 1);
	struct alert_events	 e;
	size_t			 n;
	char			 kept[] = ARN2;

	e = feed(t, &key1, T0, "key-disabled", SEV_CRITICAL,
	    "policy-changed", SEV_WARNING, NULL);
	alert_events_clear(&e);
	e = feed(t, &key2, T0, "key-disabled", SEV_CRITICAL,
	    "policy-changed", SEV_WARNING, NULL);
	alert_events_clear(&e);
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(alert_table_forget_keys(t, keep_arn, kept,
	    T0 + 5, &e, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(e.n, 2);
	ck_assert_str_eq(e.v[0].key_arn, ARN);
	ck_assert_int_eq(e.v[1].status, ALERT_RESOLVED);
	ck_assert_uint_eq(alert_table_size(t), 2);
	ck_assert_int_eq(alert_table_is_firing(t, ARN2, "key-disabled"), 1);
	alert_events_clear(&e);
	alert_table_free(t);
}
END_TEST

/*
 * A table that missed what was queued (a crash before alerts.json was
 * saved) takes the events in; a later poll without the finding then
 * resolves the alert the receivers saw firing.
 */
START_TEST(test_alert_replay_of_a_queued_firing_gets_it_resolved)
{
	struct alert_table	*t = table(3600, 2, 1);
	struct alert_table	*seen = table(3600, 1, 1);
	struct alert_events	 fired, e;

	fired = feed(seen, &key1, T0, "key-disabled", SEV_CRITICAL, NULL);
	ck_assert_uint_eq(fired.n, 1);
	ck_assert_int_eq(alert_table_replay(t, &fired.v[0], T0 + 1), 1);
	ck_assert_int_eq(alert_table_replay(t, &fired.v[0], T0 + 1), 0);
	ck_assert(alert_table_is_firing(t, ARN, "key-disabled"));
	/* Still present: no second firing before renotify. */
	e = feed(t, &key1, T0 + 60, "key-disabled", SEV_CRITICAL, NULL);
	ck_assert_uint_eq(e.n, 0);
	alert_events_clear(&e);
	e = feed(t, &key1, T0 + 120, NULL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_int_eq(e.v[0].status, ALERT_RESOLVED);
	ck_assert_str_eq(e.v[0].fingerprint, fired.v[0].fingerprint);
	ck_assert_int_eq(e.v[0].started_at, T0);
	ck_assert_str_eq(e.v[0].key_name, "gearset-eu");
	alert_events_clear(&e);
	alert_events_clear(&fired);
	alert_table_free(t);
	alert_table_free(seen);
}
END_TEST

START_TEST(test_alert_replay_follows_episodes)
{
	struct alert_table	*t = table(3600, 1, 1);
	struct alert_table	*seen = table(3600, 1, 1);
	struct alert_events	 ep1, end1, ep2;

	ep1 = feed(seen, &key1, T0, "key-disabled", SEV_CRITICAL, NULL);
	end1 = feed(seen, &key1, T0 + 60, NULL);
	ep2 = feed(seen, &key1, T0 + 120, "key-disabled", SEV_CRITICAL,
	    NULL);
	ck_assert_uint_eq(ep1.n + end1.n + ep2.n, 3);
	/* A resolve of nothing known, then its own firing and resolve. */
	ck_assert_int_eq(alert_table_replay(t, &end1.v[0], T0 + 60), 0);
	ck_assert_int_eq(alert_table_replay(t, &ep1.v[0], T0), 1);
	ck_assert_int_eq(alert_table_replay(t, &end1.v[0], T0 + 60), 1);
	ck_assert_uint_eq(alert_table_size(t), 0);
	/* The later episode stands against the older one's events. */
	ck_assert_int_eq(alert_table_replay(t, &ep2.v[0], T0 + 120), 1);
	ck_assert_int_eq(alert_table_replay(t, &ep1.v[0], T0), 0);
	ck_assert_int_eq(alert_table_replay(t, &end1.v[0], T0 + 60), 0);
	ck_assert(alert_table_is_firing(t, ARN, "key-disabled"));
	alert_events_clear(&ep1);
	alert_events_clear(&end1);
	alert_events_clear(&ep2);
	alert_table_free(t);
	alert_table_free(seen);
}
END_TEST

START_TEST(test_alert_table_json_round_trip_keeps_state)
{
	struct alert_table	*t = table(3600, 2, 1), *u;
	struct alert_events	 e;
	json_t			*j;
	char			 err[256];

	e = feed(t, &key1, T0, "key-disabled", SEV_CRITICAL, NULL);
	e = feed(t, &key1, T0 + 60, "key-disabled", SEV_CRITICAL,
	    "policy-changed", SEV_WARNING, NULL);
	ck_assert_uint_eq(e.n, 1);	/* key-disabled; policy-changed pends */
	alert_events_clear(&e);
	j = alert_table_to_json(t);
	ck_assert_ptr_nonnull(j);
	u = alert_table_from_json(j, &(struct alert_policy){ 3600, 2, 1 },
	    err, sizeof(err));
	ck_assert_msg(u != NULL, "%s", err);
	json_decref(j);
	ck_assert_uint_eq(alert_table_size(u), 2);
	ck_assert_uint_eq(alert_table_firing(u), 1);
	/* The restored table continues: the pending one fires now, the
	 * firing one is not sent again. */
	e = feed(u, &key1, T0 + 120, "key-disabled", SEV_CRITICAL,
	    "policy-changed", SEV_WARNING, NULL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_str_eq(e.v[0].check, "policy-changed");
	alert_events_clear(&e);
	/* And renotify counts from the original send. */
	e = feed(u, &key1, T0 + 3660, "key-disabled", SEV_CRITICAL,
	    "policy-changed", SEV_WARNING, NULL);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_str_eq(e.v[0].check, "key-disabled");
	ck_assert_int_eq(e.v[0].started_at, T0);
	alert_events_clear(&e);
	alert_table_free(t);
	alert_table_free(u);
}
END_TEST

START_TEST(test_alert_table_from_json_rejects_garbage)
{
	char	 err[256];
	json_t	*j = json_pack("{s:i, s:[{s:s}]}", "version", 1, "alerts",
	    "key_arn", ARN);

	ck_assert_ptr_null(alert_table_from_json(j, NULL, err, sizeof(err)));
	ck_assert_msg(strstr(err, "entry 0") != NULL, "%s", err);
	json_decref(j);
	j = json_pack("{s:i}", "version", 2);
	ck_assert_ptr_null(alert_table_from_json(j, NULL, err, sizeof(err)));
	json_decref(j);
}
END_TEST

START_TEST(test_alert_event_json_round_trip)
{
	struct alert_table	*t = table(3600, 1, 1);
	struct alert_events	 e;
	struct alert_event	 back, copy;
	json_t			*j;
	char			 err[256];

	e = feed(t, &key1, T0, "key-pending-deletion", SEV_CRITICAL, NULL);
	json_object_set_new(e.v[0].details, "days_left", json_integer(6));
	j = alert_event_to_json(&e.v[0]);
	ck_assert_ptr_nonnull(j);
	ck_assert_msg(alert_event_from_json(j, &back, err, sizeof(err)) == 0,
	    "%s", err);
	json_decref(j);
	ck_assert_str_eq(back.id, e.v[0].id);
	ck_assert_str_eq(back.fingerprint, e.v[0].fingerprint);
	ck_assert_str_eq(back.check, "key-pending-deletion");
	ck_assert_str_eq(back.key_name, "gearset-eu");
	ck_assert_str_eq(back.region, "eu-west-1");
	ck_assert_int_eq(back.severity, SEV_CRITICAL);
	ck_assert_int_eq(back.started_at, T0);
	ck_assert_int_eq(json_integer_value(json_object_get(back.details,
	    "days_left")), 6);
	ck_assert_int_eq(alert_event_copy(&copy, &back), 0);
	ck_assert_str_eq(copy.summary, back.summary);
	ck_assert_ptr_ne(copy.summary, back.summary);
	alert_event_clear(&back);
	alert_event_clear(&copy);
	alert_events_clear(&e);
	alert_table_free(t);
}
END_TEST

START_TEST(test_alert_payload_v1_has_every_field)
{
	struct alert_table	*t = table(3600, 1, 1);
	struct alert_events	 e;
	json_t			*p, *k;
	const char		*want[] = { "version", "status", "check",
	    "severity", "key", "summary", "details", "fingerprint",
	    "started_at", "ended_at", "sent_at", "host", "source", NULL };
	size_t			 i;

	e = feed(t, &key1, T0, "key-disabled", SEV_CRITICAL, NULL);
	p = alert_event_payload(&e.v[0], "host1", "keyhealthd/0.1.0",
	    T0 + 1);
	ck_assert_ptr_nonnull(p);
	for (i = 0; want[i] != NULL; i++)
		ck_assert_msg(json_object_get(p, want[i]) != NULL, "%s",
		    want[i]);
	ck_assert_uint_eq(json_object_size(p), i);
	ck_assert_int_eq(json_integer_value(json_object_get(p, "version")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(p, "status")),
	    "firing");
	ck_assert_str_eq(json_string_value(json_object_get(p, "severity")),
	    "critical");
	ck_assert(json_is_null(json_object_get(p, "ended_at")));
	ck_assert_str_eq(json_string_value(json_object_get(p, "started_at")),
	    "2023-11-14T22:13:20Z");
	ck_assert_str_eq(json_string_value(json_object_get(p, "sent_at")),
	    "2023-11-14T22:13:21Z");
	ck_assert_str_eq(json_string_value(json_object_get(p, "host")),
	    "host1");
	ck_assert_str_eq(json_string_value(json_object_get(p, "source")),
	    "keyhealthd/0.1.0");
	k = json_object_get(p, "key");
	ck_assert_str_eq(json_string_value(json_object_get(k, "arn")), ARN);
	ck_assert_str_eq(json_string_value(json_object_get(k, "name")),
	    "gearset-eu");
	ck_assert_str_eq(json_string_value(json_object_get(k, "region")),
	    "eu-west-1");
	ck_assert_str_eq(json_string_value(json_object_get(k, "account")),
	    "111122223333");
	ck_assert(json_is_object(json_object_get(p, "details")));
	json_decref(p);
	alert_events_clear(&e);
	e = feed(t, &key1, T0 + 60, NULL);
	p = alert_event_payload(&e.v[0], "host1", "keyhealthd/0.1.0", T0 + 61);
	ck_assert_str_eq(json_string_value(json_object_get(p, "status")),
	    "resolved");
	ck_assert_str_eq(json_string_value(json_object_get(p, "ended_at")),
	    "2023-11-14T22:14:20Z");
	json_decref(p);
	alert_events_clear(&e);
	alert_table_free(t);
}
END_TEST

/*
 * Thousands of keys, alerts added, resolved, forgotten and added again
 * in any order: every lookup and every key's update find exactly that
 * key's entries (the table keeps an index by key that removals make
 * stale and updates rebuild).
 */
START_TEST(test_alert_table_many_keys_stay_consistent)
{
	enum { NK = 1000 };
	static char		 arns[NK][96];
	struct keyid		 k;
	struct alert_table	*t = table(3600, 1, 1);
	struct alert_events	 evs;
	size_t			 i, want = 0;
	json_t			*j;
	char			 err[128];

	memset(&k, 0, sizeof(k));
	for (i = 0; i < NK; i++) {
		snprintf(arns[i], sizeof(arns[i]), "arn:aws:kms:eu-west-1:"
		    "111122223333:key/%08zx-12ab-34cd-56ef-1234567890ab", i);
		k.arn = arns[i];
		evs = feed(t, &k, T0, "key-disabled", SEV_CRITICAL,
		    i % 2 ? "policy-changed" : NULL, SEV_WARNING, NULL);
		ck_assert_uint_eq(evs.n, i % 2 ? 2 : 1);
		alert_events_clear(&evs);
	}
	ck_assert_uint_eq(alert_table_size(t), NK + NK / 2);
	/* Every third key heals; every fifth is forgotten. */
	for (i = 0; i < NK; i++) {
		k.arn = arns[i];
		if (i % 3 == 0) {
			evs = feed(t, &k, T0 + 60, NULL);
			ck_assert_uint_eq(evs.n, i % 2 ? 2 : 1);
			alert_events_clear(&evs);
		}
		if (i % 5 == 0) {
			memset(&evs, 0, sizeof(evs));
			ck_assert_int_eq(alert_table_forget_key(t, arns[i],
			    T0 + 60, &evs), 0);
			alert_events_clear(&evs);
		}
	}
	for (i = 0; i < NK; i++) {
		int live = i % 3 != 0 && i % 5 != 0;

		ck_assert_int_eq(alert_table_is_firing(t, arns[i],
		    "key-disabled"), live);
		ck_assert_int_eq(alert_table_is_firing(t, arns[i],
		    "policy-changed"), live && i % 2);
		want += live ? (i % 2 ? 2 : 1) : 0;
	}
	ck_assert_uint_eq(alert_table_size(t), want);
	/* A still-firing key polled again sends nothing new; a healed one
	 * fires anew; the state round-trips. */
	for (i = 0; i < NK; i += 7) {
		k.arn = arns[i];
		evs = feed(t, &k, T0 + 120, "key-disabled", SEV_CRITICAL,
		    NULL);
		ck_assert_uint_eq(evs.n, (i % 3 != 0 && i % 5 != 0) ?
		    (i % 2 ? 1 : 0) : 1);
		alert_events_clear(&evs);
		ck_assert_int_eq(alert_table_is_firing(t, arns[i],
		    "key-disabled"), 1);
		ck_assert_int_eq(alert_table_is_firing(t, arns[i],
		    "policy-changed"), 0);
	}
	ck_assert_ptr_nonnull(j = alert_table_to_json(t));
	alert_table_free(t);
	ck_assert_ptr_nonnull(t = alert_table_from_json(j, NULL, err,
	    sizeof(err)));
	json_decref(j);
	for (i = 0; i < NK; i += 7)
		ck_assert_int_eq(alert_table_is_firing(t, arns[i],
		    "key-disabled"), 1);
	alert_table_free(t);
}
END_TEST

static Suite *
alert_suite(void)
{
	Suite	*s = suite_create("alert");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_alert_fingerprint_is_sha256_of_arn_and_check);
	tcase_add_test(tc, test_alert_event_ids_are_unique_uuids);
	tcase_add_test(tc, test_alert_new_finding_fires_once);
	tcase_add_test(tc, test_alert_key_name_defaults_to_key_id);
	tcase_add_test(tc, test_alert_still_present_renotifies_every_renotify);
	tcase_add_test(tc, test_alert_renotify_zero_never_resends);
	tcase_add_test(tc, test_alert_gone_resolves_once);
	tcase_add_test(tc, test_alert_severity_change_is_a_new_firing);
	tcase_add_test(tc, test_alert_resolved_carries_the_peak_severity);
	tcase_add_test(tc, test_alert_fire_after_needs_consecutive_polls);
	tcase_add_test(tc, test_alert_resolve_after_needs_consecutive_polls);
	tcase_add_test(tc, test_alert_check_failed_keeps_the_keys_other_alerts);
	tcase_add_test(tc, test_alert_keys_are_independent);
	tcase_add_test(tc, test_alert_ok_findings_count_as_absent);
	tcase_add_test(tc, test_alert_forget_key_resolves_its_alerts);
	tcase_add_test(tc, test_alert_forget_keys_keeps_only_the_kept);
	tcase_add_test(tc,
	    test_alert_replay_of_a_queued_firing_gets_it_resolved);
	tcase_add_test(tc, test_alert_replay_follows_episodes);
	tcase_add_test(tc, test_alert_table_json_round_trip_keeps_state);
	tcase_add_test(tc, test_alert_table_from_json_rejects_garbage);
	tcase_add_test(tc, test_alert_event_json_round_trip);
	tcase_add_test(tc, test_alert_payload_v1_has_every_field);
	tcase_add_test(tc, test_alert_table_many_keys_stay_consistent);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(alert_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
