/*
 * The vendor-usage heartbeat (key-unused), pure: a key's last successful
 * cryptographic use as GetKeyLastUsage reported it, judged against the
 * configured expect_use_within.  KMS tracks usage per key (not per
 * principal: any caller's use counts) from TrackingStartDate, the later
 * of the key's creation and the day tracking began; multi-Region primary
 * and replica keys track independently.
 */
#ifndef KEYHEALTHD_CHECK_USAGE_H
#define KEYHEALTHD_CHECK_USAGE_H

#include <time.h>

#include <jansson.h>

#include "finding.h"
#include "kms.h"

/*
 * One fetch of GetKeyLastUsage, compact: kept per key (only for keys with
 * expect_use_within) between the hourly fetches, so no texts beyond the
 * operation name and the two ids an SRE looks up in CloudTrail.
 */
struct key_usage {
	time_t		 fetched_at;
	/* KMS's clock minus ours when fetched (the client's skew): its
	 * timestamps are judged by its clock. */
	double		 skew;
	struct kms_error *err;		/* the fetch failed (owned: a failure
					 * is rare and short-lived); NULL:
					 * the fields below hold the answer */
	int		 used;		/* a use is recorded */
	double		 last_used;	/* its Timestamp */
	double		 tracking_start;
	double		 key_creation;	/* KeyCreationDate; 0 absent */
	char		 operation[40];
	char		 event_id[40];	/* CloudTrailEventId */
	char		 request_id[40];	/* KmsRequestId */
};

/* What the record says about use within the window. */
enum check_usage_verdict {
	CHECK_USAGE_RECENT,	/* used within it */
	CHECK_USAGE_STALE,	/* last used longer ago */
	CHECK_USAGE_NEVER,	/* created after tracking began, never used,
				 * older than the window */
	CHECK_USAGE_NONE_SINCE,	/* created before tracking began, no use
				 * since it began, longer ago than the
				 * window */
	CHECK_USAGE_UNKNOWN	/* cannot tell: tracking (or the key) is
				 * younger than the window and nothing is
				 * recorded, or the dates are missing */
};

/* A new record of a successful answer (err NULL or KMS_OK) or of a
 * failed fetch, at our time at, KMS's clock being skew seconds ahead of
 * ours; NULL when out of memory.  Free with check_usage_free(). */
struct key_usage *check_usage_new(const struct kms_key_usage *a,
	    const struct kms_error *err, time_t at, double skew);
/* A deep copy, or NULL when out of memory. */
struct key_usage *check_usage_dup(const struct key_usage *u);
/* Frees u and what it owns; NULL is fine. */
void	check_usage_free(struct key_usage *u);

/*
 * The verdict for window seconds at now (our clock; u->skew is added).  created is the key's creation
 * date (KeyCreationDate, else DescribeKey's CreationDate; 0 unknown).
 * *since (may be NULL) is set to what the age counts from: the last use,
 * the creation or the tracking start; 0 for UNKNOWN.
 */
enum check_usage_verdict check_usage_judge(const struct key_usage *u,
	    double created, long window, time_t now, double *since);

/* "recent", "stale", "never-used", "no-use-since-tracking", "unknown". */
const char *check_usage_verdict_name(enum check_usage_verdict);

/*
 * key-unused (warning) for the verdicts STALE, NEVER and NONE_SINCE,
 * appended to out; nothing for the others.  name is the key's label.
 * 0, or -1 when out of memory.
 */
int	check_usage_finding(const struct key_usage *u, const char *name,
	    double created, long window, time_t now, struct findings *out);

/*
 * The record for `check --json` and /status: {"verdict", "last_used_at",
 * "operation", "cloudtrail_event_id", "kms_request_id",
 * "tracking_start_date", "key_creation_date", "fetched_at",
 * "expect_use_within"}, times RFC 3339 or null.  A new reference, or
 * NULL when out of memory.
 */
json_t	*check_usage_json(const struct key_usage *u, double created,
	    long window, time_t now);

#endif
