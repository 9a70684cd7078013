/*
 * One poll of one key: DescribeKey and GetKeyPolicy every time, rotation
 * status, the alias's target and the key's last use every slow_interval
 * (only when configured to matter), the grants every grants_interval, all
 * in parallel on the loop.  When every part is in, the snapshot replaces
 * the key's last one (carrying over the slow parts it did not fetch) and
 * the checks run.  Nothing here blocks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "kms_keystore.h"
#include "kms_material.h"
#include "log.h"
#include "vendor.h"
#include "keyhealthd.h"

struct kh_poll {
	struct kh_key		*k;
	struct key_snapshot	 snap;
	int			 pending;	/* operations outstanding */
	int			 slow;		/* fetches the slow parts */
	int			 grants;	/* fetches the grants */
	json_t			*grants_set;	/* what ListGrants gave */
	int			 submitted;
	int			 failed_local;	/* no credentials */
	struct timespec		 t0;
	void			(*done)(struct kh_key *);
	struct event		*ev;		/* deferred completion */
};

static void	poll_submit(struct kh_poll *);
static void	poll_part_done(struct kh_poll *);

/* Where a poll's duration is observed; httpd prints the same bounds. */
const double poll_latency_bounds[KH_LATENCY_BUCKETS] = {
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};

static double
poll_elapsed(const struct timespec *t0)
{
	struct timespec	now;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	    (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* An error of ours (not KMS's) for one part: no credentials, a bad
 * endpoint, a request that could not be started. */
static void
poll_local_error(struct kms_fault *f, enum kms_errclass cls,
    const char *code, const char *msg)
{
	(void)kms_fault_local(f, cls, code, msg);
}

/* The same as the client's working form, for a part kept as one. */
static void
poll_local_kms_error(struct kms_error *e, const char *msg)
{
	memset(e, 0, sizeof(*e));
	e->cls = KMS_ERR_OTHER;
	(void)snprintf(e->code, sizeof(e->code), "RequestFailed");
	(void)snprintf(e->message, sizeof(e->message), "%s", msg);
}

static void
poll_count(struct kh_poll *p, const struct kms_error *e)
{
	if (e->cls != KMS_OK)
		kh_count_error(p->k->kh, e);
}

/* Counts an error of ours as kh_count_error() counts KMS's. */
static void
poll_count_local(struct kh *kh, enum kms_errclass cls, const char *code)
{
	struct kms_error	e;

	memset(&e, 0, sizeof(e));
	e.cls = cls;
	(void)snprintf(e.code, sizeof(e.code), "%s", code);
	kh_count_error(kh, &e);
}

/* A part's outcome into the snapshot's compact record. */
static void
poll_keep_err(struct kh_poll *p, struct kms_fault *f,
    const struct kms_error *e)
{
	if (kms_fault_set(f, e) == -1)
		log_warnx("key %s: out of memory keeping a KMS error",
		    kh_key_name(p->k));
}

static void
poll_materials_cb(struct kms_result *res, void *arg)
{
	struct kh_poll	*p = arg;

	if (res->err.cls == KMS_OK && res->materials != NULL) {
		p->snap.materials = res->materials;	/* steal */
		res->materials = NULL;
	} else
		p->snap.materials = kms_materials_new(&res->err);
	p->snap.materials_at = p->snap.polled_at;
	poll_count(p, &res->err);
	poll_part_done(p);
}

static void
poll_keystore_cb(struct kms_keystore *ks, void *arg)
{
	struct kh_poll	*p = arg;

	kms_keystore_unref(p->snap.keystore);
	p->snap.keystore = ks;
	poll_part_done(p);
}

/*
 * The parts DescribeKey's answer calls for: the key materials of a key
 * with imported material (a slow part: only in slow polls), and the
 * custom key store of a key in one (shared by its keys, keystore.c).
 */
static void
poll_meta_parts(struct kh_poll *p)
{
	struct kh_key		*k = p->k;
	const struct kms_key_meta *m = &p->snap.meta;
	char			 err[256];

	if (p->slow && m->origin != NULL && strcmp(m->origin, "EXTERNAL") ==
	    0 && m->key_spec != NULL &&
	    strcmp(m->key_spec, "SYMMETRIC_DEFAULT") == 0) {
		p->pending++;
		if (kms_list_key_rotations(k->kh->kms, &k->target, k->ck->arn,
		    poll_materials_cb, p, err, sizeof(err)) == -1) {
			struct kms_error	e;

			poll_local_kms_error(&e, err);
			p->snap.materials = kms_materials_new(&e);
			p->snap.materials_at = p->snap.polled_at;
			p->pending--;
		}
	}
	if (m->custom_key_store_id != NULL) {
		p->pending++;
		keystore_get(k, m->custom_key_store_id, poll_keystore_cb, p);
	}
}

static void
poll_describe_cb(struct kms_result *res, void *arg)
{
	struct kh_poll	*p = arg;

	poll_keep_err(p, &p->snap.describe_err, &res->err);
	if (res->err.cls == KMS_OK) {
		p->snap.meta = res->meta;	/* steal */
		memset(&res->meta, 0, sizeof(res->meta));
		if (p->k->kh->kms != NULL && !p->k->kh->stopping)
			poll_meta_parts(p);
	}
	poll_count(p, &res->err);
	poll_part_done(p);
}

static void
poll_policy_cb(struct kms_result *res, void *arg)
{
	struct kh_poll	*p = arg;

	p->snap.policy_known = 1;
	poll_keep_err(p, &p->snap.policy_err, &res->err);
	if (res->err.cls == KMS_OK) {
		check_snapshot_set_policy(&p->snap, res->policy);
		res->policy = NULL;
	}
	poll_count(p, &res->err);
	poll_part_done(p);
}

static void
poll_rotation_cb(struct kms_result *res, void *arg)
{
	struct kh_poll	*p = arg;

	p->snap.rotation_known = 1;
	p->snap.rotation_at = p->snap.polled_at;
	poll_keep_err(p, &p->snap.rotation_err, &res->err);
	if (res->err.cls == KMS_OK)
		p->snap.rotation = res->rotation;
	poll_count(p, &res->err);
	poll_part_done(p);
}

static void
poll_alias_cb(struct kms_result *res, void *arg)
{
	struct kh_poll	*p = arg;

	p->snap.alias_known = 1;
	p->snap.alias_at = p->snap.polled_at;
	poll_keep_err(p, &p->snap.alias_err, &res->err);
	if (res->err.cls == KMS_OK) {
		p->snap.alias_key_arn = res->meta.arn;
		p->snap.alias_key_id = res->meta.key_id;
		res->meta.arn = NULL;
		res->meta.key_id = NULL;
	}
	/* A deleted alias is an answer, not a KMS error worth counting. */
	if (res->err.cls != KMS_ERR_NOT_FOUND)
		poll_count(p, &res->err);
	poll_part_done(p);
}

static void
poll_usage_cb(struct kms_result *res, void *arg)
{
	struct kh_poll	*p = arg;

	check_usage_free(p->snap.usage);
	if ((p->snap.usage = check_usage_new(&res->usage, &res->err,
	    p->snap.polled_at, kms_client_clock_skew(p->k->kh->kms))) == NULL)
		log_warnx("key %s: out of memory keeping its last use",
		    kh_key_name(p->k));
	poll_count(p, &res->err);
	poll_part_done(p);
}

static void
poll_grants_cb(struct kms_result *res, void *arg)
{
	struct kh_poll	*p = arg;

	p->snap.grants_known = 1;
	p->snap.grants_at = p->snap.polled_at;
	if (res->err.cls == KMS_OK) {
		p->grants_set = res->grants;	/* steal */
		res->grants = NULL;
	} else if ((p->snap.grants_err = malloc(sizeof(*p->snap.grants_err)))
	    != NULL)
		*p->snap.grants_err = res->err;
	else
		p->snap.grants_known = 0;
	poll_count(p, &res->err);
	poll_part_done(p);
}

/*
 * GetKeyLastUsage's quota is 5/s per account and region, and the client
 * lets one through per second (its low-quota bucket).  A poll that waited for
 * that token would hold its endpoint's poll slot meanwhile: with many
 * keys due at once (the first sweep) every poll would crawl at one a
 * second, DescribeKey included.  So the daemon asks only when a token is
 * there, and otherwise at the key's next poll.  `check` waits: it polls
 * once and must answer.
 */
static int
poll_usage_now(struct kh_poll *p)
{
	struct kh_key	*k = p->k;

	if (k->expect.expect_use_within <= 0 ||
	    k->kh->mode == KH_MODE_BASELINE ||
	    (!p->slow && !k->sched.usage_due))
		return 0;
	if (k->kh->mode == KH_MODE_RUN &&
	    !kms_client_quota_ready(k->kh->kms, &k->target,
	    KMS_OP_GET_KEY_LAST_USAGE)) {
		k->sched.usage_due = 1;
		return 0;
	}
	k->sched.usage_due = 0;
	return 1;
}

/*
 * The grants fetched by this poll into k's snapshot: only a summary
 * stays, and the diff against the baseline set (read from state_dir only
 * when the digests differ).  A key with no grants baseline yet takes
 * these as its baseline (run only; `baseline accept` takes the set).
 */
static void
poll_grants_finish(struct kh_key *k, json_t *set)
{
	struct kh		*kh = k->kh;
	struct key_baseline	*b = &k->st.baseline;
	struct key_grants	*g;
	const char		*acct = NULL;
	unsigned char		 md[KMS_GRANTS_DIGEST_LEN];
	json_t			*bset = NULL;
	char			 err[512];
	enum state_read		 r;

	if (k->expect.vendor != NULL)
		acct = vendor_account(k->expect.vendor,
		    k->expect.id.region);
	if ((g = check_grants_summary(set, acct)) == NULL) {
		log_warnx("key %s: out of memory summarising its grants",
		    kh_key_name(k));
		json_decref(set);
		return;
	}
	check_grants_free(k->snap.grants);
	k->snap.grants = g;
	if (check_grants_need_diff(g, b)) {
		err[0] = '\0';
		r = kh->state_ok ? state_grants_load(kh->conf->state_dir,
		    k->ck->arn, kh->mode == KH_MODE_RUN, &bset, md, err,
		    sizeof(err)) : STATE_READ_ERROR;
		if (r == STATE_READ_OK && memcmp(md, b->grants_md,
		    sizeof(md)) != 0) {
			json_decref(bset);
			bset = NULL;
			(void)snprintf(err, sizeof(err), "the stored grants "
			    "are not the accepted ones (their digest differs)");
		} else if (r == STATE_READ_ABSENT)
			(void)snprintf(err, sizeof(err), "the stored grants "
			    "are missing");
		else if (r != STATE_READ_OK && err[0] == '\0')
			(void)snprintf(err, sizeof(err), "no usable state "
			    "directory");
		if (bset == NULL)
			log_warnx("key %s: grants baseline: %s",
			    kh_key_name(k), err);
		if (check_grants_diff(g, bset, set, err) == -1)
			log_warnx("key %s: out of memory diffing its grants",
			    kh_key_name(k));
		json_decref(bset);
	}
	if (kh->mode == KH_MODE_RUN && !b->has_grants) {
		if (kh_key_accept_grants(k, set, err, sizeof(err)) == -1)
			log_warnx("key %s: cannot keep its grants as the "
			    "baseline: %s", kh_key_name(k), err);
		else
			(void)kh_key_save_state(k);
	}
	if (kh->mode == KH_MODE_BASELINE) {
		json_decref(k->grants_set);
		k->grants_set = set;
		return;
	}
	json_decref(set);
}

/*
 * A slow part (rotation status, alias) whose fetch failed is fetched
 * again at the next poll: else its check-failed would stand until the
 * next slow poll, an hour later, and a refusal tied to the key's state
 * (KMSInvalidStateException while pending deletion) would outlive that
 * state.  That is one extra request per interval while it lasts.  Only
 * lasting answers wait for the slow interval: the alias is gone, the key
 * cannot rotate automatically.
 */
static int
poll_slow_retry_code(enum kms_errclass cls, const char *code)
{
	switch (cls) {
	case KMS_OK:
	case KMS_ERR_NOT_FOUND:
		return 0;
	default:
		return strcmp(code, "UnsupportedOperationException") != 0;
	}
}

static int
poll_slow_retry(const struct kms_fault *e)
{
	return poll_slow_retry_code(e->cls, kms_fault_code(e));
}

/* The key's state as this snapshot saw it: KeyState, "NotFound", or
 * NULL when DescribeKey failed (nothing known). */
static const char *
poll_state_of(const struct key_snapshot *s)
{
	if (s->describe_err.cls == KMS_ERR_NOT_FOUND)
		return "NotFound";
	if (s->describe_err.cls == KMS_OK)
		return s->meta.state;
	return NULL;
}

/* Whether DescribeKey's view of an imported key's material moved:
 * another current material, or another ValidTo. */
static int
poll_material_changed(const struct key_snapshot *prev,
    const struct key_snapshot *cur)
{
	const char	*a = prev->meta.current_key_material_id;
	const char	*b = cur->meta.current_key_material_id;

	if (prev->describe_err.cls != KMS_OK || cur->describe_err.cls !=
	    KMS_OK || cur->meta.origin == NULL ||
	    strcmp(cur->meta.origin, "EXTERNAL") != 0)
		return 0;
	if ((a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0))
		return 1;
	return prev->meta.valid_to != cur->meta.valid_to;
}

static int
poll_state_changed(const struct key_snapshot *prev,
    const struct key_snapshot *cur)
{
	const char	*a = poll_state_of(prev), *b = poll_state_of(cur);

	return a != NULL && b != NULL && strcmp(a, b) != 0;
}

/*
 * After a change of KeyState, a failed slow part carried over from
 * before says nothing about the key now (KMS refuses
 * GetKeyRotationStatus for a key pending deletion: once the deletion is
 * cancelled and the key enabled, that refusal would be a check-failed
 * for a healthy key, and hold back the resolution of the rest).  Forget
 * it until the next poll, which fetches it again.
 */
static void
poll_drop_stale_parts(struct key_snapshot *s, int rotation_fetched,
    int alias_fetched, int materials_fetched, int grants_fetched)
{
	if (!materials_fetched && s->materials != NULL &&
	    s->materials->err.cls != KMS_OK) {
		free(s->materials);
		s->materials = NULL;
		s->materials_at = 0;
	}
	/* The grants last listed, if any, still stand: only the failure
	 * goes. */
	if (!grants_fetched && s->grants_known && s->grants_err != NULL) {
		free(s->grants_err);
		s->grants_err = NULL;
		if (s->grants == NULL) {
			s->grants_known = 0;
			s->grants_at = 0;
		}
	}
	if (!rotation_fetched && s->rotation_known &&
	    s->rotation_err.cls != KMS_OK) {
		s->rotation_known = 0;
		s->rotation_at = 0;
		memset(&s->rotation, 0, sizeof(s->rotation));
		kms_fault_free(&s->rotation_err);
	}
	/* A deleted alias stays an answer: key-replaced keeps firing. */
	if (!alias_fetched && s->alias_known && s->alias_err.cls != KMS_OK &&
	    s->alias_err.cls != KMS_ERR_NOT_FOUND) {
		s->alias_known = 0;
		s->alias_at = 0;
		free(s->alias_key_arn);
		free(s->alias_key_id);
		s->alias_key_arn = NULL;
		s->alias_key_id = NULL;
		kms_fault_free(&s->alias_err);
	}
}

static void
poll_finish(struct kh_poll *p)
{
	struct kh_key	*k = p->k;
	struct kh	*kh = k->kh;
	double		 elapsed = poll_elapsed(&p->t0);
	void		(*done)(struct kh_key *) = p->done;
	size_t		 b;
	int		 rotation_fetched = p->snap.rotation_known;
	int		 alias_fetched = p->snap.alias_known;
	int		 materials_fetched = p->snap.materials != NULL;
	int		 grants_fetched = p->snap.grants_known;
	json_t		*gset = p->grants_set;
	enum severity	 worst;
	int		 changed = k->have_snap &&
			    poll_state_changed(&k->snap, &p->snap);

	if (p->slow && ((rotation_fetched &&
	    poll_slow_retry(&p->snap.rotation_err)) ||
	    (alias_fetched && poll_slow_retry(&p->snap.alias_err)) ||
	    (materials_fetched && poll_slow_retry_code(
	    p->snap.materials->err.cls, p->snap.materials->err.code))))
		k->sched.next_slow = 0;
	/* New imported material, or a new ValidTo: the material list is
	 * stale; fetch it again at the next poll. */
	if (!materials_fetched && k->have_snap &&
	    poll_material_changed(&k->snap, &p->snap))
		k->sched.next_slow = 0;
	/* A new KeyState: fetch the slow parts again at the next poll. */
	if (changed && !p->slow)
		k->sched.next_slow = 0;
	/* The last use is asked again alone: the other slow parts keep
	 * their hour. */
	if (p->snap.usage != NULL && p->snap.usage->err != NULL &&
	    poll_slow_retry_code(p->snap.usage->err->cls,
	    p->snap.usage->err->code))
		k->sched.usage_due = 1;
	if (changed && p->snap.usage == NULL && k->snap.usage != NULL &&
	    k->snap.usage->err != NULL) {
		/* Says nothing about the new state. */
		check_usage_free(k->snap.usage);
		k->snap.usage = NULL;
		k->sched.usage_due = 1;
	}
	/* Grants the same way: after a failure, and after a new KeyState. */
	if ((grants_fetched && p->snap.grants_err != NULL &&
	    poll_slow_retry_code(p->snap.grants_err->cls,
	    p->snap.grants_err->code)) || (changed && !p->grants))
		k->sched.next_grants = 0;
	if (k->have_snap &&
	    check_snapshot_carry(&p->snap, &k->snap) == -1)
		log_warnx("key %s: out of memory carrying the slow parts",
		    kh_key_name(k));
	if (changed)
		poll_drop_stale_parts(&p->snap, rotation_fetched,
		    alias_fetched, materials_fetched, grants_fetched);
	/* expect_use_within was turned off by a reload. */
	if (k->expect.expect_use_within <= 0 && p->snap.usage != NULL) {
		check_usage_free(p->snap.usage);
		p->snap.usage = NULL;
	}
	check_snapshot_free(&k->snap);
	k->snap = p->snap;
	k->have_snap = 1;
	memset(&p->snap, 0, sizeof(p->snap));

	k->metrics.polls++;
	k->metrics.last_latency = elapsed;
	for (b = 0; b < KH_LATENCY_BUCKETS && elapsed > poll_latency_bounds[b];
	    b++)
		;
	kh->stats.latency_bucket[b]++;
	kh->stats.latency_sum += elapsed;
	kh->stats.latency_count++;

	kh_key_reload_baseline(k);
	p->grants_set = NULL;
	if (gset != NULL)
		poll_grants_finish(k, gset);
	/* The status line's counts follow each key's worst finding. */
	worst = findings_worst(&k->findings);
	if (kh->nworst[worst] > 0)
		kh->nworst[worst]--;
	findings_clear(&k->findings);
	/* A policy that differs from the accepted one, not compared yet:
	 * the diff needs the accepted text, kept on disk only. */
	if (check_baseline_text_needed(&k->snap, &k->st.baseline, &k->pcache))
		(void)kh_key_baseline_text(k);
	if (check_key_cached(&k->snap, &k->st.baseline, &k->expect,
	    time(NULL), &k->pcache, &k->findings) == -1)
		log_warnx("key %s: out of memory in the checks",
		    kh_key_name(k));
	kh->nworst[findings_worst(&k->findings)]++;
	/* A primary's replicas follow what it lists now. */
	replica_sync(k);
	if (k->snap.describe_err.cls == KMS_OK ||
	    k->snap.describe_err.cls == KMS_ERR_NOT_FOUND) {
		k->metrics.last_success = k->snap.polled_at;
		k->sched.failures = 0;
	} else {
		k->sched.failures++;
		k->metrics.polls_failed++;
	}

	if (p->ev != NULL)
		event_free(p->ev);
	k->poll = NULL;
	free(p);
	kh->polls_inflight--;
	if (done != NULL)
		done(k);
}

static void
poll_part_done(struct kh_poll *p)
{
	if (--p->pending == 0 && p->submitted)
		poll_finish(p);
}

static void
poll_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kh_poll	*p = arg;

	(void)fd;
	(void)what;
	if (p->failed_local) {
		p->submitted = 1;
		p->pending = 1;
		poll_part_done(p);
	} else
		poll_submit(p);
}

/* Starts every part; a part that cannot start is recorded as failed. */
static void
poll_submit(struct kh_poll *p)
{
	struct kh_key	*k = p->k;
	struct kh	*kh = k->kh;
	char		 err[256];
	time_t		 now = time(NULL);

	p->snap.polled_at = now;
	p->pending = 1;		/* held until every part is submitted */
	if (k->ep == NULL) {
		poll_local_error(&p->snap.describe_err, KMS_ERR_OTHER,
		    "BadEndpoint", k->endpoint_err != NULL ? k->endpoint_err :
		    "no endpoint");
		goto out;
	}
	p->pending++;
	if (kms_describe_key(kh->kms, &k->target, k->ck->arn,
	    poll_describe_cb, p, err, sizeof(err)) == -1) {
		poll_local_error(&p->snap.describe_err, KMS_ERR_OTHER,
		    "RequestFailed", err);
		p->pending--;
	}
	if (!k->state_only) {
		p->pending++;
		if (kms_get_key_policy(kh->kms, &k->target, k->ck->arn,
		    poll_policy_cb, p, err, sizeof(err)) == -1) {
			p->snap.policy_known = 1;
			poll_local_error(&p->snap.policy_err, KMS_ERR_OTHER,
			    "RequestFailed", err);
			p->pending--;
		}
	}
	if (p->slow && k->expect.expect_rotation) {
		p->pending++;
		if (kms_get_key_rotation_status(kh->kms, &k->target,
		    k->ck->arn, poll_rotation_cb, p, err, sizeof(err)) == -1) {
			p->snap.rotation_known = 1;
			p->snap.rotation_at = now;
			poll_local_error(&p->snap.rotation_err, KMS_ERR_OTHER,
			    "RequestFailed", err);
			p->pending--;
		}
	}
	if (p->slow && k->alias_arn != NULL) {
		p->pending++;
		if (kms_describe_key(kh->kms, &k->target, k->alias_arn,
		    poll_alias_cb, p, err, sizeof(err)) == -1) {
			p->snap.alias_known = 1;
			p->snap.alias_at = now;
			poll_local_error(&p->snap.alias_err, KMS_ERR_OTHER,
			    "RequestFailed", err);
			p->pending--;
		}
	}
	if (poll_usage_now(p)) {
		p->pending++;
		if (kms_get_key_last_usage(kh->kms, &k->target, k->ck->arn,
		    poll_usage_cb, p, err, sizeof(err)) == -1) {
			struct kms_error e;

			poll_local_kms_error(&e, err);
			p->snap.usage = check_usage_new(NULL, &e, now, 0);
			p->pending--;
		}
	}
	if (p->grants) {
		p->pending++;
		if (kms_list_grants(kh->kms, &k->target, k->ck->arn,
		    poll_grants_cb, p, err, sizeof(err)) == -1) {
			p->snap.grants_known = 1;
			p->snap.grants_at = now;
			if ((p->snap.grants_err = calloc(1,
			    sizeof(*p->snap.grants_err))) != NULL)
				poll_local_kms_error(p->snap.grants_err, err);
			else
				p->snap.grants_known = 0;
			p->pending--;
		}
		k->sched.next_grants = now + config_key_grants_interval(kh->conf,
		    k->ck);
	}
	if (p->slow)
		k->sched.next_slow = now + kh->conf->slow_interval;
out:
	p->submitted = 1;
	poll_part_done(p);
}

/* The key's credentials arrived (err NULL) or could not be had. */
void
poll_creds_ready(struct kh_key *k, const char *err)
{
	struct kh_poll	*p = k->poll;

	if (p == NULL)
		return;
	if (err == NULL && (k->kh->stopping || k->kh->kms == NULL))
		err = "stopping";
	if (err != NULL) {
		p->snap.polled_at = time(NULL);
		poll_local_error(&p->snap.describe_err, KMS_ERR_AUTH,
		    "NoCredentials", err);
		poll_count_local(k->kh, KMS_ERR_AUTH, "NoCredentials");
		p->submitted = 1;
		p->pending = 1;
		poll_part_done(p);
		return;
	}
	poll_submit(p);
}

int
poll_start(struct kh_key *k, void (*done)(struct kh_key *))
{
	struct kh_poll	*p;
	char		 err[256];
	int		 r;

	if (k->poll != NULL)
		return 0;	/* one at a time per key */
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	p->k = k;
	p->done = done;
	p->slow = !k->have_snap || time(NULL) >= k->sched.next_slow;
	/* A replica in a region the vendor does not serve: state only. */
	p->grants = !k->state_only && (!k->have_snap ||
	    time(NULL) >= k->sched.next_grants);
	(void)clock_gettime(CLOCK_MONOTONIC, &p->t0);
	k->poll = p;
	k->kh->polls_inflight++;

	r = creds_glue_ready(k->creds, k, err, sizeof(err));
	if (r == 1)
		return 0;	/* poll_creds_ready() follows */
	if (r == -1) {
		p->snap.polled_at = time(NULL);
		poll_local_error(&p->snap.describe_err, KMS_ERR_AUTH,
		    "NoCredentials", err);
		poll_count_local(k->kh, KMS_ERR_AUTH, "NoCredentials");
		p->failed_local = 1;
	}
	/* Start (or finish) from the loop, never inside our caller. */
	p->ev = event_new(k->kh->base, -1, 0, poll_deferred_cb, p);
	if (p->ev == NULL) {
		k->poll = NULL;
		k->kh->polls_inflight--;
		free(p);
		return -1;
	}
	event_active(p->ev, 0, 0);
	return 0;
}

/* Drops a poll that waits for credentials (the key is going away). */
void
poll_discard(struct kh_key *k)
{
	struct kh_poll	*p = k->poll;

	if (p == NULL)
		return;
	check_snapshot_free(&p->snap);
	json_decref(p->grants_set);
	if (p->ev != NULL)
		event_free(p->ev);
	free(p);
	k->poll = NULL;
	k->kh->polls_inflight--;
}
