/*
 * lib/log: the stderr back end, errno handling and verbosity.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Runs fn with stderr redirected to a temporary file; returns its text. */
static char *
capture_stderr(void (*fn)(void))
{
	static char	 buf[8192];
	FILE		*tmp;
	int		 saved;
	size_t		 n;

	tmp = tmpfile();
	ck_assert_ptr_nonnull(tmp);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fileno(tmp), STDERR_FILENO), 0);
	fn();
	fflush(stderr);
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, sizeof(buf) - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	return buf;
}

static void
emit_warn_enoent(void)
{
	errno = ENOENT;
	log_warn("opening %s", "state.json");
}

START_TEST(test_log_warn_appends_strerror)
{
	char	*out;

	log_init(LOG_TO_STDERR, 0, "keyhealthd");
	out = capture_stderr(emit_warn_enoent);
	ck_assert_ptr_nonnull(strstr(out,
	    "warning: opening state.json: No such file or directory"));
}
END_TEST

static void
emit_warnx(void)
{
	errno = EACCES;
	log_warnx("bad %d", 42);
}

START_TEST(test_log_warnx_has_no_errno_text)
{
	char	*out;

	log_init(LOG_TO_STDERR, 0, "keyhealthd");
	out = capture_stderr(emit_warnx);
	ck_assert_ptr_nonnull(strstr(out, "warning: bad 42\n"));
	ck_assert_ptr_null(strstr(out, "Permission denied"));
}
END_TEST

START_TEST(test_log_preserves_errno)
{
	log_init(LOG_TO_STDERR, 0, "keyhealthd");
	errno = EPIPE;
	(void)capture_stderr(emit_warnx);
	errno = EPIPE;
	log_info("x");
	ck_assert_int_eq(errno, EPIPE);
	errno = ETIMEDOUT;
	log_debug("y");
	ck_assert_int_eq(errno, ETIMEDOUT);
}
END_TEST

static void
emit_debug(void)
{
	log_debug("detail %s", "here");
}

START_TEST(test_log_debug_only_when_verbose)
{
	char	*out;

	log_init(LOG_TO_STDERR, 0, "keyhealthd");
	out = capture_stderr(emit_debug);
	ck_assert_str_eq(out, "");
	log_setverbose(1);
	out = capture_stderr(emit_debug);
	ck_assert_ptr_nonnull(strstr(out, "debug: detail here"));
	/* With -v the caller's location is shown. */
	ck_assert_ptr_nonnull(strstr(out, "test_log.c:"));
}
END_TEST

START_TEST(test_log_auto_ignores_foreign_journal_stream)
{
	/* A JOURNAL_STREAM that is not our stderr must not switch to
	 * journald: a child of systemd with stderr redirected. */
	setenv("JOURNAL_STREAM", "1:1", 1);
	log_init(LOG_TO_AUTO, 0, NULL);
	ck_assert_int_eq(log_to_journal(), 0);
	unsetenv("JOURNAL_STREAM");
	log_init(LOG_TO_JOURNAL, 0, NULL);
	ck_assert_int_eq(log_to_journal(), 1);
}
END_TEST

static void
emit_long(void)
{
	char	big[5000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_warnx("%s", big);
}

START_TEST(test_log_truncates_long_messages)
{
	char	*out;

	log_init(LOG_TO_STDERR, 0, "keyhealthd");
	out = capture_stderr(emit_long);
	ck_assert_uint_lt(strlen(out), 2200);
	ck_assert_ptr_nonnull(strstr(out, "aaaa"));
}
END_TEST

static Suite *
log_suite(void)
{
	Suite	*s = suite_create("log");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_log_warn_appends_strerror);
	tcase_add_test(tc, test_log_warnx_has_no_errno_text);
	tcase_add_test(tc, test_log_preserves_errno);
	tcase_add_test(tc, test_log_debug_only_when_verbose);
	tcase_add_test(tc, test_log_auto_ignores_foreign_journal_stream);
	tcase_add_test(tc, test_log_truncates_long_messages);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(log_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
