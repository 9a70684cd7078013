/*
 * lib/statewriter: documents written by the thread with the atomic
 * primitive, completions on the loop with the file's mtime, only the
 * latest document of a name written, failures reported with the old
 * file untouched, everything queued written before free() returns, a
 * directory fsync'ed once per batch (a write done only after it).
 */
#include <sys/stat.h>
#include <sys/syscall.h>

#include <check.h>
#include <errno.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <event2/event.h>

#include "state.h"
#include "statewriter.h"

static char	top[512];
static char	err[1024];

struct done_log {
	int		n;
	int		failed;
	char		last_name[128];
	char		last_err[1024];
	int		conflicts;
	struct state_id	last_id;
};

static void
rm_rf(const char *path)
{
	struct stat	 st;
	struct dirent	*de;
	char		 sub[1024];
	DIR		*d;

	if (lstat(path, &st) == -1)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_rf(sub);
		}
		closedir(d);
		rmdir(path);
	} else
		unlink(path);
}

static void
setup(void)
{
	const char	*t = getenv("TMPDIR");
	char		 keys[600];

	snprintf(top, sizeof(top), "%s/kh-sw-XXXXXX",
	    t != NULL && t[0] != '\0' ? t : P_tmpdir);
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(keys, sizeof(keys), "%s/keys", top);
	ck_assert_int_eq(mkdir(keys, 0700), 0);
	err[0] = '\0';
}

static void
teardown(void)
{
	rm_rf(top);
}

static void
on_done(void *arg, const char *name, int rc, const struct state_id *id,
    const char *why)
{
	struct done_log	*l = arg;

	l->n++;
	if (rc == -1) {
		l->failed++;
		snprintf(l->last_err, sizeof(l->last_err), "%s", why);
	}
	if (rc == STATE_WRITE_CONFLICT)
		l->conflicts++;
	snprintf(l->last_name, sizeof(l->last_name), "%s", name);
	l->last_id = *id;
}

/* A writer under top reporting to l (cleared). */
static struct statewriter *
new_writer(struct event_base *base, struct done_log *l)
{
	struct statewriter	*sw;

	memset(l, 0, sizeof(*l));
	sw = statewriter_new(base, top, on_done, l, err, sizeof(err));
	ck_assert_msg(sw != NULL, "%s", err);
	return sw;
}

static void
free_writer(struct statewriter *sw, struct event_base *base)
{
	statewriter_free(sw);
	event_base_free(base);
}

/* Runs the loop until want completions came in (or 30 s passed). */
static void
loop_until(struct event_base *base, struct done_log *l, int want)
{
	int	i;

	for (i = 0; i < 3000 && l->n < want; i++) {
		struct timeval tv = { 0, 10000 };

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static json_int_t
file_value(const char *name)
{
	char		 path[1024];
	json_error_t	 jerr;
	json_t		*j;
	json_int_t	 v;

	snprintf(path, sizeof(path), "%s/%s", top, name);
	ck_assert_msg((j = json_load_file(path, 0, &jerr)) != NULL, "%s: %s",
	    path, jerr.text);
	v = json_integer_value(json_object_get(j, "v"));
	json_decref(j);
	return v;
}

START_TEST(test_statewriter_writes_on_its_thread_and_reports_on_the_loop)
{
	struct event_base	*base = event_base_new();
	struct done_log		 l;
	struct statewriter	*sw;
	struct stat		 st;
	char			 path[1024];

	sw = new_writer(base, &l);
	ck_assert_int_eq(statewriter_put(sw, "keys/a.json",
	    json_pack("{s:i}", "v", 1), NULL, err, sizeof(err)), 0);
	/* Completions come through the loop, never from the thread. */
	usleep(100000);
	ck_assert_int_eq(l.n, 0);
	loop_until(base, &l, 1);
	ck_assert_int_eq(l.n, 1);
	ck_assert_int_eq(l.failed, 0);
	ck_assert_str_eq(l.last_name, "keys/a.json");
	ck_assert_int_eq(statewriter_pending(sw), 0);
	ck_assert_int_eq(file_value("keys/a.json"), 1);
	snprintf(path, sizeof(path), "%s/keys/a.json", top);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(st.st_mtim.tv_sec, l.last_id.mtime.tv_sec);
	ck_assert_int_eq(st.st_mtim.tv_nsec, l.last_id.mtime.tv_nsec);
	ck_assert_int_eq(st.st_ino, l.last_id.ino);
	free_writer(sw, base);
}
END_TEST

START_TEST(test_statewriter_writes_only_the_latest_document_of_a_name)
{
	struct event_base	*base = event_base_new();
	struct done_log		 l;
	struct statewriter	*sw;
	int			 i, r, queued = 0;

	sw = new_writer(base, &l);
	for (i = 1; i <= 500; i++) {
		r = statewriter_put(sw, "keys/b.json", json_pack("{s:i}", "v",
		    i), NULL, err, sizeof(err));
		ck_assert_int_ge(r, 0);
		queued += r == 0;
	}
	statewriter_flush(sw);
	/* One completion per write actually made, the last one wins. */
	ck_assert_int_eq(l.n, queued);
	ck_assert_int_eq(statewriter_pending(sw), 0);
	ck_assert_int_eq(file_value("keys/b.json"), 500);
	free_writer(sw, base);
}
END_TEST

/* Queues {"v": v} for name (expect as statewriter_put() takes it). */
static void
put_v(struct statewriter *sw, const char *name, int v,
    const struct state_id *expect)
{
	ck_assert_int_eq(statewriter_put(sw, name, json_pack("{s:i}", "v", v),
	    expect, err, sizeof(err)), 0);
}

/* Another process's write of name (as `baseline accept` does), v. */
static void
write_as_another(const char *name, int v)
{
	json_t	*j = json_pack("{s:i}", "v", v);

	ck_assert_msg(state_write_json(top, name, j, err, sizeof(err)) == 0,
	    "%s", err);
	json_decref(j);
}

START_TEST(test_statewriter_conditional_write_keeps_another_writer_s_file)
{
	struct event_base	*base = event_base_new();
	struct done_log		 l;
	struct statewriter	*sw;
	struct state_id		 ours, theirs, gone;
	char			 path[1024];

	sw = new_writer(base, &l);
	memset(&gone, 0, sizeof(gone));
	/* No file yet and none expected: written. */
	put_v(sw, "keys/k.json", 1, &gone);
	statewriter_flush(sw);
	ck_assert_int_eq(l.n, 1);
	ck_assert_int_eq(l.failed + l.conflicts, 0);
	ours = l.last_id;
	/* Replaced by another process since: left alone, and its
	 * identity reported for the caller to read it back. */
	write_as_another("keys/k.json", 99);
	ck_assert_int_eq(state_id_get(top, "keys/k.json", &theirs), 0);
	ck_assert(!state_id_same(&theirs, &ours));
	put_v(sw, "keys/k.json", 2, &ours);
	statewriter_flush(sw);
	ck_assert_int_eq(l.n, 2);
	ck_assert_int_eq(l.conflicts, 1);
	ck_assert_int_eq(l.failed, 0);
	ck_assert(state_id_same(&l.last_id, &theirs));
	ck_assert_int_eq(file_value("keys/k.json"), 99);
	/* Expecting theirs now: written. */
	put_v(sw, "keys/k.json", 3, &theirs);
	statewriter_flush(sw);
	ck_assert_int_eq(l.conflicts, 1);
	ck_assert_int_eq(file_value("keys/k.json"), 3);
	/* A file removed under us is written again, whatever we expected. */
	snprintf(path, sizeof(path), "%s/keys/k.json", top);
	ck_assert_int_eq(unlink(path), 0);
	put_v(sw, "keys/k.json", 4, &theirs);
	statewriter_flush(sw);
	ck_assert_int_eq(l.conflicts, 1);
	ck_assert_int_eq(file_value("keys/k.json"), 4);
	free_writer(sw, base);
}
END_TEST

/*
 * `baseline accept` writes under the state lock: a write the daemon
 * queued before waits for it, then sees the accepted file and leaves it
 * (without the lock the test and the rename are two steps, and the
 * accept could land between them and be overwritten).
 */
START_TEST(test_statewriter_waits_for_the_state_lock_then_sees_the_accept)
{
	struct event_base	*base = event_base_new();
	struct done_log		 l;
	struct statewriter	*sw;
	struct state_id		 ours;
	int			 lk, i;

	sw = new_writer(base, &l);
	put_v(sw, "keys/k.json", 1, NULL);
	statewriter_flush(sw);
	ours = l.last_id;
	ck_assert_int_ge(lk = state_lock(top), 0);
	put_v(sw, "keys/k.json", 2, &ours);
	/* Held: nothing is written meanwhile. */
	for (i = 0; i < 20; i++) {
		struct timeval tv = { 0, 10000 };

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	ck_assert_int_eq(l.n, 1);
	ck_assert_int_eq(statewriter_pending(sw), 1);
	ck_assert_int_eq(file_value("keys/k.json"), 1);
	write_as_another("keys/k.json", 99);
	state_unlock(lk);
	loop_until(base, &l, 2);
	ck_assert_int_eq(l.n, 2);
	ck_assert_int_eq(l.conflicts, 1);
	ck_assert_int_eq(file_value("keys/k.json"), 99);
	free_writer(sw, base);
}
END_TEST

START_TEST(test_statewriter_failure_is_reported_and_keeps_the_old_file)
{
	struct event_base	*base = event_base_new();
	struct done_log		 l;
	struct statewriter	*sw;
	char			 path[1024];

	sw = new_writer(base, &l);
	ck_assert_int_eq(statewriter_put(sw, "keys/c.json",
	    json_pack("{s:i}", "v", 1), NULL, err, sizeof(err)), 0);
	statewriter_flush(sw);
	ck_assert_int_eq(l.failed, 0);
	/* A directory that refuses new files: the write fails. */
	snprintf(path, sizeof(path), "%s/keys", top);
	ck_assert_int_eq(chmod(path, 0500), 0);
	if (access(path, W_OK) == 0) {
		/* root ignores the mode: use a missing directory instead. */
		ck_assert_int_eq(chmod(path, 0700), 0);
		ck_assert_int_eq(statewriter_put(sw, "gone/c.json",
		    json_pack("{s:i}", "v", 2), NULL, err, sizeof(err)), 0);
	} else
		ck_assert_int_eq(statewriter_put(sw, "keys/c.json",
		    json_pack("{s:i}", "v", 2), NULL, err, sizeof(err)), 0);
	statewriter_flush(sw);
	ck_assert_int_eq(chmod(path, 0700), 0);
	ck_assert_int_eq(l.n, 2);
	ck_assert_int_eq(l.failed, 1);
	ck_assert_msg(strstr(l.last_err, "c.json") != NULL, "%s", l.last_err);
	ck_assert_int_eq(file_value("keys/c.json"), 1);
	free_writer(sw, base);
}
END_TEST

/*
 * jansson's memory tagged with the thread that allocated it, to count
 * what one thread frees of another's: the writer freeing the loop's
 * documents took the loop's malloc arena lock, and the loop stalled on
 * it whenever the writer lost its CPU while holding it.
 */
#define TAGS	65536	/* a power of two, far above what is live */
static struct {
	void		*p;
	pthread_t	 by;
	int		 live;
} tags[TAGS];
static pthread_mutex_t	tags_mtx = PTHREAD_MUTEX_INITIALIZER;
static atomic_int	cross_frees;

/* Untagged memory stays plain malloc(): state.c frees json_dumps()'s
 * text with free(). */
static size_t
tag_slot(void *p)
{
	size_t	i = ((uintptr_t)p >> 4) & (TAGS - 1);

	while (tags[i].p != NULL && tags[i].p != p)
		i = (i + 1) & (TAGS - 1);
	return i;
}

static void *
tag_malloc(size_t n)
{
	void	*p = malloc(n);
	size_t	 i;

	if (p == NULL)
		return NULL;
	pthread_mutex_lock(&tags_mtx);
	i = tag_slot(p);
	tags[i].p = p;
	tags[i].by = pthread_self();
	tags[i].live = 1;
	pthread_mutex_unlock(&tags_mtx);
	return p;
}

static void
tag_free(void *p)
{
	size_t	i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&tags_mtx);
	i = tag_slot(p);
	if (tags[i].p == p && tags[i].live) {
		if (!pthread_equal(tags[i].by, pthread_self()))
			atomic_fetch_add(&cross_frees, 1);
		tags[i].live = 0;	/* kept: malloc() may reuse p */
	}
	pthread_mutex_unlock(&tags_mtx);
	free(p);
}

START_TEST(test_statewriter_leaves_the_loop_s_documents_to_the_loop)
{
	struct event_base	*base = event_base_new();
	struct done_log		 l;
	struct statewriter	*sw;
	char			 name[64];
	int			 i;

	json_set_alloc_funcs(tag_malloc, tag_free);
	atomic_store(&cross_frees, 0);
	sw = new_writer(base, &l);
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "keys/t%d.json", i);
		ck_assert_int_eq(statewriter_put(sw, name, json_pack(
		    "{s:i, s:s, s:[i,i]}", "v", i, "text", "some text", "list",
		    1, 2), NULL, err, sizeof(err)), 0);
	}
	loop_until(base, &l, 20);
	ck_assert_int_eq(l.n, 20);
	ck_assert_int_eq(l.failed, 0);
	free_writer(sw, base);
	json_set_alloc_funcs(malloc, free);
	memset(tags, 0, sizeof(tags));
	ck_assert_int_eq(file_value("keys/t7.json"), 7);
	i = atomic_load(&cross_frees);
	ck_assert_msg(i == 0, "%d blocks of the loop's documents freed by "
	    "the writer thread", i);
}
END_TEST

/*
 * fsync(2) seen by the writer: this definition takes the place of libc's
 * for the library linked into this test.  Counts the fsyncs of
 * directories; holds a file's fsync while fs_hold is set (the writer is
 * then inside a write: what is put meanwhile waits for the next batch);
 * fails a directory's fsync with EIO while fs_fail_dirs is set.
 */
static atomic_int	fs_dirs, fs_held, fs_hold, fs_fail_dirs;

int
fsync(int fd)
{
	struct stat	st;

	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		atomic_fetch_add(&fs_dirs, 1);
		if (atomic_load(&fs_fail_dirs)) {
			errno = EIO;
			return -1;
		}
	} else if (atomic_load(&fs_hold)) {
		atomic_store(&fs_held, 1);
		while (atomic_load(&fs_hold))
			usleep(1000);
	}
	return (int)syscall(SYS_fsync, fd);
}

/*
 * Puts a.json and holds the writer in its fsync, then puts n documents
 * keys/kI.json ({"v": I}): they wait, and are the next batch once the
 * hold is released.
 */
static struct statewriter *
put_behind_a_held_write(struct event_base *base, struct done_log *l, int n)
{
	struct statewriter	*sw;
	char			 name[64];
	int			 i;

	atomic_store(&fs_hold, 1);
	atomic_store(&fs_held, 0);
	sw = statewriter_new(base, top, on_done, l, err, sizeof(err));
	ck_assert_msg(sw != NULL, "%s", err);
	ck_assert_int_eq(statewriter_put(sw, "a.json", json_pack("{s:i}", "v",
	    0), NULL, err, sizeof(err)), 0);
	for (i = 0; i < 3000 && !atomic_load(&fs_held); i++)
		usleep(10000);
	ck_assert_msg(atomic_load(&fs_held), "the writer never synced a.json");
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "keys/k%d.json", i);
		ck_assert_int_eq(statewriter_put(sw, name, json_pack("{s:i}",
		    "v", i), NULL, err, sizeof(err)), 0);
	}
	ck_assert_int_eq(statewriter_pending(sw), (size_t)n + 1);
	atomic_store(&fs_dirs, 0);
	atomic_store(&fs_hold, 0);
	return sw;
}

/* keys/kI.json holds {"v": I} for I below n. */
static void
assert_keys_written(int n)
{
	char	name[64];
	int	i;

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "keys/k%d.json", i);
		ck_assert_int_eq(file_value(name), i);
	}
}

START_TEST(test_statewriter_syncs_a_directory_once_per_batch)
{
	struct event_base	*base = event_base_new();
	struct done_log		 l;
	struct statewriter	*sw;

	memset(&l, 0, sizeof(l));
	sw = put_behind_a_held_write(base, &l, 64);
	loop_until(base, &l, 65);
	ck_assert_int_eq(l.n, 65);
	ck_assert_int_eq(l.failed, 0);
	/* The top directory for a.json, keys/ once for the 64 others. */
	ck_assert_msg(atomic_load(&fs_dirs) == 2, "%d directory fsyncs for "
	    "65 files in two batches", atomic_load(&fs_dirs));
	assert_keys_written(64);
	free_writer(sw, base);
}
END_TEST

START_TEST(test_statewriter_batch_fails_when_its_directory_does_not_sync)
{
	struct event_base	*base = event_base_new();
	struct done_log		 l;
	struct statewriter	*sw;

	memset(&l, 0, sizeof(l));
	atomic_store(&fs_fail_dirs, 1);
	sw = put_behind_a_held_write(base, &l, 10);
	loop_until(base, &l, 11);
	atomic_store(&fs_fail_dirs, 0);
	/* Not durable, so not done: every write of the batch failed. */
	ck_assert_int_eq(l.n, 11);
	ck_assert_int_eq(l.failed, 11);
	ck_assert_msg(strstr(l.last_err, "keys/k9.json but cannot fsync its "
	    "directory") != NULL && strstr(l.last_err, "EIO") != NULL, "%s",
	    l.last_err);
	free_writer(sw, base);
}
END_TEST

START_TEST(test_statewriter_free_writes_what_is_queued)
{
	struct event_base	*base = event_base_new();
	struct done_log		 l;
	struct statewriter	*sw;
	char			 name[64];
	int			 i;

	sw = new_writer(base, &l);
	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "keys/k%d.json", i);
		ck_assert_int_eq(statewriter_put(sw, name, json_pack("{s:i}",
		    "v", i), NULL, err, sizeof(err)), 0);
	}
	statewriter_free(sw);
	ck_assert_int_eq(l.n, 50);
	ck_assert_int_eq(l.failed, 0);
	assert_keys_written(50);
	event_base_free(base);
}
END_TEST

static Suite *
statewriter_suite(void)
{
	Suite	*s = suite_create("statewriter");
	TCase	*tc = tcase_create("writer");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc,
	    test_statewriter_writes_on_its_thread_and_reports_on_the_loop);
	tcase_add_test(tc,
	    test_statewriter_writes_only_the_latest_document_of_a_name);
	tcase_add_test(tc,
	    test_statewriter_failure_is_reported_and_keeps_the_old_file);
	tcase_add_test(tc, test_statewriter_free_writes_what_is_queued);
	tcase_add_test(tc,
	    test_statewriter_conditional_write_keeps_another_writer_s_file);
	tcase_add_test(tc,
	    test_statewriter_waits_for_the_state_lock_then_sees_the_accept);
	tcase_add_test(tc, test_statewriter_syncs_a_directory_once_per_batch);
	tcase_add_test(tc,
	    test_statewriter_batch_fails_when_its_directory_does_not_sync);
	tcase_add_test(tc,
	    test_statewriter_leaves_the_loop_s_documents_to_the_loop);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(statewriter_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
