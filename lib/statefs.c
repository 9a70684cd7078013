/*
 * The state tree's file primitives: nothing under state_dir is followed,
 * blocked on, or changed through a name; see statefs.h for the rules.
 */
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errf.h"
#include "statefs.h"

const char *
statefs_errno_name(int e)
{
	const char	*n = strerrorname_np(e);

	return n != NULL ? n : "E?";
}

void
statefs_syserr(char *err, size_t errlen, int e, const char *fmt, ...)
{
	char	what[768];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	(void)snprintf(err, errlen, "%s: %s (%s)", what, strerror(e),
	    statefs_errno_name(e));
	errno = e;
}

const char *
statefs_type_name(mode_t mode)
{
	if (S_ISREG(mode))
		return "a regular file";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	return "of an unknown type";
}

/* The owners we trust for what we did not create: root and ourselves. */
static int
statefs_trusted_uid(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

int
statefs_open_top(const char *dir, int create, int *followed, char *err,
    size_t errlen)
{
	struct stat	 lst, pst;
	char		 path[PATH_MAX], parent[PATH_MAX], *slash;
	size_t		 len;
	int		 fd;

	if (followed != NULL)
		*followed = 0;
	if (dir == NULL || dir[0] == '\0') {
		errf(err, errlen, "state directory not set");
		errno = EINVAL;
		return -1;
	}
	/* A trailing slash would make the kernel follow a final link. */
	if ((len = strlen(dir)) >= sizeof(path)) {
		statefs_syserr(err, errlen, ENAMETOOLONG, "state directory %s",
		    dir);
		return -1;
	}
	memcpy(path, dir, len + 1);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	if (create && mkdir(path, 0700) == -1 && errno != EEXIST) {
		statefs_syserr(err, errlen, errno, "state directory %s: mkdir",
		    path);
		return -1;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd != -1)
		return fd;
	if (errno != ELOOP && errno != ENOTDIR) {
		statefs_syserr(err, errlen, errno, "state directory %s", path);
		return -1;
	}
	if (lstat(path, &lst) == -1) {
		statefs_syserr(err, errlen, errno, "state directory %s", path);
		return -1;
	}
	if (!S_ISLNK(lst.st_mode)) {
		errf(err, errlen, "state directory %s is %s, not a "
		    "directory (ENOTDIR)", path,
		    statefs_type_name(lst.st_mode));
		errno = ENOTDIR;
		return -1;
	}
	memcpy(parent, path, len + 1);
	if ((slash = strrchr(parent, '/')) == NULL)
		(void)snprintf(parent, sizeof(parent), ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	if (stat(parent, &pst) == -1) {
		statefs_syserr(err, errlen, errno, "state directory %s: its "
		    "directory %s", path, parent);
		return -1;
	}
	/* Only root or we could have made the link, and only they can
	 * swap it between this check and the open below. */
	if (!statefs_trusted_uid(lst.st_uid) ||
	    !statefs_trusted_uid(pst.st_uid) || (pst.st_mode & 022) != 0) {
		errf(err, errlen, "state directory %s is a symbolic "
		    "link (owner uid %lu) in %s (owner uid %lu, mode %04o): "
		    "refusing to follow it, since someone other than root or "
		    "uid %lu could have placed it; make state_dir a real "
		    "directory", path, (unsigned long)lst.st_uid, parent,
		    (unsigned long)pst.st_uid, (unsigned)(pst.st_mode & 07777),
		    (unsigned long)geteuid());
		errno = ELOOP;
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		statefs_syserr(err, errlen, errno, "state directory %s (a "
		    "symbolic link)", path);
		return -1;
	}
	if (followed != NULL)
		*followed = 1;
	return fd;
}

int
statefs_open_dir(int dfd, const char *dpath, const char *name, int create,
    char *note, size_t notelen, char *err, size_t errlen)
{
	struct stat	st;
	int		fd, e;

	if (note != NULL && notelen > 0)
		note[0] = '\0';
	if (create && mkdirat(dfd, name, 0700) == -1 && errno != EEXIST) {
		statefs_syserr(err, errlen, errno, "%s/%s: mkdir", dpath,
		    name);
		return -1;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		e = errno;
		if ((e == ELOOP || e == ENOTDIR) &&
		    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			errf(err, errlen, "%s/%s is %s, not a "
			    "directory (ENOTDIR): refusing to use it", dpath,
			    name, statefs_type_name(st.st_mode));
		} else
			statefs_syserr(err, errlen, e, "%s/%s", dpath, name);
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		statefs_syserr(err, errlen, errno, "%s/%s", dpath, name);
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (st.st_uid != geteuid()) {
		errf(err, errlen, "%s/%s is owned by uid %lu, not by "
		    "uid %lu that runs keyhealthd: refusing to use it", dpath,
		    name, (unsigned long)st.st_uid, (unsigned long)geteuid());
		close(fd);
		errno = EPERM;
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		/* Baselines and queued alerts are not for others to read. */
		if (fchmod(fd, 0700) == -1) {
			statefs_syserr(err, errlen, errno, "%s/%s: chmod 0700",
			    dpath, name);
			e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		errf(note, notelen, "%s/%s had mode %04o, changed to "
		    "0700", dpath, name, (unsigned)(st.st_mode & 07777));
	}
	return fd;
}

/* Why st is not a file we read; NULL when it is one. */
static const char *
statefs_refusal(const struct stat *st, int flags, char *buf, size_t len)
{
	if (!S_ISREG(st->st_mode)) {
		(void)snprintf(buf, len, "is %s, not a regular file",
		    statefs_type_name(st->st_mode));
		return buf;
	}
	if (!(flags & STATEFS_ANY_OWNER) && st->st_uid != geteuid()) {
		(void)snprintf(buf, len, "is owned by uid %lu, not by uid %lu "
		    "that runs keyhealthd", (unsigned long)st->st_uid,
		    (unsigned long)geteuid());
		return buf;
	}
	return NULL;
}

int
statefs_open_read(int dfd, const char *dpath, const char *name, int flags,
    struct stat *st, int *refused, char *err, size_t errlen)
{
	struct stat	 lst;
	char		 why[128];
	const char	*no;
	int		 fd, e;

	*refused = 0;
	/* Look before opening: opening a device or FIFO has effects. */
	if (fstatat(dfd, name, &lst, AT_SYMLINK_NOFOLLOW) == -1) {
		e = errno;
		if (e != ENOENT)
			statefs_syserr(err, errlen, e, "cannot read %s/%s",
			    dpath, name);
		errno = e;
		return -1;
	}
	if ((no = statefs_refusal(&lst, flags, why, sizeof(why))) != NULL)
		goto refuse;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1) {
		e = errno;
		if (e == ELOOP) {
			no = "is a symbolic link, not a regular file";
			goto refuse;
		}
		if (e != ENOENT)
			statefs_syserr(err, errlen, e, "cannot read %s/%s",
			    dpath, name);
		errno = e;
		return -1;
	}
	if (fstat(fd, st) == -1) {
		e = errno;
		statefs_syserr(err, errlen, e, "cannot read %s/%s", dpath,
		    name);
		close(fd);
		errno = e;
		return -1;
	}
	if ((no = statefs_refusal(st, flags, why, sizeof(why))) != NULL ||
	    st->st_dev != lst.st_dev || st->st_ino != lst.st_ino) {
		close(fd);
		if (no == NULL)
			no = "was replaced while being opened";
		goto refuse;
	}
	return fd;
refuse:
	*refused = 1;
	errf(err, errlen, "%s", no);
	errno = EINVAL;
	return -1;
}

static int
statefs_write_all(int fd, const char *buf, size_t len)
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

/* Creates a new temporary file for name in dfd; its name goes to tmp. */
static int
statefs_tmp_create(int dfd, const char *name, char *tmp, size_t len)
{
	uint32_t	r;
	int		fd, i;

	for (i = 0; i < 16; i++) {
		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r = (uint32_t)rand() ^ (uint32_t)getpid();
		if ((size_t)snprintf(tmp, len, "%s%s.%08x",
		    STATEFS_TMP_PREFIX, name, (unsigned)r) >= len) {
			errno = ENAMETOOLONG;
			return -1;
		}
		/* O_EXCL: a name planted in advance is never opened. */
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd != -1 || errno != EEXIST)
			return fd;
	}
	return -1;
}

int
statefs_write(int dfd, const char *dpath, const char *name, const char *buf,
    size_t len, char *err, size_t errlen)
{
	if (statefs_replace(dfd, dpath, name, buf, len, NULL, err,
	    errlen) == -1)
		return -1;
	/* The rename is only durable once the directory is. */
	if (fsync(dfd) == -1) {
		statefs_dirsync_err(err, errlen, errno, dpath, name);
		return -1;
	}
	return 0;
}

void
statefs_dirsync_err(char *err, size_t errlen, int e, const char *dpath,
    const char *name)
{
	statefs_syserr(err, errlen, e, "wrote %s/%s but cannot fsync its "
	    "directory", dpath, name);
}

int
statefs_replace(int dfd, const char *dpath, const char *name,
    const char *buf, size_t len, struct stat *st, char *err, size_t errlen)
{
	char		 tmp[NAME_MAX + 1];
	const char	*step;
	int		 fd, e;

	if ((fd = statefs_tmp_create(dfd, name, tmp, sizeof(tmp))) == -1) {
		statefs_syserr(err, errlen, errno, "cannot write %s/%s: create "
		    "temporary file", dpath, name);
		return -1;
	}
	step = "chmod";
	if (fchmod(fd, 0600) == -1)
		goto fail;
	step = "write";
	if (statefs_write_all(fd, buf, len) == -1)
		goto fail;
	step = "fsync";
	if (fsync(fd) == -1)
		goto fail;
	/* Before the rename: after it, the name may be another's file. */
	step = "fstat";
	if (st != NULL && fstat(fd, st) == -1)
		goto fail;
	step = "close";
	e = close(fd);
	fd = -1;
	if (e == -1)
		goto fail;
	/* Replaces the entry itself, be it a link or a FIFO. */
	step = "rename";
	if (renameat(dfd, tmp, dfd, name) == -1)
		goto fail;
	return 0;
fail:
	e = errno;
	statefs_syserr(err, errlen, e, "cannot write %s/%s: %s", dpath, name,
	    step);
	if (fd != -1)
		close(fd);
	(void)unlinkat(dfd, tmp, 0);
	errno = e;
	return -1;
}

int
statefs_move_aside(int dfd, const char *name, const char *tag, char *aside,
    size_t len)
{
	struct stat	st;
	struct tm	tm;
	time_t		now = time(NULL);
	char		stamp[32];
	int		i;

	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
		(void)snprintf(stamp, sizeof(stamp), "%lld", (long long)now);
	for (i = 0; i < 100; i++) {
		if (i == 0)
			(void)snprintf(aside, len, "%s.%s-%s", name, tag,
			    stamp);
		else
			(void)snprintf(aside, len, "%s.%s-%s-%d", name, tag,
			    stamp, i);
		if (renameat2(dfd, name, dfd, aside, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EINVAL || errno == ENOSYS) {
			/* No RENAME_NOREPLACE on this file system. */
			if (fstatat(dfd, aside, &st,
			    AT_SYMLINK_NOFOLLOW) == 0)
				continue;
			return renameat(dfd, name, dfd, aside);
		}
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

int
statefs_clean_tmp(int dfd, const char *dpath, statefs_warn_cb warn,
    void *warnarg)
{
	struct dirent	*de;
	struct stat	 st;
	char		 aside[NAME_MAX + 1], msg[1024];
	DIR		*d;
	int		 fd;

	if ((fd = dup(dfd)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, STATEFS_TMP_PREFIX,
		    strlen(STATEFS_TMP_PREFIX)) != 0 ||
		    strstr(de->d_name, ".bad-") != NULL ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (S_ISREG(st.st_mode) && st.st_uid == geteuid()) {
			/* A write that did not finish: never renamed. */
			(void)unlinkat(dfd, de->d_name, 0);
			continue;
		}
		if (statefs_move_aside(dfd, de->d_name, "bad", aside,
		    sizeof(aside)) == -1)
			(void)snprintf(msg, sizeof(msg), "%s/%s is %s%s, not a "
			    "temporary file of ours, and cannot be moved "
			    "aside: %s", dpath, de->d_name,
			    statefs_type_name(st.st_mode), S_ISREG(st.st_mode) ?
			    " of another owner" : "", strerror(errno));
		else
			(void)snprintf(msg, sizeof(msg), "%s/%s is %s%s, not a "
			    "temporary file of ours: moved aside to %s", dpath,
			    de->d_name, statefs_type_name(st.st_mode),
			    S_ISREG(st.st_mode) ? " of another owner" : "",
			    aside);
		if (warn != NULL)
			warn(warnarg, msg);
	}
	closedir(d);
	return 0;
}
