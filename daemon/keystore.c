/*
 * The custom key stores of the watched keys: one DescribeCustomKeyStores
 * per store per interval, shared by every key of the store.  Its request
 * quota is far lower than DescribeKey's (custom key store operations
 * share a few requests per second per account and region), so a store
 * with a hundred keys must not cost a hundred requests.  A store's record
 * lives as long as kh (a handful per account and region); a poll that
 * finds a fetch in flight waits for its answer instead of sending another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "keyhealthd.h"
#include "kms_keystore.h"
#include "log.h"

struct kh_store_waiter {
	void			(*cb)(struct kms_keystore *, void *);
	void			*arg;
	struct kh_store_waiter	*next;
};

struct kh_store {
	struct kh		*kh;
	char			*account;
	char			*region;
	char			*id;
	struct kms_keystore	*cur;		/* the last answer, or NULL */
	time_t			 fetched_at;
	int			 inflight;
	struct kh_store_waiter	*waiters;
};

/* A cached answer serves the keys whose interval is at least this many
 * times its age: a key's own next poll (0.9 interval or later, with
 * jitter) fetches again, keys of the store polled in between share. */
#define KEYSTORE_FRESH	0.8

static struct kh_store *
keystore_find(struct kh *kh, const char *account, const char *region,
    const char *id)
{
	struct kh_store	*st, **v;
	size_t		 i;

	for (i = 0; i < kh->nstores; i++) {
		st = kh->stores[i];
		if (strcmp(st->id, id) == 0 && strcmp(st->region, region) == 0 &&
		    strcmp(st->account, account) == 0)
			return st;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->account = strdup(account)) == NULL ||
	    (st->region = strdup(region)) == NULL ||
	    (st->id = strdup(id)) == NULL)
		goto oom;
	if ((v = reallocarray(kh->stores, kh->nstores + 1, sizeof(*v))) ==
	    NULL)
		goto oom;
	kh->stores = v;
	st->kh = kh;
	v[kh->nstores++] = st;
	return st;
oom:
	if (st != NULL) {
		free(st->account);
		free(st->region);
		free(st->id);
	}
	free(st);
	return NULL;
}

static void
keystore_fetched(struct kms_result *res, void *arg)
{
	struct kh_store		*st = arg;
	struct kh_store_waiter	*w, *next;
	struct kms_keystore	*ks;

	st->inflight = 0;
	if (res->err.cls == KMS_OK && res->keystore != NULL) {
		ks = res->keystore;
		res->keystore = NULL;
		ks->err = res->err;
	} else
		ks = kms_keystore_new(st->id, &res->err);
	if (ks != NULL) {
		ks->fetched_at = (double)time(NULL);
		kms_keystore_unref(st->cur);
		st->cur = ks;
		st->fetched_at = time(NULL);
	}
	if (res->err.cls != KMS_OK)
		kh_count_error(st->kh, &res->err);
	w = st->waiters;
	st->waiters = NULL;
	for (; w != NULL; w = next) {
		next = w->next;
		w->cb(kms_keystore_ref(ks), w->arg);
		free(w);
	}
}

/* A record of an error of ours (no request sent) for one waiter. */
static void
keystore_local_error(const char *id, const char *msg,
    void (*cb)(struct kms_keystore *, void *), void *arg)
{
	struct kms_error	e;

	memset(&e, 0, sizeof(e));
	e.cls = KMS_ERR_OTHER;
	(void)snprintf(e.code, sizeof(e.code), "RequestFailed");
	(void)snprintf(e.message, sizeof(e.message), "%s", msg);
	cb(kms_keystore_new(id, &e), arg);
}

void
keystore_get(struct kh_key *k, const char *id,
    void (*cb)(struct kms_keystore *, void *), void *arg)
{
	struct kh		*kh = k->kh;
	struct kh_store		*st;
	struct kh_store_waiter	*w;
	double			 fresh;
	char			 err[256];

	if ((st = keystore_find(kh, k->target.id->account != NULL ?
	    k->target.id->account : "", k->target.id->region, id)) == NULL) {
		keystore_local_error(id, "out of memory", cb, arg);
		return;
	}
	/* A failed answer is shared too: a store the role may not describe
	 * must not cost one request per key. */
	fresh = KEYSTORE_FRESH * (double)config_key_interval(kh->conf, k->ck);
	if (!st->inflight && st->cur != NULL &&
	    difftime(time(NULL), st->fetched_at) < fresh) {
		cb(kms_keystore_ref(st->cur), arg);
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		keystore_local_error(id, "out of memory", cb, arg);
		return;
	}
	w->cb = cb;
	w->arg = arg;
	w->next = st->waiters;
	st->waiters = w;
	if (st->inflight)
		return;
	if (kh->kms == NULL || kms_describe_custom_key_store(kh->kms,
	    &k->target, id, keystore_fetched, st, err, sizeof(err)) == -1) {
		st->waiters = w->next;
		free(w);
		keystore_local_error(id, kh->kms == NULL ? "stopping" : err,
		    cb, arg);
		return;
	}
	st->inflight = 1;
}

void
keystore_free_all(struct kh *kh)
{
	struct kh_store	*st;
	size_t		 i;

	for (i = 0; i < kh->nstores; i++) {
		st = kh->stores[i];
		if (st->waiters != NULL)
			log_warnx("custom key store %s: freed with polls "
			    "waiting", st->id);
		kms_keystore_unref(st->cur);
		free(st->account);
		free(st->region);
		free(st->id);
		free(st);
	}
	free(kh->stores);
	kh->stores = NULL;
	kh->nstores = 0;
}

json_t *
keystore_status_json(struct kh *kh)
{
	json_t	*a, *o;
	size_t	 i;
	char	 when[32];

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < kh->nstores; i++) {
		const struct kh_store		*st = kh->stores[i];
		const struct kms_keystore	*ks = st->cur;

		check_rfc3339(st->fetched_at, when, sizeof(when));
		o = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, "
		    "s:s?}", "id", st->id, "account", st->account, "region",
		    st->region, "name", ks != NULL ? ks->name : NULL, "type",
		    ks != NULL ? ks->type : NULL, "connection_state",
		    ks != NULL ? ks->state : NULL, "connection_error_code",
		    ks != NULL ? ks->error_code : NULL, "error", ks != NULL &&
		    ks->err.cls != KMS_OK ? ks->err.code : NULL, "fetched_at",
		    st->fetched_at > 0 ? when : NULL);
		if (o == NULL || json_array_append_new(a, o) == -1) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}
