/*
 * lib/finding: severities order as the Nagios convention says, findings
 * own what they are given.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "finding.h"

START_TEST(test_finding_worst_prefers_critical_then_unknown_then_warning)
{
	struct findings	fs;

	memset(&fs, 0, sizeof(fs));
	ck_assert_int_eq(findings_worst(&fs), SEV_OK);
	ck_assert_int_eq(findings_add(&fs, "key-material-rotated", SEV_INFO,
	    NULL, "rotated"), 0);
	ck_assert_int_eq(findings_worst(&fs), SEV_INFO);
	ck_assert_int_eq(findings_add(&fs, "policy-changed", SEV_WARNING,
	    NULL, "changed"), 0);
	ck_assert_int_eq(findings_worst(&fs), SEV_WARNING);
	ck_assert_int_eq(findings_add(&fs, "check-failed", SEV_UNKNOWN, NULL,
	    "denied"), 0);
	ck_assert_int_eq(findings_worst(&fs), SEV_UNKNOWN);
	ck_assert_int_eq(findings_add(&fs, "key-disabled", SEV_CRITICAL,
	    NULL, "disabled"), 0);
	ck_assert_int_eq(findings_worst(&fs), SEV_CRITICAL);
	findings_clear(&fs);
	ck_assert_uint_eq(fs.n, 0);
}
END_TEST

START_TEST(test_finding_exit_codes_follow_nagios)
{
	ck_assert_int_eq(severity_exit_code(SEV_OK), 0);
	ck_assert_int_eq(severity_exit_code(SEV_INFO), 0);
	ck_assert_int_eq(severity_exit_code(SEV_WARNING), 1);
	ck_assert_int_eq(severity_exit_code(SEV_CRITICAL), 2);
	ck_assert_int_eq(severity_exit_code(SEV_UNKNOWN), 3);
}
END_TEST

START_TEST(test_finding_severity_names_round_trip)
{
	enum severity	s;
	int		i;

	for (i = SEV_OK; i <= SEV_CRITICAL; i++) {
		ck_assert_int_eq(severity_parse(severity_name(i), &s), 0);
		ck_assert_int_eq(s, i);
	}
	ck_assert_int_eq(severity_parse("fatal", &s), -1);
}
END_TEST

START_TEST(test_finding_json_carries_details)
{
	struct findings	 fs;
	json_t		*a, *d;
	char		*text;

	memset(&fs, 0, sizeof(fs));
	d = json_pack("{s:s, s:i}", "deletion_date", "2026-12-05T00:00:00Z",
	    "days_left", 6);
	ck_assert_int_eq(findings_add(&fs, "key-pending-deletion",
	    SEV_CRITICAL, d, "key %s is scheduled for deletion", "k"), 0);
	ck_assert_ptr_nonnull(findings_get(&fs, "key-pending-deletion"));
	ck_assert_ptr_null(findings_get(&fs, "key-disabled"));
	a = findings_json(&fs);
	text = json_dumps(a, JSON_SORT_KEYS | JSON_COMPACT);
	ck_assert_str_eq(text, "[{\"check\":\"key-pending-deletion\","
	    "\"details\":{\"days_left\":6,\"deletion_date\":"
	    "\"2026-12-05T00:00:00Z\"},\"severity\":\"critical\","
	    "\"summary\":\"key k is scheduled for deletion\"}]");
	free(text);
	json_decref(a);
	findings_clear(&fs);
}
END_TEST

static Suite *
finding_suite(void)
{
	Suite	*s = suite_create("finding");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc,
	    test_finding_worst_prefers_critical_then_unknown_then_warning);
	tcase_add_test(tc, test_finding_exit_codes_follow_nagios);
	tcase_add_test(tc, test_finding_severity_names_round_trip);
	tcase_add_test(tc, test_finding_json_carries_details);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(finding_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
