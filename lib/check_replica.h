/*
 * Multi-Region keys (pure): which replicas of a primary to watch, and the
 * primary's ARN in a replica's findings.  KMS copies neither the key
 * policy nor the state of a multi-Region primary to its replicas, so the
 * daemon polls each replica under its own ARN; this is the part of that
 * which needs no loop.
 */
#ifndef KEYHEALTHD_CHECK_REPLICA_H
#define KEYHEALTHD_CHECK_REPLICA_H

#include <stddef.h>

#include "check.h"

/*
 * The primary of the key a poll was about: exp->primary (a replica the
 * daemon derived from its primary), else, when DescribeKey answered that
 * the key is a REPLICA, its PrimaryKey.Arn; NULL for any other key.
 * Points into exp or snap (which may be NULL).
 */
const char	*check_replica_primary(const struct key_expect *exp,
		    const struct key_snapshot *snap);

/*
 * Sets details.primary of findings [first, fs->n) to primary (NULL:
 * nothing to do).  0, or -1 when out of memory.
 */
int		 check_replica_annotate(struct findings *fs, size_t first,
		    const char *primary);

/*
 * The replicas to watch for the key self_arn, from its DescribeKey
 * answer m: ReplicaKeys when m says the key is a PRIMARY, else none.
 * An entry is skipped when it is not a key ARN of the primary's
 * partition and account in another Region, or repeats an earlier one.
 * Fills out[] (at most max pointers into m) and returns how many.
 */
size_t		 check_replica_list(const struct kms_key_meta *m,
		    const char *self_arn, const char **out, size_t max);

#endif
