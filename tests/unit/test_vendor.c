/*
 * lib/vendor: the builtin profiles carry the vendor guide's facts.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "vendor.h"

START_TEST(test_vendor_gearset_accounts_per_region)
{
	struct vendor	*v = vendor_builtin("gearset");

	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(vendor_account(v, "eu-west-1"), "347752291521");
	ck_assert_str_eq(vendor_account(v, "us-west-2"), "157764733222");
	ck_assert_str_eq(vendor_account(v, "ap-southeast-2"), "178658833999");
	ck_assert_str_eq(vendor_account(v, "ca-central-1"), "877694686213");
	ck_assert_ptr_null(vendor_account(v, "us-east-1"));
	vendor_free(v);
}
END_TEST

START_TEST(test_vendor_gearset_statements)
{
	struct vendor	*v = vendor_builtin("gearset");

	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(v->ngroups, 2);
	ck_assert_uint_eq(v->groups[0].nactions, 5);
	ck_assert_str_eq(v->groups[0].actions[2], "kms:ReEncrypt*");
	ck_assert_uint_eq(v->groups[0].nconds, 0);
	ck_assert_uint_eq(v->groups[1].nactions, 3);
	ck_assert_uint_eq(v->groups[1].nconds, 1);
	ck_assert_str_eq(v->groups[1].conds[0].op, "Bool");
	ck_assert_str_eq(v->groups[1].conds[0].key,
	    "kms:GrantIsForAWSResource");
	ck_assert_str_eq(v->groups[1].conds[0].value, "true");
	ck_assert_str_eq(v->key_spec, "SYMMETRIC_DEFAULT");
	ck_assert_str_eq(v->key_usage, "ENCRYPT_DECRYPT");
	vendor_free(v);
}
END_TEST

START_TEST(test_vendor_unknown_name_is_null)
{
	ck_assert_ptr_null(vendor_builtin("acme"));
	ck_assert_str_eq(vendor_builtin_names()[0], "gearset");
	ck_assert_ptr_null(vendor_builtin_names()[1]);
	vendor_free(NULL);
}
END_TEST

static Suite *
vendor_suite(void)
{
	Suite	*s = suite_create("vendor");
	TCase	*tc = tcase_create("builtin");

	tcase_add_test(tc, test_vendor_gearset_accounts_per_region);
	tcase_add_test(tc, test_vendor_gearset_statements);
	tcase_add_test(tc, test_vendor_unknown_name_is_null);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(vendor_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
