/*
 * lib/kms: the pure half (parsing, error classification, endpoints,
 * backoff, token bucket, dates) and the client's behaviour that needs no
 * server (argument checks, missing credentials, cancellation).
 */
#include <check.h>
#include <stdint.h>
#include <time.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "http.h"
#include "kms.h"

#define S(x)	(x), strlen(x)

/* What every DescribeKey answer carries (KeyState apart). */
#define META_REQ	"\"KeyId\":\"k\",\"Arn\":\"arn:aws:kms:eu-west-1:" \
			"111122223333:key/k\",\"KeySpec\":\"SYMMETRIC_DEFAULT\"," \
			"\"KeyUsage\":\"ENCRYPT_DECRYPT\",\"KeyManager\":" \
			"\"CUSTOMER\","
#define META_STATE	"\"KeyState\":\"Enabled\","

static const char full_meta[] =
    "{\"KeyMetadata\": {"
    "\"AWSAccountId\": \"111122223333\","
    "\"KeyId\": \"1234abcd-12ab-34cd-56ef-1234567890ab\","
    "\"Arn\": \"arn:aws:kms:eu-west-1:111122223333:key/"
    "1234abcd-12ab-34cd-56ef-1234567890ab\","
    "\"CreationDate\": 1571767572.317,"
    "\"Enabled\": false,"
    "\"Description\": \"backups\","
    "\"KeyUsage\": \"ENCRYPT_DECRYPT\","
    "\"KeyState\": \"PendingDeletion\","
    "\"DeletionDate\": 1700000000,"
    "\"ValidTo\": 1800000000.5,"
    "\"Origin\": \"EXTERNAL\","
    "\"ExpirationModel\": \"KEY_MATERIAL_EXPIRES\","
    "\"KeyManager\": \"CUSTOMER\","
    "\"CustomerMasterKeySpec\": \"SYMMETRIC_DEFAULT\","
    "\"KeySpec\": \"SYMMETRIC_DEFAULT\","
    "\"EncryptionAlgorithms\": [\"SYMMETRIC_DEFAULT\"],"
    "\"MultiRegion\": true,"
    "\"MultiRegionConfiguration\": {\"MultiRegionKeyType\": \"PRIMARY\","
    "\"PrimaryKey\": {\"Arn\": \"x\", \"Region\": \"eu-west-1\"},"
    "\"ReplicaKeys\": []},"
    "\"PendingDeletionWindowInDays\": 7,"
    "\"CustomKeyStoreId\": \"cks-1234567890abcdef0\","
    "\"CurrentKeyMaterialId\": \"abc123\""
    "}}";

START_TEST(test_kms_parse_key_meta_every_field)
{
	struct kms_key_meta	m;
	struct kms_error	e;

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(kms_parse_key_meta(S(full_meta), &m, &e), 0);
	ck_assert_str_eq(m.key_id, "1234abcd-12ab-34cd-56ef-1234567890ab");
	ck_assert_str_eq(m.arn, "arn:aws:kms:eu-west-1:111122223333:key/"
	    "1234abcd-12ab-34cd-56ef-1234567890ab");
	ck_assert_str_eq(m.account, "111122223333");
	ck_assert_str_eq(m.state, "PendingDeletion");
	ck_assert_str_eq(m.key_spec, "SYMMETRIC_DEFAULT");
	ck_assert_str_eq(m.key_usage, "ENCRYPT_DECRYPT");
	ck_assert_str_eq(m.key_manager, "CUSTOMER");
	ck_assert_str_eq(m.origin, "EXTERNAL");
	ck_assert_str_eq(m.expiration_model, "KEY_MATERIAL_EXPIRES");
	ck_assert_str_eq(m.current_key_material_id, "abc123");
	ck_assert_str_eq(m.custom_key_store_id, "cks-1234567890abcdef0");
	ck_assert_str_eq(m.multi_region_type, "PRIMARY");
	ck_assert_str_eq(m.description, "backups");
	ck_assert_int_eq(m.enabled, 0);
	ck_assert_int_eq(m.multi_region, 1);
	ck_assert_double_eq_tol(m.creation_date, 1571767572.317, 1e-6);
	ck_assert_double_eq(m.deletion_date, 1700000000.0);
	ck_assert_double_eq_tol(m.valid_to, 1800000000.5, 1e-6);
	ck_assert_int_eq(m.pending_window_days, 7);
	kms_key_meta_free(&m);
	ck_assert_ptr_null(m.key_id);
}
END_TEST

START_TEST(test_kms_parse_key_meta_minimal_leaves_absent_fields_empty)
{
	struct kms_key_meta	m;
	struct kms_error	e;

	ck_assert_int_eq(kms_parse_key_meta(S("{\"KeyMetadata\":{\"KeyId\":"
	    "\"k\",\"Arn\":\"arn:aws:kms:eu-west-1:111122223333:key/k\","
	    "\"KeyUsage\":\"ENCRYPT_DECRYPT\",\"KeyManager\":\"CUSTOMER\","
	    "\"Enabled\":true,\"KeyState\":\"Enabled\",\"Description\":"
	    "null,\"CustomerMasterKeySpec\":\"SYMMETRIC_DEFAULT\"}}"), &m, &e),
	    0);
	ck_assert_str_eq(m.key_id, "k");
	ck_assert_int_eq(m.enabled, 1);
	ck_assert_ptr_null(m.account);
	ck_assert_ptr_null(m.description);
	ck_assert_ptr_null(m.multi_region_type);
	/* The old field name fills KeySpec when KeySpec is absent. */
	ck_assert_str_eq(m.key_spec, "SYMMETRIC_DEFAULT");
	ck_assert_double_eq(m.creation_date, 0);
	ck_assert_double_eq(m.deletion_date, 0);
	kms_key_meta_free(&m);
}
END_TEST

static void
expect_meta_malformed(const char *body, const char *msg)
{
	struct kms_key_meta	m;
	struct kms_error	e;

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(kms_parse_key_meta(body, strlen(body), &m, &e), -1);
	ck_assert_int_eq(e.cls, KMS_ERR_MALFORMED);
	ck_assert_str_eq(e.code, "MalformedResponse");
	ck_assert_msg(strstr(e.message, msg) != NULL, "message \"%s\" lacks "
	    "\"%s\"", e.message, msg);
	ck_assert_ptr_null(m.key_id);
}

START_TEST(test_kms_parse_key_meta_wrong_types_are_malformed)
{
	expect_meta_malformed("{\"KeyMetadata\":{" META_REQ
	    "\"KeyState\":3}}", "KeyMetadata.KeyState is a number, expected "
	    "a string");
	expect_meta_malformed("{\"KeyMetadata\":{" META_REQ META_STATE
	    "\"CreationDate\":\"2020-01-01\"}}", "KeyMetadata.CreationDate is "
	    "a string, expected epoch seconds");
	expect_meta_malformed("{\"KeyMetadata\":{" META_REQ META_STATE
	    "\"Enabled\":\"true\"}}", "KeyMetadata.Enabled is a string, "
	    "expected a boolean");
	expect_meta_malformed("{\"KeyMetadata\":{" META_REQ META_STATE
	    "\"PendingDeletionWindowInDays\":7.5}}",
	    "PendingDeletionWindowInDays is a number, expected an integer");
	expect_meta_malformed("{\"KeyMetadata\":{" META_REQ META_STATE
	    "\"PendingDeletionWindowInDays\":100000}}", "out of range");
	expect_meta_malformed("{\"KeyMetadata\":{" META_REQ META_STATE
	    "\"DeletionDate\":-5}}", "DeletionDate is out of range");
	expect_meta_malformed("{\"KeyMetadata\":{" META_REQ META_STATE
	    "\"MultiRegionConfiguration\":[]}}",
	    "MultiRegionConfiguration is an array, expected an object");
	expect_meta_malformed("{\"KeyMetadata\":{\"KeyId\":7}}",
	    "KeyMetadata.KeyId is a number");
	expect_meta_malformed("{\"KeyMetadata\":[]}",
	    "KeyMetadata is an array, expected an object");
}
END_TEST

START_TEST(test_kms_parse_key_meta_missing_or_not_json_is_malformed)
{
	expect_meta_malformed("{}", "KeyMetadata is missing");
	expect_meta_malformed("{\"KeyMetadata\":null}", "KeyMetadata is "
	    "missing");
	expect_meta_malformed("{\"KeyMetadata\":{\"Arn\":\"a\"}}",
	    "KeyMetadata.KeyId is missing");
	expect_meta_malformed("", "empty response body");
	expect_meta_malformed("<html>502</html>", "response is not JSON");
	expect_meta_malformed("{\"KeyMetadata\":{\"KeyId\":\"k\",\"Enab",
	    "response is not JSON");
	expect_meta_malformed("[1,2]", "response is an array, expected an "
	    "object");
	expect_meta_malformed("{\"KeyMetadata\":{\"KeyId\":\"a\",\"KeyId\":"
	    "\"b\"}}", "not JSON");
}
END_TEST

START_TEST(test_kms_parse_key_meta_body_with_nul_and_length)
{
	struct kms_key_meta	m;
	struct kms_error	e;
	const char		body[] = "{\"KeyMetadata\":{" META_REQ
				    "\"KeyState\":\"Enabled\"}}\0garbage";

	/* Only len bytes count: a NUL inside them is not the end. */
	ck_assert_int_eq(kms_parse_key_meta(body, sizeof(body) - 1, &m, &e),
	    -1);
	ck_assert_int_eq(kms_parse_key_meta(body, strlen(body), &m, &e), 0);
	kms_key_meta_free(&m);
}
END_TEST

START_TEST(test_kms_key_meta_copy_is_deep)
{
	struct kms_key_meta	m, c;
	struct kms_error	e;

	ck_assert_int_eq(kms_parse_key_meta(S(full_meta), &m, &e), 0);
	ck_assert_int_eq(kms_key_meta_copy(&c, &m), 0);
	ck_assert_ptr_ne(c.key_id, m.key_id);
	ck_assert_str_eq(c.key_id, m.key_id);
	ck_assert_str_eq(c.multi_region_type, "PRIMARY");
	ck_assert_double_eq(c.valid_to, m.valid_to);
	kms_key_meta_free(&m);
	ck_assert_str_eq(c.description, "backups");
	kms_key_meta_free(&c);
	kms_key_meta_free(NULL);
}
END_TEST

START_TEST(test_kms_parse_policy)
{
	struct kms_error	 e;
	char			*p = NULL;

	ck_assert_int_eq(kms_parse_policy(S("{\"Policy\":\"{\\\"Version\\\":"
	    "\\\"2012-10-17\\\"}\",\"PolicyName\":\"default\"}"), &p, &e), 0);
	ck_assert_str_eq(p, "{\"Version\":\"2012-10-17\"}");
	free(p);
	ck_assert_int_eq(kms_parse_policy(S("{\"PolicyName\":\"default\"}"),
	    &p, &e), -1);
	ck_assert_str_eq(e.message, "GetKeyPolicy.Policy is missing");
	ck_assert_ptr_null(p);
	ck_assert_int_eq(kms_parse_policy(S("{\"Policy\":{}}"), &p, &e), -1);
	ck_assert_str_eq(e.message, "GetKeyPolicy.Policy is an object, "
	    "expected a string");
	ck_assert_int_eq(e.cls, KMS_ERR_MALFORMED);
}
END_TEST

START_TEST(test_kms_parse_rotation)
{
	struct kms_rotation	r;
	struct kms_error	e;

	ck_assert_int_eq(kms_parse_rotation(S("{\"KeyRotationEnabled\":true,"
	    "\"RotationPeriodInDays\":90,\"NextRotationDate\":1733000000.25,"
	    "\"KeyId\":\"k\"}"), &r, &e), 0);
	ck_assert_int_eq(r.enabled, 1);
	ck_assert_int_eq(r.period_days, 90);
	ck_assert_double_eq_tol(r.next_rotation, 1733000000.25, 1e-6);
	ck_assert_int_eq(kms_parse_rotation(S("{\"KeyRotationEnabled\":"
	    "false}"), &r, &e), 0);
	ck_assert_int_eq(r.enabled, 0);
	ck_assert_int_eq(r.period_days, 0);
	ck_assert_double_eq(r.next_rotation, 0);
	ck_assert_int_eq(kms_parse_rotation(S("{}"), &r, &e), -1);
	ck_assert_str_eq(e.message,
	    "GetKeyRotationStatus.KeyRotationEnabled is missing");
	ck_assert_int_eq(kms_parse_rotation(S("{\"KeyRotationEnabled\":1}"),
	    &r, &e), -1);
	ck_assert_int_eq(kms_parse_rotation(S("{\"KeyRotationEnabled\":true,"
	    "\"RotationPeriodInDays\":\"90\"}"), &r, &e), -1);
	ck_assert_str_eq(e.message, "GetKeyRotationStatus.RotationPeriodInDays"
	    " is a string, expected an integer");
}
END_TEST

START_TEST(test_kms_parse_aliases_pages_append)
{
	struct kms_alias	*a = NULL;
	struct kms_error	 e;
	size_t			 n = 0;
	char			*next = NULL;

	ck_assert_int_eq(kms_parse_aliases(S("{\"Aliases\":[{\"AliasName\":"
	    "\"alias/a\",\"AliasArn\":\"arn:a\",\"TargetKeyId\":\"k1\"},"
	    "{\"AliasName\":\"alias/aws/ebs\",\"AliasArn\":\"arn:b\"}],"
	    "\"Truncated\":true,\"NextMarker\":\"m1\"}"), &a, &n, &next, &e),
	    0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(next, "m1");
	ck_assert_str_eq(a[0].name, "alias/a");
	ck_assert_str_eq(a[0].arn, "arn:a");
	ck_assert_str_eq(a[0].target_key_id, "k1");
	ck_assert_ptr_null(a[1].target_key_id);
	free(next);
	ck_assert_int_eq(kms_parse_aliases(S("{\"Aliases\":[{\"AliasName\":"
	    "\"alias/c\",\"TargetKeyId\":\"k2\"}],\"Truncated\":false,"
	    "\"NextMarker\":\"ignored\"}"), &a, &n, &next, &e), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_ptr_null(next);
	ck_assert_str_eq(a[2].name, "alias/c");
	ck_assert_str_eq(a[0].name, "alias/a");
	/* A bad page appends nothing. */
	ck_assert_int_eq(kms_parse_aliases(S("{\"Aliases\":[{\"AliasName\":"
	    "\"alias/d\"},{\"AliasArn\":\"x\"}]}"), &a, &n, &next, &e), -1);
	ck_assert_str_eq(e.message, "ListAliases.Aliases[1].AliasName is "
	    "missing");
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(kms_parse_aliases(S("{\"Aliases\":[],\"Truncated\":"
	    "true}"), &a, &n, &next, &e), -1);
	ck_assert_str_eq(e.message, "ListAliases: Truncated without a "
	    "NextMarker");
	ck_assert_int_eq(kms_parse_aliases(S("{\"Aliases\":{}}"), &a, &n,
	    &next, &e), -1);
	ck_assert_int_eq(kms_parse_aliases(S("{\"Aliases\":[7]}"), &a, &n,
	    &next, &e), -1);
	ck_assert_str_eq(e.message, "ListAliases.Aliases[0] is a number, "
	    "expected an object");
	ck_assert_uint_eq(n, 3);
	kms_aliases_free(a, n);
}
END_TEST

START_TEST(test_kms_parse_grants_counts_pages)
{
	struct kms_error	 e;
	size_t			 n = 0;
	char			*next = NULL;

	ck_assert_int_eq(kms_parse_grants(S("{\"Grants\":[{\"GrantId\":\"1\"},"
	    "{\"GrantId\":\"2\"}],\"Truncated\":true,\"NextMarker\":\"g\"}"),
	    &n, &next, &e), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(next, "g");
	free(next);
	ck_assert_int_eq(kms_parse_grants(S("{\"Grants\":[{}]}"), &n, &next,
	    &e), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_ptr_null(next);
	ck_assert_int_eq(kms_parse_grants(S("{\"Grants\":[[]]}"), &n, &next,
	    &e), -1);
	ck_assert_int_eq(kms_parse_grants(S("{\"Grants\":[],\"Truncated\":"
	    "\"yes\"}"), &n, &next, &e), -1);
	ck_assert_str_eq(e.message, "ListGrants.Truncated is a string, "
	    "expected a boolean");
	ck_assert_uint_eq(n, 3);
}
END_TEST

/* The classification table. */
static const struct {
	long			 status;
	const char		*body;
	enum kms_errclass	 cls;
	const char		*code;
	int			 retryable;
	const char		*message;	/* substring, or NULL */
} classify_cases[] = {
	{ 400, "{\"__type\":\"NotFoundException\",\"message\":\"Key 'arn' does "
	    "not exist\"}", KMS_ERR_NOT_FOUND, "NotFoundException", 0,
	    "Key 'arn' does not exist" },
	{ 400, "{\"__type\":\"com.amazonaws.kms#NotFoundException\","
	    "\"Message\":\"gone\"}", KMS_ERR_NOT_FOUND, "NotFoundException", 0,
	    "gone" },
	{ 400, "{\"__type\":\"com.amazon.coral.service#"
	    "UnrecognizedClientException\",\"message\":\"The security token "
	    "included in the request is invalid.\"}", KMS_ERR_AUTH,
	    "UnrecognizedClientException", 0, "security token" },
	{ 400, "{\"__type\":\"InvalidSignatureException:http://internal."
	    "amazon.com/coral/com.amazon.coral.service/\"}", KMS_ERR_AUTH,
	    "InvalidSignatureException", 0, NULL },
	{ 400, "{\"__type\":\"ExpiredTokenException\"}", KMS_ERR_AUTH,
	    "ExpiredTokenException", 0, NULL },
	{ 400, "{\"__type\":\"IncompleteSignatureException\"}", KMS_ERR_AUTH,
	    "IncompleteSignatureException", 0, NULL },
	{ 400, "{\"__type\":\"AccessDeniedException\",\"Message\":\"not "
	    "authorized\"}", KMS_ERR_ACCESS_DENIED, "AccessDeniedException", 0,
	    "not authorized" },
	{ 400, "{\"__type\":\"KMSInvalidStateException\"}",
	    KMS_ERR_INVALID_STATE, "KMSInvalidStateException", 0, NULL },
	{ 400, "{\"__type\":\"ThrottlingException\",\"message\":\"Rate "
	    "exceeded\"}", KMS_ERR_THROTTLED, "ThrottlingException", 1,
	    "Rate exceeded" },
	{ 400, "{\"__type\":\"LimitExceededException\"}", KMS_ERR_THROTTLED,
	    "LimitExceededException", 1, NULL },
	{ 500, "{\"__type\":\"KMSInternalException\"}", KMS_ERR_SERVER,
	    "KMSInternalException", 1, NULL },
	{ 500, "{\"__type\":\"DependencyTimeoutException\"}", KMS_ERR_SERVER,
	    "DependencyTimeoutException", 1, NULL },
	/* The code decides, not the status... */
	{ 400, "{\"__type\":\"ThrottlingException\"}", KMS_ERR_THROTTLED,
	    "ThrottlingException", 1, NULL },
	/* ...except NotFoundException, a verdict only with 400. */
	{ 503, "{\"__type\":\"NotFoundException\"}", KMS_ERR_SERVER,
	    "HTTP 503", 1, NULL },
	{ 400, "{\"__type\":\"InvalidArnException\"}", KMS_ERR_OTHER,
	    "InvalidArnException", 0, NULL },
	{ 500, "{\"__type\":\"SomethingNewException\"}", KMS_ERR_SERVER,
	    "SomethingNewException", 1, NULL },
	/* Non-JSON bodies: by status. */
	{ 502, "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
	    "<body></body></html>", KMS_ERR_SERVER, "HTTP 502", 1,
	    "502 Bad Gateway" },
	{ 503, "", KMS_ERR_SERVER, "HTTP 503", 1, "empty error response" },
	{ 429, "Too Many Requests", KMS_ERR_THROTTLED, "HTTP 429", 1, NULL },
	{ 403, "<html>Forbidden</html>", KMS_ERR_ACCESS_DENIED, "HTTP 403", 0,
	    NULL },
	{ 401, "", KMS_ERR_AUTH, "HTTP 401", 0, NULL },
	/* A 404 from a wrong URL is not a deleted key. */
	{ 404, "<html>Not Found</html>", KMS_ERR_OTHER, "HTTP 404", 0, NULL },
	{ 400, "{\"message\":\"no type\"}", KMS_ERR_OTHER, "HTTP 400", 0,
	    "no type" },
	{ 400, "{\"__type\":42}", KMS_ERR_OTHER, "HTTP 400", 0, NULL },
	{ 500, "{\"__type\":\"\"}", KMS_ERR_SERVER, "HTTP 500", 1, NULL },
	{ 400, "{\"__type\":\"com.amazonaws.kms#\"}", KMS_ERR_OTHER,
	    "HTTP 400", 0, NULL },
	{ 400, "{\"__type\":\"Bad Code With Spaces\"}", KMS_ERR_OTHER,
	    "HTTP 400", 0, NULL },
	{ 400, "{\"__type\":\"AVeryLongExceptionNameThatGoesOnAndOnAndOnAndOn"
	    "ForeverAndEverAndEverAndEver\"}", KMS_ERR_OTHER, "HTTP 400", 0, NULL },
	{ 400, "{\"__type\":\"ThrottlingException\",\"message\":\"line1\\n"
	    "\\u0007bell\"}", KMS_ERR_THROTTLED, "ThrottlingException", 1,
	    "line1 ?bell" },
};

START_TEST(test_kms_classify_error_table)
{
	struct kms_error	e;
	size_t			i;

	for (i = 0; i < sizeof(classify_cases) / sizeof(classify_cases[0]);
	    i++) {
		kms_classify_error(classify_cases[i].status, NULL,
		    classify_cases[i].body, strlen(classify_cases[i].body), &e);
		ck_assert_msg(e.cls == classify_cases[i].cls, "case %zu: class "
		    "%s, want %s", i, kms_errclass_name(e.cls),
		    kms_errclass_name(classify_cases[i].cls));
		ck_assert_msg(strcmp(e.code, classify_cases[i].code) == 0,
		    "case %zu: code \"%s\", want \"%s\"", i, e.code,
		    classify_cases[i].code);
		ck_assert_msg(e.retryable == classify_cases[i].retryable,
		    "case %zu: retryable %d", i, e.retryable);
		ck_assert_int_eq(e.status, classify_cases[i].status);
		if (classify_cases[i].message != NULL)
			ck_assert_msg(strstr(e.message,
			    classify_cases[i].message) != NULL,
			    "case %zu: message \"%s\"", i, e.message);
	}
}
END_TEST

START_TEST(test_kms_classify_error_null_body)
{
	struct kms_error	e;

	kms_classify_error(500, NULL, NULL, 0, &e);
	ck_assert_int_eq(e.cls, KMS_ERR_SERVER);
	ck_assert_str_eq(e.code, "HTTP 500");
}
END_TEST

START_TEST(test_kms_errclass_and_op_names)
{
	ck_assert_str_eq(kms_errclass_name(KMS_OK), "ok");
	ck_assert_str_eq(kms_errclass_name(KMS_ERR_NOT_FOUND), "not-found");
	ck_assert_str_eq(kms_errclass_name(KMS_ERR_MALFORMED), "malformed");
	ck_assert_str_eq(kms_errclass_name(KMS_ERR_OTHER), "other");
	ck_assert_str_eq(kms_op_name(KMS_OP_GET_KEY_ROTATION_STATUS),
	    "GetKeyRotationStatus");
	ck_assert_str_eq(kms_op_name(KMS_OP_LIST_GRANTS), "ListGrants");
}
END_TEST

/* --- backoff, bucket, dates --- */

START_TEST(test_kms_backoff_full_jitter_bounds)
{
	int	r;
	long	prev = 0, top, v;

	for (r = 1; r <= 20; r++) {
		ck_assert_int_eq(kms_backoff_ms(r, 200, 10000, 0), 0);
		top = kms_backoff_ms(r, 200, 10000, 0.999999999);
		ck_assert_int_le(top, 10000);
		ck_assert_int_ge(top, prev);
		prev = top;
	}
	ck_assert_int_eq(kms_backoff_ms(1, 200, 10000, 0.999999999), 200);
	ck_assert_int_eq(kms_backoff_ms(2, 200, 10000, 0.999999999), 400);
	ck_assert_int_eq(kms_backoff_ms(3, 200, 10000, 0.999999999), 800);
	ck_assert_int_eq(kms_backoff_ms(7, 200, 10000, 0.999999999), 10000);
	ck_assert_int_eq(kms_backoff_ms(1000, 200, 10000, 0.5), 5000);
	ck_assert_int_eq(kms_backoff_ms(3, 200, 10000, 0.5), 400);
	/* Bad inputs stay in bounds. */
	v = kms_backoff_ms(0, 200, 10000, 7.0);
	ck_assert_int_ge(v, 0);
	ck_assert_int_le(v, 200);
	ck_assert_int_eq(kms_backoff_ms(5, -1, -1, 0.5), 0);
}
END_TEST

START_TEST(test_kms_bucket_burst_then_rate)
{
	struct kms_bucket	b;
	int			i;

	kms_bucket_init(&b, 10, 5, 100.0);
	for (i = 0; i < 5; i++)
		ck_assert_double_eq(kms_bucket_take(&b, 100.0), 0);
	/* Empty: the next token comes after 1/rate. */
	ck_assert_double_eq_tol(kms_bucket_take(&b, 100.0), 0.1, 1e-9);
	ck_assert_double_eq_tol(kms_bucket_take(&b, 100.05), 0.05, 1e-9);
	ck_assert_double_eq(kms_bucket_take(&b, 100.1), 0);
	/* Half a second refills five. */
	for (i = 0; i < 5; i++)
		ck_assert_double_eq(kms_bucket_take(&b, 100.6), 0);
	ck_assert_double_gt(kms_bucket_take(&b, 100.6), 0);
	/* A long idle time refills to burst, not beyond. */
	for (i = 0; i < 5; i++)
		ck_assert_double_eq(kms_bucket_take(&b, 1000.0), 0);
	ck_assert_double_gt(kms_bucket_take(&b, 1000.0), 0);
	/* A clock going backwards adds nothing. */
	ck_assert_double_gt(kms_bucket_take(&b, 10.0), 0);
}
END_TEST

START_TEST(test_kms_bucket_long_run_rate)
{
	struct kms_bucket	b;
	double			t = 0, w;
	int			taken = 0;

	/* Takers who wait exactly as told get rate*T + burst tokens. */
	kms_bucket_init(&b, 50, 10, 0);
	while (t < 10.0) {
		if ((w = kms_bucket_take(&b, t)) == 0)
			taken++;
		else
			t += w;
	}
	ck_assert_int_ge(taken, 50 * 10 + 10 - 1);
	ck_assert_int_le(taken, 50 * 10 + 10 + 1);
}
END_TEST

START_TEST(test_kms_parse_http_date)
{
	time_t	t;

	ck_assert_int_eq(kms_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT",
	    &t), 0);
	ck_assert_int_eq(t, 784111777);
	ck_assert_int_eq(kms_parse_http_date("Sat, 28 Nov 2026 21:00:00 GMT",
	    &t), 0);
	ck_assert_int_eq(t, 1795899600);
	ck_assert_int_eq(kms_parse_http_date("Sun, 06 Nov 1994 08:49:37 PST",
	    &t), -1);
	ck_assert_int_eq(kms_parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT",
	    &t), -1);
	ck_assert_int_eq(kms_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT",
	    &t), -1);
	ck_assert_int_eq(kms_parse_http_date("", &t), -1);
	ck_assert_int_eq(kms_parse_http_date(NULL, &t), -1);
	ck_assert_int_eq(kms_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMTx",
	    &t), -1);
}
END_TEST

START_TEST(test_kms_parse_skew_message)
{
	time_t	t;

	ck_assert_int_eq(kms_parse_skew_message("Signature expired: "
	    "20261128T215118Z is now earlier than 20261128T215618Z "
	    "(20261128T220118Z - 5 min.)", &t), 0);
	ck_assert_int_eq(t, 1795903278);
	ck_assert_int_eq(kms_parse_skew_message("Signature not yet current: "
	    "20261128T230118Z is still later than 20261128T220618Z "
	    "(20261128T220118Z + 5 min.)", &t), 0);
	ck_assert_int_eq(t, 1795903278);
	ck_assert_int_eq(kms_parse_skew_message("The request signature we "
	    "calculated does not match (see docs)", &t), -1);
	ck_assert_int_eq(kms_parse_skew_message("(20261399T220118Z - 5 min.)",
	    &t), -1);
}
END_TEST

/* --- the client without a server --- */

static int	cb_calls;
static struct kms_error	cb_err;

static void
record_cb(struct kms_result *res, void *arg)
{
	struct event_base	*base = arg;

	cb_calls++;
	cb_err = res->err;
	if (base != NULL)
		event_base_loopbreak(base);
}

static int
no_creds(void *arg, struct sigv4_creds *out, char *err, size_t errlen)
{
	(void)arg;
	(void)out;
	snprintf(err, errlen, "no provider in the chain had credentials");
	return -1;
}

static int
static_creds(void *arg, struct sigv4_creds *out, char *err, size_t errlen)
{
	(void)arg;
	(void)err;
	(void)errlen;
	out->access_key = "AKIDEXAMPLE";
	out->secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	out->session_token = NULL;
	return 0;
}

static struct event_base	*g_base;

struct client_fix {
	struct event_base	*base;
	struct http		*http;
	struct kms_client	*kms;
};

static void
fix_setup(struct client_fix *f, const struct kms_opts *o)
{
	char	err[256];

	f->base = event_base_new();
	f->http = http_new(f->base, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(f->http);
	f->kms = kms_client_new(f->base, f->http, o, err, sizeof(err));
	ck_assert_ptr_nonnull(f->kms);
	cb_calls = 0;
	memset(&cb_err, 0, sizeof(cb_err));
}

static void
fix_teardown(struct client_fix *f)
{
	kms_client_free(f->kms);
	http_free(f->http);
	event_base_free(f->base);
}

START_TEST(test_kms_client_rejects_bad_arguments_without_callback)
{
	struct client_fix	f;
	struct keyid		id = { .region = "eu-west-1" };
	struct kms_target	t = { .id = &id,
				    .endpoint = "http://127.0.0.1:1",
				    .get_creds = static_creds };
	char			err[256];

	fix_setup(&f, NULL);
	ck_assert_int_eq(kms_describe_key(f.kms, &t, NULL, record_cb, NULL,
	    err, sizeof(err)), -1);
	ck_assert_str_eq(err, "kms: DescribeKey needs a key id");
	id.region = "EU WEST";
	ck_assert_int_eq(kms_describe_key(f.kms, &t, "k", record_cb, NULL,
	    err, sizeof(err)), -1);
	id.region = "eu-west-1";
	t.endpoint = "gopher://x";
	ck_assert_int_eq(kms_get_key_policy(f.kms, &t, "k", record_cb, NULL,
	    err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "expected an http:// or https://"));
	ck_assert_uint_eq(kms_client_pending(f.kms), 0);
	ck_assert_int_eq(cb_calls, 0);
	fix_teardown(&f);
}
END_TEST

START_TEST(test_kms_client_no_credentials_is_auth_error_later)
{
	struct client_fix	f;
	struct keyid		id = { .region = "eu-west-1" };
	struct kms_target	t = { .id = &id,
				    .endpoint = "http://127.0.0.1:1",
				    .get_creds = no_creds };
	char			err[256];

	fix_setup(&f, NULL);
	ck_assert_int_eq(kms_describe_key(f.kms, &t, "k", record_cb, f.base,
	    err, sizeof(err)), 0);
	/* Never synchronously. */
	ck_assert_int_eq(cb_calls, 0);
	ck_assert_uint_eq(kms_client_pending(f.kms), 1);
	event_base_dispatch(f.base);
	ck_assert_int_eq(cb_calls, 1);
	ck_assert_int_eq(cb_err.cls, KMS_ERR_AUTH);
	ck_assert_str_eq(cb_err.code, "NoCredentials");
	ck_assert_ptr_nonnull(strstr(cb_err.message, "no provider"));
	ck_assert_uint_eq(kms_client_pending(f.kms), 0);
	fix_teardown(&f);
}
END_TEST

START_TEST(test_kms_client_refused_connection_retries_then_transport)
{
	struct client_fix	f;
	struct kms_opts		o = { .max_attempts = 3, .backoff_base_ms = 10,
				    .backoff_cap_ms = 20 };
	struct keyid		id = { .region = "eu-west-1" };
	struct kms_target	t = { .id = &id,
				    .endpoint = "http://127.0.0.1:1",
				    .get_creds = static_creds };
	char			err[256];

	fix_setup(&f, &o);
	ck_assert_int_eq(kms_list_grants(f.kms, &t, "k", record_cb, f.base,
	    err, sizeof(err)), 0);
	event_base_dispatch(f.base);
	ck_assert_int_eq(cb_calls, 1);
	ck_assert_int_eq(cb_err.cls, KMS_ERR_TRANSPORT);
	ck_assert_str_eq(cb_err.code, "ConnectionFailed");
	ck_assert_int_eq(cb_err.attempts, 3);
	ck_assert_int_eq(cb_err.retryable, 1);
	fix_teardown(&f);
}
END_TEST

START_TEST(test_kms_client_free_cancels_with_callbacks)
{
	struct client_fix	f;
	struct kms_opts		o = { .backoff_base_ms = 60000,
				    .backoff_cap_ms = 60000, .rate_per_second = 1,
				    .burst = 1, .max_inflight = 1 };
	struct keyid		id = { .region = "eu-west-1" };
	struct kms_target	t = { .id = &id,
				    .endpoint = "http://127.0.0.1:1",
				    .get_creds = static_creds };
	struct timeval		tv = { 0, 300000 };
	char			err[256];
	int			i;

	fix_setup(&f, &o);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(kms_describe_key(f.kms, &t, "k", record_cb,
		    NULL, err, sizeof(err)), 0);
	event_base_loopexit(f.base, &tv);
	event_base_dispatch(f.base);
	ck_assert_int_eq(cb_calls, 0);
	ck_assert_uint_eq(kms_client_pending(f.kms), 5);
	kms_client_free(f.kms);
	f.kms = NULL;
	ck_assert_int_eq(cb_calls, 5);
	ck_assert_int_eq(cb_err.cls, KMS_ERR_TRANSPORT);
	ck_assert_str_eq(cb_err.code, "Cancelled");
	fix_teardown(&f);
}
END_TEST

START_TEST(test_kms_client_skew_preset_and_read_back)
{
	struct client_fix	f;

	fix_setup(&f, NULL);
	ck_assert_double_eq(kms_client_clock_skew(f.kms), 0);
	kms_client_set_clock_skew(f.kms, -600);
	ck_assert_double_eq(kms_client_clock_skew(f.kms), -600);
	kms_client_set_clock_skew(f.kms, NAN);
	ck_assert_double_eq(kms_client_clock_skew(f.kms), -600);
	fix_teardown(&f);
}
END_TEST

static double	done_at[8];
static int	ndone;

static double
mono(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
timed_cb(struct kms_result *res, void *arg)
{
	struct event_base	*base = arg;

	(void)res;
	done_at[ndone++] = mono();
	if (ndone == 4)
		event_base_loopbreak(base);
}

START_TEST(test_kms_client_bucket_per_account_and_region)
{
	struct client_fix	f;
	struct kms_opts		o = { .max_attempts = 1, .rate_per_second = 2,
				    .burst = 1 };
	struct keyid		ia = { .region = "eu-west-1", .account = "111" };
	struct keyid		ib = ia, ir = ia;
	struct kms_target	a = { .id = &ia,
				    .endpoint = "http://127.0.0.1:1",
				    .get_creds = static_creds };
	struct kms_target	b = a, r = a;
	char			err[256];
	double			t0;

	ib.account = "222";
	b.id = &ib;
	ir.region = "us-west-2";
	r.id = &ir;
	fix_setup(&f, &o);
	ndone = 0;
	t0 = mono();
	ck_assert_int_eq(kms_describe_key(f.kms, &a, "k", timed_cb, f.base,
	    err, sizeof(err)), 0);
	ck_assert_int_eq(kms_describe_key(f.kms, &b, "k", timed_cb, f.base,
	    err, sizeof(err)), 0);
	ck_assert_int_eq(kms_describe_key(f.kms, &r, "k", timed_cb, f.base,
	    err, sizeof(err)), 0);
	/* The same bucket as the first: waits 1/rate. */
	ck_assert_int_eq(kms_describe_key(f.kms, &a, "k", timed_cb, f.base,
	    err, sizeof(err)), 0);
	event_base_dispatch(f.base);
	ck_assert_int_eq(ndone, 4);
	ck_assert_double_lt(done_at[2] - t0, 0.3);
	ck_assert_double_ge(done_at[3] - t0, 0.45);
	ck_assert_double_lt(done_at[3] - t0, 1.5);
	fix_teardown(&f);
}
END_TEST

static char	order[32];
static int	norder;

static void
order_cb(struct kms_result *res, void *arg)
{
	(void)res;
	order[norder++] = (char)(intptr_t)arg;
	if (norder == 10)
		event_base_loopbreak(g_base);
}

START_TEST(test_kms_client_queue_is_fifo)
{
	struct client_fix	f;
	struct kms_opts		o = { .max_attempts = 1, .max_inflight = 1,
				    .rate_per_second = 1000, .burst = 1000 };
	struct keyid		id = { .region = "eu-west-1" };
	struct kms_target	t = { .id = &id,
				    .endpoint = "http://127.0.0.1:1",
				    .get_creds = static_creds };
	char			err[256];
	int			i;

	fix_setup(&f, &o);
	g_base = f.base;
	norder = 0;
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(kms_describe_key(f.kms, &t, "k", order_cb,
		    (void *)(intptr_t)('a' + i), err, sizeof(err)), 0);
	event_base_dispatch(f.base);
	order[norder] = '\0';
	ck_assert_str_eq(order, "abcdefghij");
	fix_teardown(&f);
}
END_TEST

/* A DescribeKey answer without a field the checks judge by is malformed
 * (check-failed), not a key that does not suit the vendor. */
START_TEST(test_kms_parse_key_meta_missing_checked_field_is_malformed)
{
	static const char * const fields[] = { "Arn", "KeyState", "KeySpec",
	    "KeyUsage", "KeyManager" };
	static const char * const values[] = {
	    "\"arn:aws:kms:eu-west-1:111122223333:key/k\"", "\"Enabled\"",
	    "\"SYMMETRIC_DEFAULT\"", "\"ENCRYPT_DECRYPT\"", "\"CUSTOMER\"" };
	char	body[1024], want[64];
	size_t	i, j, off;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		off = (size_t)snprintf(body, sizeof(body),
		    "{\"KeyMetadata\":{\"KeyId\":\"k\"");
		for (j = 0; j < sizeof(fields) / sizeof(fields[0]); j++)
			if (j != i)
				off += (size_t)snprintf(body + off,
				    sizeof(body) - off, ",\"%s\":%s",
				    fields[j], values[j]);
		(void)snprintf(body + off, sizeof(body) - off, "}}");
		(void)snprintf(want, sizeof(want), "KeyMetadata.%s is missing",
		    fields[i]);
		expect_meta_malformed(body, want);
	}
}
END_TEST

static struct kms_key_meta
meta_of(const char *arn, const char *key_id)
{
	struct kms_key_meta	m;

	memset(&m, 0, sizeof(m));
	m.arn = (char *)(uintptr_t)arn;
	m.key_id = (char *)(uintptr_t)key_id;
	return m;
}

#define KEY_A	"1234abcd-12ab-34cd-56ef-1234567890ab"
#define KEY_B	"0987dcba-09ab-09cd-09ef-0987654321ab"
#define ARN_A	"arn:aws:kms:eu-west-1:111122223333:key/" KEY_A

static void
expect_identity(const char *requested, const char *region, const char *arn,
    const char *key_id, int ok)
{
	struct kms_key_meta	m = meta_of(arn, key_id);
	struct kms_error	e;

	memset(&e, 0, sizeof(e));
	ck_assert_msg(kms_key_meta_identity(requested, region, &m, &e) ==
	    (ok ? 0 : -1), "%s answered by %s (%s): want %s", requested,
	    arn != NULL ? arn : "(null)", key_id != NULL ? key_id : "(null)",
	    ok ? "match" : "mismatch");
	if (!ok) {
		ck_assert_int_eq(e.cls, KMS_ERR_MALFORMED);
		ck_assert_str_eq(e.code, "KeyMismatch");
		ck_assert_int_eq(e.retryable, 0);
	}
}

/* An answer for another key, account, region or partition is no verdict
 * on the configured key. */
START_TEST(test_kms_key_meta_identity_other_key_is_mismatch)
{
	expect_identity(ARN_A, "eu-west-1", ARN_A, KEY_A, 1);
	expect_identity(ARN_A, "eu-west-1",
	    "arn:aws:kms:eu-west-1:111122223333:key/" KEY_B, KEY_B, 0);
	expect_identity(ARN_A, "eu-west-1",
	    "arn:aws:kms:eu-west-1:444455556666:key/" KEY_A, KEY_A, 0);
	expect_identity(ARN_A, "eu-west-1",
	    "arn:aws:kms:us-west-2:111122223333:key/" KEY_A, KEY_A, 0);
	expect_identity(ARN_A, "eu-west-1",
	    "arn:aws-cn:kms:eu-west-1:111122223333:key/" KEY_A, KEY_A, 0);
	/* KeyId and Arn disagree, or the Arn is no key's. */
	expect_identity(ARN_A, "eu-west-1", ARN_A, KEY_B, 0);
	expect_identity(ARN_A, "eu-west-1",
	    "arn:aws:kms:eu-west-1:111122223333:alias/x", "alias/x", 0);
	expect_identity(ARN_A, "eu-west-1", "garbage", KEY_A, 0);
	expect_identity(ARN_A, "eu-west-1", NULL, KEY_A, 0);
	/* A bare key id: the same key, in the request's region. */
	expect_identity(KEY_A, "eu-west-1", ARN_A, KEY_A, 1);
	expect_identity(KEY_A, "us-west-2", ARN_A, KEY_A, 0);
	expect_identity(KEY_B, "eu-west-1", ARN_A, KEY_A, 0);
}
END_TEST

/* DescribeKey on an alias answers with its target (another id by
 * design); a multi-Region replica answers with its own ARN. */
START_TEST(test_kms_key_meta_identity_alias_and_replica)
{
	expect_identity("arn:aws:kms:eu-west-1:111122223333:alias/backup",
	    "eu-west-1", ARN_A, KEY_A, 1);
	expect_identity("arn:aws:kms:eu-west-1:111122223333:alias/backup",
	    "eu-west-1", "arn:aws:kms:eu-west-1:444455556666:key/" KEY_A,
	    KEY_A, 0);
	expect_identity("arn:aws:kms:eu-west-1:111122223333:alias/backup",
	    "eu-west-1", "arn:aws:kms:us-east-1:111122223333:key/" KEY_A,
	    KEY_A, 0);
	expect_identity("alias/backup", "eu-west-1", ARN_A, KEY_A, 1);
	expect_identity("alias/backup", "us-west-2", ARN_A, KEY_A, 0);
	expect_identity("arn:aws:kms:us-west-2:111122223333:key/mrk-1234abcd"
	    "12ab34cd56ef1234567890ab", "us-west-2",
	    "arn:aws:kms:us-west-2:111122223333:key/mrk-1234abcd12ab34cd56ef"
	    "1234567890ab", "mrk-1234abcd12ab34cd56ef1234567890ab", 1);
	/* The primary answering for the replica is not the replica. */
	expect_identity("arn:aws:kms:us-west-2:111122223333:key/mrk-1234abcd"
	    "12ab34cd56ef1234567890ab", "us-west-2",
	    "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef"
	    "1234567890ab", "mrk-1234abcd12ab34cd56ef1234567890ab", 0);
}
END_TEST

/* NotFoundException (key-deleted, "unrecoverable") counts only from a
 * KMS JSON error with status 400; any other page is judged by status. */
START_TEST(test_kms_classify_not_found_only_from_kms_400)
{
	static const char nf[] = "{\"__type\":\"NotFoundException\","
	    "\"message\":\"Key does not exist\"}";
	static const char html[] = "<html><body>NotFoundException: "
	    "{\"__type\":\"NotFoundException\"}</body></html>";
	struct kms_error	e;

	kms_classify_error(400, "application/x-amz-json-1.1", S(nf), &e);
	ck_assert_int_eq(e.cls, KMS_ERR_NOT_FOUND);
	kms_classify_error(500, "application/x-amz-json-1.1", S(nf), &e);
	ck_assert_int_eq(e.cls, KMS_ERR_SERVER);
	ck_assert_int_eq(e.retryable, 1);
	kms_classify_error(404, "application/json", S(nf), &e);
	ck_assert_int_eq(e.cls, KMS_ERR_OTHER);
	/* The body is JSON, the server says it is a page. */
	kms_classify_error(400, "text/html; charset=utf-8", S(nf), &e);
	ck_assert_int_eq(e.cls, KMS_ERR_OTHER);
	ck_assert_str_eq(e.code, "HTTP 400");
	kms_classify_error(400, "text/html", S(html), &e);
	ck_assert_int_eq(e.cls, KMS_ERR_OTHER);
	kms_classify_error(400, NULL, S(html), &e);
	ck_assert_int_eq(e.cls, KMS_ERR_OTHER);
	/* Other codes still decide in JSON, whatever the status. */
	kms_classify_error(400, "application/x-amz-json-1.1",
	    S("{\"__type\":\"AccessDeniedException\"}"), &e);
	ck_assert_int_eq(e.cls, KMS_ERR_ACCESS_DENIED);
}
END_TEST

static Suite *
kms_suite(void)
{
	Suite	*s = suite_create("kms");
	TCase	*tp = tcase_create("parse");
	TCase	*tc = tcase_create("classify");
	TCase	*tm = tcase_create("math");
	TCase	*tl = tcase_create("client");

	tcase_add_test(tp, test_kms_parse_key_meta_every_field);
	tcase_add_test(tp,
	    test_kms_parse_key_meta_minimal_leaves_absent_fields_empty);
	tcase_add_test(tp, test_kms_parse_key_meta_wrong_types_are_malformed);
	tcase_add_test(tp,
	    test_kms_parse_key_meta_missing_or_not_json_is_malformed);
	tcase_add_test(tp, test_kms_parse_key_meta_body_with_nul_and_length);
	tcase_add_test(tp,
	    test_kms_parse_key_meta_missing_checked_field_is_malformed);
	tcase_add_test(tp, test_kms_key_meta_identity_other_key_is_mismatch);
	tcase_add_test(tp, test_kms_key_meta_identity_alias_and_replica);
	tcase_add_test(tp, test_kms_key_meta_copy_is_deep);
	tcase_add_test(tp, test_kms_parse_policy);
	tcase_add_test(tp, test_kms_parse_rotation);
	tcase_add_test(tp, test_kms_parse_aliases_pages_append);
	tcase_add_test(tp, test_kms_parse_grants_counts_pages);
	suite_add_tcase(s, tp);
	tcase_add_test(tc, test_kms_classify_error_table);
	tcase_add_test(tc, test_kms_classify_error_null_body);
	tcase_add_test(tc, test_kms_classify_not_found_only_from_kms_400);
	tcase_add_test(tc, test_kms_errclass_and_op_names);
	suite_add_tcase(s, tc);
	tcase_add_test(tm, test_kms_backoff_full_jitter_bounds);
	tcase_add_test(tm, test_kms_bucket_burst_then_rate);
	tcase_add_test(tm, test_kms_bucket_long_run_rate);
	tcase_add_test(tm, test_kms_parse_http_date);
	tcase_add_test(tm, test_kms_parse_skew_message);
	suite_add_tcase(s, tm);
	tcase_set_timeout(tl, 30);
	tcase_add_test(tl, test_kms_client_rejects_bad_arguments_without_callback);
	tcase_add_test(tl, test_kms_client_no_credentials_is_auth_error_later);
	tcase_add_test(tl,
	    test_kms_client_refused_connection_retries_then_transport);
	tcase_add_test(tl, test_kms_client_free_cancels_with_callbacks);
	tcase_add_test(tl, test_kms_client_skew_preset_and_read_back);
	tcase_add_test(tl, test_kms_client_bucket_per_account_and_region);
	tcase_add_test(tl, test_kms_client_queue_is_fifo);
	suite_add_tcase(s, tl);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(kms_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
