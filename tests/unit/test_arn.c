/*
 * lib/arn: KMS key and alias ARNs, strictly.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "arn.h"

static void
bad(const char *s, const char *want)
{
	struct arn	a;
	char		err[256];

	ck_assert_int_eq(arn_parse(s, &a, err, sizeof(err)), -1);
	ck_assert_str_eq(err, want);
}

START_TEST(test_arn_key_arn_fields)
{
	struct arn	a;
	char		err[256];

	ck_assert_int_eq(arn_parse("arn:aws:kms:eu-west-1:111122223333:key/"
	    "1234abcd-12ab-34cd-56ef-1234567890ab", &a, err, sizeof(err)), 0);
	ck_assert_str_eq(a.partition, "aws");
	ck_assert_str_eq(a.region, "eu-west-1");
	ck_assert_str_eq(a.account, "111122223333");
	ck_assert_int_eq(a.kind, ARN_KMS_KEY);
	ck_assert_str_eq(a.resource, "1234abcd-12ab-34cd-56ef-1234567890ab");
}
END_TEST

START_TEST(test_arn_multi_region_key_id)
{
	struct arn	a;
	char		err[256];

	ck_assert_int_eq(arn_parse("arn:aws:kms:us-west-2:111122223333:key/"
	    "mrk-1234abcd12ab34cd56ef1234567890ab", &a, err, sizeof(err)), 0);
	ck_assert_str_eq(a.resource, "mrk-1234abcd12ab34cd56ef1234567890ab");
}
END_TEST

START_TEST(test_arn_alias_arn_keeps_alias_prefix)
{
	struct arn	a;
	char		err[256];

	ck_assert_int_eq(arn_parse("arn:aws:kms:eu-west-1:111122223333:"
	    "alias/gearset-backup", &a, err, sizeof(err)), 0);
	ck_assert_int_eq(a.kind, ARN_KMS_ALIAS);
	ck_assert_str_eq(a.resource, "alias/gearset-backup");
}
END_TEST

START_TEST(test_arn_other_partitions)
{
	struct arn	a;
	char		err[256];

	ck_assert_int_eq(arn_parse("arn:aws-cn:kms:cn-north-1:111122223333:"
	    "key/abc", &a, err, sizeof(err)), 0);
	ck_assert_str_eq(a.partition, "aws-cn");
	ck_assert_int_eq(arn_parse("arn:aws-us-gov:kms:us-gov-west-1:"
	    "111122223333:key/abc", &a, err, sizeof(err)), 0);
	ck_assert_str_eq(a.region, "us-gov-west-1");
}
END_TEST

START_TEST(test_arn_not_an_arn)
{
	bad("alias/foo", "not an ARN (must start with \"arn:\"): alias/foo");
	bad("", "not an ARN (must start with \"arn:\"): ");
}
END_TEST

START_TEST(test_arn_unknown_partition)
{
	bad("arn:mars:kms:eu-west-1:111122223333:key/abc",
	    "unknown AWS partition 'mars' in ARN");
	bad("arn::kms:eu-west-1:111122223333:key/abc",
	    "ARN has no partition: arn::kms:eu-west-1:111122223333:key/abc");
}
END_TEST

START_TEST(test_arn_service_must_be_kms)
{
	bad("arn:aws:s3:eu-west-1:111122223333:key/abc",
	    "not a KMS ARN (service must be \"kms\"): "
	    "arn:aws:s3:eu-west-1:111122223333:key/abc");
}
END_TEST

START_TEST(test_arn_region_is_checked)
{
	bad("arn:aws:kms::111122223333:key/abc",
	    "ARN has no valid region: arn:aws:kms::111122223333:key/abc");
	bad("arn:aws:kms:EU-WEST-1:111122223333:key/abc",
	    "ARN has no valid region: arn:aws:kms:EU-WEST-1:111122223333:"
	    "key/abc");
	bad("arn:aws:kms:euwest1:111122223333:key/abc",
	    "ARN has no valid region: arn:aws:kms:euwest1:111122223333:"
	    "key/abc");
}
END_TEST

START_TEST(test_arn_account_is_12_digits)
{
	bad("arn:aws:kms:eu-west-1:1111:key/abc",
	    "ARN account must be 12 digits: arn:aws:kms:eu-west-1:1111:"
	    "key/abc");
	bad("arn:aws:kms:eu-west-1:11112222333x:key/abc",
	    "ARN account must be 12 digits: arn:aws:kms:eu-west-1:"
	    "11112222333x:key/abc");
}
END_TEST

START_TEST(test_arn_resource_kind)
{
	bad("arn:aws:kms:eu-west-1:111122223333:grant/abc",
	    "ARN resource must be key/ID or alias/NAME: arn:aws:kms:"
	    "eu-west-1:111122223333:grant/abc");
	bad("arn:aws:kms:eu-west-1:111122223333:key/",
	    "ARN has an empty or too long key id: arn:aws:kms:eu-west-1:"
	    "111122223333:key/");
	bad("arn:aws:kms:eu-west-1:111122223333:alias/",
	    "ARN has an empty or too long alias: arn:aws:kms:eu-west-1:"
	    "111122223333:alias/");
}
END_TEST

START_TEST(test_arn_bad_characters)
{
	bad("arn:aws:kms:eu-west-1:111122223333:key/ab_c",
	    "invalid character '_' in key id: arn:aws:kms:eu-west-1:"
	    "111122223333:key/ab_c");
	bad("arn:aws:kms:eu-west-1:111122223333:alias/a b",
	    "invalid character ' ' in alias: arn:aws:kms:eu-west-1:"
	    "111122223333:alias/a b");
}
END_TEST

START_TEST(test_arn_long_input_is_bounded)
{
	struct arn	a;
	char		s[4096], err[256];

	memset(s, 'a', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	memcpy(s, "arn:aws:kms:eu-west-1:111122223333:key/", 39);
	ck_assert_int_eq(arn_parse(s, &a, err, sizeof(err)), -1);
	ck_assert_uint_lt(strlen(err), 200);
}
END_TEST

static Suite *
arn_suite(void)
{
	Suite	*s = suite_create("arn");
	TCase	*tc = tcase_create("parse");

	tcase_add_test(tc, test_arn_key_arn_fields);
	tcase_add_test(tc, test_arn_multi_region_key_id);
	tcase_add_test(tc, test_arn_alias_arn_keeps_alias_prefix);
	tcase_add_test(tc, test_arn_other_partitions);
	tcase_add_test(tc, test_arn_not_an_arn);
	tcase_add_test(tc, test_arn_unknown_partition);
	tcase_add_test(tc, test_arn_service_must_be_kms);
	tcase_add_test(tc, test_arn_region_is_checked);
	tcase_add_test(tc, test_arn_account_is_12_digits);
	tcase_add_test(tc, test_arn_resource_kind);
	tcase_add_test(tc, test_arn_bad_characters);
	tcase_add_test(tc, test_arn_long_input_is_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(arn_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
