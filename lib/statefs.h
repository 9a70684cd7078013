/*
 * The state tree's file primitives: every open, create, rename and unlink
 * under state_dir (keys/, alerts.json, outbox/NAME/, the Alertmanager
 * notifier's state_file) goes through these, relative to a directory
 * descriptor, so that nothing in the tree is ever followed.
 *
 * The daemon runs as root in many installs, and whoever could plant a
 * symbolic link, FIFO or device in the tree (a state_dir under a shared
 * directory, a restored backup, an earlier run as another user) must not
 * get a file outside it written, chmod'ed, read or deleted, nor the
 * daemon blocked in open().  So: directories are opened O_DIRECTORY |
 * O_NOFOLLOW and must be ours; files are read only when fstatat() says
 * they are regular and ours, then opened O_NOFOLLOW |
 * O_NONBLOCK and checked again on the descriptor; temporary files are
 * created O_EXCL | O_NOFOLLOW under a random name; modes are fixed with
 * fchmod() on the descriptor; renames and unlinks name entries of the
 * directory descriptor, which act on the entry itself, never on what a
 * link points to.
 *
 * The state directory itself is the administrator's path: its leading
 * components resolve as usual, and its last one may be a symbolic link
 * only when nobody but root or us can have made it (see
 * statefs_open_top()); systemd's StateDirectory= with DynamicUser= is
 * such a link.
 */
#ifndef KEYHEALTHD_STATEFS_H
#define KEYHEALTHD_STATEFS_H

#include <sys/stat.h>

#include <stddef.h>

/* Temporary files are ".tmp-<name>.<random>" in the file's directory. */
#define STATEFS_TMP_PREFIX	".tmp-"

/* statefs_open_read() flags. */
#define STATEFS_ANY_OWNER	0x01	/* a reader that is not the owner
					   (`keyhealthd check`) */

/*
 * Opens the directory dir (creating it 0700 first when create).  When its
 * last component is a symbolic link it is followed only if the link and
 * the directory holding it are owned by root or by us and that directory
 * is not writable by group or others: *followed is then 1 (0 otherwise;
 * followed may be NULL), and the caller must not change the target's
 * mode.  Anything else is refused.  Returns a descriptor (O_CLOEXEC) that
 * the caller closes, or -1 with err naming dir, the reason and errno's
 * name.
 */
int	statefs_open_top(const char *dir, int create, int *followed,
	    char *err, size_t errlen);

/*
 * Opens the directory name in dfd (dpath is dfd's path, for messages),
 * creating it 0700 when create and it is absent; never follows a link.
 * It must be a directory owned by us; a mode open to group or others is
 * set to 0700 (through the descriptor) and said in note (may be NULL; ""
 * when nothing was changed).  Returns a descriptor the caller closes, or
 * -1 with err (errno ENOENT when absent and not created).
 */
int	statefs_open_dir(int dfd, const char *dpath, const char *name,
	    int create, char *note, size_t notelen, char *err, size_t errlen);

/*
 * Opens name in dfd for reading.  Only a regular file owned by us (any
 * owner with STATEFS_ANY_OWNER) is opened, after fstatat() said so
 * (opening a FIFO or device has effects), O_NOFOLLOW | O_NONBLOCK, and
 * checked again on the descriptor; *st is its fstat().  Returns the
 * descriptor (the caller closes it); -1 with errno ENOENT when there is
 * no such entry; -1 with *refused = 1 and err saying what the entry is
 * ("is a FIFO, not a regular file": the caller names the file) when it
 * exists but is not such a file; -1 with err on other errors.
 */
int	statefs_open_read(int dfd, const char *dpath, const char *name,
	    int flags, struct stat *st, int *refused, char *err,
	    size_t errlen);

/*
 * Replaces name in dfd atomically and durably with len bytes of buf,
 * mode 0600: a new temporary file (O_EXCL | O_NOFOLLOW), written,
 * fsync'ed, renamed over name, then dfd fsync'ed.  A link or FIFO named
 * name is replaced, never followed.  Returns 0, or -1 with err naming
 * dpath/name, the step and errno; no temporary file is left behind.
 */
int	statefs_write(int dfd, const char *dpath, const char *name,
	    const char *buf, size_t len, char *err, size_t errlen);

/*
 * The error of a failed fsync (errno e) of the directory dpath after
 * name was renamed into it, into err.
 */
void	statefs_dirsync_err(char *err, size_t errlen, int e, const char *dpath,
	    const char *name);

/*
 * statefs_write() but for dfd's fsync: the new file is in place but
 * durable only once the caller has fsync'ed dfd, which it does once for
 * every file of a batch in that directory (a group commit).  st, unless
 * NULL, gets the new file's status (its inode and modification time).
 */
int	statefs_replace(int dfd, const char *dpath, const char *name,
	    const char *buf, size_t len, struct stat *st, char *err,
	    size_t errlen);

/*
 * Renames name in dfd to name.TAG-<UTC time>[-N] without replacing
 * anything; the new name goes to aside.  0, or -1 with errno.
 */
int	statefs_move_aside(int dfd, const char *name, const char *tag,
	    char *aside, size_t len);

/* Told what was refused or moved aside, for the caller to log. */
typedef void	(*statefs_warn_cb)(void *arg, const char *msg);

/*
 * Removes the temporary files a crash left in dfd.  An entry with the
 * temporary prefix that is not a regular file of ours is not deleted but
 * moved aside (tag "bad") and told to warn (may be NULL).  0, or -1 with
 * errno when dfd can't be read.
 */
int	statefs_clean_tmp(int dfd, const char *dpath, statefs_warn_cb warn,
	    void *warnarg);

/* "<what>: <strerror> (<ENAME>)" into err, what from fmt; keeps errno
 * set to e. */
void	statefs_syserr(char *err, size_t errlen, int e, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
/* "ENOENT" for ENOENT, "E?" when unknown. */
const char *statefs_errno_name(int e);

/* "a symbolic link", "a FIFO", ... for an st_mode. */
const char *statefs_type_name(mode_t mode);

#endif
