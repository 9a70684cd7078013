/*
 * lib/duration: "30s", "5m", "1h30m", "2d" into seconds and back.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

static long
ok(const char *s)
{
	char	err[256];
	long	v = -1;

	ck_assert_msg(duration_parse(s, &v, err, sizeof(err)) == 0,
	    "%s: %s", s, err);
	return v;
}

static void
bad(const char *s, const char *want)
{
	char	err[256];
	long	v = 12345;

	ck_assert_int_eq(duration_parse(s, &v, err, sizeof(err)), -1);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(v, 12345);
}

START_TEST(test_duration_single_units)
{
	ck_assert_int_eq(ok("30s"), 30);
	ck_assert_int_eq(ok("5m"), 300);
	ck_assert_int_eq(ok("1h"), 3600);
	ck_assert_int_eq(ok("2d"), 172800);
}
END_TEST

START_TEST(test_duration_combined_units)
{
	ck_assert_int_eq(ok("1h30m"), 5400);
	ck_assert_int_eq(ok("1d12h"), 129600);
	ck_assert_int_eq(ok("1d2h3m4s"), 93784);
	ck_assert_int_eq(ok("90s"), 90);
	ck_assert_int_eq(ok("0s"), 0);
}
END_TEST

START_TEST(test_duration_bare_zero_needs_no_unit)
{
	ck_assert_int_eq(ok("0"), 0);
}
END_TEST

START_TEST(test_duration_unknown_unit_is_named)
{
	bad("5x", "bad duration '5x': unknown unit 'x' (use ms, s, m, h, d)");
	bad("5min", "bad duration '5min': unknown unit 'min' (use ms, s, m, "
	    "h, d)");
	bad("1w", "bad duration '1w': unknown unit 'w' (use ms, s, m, h, d)");
}
END_TEST

START_TEST(test_duration_missing_unit)
{
	bad("300", "bad duration '300': missing unit (use ms, s, m, h, d)");
	bad("1h30", "bad duration '1h30': missing unit (use ms, s, m, h, d)");
}
END_TEST

START_TEST(test_duration_milliseconds_only_where_they_fit)
{
	char		err[256];
	long long	ms;

	/* One grammar: ms is a unit like the others ... */
	ck_assert_int_eq(duration_parse_ms("500ms", &ms, err, sizeof(err)),
	    0);
	ck_assert_int_eq(ms, 500);
	ck_assert_int_eq(duration_parse_ms("1m30s250ms", &ms, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(ms, 90250);
	ck_assert_int_eq(duration_parse_ms("2h", &ms, err, sizeof(err)), 0);
	ck_assert_int_eq(ms, 7200000);
	ck_assert_int_eq(ok("2000ms"), 2);
	/* ... but an option in whole seconds refuses a fraction of one. */
	bad("500ms", "bad duration '500ms': this option takes whole seconds");
	bad("1s500ms", "bad duration '1s500ms': this option takes whole "
	    "seconds");
	bad("5ms1s", "bad duration '5ms1s': unit 's' repeated or out of "
	    "order (largest first, as in 1h30m)");
}
END_TEST

START_TEST(test_duration_order_and_repeats)
{
	bad("30m1h", "bad duration '30m1h': unit 'h' repeated or out of "
	    "order (largest first, as in 1h30m)");
	bad("1m1m", "bad duration '1m1m': unit 'm' repeated or out of order "
	    "(largest first, as in 1h30m)");
}
END_TEST

START_TEST(test_duration_no_sign_fraction_space_or_empty)
{
	bad("-5m", "bad duration '-5m': no sign allowed");
	bad("+5m", "bad duration '+5m': no sign allowed");
	bad("1.5h", "bad duration '1.5h': fractions are not supported (write "
	    "1m30s for 1.5m)");
	bad("1h 30m", "bad duration '1h 30m': no spaces allowed (write "
	    "1h30m)");
	bad("", "bad duration '': empty (write e.g. 500ms, 30s, 5m, 1h, "
	    "1h30m, 2d)");
	bad("m", "bad duration 'm': expected a number (write e.g. 500ms, "
	    "30s, 5m, 1h, 1h30m, 2d)");
}
END_TEST

START_TEST(test_duration_too_large)
{
	char	err[256];
	long	v;

	ck_assert_int_eq(ok("3650d"), DURATION_MAX);
	bad("3651d", "bad duration '3651d': too large (at most 3650d)");
	bad("99999999999999999999s", "bad duration '99999999999999999999s': "
	    "too large (at most 3650d)");
	ck_assert_int_eq(duration_parse("3650d1s", &v, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_duration_long_input_is_shortened_in_message)
{
	char	s[200], err[256];
	long	v;

	memset(s, '1', sizeof(s) - 2);
	s[sizeof(s) - 2] = 'q';
	s[sizeof(s) - 1] = '\0';
	ck_assert_int_eq(duration_parse(s, &v, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "...'"));
	ck_assert_uint_lt(strlen(err), 120);
}
END_TEST

START_TEST(test_duration_format_canonical)
{
	char	buf[32];

	ck_assert_str_eq(duration_format(5400, buf, sizeof(buf)), "1h30m");
	ck_assert_str_eq(duration_format(300, buf, sizeof(buf)), "5m");
	ck_assert_str_eq(duration_format(172800, buf, sizeof(buf)), "2d");
	ck_assert_str_eq(duration_format(86401, buf, sizeof(buf)), "1d1s");
	ck_assert_str_eq(duration_format(0, buf, sizeof(buf)), "0s");
	ck_assert_str_eq(duration_format(59, buf, sizeof(buf)), "59s");
	ck_assert_str_eq(duration_format_ms(1500, buf, sizeof(buf)),
	    "1s500ms");
	ck_assert_str_eq(duration_format_ms(100, buf, sizeof(buf)), "100ms");
	ck_assert_str_eq(duration_format_ms(300000, buf, sizeof(buf)), "5m");
}
END_TEST

START_TEST(test_duration_format_reads_back)
{
	char	buf[32];
	long	secs[] = { 1, 59, 60, 61, 3599, 3600, 5400, 86399, 86400,
		    93784, DURATION_MAX };
	size_t	i;

	for (i = 0; i < sizeof(secs) / sizeof(secs[0]); i++)
		ck_assert_int_eq(ok(duration_format(secs[i], buf,
		    sizeof(buf))), secs[i]);
}
END_TEST

static Suite *
duration_suite(void)
{
	Suite	*s = suite_create("duration");
	TCase	*tc = tcase_create("duration");

	tcase_add_test(tc, test_duration_single_units);
	tcase_add_test(tc, test_duration_combined_units);
	tcase_add_test(tc, test_duration_bare_zero_needs_no_unit);
	tcase_add_test(tc, test_duration_unknown_unit_is_named);
	tcase_add_test(tc, test_duration_missing_unit);
	tcase_add_test(tc, test_duration_milliseconds_only_where_they_fit);
	tcase_add_test(tc, test_duration_order_and_repeats);
	tcase_add_test(tc, test_duration_no_sign_fraction_space_or_empty);
	tcase_add_test(tc, test_duration_too_large);
	tcase_add_test(tc, test_duration_long_input_is_shortened_in_message);
	tcase_add_test(tc, test_duration_format_canonical);
	tcase_add_test(tc, test_duration_format_reads_back);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(duration_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
