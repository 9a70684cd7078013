/*
 * lib/check_material and its KMS answers (lib/kms_material,
 * lib/kms_keystore): every imported key material and the custom key
 * store, from answers and snapshots built by hand.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kms_keystore.h"
#include "kms_material.h"

#define ARN	"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
#define NOW	((time_t)1795000000)
#define DAY	86400
#define M1	"1111111111111111111111111111111111111111111111111111111111111111"
#define M2	"2222222222222222222222222222222222222222222222222222222222222222"
#define M3	"3333333333333333333333333333333333333333333333333333333333333333"
#define STORE	"cks-1234567890abcdef0"

static struct key_expect	want;
static struct key_snapshot	snap;
static struct findings		fs;

static char *
xstrdup(const char *s)
{
	char	*d = strdup(s);

	ck_assert_ptr_nonnull(d);
	return d;
}

/* An enabled key with imported material whose DescribeKey says nothing
 * expires; no vendor, no policy part. */
static void
setup(void)
{
	memset(&want, 0, sizeof(want));
	memset(&snap, 0, sizeof(snap));
	memset(&fs, 0, sizeof(fs));
	want.id.arn = ARN;
	want.id.name = "imported";
	want.id.region = "eu-west-1";
	want.id.account = "111122223333";
	snap.polled_at = NOW;
	snap.meta.key_id = xstrdup("1234abcd-12ab-34cd-56ef-1234567890ab");
	snap.meta.arn = xstrdup(ARN);
	snap.meta.state = xstrdup("Enabled");
	snap.meta.key_spec = xstrdup("SYMMETRIC_DEFAULT");
	snap.meta.key_usage = xstrdup("ENCRYPT_DECRYPT");
	snap.meta.key_manager = xstrdup("CUSTOMER");
	snap.meta.origin = xstrdup("EXTERNAL");
	snap.meta.expiration_model = xstrdup("KEY_MATERIAL_DOES_NOT_EXPIRE");
	snap.meta.current_key_material_id = xstrdup(M1);
}

static void
teardown(void)
{
	check_snapshot_free(&snap);
	findings_clear(&fs);
}

/* One ListKeyRotations page with these entries (JSON texts). */
static void
materials(const char *entries)
{
	char			 body[8192];
	char			*next = NULL;
	struct kms_error	 e;

	snprintf(body, sizeof(body), "{\"Rotations\": [%s], "
	    "\"Truncated\": false}", entries);
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(kms_material_parse(body, strlen(body),
	    &snap.materials, &next, &e), 0);
	ck_assert_ptr_null(next);
}

static const struct finding *
only(const char *check)
{
	ck_assert_int_eq(check_key(&snap, NULL, &want, NOW, &fs), 0);
	ck_assert_msg(fs.n == 1, "%zu findings, first %s", fs.n,
	    fs.n > 0 ? fs.v[0].check : "-");
	ck_assert_str_eq(fs.v[0].check, check);
	return &fs.v[0];
}

static void
none(void)
{
	ck_assert_int_eq(check_key(&snap, NULL, &want, NOW, &fs), 0);
	ck_assert_msg(fs.n == 0, "%zu findings, first %s: %s", fs.n,
	    fs.n > 0 ? fs.v[0].check : "-", fs.n > 0 ? fs.v[0].summary : "");
}

static const char *
dstr(const struct finding *f, const char *name)
{
	json_t	*v = json_object_get(f->details, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* -- answers ---------------------------------------------------------- */

START_TEST(test_material_pages_append_in_order)
{
	const char		*p1 = "{\"Rotations\": [{\"KeyMaterialId\": \""
				    M1 "\", \"ImportState\": \"IMPORTED\", "
				    "\"KeyMaterialState\": \"CURRENT\"}], "
				    "\"Truncated\": true, \"NextMarker\": "
				    "\"m1\"}";
	const char		*p2 = "{\"Rotations\": [{\"KeyMaterialId\": \""
				    M2 "\", \"ImportState\": "
				    "\"PENDING_IMPORT\", \"KeyMaterialState\": "
				    "\"NON_CURRENT\", \"ExpirationModel\": "
				    "\"KEY_MATERIAL_EXPIRES\", \"ValidTo\": "
				    "1795500000.5}], \"Truncated\": false}";
	struct kms_error	 e;
	char			*next = NULL, hex[65];

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(kms_material_parse(p1, strlen(p1), &snap.materials,
	    &next, &e), 0);
	ck_assert_str_eq(next, "m1");
	free(next);
	ck_assert_int_eq(kms_material_parse(p2, strlen(p2), &snap.materials,
	    &next, &e), 0);
	ck_assert_ptr_null(next);
	ck_assert_uint_eq(snap.materials->n, 2);
	ck_assert_str_eq(kms_material_id_hex(&snap.materials->v[0], hex,
	    sizeof(hex)), M1);
	ck_assert_str_eq(kms_material_state_name(&snap.materials->v[0]),
	    "CURRENT");
	ck_assert_str_eq(kms_material_import_name(&snap.materials->v[1]),
	    "PENDING_IMPORT");
	ck_assert(snap.materials->v[1].expires);
	ck_assert(snap.materials->v[1].valid_to > 1795499999.0);
}
END_TEST

START_TEST(test_material_bad_id_is_malformed)
{
	const char		*b = "{\"Rotations\": [{\"KeyMaterialId\": "
				    "\"xyz\"}]}";
	struct kms_error	 e;
	char			*next = NULL;

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(kms_material_parse(b, strlen(b), &snap.materials,
	    &next, &e), -1);
	ck_assert_int_eq(e.cls, KMS_ERR_MALFORMED);
	ck_assert_ptr_null(snap.materials);
}
END_TEST

START_TEST(test_keystore_answer_for_the_store)
{
	const char		*b = "{\"CustomKeyStores\": [{"
				    "\"CustomKeyStoreId\": \"cks-other\", "
				    "\"ConnectionState\": \"CONNECTED\"}, {"
				    "\"CustomKeyStoreId\": \"" STORE "\", "
				    "\"CustomKeyStoreName\": \"hsm-eu\", "
				    "\"CustomKeyStoreType\": \"AWS_CLOUDHSM\", "
				    "\"ConnectionState\": \"FAILED\", "
				    "\"ConnectionErrorCode\": "
				    "\"USER_LOCKED_OUT\"}], \"Truncated\": "
				    "false}";
	const char		*bad = "{\"CustomKeyStores\": [{"
				    "\"CustomKeyStoreId\": \"" STORE "\"}]}";
	struct kms_keystore	*ks = kms_keystore_new(STORE, NULL);
	struct kms_error	 e;
	char			*next = NULL;
	int			 found = 0;

	ck_assert_ptr_nonnull(ks);
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(kms_keystore_parse(b, strlen(b), ks, &found, &next,
	    &e), 0);
	ck_assert(found);
	ck_assert_str_eq(ks->name, "hsm-eu");
	ck_assert_str_eq(ks->state, "FAILED");
	ck_assert_str_eq(ks->error_code, "USER_LOCKED_OUT");
	ck_assert(!kms_keystore_connected(ks));
	ck_assert_int_eq(kms_keystore_parse(bad, strlen(bad), ks, &found,
	    &next, &e), -1);
	ck_assert_int_eq(e.cls, KMS_ERR_MALFORMED);
	kms_keystore_unref(ks);
}
END_TEST

/* -- key-material-expiring -------------------------------------------- */

START_TEST(test_expiring_older_material_is_found_in_the_list)
{
	const struct finding	*f;
	char			 entries[1024];

	/* DescribeKey (current material only) says nothing expires. */
	snprintf(entries, sizeof(entries),
	    "{\"KeyMaterialId\": \"" M1 "\", \"ImportState\": \"IMPORTED\", "
	    "\"KeyMaterialState\": \"CURRENT\", \"ExpirationModel\": "
	    "\"KEY_MATERIAL_DOES_NOT_EXPIRE\"}, "
	    "{\"KeyMaterialId\": \"" M2 "\", \"ImportState\": \"IMPORTED\", "
	    "\"KeyMaterialState\": \"NON_CURRENT\", \"ExpirationModel\": "
	    "\"KEY_MATERIAL_EXPIRES\", \"ValidTo\": %lld}, "
	    "{\"KeyMaterialId\": \"" M3 "\", \"ImportState\": \"IMPORTED\", "
	    "\"KeyMaterialState\": \"PENDING_ROTATION\", \"ExpirationModel\": "
	    "\"KEY_MATERIAL_EXPIRES\", \"ValidTo\": %lld}",
	    (long long)NOW + 5 * DAY, (long long)NOW + 1 * DAY);
	materials(entries);
	f = only(CHECK_KEY_MATERIAL_EXPIRING);
	ck_assert_int_eq(f->severity, SEV_CRITICAL);
	/* The staged material (PENDING_ROTATION) is not in use yet. */
	ck_assert_str_eq(dstr(f, "material_id"), M2);
	ck_assert_str_eq(dstr(f, "material_state"), "NON_CURRENT");
	ck_assert_ptr_nonnull(strstr(f->summary, "222222222222..."));
	ck_assert_int_eq(json_integer_value(json_object_get(f->details,
	    "days_left")), 5);
}
END_TEST

START_TEST(test_two_valid_materials_are_quiet)
{
	char	entries[1024];

	snprintf(entries, sizeof(entries),
	    "{\"KeyMaterialId\": \"" M1 "\", \"ImportState\": \"IMPORTED\", "
	    "\"KeyMaterialState\": \"CURRENT\", \"ExpirationModel\": "
	    "\"KEY_MATERIAL_EXPIRES\", \"ValidTo\": %lld}, "
	    "{\"KeyMaterialId\": \"" M2 "\", \"ImportState\": \"IMPORTED\", "
	    "\"KeyMaterialState\": \"NON_CURRENT\", \"ExpirationModel\": "
	    "\"KEY_MATERIAL_EXPIRES\", \"ValidTo\": %lld}",
	    (long long)NOW + 200 * DAY, (long long)NOW + 300 * DAY);
	materials(entries);
	none();
}
END_TEST

START_TEST(test_describe_key_date_wins_when_earlier)
{
	const struct finding	*f;
	char			 entries[512];

	free(snap.meta.expiration_model);
	snap.meta.expiration_model = xstrdup("KEY_MATERIAL_EXPIRES");
	snap.meta.valid_to = (double)NOW + 10 * DAY;
	snprintf(entries, sizeof(entries),
	    "{\"KeyMaterialId\": \"" M1 "\", \"ImportState\": \"IMPORTED\", "
	    "\"KeyMaterialState\": \"CURRENT\", \"ExpirationModel\": "
	    "\"KEY_MATERIAL_EXPIRES\", \"ValidTo\": %lld}",
	    (long long)NOW + 100 * DAY);
	materials(entries);
	f = only(CHECK_KEY_MATERIAL_EXPIRING);
	ck_assert_int_eq(f->severity, SEV_WARNING);
	ck_assert_ptr_null(dstr(f, "material_id"));
	ck_assert_int_eq(json_integer_value(json_object_get(f->details,
	    "days_left")), 10);
}
END_TEST

START_TEST(test_material_checks_quiet_while_pending_deletion)
{
	char	entries[512];

	free(snap.meta.state);
	snap.meta.state = xstrdup("PendingDeletion");
	snap.meta.deletion_date = (double)NOW + 7 * DAY;
	snprintf(entries, sizeof(entries),
	    "{\"KeyMaterialId\": \"" M2 "\", \"ImportState\": "
	    "\"PENDING_IMPORT\", \"KeyMaterialState\": \"NON_CURRENT\"}");
	materials(entries);
	(void)only(CHECK_KEY_PENDING_DELETION);
}
END_TEST

/* -- key-material-pending --------------------------------------------- */

START_TEST(test_pending_import_material_is_reported)
{
	const struct finding	*f;
	json_t			*m;

	materials("{\"KeyMaterialId\": \"" M1 "\", \"ImportState\": "
	    "\"IMPORTED\", \"KeyMaterialState\": \"CURRENT\"}, "
	    "{\"KeyMaterialId\": \"" M2 "\", \"ImportState\": "
	    "\"PENDING_IMPORT\", \"KeyMaterialState\": \"NON_CURRENT\"}");
	f = only(CHECK_KEY_MATERIAL_PENDING);
	ck_assert_int_eq(f->severity, SEV_WARNING);
	m = json_object_get(f->details, "materials");
	ck_assert_uint_eq(json_array_size(m), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(m,
	    0), "material_id")), M2);
	ck_assert_ptr_nonnull(strstr(f->summary, "PENDING_IMPORT"));
}
END_TEST

/* -- failures --------------------------------------------------------- */

START_TEST(test_list_failure_is_check_failed_beside_other_findings)
{
	struct kms_error	e;
	size_t			i;
	int			disabled = 0, failed = 0;

	free(snap.meta.state);
	snap.meta.state = xstrdup("Disabled");
	memset(&e, 0, sizeof(e));
	e.cls = KMS_ERR_ACCESS_DENIED;
	snprintf(e.code, sizeof(e.code), "AccessDeniedException");
	snap.materials = kms_materials_new(&e);
	ck_assert_int_eq(check_key(&snap, NULL, &want, NOW, &fs), 0);
	for (i = 0; i < fs.n; i++) {
		if (strcmp(fs.v[i].check, CHECK_KEY_DISABLED) == 0)
			disabled++;
		if (strcmp(fs.v[i].check, CHECK_CHECK_FAILED) == 0) {
			failed++;
			ck_assert_str_eq(dstr(&fs.v[i], "operation"),
			    "ListKeyRotations");
		}
	}
	ck_assert_int_eq(disabled, 1);
	ck_assert_int_eq(failed, 1);
}
END_TEST

START_TEST(test_unsupported_listing_is_quiet)
{
	struct kms_error	e;

	memset(&e, 0, sizeof(e));
	e.cls = KMS_ERR_OTHER;
	snprintf(e.code, sizeof(e.code), "UnsupportedOperationException");
	snap.materials = kms_materials_new(&e);
	none();
}
END_TEST

/* -- keystore-disconnected -------------------------------------------- */

static void
in_store(const char *state, const char *code)
{
	free(snap.meta.origin);
	snap.meta.origin = xstrdup("AWS_CLOUDHSM");
	snap.meta.custom_key_store_id = xstrdup(STORE);
	snap.keystore = kms_keystore_new(STORE, NULL);
	ck_assert_ptr_nonnull(snap.keystore);
	snap.keystore->name = xstrdup("hsm-eu");
	snap.keystore->type = xstrdup("AWS_CLOUDHSM");
	snap.keystore->state = state != NULL ? xstrdup(state) : NULL;
	snap.keystore->error_code = code != NULL ? xstrdup(code) : NULL;
}

START_TEST(test_disconnected_store_is_critical_before_the_key_fails)
{
	const struct finding	*f;

	in_store("FAILED", "NETWORK_ERRORS");
	f = only(CHECK_KEYSTORE_DISCONNECTED);
	ck_assert_int_eq(f->severity, SEV_CRITICAL);
	ck_assert_str_eq(dstr(f, "custom_key_store_id"), STORE);
	ck_assert_str_eq(dstr(f, "custom_key_store_name"), "hsm-eu");
	ck_assert_str_eq(dstr(f, "custom_key_store_type"), "AWS_CLOUDHSM");
	ck_assert_str_eq(dstr(f, "connection_state"), "FAILED");
	ck_assert_str_eq(dstr(f, "connection_error_code"), "NETWORK_ERRORS");
	ck_assert_str_eq(dstr(f, "key_state"), "Enabled");
	ck_assert_ptr_nonnull(strstr(f->summary, "NETWORK_ERRORS"));
}
END_TEST

START_TEST(test_connected_store_is_quiet)
{
	in_store("CONNECTED", NULL);
	none();
}
END_TEST

START_TEST(test_unavailable_key_keeps_key_unavailable_too)
{
	size_t	i;
	int	ks = 0, ku = 0;

	in_store("DISCONNECTED", NULL);
	free(snap.meta.state);
	snap.meta.state = xstrdup("Unavailable");
	ck_assert_int_eq(check_key(&snap, NULL, &want, NOW, &fs), 0);
	for (i = 0; i < fs.n; i++) {
		ks += strcmp(fs.v[i].check, CHECK_KEYSTORE_DISCONNECTED) == 0;
		ku += strcmp(fs.v[i].check, CHECK_KEY_UNAVAILABLE) == 0;
	}
	ck_assert_int_eq(ks, 1);
	ck_assert_int_eq(ku, 1);
	ck_assert_uint_eq(fs.n, 2);
}
END_TEST

START_TEST(test_store_fetch_failure_is_check_failed)
{
	const struct finding	*f;

	in_store(NULL, NULL);
	snap.keystore->err.cls = KMS_ERR_THROTTLED;
	snprintf(snap.keystore->err.code, sizeof(snap.keystore->err.code),
	    "ThrottlingException");
	f = only(CHECK_CHECK_FAILED);
	ck_assert_str_eq(dstr(f, "operation"), "DescribeCustomKeyStores");
	ck_assert_str_eq(dstr(f, "code"), "ThrottlingException");
}
END_TEST

START_TEST(test_json_shows_materials_and_store)
{
	json_t	*o, *m, *st;

	in_store("CONNECTED", NULL);
	materials("{\"KeyMaterialId\": \"" M1 "\", \"ImportState\": "
	    "\"IMPORTED\", \"KeyMaterialState\": \"CURRENT\"}");
	ck_assert_int_eq(check_key(&snap, NULL, &want, NOW, &fs), 0);
	o = check_key_json(&want, &snap, &fs);
	ck_assert_ptr_nonnull(o);
	m = json_object_get(o, "materials");
	ck_assert_uint_eq(json_array_size(m), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(m,
	    0), "material_id")), M1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(m,
	    0), "import_state")), "IMPORTED");
	st = json_object_get(o, "custom_key_store");
	ck_assert_str_eq(json_string_value(json_object_get(st, "id")), STORE);
	ck_assert_str_eq(json_string_value(json_object_get(st,
	    "connection_state")), "CONNECTED");
	json_decref(o);
}
END_TEST

START_TEST(test_carry_keeps_the_material_list)
{
	struct key_snapshot	cur;

	materials("{\"KeyMaterialId\": \"" M1 "\", \"ImportState\": "
	    "\"IMPORTED\", \"KeyMaterialState\": \"CURRENT\"}");
	snap.materials_at = NOW - 60;
	memset(&cur, 0, sizeof(cur));
	ck_assert_int_eq(check_snapshot_carry(&cur, &snap), 0);
	ck_assert_ptr_nonnull(cur.materials);
	ck_assert_ptr_ne(cur.materials, snap.materials);
	ck_assert_uint_eq(cur.materials->n, 1);
	ck_assert_int_eq(cur.materials_at, NOW - 60);
	check_snapshot_free(&cur);
}
END_TEST

static Suite *
material_suite(void)
{
	Suite	*s = suite_create("check_material");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_material_pages_append_in_order);
	tcase_add_test(tc, test_material_bad_id_is_malformed);
	tcase_add_test(tc, test_keystore_answer_for_the_store);
	tcase_add_test(tc, test_expiring_older_material_is_found_in_the_list);
	tcase_add_test(tc, test_two_valid_materials_are_quiet);
	tcase_add_test(tc, test_describe_key_date_wins_when_earlier);
	tcase_add_test(tc, test_material_checks_quiet_while_pending_deletion);
	tcase_add_test(tc, test_pending_import_material_is_reported);
	tcase_add_test(tc,
	    test_list_failure_is_check_failed_beside_other_findings);
	tcase_add_test(tc, test_unsupported_listing_is_quiet);
	tcase_add_test(tc,
	    test_disconnected_store_is_critical_before_the_key_fails);
	tcase_add_test(tc, test_connected_store_is_quiet);
	tcase_add_test(tc, test_unavailable_key_keeps_key_unavailable_too);
	tcase_add_test(tc, test_store_fetch_failure_is_check_failed);
	tcase_add_test(tc, test_json_shows_materials_and_store);
	tcase_add_test(tc, test_carry_keeps_the_material_list);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(material_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
