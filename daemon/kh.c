/*
 * The daemon's context: configuration, HTTP and KMS clients, credential
 * providers and the keys with their state.  Shared by `run`, `check` and
 * `baseline`.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "alert.h"
#include "config.h"
#include "creds.h"
#include "creds_async.h"
#include "http.h"
#include "kms.h"
#include "log.h"
#include "statefs.h"
#include "vendor.h"
#include "keyhealthd.h"

const char *
kh_key_name(const struct kh_key *k)
{
	return k->ck->name;
}

void
kh_count_error(struct kh *kh, const struct kms_error *e)
{
	json_t		*n;
	const char	*code = e->code[0] != '\0' ? e->code :
			    kms_errclass_name(e->cls);

	if (kh->stats.kms_errors == NULL &&
	    (kh->stats.kms_errors = json_object()) == NULL)
		return;
	n = json_object_get(kh->stats.kms_errors, code);
	(void)json_object_set_new(kh->stats.kms_errors, code,
	    json_integer(n != NULL ? json_integer_value(n) + 1 : 1));
}

static void
kh_state_warn(void *arg, const char *msg)
{
	(void)arg;
	log_warnx("state: %s", msg);
}

static void
kh_key_stat_mtime(struct kh_key *k, const char *state_dir)
{
	char		name[64];
	struct stat	st;

	memset(&k->state_mtime, 0, sizeof(k->state_mtime));
	if (state_key_filename(k->ck->arn, name, sizeof(name)) == -1)
		return;
	if (state_stat(state_dir, name, &st) == 0)
		k->state_mtime = st.st_mtim;
}

/*
 * `keyhealthd baseline accept` writes the key's state file while the
 * daemon runs: pick its baseline up at the next poll instead of writing
 * our stale one over it.
 */
void
kh_key_reload_baseline(struct kh_key *k)
{
	struct state_key	 st;
	struct timespec		 old = k->state_mtime;
	char			 err[512];

	if (k->kh->mode != KH_MODE_RUN || !k->kh->state_ok)
		return;
	kh_key_stat_mtime(k, k->kh->conf->state_dir);
	if (k->state_mtime.tv_sec == old.tv_sec &&
	    k->state_mtime.tv_nsec == old.tv_nsec)
		return;
	memset(&st, 0, sizeof(st));
	if (state_key_load(k->kh->conf->state_dir, k->ck->arn, &st, err,
	    sizeof(err)) != STATE_READ_OK) {
		if (err[0] != '\0')
			log_warnx("key %s: %s", kh_key_name(k), err);
		state_key_free(&st);
		return;
	}
	log_info("key %s: baseline changed on disk (baseline accept?), "
	    "using it", kh_key_name(k));
	check_baseline_free(&k->st.baseline);
	k->st.baseline = st.baseline;
	memset(&st.baseline, 0, sizeof(st.baseline));
	state_key_free(&st);
}

/*
 * `keyhealthd check` sends and writes nothing, and may run as another
 * user than the daemon (a monitoring agent): it reads a key's state
 * without state_key_load()'s repairs (moving a corrupt file aside,
 * fixing modes), and a file it cannot use is only reported.
 */
/* An error message, cut to fit: paths may be long. */
static void __attribute__((format(printf, 3, 4)))
kh_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static enum state_read
kh_key_load_readonly(const char *dir, const char *arn, struct state_key *out,
    char *err, size_t errlen)
{
	char		 name[64];
	enum state_read	 rc;
	json_t		*j;
	char		 why[512];

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	if (state_key_filename(arn, name, sizeof(name)) == -1) {
		kh_errf(err, errlen, "cannot name the state file of %s",
		    arn);
		return STATE_READ_ERROR;
	}
	if ((rc = state_peek_json(dir, name, 0, &j, err, errlen)) !=
	    STATE_READ_OK)
		return rc;
	if (state_key_from_json(j, out, why, sizeof(why)) == -1 ||
	    out->arn == NULL || strcmp(out->arn, arn) != 0) {
		if (out->arn != NULL && strcmp(out->arn, arn) != 0)
			(void)snprintf(why, sizeof(why), "it holds another "
			    "key's state");
		json_decref(j);
		state_key_free(out);
		kh_errf(err, errlen, "state file %s/%s is corrupt (%s): "
		    "ignored (keyhealthd run moves it aside)", dir, name, why);
		return STATE_READ_CORRUPT;
	}
	json_decref(j);
	return STATE_READ_OK;
}

int
kh_key_save_state(struct kh_key *k)
{
	char	err[512];

	if (k->kh->mode == KH_MODE_CHECK || !k->kh->state_ok)
		return 0;
	/* A `baseline accept` since our last poll wins over the baseline we
	 * hold, also when we save on the way out before polling again. */
	kh_key_reload_baseline(k);
	if (state_key_save(k->kh->conf->state_dir, &k->st, err,
	    sizeof(err)) == -1) {
		k->kh->stats.state_write_failures++;
		log_warnx("key %s: cannot save its state: %s", kh_key_name(k),
		    err);
		return -1;
	}
	kh_key_stat_mtime(k, k->kh->conf->state_dir);
	return 0;
}

static void
kh_key_free(struct kh_key *k)
{
	if (k == NULL)
		return;
	creds_glue_forget(k->creds, k);
	poll_discard(k);
	if (k->timer != NULL)
		event_free(k->timer);
	state_key_free(&k->st);
	check_snapshot_free(&k->snap);
	findings_clear(&k->findings);
	free(k);
}

struct kh_key *
kh_key_find(struct kh *kh, const char *name_or_arn)
{
	size_t	i;

	for (i = 0; i < kh->nkeys; i++)
		if (strcmp(kh->keys[i]->ck->arn, name_or_arn) == 0 ||
		    strcmp(kh->keys[i]->ck->name, name_or_arn) == 0)
			return kh->keys[i];
	return NULL;
}

static void
kh_key_setup(struct kh *kh, struct config *conf, struct kh_key *k,
    const struct config_key *ck)
{
	char			 err[512];

	k->kh = kh;
	k->ck = ck;
	k->expect.arn = ck->arn;
	k->expect.name = ck->name;
	k->expect.region = ck->parsed.region;
	k->expect.account = ck->parsed.account;
	k->expect.partition = ck->parsed.partition;
	k->expect.vendor = ck->vendor;
	k->expect.alias = ck->alias;
	k->expect.expect_rotation = ck->expect_rotation;
	k->expect.material_expiry_warning =
	    conf->alerts.material_expiry_warning;
	if (ck->alias != NULL)
		(void)snprintf(k->alias_arn, sizeof(k->alias_arn),
		    "arn:%s:kms:%s:%s:%s", ck->parsed.partition,
		    ck->parsed.region, ck->parsed.account, ck->alias);

	if (config_key_endpoint(conf, ck, k->endpoint, sizeof(k->endpoint),
	    err, sizeof(err)) == -1) {
		k->endpoint[0] = '\0';
		(void)snprintf(k->endpoint_err, sizeof(k->endpoint_err), "%s",
		    err);
		log_warnx("key %s: %s", ck->name, err);
	}
	k->creds = creds_glue_get(kh, conf, ck);
	k->target.region = ck->parsed.region;
	k->target.endpoint = k->endpoint;
	k->target.account = ck->parsed.account;
	k->target.get_creds = creds_provider_sigv4;
	k->target.creds_arg = k->creds != NULL ? k->creds->prov : NULL;
}

static int
kh_key_arn_cmp(const void *a, const void *b)
{
	const struct kh_key	*const *x = a, *const *y = b;

	return strcmp((*x)->ck->arn, (*y)->ck->arn);
}

/* The current key with arn, from keys sorted by ARN, or NULL. */
static struct kh_key *
kh_key_bsearch(struct kh_key **sorted, size_t n, const char *arn)
{
	struct config_key	 ck;
	struct kh_key		 probe, *pp = &probe, **hit;

	if (n == 0)
		return NULL;
	memset(&ck, 0, sizeof(ck));
	ck.arn = (char *)(uintptr_t)arn;
	probe.ck = &ck;
	hit = bsearch(&pp, sorted, n, sizeof(*sorted), kh_key_arn_cmp);
	return hit != NULL ? *hit : NULL;
}

/*
 * Builds the keys of conf, taking over what the current keys know (state,
 * last snapshot, findings, schedule) for the ARNs that stay; such a key's
 * prev_ck points at its entry in the current config until the caller
 * clears it.  Requires no poll in flight.  The current keys are found by
 * binary search: a reload of 100,000 keys compared every pair.
 */
int
kh_keys_build(struct kh *kh, struct config *conf, char *err, size_t errlen)
{
	struct kh_key	**keys, **sorted = NULL, *old;
	size_t		  i, j;
	char		  serr[512];

	if ((keys = calloc(conf->nkeys ? conf->nkeys : 1,
	    sizeof(*keys))) == NULL || (kh->nkeys > 0 &&
	    (sorted = reallocarray(NULL, kh->nkeys, sizeof(*sorted))) ==
	    NULL)) {
		free(keys);
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (kh->nkeys > 0) {
		memcpy(sorted, kh->keys, kh->nkeys * sizeof(*sorted));
		qsort(sorted, kh->nkeys, sizeof(*sorted), kh_key_arn_cmp);
	}
	for (i = 0; i < conf->nkeys; i++) {
		struct kh_key *k = calloc(1, sizeof(*k));

		if (k == NULL) {
			for (j = 0; j < i; j++)
				kh_key_free(keys[j]);
			free(keys);
			free(sorted);
			(void)snprintf(err, errlen, "out of memory");
			return -1;
		}
		keys[i] = k;
		old = kh_key_bsearch(sorted, kh->nkeys, conf->keys[i].arn);
		kh_key_setup(kh, conf, k, &conf->keys[i]);
		if (old != NULL) {
			k->st = old->st;
			memset(&old->st, 0, sizeof(old->st));
			k->snap = old->snap;
			k->have_snap = old->have_snap;
			memset(&old->snap, 0, sizeof(old->snap));
			old->have_snap = 0;
			k->findings = old->findings;
			memset(&old->findings, 0, sizeof(old->findings));
			k->state_mtime = old->state_mtime;
			k->failures = old->failures;
			k->next_slow = old->next_slow;
			k->next_at = old->next_at;
			k->due = old->due;
			k->prev_ck = old->ck;
			k->polls = old->polls;
			k->polls_failed = old->polls_failed;
			k->last_success = old->last_success;
			k->last_latency = old->last_latency;
			continue;
		}
		if (kh->state_ok) {
			enum state_read r = kh->mode == KH_MODE_CHECK ?
			    kh_key_load_readonly(conf->state_dir,
			    conf->keys[i].arn, &k->st, serr, sizeof(serr)) :
			    state_key_load(conf->state_dir,
			    conf->keys[i].arn, &k->st, serr, sizeof(serr));

			if (r != STATE_READ_OK && serr[0] != '\0')
				log_warnx("key %s: %s", conf->keys[i].name,
				    serr);
			if (r == STATE_READ_OK)
				kh_key_stat_mtime(k, conf->state_dir);
		}
		if (k->st.arn == NULL)
			k->st.arn = strdup(conf->keys[i].arn);
	}
	free(sorted);
	kh_keys_free(kh);
	kh->keys = keys;
	kh->nkeys = conf->nkeys;
	return 0;
}

void
kh_keys_free(struct kh *kh)
{
	size_t	i;

	for (i = 0; i < kh->nkeys; i++)
		kh_key_free(kh->keys[i]);
	free(kh->keys);
	kh->keys = NULL;
	kh->nkeys = 0;
}

static struct http *
kh_http_new(struct kh *kh, struct config *conf, char *err, size_t errlen)
{
	struct http_opts	o;

	memset(&o, 0, sizeof(o));
	o.connect_timeout_ms = conf->kms.connect_timeout * 1000;
	o.timeout_ms = conf->kms.timeout * 1000;
	o.ca_file = conf->aws.ca_file;
	return http_new(kh->base, &o, err, errlen);
}

static struct kms_client *
kh_kms_new(struct kh *kh, struct config *conf, char *err, size_t errlen)
{
	struct kms_opts	o;

	memset(&o, 0, sizeof(o));
	o.max_attempts = conf->kms.max_attempts;
	o.rate_per_second = conf->kms.rate_limit;
	o.burst = conf->kms.rate_limit * 2 > 1 ? conf->kms.rate_limit * 2 : 1;
	o.max_inflight = conf->kms.max_inflight;
	return kms_client_new(kh->base, kh->http, &o, err, errlen);
}

/* Drops every credential provider (their refreshes are cancelled). */
static void
kh_creds_free(struct kh *kh)
{
	size_t	i;

	for (i = 0; i < kh->nkeys; i++) {
		creds_glue_forget(kh->keys[i]->creds, kh->keys[i]);
		kh->keys[i]->creds = NULL;
		kh->keys[i]->target.creds_arg = NULL;
	}
	for (i = 0; i < kh->ncreds; i++)
		creds_glue_free(kh->creds[i]);
	free(kh->creds);
	kh->creds = NULL;
	kh->ncreds = 0;
}

/*
 * Replaces the HTTP and KMS clients and the credential fetcher for conf;
 * no poll may be in flight.  The credential providers go too: the keys
 * get new ones from kh_keys_build().
 */
int
kh_clients_reset(struct kh *kh, struct config *conf, char *err,
    size_t errlen)
{
	struct http		*h;
	struct kms_client	*c;

	if ((h = kh_http_new(kh, conf, err, errlen)) == NULL)
		return -1;
	kh_creds_free(kh);
	if (kh->creds_async != NULL)
		creds_async_free(kh->creds_async);
	kh->creds_async = NULL;
	if (kh->kms != NULL)
		kms_client_free(kh->kms);
	kh->kms = NULL;
	if (kh->http != NULL)
		http_free(kh->http);
	kh->http = h;
	if ((c = kh_kms_new(kh, conf, err, errlen)) == NULL)
		return -1;
	kh->kms = c;
	if ((kh->creds_async = creds_async_new(kh->base, h,
	    conf->kms.timeout * 1000)) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

struct kh *
kh_new(enum kh_mode mode, struct event_base *base, struct config *conf,
    char *err, size_t errlen)
{
	struct kh	*kh;

	if ((kh = calloc(1, sizeof(*kh))) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	kh->mode = mode;
	kh->base = base;
	kh->conf = conf;
	kh->stats.started = time(NULL);
	if (gethostname(kh->hostname, sizeof(kh->hostname)) == -1)
		(void)snprintf(kh->hostname, sizeof(kh->hostname), "localhost");
	kh->hostname[sizeof(kh->hostname) - 1] = '\0';
	if (mode == KH_MODE_CHECK) {
		/* Read-only: use what is there, create nothing. */
		int fd = statefs_open_top(conf->state_dir, 0, NULL, err,
		    errlen);

		if (fd != -1) {
			close(fd);
			kh->state_ok = 1;
		}
		err[0] = '\0';
	} else {
		if (state_dir_init(conf->state_dir, kh_state_warn, NULL, err,
		    errlen) == -1) {
			if (mode == KH_MODE_BASELINE) {
				free(kh);
				return NULL;
			}
			/* The daemon still watches and alerts (journald
			 * works without a state dir); it says so loudly. */
			log_warnx("state directory unusable, running without "
			    "persistent state: %s", err);
		} else
			kh->state_ok = 1;
	}
	if (kh_clients_reset(kh, conf, err, errlen) == -1 ||
	    kh_keys_build(kh, conf, err, errlen) == -1) {
		kh_free(kh);
		return NULL;
	}
	return kh;
}

void
kh_free(struct kh *kh)
{

	if (kh == NULL)
		return;
	/* Cancelling runs the callbacks of what is in flight. */
	if (kh->kms != NULL)
		kms_client_free(kh->kms);
	kh->kms = NULL;
	kh_creds_free(kh);
	kh_keys_free(kh);
	if (kh->creds_async != NULL)
		creds_async_free(kh->creds_async);
	if (kh->http != NULL)
		http_free(kh->http);
	json_decref(kh->stats.kms_errors);
	free(kh);
}

enum severity
kh_worst(struct kh *kh)
{
	enum severity	w = SEV_OK, s;
	size_t		i;

	for (i = 0; i < kh->nkeys; i++) {
		s = findings_worst(&kh->keys[i]->findings);
		if (s > w)
			w = s;
	}
	return w;
}

/* The `check --json` document: {"status", "keys": [...]}. */
json_t *
kh_status_json(struct kh *kh, int with_alerts)
{
	json_t	*doc, *keys, *kj;
	size_t	 i;

	if ((doc = json_object()) == NULL || (keys = json_array()) == NULL) {
		json_decref(doc);
		return NULL;
	}
	for (i = 0; i < kh->nkeys; i++) {
		struct kh_key *k = kh->keys[i];

		kj = check_key_json(&k->expect, k->have_snap ? &k->snap : NULL,
		    &k->findings);
		if (kj == NULL)
			continue;
		if (with_alerts && kh->alerts != NULL) {
			json_t	*firing = json_array();
			size_t	 f;

			for (f = 0; firing != NULL && f < k->findings.n; f++)
				if (alert_table_is_firing(kh->alerts,
				    k->ck->arn, k->findings.v[f].check))
					(void)json_array_append_new(firing,
					    json_string(
					    k->findings.v[f].check));
			if (firing != NULL)
				(void)json_object_set_new(kj, "alerts_firing",
				    firing);
		}
		(void)json_array_append_new(keys, kj);
	}
	(void)json_object_set_new(doc, "status",
	    json_string(severity_name(kh_worst(kh))));
	(void)json_object_set_new(doc, "keys", keys);
	return doc;
}
