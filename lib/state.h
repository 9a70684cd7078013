/*
 * The state directory (state_dir): baselines and last results per key,
 * and any other JSON file a module keeps there (alert state, outboxes).
 *
 * Every write is atomic: a temporary file in the same directory, written,
 * fsync'ed, renamed over the old one, then the directory fsync'ed, so a
 * crash or SIGKILL leaves the old or the new file, never a mix.  Files
 * are 0600 in a 0700 directory.  A corrupt file (bad JSON, wrong shape,
 * too large) is renamed to NAME.corrupt-YYYYMMDDTHHMMSSZ and reported
 * through the error string for the caller to log; it never crashes.
 * Every access goes through statefs.h: nothing in the tree is followed,
 * and an entry that is not a regular file of ours (a symbolic link, a
 * FIFO, ...) is moved aside the same way instead of being read.
 *
 * Layout:
 *   STATE_DIR/keys/<first 32 hex digits of sha256(key ARN)>.json
 *     {"version": 1, "arn": "...",
 *      "baseline": {"policy": TEXT|null, "policy_canonical": TEXT|null,
 *                   "accepted_at": EPOCH, "material_id": ID|null,
 *                   "material_seen_at": EPOCH,
 *                   "grants": {"digest": HEX, "count": N, "vendor": N,
 *                              "accepted_at": EPOCH}|null},
 *      "last": {"polled_at": EPOCH, "state": "Enabled"|null,
 *               "status": "ok", "findings": [...]}}
 *   STATE_DIR/grants/<the same 32 hex digits>.json
 *     {"version": 1, "arn": "...", "digest": HEX, "accepted_at": EPOCH,
 *      "grants": [canonical grants, kms_grants.h]}
 *     The accepted grants themselves: the key's file keeps only their
 *     digest, and this one is read only when a poll's grants differ.
 */
#ifndef KEYHEALTHD_STATE_H
#define KEYHEALTHD_STATE_H

#include <sys/stat.h>

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "check.h"
#include "finding.h"
#include "kms_grants.h"

/* No state file of ours comes near this; anything larger is corrupt. */
#define STATE_MAX_FILE		(8 * 1024 * 1024)
#define STATE_KEY_VERSION	1

/* What state_read_json() and the loaders found. */
enum state_read {
	STATE_READ_ERROR = -1,	/* I/O error; err says which */
	STATE_READ_OK = 0,
	STATE_READ_ABSENT = 1,	/* no such file: start fresh */
	STATE_READ_CORRUPT = 2	/* moved aside; err says where and why */
};

/* Called with a message to log (fixed modes, files moved aside). */
typedef void	(*state_warn_cb)(void *arg, const char *msg);

/* One key's persistent state. */
struct state_key {
	char			*arn;
	struct key_baseline	 baseline;
	time_t			 polled_at;	/* last poll; 0 never */
	char			*key_state;	/* KeyState then, or NULL */
	enum severity		 status;	/* worst severity then */
	json_t			*findings;	/* findings_json() of the last
						   poll, or NULL (none) */
};

/*
 * Creates dir (0700), dir/keys and dir/grants unless they exist.
 * Existing ones must be directories; when owned by us and accessible to group or others they
 * are chmod'ed to 0700 and warn is told; when owned by someone else and
 * writable by group or others they are refused.  dir may be a symbolic
 * link only as statefs_open_top() allows; its target's mode is then never
 * changed (refused when writable by group or others).  keys/ and grants/
 * must be directories of ours, never links.  warn may be NULL.
 * Returns 0, or -1 with a reason (naming errno, e.g. "(ENOTDIR)") in err.
 */
int	state_dir_init(const char *dir, state_warn_cb warn, void *warnarg,
	    char *err, size_t errlen);

/*
 * Atomically replaces dir/name (name may have one directory part, e.g.
 * "keys/x.json"; that directory must exist) with j as JSON text (sorted
 * keys, indented), mode 0600.  Returns 0, or -1 with a reason naming the
 * path, the step and errno (e.g. "No space left on device (ENOSPC)"); the
 * old file is then untouched and no temporary file is left behind.
 */
int	state_write_json(const char *dir, const char *name, const json_t *j,
	    char *err, size_t errlen);

/*
 * A state file as a writer last saw it: every write renames a new inode
 * into place with a new modification time.  All zero: no file.
 */
struct state_id {
	ino_t		ino;
	struct timespec	mtime;
};

void	state_id_of(const struct stat *st, struct state_id *id);
int	state_id_same(const struct state_id *a, const struct state_id *b);

/* dir/name's identity in *id (all zero when there is none), without
 * following anything in the tree: 0, or -1 with errno. */
int	state_id_get(const char *dir, const char *name, struct state_id *id);

/* state_write_json_nosync(): the file is not the one expected. */
#define STATE_WRITE_CONFLICT	1

/*
 * state_write_json() but for the directory's fsync (a group commit): on
 * 0, *dfd is the file's open parent directory and dpath its path; the
 * file is durable once the caller has fsync'ed *dfd, which it then
 * closes, and *got (unless NULL) is the new file's identity.  With
 * expect, a file that exists and is not *expect is left alone:
 * STATE_WRITE_CONFLICT, *got is the file's identity and nothing is left
 * open (another process wrote it; the caller reads it back first).  A
 * missing file is written.  On -1 nothing is left open.  Atomic against
 * other writers only under state_lock().
 */
int	state_write_json_nosync(const char *dir, const char *name,
	    const json_t *j, const struct state_id *expect,
	    struct state_id *got, int *dfd, char *dpath, size_t dlen,
	    char *err, size_t errlen);

/*
 * The state directory's write lock (flock(2) on the directory), held by
 * the daemon's writer over a batch and by `baseline accept` over a key's
 * files, so that a conditional write's test and rename are one step.
 * Waits at most STATE_LOCK_WAIT_MS: a holder that never lets go delays
 * writes, it does not stop them.  Returns the descriptor to pass to
 * state_unlock(), or -1 (not locked; write anyway).
 */
#define STATE_LOCK_WAIT_MS	5000
int	state_lock(const char *dir);
void	state_unlock(int fd);

/*
 * fsyncs dfd, the directory dpath of the state file name written by
 * state_write_json_nosync(): 0, or -1 with err naming that file.
 */
int	state_sync_dir(int dfd, const char *dpath, const char *name,
	    char *err, size_t errlen);

/*
 * Reads dir/name: at most maxlen bytes (0: STATE_MAX_FILE), a JSON object
 * that valid (may be NULL) accepts by returning 0 (or -1 with a reason in
 * its err).  On STATE_READ_OK *out is a new reference the caller
 * decrefs; otherwise *out is NULL.  A file that is too large, not JSON,
 * not an object or refused by valid is moved aside: STATE_READ_CORRUPT,
 * with err saying why and where it went.  A missing file is
 * STATE_READ_ABSENT (err empty).  A file of ours with a looser mode is
 * chmod'ed to 0600.
 */
enum state_read state_read_json(const char *dir, const char *name,
	    size_t maxlen, int (*valid)(const json_t *, char *, size_t),
	    json_t **out, char *err, size_t errlen);

/*
 * As state_read_json() for a reader that changes nothing and may not own
 * the files (`keyhealthd check`): no mode is fixed and nothing is moved
 * aside; a bad file is STATE_READ_CORRUPT with err saying so.
 */
enum state_read state_peek_json(const char *dir, const char *name,
	    size_t maxlen, json_t **out, char *err, size_t errlen);

/* "keys/<32 hex digits>.json" for a key ARN into buf (>= 43 bytes).
 * Returns 0, or -1 when buf is too small or hashing failed. */
int	state_key_filename(const char *arn, char *buf, size_t len);

/*
 * The key state files there are, by the names state_key_filename() gives
 * ("keys/<hash>.json"), sorted, into *names (free with
 * state_key_names_free()): one listing instead of looking for the file
 * of each of 100,000 new keys at start-up.  0 (no keys directory: none),
 * or -1 when it cannot be listed: then look for each file.
 */
int	state_key_names(const char *dir, char ***names, size_t *n);
/* Whether name is in a list from state_key_names(). */
int	state_key_names_has(char * const *names, size_t n, const char *name);
void	state_key_names_free(char **names, size_t n);

/* Frees what k owns (not k) and zeroes it.  NULL is fine. */
void	state_key_free(struct state_key *k);

/*
 * Records a poll's outcome in k: polled_at, KeyState (or NULL when
 * DescribeKey failed), worst severity and a copy of the findings.
 * Returns 0, or -1 when out of memory (k unchanged).
 */
int	state_key_set_result(struct state_key *k,
	    const struct key_snapshot *snap, const struct findings *fs);

/* The file form of k (see above); a new reference, or NULL (no memory,
 * or a baseline whose text is not held: check_baseline_drop_text()). */
json_t	*state_key_to_json(const struct state_key *k);

/* Fills out (zeroed first; free with state_key_free()) from the file
 * form.  Returns 0, or -1 with what is wrong with its shape in err. */
int	state_key_from_json(const json_t *j, struct state_key *out, char *err,
	    size_t errlen);

/* Writes k to dir/keys/<hash>.json atomically; 0 or -1 with err. */
int	state_key_save(const char *dir, const struct state_key *k, char *err,
	    size_t errlen);

/*
 * Reads the state of the key arn into out (free with state_key_free()).
 * STATE_READ_ABSENT and STATE_READ_CORRUPT (moved aside, err says so)
 * leave out zeroed except for out->arn: start with no baseline.  A file
 * holding another ARN than its name says is corrupt.
 */
enum state_read state_key_load(const char *dir, const char *arn,
	    struct state_key *out, char *err, size_t errlen);

/*
 * As state_key_load() for `keyhealthd check`, which writes nothing and
 * may run as another user than the daemon: no repairs (no mode fixed,
 * nothing moved aside); a file it cannot use is STATE_READ_CORRUPT with
 * err saying so.  out is zeroed unless STATE_READ_OK (out->arn too).
 */
enum state_read state_key_peek(const char *dir, const char *arn,
	    struct state_key *out, char *err, size_t errlen);

/*
 * Saves every key; one failing key does not stop the others.  Returns 0,
 * or -1 with the first failure in err.
 */
int	state_keys_save(const char *dir, const struct state_key *v, size_t n,
	    char *err, size_t errlen);

/*
 * Loads every key file under dir/keys into a new array *v of *n keys
 * (the caller frees each with state_key_free() and then free(*v)).
 * Corrupt files are moved aside, reported to warn (may be NULL) and
 * skipped.  Returns 0, or
 * -1 with err when the directory can't be read or out of memory.
 */
int	state_keys_load(const char *dir, struct state_key **v, size_t *n,
	    state_warn_cb warn, void *warnarg, char *err, size_t errlen);

/* "grants/<32 hex digits>.json" for a key ARN into buf (>= 45 bytes).
 * 0, or -1. */
int	state_grants_filename(const char *arn, char *buf, size_t len);

/* The grants file of arn holding set (canonical, sorted) of digest md;
 * a new reference, or NULL when out of memory. */
json_t	*state_grants_to_json(const char *arn, const json_t *set,
	    const unsigned char md[KMS_GRANTS_DIGEST_LEN], time_t accepted_at);

/*
 * Reads the grants file of arn into *set (a new reference) and its
 * digest into md, checked against the grants it holds.  repair 1 moves a
 * bad file aside (as state_read_json()), 0 only reports it
 * (state_peek_json(), for `check`).  STATE_READ_OK, or another value
 * with err set (empty for STATE_READ_ABSENT).
 */
enum state_read state_grants_load(const char *dir, const char *arn,
	    int repair, json_t **set, unsigned char md[KMS_GRANTS_DIGEST_LEN],
	    char *err, size_t errlen);

#endif
