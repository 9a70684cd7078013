/*
 * The state directory: atomic JSON files, strict modes, corrupt files
 * moved aside instead of crashing or silently starting over.
 */
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

#include "state.h"

#define STATE_KEYS_DIR	"keys"

static const char *
state_errno_name(int e)
{
	const char	*n = strerrorname_np(e);

	return n != NULL ? n : "E?";
}

/* "<what>: <strerror> (<ENAME>)" into err; keeps errno. */
static void
state_syserr(char *err, size_t errlen, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
state_syserr(char *err, size_t errlen, int e, const char *fmt, ...)
{
	char	what[768];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s (%s)", what, strerror(e),
	    state_errno_name(e));
	errno = e;
}

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

/* Makes sure path is a directory we can trust, creating it 0700. */
static int
state_dir_one(const char *path, state_warn_cb warn, void *warnarg,
    char *err, size_t errlen)
{
	struct stat	st;

	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		state_syserr(err, errlen, errno, "state directory %s: mkdir",
		    path);
		return -1;
	}
	if (stat(path, &st) == -1) {
		state_syserr(err, errlen, errno, "state directory %s", path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		state_syserr(err, errlen, ENOTDIR, "state directory %s", path);
		return -1;
	}
	if ((st.st_mode & 077) == 0)
		return 0;
	if (st.st_uid == geteuid()) {
		/* Baselines and policies are not for other users to read,
		 * let alone change. */
		if (chmod(path, 0700) == -1) {
			state_syserr(err, errlen, errno,
			    "state directory %s: chmod 0700", path);
			return -1;
		}
		state_warn(warn, warnarg, "state directory %s had mode %04o, "
		    "changed to 0700", path, (unsigned)(st.st_mode & 07777));
		return 0;
	}
	if (st.st_mode & 022) {
		snprintf(err, errlen, "state directory %s is owned by uid %lu "
		    "and writable by group or others (mode %04o): refusing "
		    "to trust it", path, (unsigned long)st.st_uid,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	state_warn(warn, warnarg, "state directory %s is owned by uid %lu "
	    "and readable by others (mode %04o)", path,
	    (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777));
	return 0;
}

int
state_dir_init(const char *dir, state_warn_cb warn, void *warnarg,
    char *err, size_t errlen)
{
	char	keys[4096];

	if (dir == NULL || dir[0] == '\0') {
		snprintf(err, errlen, "state directory not set");
		return -1;
	}
	if ((size_t)snprintf(keys, sizeof(keys), "%s/%s", dir,
	    STATE_KEYS_DIR) >= sizeof(keys)) {
		snprintf(err, errlen, "state directory path too long");
		return -1;
	}
	if (state_dir_one(dir, warn, warnarg, err, errlen) == -1 ||
	    state_dir_one(keys, warn, warnarg, err, errlen) == -1)
		return -1;
	return 0;
}

/* Splits dir/name into the directory holding the file and its path. */
static int
state_paths(const char *dir, const char *name, char *parent, size_t plen,
    char *path, size_t pathlen, char *err, size_t errlen)
{
	const char	*slash;

	if (name == NULL || name[0] == '\0' || name[0] == '/' ||
	    strstr(name, "..") != NULL) {
		snprintf(err, errlen, "bad state file name \"%s\"",
		    name != NULL ? name : "");
		return -1;
	}
	slash = strrchr(name, '/');
	if ((size_t)snprintf(path, pathlen, "%s/%s", dir, name) >= pathlen ||
	    (size_t)snprintf(parent, plen, "%s%s%.*s", dir,
	    slash != NULL ? "/" : "", slash != NULL ? (int)(slash - name) : 0,
	    name) >= plen) {
		snprintf(err, errlen, "state file path too long");
		return -1;
	}
	return 0;
}

static int
state_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	w;

	while (len > 0) {
		if ((w = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int
state_write_json(const char *dir, const char *name, const json_t *j,
    char *err, size_t errlen)
{
	char	 parent[4096], path[4096], tmp[4200];
	char	*text = NULL;
	size_t	 len;
	int	 fd = -1, dfd = -1, e;

	if (state_paths(dir, name, parent, sizeof(parent), path,
	    sizeof(path), err, errlen) == -1)
		return -1;
	if ((text = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS)) == NULL) {
		snprintf(err, errlen, "%s: cannot encode JSON (out of memory)",
		    path);
		return -1;
	}
	len = strlen(text);
	snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		state_syserr(err, errlen, errno, "cannot write %s: create "
		    "temporary file", path);
		tmp[0] = '\0';
		goto fail;
	}
	if (fchmod(fd, 0600) == -1) {
		state_syserr(err, errlen, errno, "cannot write %s: chmod",
		    path);
		goto fail;
	}
	if (state_write_all(fd, text, len) == -1 ||
	    state_write_all(fd, "\n", 1) == -1) {
		state_syserr(err, errlen, errno, "cannot write %s: write",
		    path);
		goto fail;
	}
	if (fsync(fd) == -1) {
		state_syserr(err, errlen, errno, "cannot write %s: fsync",
		    path);
		goto fail;
	}
	e = close(fd);
	fd = -1;
	if (e == -1) {
		state_syserr(err, errlen, errno, "cannot write %s: close",
		    path);
		goto fail;
	}
	if (rename(tmp, path) == -1) {
		state_syserr(err, errlen, errno, "cannot write %s: rename",
		    path);
		goto fail;
	}
	tmp[0] = '\0';
	/* The rename is only durable once the directory is. */
	if ((dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(dfd) == -1) {
		state_syserr(err, errlen, errno, "wrote %s but cannot fsync "
		    "its directory", path);
		if (dfd != -1)
			close(dfd);
		free(text);
		return -1;
	}
	close(dfd);
	free(text);
	return 0;
fail:
	e = errno;
	if (fd != -1)
		close(fd);
	if (tmp[0] != '\0')
		unlink(tmp);
	free(text);
	errno = e;
	return -1;
}

/* Renames path to path.corrupt-<UTC time>[-N]; the new name in aside. */
static int
state_move_aside(const char *path, char *aside, size_t len)
{
	struct tm	tm;
	time_t		now = time(NULL);
	char		stamp[32];
	int		i;

	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
		snprintf(stamp, sizeof(stamp), "%lld", (long long)now);
	for (i = 0; i < 100; i++) {
		if (i == 0)
			snprintf(aside, len, "%s.corrupt-%s", path, stamp);
		else
			snprintf(aside, len, "%s.corrupt-%s-%d", path, stamp,
			    i);
		if (renameat2(AT_FDCWD, path, AT_FDCWD, aside,
		    RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EINVAL || errno == ENOSYS) {
			/* No RENAME_NOREPLACE on this file system. */
			if (access(aside, F_OK) == 0)
				continue;
			return rename(path, aside);
		}
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

static enum state_read
state_corrupt(const char *path, const char *why, char *err, size_t errlen)
{
	char	aside[4200];

	if (state_move_aside(path, aside, sizeof(aside)) == -1) {
		int e = errno;

		snprintf(err, errlen, "state file %s is corrupt (%s) and "
		    "cannot be moved aside: %s (%s)", path, why, strerror(e),
		    state_errno_name(e));
		return STATE_READ_ERROR;
	}
	snprintf(err, errlen, "state file %s is corrupt (%s): moved aside to "
	    "%s, starting without it", path, why, aside);
	return STATE_READ_CORRUPT;
}

enum state_read
state_read_json(const char *dir, const char *name, size_t maxlen,
    int (*valid)(const json_t *, char *, size_t), json_t **out, char *err,
    size_t errlen)
{
	char		 parent[4096], path[4096], why[512];
	struct stat	 st;
	json_error_t	 jerr;
	json_t		*j;
	char		*buf;
	size_t		 off = 0;
	ssize_t		 r;
	int		 fd;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (maxlen == 0)
		maxlen = STATE_MAX_FILE;
	if (state_paths(dir, name, parent, sizeof(parent), path,
	    sizeof(path), err, errlen) == -1)
		return STATE_READ_ERROR;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK)) == -1) {
		if (errno == ENOENT)
			return STATE_READ_ABSENT;
		state_syserr(err, errlen, errno, "cannot read state file %s",
		    path);
		return STATE_READ_ERROR;
	}
	if (fstat(fd, &st) == -1) {
		state_syserr(err, errlen, errno, "cannot read state file %s",
		    path);
		close(fd);
		return STATE_READ_ERROR;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "state file %s is not a regular file",
		    path);
		close(fd);
		return STATE_READ_ERROR;
	}
	if ((st.st_mode & 077) != 0 && st.st_uid == geteuid())
		(void)fchmod(fd, 0600);
	if ((uintmax_t)st.st_size > maxlen) {
		close(fd);
		snprintf(why, sizeof(why), "%lld bytes, more than the %zu "
		    "allowed", (long long)st.st_size, maxlen);
		return state_corrupt(path, why, err, errlen);
	}
	/* One byte more than allowed tells a file that grew meanwhile. */
	if ((buf = malloc(maxlen + 1)) == NULL) {
		close(fd);
		snprintf(err, errlen, "cannot read state file %s: out of "
		    "memory", path);
		return STATE_READ_ERROR;
	}
	while (off <= maxlen) {
		r = read(fd, buf + off, maxlen + 1 - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			state_syserr(err, errlen, errno, "cannot read state "
			    "file %s", path);
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
		return state_corrupt(path, why, err, errlen);
	}
	j = json_loadb(buf, off, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (j == NULL) {
		snprintf(why, sizeof(why), "line %d column %d: %s", jerr.line,
		    jerr.column, jerr.text);
		return state_corrupt(path, why, err, errlen);
	}
	if (!json_is_object(j)) {
		json_decref(j);
		return state_corrupt(path, "not a JSON object", err, errlen);
	}
	if (valid != NULL && valid(j, why, sizeof(why)) == -1) {
		json_decref(j);
		return state_corrupt(path, why, err, errlen);
	}
	*out = j;
	return STATE_READ_OK;
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
	json_t	*f;

	if (snap->describe_err.cls == KMS_OK && snap->meta.state != NULL &&
	    (st = strdup(snap->meta.state)) == NULL)
		return -1;
	if ((f = findings_json(fs)) == NULL) {
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

json_t *
state_key_to_json(const struct state_key *k)
{
	const struct key_baseline *b = &k->baseline;
	json_t	*f;

	if (k->findings != NULL)
		f = json_incref(k->findings);
	else if ((f = json_array()) == NULL)
		return NULL;
	return json_pack("{s:i, s:s, s:{s:s?, s:s?, s:I, s:s?, s:I}, "
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
		    &kb->material_seen_at, err, errlen) == -1)
			goto fail;
		if ((kb->policy == NULL) != (kb->policy_canonical == NULL)) {
			snprintf(err, errlen, "\"baseline\" has a policy "
			    "without its canonical form or vice versa");
			goto fail;
		}
		kb->has_policy = kb->policy != NULL;
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
	char		 name[64], path[4200], why[512];
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
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		rc = state_corrupt(path, why, err, errlen);
	}
	if ((out->arn = strdup(arn)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return STATE_READ_ERROR;
	}
	return rc;
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
	char			 keys[4096], name[300], msg[1024];
	struct state_key	*v = NULL, *nv;
	struct dirent		*de;
	size_t			 n = 0, cap = 0;
	enum state_read		 rc;
	json_t			*j;
	DIR			*d;

	*vp = NULL;
	*np = 0;
	snprintf(keys, sizeof(keys), "%s/%s", dir, STATE_KEYS_DIR);
	if ((d = opendir(keys)) == NULL) {
		if (errno == ENOENT)
			return 0;
		state_syserr(err, errlen, errno, "cannot read state directory "
		    "%s", keys);
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
