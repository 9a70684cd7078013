/*
 * The state directory: atomic JSON files, strict modes, corrupt files
 * moved aside instead of crashing or silently starting over.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "kms_grants.h"
#include "state.h"
#include "statefs.h"

#define STATE_KEYS_DIR	"keys"
#define STATE_GRANTS_DIR "grants"

static void
state_warn(state_warn_cb warn, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
state_warn(state_warn_cb warn, void *arg, const char *fmt, ...)
{
	char	msg[1024];
	va_list	ap;

	if (warn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warn(arg, msg);
}

/* Forwards statefs's notes to a state_warn_cb. */
static void
state_note(state_warn_cb warn, void *warnarg, const char *note)
{
	if (note[0] != '\0' && warn != NULL)
		warn(warnarg, note);
}

int
state_dir_init(const char *dir, state_warn_cb warn, void *warnarg,
    char *err, size_t errlen)
{
	struct stat	st;
	char		note[1024];
	int		fd, kfd, followed;

	if ((fd = statefs_open_top(dir, 1, &followed, err, errlen)) == -1)
		return -1;
	if (fstat(fd, &st) == -1) {
		statefs_syserr(err, errlen, errno, "state directory %s", dir);
		close(fd);
		return -1;
	}
	if ((st.st_mode & 077) != 0 && st.st_uid == geteuid() && !followed) {
		/* Baselines and policies are not for other users to read,
		 * let alone change. */
		if (fchmod(fd, 0700) == -1) {
			statefs_syserr(err, errlen, errno,
			    "state directory %s: chmod 0700", dir);
			close(fd);
			return -1;
		}
		state_warn(warn, warnarg, "state directory %s had mode %04o, "
		    "changed to 0700", dir, (unsigned)(st.st_mode & 07777));
	} else if ((st.st_mode & 022) != 0 &&
	    (followed || st.st_uid != geteuid())) {
		snprintf(err, errlen, "state directory %s%s is owned by uid "
		    "%lu and writable by group or others (mode %04o): "
		    "refusing to trust it", dir, followed ? " (through its "
		    "symbolic link)" : "", (unsigned long)st.st_uid,
		    (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	} else if ((st.st_mode & 077) != 0) {
		/* Never chmod what a link points to: say it instead. */
		state_warn(warn, warnarg, "state directory %s%s is owned by "
		    "uid %lu and readable by others (mode %04o)", dir,
		    followed ? " (through its symbolic link)" : "",
		    (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777));
	}
	kfd = statefs_open_dir(fd, dir, STATE_KEYS_DIR, 1, note, sizeof(note),
	    err, errlen);
	if (kfd == -1) {
		close(fd);
		return -1;
	}
	close(kfd);
	state_note(warn, warnarg, note);
	kfd = statefs_open_dir(fd, dir, STATE_GRANTS_DIR, 1, note,
	    sizeof(note), err, errlen);
	close(fd);
	if (kfd == -1)
		return -1;
	close(kfd);
	state_note(warn, warnarg, note);
	return 0;
}

/*
 * Opens the directory that holds dir/name (dir itself, or its one
 * subdirectory named in name) without following anything inside the
 * tree; the file's own name goes to *leaf, dir/subdir to dpath.
 */
static int
state_open_parent(const char *dir, const char *name, const char **leaf,
    char *dpath, size_t dlen, char *err, size_t errlen)
{
	const char	*slash;
	char		 sub[256], why[1024];
	int		 fd, sfd, e;

	if (name == NULL || name[0] == '\0' || name[0] == '/' ||
	    strstr(name, "..") != NULL ||
	    ((slash = strchr(name, '/')) != NULL &&
	    strchr(slash + 1, '/') != NULL)) {
		snprintf(err, errlen, "bad state file name \"%s\"",
		    name != NULL ? name : "");
		return -1;
	}
	if ((fd = statefs_open_top(dir, 0, NULL, err, errlen)) == -1)
		goto fail;
	if (slash == NULL) {
		*leaf = name;
		snprintf(dpath, dlen, "%s", dir);
		return fd;
	}
	if ((size_t)(slash - name) >= sizeof(sub)) {
		snprintf(err, errlen, "bad state file name \"%s\"", name);
		close(fd);
		return -1;
	}
	memcpy(sub, name, (size_t)(slash - name));
	sub[slash - name] = '\0';
	sfd = statefs_open_dir(fd, dir, sub, 0, NULL, 0, err, errlen);
	close(fd);
	if (sfd == -1)
		goto fail;
	*leaf = slash + 1;
	snprintf(dpath, dlen, "%s/%s", dir, sub);
	return sfd;
fail:
	/* Name the file too: "keys is a FIFO" alone does not say which. */
	e = errno;
	snprintf(why, sizeof(why), "%s", err);
	snprintf(err, errlen, "state file %s/%s: %s", dir, name, why);
	errno = e;
	return -1;
}

int
state_sync_dir(int dfd, const char *dpath, const char *name, char *err,
    size_t errlen)
{
	const char	*leaf = strrchr(name, '/');

	/* A rename is only durable once its directory is. */
	if (fsync(dfd) == 0)
		return 0;
	statefs_dirsync_err(err, errlen, errno, dpath, leaf != NULL ?
	    leaf + 1 : name);
	return -1;
}

void
state_id_of(const struct stat *st, struct state_id *id)
{
	memset(id, 0, sizeof(*id));
	id->ino = st->st_ino;
	id->mtime = st->st_mtim;
}

int
state_id_same(const struct state_id *a, const struct state_id *b)
{
	return a->ino == b->ino && a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* The identity of leaf in dfd, all zero when there is none: 0, or -1. */
static int
state_id_at(int dfd, const char *leaf, struct state_id *id)
{
	struct stat	st;

	memset(id, 0, sizeof(*id));
	if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		state_id_of(&st, id);
		return 0;
	}
	return errno == ENOENT ? 0 : -1;
}

int
state_id_get(const char *dir, const char *name, struct state_id *id)
{
	char		 dpath[4096], err[256];
	const char	*leaf;
	int		 dfd, rc, e;

	memset(id, 0, sizeof(*id));
	if ((dfd = state_open_parent(dir, name, &leaf, dpath, sizeof(dpath),
	    err, sizeof(err))) == -1)
		return -1;
	rc = state_id_at(dfd, leaf, id);
	e = errno;
	close(dfd);
	errno = e;
	return rc;
}

int
state_lock(const char *dir)
{
	const struct timespec	 step = { 0, 5 * 1000 * 1000 };
	char			 err[256];
	int			 fd, i;

	if ((fd = statefs_open_top(dir, 0, NULL, err, sizeof(err))) == -1)
		return -1;
	for (i = 0; i < STATE_LOCK_WAIT_MS / 5; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK && errno != EINTR)
			break;
		(void)nanosleep(&step, NULL);
	}
	close(fd);
	return -1;
}

void
state_unlock(int fd)
{
	/* Closing the last descriptor of the open file lets go. */
	if (fd != -1)
		(void)close(fd);
}

int
state_write_json_nosync(const char *dir, const char *name, const json_t *j,
    const struct state_id *expect, struct state_id *got, int *dfd,
    char *dpath, size_t dlen, char *err, size_t errlen)
{
	struct stat	 st;
	struct state_id	 now;
	const char	*leaf;
	char		*text;
	size_t		 len;
	int		 fd, rc;

	*dfd = -1;
	if ((fd = state_open_parent(dir, name, &leaf, dpath, dlen, err,
	    errlen)) == -1)
		return -1;
	if (expect != NULL) {
		if (state_id_at(fd, leaf, &now) == -1) {
			statefs_syserr(err, errlen, errno, "cannot write "
			    "%s/%s: stat", dpath, leaf);
			close(fd);
			return -1;
		}
		if (now.ino != 0 && !state_id_same(&now, expect)) {
			if (got != NULL)
				*got = now;
			close(fd);
			return STATE_WRITE_CONFLICT;
		}
	}
	if ((text = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS)) == NULL) {
		snprintf(err, errlen, "%s/%s: cannot encode JSON (out of "
		    "memory)", dpath, leaf);
		close(fd);
		return -1;
	}
	/* The text and its newline, in one write. */
	len = strlen(text);
	text[len] = '\n';
	rc = statefs_replace(fd, dpath, leaf, text, len + 1, &st, err, errlen);
	free(text);
	if (rc == -1) {
		close(fd);
		return -1;
	}
	if (got != NULL)
		state_id_of(&st, got);
	*dfd = fd;
	return 0;
}

int
state_write_json(const char *dir, const char *name, const json_t *j,
    char *err, size_t errlen)
{
	char	dpath[4096];
	int	dfd, rc;

	if (state_write_json_nosync(dir, name, j, NULL, NULL, &dfd, dpath,
	    sizeof(dpath), err, errlen) == -1)
		return -1;
	rc = state_sync_dir(dfd, dpath, name, err, errlen);
	close(dfd);
	return rc;
}

/*
 * Moves dir/name aside as name.corrupt-<UTC time>: a corrupt file, or an
 * entry that is not a regular file of ours (the entry itself moves, never
 * what a link points to).
 */
static enum state_read
state_corrupt(const char *dir, const char *name, const char *what,
    const char *why, char *err, size_t errlen)
{
	char		 dpath[4096], aside[300], oerr[512];
	const char	*leaf;
	int		 dfd, e;

	if ((dfd = state_open_parent(dir, name, &leaf, dpath, sizeof(dpath),
	    oerr, sizeof(oerr))) == -1) {
		snprintf(err, errlen, "state file %s/%s %s (%s) and cannot be "
		    "moved aside: %s", dir, name, what, why, oerr);
		return STATE_READ_ERROR;
	}
	if (statefs_move_aside(dfd, leaf, "corrupt", aside,
	    sizeof(aside)) == -1) {
		e = errno;
		close(dfd);
		snprintf(err, errlen, "state file %s/%s %s (%s) and cannot be "
		    "moved aside: %s (%s)", dpath, leaf, what, why,
		    strerror(e), statefs_errno_name(e));
		return STATE_READ_ERROR;
	}
	close(dfd);
	snprintf(err, errlen, "state file %s/%s %s (%s): moved aside to "
	    "%s/%s, starting without it", dpath, leaf, what, why, dpath,
	    aside);
	return STATE_READ_CORRUPT;
}

/* A bad file: moved aside when repairing, only reported otherwise. */
static enum state_read
state_bad(const char *dir, const char *name, int repair, const char *what,
    const char *why, char *err, size_t errlen)
{
	if (repair)
		return state_corrupt(dir, name, what, why, err, errlen);
	snprintf(err, errlen, "state file %s/%s %s (%s): ignored (keyhealthd "
	    "run moves it aside)", dir, name, what, why);
	return STATE_READ_CORRUPT;
}

static enum state_read
state_read_common(const char *dir, const char *name, size_t maxlen,
    int (*valid)(const json_t *, char *, size_t), int repair, json_t **out,
    char *err, size_t errlen)
{
	char		 dpath[4096], why[512];
	const char	*leaf;
	struct stat	 st;
	json_error_t	 jerr;
	json_t		*j;
	char		*buf;
	size_t		 off = 0;
	ssize_t		 r;
	int		 dfd, fd, refused;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (maxlen == 0)
		maxlen = STATE_MAX_FILE;
	if ((dfd = state_open_parent(dir, name, &leaf, dpath, sizeof(dpath),
	    err, errlen)) == -1) {
		if (errno != ENOENT)
			return STATE_READ_ERROR;
		err[0] = '\0';
		return STATE_READ_ABSENT;
	}
	fd = statefs_open_read(dfd, dpath, leaf, repair ? 0 :
	    STATEFS_ANY_OWNER, &st, &refused, why, sizeof(why));
	close(dfd);
	if (fd == -1) {
		if (refused)
			return state_bad(dir, name, repair, "is not usable",
			    why, err, errlen);
		if (errno == ENOENT)
			return STATE_READ_ABSENT;
		snprintf(err, errlen, "%s", why);
		return STATE_READ_ERROR;
	}
	if (repair && (st.st_mode & 077) != 0)
		(void)fchmod(fd, 0600);
	if ((uintmax_t)st.st_size > maxlen) {
		close(fd);
		snprintf(why, sizeof(why), "%lld bytes, more than the %zu "
		    "allowed", (long long)st.st_size, maxlen);
		return state_bad(dir, name, repair, "is corrupt", why, err,
		    errlen);
	}
	/* One byte more than allowed tells a file that grew meanwhile. */
	if ((buf = malloc(maxlen + 1)) == NULL) {
		close(fd);
		snprintf(err, errlen, "cannot read state file %s/%s: out of "
		    "memory", dpath, leaf);
		return STATE_READ_ERROR;
	}
	while (off <= maxlen) {
		r = read(fd, buf + off, maxlen + 1 - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			statefs_syserr(err, errlen, errno, "cannot read state "
			    "file %s/%s", dpath, leaf);
			free(buf);
			close(fd);
			return STATE_READ_ERROR;
		}
		if (r == 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	if (off > maxlen) {
		free(buf);
		snprintf(why, sizeof(why), "more than %zu bytes", maxlen);
		return state_bad(dir, name, repair, "is corrupt", why, err,
		    errlen);
	}
	j = json_loadb(buf, off, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (j == NULL) {
		snprintf(why, sizeof(why), "line %d column %d: %s", jerr.line,
		    jerr.column, jerr.text);
		return state_bad(dir, name, repair, "is corrupt", why, err,
		    errlen);
	}
	if (!json_is_object(j)) {
		json_decref(j);
		return state_bad(dir, name, repair, "is corrupt",
		    "not a JSON object", err, errlen);
	}
	if (valid != NULL && valid(j, why, sizeof(why)) == -1) {
		json_decref(j);
		return state_bad(dir, name, repair, "is corrupt", why, err,
		    errlen);
	}
	*out = j;
	return STATE_READ_OK;
}

enum state_read
state_read_json(const char *dir, const char *name, size_t maxlen,
    int (*valid)(const json_t *, char *, size_t), json_t **out, char *err,
    size_t errlen)
{
	return state_read_common(dir, name, maxlen, valid, 1, out, err,
	    errlen);
}

enum state_read
state_peek_json(const char *dir, const char *name, size_t maxlen,
    json_t **out, char *err, size_t errlen)
{
	return state_read_common(dir, name, maxlen, NULL, 0, out, err,
	    errlen);
}

int
state_key_filename(const char *arn, char *buf, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0;
	size_t			 i, off;

	if (arn == NULL || len < sizeof(STATE_KEYS_DIR "/") + 32 +
	    sizeof(".json") - 1)
		return -1;
	if (EVP_Digest(arn, strlen(arn), md, &mdlen, EVP_sha256(), NULL) != 1
	    || mdlen < 16)
		return -1;
	off = (size_t)snprintf(buf, len, "%s/", STATE_KEYS_DIR);
	for (i = 0; i < 16; i++) {
		buf[off++] = hex[md[i] >> 4];
		buf[off++] = hex[md[i] & 0xf];
	}
	snprintf(buf + off, len - off, ".json");
	return 0;
}

static int
state_strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char * const *)a, *(char * const *)b);
}

int
state_key_names(const char *dir, char ***names, size_t *n)
{
	struct dirent	 *d;
	DIR		 *dp;
	char		**v = NULL, **nv, err[512];
	size_t		  nn = 0, cap = 0, len;
	int		  fd, kfd;

	*names = NULL;
	*n = 0;
	if ((fd = statefs_open_top(dir, 0, NULL, err, sizeof(err))) == -1)
		return errno == ENOENT ? 0 : -1;
	kfd = statefs_open_dir(fd, dir, STATE_KEYS_DIR, 0, NULL, 0, err,
	    sizeof(err));
	close(fd);
	if (kfd == -1)
		return errno == ENOENT ? 0 : -1;
	if ((dp = fdopendir(kfd)) == NULL) {
		close(kfd);
		return -1;
	}
	while ((d = readdir(dp)) != NULL) {
		len = strlen(d->d_name);
		if (d->d_name[0] == '.' || len < 6 ||
		    strcmp(d->d_name + len - 5, ".json") != 0)
			continue;
		if (nn == cap) {
			cap = cap > 0 ? cap * 2 : 64;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL)
				goto fail;
			v = nv;
		}
		if (asprintf(&v[nn], "%s/%s", STATE_KEYS_DIR, d->d_name) == -1)
			goto fail;
		nn++;
	}
	closedir(dp);
	if (nn > 0)
		qsort(v, nn, sizeof(*v), state_strp_cmp);
	*names = v;
	*n = nn;
	return 0;
fail:
	closedir(dp);
	state_key_names_free(v, nn);
	return -1;
}

int
state_key_names_has(char * const *names, size_t n, const char *name)
{
	return n > 0 && bsearch(&name, names, n, sizeof(*names),
	    state_strp_cmp) != NULL;
}

void
state_key_names_free(char **names, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

void
state_key_free(struct state_key *k)
{
	if (k == NULL)
		return;
	free(k->arn);
	check_baseline_free(&k->baseline);
	free(k->key_state);
	json_decref(k->findings);
	memset(k, 0, sizeof(*k));
}

int
state_key_set_result(struct state_key *k, const struct key_snapshot *snap,
    const struct findings *fs)
{
	char	*st = NULL;
	json_t	*f = NULL;

	if (snap->describe_err.cls == KMS_OK && snap->meta.state != NULL &&
	    (st = strdup(snap->meta.state)) == NULL)
		return -1;
	/* No findings (most keys, most of the time) is no document: the
	 * file form writes []. */
	if (fs->n > 0 && (f = findings_json(fs)) == NULL) {
		free(st);
		return -1;
	}
	free(k->key_state);
	k->key_state = st;
	json_decref(k->findings);
	k->findings = f;
	k->polled_at = snap->polled_at;
	k->status = findings_worst(fs);
	return 0;
}

/* The baseline's grants member: {"digest", "count", "vendor",
 * "accepted_at"}, or null. */
static json_t *
state_grants_member(const struct key_baseline *b)
{
	char	hex[KMS_GRANTS_HEX_LEN];

	if (!b->has_grants)
		return json_null();
	return json_pack("{s:s, s:I, s:I, s:I}", "digest",
	    kms_grants_hex(b->grants_md, hex), "count", (json_int_t)b->grants_n,
	    "vendor", (json_int_t)b->grants_nvendor, "accepted_at",
	    (json_int_t)b->grants_accepted_at);
}

json_t *
state_key_to_json(const struct state_key *k)
{
	const struct key_baseline *b = &k->baseline;
	json_t	*f, *j;

	/* A baseline held as a digest only (check.h) is not written as
	 * "no policy": its holder reads the text back first. */
	if (b->has_policy && b->policy == NULL)
		return NULL;
	if (k->findings != NULL)
		f = json_incref(k->findings);
	else if ((f = json_array()) == NULL)
		return NULL;
	j = json_pack("{s:i, s:s, s:{s:s?, s:s?, s:I, s:s?, s:I}, "
	    "s:{s:I, s:s?, s:s, s:o}}",
	    "version", STATE_KEY_VERSION,
	    "arn", k->arn,
	    "baseline",
	    "policy", b->has_policy ? b->policy : NULL,
	    "policy_canonical", b->has_policy ? b->policy_canonical : NULL,
	    "accepted_at", (json_int_t)b->accepted_at,
	    "material_id", b->material_id,
	    "material_seen_at", (json_int_t)b->material_seen_at,
	    "last",
	    "polled_at", (json_int_t)k->polled_at,
	    "state", k->key_state,
	    "status", severity_name(k->status),
	    "findings", f);
	if (j != NULL && json_object_set_new(json_object_get(j, "baseline"),
	    "grants", state_grants_member(b)) == -1) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static int	state_opt_time(const json_t *, const char *, time_t *, char *,
		    size_t);

/* The baseline's grants member into kb; absent or null: none. */
static int
state_grants_from_json(const json_t *b, struct key_baseline *kb, char *err,
    size_t errlen)
{
	json_t	*g = json_object_get(b, "grants"), *v;
	size_t	 i;
	static const char * const counts[] = { "count", "vendor" };

	if (g == NULL || json_is_null(g))
		return 0;
	if (!json_is_object(g) ||
	    kms_grants_unhex(json_string_value(json_object_get(g, "digest")),
	    kb->grants_md) == -1) {
		snprintf(err, errlen, "\"baseline.grants\" is not an object "
		    "with a digest of 64 hex digits");
		return -1;
	}
	for (i = 0; i < 2; i++) {
		v = json_object_get(g, counts[i]);
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			snprintf(err, errlen, "\"baseline.grants.%s\" is not "
			    "a count", counts[i]);
			return -1;
		}
		*(i == 0 ? &kb->grants_n : &kb->grants_nvendor) =
		    (size_t)json_integer_value(v);
	}
	if (state_opt_time(g, "accepted_at", &kb->grants_accepted_at, err,
	    errlen) == -1)
		return -1;
	kb->has_grants = 1;
	return 0;
}

/* An optional string member: NULL or absent is fine, anything else but a
 * string is not. */
static int
state_opt_str(const json_t *o, const char *k, char **out, char *err,
    size_t errlen)
{
	json_t	*v = json_object_get(o, k);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		snprintf(err, errlen, "\"%s\" is not a string", k);
		return -1;
	}
	if ((*out = strdup(json_string_value(v))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int
state_opt_time(const json_t *o, const char *k, time_t *out, char *err,
    size_t errlen)
{
	json_t	*v = json_object_get(o, k);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(err, errlen, "\"%s\" is not a time in epoch seconds",
		    k);
		return -1;
	}
	*out = (time_t)json_integer_value(v);
	return 0;
}

static int
state_findings_valid(const json_t *a, char *err, size_t errlen)
{
	size_t	 i;
	json_t	*f;

	if (!json_is_array(a)) {
		snprintf(err, errlen, "\"last.findings\" is not an array");
		return -1;
	}
	json_array_foreach(a, i, f) {
		enum severity	s;

		if (!json_is_object(f) ||
		    !json_is_string(json_object_get(f, "check")) ||
		    !json_is_string(json_object_get(f, "severity")) ||
		    severity_parse(json_string_value(json_object_get(f,
		    "severity")), &s) == -1 ||
		    !json_is_string(json_object_get(f, "summary")) ||
		    !json_is_object(json_object_get(f, "details"))) {
			snprintf(err, errlen, "\"last.findings\"[%zu] is not "
			    "a finding", i);
			return -1;
		}
	}
	return 0;
}

int
state_key_from_json(const json_t *j, struct state_key *out, char *err,
    size_t errlen)
{
	json_t	*v, *b, *last;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(j)) {
		snprintf(err, errlen, "not a JSON object");
		return -1;
	}
	v = json_object_get(j, "version");
	if (!json_is_integer(v) || json_integer_value(v) != STATE_KEY_VERSION) {
		snprintf(err, errlen, "\"version\" is not %d",
		    STATE_KEY_VERSION);
		return -1;
	}
	v = json_object_get(j, "arn");
	if (!json_is_string(v) || strncmp(json_string_value(v), "arn:", 4)) {
		snprintf(err, errlen, "\"arn\" is not a key ARN");
		return -1;
	}
	if ((out->arn = strdup(json_string_value(v))) == NULL)
		goto oom;
	b = json_object_get(j, "baseline");
	if (b != NULL && !json_is_object(b)) {
		snprintf(err, errlen, "\"baseline\" is not an object");
		goto fail;
	}
	if (b != NULL) {
		struct key_baseline *kb = &out->baseline;

		if (state_opt_str(b, "policy", &kb->policy, err, errlen) ==
		    -1 || state_opt_str(b, "policy_canonical",
		    &kb->policy_canonical, err, errlen) == -1 ||
		    state_opt_time(b, "accepted_at", &kb->accepted_at, err,
		    errlen) == -1 || state_opt_str(b, "material_id",
		    &kb->material_id, err, errlen) == -1 ||
		    state_opt_time(b, "material_seen_at",
		    &kb->material_seen_at, err, errlen) == -1 ||
		    state_grants_from_json(b, kb, err, errlen) == -1)
			goto fail;
		if ((kb->policy == NULL) != (kb->policy_canonical == NULL)) {
			snprintf(err, errlen, "\"baseline\" has a policy "
			    "without its canonical form or vice versa");
			goto fail;
		}
		kb->has_policy = kb->policy != NULL;
		if (check_baseline_digest(kb) == -1) {
			snprintf(err, errlen, "cannot hash the baseline policy");
			goto fail;
		}
	}
	last = json_object_get(j, "last");
	if (last != NULL && !json_is_object(last)) {
		snprintf(err, errlen, "\"last\" is not an object");
		goto fail;
	}
	if (last != NULL) {
		if (state_opt_time(last, "polled_at", &out->polled_at, err,
		    errlen) == -1 || state_opt_str(last, "state",
		    &out->key_state, err, errlen) == -1)
			goto fail;
		v = json_object_get(last, "status");
		if (v != NULL && (!json_is_string(v) ||
		    severity_parse(json_string_value(v), &out->status) ==
		    -1)) {
			snprintf(err, errlen, "\"last.status\" is not a "
			    "severity");
			goto fail;
		}
		v = json_object_get(last, "findings");
		if (v != NULL) {
			if (state_findings_valid(v, err, errlen) == -1)
				goto fail;
			if (json_array_size(v) > 0)
				out->findings = json_incref(v);
		}
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	state_key_free(out);
	return -1;
}

static int
state_key_valid(const json_t *j, char *err, size_t errlen)
{
	struct state_key	k;

	if (state_key_from_json(j, &k, err, errlen) == -1)
		return -1;
	state_key_free(&k);
	return 0;
}

int
state_key_save(const char *dir, const struct state_key *k, char *err,
    size_t errlen)
{
	char	 name[64];
	json_t	*j;
	int	 rc;

	if (k->arn == NULL || state_key_filename(k->arn, name,
	    sizeof(name)) == -1) {
		snprintf(err, errlen, "cannot name the state file of a key "
		    "without ARN");
		return -1;
	}
	if (k->baseline.has_policy && k->baseline.policy == NULL) {
		snprintf(err, errlen, "state of %s: the accepted policy's text "
		    "is not held", k->arn);
		return -1;
	}
	if ((j = state_key_to_json(k)) == NULL) {
		snprintf(err, errlen, "state of %s: out of memory", k->arn);
		return -1;
	}
	rc = state_write_json(dir, name, j, err, errlen);
	json_decref(j);
	return rc;
}

enum state_read
state_key_load(const char *dir, const char *arn, struct state_key *out,
    char *err, size_t errlen)
{
	char		 name[64], why[512];
	enum state_read	 rc;
	json_t		*j;

	memset(out, 0, sizeof(*out));
	if (arn == NULL || state_key_filename(arn, name, sizeof(name)) == -1) {
		snprintf(err, errlen, "cannot name the state file of %s",
		    arn != NULL ? arn : "(null)");
		return STATE_READ_ERROR;
	}
	rc = state_read_json(dir, name, 0, state_key_valid, &j, err, errlen);
	if (rc == STATE_READ_OK) {
		if (state_key_from_json(j, out, why, sizeof(why)) == -1) {
			json_decref(j);
			snprintf(err, errlen, "state of %s: %s", arn, why);
			return STATE_READ_ERROR;
		}
		json_decref(j);
		if (strcmp(out->arn, arn) == 0)
			return STATE_READ_OK;
		snprintf(why, sizeof(why), "holds the state of %.200s, not of "
		    "%.200s", out->arn, arn);
		state_key_free(out);
		rc = state_corrupt(dir, name, "is corrupt", why, err, errlen);
	}
	if ((out->arn = strdup(arn)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return STATE_READ_ERROR;
	}
	return rc;
}

enum state_read
state_key_peek(const char *dir, const char *arn, struct state_key *out,
    char *err, size_t errlen)
{
	char		 name[64], why[512];
	enum state_read	 rc;
	json_t		*j;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	if (arn == NULL || state_key_filename(arn, name, sizeof(name)) == -1) {
		snprintf(err, errlen, "cannot name the state file of %s",
		    arn != NULL ? arn : "(null)");
		return STATE_READ_ERROR;
	}
	if ((rc = state_peek_json(dir, name, 0, &j, err, errlen)) !=
	    STATE_READ_OK)
		return rc;
	if (state_key_from_json(j, out, why, sizeof(why)) == -1 ||
	    out->arn == NULL || strcmp(out->arn, arn) != 0) {
		if (out->arn != NULL && strcmp(out->arn, arn) != 0)
			snprintf(why, sizeof(why), "it holds another "
			    "key's state");
		json_decref(j);
		state_key_free(out);
		snprintf(err, errlen, "state file %s/%s is corrupt (%s): "
		    "ignored (keyhealthd run moves it aside)", dir, name, why);
		return STATE_READ_CORRUPT;
	}
	json_decref(j);
	return STATE_READ_OK;
}

int
state_keys_save(const char *dir, const struct state_key *v, size_t n,
    char *err, size_t errlen)
{
	char	one[1024];
	size_t	i;
	int	rc = 0;

	for (i = 0; i < n; i++) {
		if (state_key_save(dir, &v[i], one, sizeof(one)) == 0)
			continue;
		if (rc == 0)
			snprintf(err, errlen, "%s", one);
		rc = -1;
	}
	return rc;
}

static int
state_is_key_file(const char *name)
{
	size_t	i;

	if (strlen(name) != 32 + 5 || strcmp(name + 32, ".json") != 0)
		return 0;
	for (i = 0; i < 32; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		    (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return 1;
}

int
state_keys_load(const char *dir, struct state_key **vp, size_t *np,
    state_warn_cb warn, void *warnarg, char *err, size_t errlen)
{
	char			 name[300], msg[1024];
	struct state_key	*v = NULL, *nv;
	struct dirent		*de;
	size_t			 n = 0, cap = 0;
	enum state_read		 rc;
	json_t			*j;
	DIR			*d;
	int			 top, kfd;

	*vp = NULL;
	*np = 0;
	if ((top = statefs_open_top(dir, 0, NULL, err, errlen)) == -1)
		return errno == ENOENT ? 0 : -1;
	kfd = statefs_open_dir(top, dir, STATE_KEYS_DIR, 0, NULL, 0, err,
	    errlen);
	close(top);
	if (kfd == -1)
		return errno == ENOENT ? 0 : -1;
	if ((d = fdopendir(kfd)) == NULL) {
		statefs_syserr(err, errlen, errno, "cannot read state "
		    "directory %s/%s", dir, STATE_KEYS_DIR);
		close(kfd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (!state_is_key_file(de->d_name))
			continue;
		snprintf(name, sizeof(name), "%s/%s", STATE_KEYS_DIR,
		    de->d_name);
		rc = state_read_json(dir, name, 0, state_key_valid, &j, msg,
		    sizeof(msg));
		if (rc != STATE_READ_OK) {
			if (rc != STATE_READ_ABSENT)
				state_warn(warn, warnarg, "%s", msg);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL) {
				json_decref(j);
				goto oom;
			}
			v = nv;
		}
		if (state_key_from_json(j, &v[n], msg, sizeof(msg)) == -1) {
			json_decref(j);
			state_warn(warn, warnarg, "%s", msg);
			continue;
		}
		json_decref(j);
		n++;
	}
	closedir(d);
	*vp = v;
	*np = n;
	return 0;
oom:
	closedir(d);
	while (n > 0)
		state_key_free(&v[--n]);
	free(v);
	snprintf(err, errlen, "loading key state: out of memory");
	return -1;
}

int
state_grants_filename(const char *arn, char *buf, size_t len)
{
	char	name[64];

	/* The key's file name, in the grants directory. */
	if (state_key_filename(arn, name, sizeof(name)) == -1 ||
	    (size_t)snprintf(buf, len, "%s%s", STATE_GRANTS_DIR,
	    name + sizeof(STATE_KEYS_DIR) - 1) >= len)
		return -1;
	return 0;
}

json_t *
state_grants_to_json(const char *arn, const json_t *set,
    const unsigned char md[KMS_GRANTS_DIGEST_LEN], time_t accepted_at)
{
	char	hex[KMS_GRANTS_HEX_LEN];

	return json_pack("{s:i, s:s, s:s, s:I, s:O}", "version",
	    STATE_KEY_VERSION, "arn", arn, "digest", kms_grants_hex(md, hex),
	    "accepted_at", (json_int_t)accepted_at, "grants", set);
}

/* What state_grants_load() accepts: the shape, and a digest that is the
 * grants'. */
static int
state_grants_valid(const json_t *j, char *err, size_t errlen)
{
	unsigned char	 want[KMS_GRANTS_DIGEST_LEN], got[KMS_GRANTS_DIGEST_LEN];
	json_t		*a = json_object_get(j, "grants"), *g;
	size_t		 i;

	if (!json_is_integer(json_object_get(j, "version")) ||
	    json_integer_value(json_object_get(j, "version")) !=
	    STATE_KEY_VERSION || !json_is_string(json_object_get(j, "arn")) ||
	    !json_is_array(a) || kms_grants_unhex(json_string_value(
	    json_object_get(j, "digest")), want) == -1) {
		snprintf(err, errlen, "not a grants baseline (version %d, "
		    "arn, digest, grants)", STATE_KEY_VERSION);
		return -1;
	}
	json_array_foreach(a, i, g)
		if (!json_is_object(g) ||
		    !json_is_string(json_object_get(g, "id"))) {
			snprintf(err, errlen, "\"grants\"[%zu] is not a grant",
			    i);
			return -1;
		}
	if (kms_grants_digest(a, got) == -1 ||
	    memcmp(want, got, sizeof(want)) != 0) {
		snprintf(err, errlen, "its digest is not that of its grants");
		return -1;
	}
	return 0;
}

enum state_read
state_grants_load(const char *dir, const char *arn, int repair, json_t **set,
    unsigned char md[KMS_GRANTS_DIGEST_LEN], char *err, size_t errlen)
{
	char		 name[64], why[512];
	enum state_read	 rc;
	json_t		*j;

	*set = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (arn == NULL || state_grants_filename(arn, name, sizeof(name)) ==
	    -1) {
		snprintf(err, errlen, "cannot name the grants file of %s",
		    arn != NULL ? arn : "(null)");
		return STATE_READ_ERROR;
	}
	rc = repair ? state_read_json(dir, name, 0, state_grants_valid, &j,
	    err, errlen) : state_peek_json(dir, name, 0, &j, err, errlen);
	if (rc != STATE_READ_OK)
		return rc;
	if (!repair && state_grants_valid(j, why, sizeof(why)) == -1) {
		json_decref(j);
		snprintf(err, errlen, "state file %s/%s is corrupt (%s): "
		    "ignored (keyhealthd run moves it aside)", dir, name, why);
		return STATE_READ_CORRUPT;
	}
	if (strcmp(json_string_value(json_object_get(j, "arn")), arn) != 0) {
		json_decref(j);
		snprintf(why, sizeof(why), "holds the grants of another key");
		return state_bad(dir, name, repair, "is corrupt", why, err,
		    errlen);
	}
	(void)kms_grants_unhex(json_string_value(json_object_get(j,
	    "digest")), md);
	*set = json_incref(json_object_get(j, "grants"));
	json_decref(j);
	return STATE_READ_OK;
}
