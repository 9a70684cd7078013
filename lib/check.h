/*
 * The health checks: pure functions of (key snapshot, baseline,
 * expectations, now) -> findings.  No I/O, no clock, no logging: the
 * daemon polls KMS into a key_snapshot, calls check_key(), hands the
 * findings to the alert state machine, then check_update_baseline() and
 * saves the baseline (lib/state).
 *
 * Check ids and severities are lib/catalog's table; its CHECK_* macros
 * spell the ids once.
 */
#ifndef KEYHEALTHD_CHECK_H
#define KEYHEALTHD_CHECK_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "catalog.h"
#include "check_usage.h"
#include "finding.h"
#include "keyid.h"
#include "kms.h"
#include "kms_fault.h"
#include "kms_grants.h"

struct check_cache;
struct kms_keystore;
struct kms_materials;
struct vendor;

/*
 * The grants part of a snapshot: a summary of the key's grants as
 * ListGrants gave them, never the grants themselves (a key can hold
 * thousands; the daemon keeps this between fetches).  When the set
 * differs from the baseline's (md != the baseline's digest), the daemon
 * diffs it against the baseline set on disk and keeps only the
 * difference.  Owned by the snapshot.
 */
struct key_grants {
	size_t		 n;		/* grants on the key */
	size_t		 nvendor;	/* of which the vendor's */
	unsigned char	 md[KMS_GRANTS_DIGEST_LEN];	/* kms_grants_digest() */
	/* The diff against the baseline (when md is not its digest):
	 * arrays of canonical grants, or NULL.  A baseline accepted since
	 * makes the daemon list the grants again at the next poll. */
	int		 diffed;
	json_t		*removed;	/* the baseline's, gone */
	json_t		*added;		/* not in the baseline */
	char		*base_err;	/* the baseline set can't be read */
};

/* Imported key material: warn this long before ValidTo (unless the
 * expectation says otherwise), critical under CHECK_EXPIRY_CRITICAL. */
#define CHECK_EXPIRY_WARNING_DEFAULT	(30 * 86400)
#define CHECK_EXPIRY_CRITICAL		(7 * 86400)

/* Summaries are one line of at most this many bytes. */
#define CHECK_SUMMARY_MAX		400

/* SHA-256, the digest by which policy texts are compared. */
#define CHECK_DIGEST_LEN	32

/*
 * Everything one poll learned about a key.  Each part has its own
 * error record (lib/kms_fault.h: 24 bytes, the text allocated only on an
 * error); cls KMS_OK means the part is valid.
 *
 * Rotation status and the alias are polled less often than DescribeKey
 * (hourly, say).  A part that was not polled this time has *_known == 0
 * and its checks stay quiet: no rotation-disabled, no key-replaced, and no
 * check-failed for it.  That would make a firing rotation-disabled or
 * key-replaced "resolve" between two hourly polls, so the daemon carries
 * the last known part over with check_snapshot_carry() (the part keeps the
 * time it was fetched, *_at).  A part whose fetch failed has *_known == 1
 * and its error set.
 *
 * The policy is fetched every poll; policy_known == 0 means the daemon
 * did not ask (e.g. it stopped after DescribeKey said NotFound).
 *
 * Everything here is owned by the snapshot: free with
 * check_snapshot_free().  A zeroed struct is an empty snapshot.
 */
struct key_snapshot {
	time_t			 polled_at;

	/* DescribeKey(configured key ARN). */
	struct kms_key_meta	 meta;
	struct kms_fault	 describe_err;

	/* GetKeyPolicy(default). */
	int			 policy_known;
	char			*policy;	/* JSON text; NULL on error */
	/* Its SHA-256 when policy_md_set (check_snapshot_set_policy()):
	 * taken once per poll, however many checks compare it. */
	unsigned char		 policy_md[CHECK_DIGEST_LEN];
	int			 policy_md_set;
	struct kms_fault	 policy_err;

	/* GetKeyRotationStatus. */
	int			 rotation_known;
	time_t			 rotation_at;	/* when it was fetched */
	struct kms_rotation	 rotation;
	struct kms_fault	 rotation_err;

	/* DescribeKey(alias): the key the configured alias points to.
	 * NotFound in alias_err means the alias no longer exists. */
	int			 alias_known;
	time_t			 alias_at;
	char			*alias_key_arn;	/* target KeyMetadata.Arn */
	char			*alias_key_id;	/* target KeyMetadata.KeyId */
	struct kms_fault	 alias_err;

	/* ListKeyRotations (ALL_KEY_MATERIAL) of a key with imported
	 * material (Origin EXTERNAL): a slow part fetched with rotation
	 * status and carried over like it.  NULL: never fetched; else its
	 * err says whether the fetch worked.  One allocation (compact
	 * records), owned. */
	struct kms_materials	*materials;
	time_t			 materials_at;

	/* DescribeCustomKeyStores of meta.custom_key_store_id, shared by
	 * the store's keys: the snapshot holds one reference.  NULL: the
	 * key has no store, or it was not fetched. */
	struct kms_keystore	*keystore;

	/* GetKeyLastUsage, only with expect_use_within: a slow part too
	 * (carried over, fetched hourly), allocated so that keys without
	 * the option pay one pointer.  NULL: not fetched yet. */
	struct key_usage	*usage;

	/* ListGrants, every grants_interval, carried like the slow parts:
	 * grants_err NULL and grants set when it was fetched fine. */
	int			 grants_known;
	time_t			 grants_at;
	struct kms_error	*grants_err;
	struct key_grants	*grants;
};

/*
 * The configured expectations for a key.  Everything is borrowed from
 * the caller (the config) and must outlive the check_key() call.
 */
struct key_expect {
	struct keyid		 id;		/* the configured key */
	const struct vendor	*vendor;	/* NULL: no vendor checks */
	const char		*alias;		/* "alias/x"; NULL: none */
	int			 expect_rotation;
	/* Seconds before ValidTo to warn; 0: the default (30 days).
	 * Under CHECK_EXPIRY_CRITICAL (7 days) it is critical anyway. */
	long			 material_expiry_warning;
	/* key-unused after this many seconds without a successful
	 * cryptographic use; 0: off (no GetKeyLastUsage at all). */
	long			 expect_use_within;
	/* A multi-Region replica watched through its primary: the
	 * primary's ARN (details.primary of every finding); else NULL. */
	const char		*primary;
};

/*
 * What was accepted as normal for a key.  Owned strings; free with
 * check_baseline_free().  A zeroed struct is "no baseline yet".
 *
 * Digest in memory, text on disk: the accepted policy is compared by
 * its SHA-256 (policy_md), so a long-running holder (the daemon, 10,000
 * keys and more) keeps the texts only until they are in the key's state
 * file (check_baseline_drop_text()), and reads them back from there when
 * a difference must be shown (check_baseline_text_needed()) or the file
 * rewritten.  has_policy with policy NULL is such a baseline.
 */
struct key_baseline {
	int	 has_policy;		/* a policy baseline exists */
	char	*policy;		/* accepted policy, JSON text; NULL:
					 * on disk only (see above) */
	char	*policy_canonical;	/* policy_canonical() of it */
	unsigned char policy_md[CHECK_DIGEST_LEN];	/* SHA-256 of policy
					 * (check_baseline_digest()) */
	time_t	 accepted_at;
	char	*material_id;		/* last seen CurrentKeyMaterialId,
					   NULL: not known yet */
	time_t	 material_seen_at;
	/* The accepted grants: their digest and counts; the set itself is
	 * on disk (state_grants_save()), read only to show a diff. */
	int	 has_grants;
	unsigned char grants_md[KMS_GRANTS_DIGEST_LEN];
	size_t	 grants_n;
	size_t	 grants_nvendor;
	time_t	 grants_accepted_at;
};

/* Frees what s owns (not s itself) and zeroes it.  NULL is fine. */
void	check_snapshot_free(struct key_snapshot *s);

/*
 * Frees what a snapshot no longer needs once its checks have run and
 * its result is recorded: the policy text (the next poll is compared by
 * digest) and DescribeKey's metadata except KeyState (what /status and
 * the next poll's "state changed" read), ValidTo and, for imported
 * material, the current material's id (what says the material list is
 * stale) and, for a multi-Region replica, its type and primary's ARN
 * (check_key_json()'s "primary").  The error records, the slow
 * parts (carried to the next poll) and polled_at stay.  A part added to
 * the snapshot decides here what of it outlives the poll.
 */
void	check_snapshot_trim(struct key_snapshot *s);

/* Gives s the policy text (owned from now on; NULL is none) and takes
 * its digest.  A snapshot whose policy was set otherwise has it taken
 * by each check that needs it. */
void	check_snapshot_set_policy(struct key_snapshot *s, char *text);

/*
 * For each part that cur did not poll (rotation_known / alias_known 0),
 * copies prev's part into cur, keeping prev's *_at time.  Parts cur
 * polled are left alone.  Returns 0, or -1 when out of memory (cur is
 * then unchanged for the part that failed).
 */
int	check_snapshot_carry(struct key_snapshot *cur,
	    const struct key_snapshot *prev);

/* Frees what b owns (not b itself) and zeroes it.  NULL is fine. */
void	check_baseline_free(struct key_baseline *b);

/* Sets b->policy_md from b->policy (a baseline read from a file); 0, or
 * -1 when hashing failed.  check_*_baseline() set it themselves. */
int	check_baseline_digest(struct key_baseline *b);

/* Frees the baseline's texts, keeping its digest: the caller knows they
 * are on disk.  Nothing happens without a policy baseline. */
void	check_baseline_drop_text(struct key_baseline *b);

/*
 * Whether check_key_cached() with this snapshot, baseline and cache
 * needs the baseline's text, which b does not hold: the snapshot's
 * policy differs from it (by digest) and the cache has no verdict for
 * this pair.  1 yes (read it back, e.g. from the state file), 0 no.
 */
int	check_baseline_text_needed(const struct key_snapshot *s,
	    const struct key_baseline *b, const struct check_cache *c);

/*
 * Evaluates every check of the catalogue and appends the findings to out
 * (at most one finding per check id).  base may be NULL (no baseline).
 * Findings:
 *   key-deleted          DescribeKey NotFound; policy, vendor, rotation and
 *                        material checks are then quiet; key-replaced only
 *                        when the alias now points at another, existing key.
 *   key-disabled         KeyState Disabled (not PendingDeletion).
 *   key-pending-deletion details deletion_date (RFC 3339, null if KMS sent
 *                        none) and days_left = floor((DeletionDate - now) /
 *                        86400), never below 0.
 *   key-pending-replica-deletion, key-unavailable (Unavailable,
 *                        PendingImport).  Creating and Updating are
 *                        transient and quiet; any other state is
 *                        check-failed naming it.
 *   key-material-expiring the earliest ValidTo of DescribeKey (when
 *                        ExpirationModel KEY_MATERIAL_EXPIRES) and of
 *                        every imported material in use (CURRENT or
 *                        NON_CURRENT) in the material list: warning
 *                        inside the warning window, critical under 7 days
 *                        and once past ValidTo; details name the
 *                        material; quiet for keys pending (replica)
 *                        deletion (lib/check_material.c).
 *   key-material-pending a material of the list has ImportState
 *                        PENDING_IMPORT; same quiet states.
 *   keystore-disconnected the key's custom key store is not CONNECTED.
 *   key-replaced         the alias resolves to another key, or the alias no
 *                        longer exists (details alias_exists false).
 *   vendor-access-missing the policy denies the vendor's account an action
 *                        (details list each missing action and why); "cannot
 *                        tell" is check-failed with the evaluator's reason.
 *   key-misconfigured    KeySpec/KeyUsage other than the vendor's, KeyManager
 *                        AWS, or a region the vendor does not serve (then
 *                        vendor-access-missing is not evaluated).
 *   policy-changed       semantically different from the accepted baseline;
 *                        details.diff is an array of readable lines.
 *   rotation-disabled    expect_rotation, key Enabled, rotation known off (or
 *                        UnsupportedOperationException: this key can't
 *                        rotate automatically).
 *   key-material-rotated (info) both the baseline's material id and the
 *                        current one known, and different.
 *   key-unused           expect_use_within, key Enabled, usage fetched:
 *                        check_usage_finding() (details verdict,
 *                        operation, last_used_at, age_seconds, ...).
 *   vendor-grant-revoked grants of the vendor's account for the key's region
 *                        (grantee or issuing account) in the grants
 *                        baseline are gone: critical when the vendor has no
 *                        grant left, else warning.
 *   grant-changed        grants of other principals added to or gone from
 *                        the baseline; details.diff lines "- grant ..." and
 *                        "+ grant ...".
 *   check-failed         (unknown) one finding for every failed operation
 *                        that matters: details code, class, operation,
 *                        message, status, attempts (the first failure) and
 *                        errors (all of them).  operation is DescribeKey,
 *                        DescribeKey(alias), GetKeyPolicy,
 *                        GetKeyRotationStatus, ListKeyRotations,
 *                        DescribeCustomKeyStores, GetKeyLastUsage,
 *                        ListGrants, GrantsBaseline (stored grants
 *                        unreadable), PolicyEvaluation (policy
 *                        does not parse, or "cannot tell") or PolicyBaseline
 *                        (stored baseline unreadable; class "evaluation").
 *                        A KMS failure's summary names the operation, the
 *                        error code and what to look at.  Not raised
 *                        for: GetKeyPolicy or GetKeyRotationStatus
 *                        KMSInvalidStateException on a key that is not
 *                        Enabled; any error of a deleted key's other
 *                        parts; rotation errors without expect_rotation.
 *   A multi-Region replica's findings all carry details.primary, its
 *   primary's ARN (check_replica.h).
 * Returns 0, or -1 when out of memory (out may then hold some findings;
 * the caller clears it).
 */
int	check_key(const struct key_snapshot *snap,
	    const struct key_baseline *base, const struct key_expect *exp,
	    time_t now, struct findings *out);

/*
 * A memo of the policy part of check_key() for one key (its vendor
 * access and policy-changed findings): they depend only on the policy
 * text, the baseline's text and the expectations, so a poll that brings
 * the same text as the last one against the same baseline reuses them
 * instead of parsing and evaluating the policy again (the bulk of a
 * poll's CPU).  Texts are compared by SHA-256.  A zeroed struct is an
 * empty cache; the expectations must stay the same for its life (start
 * a new one when the configuration changes).
 */
struct check_cache {
	int		 valid;
	int		 region_ok;
	unsigned char	 policy_md[CHECK_DIGEST_LEN];
	unsigned char	 base_md[CHECK_DIGEST_LEN];
	struct findings	 fs;
};

/* Frees what c owns (not c) and zeroes it.  NULL is fine. */
void	check_cache_free(struct check_cache *c);

/* check_key() with a cache (NULL: none); same results. */
int	check_key_cached(const struct key_snapshot *snap,
	    const struct key_baseline *base, const struct key_expect *exp,
	    time_t now, struct check_cache *cache, struct findings *out);

/*
 * Updates the baseline after a poll (call it after check_key(), so that
 * the poll is compared with the old baseline).
 *  - No policy baseline yet and the snapshot has a policy that parses:
 *    it becomes the baseline (accepted_at = now), whatever it grants:
 *    vendor access is judged on its own, the baseline is only for drift.
 *    An existing policy baseline is never replaced here: only
 *    check_accept_baseline() does.
 *  - CurrentKeyMaterialId known: stored as the last seen id on every poll,
 *    so key-material-rotated fires on exactly one poll per rotation.
 * *changed (may be NULL) is set to 1 when b changed (save it), else 0.
 * Returns 0, or -1 when out of memory (b stays consistent: each part is
 * either the old or the new one).
 */
int	check_update_baseline(struct key_baseline *b,
	    const struct key_snapshot *snap, time_t now, int *changed);

/*
 * Grants (check_grants.c).  The daemon fetches the set (kms_grants.h),
 * summarises it, diffs it against the baseline set when the digests
 * differ, and keeps only the summary in the snapshot.
 */
/* Frees g and what it owns; NULL is fine. */
void	check_grants_free(struct key_grants *g);
/* The summary of a set of canonical grants (sorted here, in place):
 * count, the grants of vendor_account (NULL: none), digest.  A new
 * summary, or NULL when out of memory. */
struct key_grants *check_grants_summary(json_t *set,
	    const char *vendor_account);
/* Whether g must be diffed against the baseline set: base has grants
 * and their digest is not g's. */
int	check_grants_need_diff(const struct key_grants *g,
	    const struct key_baseline *base);
/* Records in g the diff of set (its set, sorted by
 * check_grants_summary()) against base_set (the baseline's, sorted), or,
 * base_set NULL, why that could not be read (base_err).  0, or -1 when
 * out of memory. */
int	check_grants_diff(struct key_grants *g, const json_t *base_set,
	    const json_t *set, const char *base_err);
/* Makes g's set the grants baseline of b (accepted_at now); the caller
 * saves the set itself (state_grants_save()). */
void	check_grants_accept(struct key_baseline *b,
	    const struct key_grants *g, time_t now);

/*
 * `keyhealthd baseline accept`: replaces the policy baseline with the
 * snapshot's policy (and records its material id).  Returns 0, or -1 with
 * a reason in err (no policy in the snapshot, it does not parse, out of
 * memory); b keeps its old policy baseline on failure.
 */
int	check_accept_baseline(struct key_baseline *b,
	    const struct key_snapshot *snap, time_t now, char *err,
	    size_t errlen);

/*
 * A key's result for `keyhealthd check --json` and /status:
 * {"arn", "name", "region", "account", "status", "state", "polled_at",
 *  "findings": [{"check","severity","summary","details"}...]}, and
 * "usage" (check_usage_json()) once GetKeyLastUsage answered for a key
 * with expect_use_within.
 * status is the worst severity's name ("ok" when there are none); state
 * the KeyState, "NotFound" when DescribeKey said so, else null; polled_at
 * RFC 3339 or null; "primary" too for a multi-Region replica
 * (check_replica_primary()).  snap may be NULL.  A new reference, or NULL
 * when out of memory.
 */
json_t	*check_key_json(const struct key_expect *exp,
	    const struct key_snapshot *snap, const struct findings *fs);

/* The configured key's label: keyid_name() of exp->id. */
const char *check_key_name(const struct key_expect *exp);

/* "2026-11-28T21:44:09Z" into buf (at least 21 bytes); buf, or "" when t
 * can't be represented. */
const char *check_rfc3339(time_t t, char *buf, size_t len);

#endif
