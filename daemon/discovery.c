/*
 * Key discovery on the loop: for each account (an aws: block) and region,
 * ListAliases and ListKeys (every page), then DescribeKey and, for
 * customer managed keys, GetKeyPolicy of each listed key, a few keys at a
 * time so that the polls sharing the rate limiter's queue are never held
 * behind a whole account's keys.  lib/discover decides which vendor a
 * policy names; the caller (`keyhealthd discover`, `check`, the daemon)
 * decides what a found key becomes.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "creds.h"
#include "discover.h"
#include "endpoint.h"
#include "log.h"
#include "vendor.h"
#include "keyhealthd.h"

/* Credentials being fetched (an assumed role): asked again this often,
 * this many times, before the scan is given up. */
#define DISC_CREDS_RETRY_MS	500
#define DISC_CREDS_TRIES	120

enum disc_kind {
	DISC_LIST_KEYS,
	DISC_LIST_ALIASES,
	DISC_DESCRIBE,
	DISC_POLICY
};

/* One request in flight; outlives a cancelled discovery (d NULL) until
 * the KMS client calls back. */
struct disc_req {
	TAILQ_ENTRY(disc_req)	 entry;
	struct discovery	*d;
	enum disc_kind		 kind;
	size_t			 key;		/* into the scan's keys */
	struct kms_key_meta	 meta;		/* DESCRIBE's answer */
};
TAILQ_HEAD(disc_reqs, disc_req);

/* One account x region. */
struct disc_scan {
	size_t			 source;	/* accounts index */
	const char		*region;
	struct config_key	 ck;		/* aws and region, for the
						 * endpoint and credentials */
	struct kh_creds		*creds;
	char			 url[512];
	char			 url_err[256];	/* when there is no url */
};

struct discovery {
	struct kh		*kh;
	struct discovery_spec	 spec;
	struct discovery_cbs	 cbs;
	struct disc_scan	*scans;
	size_t			 nscans;
	size_t			 cur;
	struct event		*timer;
	struct disc_reqs	 reqs;
	int			 creds_tries;
	/* the current scan */
	struct kms_target	 target;
	struct keyid		 tid;		/* target's identity */
	struct kms_listed_key	*keys;
	size_t			 nkeys;
	size_t			 next;		/* next key to evaluate */
	struct kms_alias	*aliases;
	size_t			 naliases;
	int			 lists;		/* list requests in flight */
	size_t			 evals;		/* keys being evaluated */
	char			 err[640];	/* ListKeys's failure */
};

static void	disc_scan_start(struct discovery *);
static void	disc_pump(struct discovery *);

static void
disc_req_free(struct disc_req *r)
{
	kms_key_meta_free(&r->meta);
	free(r);
}

static void
disc_kms_cb(struct kms_result *res, void *arg);

/* Sends one request of the current scan; 0, or -1 (logged into d->err
 * for the lists, else the key is skipped). */
static int
disc_send(struct discovery *d, enum disc_kind kind, size_t key)
{
	struct disc_req	*r;
	char		 err[256];
	int		 rc = -1;
	const char	*arn = kind == DISC_LIST_KEYS ||
			    kind == DISC_LIST_ALIASES ? NULL : d->keys[key].arn;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	r->d = d;
	r->kind = kind;
	r->key = key;
	switch (kind) {
	case DISC_LIST_KEYS:
		rc = kms_list_keys(d->kh->kms, &d->target, disc_kms_cb, r, err,
		    sizeof(err));
		break;
	case DISC_LIST_ALIASES:
		rc = kms_list_aliases(d->kh->kms, &d->target, NULL,
		    disc_kms_cb, r, err, sizeof(err));
		break;
	case DISC_DESCRIBE:
		rc = kms_describe_key(d->kh->kms, &d->target, arn,
		    disc_kms_cb, r, err, sizeof(err));
		break;
	case DISC_POLICY:
		rc = kms_get_key_policy(d->kh->kms, &d->target, arn,
		    disc_kms_cb, r, err, sizeof(err));
		break;
	}
	if (rc == -1) {
		(void)snprintf(d->err, sizeof(d->err), "%s", err);
		free(r);
		return -1;
	}
	TAILQ_INSERT_TAIL(&d->reqs, r, entry);
	return 0;
}

static void
disc_count(struct discovery *d, const struct kms_error *e)
{
	if (e->cls != KMS_OK)
		kh_count_error(d->kh, e);
}

/* The vendors that serve region. */
static size_t
disc_vendors_of(struct discovery *d, const char *region,
    const struct vendor **out, size_t max)
{
	size_t	i, n = 0;

	for (i = 0; i < d->spec.nvendors && n < max; i++)
		if (vendor_account(d->spec.vendors[i], region) != NULL)
			out[n++] = d->spec.vendors[i];
	return n;
}

/* The policy of a customer managed key is in: does it name a vendor? */
static void
disc_policy_done(struct discovery *d, struct disc_req *r, const char *policy)
{
	struct disc_scan	*s = &d->scans[d->cur];
	struct discovery_found	 f;
	const struct vendor	*vs[64];
	const struct kms_alias	*al;
	size_t			 nv;
	char			 err[256];
	int			 i;

	nv = disc_vendors_of(d, s->region, vs, 64);
	if ((i = discover_match(policy, vs, nv, s->region, err,
	    sizeof(err))) == -2) {
		log_info("discover: key %s: its policy does not parse: %s",
		    d->keys[r->key].arn, err);
		return;
	}
	if (i < 0)
		return;
	memset(&f, 0, sizeof(f));
	f.arn = d->keys[r->key].arn;
	f.key_id = d->keys[r->key].key_id;
	f.region = s->region;
	f.vendor = vs[i];
	al = discover_alias(d->aliases, d->naliases, f.key_id);
	f.alias = al != NULL ? al->name : NULL;
	f.meta = &r->meta;
	f.policy = policy;
	f.source = s->source;
	f.aws = &s->ck.aws;
	d->cbs.found(d->cbs.arg, &f);
}

static void
disc_kms_cb(struct kms_result *res, void *arg)
{
	struct disc_req		*r = arg;
	struct discovery	*d = r->d;
	int			 key_done = 1;
	char			 err[256];

	if (d == NULL) {		/* the discovery was cancelled */
		disc_req_free(r);
		return;
	}
	TAILQ_REMOVE(&d->reqs, r, entry);
	disc_count(d, &res->err);
	switch (r->kind) {
	case DISC_LIST_KEYS:
		d->lists--;
		key_done = 0;
		if (res->err.cls != KMS_OK)
			(void)snprintf(d->err, sizeof(d->err), "ListKeys: %s: "
			    "%s", res->err.code, res->err.message);
		else {
			d->keys = res->keys;
			d->nkeys = res->nkeys;
			res->keys = NULL;
			res->nkeys = 0;
		}
		break;
	case DISC_LIST_ALIASES:
		d->lists--;
		key_done = 0;
		if (res->err.cls != KMS_OK)
			log_warnx("discover: %s: ListAliases: %s: %s; keys are "
			    "named by their ids", d->scans[d->cur].region,
			    res->err.code, res->err.message);
		else {
			d->aliases = res->aliases;
			d->naliases = res->naliases;
			res->aliases = NULL;
			res->naliases = 0;
		}
		break;
	case DISC_DESCRIBE:
		/* AWS managed keys cannot be shared with a vendor. */
		if (res->err.cls == KMS_OK && res->meta.key_manager != NULL &&
		    strcmp(res->meta.key_manager, "CUSTOMER") == 0) {
			r->meta = res->meta;
			memset(&res->meta, 0, sizeof(res->meta));
			r->kind = DISC_POLICY;
			TAILQ_INSERT_TAIL(&d->reqs, r, entry);
			if (kms_get_key_policy(d->kh->kms, &d->target,
			    d->keys[r->key].arn, disc_kms_cb, r, err,
			    sizeof(err)) == 0)
				return;
			TAILQ_REMOVE(&d->reqs, r, entry);
			log_warnx("discover: key %s: %s", d->keys[r->key].arn,
			    err);
		}
		break;
	case DISC_POLICY:
		if (res->err.cls == KMS_OK && res->policy != NULL)
			disc_policy_done(d, r, res->policy);
		else if (res->err.cls != KMS_OK)
			log_info("discover: key %s: GetKeyPolicy: %s: %s",
			    d->keys[r->key].arn, res->err.code,
			    res->err.message);
		break;
	}
	if (key_done)
		d->evals--;
	disc_req_free(r);
	disc_pump(d);
}

static void
disc_scan_clear(struct discovery *d)
{
	kms_listed_keys_free(d->keys, d->nkeys);
	kms_aliases_free(d->aliases, d->naliases);
	d->keys = NULL;
	d->nkeys = 0;
	d->aliases = NULL;
	d->naliases = 0;
	d->next = 0;
	d->err[0] = '\0';
}

/* Moves the current scan along: evaluations while there is room, then
 * the next scan. */
static void
disc_pump(struct discovery *d)
{
	struct disc_scan	*s;
	struct timeval		 tv = { 0, 0 };
	struct arn		 a;
	char			 err[256];
	size_t			 i;

	if (d->lists > 0)
		return;
	s = &d->scans[d->cur];
	if (d->next == 0 && d->evals == 0 && d->err[0] == '\0') {
		/* The account is known now (unless a role said it): the
		 * key requests share its bucket with the polls. */
		if (d->tid.account == NULL && d->nkeys > 0 &&
		    arn_parse(d->keys[0].arn, &a, err, sizeof(err)) == 0) {
			(void)snprintf(s->ck.parsed.account,
			    sizeof(s->ck.parsed.account), "%s", a.account);
			d->tid.account = s->ck.parsed.account;
		}
		/* Both lists are in: every listed key, once. */
		for (i = 0; i < d->nkeys; i++)
			if (d->cbs.listed(d->cbs.arg, s->source, s->region,
			    d->keys[i].arn))
				d->keys[i].arn[0] = '\0';
	}
	while (d->err[0] == '\0' && d->next < d->nkeys &&
	    d->evals < d->spec.window) {
		i = d->next++;
		if (d->keys[i].arn[0] == '\0')
			continue;
		if (disc_send(d, DISC_DESCRIBE, i) == 0)
			d->evals++;
		else {
			log_warnx("discover: key %s: %s", d->keys[i].arn,
			    d->err);
			d->err[0] = '\0';
		}
	}
	if (d->evals > 0 || (d->err[0] == '\0' && d->next < d->nkeys))
		return;
	d->cbs.scanned(d->cbs.arg, s->source, s->region,
	    d->err[0] != '\0' ? d->err : NULL);
	disc_scan_clear(d);
	d->cur++;
	/* The next scan starts from the loop, not inside a callback. */
	(void)evtimer_add(d->timer, &tv);
}

static void
disc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct discovery	*d = arg;

	(void)fd;
	(void)what;
	if (d->cur >= d->nscans) {
		d->cbs.done(d->cbs.arg);
		return;
	}
	disc_scan_start(d);
}

static void
disc_scan_start(struct discovery *d)
{
	struct disc_scan	*s = &d->scans[d->cur];
	const struct creds	*cr;
	struct timeval		 tv = { 0, DISC_CREDS_RETRY_MS * 1000 };
	char			 err[256];
	int			 r;

	disc_scan_clear(d);
	if (s->url[0] == '\0') {
		(void)snprintf(d->err, sizeof(d->err), "%s", s->url_err);
		goto fail;
	}
	if (s->creds == NULL || s->creds->prov == NULL) {
		(void)snprintf(d->err, sizeof(d->err), "no credentials: %s",
		    s->creds != NULL ? s->creds->err : "out of memory");
		goto fail;
	}
	/* An assumed role's first credentials come from STS: wait for
	 * them rather than fail every request. */
	r = creds_provider_get(s->creds->prov, &cr, NULL, NULL, err,
	    sizeof(err));
	if (r == 1 && ++d->creds_tries < DISC_CREDS_TRIES) {
		(void)evtimer_add(d->timer, &tv);
		return;
	}
	d->creds_tries = 0;
	if (r != 0) {
		(void)snprintf(d->err, sizeof(d->err), "no credentials: %s",
		    r == 1 ? "still being fetched" : err);
		goto fail;
	}
	memset(&d->target, 0, sizeof(d->target));
	memset(&d->tid, 0, sizeof(d->tid));
	d->tid.region = s->region;
	d->tid.account = s->ck.parsed.account[0] != '\0' ?
	    s->ck.parsed.account : NULL;
	d->target.id = &d->tid;
	d->target.endpoint = s->url;
	d->target.get_creds = creds_provider_sigv4;
	d->target.creds_arg = s->creds->prov;
	if (disc_send(d, DISC_LIST_ALIASES, 0) == 0)
		d->lists++;
	if (disc_send(d, DISC_LIST_KEYS, 0) == 0)
		d->lists++;
	else
		goto fail;
	return;
fail:
	/* Reported through the pump, as a finished scan. */
	if (d->lists == 0)
		disc_pump(d);
}

/* The account of an IAM role ARN, arn:PARTITION:iam::N:role/...; 0/-1. */
static int
disc_role_account(const char *role, char *buf, size_t len)
{
	const char	*p = strstr(role, ":iam::");

	if (p == NULL || strspn(p + 6, "0123456789") != 12 || len < 13)
		return -1;
	(void)snprintf(buf, len, "%.12s", p + 6);
	return 0;
}

/* The regions to search: the spec's, else every region of its vendors. */
static int
disc_regions(const struct discovery_spec *sp, const char ***out, size_t *n)
{
	const char	**v = NULL, **nv;
	size_t		  i, j, k, nr = 0;

	if (sp->nregions > 0) {
		*out = NULL;
		*n = 0;
		if ((v = calloc(sp->nregions, sizeof(*v))) == NULL)
			return -1;
		for (i = 0; i < sp->nregions; i++)
			v[i] = sp->regions[i];
		*out = v;
		*n = sp->nregions;
		return 0;
	}
	for (i = 0; i < sp->nvendors; i++)
		for (j = 0; j < sp->vendors[i]->naccounts; j++) {
			const char *r = sp->vendors[i]->accounts[j].region;

			for (k = 0; k < nr && strcmp(v[k], r) != 0; k++)
				;
			if (k < nr)
				continue;
			if ((nv = reallocarray(v, nr + 1, sizeof(*v))) ==
			    NULL) {
				free(v);
				return -1;
			}
			v = nv;
			v[nr++] = r;
		}
	*out = v;
	*n = nr;
	return 0;
}

int
discovery_spec_conf(struct discovery_spec *sp, const struct config *conf,
    char * const *names, size_t n, const struct vendor ***vsp, char *err,
    size_t errlen)
{
	const struct config_discover	*cd = &conf->discover;
	const struct vendor		**vs;
	size_t				  i, nv = 0;

	*vsp = NULL;
	if (n == 0) {
		names = cd->vendors;
		n = cd->nvendors;
	}
	if ((vs = calloc(conf->nvendors + n + 1, sizeof(*vs))) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++)
		if ((vs[nv++] = config_vendor(conf, names[i])) == NULL) {
			(void)snprintf(err, errlen, "unknown vendor '%s' (see "
			    "`keyhealthd vendors`)", names[i]);
			free(vs);
			return -1;
		}
	if (n == 0)
		for (i = 0; i < conf->nvendors; i++)
			vs[nv++] = conf->vendors[i];
	if (nv == 0) {
		(void)snprintf(err, errlen, "no vendor profile is known (see "
		    "`keyhealthd vendors`)");
		free(vs);
		return -1;
	}
	memset(sp, 0, sizeof(*sp));
	sp->conf = conf;
	sp->accounts = cd->accounts;
	sp->naccounts = cd->naccounts;
	sp->regions = cd->regions;
	sp->nregions = cd->nregions;
	sp->vendors = vs;
	sp->nvendors = nv;
	sp->window = 1;
	*vsp = vs;
	return 0;
}

struct discovery *
discovery_start(struct kh *kh, const struct discovery_spec *sp,
    const struct discovery_cbs *cbs, char *err, size_t errlen)
{
	struct discovery	*d;
	const char		**regions = NULL;
	size_t			  nregions, nacc, a, i;
	struct timeval		  tv = { 0, 0 };

	if ((d = calloc(1, sizeof(*d))) == NULL)
		goto nomem;
	TAILQ_INIT(&d->reqs);
	d->kh = kh;
	d->spec = *sp;
	if (d->spec.window == 0)
		d->spec.window = 1;
	d->cbs = *cbs;
	if (disc_regions(sp, &regions, &nregions) == -1)
		goto nomem;
	nacc = sp->naccounts > 0 ? sp->naccounts : 1;
	if ((d->scans = calloc(nacc * (nregions ? nregions : 1),
	    sizeof(*d->scans))) == NULL ||
	    (d->timer = evtimer_new(kh->base, disc_timer_cb, d)) == NULL)
		goto nomem;
	for (a = 0; a < nacc; a++)
		for (i = 0; i < nregions; i++) {
			struct disc_scan	*s = &d->scans[d->nscans++];
			const char		*part;

			s->source = a;
			s->region = regions[i];
			s->ck.name = (char *)(uintptr_t)"discover";
			s->ck.aws.use_fips = -1;
			s->ck.aws.allow_http = -1;
			if (sp->naccounts > 0)
				s->ck.aws = sp->accounts[a];
			(void)snprintf(s->ck.parsed.region,
			    sizeof(s->ck.parsed.region), "%s", regions[i]);
			part = endpoint_region_partition(regions[i]);
			(void)snprintf(s->ck.parsed.partition,
			    sizeof(s->ck.parsed.partition), "%s",
			    part != NULL ? part : "aws");
			/* The role's account is the one listed: its rate
			 * limiter bucket is the polls'. */
			if (s->ck.aws.assume_role != NULL &&
			    disc_role_account(s->ck.aws.assume_role,
			    s->ck.parsed.account,
			    sizeof(s->ck.parsed.account)) == -1)
				s->ck.parsed.account[0] = '\0';
			if (config_key_endpoint(sp->conf, &s->ck, s->url,
			    sizeof(s->url), s->url_err,
			    sizeof(s->url_err)) == -1)
				s->url[0] = '\0';
			s->creds = creds_glue_get(kh, sp->conf, &s->ck);
		}
	free(regions);
	(void)evtimer_add(d->timer, &tv);
	return d;
nomem:
	free(regions);
	discovery_free(d);
	(void)snprintf(err, errlen, "out of memory");
	return NULL;
}

void
discovery_free(struct discovery *d)
{
	struct disc_req	*r;

	if (d == NULL)
		return;
	/* What is in flight calls back later: it finds d gone. */
	while ((r = TAILQ_FIRST(&d->reqs)) != NULL) {
		TAILQ_REMOVE(&d->reqs, r, entry);
		r->d = NULL;
	}
	disc_scan_clear(d);
	if (d->timer != NULL)
		event_free(d->timer);
	free(d->scans);
	free(d);
}
