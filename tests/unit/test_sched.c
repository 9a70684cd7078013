/*
 * lib/sched: the poll scheduler's decisions (next poll, backoff, spread,
 * what a due key does, pacing by kms.max_inflight, SIGUSR1's window).
 */
#include <check.h>
#include <stdlib.h>

#include "sched.h"

#define R_LOW	0.0		/* the smallest uniform draw */
#define R_HIGH	0.999999	/* the largest, nearly */

START_TEST(test_sched_next_poll_is_the_interval_with_10_percent_jitter)
{
	ck_assert_double_eq_tol(sched_next_delay(300, 0, R_LOW), 270, 1e-9);
	ck_assert_double_eq_tol(sched_next_delay(300, 0, 0.5), 300, 1e-9);
	ck_assert_double_eq_tol(sched_next_delay(300, 0, R_HIGH), 330, 1e-3);
}
END_TEST

START_TEST(test_sched_failures_retry_sooner_doubling_from_the_base)
{
	/* 15 s, 30, 60, 120, 240, then the interval (300) caps it. */
	ck_assert_double_eq_tol(sched_next_delay(300, 1, 0.5), 15, 1e-9);
	ck_assert_double_eq_tol(sched_next_delay(300, 2, 0.5), 30, 1e-9);
	ck_assert_double_eq_tol(sched_next_delay(300, 3, 0.5), 60, 1e-9);
	ck_assert_double_eq_tol(sched_next_delay(300, 5, 0.5), 240, 1e-9);
	ck_assert_double_eq_tol(sched_next_delay(300, 6, 0.5), 300, 1e-9);
	ck_assert_double_eq_tol(sched_next_delay(300, 1000, 0.5), 300, 1e-9);
}
END_TEST

START_TEST(test_sched_retry_jitter_is_20_percent)
{
	ck_assert_double_eq_tol(sched_next_delay(300, 1, R_LOW), 12, 1e-9);
	ck_assert_double_eq_tol(sched_next_delay(300, 1, R_HIGH), 18, 1e-4);
}
END_TEST

START_TEST(test_sched_retry_never_later_than_a_short_interval)
{
	/* An interval under the retry base: a failed key is not polled
	 * later than a healthy one. */
	ck_assert_double_eq_tol(sched_next_delay(10, 1, 0.5), 10, 1e-9);
	ck_assert_double_eq_tol(sched_next_delay(10, 4, 0.5), 10, 1e-9);
}
END_TEST

START_TEST(test_sched_first_polls_spread_over_a_short_window)
{
	ck_assert_double_eq(sched_spread(300), SCHED_FIRST_SPREAD);
	ck_assert_double_eq(sched_spread(2), 2);
	ck_assert_double_eq(sched_spread_at(5, 0, 4), 0);
	ck_assert_double_eq_tol(sched_spread_at(5, 1, 4), 1.25, 1e-9);
	ck_assert_double_eq_tol(sched_spread_at(5, 3, 4), 3.75, 1e-9);
	/* One key: at once. */
	ck_assert_double_eq(sched_spread_at(5, 0, 1), 0);
}
END_TEST

START_TEST(test_sched_kept_schedule_is_the_time_left)
{
	ck_assert_double_eq_tol(sched_kept_delay(110.5, 100), 10.5, 1e-9);
	ck_assert_double_eq(sched_kept_delay(90, 100), 0);
}
END_TEST

START_TEST(test_sched_due_key_decisions)
{
	struct sched_queue	q = { 0 };

	q.polling = 2;
	/* Stopping wins over everything, then a pending reload. */
	ck_assert_int_eq(sched_due(1, 1, &q, 0, 2), SCHED_DUE_NOTHING);
	ck_assert_int_eq(sched_due(0, 1, &q, 0, 2), SCHED_DUE_AFTER_RELOAD);
	/* The endpoint is full: wait; room: start. */
	ck_assert_int_eq(sched_due(0, 0, &q, 0, 2), SCHED_DUE_WAIT);
	ck_assert_int_eq(sched_due(0, 0, &q, 0, 3), SCHED_DUE_START);
	/* Its own poll still runs: not paced twice. */
	ck_assert_int_eq(sched_due(0, 0, &q, 1, 2), SCHED_DUE_START);
	/* No endpoint: started, to fail by itself. */
	ck_assert_int_eq(sched_due(0, 0, NULL, 0, 2), SCHED_DUE_START);
}
END_TEST

START_TEST(test_sched_queue_is_fifo_and_paced_by_max_inflight)
{
	struct sched_queue	q = { 0 };
	struct sched_slot	a = { 0 }, b = { 0 }, c = { 0 };

	q.polling = 1;
	sched_queue_wait(&q, &a);
	sched_queue_wait(&q, &b);
	sched_queue_wait(&q, &c);
	ck_assert_uint_eq(q.nwaiting, 3);
	/* Full (1 of 1): nothing starts. */
	ck_assert_ptr_null(sched_queue_next(&q, 1, 0));
	sched_queue_done(&q);
	ck_assert_ptr_eq(sched_queue_next(&q, 1, 0), &a);
	ck_assert_int_eq(a.waiting, 0);
	sched_queue_started(&q);
	ck_assert_ptr_null(sched_queue_next(&q, 1, 0));
	sched_queue_done(&q);
	ck_assert_ptr_eq(sched_queue_next(&q, 1, 0), &b);
	sched_queue_started(&q);
	sched_queue_done(&q);
	ck_assert_ptr_eq(sched_queue_next(&q, 1, 0), &c);
	ck_assert_ptr_null(sched_queue_next(&q, 1, 0));
	ck_assert_uint_eq(q.nwaiting, 0);
	ck_assert_ptr_null(q.head);
	ck_assert_ptr_null(q.tail);
}
END_TEST

START_TEST(test_sched_queue_holds_a_key_once)
{
	struct sched_queue	q = { 0 };
	struct sched_slot	a = { 0 }, b = { 0 };

	q.polling = 4;
	sched_queue_wait(&q, &a);
	sched_queue_wait(&q, &b);
	sched_queue_wait(&q, &a);	/* its timer fired again */
	ck_assert_uint_eq(q.nwaiting, 2);
	q.polling = 0;
	ck_assert_ptr_eq(sched_queue_next(&q, 4, 0), &a);
	ck_assert_ptr_eq(sched_queue_next(&q, 4, 0), &b);
	ck_assert_ptr_null(sched_queue_next(&q, 4, 0));
}
END_TEST

START_TEST(test_sched_queue_paused_by_stop_or_reload)
{
	struct sched_queue	q = { 0 };
	struct sched_slot	a = { 0 };

	sched_queue_wait(&q, &a);
	ck_assert_ptr_null(sched_queue_next(&q, 4, 1));
	ck_assert_uint_eq(q.nwaiting, 1);
	ck_assert_ptr_eq(sched_queue_next(&q, 4, 0), &a);
}
END_TEST

START_TEST(test_sched_queue_drop_forgets_waiting_keys)
{
	struct sched_queue	q = { 0 };
	struct sched_slot	a = { 0 }, b = { 0 };

	q.polling = 3;
	sched_queue_wait(&q, &a);
	sched_queue_wait(&q, &b);
	sched_queue_drop(&q);
	ck_assert_uint_eq(q.nwaiting, 0);
	ck_assert_uint_eq(q.polling, 3);	/* polls in flight still end */
	q.polling = 0;
	ck_assert_ptr_null(sched_queue_next(&q, 4, 0));
}
END_TEST

/* A derived key (a replica) dropped while it waits leaves the others. */
START_TEST(test_sched_queue_remove_takes_one_key_off)
{
	struct sched_queue	q = { 0 };
	struct sched_slot	a = { 0 }, b = { 0 }, c = { 0 };

	sched_queue_wait(&q, &a);
	sched_queue_wait(&q, &b);
	sched_queue_wait(&q, &c);
	sched_queue_remove(&q, &c);		/* the tail */
	ck_assert_uint_eq(q.nwaiting, 2);
	ck_assert_int_eq(c.waiting, 0);
	sched_queue_remove(&q, &c);		/* not waiting: nothing */
	ck_assert_uint_eq(q.nwaiting, 2);
	sched_queue_remove(&q, &a);		/* the head */
	ck_assert_ptr_eq(sched_queue_next(&q, 4, 0), &b);
	ck_assert_ptr_null(sched_queue_next(&q, 4, 0));
	ck_assert_ptr_null(q.tail);
	sched_queue_wait(&q, &a);
	ck_assert_ptr_eq(sched_queue_next(&q, 4, 0), &a);
}
END_TEST

START_TEST(test_sched_done_never_goes_below_zero)
{
	struct sched_queue	q = { 0 };

	sched_queue_done(&q);
	ck_assert_uint_eq(q.polling, 0);
}
END_TEST

START_TEST(test_sched_kick_at_most_once_per_window)
{
	/* Never retried: at once. */
	ck_assert_double_eq(sched_kick_wait(0, 1000), 0);
	/* 4 s after a retry: the rest of the window. */
	ck_assert_double_eq_tol(sched_kick_wait(1000, 1004),
	    SCHED_KICK_MIN - 4, 1e-9);
	/* The window over: at once. */
	ck_assert_double_eq(sched_kick_wait(1000, 1000 + SCHED_KICK_MIN), 0);
}
END_TEST

static Suite *
sched_suite(void)
{
	Suite	*s = suite_create("sched");
	TCase	*tc = tcase_create("sched");

	tcase_add_test(tc,
	    test_sched_next_poll_is_the_interval_with_10_percent_jitter);
	tcase_add_test(tc,
	    test_sched_failures_retry_sooner_doubling_from_the_base);
	tcase_add_test(tc, test_sched_retry_jitter_is_20_percent);
	tcase_add_test(tc, test_sched_retry_never_later_than_a_short_interval);
	tcase_add_test(tc, test_sched_first_polls_spread_over_a_short_window);
	tcase_add_test(tc, test_sched_kept_schedule_is_the_time_left);
	tcase_add_test(tc, test_sched_due_key_decisions);
	tcase_add_test(tc, test_sched_queue_is_fifo_and_paced_by_max_inflight);
	tcase_add_test(tc, test_sched_queue_holds_a_key_once);
	tcase_add_test(tc, test_sched_queue_paused_by_stop_or_reload);
	tcase_add_test(tc, test_sched_queue_drop_forgets_waiting_keys);
	tcase_add_test(tc, test_sched_queue_remove_takes_one_key_off);
	tcase_add_test(tc, test_sched_done_never_goes_below_zero);
	tcase_add_test(tc, test_sched_kick_at_most_once_per_window);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(sched_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
