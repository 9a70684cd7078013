/*
 * lib/statefs: the state tree's file primitives never follow a link,
 * never block on a FIFO, and never act on anything outside the tree.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "statefs.h"

static char	top[256];	/* a fresh temporary directory per test */
static char	victim[300];	/* top/victim: outside the tree */
static char	vfile[320];	/* victim/precious */
static char	err[1024];

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int	fd;

	ck_assert_int_ne(fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode),
	    -1);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static const char *
read_file(const char *path)
{
	static char	buf[256];
	ssize_t		n;
	int		fd;

	ck_assert_int_ne(fd = open(path, O_RDONLY), -1);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	return buf;
}

static void
setup(void)
{
	const char	*t = getenv("TMPDIR");

	(void)snprintf(top, sizeof(top), "%s/test_statefs.XXXXXX",
	    t != NULL && t[0] != '\0' ? t : P_tmpdir);
	ck_assert_ptr_nonnull(mkdtemp(top));
	(void)snprintf(victim, sizeof(victim), "%s/victim", top);
	ck_assert_int_eq(mkdir(victim, 0755), 0);
	ck_assert_int_eq(chmod(victim, 0755), 0);
	(void)snprintf(vfile, sizeof(vfile), "%s/precious", victim);
	write_file(vfile, "do not touch", 0644);
	err[0] = '\0';
}

static void
teardown(void)
{
	char	cmd[300];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	ck_assert_int_eq(system(cmd), 0);
}

static void
assert_victim_untouched(void)
{
	struct stat	st;

	ck_assert_int_eq(stat(victim, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0755);
	ck_assert_int_eq(stat(vfile, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0644);
	ck_assert_str_eq(read_file(vfile), "do not touch");
}

/* A real directory top/NAME, 0700; its descriptor. */
static int
tree(const char *name, char *path, size_t len)
{
	int	fd;

	(void)snprintf(path, len, "%s/%s", top, name);
	ck_assert_int_ne(fd = statefs_open_top(path, 1, NULL, err,
	    sizeof(err)), -1);
	return fd;
}

/* --- the top directory --- */

START_TEST(test_statefs_top_link_in_a_shared_directory_is_refused)
{
	char	shared[300], link[320];

	(void)snprintf(shared, sizeof(shared), "%s/shared", top);
	ck_assert_int_eq(mkdir(shared, 0700), 0);
	ck_assert_int_eq(chmod(shared, 01777), 0);
	(void)snprintf(link, sizeof(link), "%s/state", shared);
	ck_assert_int_eq(symlink(victim, link), 0);
	ck_assert_int_eq(statefs_open_top(link, 1, NULL, err, sizeof(err)),
	    -1);
	ck_assert_int_eq(errno, ELOOP);
	ck_assert_msg(strstr(err, "refusing to follow it") != NULL, "%s", err);
	/* A trailing slash does not make the kernel follow it either. */
	(void)snprintf(link, sizeof(link), "%s/state//", shared);
	ck_assert_int_eq(statefs_open_top(link, 0, NULL, err, sizeof(err)),
	    -1);
	assert_victim_untouched();
}
END_TEST

START_TEST(test_statefs_top_link_made_by_us_is_followed_and_said)
{
	char	link[300];
	int	fd, followed = 0;

	(void)snprintf(link, sizeof(link), "%s/state", top);
	ck_assert_int_eq(symlink(victim, link), 0);
	fd = statefs_open_top(link, 1, &followed, err, sizeof(err));
	ck_assert_msg(fd != -1, "%s", err);
	ck_assert_int_eq(followed, 1);
	close(fd);
	assert_victim_untouched();
}
END_TEST

START_TEST(test_statefs_top_fifo_is_not_a_directory)
{
	char	path[300];

	(void)snprintf(path, sizeof(path), "%s/state", top);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(statefs_open_top(path, 1, NULL, err, sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, "is a FIFO, not a directory") != NULL, "%s",
	    err);
}
END_TEST

/* --- directories inside --- */

START_TEST(test_statefs_dir_link_is_refused_and_a_loose_mode_fixed)
{
	char	path[300], sub[320], note[512];
	int	fd, kfd;

	fd = tree("state", path, sizeof(path));
	(void)snprintf(sub, sizeof(sub), "%s/keys", path);
	ck_assert_int_eq(symlink(victim, sub), 0);
	ck_assert_int_eq(statefs_open_dir(fd, path, "keys", 1, note,
	    sizeof(note), err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "keys is a symbolic link, not a directory")
	    != NULL, "%s", err);
	ck_assert_int_eq(mkdirat(fd, "outbox", 0755), 0);
	ck_assert_int_eq(fchmodat(fd, "outbox", 0755, 0), 0);
	kfd = statefs_open_dir(fd, path, "outbox", 1, note, sizeof(note),
	    err, sizeof(err));
	ck_assert_msg(kfd != -1, "%s", err);
	ck_assert_msg(strstr(note, "had mode 0755, changed to 0700") != NULL,
	    "%s", note);
	close(kfd);
	close(fd);
	assert_victim_untouched();
}
END_TEST

START_TEST(test_statefs_dir_of_another_owner_is_refused)
{
	char	path[300];
	int	fd;

	if (geteuid() != 0) {
		fprintf(stderr, "test_statefs_dir_of_another_owner_is_refused: "
		    "SKIPPED, needs root to give a directory away\n");
		return;
	}
	fd = tree("state", path, sizeof(path));
	ck_assert_int_eq(mkdirat(fd, "keys", 0700), 0);
	ck_assert_int_eq(fchownat(fd, "keys", 12345, 12345, 0), 0);
	ck_assert_int_eq(statefs_open_dir(fd, path, "keys", 1, NULL, 0, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "owned by uid 12345") != NULL, "%s", err);
	close(fd);
}
END_TEST

/* --- reading --- */

START_TEST(test_statefs_read_refuses_links_fifos_and_directories)
{
	char		path[300], sub[320];
	struct stat	st;
	int		fd, refused;

	fd = tree("state", path, sizeof(path));
	ck_assert_int_eq(statefs_open_read(fd, path, "absent", 0, &st,
	    &refused, err, sizeof(err)), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(refused, 0);
	ck_assert_int_eq(symlinkat(vfile, fd, "link"), 0);
	ck_assert_int_eq(statefs_open_read(fd, path, "link", 0, &st,
	    &refused, err, sizeof(err)), -1);
	ck_assert_int_eq(refused, 1);
	ck_assert_str_eq(err, "is a symbolic link, not a regular file");
	(void)snprintf(sub, sizeof(sub), "%s/fifo", path);
	ck_assert_int_eq(mkfifo(sub, 0600), 0);
	/* Would block in open() without O_NONBLOCK and the look first. */
	ck_assert_int_eq(statefs_open_read(fd, path, "fifo", 0, &st,
	    &refused, err, sizeof(err)), -1);
	ck_assert_int_eq(refused, 1);
	ck_assert_str_eq(err, "is a FIFO, not a regular file");
	ck_assert_int_eq(mkdirat(fd, "dir", 0700), 0);
	ck_assert_int_eq(statefs_open_read(fd, path, "dir", 0, &st,
	    &refused, err, sizeof(err)), -1);
	ck_assert_int_eq(refused, 1);
	close(fd);
	assert_victim_untouched();
}
END_TEST

START_TEST(test_statefs_read_of_another_owners_file_needs_any_owner)
{
	char		path[300], file[320];
	struct stat	st;
	int		fd, rfd, refused;

	if (geteuid() != 0) {
		fprintf(stderr, "test_statefs_read_of_another_owners_file_"
		    "needs_any_owner: SKIPPED, needs root\n");
		return;
	}
	fd = tree("state", path, sizeof(path));
	(void)snprintf(file, sizeof(file), "%s/f.json", path);
	write_file(file, "{}", 0644);
	ck_assert_int_eq(chown(file, 12345, 12345), 0);
	ck_assert_int_eq(statefs_open_read(fd, path, "f.json", 0, &st,
	    &refused, err, sizeof(err)), -1);
	ck_assert_int_eq(refused, 1);
	ck_assert_msg(strstr(err, "owned by uid 12345") != NULL, "%s", err);
	rfd = statefs_open_read(fd, path, "f.json", STATEFS_ANY_OWNER, &st,
	    &refused, err, sizeof(err));
	ck_assert_msg(rfd != -1, "%s", err);
	ck_assert(S_ISREG(st.st_mode));
	close(rfd);
	close(fd);
}
END_TEST

/* --- writing, moving aside, cleaning up --- */

START_TEST(test_statefs_write_replaces_a_link_and_ignores_planted_names)
{
	char		path[300], name[340];
	struct stat	st;
	int		fd, i;

	fd = tree("state", path, sizeof(path));
	ck_assert_int_eq(symlinkat(vfile, fd, "alerts.json"), 0);
	/* Every name of the old fixed temporary-file scheme, planted. */
	ck_assert_int_eq(symlinkat(vfile, fd, ".tmp-alerts.json"), 0);
	ck_assert_int_eq(symlinkat(vfile, fd, "alerts.json.tmp"), 0);
	for (i = 0; i < 20; i++) {
		ck_assert_msg(statefs_write(fd, path, "alerts.json", "{}\n", 3,
		    err, sizeof(err)) == 0, "%s", err);
	}
	ck_assert_int_eq(fstatat(fd, "alerts.json", &st,
	    AT_SYMLINK_NOFOLLOW), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	(void)snprintf(name, sizeof(name), "%s/alerts.json", path);
	ck_assert_str_eq(read_file(name), "{}\n");
	close(fd);
	assert_victim_untouched();
}
END_TEST

START_TEST(test_statefs_move_aside_never_replaces)
{
	char	path[300], a1[128], a2[128];
	int	fd;

	fd = tree("state", path, sizeof(path));
	ck_assert_int_eq(symlinkat(vfile, fd, "x.json"), 0);
	ck_assert_int_eq(statefs_move_aside(fd, "x.json", "bad", a1,
	    sizeof(a1)), 0);
	ck_assert_int_eq(symlinkat(vfile, fd, "x.json"), 0);
	ck_assert_int_eq(statefs_move_aside(fd, "x.json", "bad", a2,
	    sizeof(a2)), 0);
	ck_assert_str_ne(a1, a2);
	ck_assert_ptr_nonnull(strstr(a1, "x.json.bad-"));
	ck_assert_int_eq(faccessat(fd, a1, F_OK, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert_int_eq(faccessat(fd, a2, F_OK, AT_SYMLINK_NOFOLLOW), 0);
	close(fd);
	assert_victim_untouched();
}
END_TEST

static int	nwarn;

static void
count_warn(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
	nwarn++;
}

START_TEST(test_statefs_clean_tmp_deletes_ours_moves_the_rest_aside)
{
	char		path[300], file[340];
	struct stat	st;
	int		fd;

	fd = tree("state", path, sizeof(path));
	(void)snprintf(file, sizeof(file), "%s/.tmp-a.json.12345678", path);
	write_file(file, "half", 0600);
	ck_assert_int_eq(symlinkat(vfile, fd, ".tmp-b.json"), 0);
	(void)snprintf(file, sizeof(file), "%s/.tmp-c.json", path);
	ck_assert_int_eq(mkfifo(file, 0600), 0);
	nwarn = 0;
	ck_assert_int_eq(statefs_clean_tmp(fd, path, count_warn, NULL), 0);
	ck_assert_int_eq(nwarn, 2);
	ck_assert_int_eq(fstatat(fd, ".tmp-a.json.12345678", &st,
	    AT_SYMLINK_NOFOLLOW), -1);
	ck_assert_int_eq(fstatat(fd, ".tmp-b.json", &st,
	    AT_SYMLINK_NOFOLLOW), -1);
	/* What was moved aside is not touched again. */
	nwarn = 0;
	ck_assert_int_eq(statefs_clean_tmp(fd, path, count_warn, NULL), 0);
	ck_assert_int_eq(nwarn, 0);
	close(fd);
	assert_victim_untouched();
}
END_TEST

static Suite *
statefs_suite(void)
{
	Suite	*s = suite_create("statefs");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc,
	    test_statefs_top_link_in_a_shared_directory_is_refused);
	tcase_add_test(tc,
	    test_statefs_top_link_made_by_us_is_followed_and_said);
	tcase_add_test(tc, test_statefs_top_fifo_is_not_a_directory);
	tcase_add_test(tc,
	    test_statefs_dir_link_is_refused_and_a_loose_mode_fixed);
	tcase_add_test(tc, test_statefs_dir_of_another_owner_is_refused);
	tcase_add_test(tc,
	    test_statefs_read_refuses_links_fifos_and_directories);
	tcase_add_test(tc,
	    test_statefs_read_of_another_owners_file_needs_any_owner);
	tcase_add_test(tc,
	    test_statefs_write_replaces_a_link_and_ignores_planted_names);
	tcase_add_test(tc, test_statefs_move_aside_never_replaces);
	tcase_add_test(tc,
	    test_statefs_clean_tmp_deletes_ours_moves_the_rest_aside);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(statefs_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
