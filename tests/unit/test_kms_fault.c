/*
 * lib/kms_fault: the compact error record a snapshot keeps of each part
 * round-trips what the checks report (code, message, class, status,
 * attempts), costs nothing on success, and copies deeply.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "kms_fault.h"

static struct kms_error
mkerr(enum kms_errclass cls, const char *code, const char *msg)
{
	struct kms_error	e;

	memset(&e, 0, sizeof(e));
	e.cls = cls;
	strcpy(e.code, code);
	strcpy(e.message, msg);
	e.status = 400;
	e.attempts = 4;
	e.retryable = 1;
	return e;
}

START_TEST(test_kms_fault_round_trips_an_error)
{
	struct kms_error	e = mkerr(KMS_ERR_THROTTLED,
				    "ThrottlingException", "Rate exceeded"), o;
	struct kms_fault	f;

	memset(&f, 0, sizeof(f));
	ck_assert_int_eq(kms_fault_set(&f, &e), 0);
	ck_assert_int_eq(f.cls, KMS_ERR_THROTTLED);
	ck_assert_str_eq(kms_fault_code(&f), "ThrottlingException");
	ck_assert_str_eq(kms_fault_message(&f), "Rate exceeded");
	kms_fault_get(&f, &o);
	ck_assert_int_eq(o.cls, e.cls);
	ck_assert_str_eq(o.code, e.code);
	ck_assert_str_eq(o.message, e.message);
	ck_assert_int_eq(o.status, 400);
	ck_assert_int_eq(o.attempts, 4);
	ck_assert_int_eq(o.retryable, 1);
	/* The record is a small fraction of the client's form. */
	ck_assert_uint_le(sizeof(f) * 8, sizeof(e));
	kms_fault_free(&f);
	ck_assert_ptr_null(f.text);
	ck_assert_int_eq(f.cls, KMS_OK);
}
END_TEST

START_TEST(test_kms_fault_success_allocates_nothing)
{
	struct kms_error	e = mkerr(KMS_OK, "", "");
	struct kms_fault	f;

	memset(&f, 0, sizeof(f));
	ck_assert_int_eq(kms_fault_set(&f, &e), 0);
	ck_assert_ptr_null(f.text);
	ck_assert_str_eq(kms_fault_code(&f), "");
	ck_assert_str_eq(kms_fault_message(&f), "");
	/* An error replaced by a success frees the old text. */
	e = mkerr(KMS_ERR_OTHER, "X", "y");
	ck_assert_int_eq(kms_fault_set(&f, &e), 0);
	ck_assert_ptr_nonnull(f.text);
	ck_assert_int_eq(kms_fault_set(&f, NULL), 0);
	ck_assert_ptr_null(f.text);
}
END_TEST

START_TEST(test_kms_fault_copy_is_deep_and_local_errors_have_no_status)
{
	struct kms_fault	a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	ck_assert_int_eq(kms_fault_local(&a, KMS_ERR_AUTH, "NoCredentials",
	    "no credentials in the chain"), 0);
	ck_assert_int_eq(a.status, 0);
	ck_assert_int_eq(kms_fault_copy(&b, &a), 0);
	ck_assert_ptr_ne(a.text, b.text);
	kms_fault_free(&a);
	ck_assert_str_eq(kms_fault_code(&b), "NoCredentials");
	ck_assert_str_eq(kms_fault_message(&b), "no credentials in the chain");
	/* A code without a message, and a message without a code. */
	ck_assert_int_eq(kms_fault_local(&b, KMS_ERR_OTHER, "Code", NULL), 0);
	ck_assert_str_eq(kms_fault_message(&b), "");
	ck_assert_int_eq(kms_fault_local(&b, KMS_ERR_OTHER, NULL, "m"), 0);
	ck_assert_str_eq(kms_fault_code(&b), "");
	ck_assert_str_eq(kms_fault_message(&b), "m");
	kms_fault_free(&b);
}
END_TEST

static Suite *
kms_fault_suite(void)
{
	Suite	*s = suite_create("kms_fault");
	TCase	*tc = tcase_create("record");

	tcase_add_test(tc, test_kms_fault_round_trips_an_error);
	tcase_add_test(tc, test_kms_fault_success_allocates_nothing);
	tcase_add_test(tc,
	    test_kms_fault_copy_is_deep_and_local_errors_have_no_status);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(kms_fault_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
