/*
 * lib/outbox: durability, order, backoff, the drop policy.  A scripted
 * fake notifier stands in for the real ones.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "alert.h"
#include "log.h"
#include "outbox.h"

#define ARN	"arn:aws:kms:eu-west-1:111122223333:key/" \
		"1234abcd-12ab-34cd-56ef-1234567890ab"

struct fake {
	enum notify_result	 script[32];	/* then ACK */
	size_t			 nscript;
	size_t			 calls;
	char			 seen[64][40];	/* checks in call order */
	double			 at[64];
	int			 async;		/* keep done for later */
	int			 refuse;	/* send returns -1 */
	notify_done_cb		 pending;
	void			*pendarg;
};

static char			 dir[256];
static struct event_base	*base;

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
fake_send(void *arg, const struct alert_event *ev, notify_done_cb done,
    void *donearg)
{
	struct fake		*f = arg;
	enum notify_result	 r;

	if (f->refuse) {
		f->refuse--;
		return -1;
	}
	if (f->calls < 64) {
		(void)snprintf(f->seen[f->calls], sizeof(f->seen[0]), "%s",
		    ev->check);
		f->at[f->calls] = now_s();
	}
	r = f->calls < f->nscript ? f->script[f->calls] : NOTIFY_ACK;
	f->calls++;
	if (f->async) {
		f->pending = done;
		f->pendarg = donearg;
		return 0;
	}
	done(donearg, r, r == NOTIFY_ACK ? NULL : "scripted failure");
	return 0;
}

static void
setup(void)
{
	const char	*tmp = getenv("TMPDIR");

	(void)snprintf(dir, sizeof(dir), "%s/test_outbox.XXXXXX",
	    tmp != NULL ? tmp : P_tmpdir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
}

static void
teardown(void)
{
	char	cmd[512];

	event_base_free(base);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static int
orphan_configured(void *arg, const char *name)
{
	(void)arg;
	return strcmp(name, "kept") == 0;
}

static void
orphan_report(void *arg, const char *name, size_t nev, const char *err)
{
	char	*seen = arg;

	(void)snprintf(seen + strlen(seen), 256 - strlen(seen), "%s:%zu:%s;",
	    name, nev, err != NULL ? "err" : "ok");
}

static void
orphan_touch(const char *name)
{
	char	path[1024];
	FILE	*f;

	(void)snprintf(path, sizeof(path), "%s/outbox/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	(void)fclose(f);
}

/* Only the outbox's own event names count; configured names are not
 * reported; a link is reported, not followed. */
START_TEST(test_outbox_orphans_counts_queues_no_notifier_takes)
{
	char	path[1024], seen[256] = "";

	outbox_orphans(dir, orphan_configured, orphan_report, seen);
	ck_assert_str_eq(seen, "");
	(void)snprintf(path, sizeof(path), "%s/outbox", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	(void)snprintf(path, sizeof(path), "%s/outbox/gone", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	(void)snprintf(path, sizeof(path), "%s/outbox/kept", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	orphan_touch("gone/0000000000000001.json");
	orphan_touch("gone/00000000000000a2.json");
	orphan_touch("gone/notes.json");
	orphan_touch("kept/0000000000000001.json");
	(void)snprintf(path, sizeof(path), "%s/outbox/link", dir);
	ck_assert_int_eq(symlink("gone", path), 0);
	outbox_orphans(dir, orphan_configured, orphan_report, seen);
	ck_assert_msg(strstr(seen, "gone:2:ok;") != NULL, "%s", seen);
	ck_assert_msg(strstr(seen, "link:0:err;") != NULL, "%s", seen);
	ck_assert_msg(strstr(seen, "kept") == NULL, "%s", seen);
}
END_TEST

static struct alert_event
mkevent(const char *check, enum severity sev)
{
	struct alert_event	ev;

	memset(&ev, 0, sizeof(ev));
	alert_event_new_id(ev.id);
	alert_fingerprint(ARN, check, ev.fingerprint);
	ev.status = ALERT_FIRING;
	ev.check = strdup(check);
	ev.severity = sev;
	ev.key_arn = strdup(ARN);
	ev.summary = strdup("something");
	ev.details = json_object();
	ev.started_at = 1700000000;
	return ev;
}

static void
enqueue(struct outbox *ob, const char *check, enum severity sev)
{
	struct alert_event	ev = mkevent(check, sev);
	char			err[256];

	ck_assert_msg(outbox_enqueue(ob, &ev, err, sizeof(err)) == 0, "%s",
	    err);
	alert_event_clear(&ev);
}

static struct outbox *
open_ob(struct fake *f, const struct outbox_opts *o)
{
	struct outbox	*ob;
	char		 err[256];

	ob = outbox_new(base, dir, "test", o, fake_send, f, err, sizeof(err));
	ck_assert_msg(ob != NULL, "%s", err);
	return ob;
}

/* Runs the loop until the outbox is idle or secs pass. */
static void
run_until_idle(struct outbox *ob, double secs)
{
	double	end = now_s() + secs;

	while (!outbox_idle(ob) && now_s() < end) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

static size_t
count_files(const char *suffix)
{
	char		 path[512];
	DIR		*d;
	struct dirent	*de;
	size_t		 n = 0, l = strlen(suffix);

	(void)snprintf(path, sizeof(path), "%s/outbox/test", dir);
	ck_assert_ptr_nonnull(d = opendir(path));
	while ((de = readdir(d)) != NULL) {
		size_t dl = strlen(de->d_name);

		if (de->d_name[0] != '.' && dl > l &&
		    strcmp(de->d_name + dl - l, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Entries of the test outbox whose name holds part. */
static size_t
count_named(const char *part)
{
	char		 path[512];
	DIR		*d;
	struct dirent	*de;
	size_t		 n = 0;

	(void)snprintf(path, sizeof(path), "%s/outbox/test", dir);
	ck_assert_ptr_nonnull(d = opendir(path));
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, part) != NULL)
			n++;
	closedir(d);
	return n;
}

START_TEST(test_outbox_writes_the_event_before_delivery)
{
	struct fake	 f;

	memset(&f, 0, sizeof(f));
	struct outbox	*ob = open_ob(&f, NULL);
	struct stat	 st;
	char		 path[512];

	enqueue(ob, "key-disabled", SEV_CRITICAL);
	ck_assert_uint_eq(count_files(".json"), 1);
	ck_assert_uint_eq(f.calls, 0);
	(void)snprintf(path, sizeof(path), "%s/outbox/test", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	outbox_start(ob);
	run_until_idle(ob, 2);
	ck_assert_uint_eq(f.calls, 1);
	ck_assert_uint_eq(count_files(".json"), 0);
	outbox_free(ob);
}
END_TEST

START_TEST(test_outbox_events_survive_a_restart_without_ack)
{
	struct fake		 f;

	memset(&f, 0, sizeof(f));
	struct outbox		*ob = open_ob(&f, NULL);
	struct outbox_stats	 st;

	enqueue(ob, "key-disabled", SEV_CRITICAL);
	enqueue(ob, "key-deleted", SEV_CRITICAL);
	enqueue(ob, "policy-changed", SEV_WARNING);
	/* A delivery in flight that never gets its answer: a crash. */
	f.async = 1;
	outbox_start(ob);
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	ck_assert_uint_eq(f.calls, 1);
	outbox_free(ob);
	/* The late answer after free is ignored. */
	f.pending(f.pendarg, NOTIFY_ACK, NULL);

	memset(&f, 0, sizeof(f));
	ob = open_ob(&f, NULL);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.depth, 3);
	outbox_start(ob);
	run_until_idle(ob, 2);
	ck_assert_uint_eq(f.calls, 3);
	ck_assert_str_eq(f.seen[0], "key-disabled");
	ck_assert_str_eq(f.seen[1], "key-deleted");
	ck_assert_str_eq(f.seen[2], "policy-changed");
	outbox_free(ob);
	ck_assert_uint_eq(count_files(".json"), 0);
}
END_TEST

START_TEST(test_outbox_delivers_oldest_first_one_at_a_time)
{
	struct fake	 f;

	memset(&f, 0, sizeof(f));
	struct outbox	*ob = open_ob(&f, NULL);
	const char	*checks[] = { "key-disabled", "key-deleted",
	    "key-replaced", "policy-changed", "rotation-disabled" };
	size_t		 i;

	f.async = 1;
	for (i = 0; i < 5; i++)
		enqueue(ob, checks[i], SEV_CRITICAL);
	outbox_start(ob);
	for (i = 0; i < 5; i++) {
		size_t	j;

		for (j = 0; j < 20; j++)
			event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		ck_assert_uint_eq(f.calls, i + 1);
		ck_assert_str_eq(f.seen[i], checks[i]);
		f.pending(f.pendarg, NOTIFY_ACK, NULL);
	}
	run_until_idle(ob, 1);
	ck_assert(outbox_idle(ob));
	outbox_free(ob);
}
END_TEST

START_TEST(test_outbox_retries_in_order_until_acknowledged)
{
	struct fake		 f = { .script = { NOTIFY_RETRY, NOTIFY_RETRY },
				    .nscript = 2 };
	struct outbox_opts	 o = { .backoff_min_ms = 20,
				    .backoff_max_ms = 100 };
	struct outbox		*ob = open_ob(&f, &o);
	struct outbox_stats	 st;

	enqueue(ob, "key-disabled", SEV_CRITICAL);
	enqueue(ob, "key-deleted", SEV_CRITICAL);
	outbox_start(ob);
	run_until_idle(ob, 5);
	ck_assert_uint_eq(f.calls, 4);
	ck_assert_str_eq(f.seen[0], "key-disabled");
	ck_assert_str_eq(f.seen[1], "key-disabled");
	ck_assert_str_eq(f.seen[2], "key-disabled");
	ck_assert_str_eq(f.seen[3], "key-deleted");
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.retries, 2);
	ck_assert_uint_eq(st.delivered, 2);
	ck_assert_uint_eq(st.failing, 0);
	outbox_free(ob);
}
END_TEST

START_TEST(test_outbox_backoff_doubles_and_is_capped)
{
	struct fake		 f = { .script = { NOTIFY_RETRY,
				    NOTIFY_RETRY, NOTIFY_RETRY, NOTIFY_RETRY,
				    NOTIFY_RETRY }, .nscript = 5 };
	struct outbox_opts	 o = { .backoff_min_ms = 40,
				    .backoff_max_ms = 160 };
	struct outbox		*ob = open_ob(&f, &o);
	double			 want[] = { 0.040, 0.080, 0.160, 0.160, 0.160 };
	double			 d;
	size_t			 i;

	enqueue(ob, "key-disabled", SEV_CRITICAL);
	outbox_start(ob);
	run_until_idle(ob, 5);
	ck_assert_uint_eq(f.calls, 6);
	for (i = 0; i < 5; i++) {
		d = f.at[i + 1] - f.at[i];
		/* Equal jitter: between half and all of the step. */
		ck_assert_msg(d >= want[i] / 2 - 0.005 &&
		    d <= want[i] + 0.060, "retry %zu after %.3fs, step %.3fs",
		    i, d, want[i]);
	}
	outbox_free(ob);
}
END_TEST

START_TEST(test_outbox_persisting_failure_is_logged_at_growing_intervals)
{
	struct fake		 f;
	struct outbox_opts	 o = { .backoff_min_ms = 5,
				    .backoff_max_ms = 10,
				    .complain_first_ms = 100,
				    .complain_max_ms = 400 };
	struct outbox		*ob;
	struct outbox_stats	 st;
	size_t			 i;

	memset(&f, 0, sizeof(f));
	f.nscript = sizeof(f.script) / sizeof(f.script[0]);
	for (i = 0; i < f.nscript; i++)
		f.script[i] = NOTIFY_RETRY;
	ob = open_ob(&f, &o);
	enqueue(ob, "key-disabled", SEV_CRITICAL);
	outbox_start(ob);
	/* 32 failures 5-10 ms apart, about 0.25 s: logged at the first,
	 * then after 100 ms and 200 ms more; not every time. */
	run_until_idle(ob, 5);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.retries, 32);
	ck_assert_uint_eq(st.delivered, 1);
	ck_assert_uint_ge(st.complaints, 2);
	ck_assert_uint_le(st.complaints, 4);
	/* ... and the recovery once. */
	ck_assert_uint_eq(st.recoveries, 1);
	outbox_free(ob);
}
END_TEST

START_TEST(test_outbox_send_refusal_is_retried)
{
	struct fake		 f = { .refuse = 1 };
	struct outbox_opts	 o = { .backoff_min_ms = 10 };
	struct outbox		*ob = open_ob(&f, &o);
	struct outbox_stats	 st;

	enqueue(ob, "key-disabled", SEV_CRITICAL);
	outbox_start(ob);
	run_until_idle(ob, 2);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.retries, 1);
	ck_assert_uint_eq(st.delivered, 1);
	outbox_free(ob);
}
END_TEST

START_TEST(test_outbox_permanent_failure_is_removed_and_counted)
{
	struct fake		 f = { .script = { NOTIFY_PERMANENT },
				    .nscript = 1 };
	struct outbox		*ob = open_ob(&f, NULL);
	struct outbox_stats	 st;

	enqueue(ob, "key-disabled", SEV_CRITICAL);
	enqueue(ob, "key-deleted", SEV_CRITICAL);
	outbox_start(ob);
	run_until_idle(ob, 2);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.failed, 1);
	ck_assert_uint_eq(st.delivered, 1);
	ck_assert_uint_eq(st.retries, 0);
	ck_assert_uint_eq(st.depth, 0);
	ck_assert_uint_eq(count_files(".json"), 0);
	outbox_free(ob);
}
END_TEST

START_TEST(test_outbox_full_drops_oldest_info_only)
{
	struct fake		 f;

	memset(&f, 0, sizeof(f));
	struct outbox_opts	 o = { .max_events = 3 };
	struct outbox		*ob = open_ob(&f, &o);
	struct outbox_stats	 st;

	enqueue(ob, "key-material-rotated", SEV_INFO);
	enqueue(ob, "key-disabled", SEV_CRITICAL);
	enqueue(ob, "policy-changed", SEV_WARNING);
	enqueue(ob, "key-deleted", SEV_CRITICAL);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.dropped, 1);
	ck_assert_uint_eq(st.depth, 3);
	/* Nothing droppable left: accepted over the cap, never dropped. */
	enqueue(ob, "key-replaced", SEV_CRITICAL);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.dropped, 1);
	ck_assert_uint_eq(st.depth, 4);
	ck_assert_uint_eq(st.over_cap, 1);
	outbox_start(ob);
	run_until_idle(ob, 2);
	ck_assert_uint_eq(f.calls, 4);
	ck_assert_str_eq(f.seen[0], "key-disabled");
	ck_assert_str_eq(f.seen[1], "policy-changed");
	outbox_free(ob);
}
END_TEST

START_TEST(test_outbox_byte_cap_drops_info)
{
	struct fake		 f;

	memset(&f, 0, sizeof(f));
	struct outbox_opts	 o = { .max_bytes = 1500 };
	struct outbox		*ob = open_ob(&f, &o);
	struct outbox_stats	 st;
	int			 i;

	for (i = 0; i < 6; i++)
		enqueue(ob, "key-material-rotated", SEV_INFO);
	outbox_stats(ob, &st);
	ck_assert_uint_gt(st.dropped, 0);
	ck_assert_uint_le(st.bytes, 1500);
	outbox_free(ob);
}
END_TEST

START_TEST(test_outbox_unreadable_file_is_moved_aside)
{
	struct fake	 f;

	memset(&f, 0, sizeof(f));
	struct outbox	*ob = open_ob(&f, NULL);
	char		 path[512];
	int		 fd;

	outbox_free(ob);
	(void)snprintf(path, sizeof(path),
	    "%s/outbox/test/00000000000000ff.json", dir);
	ck_assert_int_ne(fd = open(path, O_WRONLY | O_CREAT, 0600), -1);
	ck_assert_int_eq(write(fd, "{not json", 9), 9);
	close(fd);
	(void)snprintf(path, sizeof(path),
	    "%s/outbox/test/.tmp-0000000000000100.json", dir);
	ck_assert_int_ne(fd = open(path, O_WRONLY | O_CREAT, 0600), -1);
	close(fd);
	ob = open_ob(&f, NULL);
	ck_assert_uint_eq(outbox_depth(ob), 0);
	ck_assert_uint_eq(count_named(".json.bad-"), 1);
	ck_assert_int_eq(access(path, F_OK), -1);
	/* The damaged file does not get in the way of new events. */
	enqueue(ob, "key-disabled", SEV_CRITICAL);
	(void)snprintf(path, sizeof(path),
	    "%s/outbox/test/0000000000000001.json", dir);
	ck_assert_int_eq(access(path, F_OK), 0);
	outbox_free(ob);
}
END_TEST

/*
 * No descriptor left (EMFILE): RLIMIT_NOFILE at the lowest free one.
 * Returns the limit to restore.
 */
static struct rlimit
exhaust_fds(void)
{
	struct rlimit	old, rl;
	int		fd;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert_int_ge(fd = dup(0), 0);
	(void)close(fd);
	rl = old;
	rl.rlim_cur = (rlim_t)fd;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	return old;
}

/* Runs the loop until pred(ob) or secs pass. */
static void
run_until_unsaved(struct outbox *ob, size_t want, double secs)
{
	struct outbox_stats	st;
	double			end = now_s() + secs;

	for (;;) {
		outbox_stats(ob, &st);
		if (st.unsaved == want || now_s() >= end)
			break;
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

START_TEST(test_outbox_unwritable_event_is_kept_and_written_later)
{
	struct fake		 f;
	struct outbox		*ob;
	struct outbox_stats	 st;
	struct rlimit		 old;

	memset(&f, 0, sizeof(f));
	f.async = 1;			/* the receiver does not answer */
	ob = open_ob(&f, NULL);
	outbox_start(ob);
	old = exhaust_fds();
	enqueue(ob, "key-disabled", SEV_CRITICAL);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.depth, 1);
	ck_assert_uint_eq(st.unsaved, 1);
	ck_assert_uint_ge(st.write_failures, 1);
	/* Delivery does not wait for the disk. */
	run_until_unsaved(ob, 99, 0.2);
	ck_assert_uint_eq(f.calls, 1);
	/* Still failing a while: still in memory, retried. */
	run_until_unsaved(ob, 0, 1.5);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.unsaved, 1);
	ck_assert_uint_ge(st.write_failures, 2);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	run_until_unsaved(ob, 0, 10);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.unsaved, 0);
	ck_assert_uint_eq(count_files(".json"), 1);
	/* The acknowledgement removes the file written meanwhile. */
	f.pending(f.pendarg, NOTIFY_ACK, NULL);
	run_until_idle(ob, 2);
	ck_assert_uint_eq(count_files(".json"), 0);
	outbox_free(ob);
}
END_TEST

START_TEST(test_outbox_unwritable_event_is_delivered_from_memory)
{
	struct fake		 f;
	struct outbox		*ob;
	struct outbox_stats	 st;
	struct rlimit		 old;

	memset(&f, 0, sizeof(f));
	f.script[0] = NOTIFY_RETRY;
	f.nscript = 1;
	ob = open_ob(&f, NULL);
	outbox_start(ob);
	old = exhaust_fds();
	enqueue(ob, "key-disabled", SEV_CRITICAL);
	run_until_idle(ob, 10);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(f.calls, 2);
	ck_assert_uint_eq(st.delivered, 1);
	ck_assert_uint_eq(st.unsaved, 0);
	ck_assert_uint_eq(st.depth, 0);
	ck_assert_uint_eq(count_files(".json"), 0);
	outbox_free(ob);
}
END_TEST

START_TEST(test_outbox_directory_that_cannot_be_opened_is_retried)
{
	struct fake		 f;
	struct outbox		*ob;
	struct outbox_stats	 st;
	struct rlimit		 old;
	char			 err[256];

	memset(&f, 0, sizeof(f));
	ob = open_ob(&f, NULL);
	enqueue(ob, "policy-changed", SEV_WARNING);	/* from before */
	outbox_free(ob);
	f.async = 1;
	old = exhaust_fds();
	ob = outbox_new(base, dir, "test", NULL, fake_send, &f, err,
	    sizeof(err));
	ck_assert_msg(ob != NULL, "%s", err);
	outbox_start(ob);
	enqueue(ob, "key-disabled", SEV_CRITICAL);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.unsaved, 1);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	run_until_unsaved(ob, 0, 10);
	outbox_stats(ob, &st);
	/* The event from before is loaded, the new one written after it. */
	ck_assert_uint_eq(st.depth, 2);
	ck_assert_uint_eq(count_files(".json"), 2);
	outbox_free(ob);
	if (f.pending != NULL)		/* a late done is ignored */
		f.pending(f.pendarg, NOTIFY_ACK, NULL);
}
END_TEST

START_TEST(test_outbox_take_unsaved_hands_events_over)
{
	struct fake		 f;
	struct outbox		*ob, *ob2;
	struct outbox_stats	 st;
	struct alert_events	 evs;
	struct rlimit		 old;
	char			 err[256];

	memset(&f, 0, sizeof(f));
	memset(&evs, 0, sizeof(evs));
	f.async = 1;
	ob = open_ob(&f, NULL);
	old = exhaust_fds();
	enqueue(ob, "key-disabled", SEV_CRITICAL);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert_uint_eq(outbox_take_unsaved(ob, &evs), 1);
	ck_assert_uint_eq(outbox_depth(ob), 0);
	outbox_free(ob);
	ob2 = open_ob(&f, NULL);
	ck_assert_int_eq(outbox_enqueue(ob2, &evs.v[0], err, sizeof(err)), 0);
	outbox_stats(ob2, &st);
	ck_assert_uint_eq(st.unsaved, 0);
	ck_assert_uint_eq(count_files(".json"), 1);
	alert_events_clear(&evs);
	outbox_free(ob2);
}
END_TEST

START_TEST(test_outbox_rejects_bad_names)
{
	struct fake	 f;

	memset(&f, 0, sizeof(f));
	char		 err[256];

	ck_assert_ptr_null(outbox_new(base, dir, "../x", NULL, fake_send, &f,
	    err, sizeof(err)));
	ck_assert_ptr_null(outbox_new(base, dir, ".hidden", NULL, fake_send,
	    &f, err, sizeof(err)));
}
END_TEST

/* --- the state tree: links and FIFOs --- */

/* dir/victim, outside the outbox, with one file; its path into vfile. */
static void
make_victim(char *vfile, size_t len)
{
	char	vdir[300];
	int	fd;

	(void)snprintf(vdir, sizeof(vdir), "%s/victim", dir);
	ck_assert_int_eq(mkdir(vdir, 0755), 0);
	(void)snprintf(vfile, len, "%s/.tmp-precious", vdir);
	ck_assert_int_ne(fd = open(vfile, O_WRONLY | O_CREAT, 0644), -1);
	ck_assert_int_eq(write(fd, "do not touch", 12), 12);
	close(fd);
}

static void
assert_untouched(const char *vfile)
{
	char	buf[64];
	ssize_t	n;
	int	fd;

	ck_assert_int_ne(fd = open(vfile, O_RDONLY), -1);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_eq(n, 12);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "do not touch");
}

START_TEST(test_outbox_fifo_event_file_is_moved_aside_without_blocking)
{
	struct fake	 f;
	struct outbox	*ob;
	char		 path[512];

	memset(&f, 0, sizeof(f));
	(void)snprintf(path, sizeof(path), "%s/outbox", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	(void)snprintf(path, sizeof(path), "%s/outbox/test", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	(void)snprintf(path, sizeof(path),
	    "%s/outbox/test/0000000000000001.json", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ob = open_ob(&f, NULL);		/* would block in open() */
	ck_assert_uint_eq(outbox_depth(ob), 0);
	ck_assert_uint_eq(count_named(".json.bad-"), 1);
	enqueue(ob, "key-disabled", SEV_CRITICAL);
	outbox_start(ob);
	run_until_idle(ob, 2);
	ck_assert_uint_eq(f.calls, 1);
	outbox_free(ob);
}
END_TEST

START_TEST(test_outbox_planted_temporary_links_are_never_written_through)
{
	struct fake	 f;
	struct outbox	*ob;
	char		 vfile[512], path[512];
	uint64_t	 seq;

	memset(&f, 0, sizeof(f));
	make_victim(vfile, sizeof(vfile));
	ob = open_ob(&f, NULL);
	for (seq = 1; seq <= 4; seq++) {
		(void)snprintf(path, sizeof(path),
		    "%s/outbox/test/.tmp-%016llx.json", dir,
		    (unsigned long long)seq);
		ck_assert_int_eq(symlink(vfile, path), 0);
	}
	enqueue(ob, "key-disabled", SEV_CRITICAL);
	enqueue(ob, "key-deleted", SEV_CRITICAL);
	assert_untouched(vfile);
	outbox_free(ob);
	/* The start-up clean-up moves the links aside, never deletes
	 * through them. */
	ob = open_ob(&f, NULL);
	ck_assert_uint_eq(outbox_depth(ob), 2);
	ck_assert_uint_eq(count_named(".bad-"), 4);
	assert_untouched(vfile);
	outbox_free(ob);
}
END_TEST

START_TEST(test_outbox_directory_link_is_refused)
{
	struct fake		 f;
	struct outbox		*ob;
	struct outbox_stats	 st;
	char			 vfile[512], path[512], vdir[512], err[512];

	memset(&f, 0, sizeof(f));
	make_victim(vfile, sizeof(vfile));
	(void)snprintf(path, sizeof(path), "%s/outbox", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	(void)snprintf(path, sizeof(path), "%s/outbox/test", dir);
	(void)snprintf(vdir, sizeof(vdir), "%s/victim", dir);
	ck_assert_int_eq(symlink(vdir, path), 0);
	/* Refused, said, and the outbox works in memory: an alert must
	 * not be lost to a planted link either. */
	ob = outbox_new(base, dir, "test", NULL, fake_send, &f, err,
	    sizeof(err));
	ck_assert_ptr_nonnull(ob);
	ck_assert_msg(strstr(err, "test is a symbolic link") != NULL, "%s",
	    err);
	enqueue(ob, "key-disabled", SEV_CRITICAL);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.unsaved, 1);
	outbox_free(ob);
	assert_untouched(vfile);
}
END_TEST

static void
count_event(void *arg, const struct alert_event *ev, time_t queued)
{
	(void)ev;
	(void)queued;
	(*(size_t *)arg)++;
}

START_TEST(test_outbox_held_acknowledged_events_are_kept_until_released)
{
	struct fake	 f;
	struct outbox	*ob;
	size_t		 n = 0;

	memset(&f, 0, sizeof(f));
	ob = open_ob(&f, NULL);
	outbox_hold(ob, 1);
	enqueue(ob, "key-disabled", SEV_CRITICAL);
	outbox_start(ob);
	run_until_idle(ob, 2);
	ck_assert_uint_eq(f.calls, 1);
	ck_assert_uint_eq(count_files(".json"), 0);
	ck_assert_uint_eq(count_files(".acked"), 1);
	outbox_free(ob);
	/* After a restart it is known, not delivered again. */
	ob = open_ob(&f, NULL);
	ck_assert_uint_eq(outbox_depth(ob), 0);
	outbox_foreach(ob, count_event, &n);
	ck_assert_uint_eq(n, 1);
	outbox_start(ob);
	run_until_idle(ob, 1);
	ck_assert_uint_eq(f.calls, 1);
	outbox_hold(ob, 0);
	ck_assert_uint_eq(count_files(".acked"), 0);
	n = 0;
	outbox_foreach(ob, count_event, &n);
	ck_assert_uint_eq(n, 0);
	outbox_free(ob);
}
END_TEST

static Suite *
outbox_suite(void)
{
	Suite	*s = suite_create("outbox");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_outbox_writes_the_event_before_delivery);
	tcase_add_test(tc, test_outbox_events_survive_a_restart_without_ack);
	tcase_add_test(tc, test_outbox_delivers_oldest_first_one_at_a_time);
	tcase_add_test(tc, test_outbox_retries_in_order_until_acknowledged);
	tcase_add_test(tc, test_outbox_backoff_doubles_and_is_capped);
	tcase_add_test(tc,
	    test_outbox_persisting_failure_is_logged_at_growing_intervals);
	tcase_add_test(tc, test_outbox_send_refusal_is_retried);
	tcase_add_test(tc, test_outbox_permanent_failure_is_removed_and_counted);
	tcase_add_test(tc, test_outbox_full_drops_oldest_info_only);
	tcase_add_test(tc, test_outbox_byte_cap_drops_info);
	tcase_add_test(tc, test_outbox_unreadable_file_is_moved_aside);
	tcase_add_test(tc, test_outbox_rejects_bad_names);
	tcase_add_test(tc,
	    test_outbox_unwritable_event_is_kept_and_written_later);
	tcase_add_test(tc,
	    test_outbox_unwritable_event_is_delivered_from_memory);
	tcase_add_test(tc,
	    test_outbox_directory_that_cannot_be_opened_is_retried);
	tcase_add_test(tc, test_outbox_take_unsaved_hands_events_over);
	tcase_add_test(tc,
	    test_outbox_fifo_event_file_is_moved_aside_without_blocking);
	tcase_add_test(tc,
	    test_outbox_planted_temporary_links_are_never_written_through);
	tcase_add_test(tc, test_outbox_directory_link_is_refused);
	tcase_add_test(tc, test_outbox_orphans_counts_queues_no_notifier_takes);
	tcase_add_test(tc,
	    test_outbox_held_acknowledged_events_are_kept_until_released);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(outbox_suite());
	int	 failed;

	log_init(LOG_TO_STDERR, 0, "test_outbox");
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
