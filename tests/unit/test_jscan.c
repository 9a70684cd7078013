/*
 * lib/jscan and the one-pass GetKeyPolicy and DescribeKey readers built
 * on it: whatever the answer, kms_parse_policy() and kms_parse_key_meta()
 * must give exactly what jansson's tree gives (kms_parse_*_tree(): the
 * same rc, the same values, the same error), and the reader must take the
 * usual answers itself.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jscan.h"
#include "jscan_compare.h"

#define S(x)	(x), strlen(x)

/* The answers both paths are compared on. */
static const char *const answers[] = {
	/* What KMS sends, pretty-printed policy with \n and \" escapes. */
	"{\"Policy\":\"{\\n  \\\"Version\\\" : \\\"2012-10-17\\\",\\n  "
	"\\\"Statement\\\" : [ {\\n    \\\"Effect\\\" : \\\"Allow\\\"\\n"
	"  } ]\\n}\",\"PolicyName\":\"default\"}",
	"{\"PolicyName\": \"default\", \"Policy\": \"{}\"}",
	" \t\r\n{ \"Policy\" : \"x\" } \n",
	"{\"Policy\":\"\"}",
	"{\"Policy\":\"a\\/b\\\\c\\bd\\fe\\nf\\rg\\th\"}",
	/* \u escapes: ASCII, 2 and 3 bytes, a surrogate pair, upper and
	 * lower case hex. */
	"{\"Policy\":\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\\uD83D\\uDE00\"}",
	/* Raw UTF-8 of every length. */
	"{\"Policy\":\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f\"}",
	/* Other members of every type, nested, skipped. */
	"{\"A\":[1,-0,0.5,-1.5e3,2E+2,3e-2,true,false,null,{},[],"
	"{\"x\":{\"y\":[[]]}}],\"Policy\":\"p\",\"B\":{\"c\":\"\\u00e9\"}}",
	/* Errors jansson names. */
	"",
	"   ",
	"{}",
	"[]",
	"\"Policy\"",
	"{\"Policy\":null}",
	"{\"Policy\":1}",
	"{\"Policy\":{}}",
	"{\"Policy\":[\"x\"]}",
	"{\"Policy\":true}",
	"{\"Policy\":\"x\"",
	"{\"Policy\":\"x",
	"{\"Policy\":\"x\"}}",
	"{\"Policy\":\"x\"} x",
	"{\"Policy\":\"x\",}",
	"{,\"Policy\":\"x\"}",
	"{\"Policy\" \"x\"}",
	"{\"Policy\":\"x\" \"y\":1}",
	/* Duplicates, at the top and inside a skipped value. */
	"{\"Policy\":\"x\",\"Policy\":\"y\"}",
	"{\"A\":1,\"Policy\":\"x\",\"A\":2}",
	"{\"A\":{\"b\":1,\"b\":2},\"Policy\":\"x\"}",
	/* An escaped member name (jansson decodes it: a duplicate). */
	"{\"Policy\":\"x\",\"\\u0050olicy\":\"y\"}",
	"{\"\\u0050olicy\":\"y\"}",
	/* Bad escapes and code points. */
	"{\"Policy\":\"\\x\"}",
	"{\"Policy\":\"\\u00\"}",
	"{\"Policy\":\"\\u00g0\"}",
	"{\"Policy\":\"\\u0000\"}",
	"{\"Policy\":\"\\ud83d\"}",
	"{\"Policy\":\"\\ud83dx\"}",
	"{\"Policy\":\"\\ud83d\\u0041\"}",
	"{\"Policy\":\"\\ude00\"}",
	"{\"Policy\":\"\\",
	"{\"Policy\":\"a\tb\"}",
	"{\"Policy\":\"a\nb\"}",
	/* Bad UTF-8: a lone continuation, overlong, a surrogate, above
	 * U+10FFFF, cut. */
	"{\"Policy\":\"\x80\"}",
	"{\"Policy\":\"\xc0\xaf\"}",
	"{\"Policy\":\"\xe0\x80\xaf\"}",
	"{\"Policy\":\"\xed\xa0\x80\"}",
	"{\"Policy\":\"\xf4\x90\x80\x80\"}",
	"{\"Policy\":\"\xf0\x9f\x98\"}",
	"{\"Policy\":\"\xc3\"}",
	"{\"Policy\":\"x\",\"A\":\"\xff\"}",
	/* Numbers: a leading zero, bare signs, a lone dot, huge ones. */
	"{\"A\":01,\"Policy\":\"x\"}",
	"{\"A\":-,\"Policy\":\"x\"}",
	"{\"A\":1.,\"Policy\":\"x\"}",
	"{\"A\":.5,\"Policy\":\"x\"}",
	"{\"A\":1e,\"Policy\":\"x\"}",
	"{\"A\":+1,\"Policy\":\"x\"}",
	"{\"A\":123456789012345678901234567890,\"Policy\":\"x\"}",
	"{\"A\":-9223372036854775809,\"Policy\":\"x\"}",
	"{\"A\":9223372036854775807,\"Policy\":\"x\"}",
	"{\"A\":1e400,\"Policy\":\"x\"}",
	"{\"A\":1e-400,\"Policy\":\"x\"}",
	"{\"A\":tru,\"Policy\":\"x\"}",
	"{\"A\":truex,\"Policy\":\"x\"}",
	"{\"A\":nul,\"Policy\":\"x\"}",
	"{\"A\":[1,],\"Policy\":\"x\"}",
	"{\"A\":[1 2],\"Policy\":\"x\"}",
	"{\"A\":NaN,\"Policy\":\"x\"}",
};

/* Both paths on body; fails the test on any difference. */
static void
compare(const char *body, size_t len, const char *what)
{
	char	why[1024];

	ck_assert_msg(jscan_cmp_policy(body, len, why, sizeof(why)) == 0,
	    "%s: %s", what, why);
}

/* Each of the n bodies, whole, through cmp. */
static void
each_body(const char *const *bodies, size_t n,
    void (*cmp)(const char *, size_t, const char *))
{
	size_t	i;
	char	what[32];

	for (i = 0; i < n; i++) {
		(void)snprintf(what, sizeof(what), "body %zu", i);
		cmp(bodies[i], strlen(bodies[i]), what);
	}
}

START_TEST(test_jscan_policy_same_as_jansson_on_every_answer)
{
	each_body(answers, sizeof(answers) / sizeof(answers[0]), compare);
	/* A NUL inside the given length, and a NULL body. */
	compare("{\"Policy\":\"x\"}\0", 15, "NUL after the object");
	compare("{\"Policy\":\"a\0b\"}", 16, "NUL in the string");
	compare(NULL, 0, "NULL body");
}
END_TEST

/*
 * Every prefix and every one-byte change (to one of bytes) of the first n
 * bodies, each through cmp.
 */
static void
cut_and_mutate(const char *const *bodies, size_t n, const char *bytes,
    void (*cmp)(const char *, size_t, const char *))
{
	char	buf[1024], what[64];
	size_t	i, j, k, len;

	for (i = 0; i < n; i++) {
		len = strlen(bodies[i]);
		ck_assert_uint_lt(len, sizeof(buf));
		for (j = 0; j <= len; j++) {
			(void)snprintf(what, sizeof(what), "body %zu cut at "
			    "%zu", i, j);
			cmp(bodies[i], j, what);
		}
		for (j = 0; j < len; j++)
			for (k = 0; bytes[k] != '\0'; k++) {
				memcpy(buf, bodies[i], len);
				buf[j] = bytes[k];
				(void)snprintf(what, sizeof(what), "body %zu, "
				    "byte %zu = 0x%02x", i, j,
				    (unsigned char)bytes[k]);
				cmp(buf, len, what);
			}
	}
}

/* The usual answers cut and mutated. */
START_TEST(test_jscan_policy_same_as_jansson_cut_and_mutated)
{
	cut_and_mutate(answers, 8, "\"\\{}[],: \nu0Ad\x80\xc3\xff", compare);
}
END_TEST

/* A huge policy, and nesting past the reader's depth. */
START_TEST(test_jscan_policy_same_as_jansson_huge_and_deep)
{
	size_t	 n = 300000, i, o = 0;
	char	*b = malloc(n + 64);

	ck_assert_ptr_nonnull(b);
	o += (size_t)sprintf(b, "{\"Policy\":\"");
	for (i = 0; i < n / 8; i++) {
		memcpy(b + o, "\\u00e9\\n", 8);
		o += 8;
	}
	o += (size_t)sprintf(b + o, "\"}");
	compare(b, o, "huge escaped policy");
	o = (size_t)sprintf(b, "{\"A\":");
	for (i = 0; i < 100; i++)
		b[o++] = '[';
	for (i = 0; i < 100; i++)
		b[o++] = ']';
	o += (size_t)sprintf(b + o, ",\"Policy\":\"x\"}");
	compare(b, o, "deep array");
	free(b);
}
END_TEST

/* The reader itself takes what KMS sends: jansson is only the fallback. */
START_TEST(test_jscan_reads_the_usual_answer_itself)
{
	char	*p = NULL;

	ck_assert_int_eq(kms_scan_policy(S(answers[0]), &p), 0);
	ck_assert_str_eq(p, "{\n  \"Version\" : \"2012-10-17\",\n  "
	    "\"Statement\" : [ {\n    \"Effect\" : \"Allow\"\n  } ]\n}");
	free(p);
	ck_assert_int_eq(kms_scan_policy(S(answers[6]), &p), 0);
	ck_assert_str_eq(p, "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f");
	free(p);
	ck_assert_int_eq(kms_scan_policy(S(answers[5]), &p), 0);
	ck_assert_str_eq(p, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
	    "\xf0\x9f\x98\x80");
	free(p);
}
END_TEST

/* DescribeKey answers: what KMS and the emulator send, and variants. */
#define META_HEAD	"{\"KeyMetadata\":{\"KeyId\":\"k\",\"Arn\":\"arn:aws:" \
			"kms:eu-west-1:111122223333:key/k\",\"KeyState\":" \
			"\"Enabled\",\"KeyUsage\":\"ENCRYPT_DECRYPT\"," \
			"\"KeyManager\":\"CUSTOMER\","
static const char *const metas[] = {
	"{\"KeyMetadata\": {\"AWSAccountId\": \"111122223333\", "
	"\"KeyId\": \"1234abcd-12ab-34cd-56ef-1234567890ab\", \"Arn\": "
	"\"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-"
	"1234567890ab\", \"CreationDate\": 1.571767572317E9, \"Enabled\": "
	"true, \"Description\": \"backups \\u00e9\", \"KeyUsage\": "
	"\"ENCRYPT_DECRYPT\", \"KeyState\": \"PendingDeletion\", "
	"\"DeletionDate\": 1700000000, \"ValidTo\": 1800000000.5, "
	"\"Origin\": \"EXTERNAL\", \"ExpirationModel\": "
	"\"KEY_MATERIAL_EXPIRES\", \"KeyManager\": \"CUSTOMER\", "
	"\"CustomerMasterKeySpec\": \"SYMMETRIC_DEFAULT\", \"KeySpec\": "
	"\"SYMMETRIC_DEFAULT\", \"EncryptionAlgorithms\": "
	"[\"SYMMETRIC_DEFAULT\"], \"MultiRegion\": false, "
	"\"PendingDeletionWindowInDays\": 7, \"CustomKeyStoreId\": "
	"\"cks-1234567890abcdef0\", \"CurrentKeyMaterialId\": \"abc123\"}}",
	META_HEAD "\"KeySpec\":\"SYMMETRIC_DEFAULT\"}}",
	META_HEAD "\"CustomerMasterKeySpec\":\"SYMMETRIC_DEFAULT\"}}",
	META_HEAD "\"KeySpec\":null,\"CustomerMasterKeySpec\":\"X\"}}",
	META_HEAD "\"KeySpec\":\"A\",\"CustomerMasterKeySpec\":5}}",
	META_HEAD "\"KeySpec\":\"A\",\"Origin\":null,\"Enabled\":null,"
	"\"CreationDate\":null,\"MultiRegionConfiguration\":null}}",
	META_HEAD "\"KeySpec\":\"A\",\"MultiRegion\":true,"
	"\"MultiRegionConfiguration\":{\"MultiRegionKeyType\":\"PRIMARY\","
	"\"PrimaryKey\":{\"Arn\":\"p\",\"Region\":\"eu-west-1\"},"
	"\"ReplicaKeys\":[{\"Arn\":\"r\",\"Region\":\"us-west-2\"}]}}}",
	META_HEAD "\"KeySpec\":\"A\",\"PendingDeletionWindowInDays\":7.0}}",
	META_HEAD "\"KeySpec\":\"A\",\"PendingDeletionWindowInDays\":366}}",
	META_HEAD "\"KeySpec\":\"A\",\"PendingDeletionWindowInDays\":-0}}",
	META_HEAD "\"KeySpec\":\"A\",\"CreationDate\":-1}}",
	META_HEAD "\"KeySpec\":\"A\",\"CreationDate\":-0.0}}",
	META_HEAD "\"KeySpec\":\"A\",\"CreationDate\":1e11}}",
	META_HEAD "\"KeySpec\":\"A\",\"CreationDate\":1.0000001e11}}",
	META_HEAD "\"KeySpec\":\"A\",\"CreationDate\":\"1\"}}",
	META_HEAD "\"KeySpec\":\"A\",\"CreationDate\":123456789012345678}}",
	META_HEAD "\"KeySpec\":\"A\",\"Enabled\":1}}",
	META_HEAD "\"KeySpec\":\"A\",\"Enabled\":\"true\"}}",
	META_HEAD "\"KeySpec\":\"A\",\"KeyId\":\"again\"}}",
	META_HEAD "\"KeySpec\":\"A\"},\"KeyMetadata\":{}}",
	META_HEAD "\"KeySpec\":\"A\",\"Description\":\"\\u0000\"}}",
	META_HEAD "\"KeySpec\":\"A\",\"Description\":7}}",
	META_HEAD "\"KeySpec\":\"A\"},\"Other\":[1,{\"a\":null}]}",
	META_HEAD "\"KeySpec\":\"A\"}} x",
	"{\"KeyMetadata\":{\"KeyId\":\"k\",\"KeySpec\":\"A\"}}",
	"{\"KeyMetadata\":null}",
	"{\"KeyMetadata\":[]}",
	"{\"Other\":1}",
	"[]",
	"",
};

static void
compare_meta(const char *body, size_t len, const char *what)
{
	char	why[1024];

	ck_assert_msg(jscan_cmp_key_meta(body, len, why, sizeof(why)) == 0,
	    "%s: %s", what, why);
}

START_TEST(test_jscan_key_meta_same_as_jansson_on_every_answer)
{
	each_body(metas, sizeof(metas) / sizeof(metas[0]), compare_meta);
	compare_meta(NULL, 0, "NULL body");
}
END_TEST

START_TEST(test_jscan_key_meta_same_as_jansson_cut_and_mutated)
{
	cut_and_mutate(metas, 3, "\"\\{}[],: 0-.eEtn\x80", compare_meta);
}
END_TEST

/* DescribeKey's usual answer is read without jansson. */
START_TEST(test_jscan_reads_the_usual_key_meta_itself)
{
	struct kms_key_meta	m;

	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(kms_scan_key_meta(S(metas[0]), &m), 0);
	ck_assert_str_eq(m.key_id, "1234abcd-12ab-34cd-56ef-1234567890ab");
	ck_assert_str_eq(m.description, "backups \xc3\xa9");
	ck_assert_str_eq(m.key_spec, "SYMMETRIC_DEFAULT");
	ck_assert_double_eq(m.creation_date, 1571767572.317);
	ck_assert_int_eq(m.pending_window_days, 7);
	ck_assert_int_eq(m.enabled, 1);
	kms_key_meta_free(&m);
	/* A multi-Region key's configuration is jansson's. */
	ck_assert_int_eq(kms_scan_key_meta(S(metas[6]), &m), -1);
	kms_key_meta_free(&m);
}
END_TEST

/* jscan_number's values are jansson's json_number_value(). */
START_TEST(test_jscan_number_values)
{
	static const struct {
		const char	*text;
		double		 value;
		int		 integer;
	} nums[] = {
		{ "0", 0, 1 }, { "-0", 0, 1 }, { "7", 7, 1 },
		{ "1571767572", 1571767572.0, 1 },
		{ "1.571767572317E9", 1571767572.317, 0 },
		{ "1800000000.5", 1800000000.5, 0 }, { "2e2", 200, 0 },
		{ "-1.5e-3", -0.0015, 0 },
	};
	struct jscan	s;
	double		d;
	size_t		i;
	int		integer;

	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		jscan_init(&s, nums[i].text, strlen(nums[i].text));
		ck_assert_int_eq(jscan_number(&s, &d, &integer), 0);
		ck_assert_double_eq(d, nums[i].value);
		ck_assert_int_eq(integer, nums[i].integer);
		ck_assert_int_eq(jscan_end(&s), 0);
	}
	jscan_init(&s, "1234567890123456789", 19);
	ck_assert_int_eq(jscan_number(&s, &d, &integer), -1);
	jscan_init(&s, "1e999", 5);
	ck_assert_int_eq(jscan_number(&s, &d, &integer), -1);
}
END_TEST

static Suite *
jscan_suite(void)
{
	Suite	*s = suite_create("jscan");
	TCase	*tc = tcase_create("policy");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_jscan_policy_same_as_jansson_on_every_answer);
	tcase_add_test(tc, test_jscan_policy_same_as_jansson_cut_and_mutated);
	tcase_add_test(tc, test_jscan_policy_same_as_jansson_huge_and_deep);
	tcase_add_test(tc, test_jscan_reads_the_usual_answer_itself);
	tcase_add_test(tc,
	    test_jscan_key_meta_same_as_jansson_on_every_answer);
	tcase_add_test(tc,
	    test_jscan_key_meta_same_as_jansson_cut_and_mutated);
	tcase_add_test(tc, test_jscan_reads_the_usual_key_meta_itself);
	tcase_add_test(tc, test_jscan_number_values);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(jscan_suite());
	int	 nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? 0 : 1;
}
