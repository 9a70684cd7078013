/*
 * lib/state: atomic writes, modes, corrupt files moved aside, write
 * errors named, key state round trips.
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"

#define ARN1	"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
#define ARN2	"arn:aws:kms:us-west-2:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"
#define ARN3	"arn:aws:kms:ca-central-1:444455556666:key/mrk-1234abcd12ab34cd56ef1234567890ab"

static char	top[512];	/* a fresh temporary directory per test */
static char	sdir[600];	/* top/state */
static char	err[2048];

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

	snprintf(top, sizeof(top), "%s/kh-state-XXXXXX",
	    t != NULL && t[0] != '\0' ? t : P_tmpdir);
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(sdir, sizeof(sdir), "%s/state", top);
	err[0] = '\0';
}

static void
teardown(void)
{
	umount2(top, MNT_DETACH);
	rm_rf(top);
}

static mode_t
mode_of(const char *path)
{
	struct stat	st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE	*f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static char *
read_file(const char *path)
{
	static char	buf[65536];
	FILE		*f = fopen(path, "r");
	size_t		 n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Number of entries in path whose name contains needle. */
static int
count_entries(const char *path, const char *needle)
{
	struct dirent	*de;
	DIR		*d = opendir(path);
	int		 n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, needle) != NULL)
			n++;
	closedir(d);
	return n;
}

static void
init_dir(void)
{
	ck_assert_msg(state_dir_init(sdir, NULL, NULL, err, sizeof(err)) == 0,
	    "%s", err);
}

static int	nwarn;
static char	lastwarn[1024];

static void
count_warn(void *arg, const char *msg)
{
	(void)arg;
	nwarn++;
	snprintf(lastwarn, sizeof(lastwarn), "%s", msg);
}

static void
fill_key(struct state_key *k, const char *arn)
{
	struct findings	fs;

	memset(k, 0, sizeof(*k));
	memset(&fs, 0, sizeof(fs));
	k->arn = strdup(arn);
	k->baseline.has_policy = 1;
	k->baseline.policy = strdup("{\"Version\": \"2012-10-17\", "
	    "\"Statement\": []}");
	k->baseline.policy_canonical = strdup("{\"Statement\":[],"
	    "\"Version\":\"2012-10-17\"}");
	k->baseline.accepted_at = 1795000000;
	k->baseline.material_id = strdup("mat-1");
	k->baseline.material_seen_at = 1795000600;
	k->polled_at = 1795000600;
	k->key_state = strdup("Disabled");
	k->status = SEV_CRITICAL;
	ck_assert_int_eq(findings_add(&fs, "key-disabled", SEV_CRITICAL,
	    json_pack("{s:s}", "state", "Disabled"), "key %s is disabled",
	    "x"), 0);
	k->findings = findings_json(&fs);
	findings_clear(&fs);
}

/* --- directory --- */

START_TEST(test_state_dir_created_0700)
{
	char	keys[700];

	init_dir();
	ck_assert_uint_eq(mode_of(sdir), 0700);
	snprintf(keys, sizeof(keys), "%s/keys", sdir);
	ck_assert_uint_eq(mode_of(keys), 0700);
	/* Again: nothing to do. */
	init_dir();
}
END_TEST

START_TEST(test_state_dir_loose_mode_fixed_and_reported)
{
	ck_assert_int_eq(mkdir(sdir, 0700), 0);
	ck_assert_int_eq(chmod(sdir, 0755), 0);
	nwarn = 0;
	ck_assert_int_eq(state_dir_init(sdir, count_warn, NULL, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(mode_of(sdir), 0700);
	ck_assert_int_eq(nwarn, 1);
	ck_assert_ptr_nonnull(strstr(lastwarn, "0755"));
}
END_TEST

START_TEST(test_state_dir_that_is_a_file_is_refused)
{
	write_file(sdir, "x", 0600);
	ck_assert_int_eq(state_dir_init(sdir, NULL, NULL, err, sizeof(err)),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "ENOTDIR"));
	ck_assert_ptr_nonnull(strstr(err, sdir));
}
END_TEST

START_TEST(test_state_dir_foreign_writable_is_refused)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_state_dir_foreign_writable_is_refused: "
		    "SKIPPED, needs root to give a directory away\n");
		return;
	}
	ck_assert_int_eq(mkdir(sdir, 0700), 0);
	ck_assert_int_eq(chown(sdir, 12345, 12345), 0);
	ck_assert_int_eq(chmod(sdir, 0777), 0);
	ck_assert_int_eq(state_dir_init(sdir, NULL, NULL, err, sizeof(err)),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "writable by group or others"));
}
END_TEST

/* --- atomic writes --- */

START_TEST(test_state_write_atomic_leaves_no_temp_files)
{
	json_t	*j = json_pack("{s:i, s:s}", "a", 1, "b", "two");
	char	 path[700];

	init_dir();
	umask(0);
	ck_assert_msg(state_write_json(sdir, "alerts.json", j, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_msg(state_write_json(sdir, "keys/x.json", j, err,
	    sizeof(err)) == 0, "%s", err);
	umask(022);
	json_decref(j);
	snprintf(path, sizeof(path), "%s/alerts.json", sdir);
	ck_assert_uint_eq(mode_of(path), 0600);
	ck_assert_ptr_nonnull(strstr(read_file(path), "\"b\": \"two\""));
	ck_assert_int_eq(count_entries(sdir, ".tmp"), 0);
	snprintf(path, sizeof(path), "%s/keys", sdir);
	ck_assert_int_eq(count_entries(path, ".tmp"), 0);
	ck_assert_int_eq(count_entries(path, "x.json"), 1);
}
END_TEST

START_TEST(test_state_write_replaces_and_tightens_mode)
{
	json_t	*j = json_pack("{s:s}", "new", "yes");
	char	 path[700];

	init_dir();
	snprintf(path, sizeof(path), "%s/alerts.json", sdir);
	write_file(path, "{\"old\": true}", 0644);
	ck_assert_int_eq(state_write_json(sdir, "alerts.json", j, err,
	    sizeof(err)), 0);
	json_decref(j);
	ck_assert_ptr_null(strstr(read_file(path), "old"));
	ck_assert_ptr_nonnull(strstr(read_file(path), "new"));
	ck_assert_uint_eq(mode_of(path), 0600);
}
END_TEST

START_TEST(test_state_write_into_a_file_not_a_directory_fails)
{
	json_t	*j = json_object();
	char	 keys[700];

	ck_assert_int_eq(mkdir(sdir, 0700), 0);
	snprintf(keys, sizeof(keys), "%s/keys", sdir);
	write_file(keys, "not a directory", 0600);
	ck_assert_int_eq(state_write_json(sdir, "keys/x.json", j, err,
	    sizeof(err)), -1);
	json_decref(j);
	ck_assert_ptr_nonnull(strstr(err, "ENOTDIR"));
	ck_assert_ptr_nonnull(strstr(err, "keys/x.json"));
	ck_assert_str_eq(read_file(keys), "not a directory");
}
END_TEST

START_TEST(test_state_write_eacces_keeps_old_file)
{
	json_t	*j = json_pack("{s:s}", "new", "yes");
	char	 path[700];
	int	 rc;

	init_dir();
	snprintf(path, sizeof(path), "%s/alerts.json", sdir);
	write_file(path, "{\"old\": true}", 0600);
	if (geteuid() == 0) {
		/* Root ignores modes: write as nobody into root's 0700. */
		ck_assert_int_eq(chmod(sdir, 0755), 0);
		ck_assert_int_eq(seteuid(65534), 0);
	} else
		ck_assert_int_eq(chmod(sdir, 0500), 0);
	rc = state_write_json(sdir, "alerts.json", j, err, sizeof(err));
	if (geteuid() != 0 && getuid() == 0)
		ck_assert_int_eq(seteuid(0), 0);
	chmod(sdir, 0700);
	json_decref(j);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(err, "EACCES") != NULL, "%s", err);
	ck_assert_ptr_nonnull(strstr(err, "alerts.json"));
	ck_assert_str_eq(read_file(path), "{\"old\": true}");
	ck_assert_int_eq(count_entries(sdir, ".tmp"), 0);
}
END_TEST

START_TEST(test_state_write_enospc_keeps_old_file)
{
	json_t	*j;
	char	 path[700], filler[700], big[8192];
	int	 fd;

	/* A 64 KiB tmpfs of our own (Check runs each test in its own
	 * process; the mount namespace dies with it). */
	if (unshare(CLONE_NEWNS) == -1 ||
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == -1 ||
	    mount("tmpfs", top, "tmpfs", 0, "size=64k,mode=0700") == -1) {
		fprintf(stderr, "test_state_write_enospc_keeps_old_file: "
		    "SKIPPED, cannot mount a tmpfs: %s\n", strerror(errno));
		return;
	}
	init_dir();
	snprintf(path, sizeof(path), "%s/alerts.json", sdir);
	write_file(path, "{\"old\": true}", 0600);
	snprintf(filler, sizeof(filler), "%s/filler", top);
	ck_assert_int_ne(fd = open(filler, O_WRONLY | O_CREAT, 0600), -1);
	memset(big, 'x', sizeof(big));
	while (write(fd, big, sizeof(big)) > 0)
		;
	close(fd);

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	j = json_pack("{s:s}", "payload", big);
	ck_assert_int_eq(state_write_json(sdir, "alerts.json", j, err,
	    sizeof(err)), -1);
	json_decref(j);
	ck_assert_msg(strstr(err, "ENOSPC") != NULL, "%s", err);
	ck_assert_str_eq(read_file(path), "{\"old\": true}");
	ck_assert_int_eq(count_entries(sdir, ".tmp"), 0);
}
END_TEST

/* --- reading --- */

START_TEST(test_state_read_absent)
{
	json_t	*j = (json_t *)1;

	init_dir();
	ck_assert_int_eq(state_read_json(sdir, "alerts.json", 0, NULL, &j, err,
	    sizeof(err)), STATE_READ_ABSENT);
	ck_assert_ptr_null(j);
	ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(test_state_read_corrupt_json_moved_aside)
{
	json_t	*j;
	char	 path[700];

	init_dir();
	snprintf(path, sizeof(path), "%s/alerts.json", sdir);
	write_file(path, "{\"half\": ", 0600);
	ck_assert_int_eq(state_read_json(sdir, "alerts.json", 0, NULL, &j, err,
	    sizeof(err)), STATE_READ_CORRUPT);
	ck_assert_ptr_null(j);
	ck_assert_ptr_nonnull(strstr(err, "corrupt"));
	ck_assert_ptr_nonnull(strstr(err, "alerts.json.corrupt-"));
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(count_entries(sdir, "alerts.json.corrupt-"), 1);
	/* A second corrupt file in the same second gets its own name. */
	write_file(path, "[]", 0600);
	ck_assert_int_eq(state_read_json(sdir, "alerts.json", 0, NULL, &j, err,
	    sizeof(err)), STATE_READ_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "not a JSON object"));
	ck_assert_int_eq(count_entries(sdir, "alerts.json.corrupt-"), 2);
}
END_TEST

START_TEST(test_state_read_too_large_is_corrupt)
{
	json_t	*j;
	char	 path[700];

	init_dir();
	snprintf(path, sizeof(path), "%s/alerts.json", sdir);
	write_file(path, "{\"a\": \"0123456789012345678901234567890\"}", 0600);
	ck_assert_int_eq(state_read_json(sdir, "alerts.json", 16, NULL, &j,
	    err, sizeof(err)), STATE_READ_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "allowed"));
}
END_TEST

START_TEST(test_state_read_ok_and_fixes_mode)
{
	json_t	*j;
	char	 path[700];

	init_dir();
	snprintf(path, sizeof(path), "%s/alerts.json", sdir);
	write_file(path, "{\"a\": 1}", 0644);
	ck_assert_int_eq(state_read_json(sdir, "alerts.json", 0, NULL, &j, err,
	    sizeof(err)), STATE_READ_OK);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "a")), 1);
	json_decref(j);
	ck_assert_uint_eq(mode_of(path), 0600);
}
END_TEST

START_TEST(test_state_read_rejects_names_outside_the_directory)
{
	json_t	*j;

	init_dir();
	ck_assert_int_eq(state_read_json(sdir, "../x.json", 0, NULL, &j, err,
	    sizeof(err)), STATE_READ_ERROR);
	ck_assert_int_eq(state_write_json(sdir, "/etc/x", j, err,
	    sizeof(err)), -1);
}
END_TEST

/* --- per-key state --- */

START_TEST(test_state_key_filename_is_hash_of_arn)
{
	char	name[64];

	ck_assert_int_eq(state_key_filename(ARN1, name, sizeof(name)), 0);
	ck_assert_str_eq(name, "keys/da89cca8b044157717690d55bbe4ca76.json");
	ck_assert_int_eq(state_key_filename(ARN1, name, 42), -1);
}
END_TEST

/* Start-up lists the key files once instead of looking for each. */
START_TEST(test_state_key_names_lists_the_saved_keys)
{
	struct state_key	 k;
	char			**v, name[64];
	size_t			 n;

	/* No state directory yet: none, not an error. */
	ck_assert_int_eq(state_key_names(sdir, &v, &n), 0);
	ck_assert_uint_eq(n, 0);
	state_key_names_free(v, n);
	init_dir();
	ck_assert_int_eq(state_key_names(sdir, &v, &n), 0);
	ck_assert_uint_eq(n, 0);
	state_key_names_free(v, n);
	fill_key(&k, ARN1);
	ck_assert_msg(state_key_save(sdir, &k, err, sizeof(err)) == 0, "%s",
	    err);
	state_key_free(&k);
	ck_assert_int_eq(state_key_names(sdir, &v, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(state_key_filename(ARN1, name, sizeof(name)), 0);
	ck_assert_int_eq(state_key_names_has(v, n, name), 1);
	ck_assert_int_eq(state_key_filename(ARN1 "0", name, sizeof(name)), 0);
	ck_assert_int_eq(state_key_names_has(v, n, name), 0);
	state_key_names_free(v, n);
}
END_TEST

START_TEST(test_state_key_round_trip)
{
	struct state_key	k, l;

	init_dir();
	fill_key(&k, ARN1);
	ck_assert_msg(state_key_save(sdir, &k, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_int_eq(state_key_load(sdir, ARN1, &l, err, sizeof(err)),
	    STATE_READ_OK);
	ck_assert_str_eq(l.arn, ARN1);
	ck_assert_int_eq(l.baseline.has_policy, 1);
	ck_assert_str_eq(l.baseline.policy, k.baseline.policy);
	ck_assert_str_eq(l.baseline.policy_canonical,
	    k.baseline.policy_canonical);
	ck_assert_int_eq((long long)l.baseline.accepted_at, 1795000000);
	ck_assert_str_eq(l.baseline.material_id, "mat-1");
	ck_assert_int_eq((long long)l.baseline.material_seen_at, 1795000600);
	ck_assert_int_eq((long long)l.polled_at, 1795000600);
	ck_assert_str_eq(l.key_state, "Disabled");
	ck_assert_int_eq(l.status, SEV_CRITICAL);
	ck_assert(json_equal(l.findings, k.findings));
	state_key_free(&k);
	state_key_free(&l);
}
END_TEST

/* A loaded baseline carries the digest of its text, and one whose text
 * was dropped (the daemon keeps the digest only) is never written as
 * "no policy": that would make the next policy the baseline. */
START_TEST(test_state_key_digest_loaded_and_digest_only_not_written)
{
	struct state_key	k, l;
	unsigned char		md[CHECK_DIGEST_LEN];

	init_dir();
	fill_key(&k, ARN1);
	ck_assert_int_eq(check_baseline_digest(&k.baseline), 0);
	memcpy(md, k.baseline.policy_md, sizeof(md));
	ck_assert_msg(state_key_save(sdir, &k, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_int_eq(state_key_load(sdir, ARN1, &l, err, sizeof(err)),
	    STATE_READ_OK);
	ck_assert_mem_eq(l.baseline.policy_md, md, sizeof(md));
	check_baseline_drop_text(&l.baseline);
	ck_assert_int_eq(l.baseline.has_policy, 1);
	ck_assert_ptr_null(state_key_to_json(&l));
	ck_assert_int_eq(state_key_save(sdir, &l, err, sizeof(err)), -1);
	state_key_free(&l);
	ck_assert_int_eq(state_key_load(sdir, ARN1, &l, err, sizeof(err)),
	    STATE_READ_OK);
	ck_assert_str_eq(l.baseline.policy, k.baseline.policy);
	state_key_free(&k);
	state_key_free(&l);
}
END_TEST

START_TEST(test_state_key_absent_starts_without_baseline)
{
	struct state_key	l;

	init_dir();
	ck_assert_int_eq(state_key_load(sdir, ARN2, &l, err, sizeof(err)),
	    STATE_READ_ABSENT);
	ck_assert_str_eq(l.arn, ARN2);
	ck_assert_int_eq(l.baseline.has_policy, 0);
	ck_assert_ptr_null(l.findings);
	state_key_free(&l);
}
END_TEST

START_TEST(test_state_key_wrong_shape_moved_aside)
{
	struct state_key	l;
	char			name[64], path[700];

	init_dir();
	ck_assert_int_eq(state_key_filename(ARN1, name, sizeof(name)), 0);
	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	write_file(path, "{\"version\": 1, \"arn\": \"" ARN1 "\", "
	    "\"baseline\": {\"policy\": 42}}", 0600);
	ck_assert_int_eq(state_key_load(sdir, ARN1, &l, err, sizeof(err)),
	    STATE_READ_CORRUPT);
	ck_assert_msg(strstr(err, "\"policy\" is not a string") != NULL, "%s",
	    err);
	ck_assert_str_eq(l.arn, ARN1);
	ck_assert_int_eq(l.baseline.has_policy, 0);
	ck_assert_int_eq(access(path, F_OK), -1);
	state_key_free(&l);
}
END_TEST

START_TEST(test_state_key_peek_reports_and_leaves_a_bad_file)
{
	struct state_key	k, l;
	char			name[64], path[700];

	init_dir();
	ck_assert_int_eq(state_key_peek(sdir, ARN1, &l, err, sizeof(err)),
	    STATE_READ_ABSENT);
	ck_assert_ptr_null(l.arn);
	memset(&k, 0, sizeof(k));
	k.arn = strdup(ARN1);
	ck_assert_int_eq(state_key_save(sdir, &k, err, sizeof(err)), 0);
	ck_assert_int_eq(state_key_peek(sdir, ARN1, &l, err, sizeof(err)),
	    STATE_READ_OK);
	ck_assert_str_eq(l.arn, ARN1);
	state_key_free(&l);
	state_key_free(&k);

	ck_assert_int_eq(state_key_filename(ARN1, name, sizeof(name)), 0);
	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	write_file(path, "{\"version\": 1, \"arn\": \"" ARN2 "\"}", 0600);
	ck_assert_int_eq(state_key_peek(sdir, ARN1, &l, err, sizeof(err)),
	    STATE_READ_CORRUPT);
	ck_assert_msg(strstr(err, "is corrupt") != NULL, "%s", err);
	ck_assert_ptr_null(l.arn);
	/* Reported, never moved aside. */
	ck_assert_int_eq(access(path, F_OK), 0);
}
END_TEST

START_TEST(test_state_key_file_of_another_arn_moved_aside)
{
	struct state_key	k, l;
	char			name1[64], name2[64], p1[700], p2[700];

	init_dir();
	fill_key(&k, ARN2);
	ck_assert_int_eq(state_key_save(sdir, &k, err, sizeof(err)), 0);
	state_key_filename(ARN1, name1, sizeof(name1));
	state_key_filename(ARN2, name2, sizeof(name2));
	snprintf(p1, sizeof(p1), "%s/%s", sdir, name1);
	snprintf(p2, sizeof(p2), "%s/%s", sdir, name2);
	ck_assert_int_eq(rename(p2, p1), 0);
	ck_assert_int_eq(state_key_load(sdir, ARN1, &l, err, sizeof(err)),
	    STATE_READ_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "holds the state of"));
	ck_assert_int_eq(l.baseline.has_policy, 0);
	state_key_free(&k);
	state_key_free(&l);
}
END_TEST

START_TEST(test_state_keys_save_and_load_the_set)
{
	struct state_key	 v[3], *got;
	size_t			 n, i;
	char			 keys[700], path[800];
	int			 seen = 0;

	init_dir();
	fill_key(&v[0], ARN1);
	fill_key(&v[1], ARN2);
	fill_key(&v[2], ARN3);
	ck_assert_int_eq(state_keys_save(sdir, v, 3, err, sizeof(err)), 0);
	/* A corrupt key file and a stray file that is not ours. */
	snprintf(keys, sizeof(keys), "%s/keys", sdir);
	snprintf(path, sizeof(path), "%s/0123456789abcdef0123456789abcdef.json",
	    keys);
	write_file(path, "garbage", 0600);
	snprintf(path, sizeof(path), "%s/README", keys);
	write_file(path, "hello", 0600);
	nwarn = 0;
	ck_assert_int_eq(state_keys_load(sdir, &got, &n, count_warn, NULL, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(nwarn, 1);
	ck_assert_ptr_nonnull(strstr(lastwarn, "moved aside"));
	for (i = 0; i < n; i++) {
		if (strcmp(got[i].arn, ARN1) == 0)
			seen |= 1;
		else if (strcmp(got[i].arn, ARN2) == 0)
			seen |= 2;
		else if (strcmp(got[i].arn, ARN3) == 0)
			seen |= 4;
		ck_assert_str_eq(got[i].baseline.material_id, "mat-1");
		state_key_free(&got[i]);
	}
	free(got);
	ck_assert_int_eq(seen, 7);
	ck_assert_int_eq(count_entries(keys, ".corrupt-"), 1);
	for (i = 0; i < 3; i++)
		state_key_free(&v[i]);
}
END_TEST

START_TEST(test_state_keys_load_without_directory_is_empty)
{
	struct state_key	*got;
	size_t			 n;

	ck_assert_int_eq(state_keys_load(sdir, &got, &n, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(got);
}
END_TEST

START_TEST(test_state_keys_save_reports_failure)
{
	struct state_key	k;
	char			keys[700];

	ck_assert_int_eq(mkdir(sdir, 0700), 0);
	snprintf(keys, sizeof(keys), "%s/keys", sdir);
	write_file(keys, "", 0600);
	fill_key(&k, ARN1);
	ck_assert_int_eq(state_keys_save(sdir, &k, 1, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "ENOTDIR"));
	state_key_free(&k);
}
END_TEST

START_TEST(test_state_key_set_result_from_a_poll)
{
	struct state_key	k;
	struct key_snapshot	s;
	struct findings		fs;

	memset(&k, 0, sizeof(k));
	memset(&s, 0, sizeof(s));
	memset(&fs, 0, sizeof(fs));
	s.polled_at = 1795000000;
	s.meta.state = strdup("PendingDeletion");
	ck_assert_int_eq(findings_add(&fs, "key-pending-deletion",
	    SEV_CRITICAL, NULL, "soon"), 0);
	ck_assert_int_eq(findings_add(&fs, "rotation-disabled", SEV_WARNING,
	    NULL, "off"), 0);
	ck_assert_int_eq(state_key_set_result(&k, &s, &fs), 0);
	ck_assert_str_eq(k.key_state, "PendingDeletion");
	ck_assert_int_eq(k.status, SEV_CRITICAL);
	ck_assert_uint_eq(json_array_size(k.findings), 2);
	ck_assert_int_eq((long long)k.polled_at, 1795000000);
	/* A failed DescribeKey: state unknown. */
	s.describe_err.cls = KMS_ERR_TRANSPORT;
	findings_clear(&fs);
	ck_assert_int_eq(state_key_set_result(&k, &s, &fs), 0);
	ck_assert_ptr_null(k.key_state);
	ck_assert_int_eq(k.status, SEV_OK);
	check_snapshot_free(&s);
	state_key_free(&k);
}
END_TEST

/* --- links and special files: never followed, never blocked on --- */

/* top/victim: a directory outside the state tree, 0755, with one file. */
static void
make_victim(char *vdir, size_t len)
{
	char	f[700];

	snprintf(vdir, len, "%s/victim", top);
	ck_assert_int_eq(mkdir(vdir, 0755), 0);
	ck_assert_int_eq(chmod(vdir, 0755), 0);
	snprintf(f, sizeof(f), "%s/precious", vdir);
	write_file(f, "do not touch", 0644);
}

START_TEST(test_state_dir_link_in_a_shared_directory_is_refused)
{
	char	victim[600], shared[600], link[700];

	make_victim(victim, sizeof(victim));
	snprintf(shared, sizeof(shared), "%s/shared", top);
	ck_assert_int_eq(mkdir(shared, 0700), 0);
	ck_assert_int_eq(chmod(shared, 01777), 0);
	snprintf(link, sizeof(link), "%s/state", shared);
	ck_assert_int_eq(symlink(victim, link), 0);
	ck_assert_int_eq(state_dir_init(link, NULL, NULL, err, sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, "refusing to follow it") != NULL, "%s", err);
	ck_assert_uint_eq(mode_of(victim), 0755);
	ck_assert_int_eq(count_entries(victim, "keys"), 0);
}
END_TEST

START_TEST(test_state_dir_link_of_ours_is_followed_never_chmoded)
{
	char	target[600], keys[700];

	snprintf(target, sizeof(target), "%s/target", top);
	ck_assert_int_eq(mkdir(target, 0755), 0);
	ck_assert_int_eq(chmod(target, 0755), 0);
	ck_assert_int_eq(symlink(target, sdir), 0);
	nwarn = 0;
	ck_assert_msg(state_dir_init(sdir, count_warn, NULL, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(mode_of(target), 0755);
	ck_assert_int_eq(nwarn, 1);
	ck_assert_ptr_nonnull(strstr(lastwarn, "through its symbolic link"));
	snprintf(keys, sizeof(keys), "%s/keys", target);
	ck_assert_uint_eq(mode_of(keys), 0700);
}
END_TEST

START_TEST(test_state_keys_link_is_refused_and_not_written_through)
{
	char		 victim[600], keys[700];
	json_t		*j = json_object();
	struct state_key k;

	make_victim(victim, sizeof(victim));
	ck_assert_int_eq(mkdir(sdir, 0700), 0);
	snprintf(keys, sizeof(keys), "%s/keys", sdir);
	ck_assert_int_eq(symlink(victim, keys), 0);
	ck_assert_int_eq(state_dir_init(sdir, NULL, NULL, err, sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, "keys is a symbolic link") != NULL, "%s",
	    err);
	ck_assert_int_eq(state_write_json(sdir, "keys/x.json", j, err,
	    sizeof(err)), -1);
	fill_key(&k, ARN1);
	ck_assert_int_eq(state_key_save(sdir, &k, err, sizeof(err)), -1);
	state_key_free(&k);
	json_decref(j);
	ck_assert_int_eq(count_entries(victim, ".json"), 0);
	ck_assert_int_eq(count_entries(victim, ".tmp"), 0);
}
END_TEST

START_TEST(test_state_read_of_a_link_or_fifo_moves_it_aside)
{
	char		 victim[600], path[700], vfile[700];
	json_t		*j;

	make_victim(victim, sizeof(victim));
	init_dir();
	snprintf(vfile, sizeof(vfile), "%s/precious", victim);
	snprintf(path, sizeof(path), "%s/alerts.json", sdir);
	ck_assert_int_eq(symlink(vfile, path), 0);
	ck_assert_int_eq(state_read_json(sdir, "alerts.json", 0, NULL, &j,
	    err, sizeof(err)), STATE_READ_CORRUPT);
	ck_assert_msg(strstr(err, "is a symbolic link, not a regular file") !=
	    NULL, "%s", err);
	ck_assert_int_eq(count_entries(sdir, "alerts.json.corrupt-"), 1);
	snprintf(path, sizeof(path), "%s/keys/x.json", sdir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(state_read_json(sdir, "keys/x.json", 0, NULL, &j,
	    err, sizeof(err)), STATE_READ_CORRUPT);
	ck_assert_msg(strstr(err, "is a FIFO") != NULL, "%s", err);
	ck_assert_str_eq(read_file(vfile), "do not touch");
	ck_assert_uint_eq(mode_of(vfile), 0644);
}
END_TEST

START_TEST(test_state_write_replaces_a_link_never_writes_through_it)
{
	char		 victim[600], path[700], vfile[700];
	struct stat	 st;
	json_t		*j = json_pack("{s:b}", "new", 1);

	make_victim(victim, sizeof(victim));
	init_dir();
	snprintf(vfile, sizeof(vfile), "%s/precious", victim);
	snprintf(path, sizeof(path), "%s/alerts.json", sdir);
	ck_assert_int_eq(symlink(vfile, path), 0);
	ck_assert_msg(state_write_json(sdir, "alerts.json", j, err,
	    sizeof(err)) == 0, "%s", err);
	json_decref(j);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_str_eq(read_file(vfile), "do not touch");
}
END_TEST

static Suite *
state_suite(void)
{
	Suite	*s = suite_create("state");
	TCase	*tc;

	tc = tcase_create("dir");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_state_dir_created_0700);
	tcase_add_test(tc, test_state_dir_loose_mode_fixed_and_reported);
	tcase_add_test(tc, test_state_dir_that_is_a_file_is_refused);
	tcase_add_test(tc, test_state_dir_foreign_writable_is_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("write");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_state_write_atomic_leaves_no_temp_files);
	tcase_add_test(tc, test_state_write_replaces_and_tightens_mode);
	tcase_add_test(tc, test_state_write_into_a_file_not_a_directory_fails);
	tcase_add_test(tc, test_state_write_eacces_keeps_old_file);
	tcase_add_test(tc, test_state_write_enospc_keeps_old_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_state_read_absent);
	tcase_add_test(tc, test_state_read_corrupt_json_moved_aside);
	tcase_add_test(tc, test_state_read_too_large_is_corrupt);
	tcase_add_test(tc, test_state_read_ok_and_fixes_mode);
	tcase_add_test(tc, test_state_read_rejects_names_outside_the_directory);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_state_key_filename_is_hash_of_arn);
	tcase_add_test(tc, test_state_key_round_trip);
	tcase_add_test(tc, test_state_key_names_lists_the_saved_keys);
	tcase_add_test(tc,
	    test_state_key_digest_loaded_and_digest_only_not_written);
	tcase_add_test(tc, test_state_key_absent_starts_without_baseline);
	tcase_add_test(tc, test_state_key_wrong_shape_moved_aside);
	tcase_add_test(tc, test_state_key_peek_reports_and_leaves_a_bad_file);
	tcase_add_test(tc, test_state_key_file_of_another_arn_moved_aside);
	tcase_add_test(tc, test_state_keys_save_and_load_the_set);
	tcase_add_test(tc, test_state_keys_load_without_directory_is_empty);
	tcase_add_test(tc, test_state_keys_save_reports_failure);
	tcase_add_test(tc, test_state_key_set_result_from_a_poll);
	suite_add_tcase(s, tc);

	tc = tcase_create("links");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc,
	    test_state_dir_link_in_a_shared_directory_is_refused);
	tcase_add_test(tc,
	    test_state_dir_link_of_ours_is_followed_never_chmoded);
	tcase_add_test(tc,
	    test_state_keys_link_is_refused_and_not_written_through);
	tcase_add_test(tc, test_state_read_of_a_link_or_fifo_moves_it_aside);
	tcase_add_test(tc,
	    test_state_write_replaces_a_link_never_writes_through_it);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(state_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
