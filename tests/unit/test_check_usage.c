/*
 * The vendor-usage heartbeat: GetKeyLastUsage's answer (lib/kms_usage)
 * and key-unused (lib/check_usage through check_key()), with the three
 * readings of the API reference and the quiet rules.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "check_usage.h"
#include "kms.h"

#define ARN	"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
#define NOW	((time_t)1795000000)	/* 2026-11-18T11:06:40Z */
#define DAY	86400
#define WINDOW	(2 * DAY)

static struct key_expect want;
static struct key_snapshot snap;
static struct findings	 fs;

static void
set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = strdup(s);
	ck_assert_ptr_nonnull(*dst);
}

/* An Enabled key without a vendor, only the heartbeat configured. */
static void
setup(void)
{
	memset(&want, 0, sizeof(want));
	want.id.arn = ARN;
	want.id.name = "gearset-eu";
	want.id.region = "eu-west-1";
	want.id.account = "111122223333";
	want.expect_use_within = WINDOW;
	memset(&snap, 0, sizeof(snap));
	snap.polled_at = NOW;
	set_str(&snap.meta.key_id, "1234abcd-12ab-34cd-56ef-1234567890ab");
	set_str(&snap.meta.arn, ARN);
	set_str(&snap.meta.state, "Enabled");
	set_str(&snap.meta.key_spec, "SYMMETRIC_DEFAULT");
	set_str(&snap.meta.key_usage, "ENCRYPT_DECRYPT");
	set_str(&snap.meta.key_manager, "CUSTOMER");
	snap.meta.enabled = 1;
	snap.meta.creation_date = NOW - 400 * DAY;
	snap.usage = calloc(1, sizeof(*snap.usage));
	ck_assert_ptr_nonnull(snap.usage);
	snap.usage->fetched_at = NOW;
	snap.usage->key_creation = NOW - 400 * DAY;
	snap.usage->tracking_start = NOW - 400 * DAY;
	memset(&fs, 0, sizeof(fs));
}

static void
teardown(void)
{
	check_snapshot_free(&snap);
	findings_clear(&fs);
}

static void
used(const char *op, double when)
{
	snap.usage->used = 1;
	snap.usage->last_used = when;
	snprintf(snap.usage->operation, sizeof(snap.usage->operation), "%s",
	    op);
	snprintf(snap.usage->event_id, sizeof(snap.usage->event_id),
	    "4aa7e4d5-d047-452a-a5a6-2cce282a7e82");
}

static void
run(void)
{
	findings_clear(&fs);
	ck_assert_int_eq(check_key(&snap, NULL, &want, NOW, &fs), 0);
}

static const char *
detail(const struct finding *f, const char *name)
{
	json_t	*v = json_object_get(f->details, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* No finding, and check_key_json() shows the verdict "unknown". */
static void
expect_quiet_unknown(void)
{
	json_t	*o, *u;

	run();
	ck_assert_uint_eq(fs.n, 0);
	ck_assert_ptr_nonnull(o = check_key_json(&want, &snap, &fs));
	ck_assert_ptr_nonnull(u = json_object_get(o, "usage"));
	ck_assert_str_eq(json_string_value(json_object_get(u, "verdict")),
	    "unknown");
	json_decref(o);
}

START_TEST(test_usage_parse_answer_with_a_use)
{
	const char	*body = "{\"KeyId\": \"" ARN "\", \"KeyLastUsage\": "
	    "{\"CloudTrailEventId\": \"4aa7e4d5-d047-452a-a5a6-2cce282a7e82\","
	    " \"KmsRequestId\": \"93746dd6-63bc-11e4-bc2b-4198b6150d5c\","
	    " \"Operation\": \"Decrypt\", \"Timestamp\": 1794990000.25},"
	    " \"TrackingStartDate\": 1780000000, \"KeyCreationDate\": "
	    "1700000000.5}";
	struct kms_key_usage	u;
	struct kms_error	e;

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(kms_parse_key_last_usage(body, strlen(body), &u, &e),
	    0);
	ck_assert_int_eq(u.used, 1);
	ck_assert_str_eq(u.operation, "Decrypt");
	ck_assert_str_eq(u.cloudtrail_event_id,
	    "4aa7e4d5-d047-452a-a5a6-2cce282a7e82");
	ck_assert_str_eq(u.request_id, "93746dd6-63bc-11e4-bc2b-4198b6150d5c");
	ck_assert(u.timestamp == 1794990000.25);
	ck_assert(u.tracking_start == 1780000000);
	ck_assert(u.key_creation == 1700000000.5);
	kms_key_usage_free(&u);
}
END_TEST

START_TEST(test_usage_parse_answer_without_a_use)
{
	const char	*body = "{\"KeyId\": \"" ARN "\", \"TrackingStartDate\":"
	    " 1780000000, \"KeyCreationDate\": 1790000000}";
	const char	*empty = "{\"KeyLastUsage\": {}, \"TrackingStartDate\":"
	    " 1780000000}";
	struct kms_key_usage	u;
	struct kms_error	e;

	ck_assert_int_eq(kms_parse_key_last_usage(body, strlen(body), &u, &e),
	    0);
	ck_assert_int_eq(u.used, 0);
	ck_assert_ptr_null(u.operation);
	ck_assert(u.key_creation == 1790000000);
	kms_key_usage_free(&u);
	/* An empty KeyLastUsage is no use either. */
	ck_assert_int_eq(kms_parse_key_last_usage(empty, strlen(empty), &u,
	    &e), 0);
	ck_assert_int_eq(u.used, 0);
	kms_key_usage_free(&u);
}
END_TEST

START_TEST(test_usage_parse_refuses_wrong_shapes)
{
	static const char *bad[] = {
		"{\"KeyLastUsage\": \"Decrypt\"}",
		"{\"KeyLastUsage\": {\"Timestamp\": \"yesterday\"}}",
		"{\"KeyLastUsage\": {\"Operation\": 7}}",
		"{\"TrackingStartDate\": true}",
		"[]",
		"",
	};
	struct kms_key_usage	u;
	struct kms_error	e;
	size_t			i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		ck_assert_int_eq(kms_parse_key_last_usage(bad[i],
		    strlen(bad[i]), &u, &e), -1);
		ck_assert_int_eq(e.cls, KMS_ERR_MALFORMED);
		ck_assert_ptr_null(u.operation);
	}
}
END_TEST

START_TEST(test_usage_recent_use_is_quiet)
{
	used("Encrypt", NOW - DAY);
	run();
	ck_assert_uint_eq(fs.n, 0);
}
END_TEST

START_TEST(test_usage_stale_use_is_key_unused_with_operation_and_age)
{
	const struct finding	*f;

	used("Decrypt", NOW - 3 * DAY - 7200);
	run();
	ck_assert_uint_eq(fs.n, 1);
	ck_assert_ptr_nonnull(f = findings_get(&fs, CHECK_KEY_UNUSED));
	ck_assert_int_eq(f->severity, SEV_WARNING);
	ck_assert_str_eq(detail(f, "verdict"), "stale");
	ck_assert_str_eq(detail(f, "operation"), "Decrypt");
	ck_assert_str_eq(detail(f, "last_used_at"), "2026-11-15T09:06:40Z");
	ck_assert_str_eq(detail(f, "cloudtrail_event_id"),
	    "4aa7e4d5-d047-452a-a5a6-2cce282a7e82");
	ck_assert_int_eq(json_integer_value(json_object_get(f->details,
	    "age_seconds")), 3 * DAY + 7200);
	ck_assert_int_eq(json_integer_value(json_object_get(f->details,
	    "expect_use_within_seconds")), WINDOW);
	ck_assert_ptr_nonnull(strstr(f->summary, "last used 3d2h ago"));
	ck_assert_ptr_nonnull(strstr(f->summary, "Decrypt"));
	ck_assert_ptr_nonnull(strstr(f->summary, "expect_use_within 2d"));
}
END_TEST

START_TEST(test_usage_never_used_since_created_after_tracking)
{
	const struct finding	*f;

	/* Created after tracking began: TrackingStartDate is its creation. */
	snap.usage->key_creation = NOW - 5 * DAY;
	snap.usage->tracking_start = NOW - 5 * DAY;
	run();
	ck_assert_ptr_nonnull(f = findings_get(&fs, CHECK_KEY_UNUSED));
	ck_assert_str_eq(detail(f, "verdict"), "never-used");
	ck_assert_ptr_null(detail(f, "last_used_at"));
	ck_assert_ptr_nonnull(strstr(f->summary, "never used since it was "
	    "created 5d ago"));
	/* A day old: it may simply not have been used yet. */
	snap.usage->key_creation = NOW - DAY;
	snap.usage->tracking_start = NOW - DAY;
	expect_quiet_unknown();
}
END_TEST

START_TEST(test_usage_created_before_tracking_without_record_is_unknown)
{
	/* Tracking began a day ago for a key a year old: no record yet,
	 * and uses before tracking are not known. */
	snap.usage->key_creation = NOW - 365 * DAY;
	snap.usage->tracking_start = NOW - DAY;
	expect_quiet_unknown();
}
END_TEST

START_TEST(test_usage_no_record_since_tracking_longer_than_window)
{
	const struct finding	*f;

	/* Tracking has run ten days with no use: unused for the window,
	 * whatever happened before tracking. */
	snap.usage->key_creation = NOW - 365 * DAY;
	snap.usage->tracking_start = NOW - 10 * DAY;
	run();
	ck_assert_ptr_nonnull(f = findings_get(&fs, CHECK_KEY_UNUSED));
	ck_assert_str_eq(detail(f, "verdict"), "no-use-since-tracking");
	ck_assert_int_eq(json_integer_value(json_object_get(f->details,
	    "age_seconds")), 10 * DAY);
	ck_assert_ptr_nonnull(strstr(f->summary, "no recorded use since KMS "
	    "began tracking it 10d ago"));
}
END_TEST

START_TEST(test_usage_without_creation_dates_is_unknown)
{
	snap.usage->key_creation = 0;
	snap.meta.creation_date = 0;
	run();
	ck_assert_uint_eq(fs.n, 0);
	/* DescribeKey's CreationDate stands in for a missing
	 * KeyCreationDate. */
	snap.meta.creation_date = NOW - 5 * DAY;
	snap.usage->tracking_start = NOW - 5 * DAY;
	run();
	ck_assert_ptr_nonnull(findings_get(&fs, CHECK_KEY_UNUSED));
}
END_TEST

START_TEST(test_usage_fetch_failure_is_check_failed_for_that_operation)
{
	const struct finding	*f;
	json_t			*errs;

	used("Decrypt", NOW - 30 * DAY);
	ck_assert_ptr_nonnull(snap.usage->err = calloc(1,
	    sizeof(*snap.usage->err)));
	snap.usage->err->cls = KMS_ERR_THROTTLED;
	snprintf(snap.usage->err->code, sizeof(snap.usage->err->code),
	    "ThrottlingException");
	run();
	ck_assert_uint_eq(fs.n, 1);
	ck_assert_ptr_nonnull(f = findings_get(&fs, CHECK_CHECK_FAILED));
	ck_assert_str_eq(detail(f, "operation"), "GetKeyLastUsage");
	errs = json_object_get(f->details, "errors");
	ck_assert_uint_eq(json_array_size(errs), 1);
	/* No verdict from an answer that did not come. */
	ck_assert_ptr_null(findings_get(&fs, CHECK_KEY_UNUSED));
	snap.usage->err->cls = KMS_ERR_ACCESS_DENIED;
	run();
	ck_assert_ptr_nonnull(f = findings_get(&fs, CHECK_CHECK_FAILED));
	ck_assert_ptr_nonnull(strstr(f->summary, "kms:GetKeyLastUsage"));
}
END_TEST

START_TEST(test_usage_off_without_expect_use_within)
{
	used("Decrypt", NOW - 300 * DAY);
	want.expect_use_within = 0;
	run();
	ck_assert_uint_eq(fs.n, 0);
	check_usage_free(snap.usage);
	snap.usage = NULL;
	want.expect_use_within = WINDOW;
	run();
	ck_assert_uint_eq(fs.n, 0);
}
END_TEST

START_TEST(test_usage_quiet_for_a_key_that_is_not_enabled)
{
	used("Decrypt", NOW - 30 * DAY);
	set_str(&snap.meta.state, "Disabled");
	run();
	ck_assert_uint_eq(fs.n, 1);
	ck_assert_ptr_nonnull(findings_get(&fs, CHECK_KEY_DISABLED));
}
END_TEST

START_TEST(test_usage_judged_by_the_kms_clock)
{
	/* A day old by our clock, three by KMS's (the skew the client
	 * learnt from its Date header or a signature error). */
	used("Encrypt", NOW - DAY);
	run();
	ck_assert_uint_eq(fs.n, 0);
	snap.usage->skew = 2 * DAY;
	run();
	ck_assert_ptr_nonnull(findings_get(&fs, CHECK_KEY_UNUSED));
	ck_assert_int_eq(json_integer_value(json_object_get(
	    findings_get(&fs, CHECK_KEY_UNUSED)->details, "age_seconds")),
	    3 * DAY);
}
END_TEST

START_TEST(test_usage_carried_over_between_hourly_fetches)
{
	struct key_snapshot	cur;

	used("Encrypt", NOW - 3 * DAY);
	memset(&cur, 0, sizeof(cur));
	ck_assert_int_eq(check_snapshot_carry(&cur, &snap), 0);
	ck_assert_ptr_nonnull(cur.usage);
	ck_assert_ptr_ne(cur.usage, snap.usage);
	ck_assert_str_eq(cur.usage->operation, "Encrypt");
	check_snapshot_free(&cur);
	/* A failure is carried with its own copy of the error. */
	ck_assert_ptr_nonnull(snap.usage->err = calloc(1,
	    sizeof(*snap.usage->err)));
	snap.usage->err->cls = KMS_ERR_SERVER;
	memset(&cur, 0, sizeof(cur));
	ck_assert_int_eq(check_snapshot_carry(&cur, &snap), 0);
	ck_assert_ptr_nonnull(cur.usage->err);
	ck_assert_ptr_ne(cur.usage->err, snap.usage->err);
	ck_assert_int_eq(cur.usage->err->cls, KMS_ERR_SERVER);
	check_snapshot_free(&cur);
}
END_TEST

START_TEST(test_usage_set_keeps_only_printable_ids)
{
	struct kms_key_usage	a;
	struct key_usage	*u;

	memset(&a, 0, sizeof(a));
	a.used = 1;
	a.operation = strdup("Decrypt\n\x1b[31m");
	a.cloudtrail_event_id = strdup(
	    "0123456789012345678901234567890123456789-and-more");
	ck_assert_ptr_nonnull(u = check_usage_new(&a, NULL, NOW, 0));
	ck_assert_ptr_null(u->err);
	ck_assert_str_eq(u->operation, "Decrypt??[31m");
	ck_assert_uint_eq(strlen(u->event_id), sizeof(u->event_id) - 1);
	check_usage_free(u);
	kms_key_usage_free(&a);
}
END_TEST

static Suite *
usage_suite(void)
{
	Suite	*s = suite_create("check_usage");
	TCase	*tc = tcase_create("parse");

	tcase_add_test(tc, test_usage_parse_answer_with_a_use);
	tcase_add_test(tc, test_usage_parse_answer_without_a_use);
	tcase_add_test(tc, test_usage_parse_refuses_wrong_shapes);
	tcase_add_test(tc, test_usage_set_keeps_only_printable_ids);
	suite_add_tcase(s, tc);
	tc = tcase_create("key-unused");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_usage_recent_use_is_quiet);
	tcase_add_test(tc,
	    test_usage_stale_use_is_key_unused_with_operation_and_age);
	tcase_add_test(tc, test_usage_never_used_since_created_after_tracking);
	tcase_add_test(tc,
	    test_usage_created_before_tracking_without_record_is_unknown);
	tcase_add_test(tc,
	    test_usage_no_record_since_tracking_longer_than_window);
	tcase_add_test(tc, test_usage_without_creation_dates_is_unknown);
	tcase_add_test(tc,
	    test_usage_fetch_failure_is_check_failed_for_that_operation);
	tcase_add_test(tc, test_usage_off_without_expect_use_within);
	tcase_add_test(tc, test_usage_quiet_for_a_key_that_is_not_enabled);
	tcase_add_test(tc, test_usage_carried_over_between_hourly_fetches);
	tcase_add_test(tc, test_usage_judged_by_the_kms_clock);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(usage_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
