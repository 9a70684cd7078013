/*
 * lib/check: every check id of the catalogue and every quiet rule, from
 * snapshots built by hand.
 */
#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "vendor.h"

#define ARN	"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
#define OTHER	"arn:aws:kms:eu-west-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"
#define NOW	((time_t)1795000000)	/* 2026-11-18T11:06:40Z */

/* Customer account admin + Gearset eu-west-1's two statements, as the
 * vendor's BYOK guide has them. */
#define GEARSET_POLICY \
"{\"Version\": \"2012-10-17\", \"Id\": \"key-consolepolicy-3\",\n" \
" \"Statement\": [\n" \
"  {\"Sid\": \"Enable IAM User Permissions\", \"Effect\": \"Allow\",\n" \
"   \"Principal\": {\"AWS\": \"arn:aws:iam::111122223333:root\"},\n" \
"   \"Action\": \"kms:*\", \"Resource\": \"*\"},\n" \
"  {\"Sid\": \"Allow use of the key\", \"Effect\": \"Allow\",\n" \
"   \"Principal\": {\"AWS\": \"arn:aws:iam::347752291521:root\"},\n" \
"   \"Action\": [\"kms:Encrypt\", \"kms:Decrypt\", \"kms:ReEncrypt*\",\n" \
"              \"kms:GenerateDataKey*\", \"kms:DescribeKey\"],\n" \
"   \"Resource\": \"*\"},\n" \
"  {\"Sid\": \"Allow attachment of persistent resources\",\n" \
"   \"Effect\": \"Allow\",\n" \
"   \"Principal\": {\"AWS\": \"arn:aws:iam::347752291521:root\"},\n" \
"   \"Action\": [\"kms:CreateGrant\", \"kms:ListGrants\",\n" \
"              \"kms:RevokeGrant\"],\n" \
"   \"Resource\": \"*\",\n" \
"   \"Condition\": {\"Bool\": {\"kms:GrantIsForAWSResource\": \"true\"}}}\n" \
" ]}"

static struct vendor	*gearset;
static struct key_expect want;
static struct key_snapshot snap;
static struct key_baseline base;
static struct findings	 fs;

static char *
xstrdup(const char *s)
{
	char	*d = strdup(s);

	ck_assert_ptr_nonnull(d);
	return d;
}

static void
set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s != NULL ? xstrdup(s) : NULL;
}

static void
set_err(struct kms_fault *f, enum kms_errclass cls, const char *code,
    const char *msg)
{
	struct kms_error	e;

	memset(&e, 0, sizeof(e));
	e.cls = cls;
	snprintf(e.code, sizeof(e.code), "%s", code);
	snprintf(e.message, sizeof(e.message), "%s", msg);
	e.status = cls == KMS_ERR_TRANSPORT ? 0 : 400;
	e.attempts = 1;
	ck_assert_int_eq(kms_fault_set(f, &e), 0);
}

/* A healthy Gearset key in eu-west-1, every part polled. */
static void
setup(void)
{
	char	verr[512];

	gearset = config_vendor_load("gearset", verr, sizeof(verr));
	ck_assert_msg(gearset != NULL, "%s", verr);
	memset(&want, 0, sizeof(want));
	want.id.arn = ARN;
	want.id.name = "gearset-eu";
	want.id.region = "eu-west-1";
	want.id.account = "111122223333";
	want.vendor = gearset;
	want.alias = "alias/gearset-backup";
	want.expect_rotation = 1;

	memset(&snap, 0, sizeof(snap));
	snap.polled_at = NOW;
	set_str(&snap.meta.key_id, "1234abcd-12ab-34cd-56ef-1234567890ab");
	set_str(&snap.meta.arn, ARN);
	set_str(&snap.meta.account, "111122223333");
	set_str(&snap.meta.state, "Enabled");
	set_str(&snap.meta.key_spec, "SYMMETRIC_DEFAULT");
	set_str(&snap.meta.key_usage, "ENCRYPT_DECRYPT");
	set_str(&snap.meta.key_manager, "CUSTOMER");
	set_str(&snap.meta.origin, "AWS_KMS");
	set_str(&snap.meta.current_key_material_id, "mat-1");
	snap.meta.enabled = 1;
	snap.meta.creation_date = 1700000000.5;
	snap.policy_known = 1;
	set_str(&snap.policy, GEARSET_POLICY);
	snap.rotation_known = 1;
	snap.rotation_at = NOW;
	snap.rotation.enabled = 1;
	snap.rotation.period_days = 365;
	snap.alias_known = 1;
	snap.alias_at = NOW;
	set_str(&snap.alias_key_arn, ARN);
	set_str(&snap.alias_key_id, "1234abcd-12ab-34cd-56ef-1234567890ab");

	memset(&base, 0, sizeof(base));
	base.material_id = xstrdup("mat-1");
	memset(&fs, 0, sizeof(fs));
}

static void
teardown(void)
{
	check_snapshot_free(&snap);
	check_baseline_free(&base);
	findings_clear(&fs);
	vendor_free(gearset);
	gearset = NULL;
}

static void
run(void)
{
	findings_clear(&fs);
	ck_assert_int_eq(check_key(&snap, &base, &want, NOW, &fs), 0);
}

/* Exactly the listed check ids (NULL-terminated), in any order. */
static void
expect_only(const char *first, ...)
{
	va_list		 ap;
	const char	*id;
	size_t		 n = 0, i;
	char		 got[1024] = "";

	for (i = 0; i < fs.n; i++) {
		size_t	l = strlen(got);

		snprintf(got + l, sizeof(got) - l, "%s ", fs.v[i].check);
	}
	va_start(ap, first);
	for (id = first; id != NULL; id = va_arg(ap, const char *)) {
		ck_assert_msg(findings_get(&fs, id) != NULL,
		    "missing %s; got: %s", id, got);
		n++;
	}
	va_end(ap);
	ck_assert_msg(fs.n == n, "expected %zu findings, got: %s", n, got);
}

static const struct finding *
get(const char *id, enum severity sev)
{
	const struct finding *f = findings_get(&fs, id);

	ck_assert_msg(f != NULL, "no %s finding", id);
	ck_assert_str_eq(severity_name(f->severity), severity_name(sev));
	ck_assert_ptr_nonnull(f->summary);
	ck_assert_ptr_null(strchr(f->summary, '\n'));
	ck_assert(json_is_object(f->details));
	return f;
}

static const char *
dstr(const struct finding *f, const char *k)
{
	json_t	*v = json_object_get(f->details, k);

	ck_assert_msg(json_is_string(v), "details.%s is not a string", k);
	return json_string_value(v);
}

static json_int_t
dint(const struct finding *f, const char *k)
{
	json_t	*v = json_object_get(f->details, k);

	ck_assert_msg(json_is_integer(v), "details.%s is not an integer", k);
	return json_integer_value(v);
}

/* --- key state --- */

START_TEST(test_check_healthy_key_has_no_findings)
{
	run();
	expect_only(NULL);
	ck_assert_int_eq(findings_worst(&fs), SEV_OK);
}
END_TEST

START_TEST(test_check_key_disabled)
{
	const struct finding *f;

	set_str(&snap.meta.state, "Disabled");
	snap.meta.enabled = 0;
	run();
	expect_only(CHECK_KEY_DISABLED, NULL);
	f = get(CHECK_KEY_DISABLED, SEV_CRITICAL);
	ck_assert_ptr_nonnull(strstr(f->summary, "gearset-eu"));
	ck_assert_ptr_nonnull(strstr(f->summary, "disabled"));
}
END_TEST

START_TEST(test_check_key_pending_deletion_details)
{
	const struct finding *f;

	set_str(&snap.meta.state, "PendingDeletion");
	snap.meta.enabled = 0;
	/* 6 days and 12 hours away. */
	snap.meta.deletion_date = (double)NOW + 6 * 86400 + 43200;
	run();
	expect_only(CHECK_KEY_PENDING_DELETION, NULL);
	f = get(CHECK_KEY_PENDING_DELETION, SEV_CRITICAL);
	ck_assert_int_eq(dint(f, "days_left"), 6);
	ck_assert_str_eq(dstr(f, "deletion_date"), "2026-11-24T23:06:40Z");
	ck_assert_ptr_nonnull(strstr(f->summary, "2026-11-24T23:06:40Z"));
	ck_assert_ptr_nonnull(strstr(f->summary, "6 days left"));
}
END_TEST

START_TEST(test_check_pending_deletion_is_not_also_disabled)
{
	set_str(&snap.meta.state, "PendingDeletion");
	snap.meta.enabled = 0;
	snap.meta.deletion_date = (double)NOW + 7 * 86400;
	run();
	ck_assert_ptr_null(findings_get(&fs, CHECK_KEY_DISABLED));
	ck_assert_ptr_nonnull(findings_get(&fs, CHECK_KEY_PENDING_DELETION));
}
END_TEST

START_TEST(test_check_pending_deletion_policy_invalid_state_is_quiet)
{
	set_str(&snap.meta.state, "PendingDeletion");
	snap.meta.enabled = 0;
	snap.meta.deletion_date = (double)NOW + 30 * 86400;
	set_str(&snap.policy, NULL);
	set_err(&snap.policy_err, KMS_ERR_INVALID_STATE,
	    "KMSInvalidStateException", "is pending deletion");
	set_err(&snap.rotation_err, KMS_ERR_INVALID_STATE,
	    "KMSInvalidStateException", "is pending deletion");
	run();
	expect_only(CHECK_KEY_PENDING_DELETION, NULL);
}
END_TEST

START_TEST(test_check_days_left_floors_around_midnight)
{
	/* 23:59:59 UTC, deletion two seconds later at the next day's 00:00:01:
	 * not a whole day left. */
	const time_t	 before = 1795046399;	/* 2026-11-18T23:59:59Z */
	const struct finding *f;

	set_str(&snap.meta.state, "PendingDeletion");
	snap.meta.deletion_date = (double)before + 2;
	findings_clear(&fs);
	ck_assert_int_eq(check_key(&snap, &base, &want, before, &fs), 0);
	f = get(CHECK_KEY_PENDING_DELETION, SEV_CRITICAL);
	ck_assert_int_eq(dint(f, "days_left"), 0);
	ck_assert_str_eq(dstr(f, "deletion_date"), "2026-11-19T00:00:01Z");

	/* Exactly 7 days: 7; one second less: 6. */
	snap.meta.deletion_date = (double)before + 7 * 86400;
	findings_clear(&fs);
	ck_assert_int_eq(check_key(&snap, &base, &want, before, &fs), 0);
	ck_assert_int_eq(dint(get(CHECK_KEY_PENDING_DELETION, SEV_CRITICAL),
	    "days_left"), 7);
	findings_clear(&fs);
	ck_assert_int_eq(check_key(&snap, &base, &want, before + 1, &fs), 0);
	ck_assert_int_eq(dint(get(CHECK_KEY_PENDING_DELETION, SEV_CRITICAL),
	    "days_left"), 6);

	/* Fractional DeletionDate as KMS sends it. */
	snap.meta.deletion_date = (double)before + 86400.317;
	findings_clear(&fs);
	ck_assert_int_eq(check_key(&snap, &base, &want, before, &fs), 0);
	ck_assert_int_eq(dint(get(CHECK_KEY_PENDING_DELETION, SEV_CRITICAL),
	    "days_left"), 1);
	ck_assert_ptr_nonnull(strstr(findings_get(&fs,
	    CHECK_KEY_PENDING_DELETION)->summary, "1 day left"));
}
END_TEST

START_TEST(test_check_days_left_past_date_is_zero)
{
	set_str(&snap.meta.state, "PendingDeletion");
	snap.meta.deletion_date = (double)NOW - 3600;
	run();
	ck_assert_int_eq(dint(get(CHECK_KEY_PENDING_DELETION, SEV_CRITICAL),
	    "days_left"), 0);
}
END_TEST

START_TEST(test_check_pending_deletion_without_date)
{
	const struct finding *f;

	set_str(&snap.meta.state, "PendingDeletion");
	run();
	f = get(CHECK_KEY_PENDING_DELETION, SEV_CRITICAL);
	ck_assert(json_is_null(json_object_get(f->details, "deletion_date")));
	ck_assert(json_is_null(json_object_get(f->details, "days_left")));
}
END_TEST

START_TEST(test_check_key_pending_replica_deletion)
{
	const struct finding *f;

	set_str(&snap.meta.state, "PendingReplicaDeletion");
	snap.meta.pending_window_days = 7;
	run();
	expect_only(CHECK_KEY_PENDING_REPLICA_DELETION, NULL);
	f = get(CHECK_KEY_PENDING_REPLICA_DELETION, SEV_CRITICAL);
	ck_assert_int_eq(dint(f, "pending_window_days"), 7);
}
END_TEST

START_TEST(test_check_key_deleted)
{
	check_snapshot_free(&snap);
	snap.polled_at = NOW;
	set_err(&snap.describe_err, KMS_ERR_NOT_FOUND, "NotFoundException",
	    "Key '" ARN "' does not exist");
	run();
	expect_only(CHECK_KEY_DELETED, NULL);
	get(CHECK_KEY_DELETED, SEV_CRITICAL);
}
END_TEST

START_TEST(test_check_deleted_key_other_parts_are_quiet)
{
	/* Everything else failing with NotFound, policy included, and the
	 * alias gone with the key: only key-deleted. */
	check_snapshot_free(&snap);
	set_err(&snap.describe_err, KMS_ERR_NOT_FOUND, "NotFoundException",
	    "gone");
	snap.policy_known = 1;
	set_err(&snap.policy_err, KMS_ERR_NOT_FOUND, "NotFoundException",
	    "gone");
	snap.rotation_known = 1;
	set_err(&snap.rotation_err, KMS_ERR_NOT_FOUND, "NotFoundException",
	    "gone");
	snap.alias_known = 1;
	set_err(&snap.alias_err, KMS_ERR_NOT_FOUND, "NotFoundException",
	    "gone");
	run();
	expect_only(CHECK_KEY_DELETED, NULL);
}
END_TEST

START_TEST(test_check_deleted_key_with_alias_on_new_key_is_also_replaced)
{
	check_snapshot_free(&snap);
	set_err(&snap.describe_err, KMS_ERR_NOT_FOUND, "NotFoundException",
	    "gone");
	snap.alias_known = 1;
	set_str(&snap.alias_key_arn, OTHER);
	run();
	expect_only(CHECK_KEY_DELETED, CHECK_KEY_REPLACED, NULL);
}
END_TEST

START_TEST(test_check_key_unavailable)
{
	set_str(&snap.meta.state, "Unavailable");
	set_str(&snap.meta.custom_key_store_id, "cks-1234567890abcdef0");
	run();
	expect_only(CHECK_KEY_UNAVAILABLE, NULL);
	ck_assert_str_eq(dstr(get(CHECK_KEY_UNAVAILABLE, SEV_CRITICAL),
	    "custom_key_store_id"), "cks-1234567890abcdef0");
}
END_TEST

START_TEST(test_check_key_pending_import_is_unavailable)
{
	set_str(&snap.meta.state, "PendingImport");
	set_str(&snap.meta.origin, "EXTERNAL");
	run();
	expect_only(CHECK_KEY_UNAVAILABLE, NULL);
	ck_assert_str_eq(dstr(get(CHECK_KEY_UNAVAILABLE, SEV_CRITICAL),
	    "state"), "PendingImport");
}
END_TEST

START_TEST(test_check_transient_states_are_quiet)
{
	set_str(&snap.meta.state, "Creating");
	run();
	expect_only(NULL);
	set_str(&snap.meta.state, "Updating");
	run();
	expect_only(NULL);
}
END_TEST

START_TEST(test_check_unknown_key_state_is_check_failed)
{
	const struct finding *f;

	set_str(&snap.meta.state, "Hibernating");
	run();
	expect_only(CHECK_CHECK_FAILED, NULL);
	f = get(CHECK_CHECK_FAILED, SEV_UNKNOWN);
	ck_assert_ptr_nonnull(strstr(f->summary, "Hibernating"));
	ck_assert_str_eq(dstr(f, "operation"), "DescribeKey");
}
END_TEST

START_TEST(test_check_missing_key_state_is_check_failed)
{
	set_str(&snap.meta.state, NULL);
	run();
	expect_only(CHECK_CHECK_FAILED, NULL);
	ck_assert_str_eq(dstr(get(CHECK_CHECK_FAILED, SEV_UNKNOWN), "class"),
	    "malformed");
}
END_TEST

/* --- imported material --- */

static void
imported(double valid_to)
{
	set_str(&snap.meta.origin, "EXTERNAL");
	set_str(&snap.meta.expiration_model, "KEY_MATERIAL_EXPIRES");
	snap.meta.valid_to = valid_to;
	/* Imported material can't rotate automatically. */
	want.expect_rotation = 0;
}

START_TEST(test_check_material_expiring_far_away_is_quiet)
{
	imported((double)NOW + 31 * 86400);
	run();
	expect_only(NULL);
}
END_TEST

START_TEST(test_check_material_expiring_warning_inside_window)
{
	const struct finding *f;

	imported((double)NOW + 29 * 86400 + 10);
	run();
	expect_only(CHECK_KEY_MATERIAL_EXPIRING, NULL);
	f = get(CHECK_KEY_MATERIAL_EXPIRING, SEV_WARNING);
	ck_assert_int_eq(dint(f, "days_left"), 29);
	ck_assert_ptr_nonnull(strstr(f->summary, "29 days left"));
}
END_TEST

START_TEST(test_check_material_expiring_severity_transitions)
{
	/* 30 days + 1s: quiet; 30 days: warning; 7 days: warning; 7 days - 1s:
	 * critical; past: critical and expired. */
	imported((double)NOW + 30 * 86400 + 1);
	run();
	expect_only(NULL);
	snap.meta.valid_to = (double)NOW + 30 * 86400;
	run();
	get(CHECK_KEY_MATERIAL_EXPIRING, SEV_WARNING);
	snap.meta.valid_to = (double)NOW + 7 * 86400;
	run();
	get(CHECK_KEY_MATERIAL_EXPIRING, SEV_WARNING);
	snap.meta.valid_to = (double)NOW + 7 * 86400 - 1;
	run();
	get(CHECK_KEY_MATERIAL_EXPIRING, SEV_CRITICAL);
	snap.meta.valid_to = (double)NOW - 1;
	run();
	ck_assert(json_is_true(json_object_get(get(CHECK_KEY_MATERIAL_EXPIRING,
	    SEV_CRITICAL)->details, "expired")));
}
END_TEST

START_TEST(test_check_material_expiry_window_is_configurable)
{
	imported((double)NOW + 20 * 86400);
	want.material_expiry_warning = 14 * 86400;
	run();
	expect_only(NULL);
	/* A window under 7 days still turns critical under 7 days. */
	want.material_expiry_warning = 86400;
	snap.meta.valid_to = (double)NOW + 3 * 86400;
	run();
	get(CHECK_KEY_MATERIAL_EXPIRING, SEV_CRITICAL);
}
END_TEST

START_TEST(test_check_material_expired_with_pending_import)
{
	/* Past ValidTo KMS deletes the material: PendingImport. */
	imported((double)NOW - 86400);
	set_str(&snap.meta.state, "PendingImport");
	run();
	expect_only(CHECK_KEY_UNAVAILABLE, CHECK_KEY_MATERIAL_EXPIRING, NULL);
}
END_TEST

START_TEST(test_check_material_expiry_quiet_when_pending_deletion)
{
	imported((double)NOW + 86400);
	set_str(&snap.meta.state, "PendingDeletion");
	snap.meta.deletion_date = (double)NOW + 10 * 86400;
	run();
	expect_only(CHECK_KEY_PENDING_DELETION, NULL);
}
END_TEST

START_TEST(test_check_material_does_not_expire)
{
	imported((double)NOW + 86400);
	set_str(&snap.meta.expiration_model, "KEY_MATERIAL_DOES_NOT_EXPIRE");
	run();
	expect_only(NULL);
}
END_TEST

/* --- alias --- */

START_TEST(test_check_key_replaced_alias_points_elsewhere)
{
	const struct finding *f;

	set_str(&snap.alias_key_arn, OTHER);
	set_str(&snap.alias_key_id, "0987dcba-09fe-87dc-65ba-ab0987654321");
	run();
	expect_only(CHECK_KEY_REPLACED, NULL);
	f = get(CHECK_KEY_REPLACED, SEV_CRITICAL);
	ck_assert_str_eq(dstr(f, "actual_key"), OTHER);
	ck_assert_str_eq(dstr(f, "expected_key"), ARN);
	ck_assert(json_is_true(json_object_get(f->details, "alias_exists")));
	ck_assert_ptr_nonnull(strstr(f->summary, "alias/gearset-backup"));
}
END_TEST

START_TEST(test_check_key_replaced_compares_key_ids_without_arn)
{
	set_str(&snap.alias_key_arn, NULL);
	run();
	expect_only(NULL);
	set_str(&snap.alias_key_id, "0987dcba-09fe-87dc-65ba-ab0987654321");
	run();
	expect_only(CHECK_KEY_REPLACED, NULL);
}
END_TEST

START_TEST(test_check_key_replaced_alias_deleted)
{
	const struct finding *f;

	set_str(&snap.alias_key_arn, NULL);
	set_str(&snap.alias_key_id, NULL);
	set_err(&snap.alias_err, KMS_ERR_NOT_FOUND, "NotFoundException",
	    "Alias arn:aws:kms:eu-west-1:111122223333:alias/gearset-backup "
	    "is not found.");
	run();
	expect_only(CHECK_KEY_REPLACED, NULL);
	f = get(CHECK_KEY_REPLACED, SEV_CRITICAL);
	ck_assert(json_is_false(json_object_get(f->details, "alias_exists")));
	ck_assert(json_is_null(json_object_get(f->details, "actual_key")));
	ck_assert_ptr_nonnull(strstr(f->summary, "no longer exists"));
}
END_TEST

START_TEST(test_check_alias_not_polled_is_quiet)
{
	set_str(&snap.alias_key_arn, OTHER);
	snap.alias_known = 0;
	run();
	expect_only(NULL);
	/* No alias configured: nothing to compare. */
	snap.alias_known = 1;
	want.alias = NULL;
	run();
	expect_only(NULL);
}
END_TEST

START_TEST(test_check_alias_lookup_failure_is_check_failed)
{
	const struct finding *f;

	set_err(&snap.alias_err, KMS_ERR_ACCESS_DENIED, "AccessDeniedException",
	    "not authorized to perform kms:DescribeKey");
	run();
	expect_only(CHECK_CHECK_FAILED, NULL);
	f = get(CHECK_CHECK_FAILED, SEV_UNKNOWN);
	ck_assert_str_eq(dstr(f, "operation"), "DescribeKey(alias)");
}
END_TEST

/* --- vendor profile --- */

START_TEST(test_check_misconfigured_key_spec_and_usage)
{
	const struct finding *f;

	set_str(&snap.meta.key_spec, "RSA_2048");
	set_str(&snap.meta.key_usage, "SIGN_VERIFY");
	run();
	ck_assert_ptr_nonnull(findings_get(&fs, CHECK_KEY_MISCONFIGURED));
	f = get(CHECK_KEY_MISCONFIGURED, SEV_CRITICAL);
	ck_assert_uint_eq(json_array_size(json_object_get(f->details,
	    "problems")), 2);
	ck_assert_ptr_nonnull(strstr(f->summary, "RSA_2048"));
	ck_assert_ptr_nonnull(strstr(f->summary, "SIGN_VERIFY"));
	ck_assert_str_eq(dstr(f, "key_spec"), "RSA_2048");
}
END_TEST

START_TEST(test_check_missing_key_spec_or_usage_is_check_failed)
{
	char	**fields[] = { &snap.meta.key_spec, &snap.meta.key_usage,
		    &snap.meta.key_manager, &snap.meta.state };
	static const char * const codes[] = { "MissingKeySpec",
	    "MissingKeyUsage", "MissingKeyManager", "MissingKeyState" };
	static const char * const values[] = { "SYMMETRIC_DEFAULT",
	    "ENCRYPT_DECRYPT", "CUSTOMER", "Enabled" };
	const struct finding *f;
	size_t	i;

	/* An answer that lacks what the vendor check judges is no verdict:
	 * not key-misconfigured (critical), but check-failed. */
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		set_str(fields[i], NULL);
		run();
		expect_only(CHECK_CHECK_FAILED, NULL);
		f = get(CHECK_CHECK_FAILED, SEV_UNKNOWN);
		ck_assert_str_eq(dstr(f, "code"), codes[i]);
		set_str(fields[i], values[i]);
	}
}
END_TEST

START_TEST(test_check_misconfigured_aws_managed_key)
{
	set_str(&snap.meta.key_manager, "AWS");
	run();
	expect_only(CHECK_KEY_MISCONFIGURED, NULL);
	ck_assert_ptr_nonnull(strstr(get(CHECK_KEY_MISCONFIGURED,
	    SEV_CRITICAL)->summary, "AWS managed"));
}
END_TEST

START_TEST(test_check_misconfigured_unsupported_region)
{
	const struct finding *f;

	want.id.region = "us-east-1";
	want.id.arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
	set_str(&snap.alias_key_arn, want.id.arn);
	run();
	/* No vendor account to evaluate the policy for: only this. */
	expect_only(CHECK_KEY_MISCONFIGURED, NULL);
	f = get(CHECK_KEY_MISCONFIGURED, SEV_CRITICAL);
	ck_assert_ptr_nonnull(strstr(f->summary, "unsupported region"));
	ck_assert_str_eq(dstr(f, "region"), "us-east-1");
}
END_TEST

START_TEST(test_check_no_vendor_no_vendor_checks)
{
	want.vendor = NULL;
	want.id.region = "us-east-1";
	set_str(&snap.meta.key_spec, "RSA_2048");
	run();
	expect_only(NULL);
}
END_TEST

/* --- rotation --- */

START_TEST(test_check_rotation_disabled)
{
	snap.rotation.enabled = 0;
	run();
	expect_only(CHECK_ROTATION_DISABLED, NULL);
	get(CHECK_ROTATION_DISABLED, SEV_WARNING);
}
END_TEST

START_TEST(test_check_rotation_not_expected_is_quiet)
{
	snap.rotation.enabled = 0;
	want.expect_rotation = 0;
	run();
	expect_only(NULL);
	/* Nor does a failed rotation poll matter then. */
	set_err(&snap.rotation_err, KMS_ERR_ACCESS_DENIED,
	    "AccessDeniedException", "no");
	run();
	expect_only(NULL);
}
END_TEST

START_TEST(test_check_rotation_quiet_for_disabled_key)
{
	snap.rotation.enabled = 0;
	set_str(&snap.meta.state, "Disabled");
	run();
	expect_only(CHECK_KEY_DISABLED, NULL);
}
END_TEST

START_TEST(test_check_rotation_quiet_for_pending_deletion)
{
	snap.rotation.enabled = 0;
	set_str(&snap.meta.state, "PendingDeletion");
	snap.meta.deletion_date = (double)NOW + 86400 * 9;
	run();
	expect_only(CHECK_KEY_PENDING_DELETION, NULL);
}
END_TEST

START_TEST(test_check_rotation_not_polled_is_quiet)
{
	snap.rotation.enabled = 0;
	snap.rotation_known = 0;
	run();
	expect_only(NULL);
}
END_TEST

START_TEST(test_check_rotation_unsupported_with_expect_rotation)
{
	set_err(&snap.rotation_err, KMS_ERR_OTHER,
	    "UnsupportedOperationException", "EXTERNAL key");
	set_str(&snap.meta.origin, "EXTERNAL");
	run();
	expect_only(CHECK_ROTATION_DISABLED, NULL);
	ck_assert(json_is_false(json_object_get(get(CHECK_ROTATION_DISABLED,
	    SEV_WARNING)->details, "supported")));
}
END_TEST

START_TEST(test_check_rotation_status_failure_is_check_failed)
{
	set_err(&snap.rotation_err, KMS_ERR_THROTTLED, "ThrottlingException",
	    "Rate exceeded");
	run();
	expect_only(CHECK_CHECK_FAILED, NULL);
	ck_assert_str_eq(dstr(get(CHECK_CHECK_FAILED, SEV_UNKNOWN),
	    "operation"), "GetKeyRotationStatus");
}
END_TEST

START_TEST(test_check_key_material_rotated)
{
	const struct finding *f;

	set_str(&snap.meta.current_key_material_id, "mat-2");
	run();
	expect_only(CHECK_KEY_MATERIAL_ROTATED, NULL);
	f = get(CHECK_KEY_MATERIAL_ROTATED, SEV_INFO);
	ck_assert_str_eq(dstr(f, "previous_material_id"), "mat-1");
	ck_assert_str_eq(dstr(f, "current_material_id"), "mat-2");
	ck_assert_int_eq(findings_worst(&fs), SEV_INFO);
}
END_TEST

START_TEST(test_check_material_rotated_needs_both_ids)
{
	set_str(&snap.meta.current_key_material_id, NULL);
	run();
	expect_only(NULL);
	set_str(&snap.meta.current_key_material_id, "mat-2");
	set_str(&base.material_id, NULL);
	run();
	expect_only(NULL);
	ck_assert_int_eq(check_key(&snap, NULL, &want, NOW, &fs), 0);
	expect_only(NULL);
}
END_TEST

START_TEST(test_check_material_rotated_fires_once_per_rotation)
{
	int	changed;

	set_str(&snap.meta.current_key_material_id, "mat-2");
	run();
	expect_only(CHECK_KEY_MATERIAL_ROTATED, NULL);
	ck_assert_int_eq(check_update_baseline(&base, &snap, NOW, &changed),
	    0);
	ck_assert_int_eq(changed, 1);
	ck_assert_str_eq(base.material_id, "mat-2");
	run();
	expect_only(NULL);
	ck_assert_int_eq(check_update_baseline(&base, &snap, NOW + 60,
	    &changed), 0);
	ck_assert_int_eq(changed, 0);
}
END_TEST

/* --- errors --- */

START_TEST(test_check_describe_access_denied_is_check_failed)
{
	const struct finding *f;


	set_str(&snap.meta.state, NULL);
	set_err(&snap.describe_err, KMS_ERR_ACCESS_DENIED,
	    "AccessDeniedException", "User: arn:aws:sts::111122223333:"
	    "assumed-role/keyhealthd-ro/x is not authorized to perform: "
	    "kms:DescribeKey");
	snap.describe_err.status = 400;
	run();
	ck_assert_ptr_nonnull(findings_get(&fs, CHECK_CHECK_FAILED));
	ck_assert_ptr_null(findings_get(&fs, CHECK_KEY_DELETED));
	f = get(CHECK_CHECK_FAILED, SEV_UNKNOWN);
	ck_assert_str_eq(dstr(f, "code"), "AccessDeniedException");
	ck_assert_str_eq(dstr(f, "class"), "access-denied");
	ck_assert_str_eq(dstr(f, "operation"), "DescribeKey");
	ck_assert_ptr_nonnull(strstr(dstr(f, "message"), "not authorized"));
	ck_assert_int_eq(dint(f, "status"), 400);
	ck_assert_ptr_nonnull(strstr(f->summary, "DescribeKey"));
	ck_assert_ptr_nonnull(strstr(f->summary, "AccessDeniedException"));
}
END_TEST

START_TEST(test_check_error_classes_are_check_failed)
{
	static const struct {
		enum kms_errclass	 cls;
		const char		*code, *name;
	} t[] = {
		{ KMS_ERR_AUTH, "UnrecognizedClientException", "auth" },
		{ KMS_ERR_THROTTLED, "ThrottlingException", "throttled" },
		{ KMS_ERR_SERVER, "HTTP 503", "server" },
		{ KMS_ERR_TRANSPORT, "Timeout", "transport" },
		{ KMS_ERR_MALFORMED, "MalformedResponse", "malformed" },
	};
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		set_err(&snap.describe_err, t[i].cls, t[i].code, "m");
		set_err(&snap.policy_err, t[i].cls, t[i].code, "m");
		set_str(&snap.policy, NULL);
		run();
		expect_only(CHECK_CHECK_FAILED, NULL);
		ck_assert_str_eq(dstr(get(CHECK_CHECK_FAILED, SEV_UNKNOWN),
		    "class"), t[i].name);
		ck_assert_str_eq(dstr(get(CHECK_CHECK_FAILED, SEV_UNKNOWN),
		    "code"), t[i].code);
		/* Both operations listed in one finding. */
		ck_assert_uint_eq(json_array_size(json_object_get(
		    fs.v[0].details, "errors")), 2);
	}
}
END_TEST

START_TEST(test_check_policy_fetch_failure_keeps_state_findings)
{
	const struct finding *f;

	set_str(&snap.meta.state, "Disabled");
	set_str(&snap.policy, NULL);
	set_err(&snap.policy_err, KMS_ERR_ACCESS_DENIED,
	    "AccessDeniedException", "not authorized to perform "
	    "kms:GetKeyPolicy");
	run();
	expect_only(CHECK_KEY_DISABLED, CHECK_CHECK_FAILED, NULL);
	f = get(CHECK_CHECK_FAILED, SEV_UNKNOWN);
	ck_assert_str_eq(dstr(f, "operation"), "GetKeyPolicy");
	ck_assert_ptr_nonnull(strstr(f->summary, "GetKeyPolicy"));
}
END_TEST

START_TEST(test_check_policy_invalid_state_on_enabled_key_is_check_failed)
{
	set_str(&snap.policy, NULL);
	set_err(&snap.policy_err, KMS_ERR_INVALID_STATE,
	    "KMSInvalidStateException", "odd");
	run();
	expect_only(CHECK_CHECK_FAILED, NULL);
}
END_TEST

START_TEST(test_check_summary_is_one_bounded_line)
{
	const struct finding *f;
	char	 msg[256];

	/* A message from the network with line breaks, and long. */
	memset(msg, 'm', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	memcpy(msg, "line1\nline2\r\t", 13);
	set_err(&snap.describe_err, KMS_ERR_OTHER, "WeirdException", msg);
	set_err(&snap.alias_err, KMS_ERR_OTHER, "WeirdException", msg);
	run();
	f = get(CHECK_CHECK_FAILED, SEV_UNKNOWN);
	ck_assert_uint_le(strlen(f->summary), CHECK_SUMMARY_MAX);
	ck_assert_ptr_null(strpbrk(f->summary, "\r\n\t"));
	ck_assert_ptr_nonnull(strstr(f->summary, "line1 line2"));
	/* The details keep the message as KMS sent it. */
	ck_assert_ptr_nonnull(strstr(dstr(f, "message"), "line1\nline2"));
}
END_TEST

START_TEST(test_check_long_summary_is_cut_at_a_character)
{
	const struct finding *f;
	char	 alias[600];
	size_t	 i;

	/* "alias/" and 2-byte UTF-8 characters (é), far too long. */
	snprintf(alias, sizeof(alias), "alias/");
	for (i = 6; i + 2 < sizeof(alias); i += 2)
		memcpy(alias + i, "\xc3\xa9", 2);
	alias[i] = '\0';
	want.alias = alias;
	set_str(&snap.alias_key_arn, OTHER);
	run();
	f = get(CHECK_KEY_REPLACED, SEV_CRITICAL);
	ck_assert_uint_le(strlen(f->summary), CHECK_SUMMARY_MAX);
	ck_assert_str_eq(f->summary + strlen(f->summary) - 3, "...");
	ck_assert_int_eq((unsigned char)f->summary[strlen(f->summary) - 4],
	    0xa9);
	ck_assert_str_eq(dstr(f, "alias"), alias);
}
END_TEST

START_TEST(test_check_several_findings_at_once)
{
	set_str(&snap.meta.state, "Disabled");
	set_str(&snap.meta.key_spec, "RSA_4096");
	set_str(&snap.alias_key_arn, OTHER);
	set_str(&snap.meta.current_key_material_id, "mat-9");
	run();
	expect_only(CHECK_KEY_DISABLED, CHECK_KEY_MISCONFIGURED,
	    CHECK_KEY_REPLACED, CHECK_KEY_MATERIAL_ROTATED, NULL);
	ck_assert_int_eq(findings_worst(&fs), SEV_CRITICAL);
}
END_TEST

/* --- key policy --- */

/* GEARSET_POLICY with one substring replaced. */
static void
policy_with(const char *from, const char *to)
{
	const char	*text = GEARSET_POLICY, *at = strstr(text, from);
	char		 buf[8192];

	ck_assert_msg(at != NULL, "\"%s\" not in the policy", from);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - text), text, to,
	    at + strlen(from));
	set_str(&snap.policy, buf);
}

#define USE_STMT \
"  {\"Sid\": \"Allow use of the key\", \"Effect\": \"Allow\",\n" \
"   \"Principal\": {\"AWS\": \"arn:aws:iam::347752291521:root\"},\n" \
"   \"Action\": [\"kms:Encrypt\", \"kms:Decrypt\", \"kms:ReEncrypt*\",\n" \
"              \"kms:GenerateDataKey*\", \"kms:DescribeKey\"],\n" \
"   \"Resource\": \"*\"},\n"

START_TEST(test_check_vendor_statement_removed_is_access_missing)
{
	const struct finding *f;
	json_t	*acts;

	policy_with(USE_STMT, "");
	run();
	expect_only(CHECK_VENDOR_ACCESS_MISSING, NULL);
	f = get(CHECK_VENDOR_ACCESS_MISSING, SEV_CRITICAL);
	ck_assert_str_eq(dstr(f, "account"), "347752291521");
	ck_assert_str_eq(dstr(f, "vendor"), "gearset");
	acts = json_object_get(f->details, "actions");
	ck_assert(json_array_size(acts) >= 5);
	ck_assert_ptr_nonnull(strstr(f->summary, "347752291521"));
}
END_TEST

START_TEST(test_check_deny_added_is_access_missing)
{
	const struct finding *f;
	json_t	*a;
	size_t	 i;
	int	 denied = 0;

	policy_with(" ]}", ",\n  {\"Sid\": \"NoDecrypt\", \"Effect\": \"Deny\","
	    " \"Principal\": \"*\", \"Action\": \"kms:Decrypt\","
	    " \"Resource\": \"*\"}\n ]}");
	run();
	expect_only(CHECK_VENDOR_ACCESS_MISSING, NULL);
	f = get(CHECK_VENDOR_ACCESS_MISSING, SEV_CRITICAL);
	json_array_foreach(json_object_get(f->details, "actions"), i, a)
		if (json_is_string(json_object_get(a, "denied_by")))
			denied++;
	ck_assert_int_eq(denied, 1);
}
END_TEST

START_TEST(test_check_grant_condition_false_is_access_missing)
{
	policy_with("\"kms:GrantIsForAWSResource\": \"true\"",
	    "\"kms:GrantIsForAWSResource\": \"false\"");
	run();
	expect_only(CHECK_VENDOR_ACCESS_MISSING, NULL);
}
END_TEST

START_TEST(test_check_wrong_vendor_account_for_region_is_access_missing)
{
	/* The us-west-2 account granted on an eu-west-1 key. */
	char	buf[8192], *p;

	snprintf(buf, sizeof(buf), "%s", GEARSET_POLICY);
	while ((p = strstr(buf, "347752291521")) != NULL)
		memcpy(p, "157764733222", 12);
	set_str(&snap.policy, buf);
	run();
	expect_only(CHECK_VENDOR_ACCESS_MISSING, NULL);
}
END_TEST

START_TEST(test_check_vendor_cannot_tell_is_check_failed_not_critical)
{
	const struct finding *f;

	/* Depends on the vendor's source IP, which nobody can know here. */
	policy_with("\"Resource\": \"*\"},\n  {\"Sid\": \"Allow attachment",
	    "\"Resource\": \"*\", \"Condition\": {\"IpAddress\": "
	    "{\"aws:SourceIp\": \"203.0.113.0/24\"}}},\n"
	    "  {\"Sid\": \"Allow attachment");
	run();
	expect_only(CHECK_CHECK_FAILED, NULL);
	f = get(CHECK_CHECK_FAILED, SEV_UNKNOWN);
	ck_assert_str_eq(dstr(f, "operation"), "PolicyEvaluation");
	ck_assert_ptr_nonnull(strstr(f->summary, "cannot tell"));
}
END_TEST

/* Decrypt & co. depend on the vendor's source IP (cannot tell) while
 * CreateGrant's statement is gone (certainly missing): the summary must
 * lead with what is certainly missing. */
START_TEST(test_check_access_missing_summary_names_missing_not_unknown)
{
	const struct finding *f;
	const char	*grant = strstr(GEARSET_POLICY,
			    ",\n  {\"Sid\": \"Allow attachment");
	const char	*use = strstr(GEARSET_POLICY, USE_STMT);
	const char	*res;
	char		 buf[8192];

	ck_assert_ptr_nonnull(grant);
	ck_assert_ptr_nonnull(use);
	/* The use statement, its Resource followed by a condition nobody
	 * can evaluate here; the grant statement dropped. */
	res = strstr(use, "\"Resource\": \"*\"") + strlen("\"Resource\": \"*\"");
	snprintf(buf, sizeof(buf), "%.*s, \"Condition\": {\"IpAddress\": "
	    "{\"aws:SourceIp\": \"203.0.113.0/24\"}}}\n ]}",
	    (int)(res - GEARSET_POLICY), GEARSET_POLICY);
	set_str(&snap.policy, buf);
	run();
	f = get(CHECK_VENDOR_ACCESS_MISSING, SEV_CRITICAL);
	ck_assert_msg(strstr(f->summary, "cannot tell") == NULL, "%s",
	    f->summary);
	ck_assert_msg(strstr(f->summary, "kms:CreateGrant") != NULL ||
	    strstr(f->summary, "kms:ListGrants") != NULL ||
	    strstr(f->summary, "kms:RevokeGrant") != NULL, "%s", f->summary);
	ck_assert_msg(strstr(f->summary, "(and 2 more actions)") != NULL,
	    "%s", f->summary);
}
END_TEST

START_TEST(test_check_unparsable_policy_is_check_failed)
{
	set_str(&snap.policy, "{\"Statement\": [{\"Effect\": \"Maybe\"}]}");
	run();
	expect_only(CHECK_CHECK_FAILED, NULL);
	ck_assert_ptr_nonnull(strstr(get(CHECK_CHECK_FAILED,
	    SEV_UNKNOWN)->summary, "policy"));
}
END_TEST

START_TEST(test_check_policy_checks_quiet_without_policy_poll)
{
	set_str(&snap.policy, NULL);
	snap.policy_known = 0;
	run();
	expect_only(NULL);
}
END_TEST

START_TEST(test_check_first_poll_sets_policy_baseline)
{
	int	changed;

	ck_assert_int_eq(base.has_policy, 0);
	ck_assert_int_eq(check_update_baseline(&base, &snap, NOW, &changed),
	    0);
	ck_assert_int_eq(changed, 1);
	ck_assert_int_eq(base.has_policy, 1);
	ck_assert_str_eq(base.policy, GEARSET_POLICY);
	ck_assert_ptr_nonnull(base.policy_canonical);
	ck_assert_int_eq((long long)base.accepted_at, (long long)NOW);
	/* A later poll with another policy does not move the baseline. */
	policy_with(USE_STMT, "");
	ck_assert_int_eq(check_update_baseline(&base, &snap, NOW + 60,
	    &changed), 0);
	ck_assert_int_eq(changed, 0);
	ck_assert_str_eq(base.policy, GEARSET_POLICY);
}
END_TEST

START_TEST(test_check_policy_changed_with_diff)
{
	const struct finding *f;
	json_t	*diff;

	ck_assert_int_eq(check_update_baseline(&base, &snap, NOW - 86400,
	    NULL), 0);
	policy_with(" ]}", ",\n  {\"Sid\": \"Auditors\", \"Effect\": \"Allow\","
	    " \"Principal\": {\"AWS\": \"arn:aws:iam::999988887777:root\"},"
	    " \"Action\": \"kms:DescribeKey\", \"Resource\": \"*\"}\n ]}");
	run();
	expect_only(CHECK_POLICY_CHANGED, NULL);
	f = get(CHECK_POLICY_CHANGED, SEV_WARNING);
	diff = json_object_get(f->details, "diff");
	ck_assert(json_array_size(diff) >= 1);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(diff, 0)),
	    "Auditors"));
	ck_assert_ptr_nonnull(strstr(f->summary, "Auditors"));
	ck_assert_ptr_nonnull(strstr(f->summary, "baseline accept"));
	ck_assert_str_eq(dstr(f, "baseline_accepted_at"),
	    "2026-11-17T11:06:40Z");
}
END_TEST

/* The daemon keeps a baseline as its digest once the text is on disk:
 * the same policy needs no text, a changed one asks for it back, a memo
 * of the pair does not, and without it the check fails loudly. */
START_TEST(test_check_baseline_digest_only)
{
	struct check_cache	 c;
	struct key_baseline	 full;
	char			*text;

	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(check_update_baseline(&base, &snap, NOW, NULL), 0);
	text = xstrdup(base.policy);
	check_baseline_drop_text(&base);
	ck_assert(base.has_policy);
	ck_assert_ptr_null(base.policy);
	ck_assert_ptr_null(base.policy_canonical);
	ck_assert_int_eq(check_baseline_text_needed(&snap, &base, &c), 0);
	findings_clear(&fs);
	ck_assert_int_eq(check_key_cached(&snap, &base, &want, NOW, &c, &fs),
	    0);
	expect_only(NULL);

	policy_with(" ]}", ",\n  {\"Sid\": \"Auditors\", \"Effect\": \"Allow\","
	    " \"Principal\": {\"AWS\": \"arn:aws:iam::999988887777:root\"},"
	    " \"Action\": \"kms:DescribeKey\", \"Resource\": \"*\"}\n ]}");
	ck_assert_int_eq(check_baseline_text_needed(&snap, &base, &c), 1);
	/* Not read back: check-failed naming the baseline, never silence. */
	run();
	expect_only(CHECK_CHECK_FAILED, NULL);
	ck_assert_str_eq(dstr(get(CHECK_CHECK_FAILED, SEV_UNKNOWN),
	    "operation"), "PolicyBaseline");

	/* Read back (as the daemon does from the state file): the diff, and
	 * the memo then answers without the text. */
	memset(&full, 0, sizeof(full));
	full.has_policy = 1;
	full.policy = text;
	ck_assert_int_eq(check_baseline_digest(&full), 0);
	ck_assert_mem_eq(full.policy_md, base.policy_md, CHECK_DIGEST_LEN);
	base.policy = full.policy;
	findings_clear(&fs);
	ck_assert_int_eq(check_key_cached(&snap, &base, &want, NOW, &c, &fs),
	    0);
	expect_only(CHECK_POLICY_CHANGED, NULL);
	check_baseline_drop_text(&base);
	ck_assert_int_eq(check_baseline_text_needed(&snap, &base, &c), 0);
	findings_clear(&fs);
	ck_assert_int_eq(check_key_cached(&snap, &base, &want, NOW, &c, &fs),
	    0);
	expect_only(CHECK_POLICY_CHANGED, NULL);
	check_cache_free(&c);
}
END_TEST

START_TEST(test_check_policy_reformatted_is_not_changed)
{
	ck_assert_int_eq(check_update_baseline(&base, &snap, NOW, NULL), 0);
	/* Same meaning: scalar vs one-element list, bare account id,
	 * action case, statement order. */
	set_str(&snap.policy,
	    "{\"Version\":\"2012-10-17\",\"Id\":\"key-consolepolicy-3\","
	    "\"Statement\":["
	    "{\"Sid\":\"Allow attachment of persistent resources\","
	    "\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"347752291521\"]},"
	    "\"Action\":[\"kms:RevokeGrant\",\"kms:CreateGrant\","
	    "\"kms:ListGrants\"],\"Resource\":[\"*\"],"
	    "\"Condition\":{\"Bool\":{\"kms:GrantIsForAWSResource\":true}}},"
	    "{\"Sid\":\"Allow use of the key\",\"Effect\":\"Allow\","
	    "\"Principal\":{\"AWS\":\"arn:aws:iam::347752291521:root\"},"
	    "\"Action\":[\"KMS:Encrypt\",\"kms:Decrypt\",\"kms:ReEncrypt*\","
	    "\"kms:GenerateDataKey*\",\"kms:DescribeKey\"],\"Resource\":\"*\"},"
	    "{\"Sid\":\"Enable IAM User Permissions\",\"Effect\":\"Allow\","
	    "\"Principal\":{\"AWS\":\"111122223333\"},\"Action\":[\"kms:*\"],"
	    "\"Resource\":\"*\"}]}");
	run();
	expect_only(NULL);
}
END_TEST

START_TEST(test_check_baseline_accept_clears_policy_changed)
{
	char	e[256];

	ck_assert_int_eq(check_update_baseline(&base, &snap, NOW, NULL), 0);
	policy_with(USE_STMT, "");
	run();
	expect_only(CHECK_POLICY_CHANGED, CHECK_VENDOR_ACCESS_MISSING, NULL);
	ck_assert_int_eq(check_accept_baseline(&base, &snap, NOW + 10, e,
	    sizeof(e)), 0);
	ck_assert_int_eq((long long)base.accepted_at, (long long)(NOW + 10));
	run();
	/* Accepting a drift does not make the vendor's access come back. */
	expect_only(CHECK_VENDOR_ACCESS_MISSING, NULL);
}
END_TEST

START_TEST(test_check_baseline_accept_needs_a_policy)
{
	char	e[256];

	set_str(&snap.policy, NULL);
	set_err(&snap.policy_err, KMS_ERR_ACCESS_DENIED,
	    "AccessDeniedException", "no");
	ck_assert_int_eq(check_accept_baseline(&base, &snap, NOW, e,
	    sizeof(e)), -1);
	ck_assert_ptr_nonnull(strstr(e, "AccessDeniedException"));
	ck_assert_int_eq(base.has_policy, 0);
	set_str(&snap.policy, "not json");
	kms_fault_free(&snap.policy_err);
	ck_assert_int_eq(check_accept_baseline(&base, &snap, NOW, e,
	    sizeof(e)), -1);
	ck_assert_ptr_nonnull(strstr(e, "does not parse"));
}
END_TEST

/* The same findings, field by field. */
static void
expect_same_findings(const struct findings *a, const struct findings *b,
    int step)
{
	size_t	i;

	ck_assert_msg(a->n == b->n, "step %d: %zu findings, not %zu", step,
	    a->n, b->n);
	for (i = 0; i < a->n; i++) {
		ck_assert_str_eq(a->v[i].check, b->v[i].check);
		ck_assert_int_eq(a->v[i].severity, b->v[i].severity);
		ck_assert_str_eq(a->v[i].summary, b->v[i].summary);
		ck_assert_msg(json_equal(a->v[i].details, b->v[i].details),
		    "step %d: details of %s differ", step, a->v[i].check);
	}
}

/*
 * The policy memo gives what the full evaluation gives, poll after poll,
 * through changes of the policy, of the baseline and of the verdict, and
 * keeps nothing that would join the poll's check-failed.
 */
START_TEST(test_check_policy_cache_gives_the_same_findings)
{
	struct check_cache	 c;
	struct findings		 cached;
	char			 err[256];
	int			 step;
	static const int	 memo_valid[] = { 1, 1, 1, 1, 1, 1, 0, 0, 1 };

	memset(&c, 0, sizeof(c));
	memset(&cached, 0, sizeof(cached));
	for (step = 0; step < 9; step++) {
		switch (step) {
		case 0:		/* healthy, no baseline yet */
		case 1:		/* the same text again: from the memo */
			break;
		case 2:		/* it becomes the baseline */
			ck_assert_int_eq(check_accept_baseline(&base, &snap,
			    NOW, err, sizeof(err)), 0);
			break;
		case 3:		/* the vendor's statement removed */
		case 4:		/* ... and still removed */
			policy_with(USE_STMT, "");
			break;
		case 5:		/* accepted: only vendor access remains */
			ck_assert_int_eq(check_accept_baseline(&base, &snap,
			    NOW, err, sizeof(err)), 0);
			break;
		case 6:		/* cannot tell: joins check-failed */
		case 7:
			policy_with("\"Resource\": \"*\"},\n  {\"Sid\": "
			    "\"Allow attachment", "\"Resource\": \"*\", "
			    "\"Condition\": {\"IpAddress\": {\"aws:SourceIp\": "
			    "\"203.0.113.0/24\"}}},\n  {\"Sid\": \"Allow "
			    "attachment");
			break;
		case 8:		/* healthy again, drifted from the baseline */
			set_str(&snap.policy, GEARSET_POLICY);
			break;
		}
		run();
		findings_clear(&cached);
		ck_assert_int_eq(check_key_cached(&snap, &base, &want, NOW, &c,
		    &cached), 0);
		expect_same_findings(&cached, &fs, step);
		ck_assert_msg(c.valid == memo_valid[step], "step %d: memo %d",
		    step, c.valid);
	}
	findings_clear(&cached);
	check_cache_free(&c);
}
END_TEST

START_TEST(test_check_several_findings_with_policy)
{
	ck_assert_int_eq(check_update_baseline(&base, &snap, NOW, NULL), 0);
	set_str(&snap.meta.state, "Disabled");
	policy_with(" ]}", ",\n  {\"Sid\": \"StopGearset\", \"Effect\": \"Deny\","
	    " \"Principal\": {\"AWS\": \"347752291521\"}, \"Action\": \"kms:*\","
	    " \"Resource\": \"*\"}\n ]}");
	snap.rotation.enabled = 0;
	run();
	/* No rotation warning for a disabled key. */
	expect_only(CHECK_KEY_DISABLED, CHECK_VENDOR_ACCESS_MISSING,
	    CHECK_POLICY_CHANGED, NULL);
}
END_TEST

/* --- snapshots, baselines, JSON --- */

START_TEST(test_check_carry_keeps_last_rotation_and_alias)
{
	struct key_snapshot	cur;

	memset(&cur, 0, sizeof(cur));
	snap.rotation.enabled = 0;
	snap.rotation_at = NOW - 600;
	set_str(&snap.alias_key_arn, OTHER);
	ck_assert_int_eq(check_snapshot_carry(&cur, &snap), 0);
	ck_assert_int_eq(cur.rotation_known, 1);
	ck_assert_int_eq(cur.rotation.enabled, 0);
	ck_assert_int_eq((long long)cur.rotation_at, (long long)(NOW - 600));
	ck_assert_int_eq(cur.alias_known, 1);
	ck_assert_str_eq(cur.alias_key_arn, OTHER);
	ck_assert_ptr_ne(cur.alias_key_arn, snap.alias_key_arn);

	/* A part polled this time is not overwritten. */
	check_snapshot_free(&cur);
	cur.rotation_known = 1;
	cur.rotation.enabled = 1;
	ck_assert_int_eq(check_snapshot_carry(&cur, &snap), 0);
	ck_assert_int_eq(cur.rotation.enabled, 1);
	check_snapshot_free(&cur);
	ck_assert_int_eq(check_snapshot_carry(&cur, NULL), 0);
}
END_TEST

START_TEST(test_check_update_baseline_records_material_id)
{
	struct key_baseline	b;
	int			changed;

	memset(&b, 0, sizeof(b));
	ck_assert_int_eq(check_update_baseline(&b, &snap, NOW, &changed), 0);
	ck_assert_int_eq(changed, 1);
	ck_assert_str_eq(b.material_id, "mat-1");
	ck_assert_int_eq((long long)b.material_seen_at, (long long)NOW);
	/* A failed DescribeKey leaves it alone. */
	set_err(&snap.describe_err, KMS_ERR_TRANSPORT, "Timeout", "t");
	set_str(&snap.meta.current_key_material_id, "mat-2");
	ck_assert_int_eq(check_update_baseline(&b, &snap, NOW, &changed), 0);
	ck_assert_int_eq(changed, 0);
	ck_assert_str_eq(b.material_id, "mat-1");
	check_baseline_free(&b);
}
END_TEST

START_TEST(test_check_json_shape)
{
	json_t	*j, *f;

	set_str(&snap.meta.state, "Disabled");
	run();
	j = check_key_json(&want, &snap, &fs);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "arn")), ARN);
	ck_assert_str_eq(json_string_value(json_object_get(j, "name")),
	    "gearset-eu");
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
	    "critical");
	ck_assert_str_eq(json_string_value(json_object_get(j, "state")),
	    "Disabled");
	ck_assert_str_eq(json_string_value(json_object_get(j, "polled_at")),
	    "2026-11-18T11:06:40Z");
	f = json_array_get(json_object_get(j, "findings"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f, "check")),
	    "key-disabled");
	ck_assert_str_eq(json_string_value(json_object_get(f, "severity")),
	    "critical");
	ck_assert(json_is_string(json_object_get(f, "summary")));
	ck_assert(json_is_object(json_object_get(f, "details")));
	json_decref(j);
}
END_TEST

START_TEST(test_check_json_ok_and_deleted)
{
	json_t	*j;

	run();
	j = check_key_json(&want, &snap, &fs);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
	ck_assert_uint_eq(json_array_size(json_object_get(j, "findings")), 0);
	json_decref(j);

	set_err(&snap.describe_err, KMS_ERR_NOT_FOUND, "NotFoundException",
	    "x");
	run();
	j = check_key_json(&want, &snap, &fs);
	ck_assert_str_eq(json_string_value(json_object_get(j, "state")),
	    "NotFound");
	json_decref(j);

	/* No snapshot yet; no name: the key id. */
	want.id.name = NULL;
	findings_clear(&fs);
	j = check_key_json(&want, NULL, &fs);
	ck_assert(json_is_null(json_object_get(j, "state")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "name")),
	    "1234abcd-12ab-34cd-56ef-1234567890ab");
	json_decref(j);
}
END_TEST

static Suite *
check_suite(void)
{
	Suite	*s = suite_create("check");
	TCase	*tc;

	tc = tcase_create("state");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_check_healthy_key_has_no_findings);
	tcase_add_test(tc, test_check_key_disabled);
	tcase_add_test(tc, test_check_key_pending_deletion_details);
	tcase_add_test(tc, test_check_pending_deletion_is_not_also_disabled);
	tcase_add_test(tc,
	    test_check_pending_deletion_policy_invalid_state_is_quiet);
	tcase_add_test(tc, test_check_days_left_floors_around_midnight);
	tcase_add_test(tc, test_check_days_left_past_date_is_zero);
	tcase_add_test(tc, test_check_pending_deletion_without_date);
	tcase_add_test(tc, test_check_key_pending_replica_deletion);
	tcase_add_test(tc, test_check_key_deleted);
	tcase_add_test(tc, test_check_deleted_key_other_parts_are_quiet);
	tcase_add_test(tc,
	    test_check_deleted_key_with_alias_on_new_key_is_also_replaced);
	tcase_add_test(tc, test_check_key_unavailable);
	tcase_add_test(tc, test_check_key_pending_import_is_unavailable);
	tcase_add_test(tc, test_check_transient_states_are_quiet);
	tcase_add_test(tc, test_check_unknown_key_state_is_check_failed);
	tcase_add_test(tc, test_check_missing_key_state_is_check_failed);
	suite_add_tcase(s, tc);

	tc = tcase_create("material");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_check_material_expiring_far_away_is_quiet);
	tcase_add_test(tc, test_check_material_expiring_warning_inside_window);
	tcase_add_test(tc, test_check_material_expiring_severity_transitions);
	tcase_add_test(tc, test_check_material_expiry_window_is_configurable);
	tcase_add_test(tc, test_check_material_expired_with_pending_import);
	tcase_add_test(tc,
	    test_check_material_expiry_quiet_when_pending_deletion);
	tcase_add_test(tc, test_check_material_does_not_expire);
	tcase_add_test(tc, test_check_key_material_rotated);
	tcase_add_test(tc, test_check_material_rotated_needs_both_ids);
	tcase_add_test(tc, test_check_material_rotated_fires_once_per_rotation);
	suite_add_tcase(s, tc);

	tc = tcase_create("alias");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_check_key_replaced_alias_points_elsewhere);
	tcase_add_test(tc, test_check_key_replaced_compares_key_ids_without_arn);
	tcase_add_test(tc, test_check_key_replaced_alias_deleted);
	tcase_add_test(tc, test_check_alias_not_polled_is_quiet);
	tcase_add_test(tc, test_check_alias_lookup_failure_is_check_failed);
	suite_add_tcase(s, tc);

	tc = tcase_create("vendor");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_check_misconfigured_key_spec_and_usage);
	tcase_add_test(tc, test_check_missing_key_spec_or_usage_is_check_failed);
	tcase_add_test(tc, test_check_misconfigured_aws_managed_key);
	tcase_add_test(tc, test_check_misconfigured_unsupported_region);
	tcase_add_test(tc, test_check_no_vendor_no_vendor_checks);
	suite_add_tcase(s, tc);

	tc = tcase_create("rotation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_check_rotation_disabled);
	tcase_add_test(tc, test_check_rotation_not_expected_is_quiet);
	tcase_add_test(tc, test_check_rotation_quiet_for_disabled_key);
	tcase_add_test(tc, test_check_rotation_quiet_for_pending_deletion);
	tcase_add_test(tc, test_check_rotation_not_polled_is_quiet);
	tcase_add_test(tc, test_check_rotation_unsupported_with_expect_rotation);
	tcase_add_test(tc, test_check_rotation_status_failure_is_check_failed);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_check_describe_access_denied_is_check_failed);
	tcase_add_test(tc, test_check_error_classes_are_check_failed);
	tcase_add_test(tc, test_check_policy_fetch_failure_keeps_state_findings);
	tcase_add_test(tc,
	    test_check_policy_invalid_state_on_enabled_key_is_check_failed);
	tcase_add_test(tc, test_check_several_findings_at_once);
	tcase_add_test(tc, test_check_summary_is_one_bounded_line);
	tcase_add_test(tc, test_check_long_summary_is_cut_at_a_character);
	suite_add_tcase(s, tc);

	tc = tcase_create("policy");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_check_vendor_statement_removed_is_access_missing);
	tcase_add_test(tc, test_check_deny_added_is_access_missing);
	tcase_add_test(tc, test_check_grant_condition_false_is_access_missing);
	tcase_add_test(tc,
	    test_check_wrong_vendor_account_for_region_is_access_missing);
	tcase_add_test(tc,
	    test_check_vendor_cannot_tell_is_check_failed_not_critical);
	tcase_add_test(tc,
	    test_check_access_missing_summary_names_missing_not_unknown);
	tcase_add_test(tc, test_check_unparsable_policy_is_check_failed);
	tcase_add_test(tc, test_check_policy_checks_quiet_without_policy_poll);
	tcase_add_test(tc, test_check_first_poll_sets_policy_baseline);
	tcase_add_test(tc, test_check_policy_changed_with_diff);
	tcase_add_test(tc, test_check_baseline_digest_only);
	tcase_add_test(tc, test_check_policy_reformatted_is_not_changed);
	tcase_add_test(tc, test_check_baseline_accept_clears_policy_changed);
	tcase_add_test(tc, test_check_baseline_accept_needs_a_policy);
	tcase_add_test(tc, test_check_several_findings_with_policy);
	tcase_add_test(tc, test_check_policy_cache_gives_the_same_findings);
	suite_add_tcase(s, tc);

	tc = tcase_create("baseline");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_check_carry_keeps_last_rotation_and_alias);
	tcase_add_test(tc, test_check_update_baseline_records_material_id);
	tcase_add_test(tc, test_check_json_shape);
	tcase_add_test(tc, test_check_json_ok_and_deleted);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(check_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
