/*
 * The replicas of multi-Region primaries, watched as keys of their own
 * (origin "replica").  KMS copies neither a primary's key policy nor its
 * state to its replicas: a replica can be disabled, scheduled for
 * deletion or lose the vendor's statement while its primary is healthy.
 * Each poll of a configured primary (with replicas: watch) lists its
 * replicas; those not watched yet are added, those no longer listed
 * dropped (their alerts resolve).  A replica is polled like a configured
 * key, signed for its own Region, through its own endpoint, with the
 * primary's credentials, vendor and interval; a replica in a Region the
 * vendor does not serve is only state-checked (DescribeKey).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_replica.h"
#include "config.h"
#include "log.h"
#include "vendor.h"
#include "keyhealthd.h"

struct config_key *
replica_ck_new(const struct config_key *pck, const char *arn)
{
	struct config_key	*ck;
	char			 err[256];
	int			 bad = 0;

	if ((ck = calloc(1, sizeof(*ck))) == NULL)
		return NULL;
	/* The primary's settings, every string its own (kh_ck_free()), as
	 * a discovered key's entry: a run-time key owns its entry. */
	ck->interval = pck->interval;
	ck->expect_rotation = 0;	/* rotation is the primary's */
	ck->replicas = 0;
	ck->line = pck->line;
	ck->column = pck->column;
	ck->aws.use_fips = pck->aws.use_fips;
	ck->aws.allow_http = pck->aws.allow_http;
	ck->aws.profile = kh_strdup0(pck->aws.profile, &bad);
	ck->aws.region = kh_strdup0(pck->aws.region, &bad);
	ck->aws.endpoint_url = kh_strdup0(pck->aws.endpoint_url, &bad);
	ck->aws.sts_endpoint_url = kh_strdup0(pck->aws.sts_endpoint_url,
	    &bad);
	ck->aws.assume_role = kh_strdup0(pck->aws.assume_role, &bad);
	ck->aws.ca_file = kh_strdup0(pck->aws.ca_file, &bad);
	/* aliases are per Region: none */
	if (bad || (ck->arn = strdup(arn)) == NULL ||
	    arn_parse(ck->arn, &ck->parsed, err, sizeof(err)) == -1 ||
	    asprintf(&ck->name, "%s@%s", pck->name, ck->parsed.region) ==
	    -1) {
		ck->name = NULL;	/* asprintf() failed or never ran */
		kh_ck_free(ck);
		return NULL;
	}
	if (pck->vendor != NULL &&
	    vendor_account(pck->vendor, ck->parsed.region) != NULL) {
		ck->vendor = pck->vendor;
		if ((ck->vendor_name = kh_strdup0(pck->vendor_name,
		    &bad)) == NULL && bad) {
			kh_ck_free(ck);
			return NULL;
		}
	}
	return ck;
}

void
replica_setup(struct kh_key *k, struct kh_key *primary)
{
	k->primary = primary;
	k->expect.primary = primary->ck->arn;
	/* Where the vendor has no account, there is no access to judge:
	 * its policy is not fetched either. */
	k->state_only = primary->ck->vendor != NULL && k->ck->vendor == NULL;
}

long
replica_kept(const struct config *conf, const struct kh_key *k)
{
	const struct config_key	*pck;

	if (k->origin != KH_ORIGIN_REPLICA || k->primary == NULL)
		return -1;
	pck = config_key_find(conf, k->primary->ck->arn);
	if (pck == NULL || strcmp(pck->arn, k->primary->ck->arn) != 0 ||
	    !config_key_replicas(conf, pck) ||
	    config_key_find(conf, k->ck->arn) != NULL)
		return -1;
	return (long)(pck - conf->keys);
}

static struct kh_key *
replica_add(struct kh *kh, struct kh_key *primary, const char *arn)
{
	struct kh_key		*k;
	char			 err[256];

	if ((k = kh_key_add(kh, replica_ck_new(primary->ck, arn),
	    KH_ORIGIN_REPLICA, err, sizeof(err))) == NULL) {
		log_warnx("key %s: out of memory: its replica %s is not "
		    "watched", kh_key_name(primary), arn);
		return NULL;
	}
	replica_setup(k, primary);
	if (k->state_only)
		log_info("key %s: watching its replica %s as %s, its state "
		    "only (vendor %s has no account in %s)",
		    kh_key_name(primary), arn, kh_key_name(k),
		    primary->ck->vendor_name, k->ck->parsed.region);
	else
		log_info("key %s: watching its replica %s as %s",
		    kh_key_name(primary), arn, kh_key_name(k));
	return k;
}

void
replica_sync(struct kh_key *p)
{
	struct kh		*kh = p->kh;
	const char		*want[KMS_MAX_REPLICAS];
	struct kh_key		*k;
	size_t			 nwant = 0, i, j, n;

	if (p->origin != KH_ORIGIN_CONFIG || !p->have_snap || kh->stopping) {
		kms_key_meta_free_replicas(&p->snap.meta);
		return;
	}
	if (p->snap.describe_err.cls == KMS_OK) {
		if (config_key_replicas(kh->conf, p->ck))
			nwant = check_replica_list(&p->snap.meta, p->ck->arn,
			    want, KMS_MAX_REPLICAS);
	} else if (p->snap.describe_err.cls != KMS_ERR_NOT_FOUND)
		return;		/* nothing known: keep what is watched */
	/* A deleted primary has no replicas left (KMS deletes a primary
	 * only after them), so nwant stays 0. */

	for (i = kh->nconfigured; i < kh->nkeys; i++) {
		k = kh->keys[i];
		if (k->primary != p)
			continue;
		for (j = 0; j < nwant && (want[j] == NULL ||
		    strcmp(want[j], k->ck->arn) != 0); j++)
			;
		if (j < nwant) {
			want[j] = NULL;		/* watched already */
			k->drop = 0;
			continue;
		}
		if (k->drop)
			continue;
		log_info("key %s: %s is no longer listed among its replicas: "
		    "no longer watched", kh_key_name(p), k->ck->arn);
		n = kh->nkeys;
		kh_key_drop(k);
		/* Dropped now (not in flight): the next key took its place. */
		if (kh->nkeys < n)
			i--;
	}
	for (j = 0; j < nwant; j++) {
		/* A replica also listed under keys: is watched as such. */
		if (want[j] == NULL || kh_key_find(kh, want[j]) != NULL)
			continue;
		if ((k = replica_add(kh, p, want[j])) != NULL &&
		    kh->on_key_added != NULL)
			kh->on_key_added(kh, k);
	}
	/* The list has served (a few ARNs per primary, every poll). */
	kms_key_meta_free_replicas(&p->snap.meta);
}

/*
 * A replica is deleted only after its waiting period, through which
 * key-pending-deletion fired; once gone it is no longer part of the key.
 * Whichever notices first, its own poll (here) or its primary's (no
 * longer listed), it stops being watched and its alerts resolve: never a
 * key-deleted that would depend on which poll came first.  Should the
 * primary still list it, its next poll adds it back.
 */
int
replica_vanished(struct kh_key *k)
{
	if (k->origin != KH_ORIGIN_REPLICA ||
	    k->snap.describe_err.cls != KMS_ERR_NOT_FOUND)
		return 0;
	log_info("key %s: replica %s no longer exists: no longer watched",
	    kh_key_name(k), k->ck->arn);
	return 1;
}

int
replica_adopt(struct kh *kh, const char *arn)
{
	struct arn	 a;
	const struct arn *pa;
	struct kh_key	*p, *k;
	char		 err[256];
	size_t		 i;

	/* Every key of a multi-Region key has the same "mrk-" key id. */
	if (arn_parse(arn, &a, err, sizeof(err)) == -1 ||
	    a.kind != ARN_KMS_KEY || strncmp(a.resource, "mrk-", 4) != 0)
		return 0;
	for (i = 0; i < kh->nconfigured && i < kh->nkeys; i++) {
		p = kh->keys[i];
		pa = &p->ck->parsed;
		if (strcmp(pa->resource, a.resource) != 0 ||
		    strcmp(pa->account, a.account) != 0 ||
		    strcmp(pa->partition, a.partition) != 0 ||
		    strcmp(pa->region, a.region) == 0 ||
		    !config_key_replicas(kh->conf, p->ck))
			continue;
		/* Its primary's first poll confirms it or drops it. */
		if ((k = replica_add(kh, p, arn)) == NULL)
			return 0;
		if (kh->on_key_added != NULL)
			kh->on_key_added(kh, k);
		return 1;
	}
	return 0;
}
