/*
 * The daemon's context: configuration, HTTP and KMS clients, credential
 * providers and the keys with their state.  Shared by `run`, `check` and
 * `baseline`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "alert.h"
#include "config.h"
#include "creds.h"
#include "creds_async.h"
#include "discover.h"
#include "http.h"
#include "kms.h"
#include "log.h"
#include "statefs.h"
#include "statewriter.h"
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
kh_key_stat_id(struct kh_key *k, const char *state_dir)
{
	memset(&k->state_id, 0, sizeof(k->state_id));
	if (k->sfile[0] != '\0')
		(void)state_id_get(state_dir, k->sfile, &k->state_id);
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
	struct state_id		 old = k->state_id;
	char			 err[512];

	/* While a write of ours is queued, the file changes under us: its
	 * completion tells our mtime. */
	if (k->kh->mode != KH_MODE_RUN || !k->kh->state_ok || k->wpending > 0)
		return;
	/* With the inotify watch, only a file that changed is looked at. */
	if (k->kh->inotify_fd != -1 && !k->disk_changed)
		return;
	k->disk_changed = 0;
	kh_key_stat_id(k, k->kh->conf->state_dir);
	if (state_id_same(&k->state_id, &old))
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
	/* Grants accepted anew: the diff we hold is against the old ones. */
	if (st.baseline.has_grants != k->st.baseline.has_grants ||
	    memcmp(st.baseline.grants_md, k->st.baseline.grants_md,
	    sizeof(st.baseline.grants_md)) != 0)
		k->sched.next_grants = 0;
	check_baseline_free(&k->st.baseline);
	k->st.baseline = st.baseline;
	memset(&st.baseline, 0, sizeof(st.baseline));
	state_key_free(&st);
	k->base_on_disk = 1;
	k->base_lost = 0;
	kh_key_baseline_drop(k);
}

/* Only the daemon holds baselines long enough for their texts to
 * matter, and only its writer tells when they are on disk. */
static int
kh_key_keeps_digest_only(const struct kh_key *k)
{
	return k->kh->mode == KH_MODE_RUN && k->kh->state_ok &&
	    k->kh->writer != NULL;
}

void
kh_key_baseline_drop(struct kh_key *k)
{
	if (kh_key_keeps_digest_only(k) && k->base_on_disk &&
	    k->wpending == 0 && !k->dirty)
		check_baseline_drop_text(&k->st.baseline);
}

int
kh_key_baseline_text(struct kh_key *k)
{
	struct key_baseline	*b = &k->st.baseline;
	struct state_key	 st;
	enum state_read		 r;
	char			 err[512];

	if (!b->has_policy || b->policy != NULL)
		return 0;
	memset(&st, 0, sizeof(st));
	r = state_key_load(k->kh->conf->state_dir, k->ck->arn, &st, err,
	    sizeof(err));
	if (r == STATE_READ_ERROR) {
		log_warnx("key %s: cannot read its accepted policy back: %s",
		    kh_key_name(k), err);
		state_key_free(&st);
		return -1;
	}
	if (r == STATE_READ_OK && st.baseline.has_policy &&
	    memcmp(st.baseline.policy_md, b->policy_md,
	    sizeof(b->policy_md)) == 0) {
		/* Only the texts: the rest (the material id) may be newer
		 * in memory than on disk. */
		b->policy = st.baseline.policy;
		b->policy_canonical = st.baseline.policy_canonical;
		st.baseline.policy = st.baseline.policy_canonical = NULL;
		state_key_free(&st);
		k->base_lost = 0;
		return 0;
	}
	if (r == STATE_READ_OK && st.baseline.has_policy) {
		log_info("key %s: baseline changed on disk (baseline accept?), "
		    "using it", kh_key_name(k));
		check_baseline_free(b);
		*b = st.baseline;
		memset(&st.baseline, 0, sizeof(st.baseline));
		state_key_free(&st);
		kh_key_stat_id(k, k->kh->conf->state_dir);
		k->base_lost = 0;
		return 0;
	}
	/* Removed or moved aside under us: only the digest is left.  It
	 * still tells an unchanged policy; a changed one is check-failed
	 * (PolicyBaseline) until `baseline accept`, never silently taken
	 * as the new baseline. */
	if (!k->base_lost)
		log_warnx("key %s: its state file no longer holds the "
		    "accepted policy%s%s; run keyhealthd baseline accept once "
		    "the key's policy is reviewed", kh_key_name(k),
		    err[0] != '\0' ? ": " : "", err);
	k->base_lost = 1;
	k->base_on_disk = 0;
	state_key_free(&st);
	return -1;
}

/*
 * `baseline accept` replaces a key's state file (a rename into keys/):
 * inotify says which, instead of a stat() of every key's file at every
 * poll.  Our own writes show up too; the mtime tells them apart.
 */
static void
kh_inotify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kh			*kh = arg;
	char				 buf[16384], name[300];
	const struct inotify_event	*ev;
	struct kh_key			*k;
	ssize_t				 n, off;
	size_t				 i;

	(void)what;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (off = 0; off < n; off += (ssize_t)sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(void *)(buf + off);
			if (ev->mask & IN_Q_OVERFLOW) {
				/* Events were lost: look at every file. */
				for (i = 0; i < kh->nkeys; i++)
					kh->keys[i]->disk_changed = 1;
				continue;
			}
			if (ev->len == 0 || (size_t)snprintf(name,
			    sizeof(name), "keys/%s", ev->name) >= sizeof(name))
				continue;
			if ((k = kh_key_by_file(kh, name)) != NULL)
				k->disk_changed = 1;
		}
	}
}

static void
kh_inotify_start(struct kh *kh, const char *state_dir)
{
	char	path[4096];

	kh->inotify_fd = -1;
	if ((size_t)snprintf(path, sizeof(path), "%s/keys", state_dir) >=
	    sizeof(path) ||
	    (kh->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		goto fail;
	if (inotify_add_watch(kh->inotify_fd, path, IN_MOVED_TO |
	    IN_CLOSE_WRITE | IN_DELETE) == -1)
		goto fail;
	if ((kh->inotify_ev = event_new(kh->base, kh->inotify_fd,
	    EV_READ | EV_PERSIST, kh_inotify_cb, kh)) == NULL ||
	    event_add(kh->inotify_ev, NULL) == -1)
		goto fail;
	return;
fail:
	log_warn("state: cannot watch %s for `baseline accept`, looking at "
	    "each key's file at each poll instead", path);
	if (kh->inotify_ev != NULL)
		event_free(kh->inotify_ev);
	kh->inotify_ev = NULL;
	if (kh->inotify_fd != -1)
		(void)close(kh->inotify_fd);
	kh->inotify_fd = -1;
}

/* Keys by the name of their state file, for the writer's completions. */
static size_t
kh_keymap_slot(const struct kh *kh, const char *sfile)
{
	uint32_t	h = 2166136261u;

	for (; *sfile != '\0'; sfile++)
		h = (h ^ (unsigned char)*sfile) * 16777619u;
	return h & (kh->keymap_size - 1);
}

static int
kh_keymap_build(struct kh *kh)
{
	size_t	i, slot, size = 16;

	while (size < kh->nkeys * 2)
		size *= 2;
	free(kh->keymap);
	if ((kh->keymap = calloc(size, sizeof(*kh->keymap))) == NULL) {
		kh->keymap_size = 0;
		return -1;
	}
	kh->keymap_size = size;
	for (i = 0; i < kh->nkeys; i++) {
		if (kh->keys[i]->sfile[0] == '\0')
			continue;
		slot = kh_keymap_slot(kh, kh->keys[i]->sfile);
		while (kh->keymap[slot] != NULL)
			slot = (slot + 1) & (size - 1);
		kh->keymap[slot] = kh->keys[i];
	}
	return 0;
}

struct kh_key *
kh_key_by_file(struct kh *kh, const char *sfile)
{
	size_t	slot;

	if (kh->keymap_size == 0)
		return NULL;
	slot = kh_keymap_slot(kh, sfile);
	for (; kh->keymap[slot] != NULL;
	    slot = (slot + 1) & (kh->keymap_size - 1))
		if (strcmp(kh->keymap[slot]->sfile, sfile) == 0)
			return kh->keymap[slot];
	return NULL;
}

/*
 * Documents handed to the writer at a time.  The others wait as a dirty
 * mark on their keys and are built when there is room: a queued document
 * costs a few KiB (10,000 of them in a first sweep on a slow disk), a
 * mark nothing, and a key saved twice meanwhile is built once.
 */
#define KH_WRITES_QUEUED	64

static int	kh_key_write(struct kh_key *);
static void	kh_key_mark_dirty(struct kh_key *);

/* Hands dirty keys to the writer while it has room (all: every one). */
static void
kh_state_pump(struct kh *kh, int all)
{
	struct kh_key	*k;

	while ((k = kh->dirty_head) != NULL && (all ||
	    statewriter_pending(kh->writer) < KH_WRITES_QUEUED)) {
		if ((kh->dirty_head = k->dirty_next) == NULL)
			kh->dirty_tail = NULL;
		k->dirty_next = NULL;
		/* One write of a key out at a time: the next one's expected
		 * file is the one this one writes. */
		if (k->wpending > 0) {
			k->write_after = 1;
			continue;
		}
		k->dirty = 0;
		(void)kh_key_write(k);
	}
}

/* Hands everything dirty to the writer and waits until it is written
 * (blocks: only for stopping). */
static void
kh_state_flush(struct kh *kh)
{
	do {
		kh_state_pump(kh, 1);
		statewriter_flush(kh->writer);
	} while (kh->dirty_head != NULL);
}

/* A write of the state writer finished (on the loop). */
static void
kh_state_written(void *arg, const char *name, int rc,
    const struct state_id *id, const char *err)
{
	struct kh	*kh = arg;
	struct kh_key	*k = kh_key_by_file(kh, name);
	struct state_id	 prev;

	if (k != NULL && k->wpending > 0) {
		k->wpending--;
		if (rc == 0)
			k->state_id = *id;
		/* The last document built for it is on disk, baseline and
		 * all: memory keeps the digest. */
		if (rc == 0 && k->wpending == 0 && !k->dirty) {
			k->base_on_disk = 1;
			kh_key_baseline_drop(k);
		}
		if (rc == STATE_WRITE_CONFLICT && k->wpending == 0) {
			/* `baseline accept` wrote it after we built ours:
			 * take its baseline, then save our result with it. */
			log_info("key %s: its state file was replaced since "
			    "the poll (baseline accept?): read back, not "
			    "written over", kh_key_name(k));
			k->disk_changed = 1;
			prev = k->state_id;
			kh_key_reload_baseline(k);
			/* Not even looked at (no stat): the file the writer
			 * saw is the one to replace, or this never ends. */
			if (state_id_same(&k->state_id, &prev))
				k->state_id = *id;
			k->write_after = 1;
		}
		if (k->write_after && k->wpending == 0) {
			k->write_after = 0;
			k->dirty = 0;
			kh_key_mark_dirty(k);
		}
	}
	kh_state_pump(kh, 0);
	if (rc == 0 || rc == STATE_WRITE_CONFLICT)
		return;
	kh->stats.state_write_failures++;
	if (k != NULL)
		log_warnx("key %s: cannot save its state: %s", kh_key_name(k),
		    err);
	else
		log_warnx("state: cannot save %s: %s", name, err);
}

/* Queues j (stolen) for dir/name through the writer, or writes it now
 * without one; 0, or -1 logged and counted (what says whose file). */
static int
kh_state_write(struct kh *kh, const char *name, json_t *j,
    const struct state_id *expect, const char *what)
{
	char	err[512];
	int	rc;

	if (kh->writer != NULL) {
		if ((rc = statewriter_put(kh->writer, name, j, expect, err,
		    sizeof(err))) == -1)
			goto fail;
		return rc;
	}
	rc = state_write_json(kh->conf->state_dir, name, j, err, sizeof(err));
	json_decref(j);
	if (rc == 0)
		return 0;
fail:
	kh->stats.state_write_failures++;
	log_warnx("%s: cannot save %s: %s", what, name, err);
	return -1;
}

/* Queues k on the dirty list (once). */
static void
kh_key_mark_dirty(struct kh_key *k)
{
	struct kh	*kh = k->kh;

	if (k->dirty)
		return;
	k->dirty = 1;
	if (kh->dirty_tail != NULL)
		kh->dirty_tail->dirty_next = k;
	else
		kh->dirty_head = k;
	kh->dirty_tail = k;
}

int
kh_key_accept_grants(struct kh_key *k, const json_t *set, char *err,
    size_t errlen)
{
	const struct key_grants	*g = k->snap.grants;
	char			 name[64];
	json_t			*j;
	time_t			 now = time(NULL);

	if (!k->kh->state_ok || g == NULL || set == NULL) {
		(void)snprintf(err, errlen, "%s", !k->kh->state_ok ?
		    "no usable state directory" : "no grants were read");
		return -1;
	}
	if (state_grants_filename(k->ck->arn, name, sizeof(name)) == -1 ||
	    (j = state_grants_to_json(k->ck->arn, set, g->md, now)) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* The set first: the key's file, written after it, names its
	 * digest (a crash between the two leaves the old digest, and the
	 * new set is then reported unreadable rather than trusted). */
	if (kh_state_write(k->kh, name, j, NULL, "grants") == -1) {
		(void)snprintf(err, errlen, "cannot write %s", name);
		return -1;
	}
	check_grants_accept(&k->st.baseline, g, now);
	return 0;
}

int
kh_key_save_state(struct kh_key *k)
{
	struct kh	*kh = k->kh;

	if (kh->mode == KH_MODE_CHECK || !kh->state_ok)
		return 0;
	if (kh->writer == NULL)
		return kh_key_write(k);
	kh_key_mark_dirty(k);
	kh_state_pump(kh, 0);
	return 0;
}

/* Writes k's state now, or queues it on the writer. */
static int
kh_key_write(struct kh_key *k)
{
	json_t	*j;
	int	 rc;

	/* A `baseline accept` since our last poll wins over the baseline we
	 * hold, also when we save on the way out before polling again. */
	kh_key_reload_baseline(k);
	/* The file is rewritten whole: the accepted policy's text too. */
	if (kh_key_baseline_text(k) == -1) {
		k->kh->stats.state_write_failures++;
		return -1;
	}
	if (k->sfile[0] == '\0' || (j = state_key_to_json(&k->st)) == NULL) {
		k->kh->stats.state_write_failures++;
		log_warnx("key %s: cannot save its state: out of memory",
		    kh_key_name(k));
		return -1;
	}
	/* The writer reports failures itself, naming the key. */
	if (k->kh->writer != NULL) {
		/* Only a removed key's last save follows a write of it still
		 * out (kh_state_pump()): the writer keeps their order. */
		if ((rc = kh_state_write(k->kh, k->sfile, j, k->wpending == 0 ?
		    &k->state_id : NULL, "state")) == 0)
			k->wpending++;
		return rc == -1 ? -1 : 0;
	}
	if (kh_state_write(k->kh, k->sfile, j, NULL, "state") == -1)
		return -1;
	kh_key_stat_id(k, k->kh->conf->state_dir);
	return 0;
}

/* A run-time key's own entry (kh_key_add()): every string its own. */
void
kh_ck_free(struct config_key *ck)
{
	if (ck == NULL)
		return;
	free(ck->arn);
	free(ck->name);
	free(ck->vendor_name);
	free(ck->alias);
	free(ck->aws.profile);
	free(ck->aws.region);
	free(ck->aws.endpoint_url);
	free(ck->aws.sts_endpoint_url);
	free(ck->aws.assume_role);
	free(ck->aws.ca_file);
	free(ck);
}

static void
kh_key_free(struct kh_key *k)
{
	if (k == NULL)
		return;
	kh_ck_free(k->own_ck);
	creds_glue_forget(k->creds, k);
	poll_discard(k);
	if (k->timer != NULL)
		event_free(k->timer);
	state_key_free(&k->st);
	check_snapshot_free(&k->snap);
	findings_clear(&k->findings);
	check_cache_free(&k->pcache);
	json_decref(k->grants_set);
	free(k->alias_arn);
	free(k->endpoint_err);
	free(k);
}

const char *
kh_key_origin(const struct kh_key *k)
{
	switch (k->origin) {
	case KH_ORIGIN_DISCOVERED:
		return "discovered";
	case KH_ORIGIN_REPLICA:
		return "replica";
	default:
		return "configured";
	}
}

/*
 * The endpoint of the key set up last, for the next one: its inputs are
 * nearly always the same, and working it out (endpoint_kms() parses an
 * endpoint_url with curl) was a third of a reload's loop turn.  Valid
 * during one kh_keys_build().
 */
struct kh_ep_memo {
	const struct config_key	*ck;
	struct kh_endpoint	*ep;
};

static void	kh_key_setup(struct kh *, struct config *, struct kh_key *,
		    const struct config_key *, struct kh_ep_memo *);

char *
kh_strdup0(const char *s, int *bad)
{
	char	*d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*bad = 1;
	return d;
}

static int
kh_name_taken(void *arg, const char *name)
{
	return kh_key_find(arg, name) != NULL;
}

struct config_key *
kh_ck_found(struct kh *kh, const struct discovery_found *f, char *err,
    size_t errlen)
{
	struct config_key	*ck;
	char			 name[DISCOVER_NAME_MAX + 1], serr[512];
	int			 bad = 0;

	if ((ck = calloc(1, sizeof(*ck))) == NULL ||
	    (ck->arn = strdup(f->arn)) == NULL)
		goto nomem;
	/* The parsed ARN points into ck->arn. */
	if (arn_parse(ck->arn, &ck->parsed, serr, sizeof(serr)) == -1 ||
	    ck->parsed.kind != ARN_KMS_KEY) {
		(void)snprintf(err, errlen, "%s: not a key ARN", f->arn);
		kh_ck_free(ck);
		return NULL;
	}
	discover_name(f->alias, f->key_id, name, sizeof(name));
	if (discover_name_unique(name, sizeof(name), kh_name_taken,
	    kh) == -1) {
		(void)snprintf(err, errlen, "%s: no free name", f->arn);
		kh_ck_free(ck);
		return NULL;
	}
	ck->name = kh_strdup0(name, &bad);
	ck->vendor_name = kh_strdup0(f->vendor->name, &bad);
	ck->vendor = f->vendor;
	ck->alias = kh_strdup0(f->alias, &bad);
	ck->aws.use_fips = f->aws->use_fips;
	ck->aws.allow_http = f->aws->allow_http;
	ck->aws.profile = kh_strdup0(f->aws->profile, &bad);
	ck->aws.region = kh_strdup0(f->aws->region, &bad);
	ck->aws.endpoint_url = kh_strdup0(f->aws->endpoint_url, &bad);
	ck->aws.sts_endpoint_url = kh_strdup0(f->aws->sts_endpoint_url, &bad);
	ck->aws.assume_role = kh_strdup0(f->aws->assume_role, &bad);
	ck->aws.ca_file = kh_strdup0(f->aws->ca_file, &bad);
	if (bad)
		goto nomem;
	return ck;
nomem:
	kh_ck_free(ck);
	(void)snprintf(err, errlen, "out of memory");
	return NULL;
}

struct kh_key *
kh_key_by_arn(struct kh *kh, const char *arn)
{
	struct kh_key	*k;
	char		 sfile[48];

	if (state_key_filename(arn, sfile, sizeof(sfile)) == 0 &&
	    (k = kh_key_by_file(kh, sfile)) != NULL &&
	    strcmp(k->ck->arn, arn) == 0)
		return k;
	return NULL;
}

struct kh_key *
kh_key_find(struct kh *kh, const char *name_or_arn)
{
	struct kh_key	*k;
	size_t		 i;

	/* An ARN by its state file's name, in O(1): start-up looks up every
	 * alert's key. */
	if (strncmp(name_or_arn, "arn:", 4) == 0 &&
	    (k = kh_key_by_arn(kh, name_or_arn)) != NULL)
		return k;

	for (i = 0; i < kh->nkeys; i++)
		if (strcmp(kh->keys[i]->ck->arn, name_or_arn) == 0 ||
		    strcmp(kh->keys[i]->ck->name, name_or_arn) == 0)
			return kh->keys[i];
	return NULL;
}

/*
 * The endpoint of url, shared by every key that uses it (10,000 keys, a
 * handful of endpoints).  Lives as long as kh.  NULL when out of memory.
 */
static struct kh_endpoint *
kh_endpoint_get(struct kh *kh, const char *url)
{
	struct kh_endpoint	**v, *ep;
	size_t			  i;

	for (i = 0; i < kh->nendpoints; i++)
		if (strcmp(kh->endpoints[i]->url, url) == 0)
			return kh->endpoints[i];
	if ((v = reallocarray(kh->endpoints, kh->nendpoints + 1,
	    sizeof(*v))) == NULL)
		return NULL;
	kh->endpoints = v;
	if ((ep = calloc(1, sizeof(*ep))) == NULL)
		return NULL;
	if ((ep->url = strdup(url)) == NULL) {
		free(ep);
		return NULL;
	}
	v[kh->nendpoints++] = ep;
	return ep;
}

static void
kh_key_setup(struct kh *kh, struct config *conf, struct kh_key *k,
    const struct config_key *ck, struct kh_ep_memo *memo)
{
	char			 err[512], url[512];

	k->kh = kh;
	k->ck = ck;
	/* A key kept over a reload has the same ARN, so the same file. */
	if (k->sfile[0] == '\0' && state_key_filename(ck->arn, k->sfile,
	    sizeof(k->sfile)) == -1)
		k->sfile[0] = '\0';
	config_key_keyid(ck, &k->expect.id);
	k->expect.vendor = ck->vendor;
	k->expect.alias = ck->alias;
	k->expect.expect_rotation = ck->expect_rotation;
	k->expect.material_expiry_warning =
	    conf->alerts.material_expiry_warning;
	k->expect.expect_use_within = config_key_use_within(conf, ck);
	if (ck->alias != NULL && asprintf(&k->alias_arn,
	    "arn:%s:kms:%s:%s:%s", ck->parsed.partition, ck->parsed.region,
	    ck->parsed.account, ck->alias) == -1) {
		k->alias_arn = NULL;
		log_warnx("key %s: out of memory: its alias is not watched",
		    ck->name);
	}

	if (memo != NULL && memo->ck != NULL && memo->ep != NULL &&
	    config_key_same_endpoint(conf, memo->ck, ck))
		k->ep = memo->ep;
	else if (config_key_endpoint(conf, ck, url, sizeof(url), err,
	    sizeof(err)) == -1) {
		k->endpoint_err = strdup(err);
		log_warnx("key %s: %s", ck->name, err);
	} else if ((k->ep = kh_endpoint_get(kh, url)) == NULL) {
		k->endpoint_err = strdup("out of memory");
		log_warnx("key %s: out of memory", ck->name);
	}
	if (memo != NULL) {
		memo->ck = ck;
		memo->ep = k->ep;
	}
	k->creds = creds_glue_get(kh, conf, ck);
	k->target.id = &k->expect.id;
	k->target.endpoint = k->ep != NULL ? k->ep->url : NULL;
	k->target.get_creds = creds_provider_sigv4;
	k->target.creds_arg = k->creds != NULL ? k->creds->prov : NULL;
}

/*
 * The key state files there are, listed once by kh_keys_build() for its
 * new keys: on a first start none of 100,000 keys has a file, and looking
 * for each (a directory walk and an open per key) was the larger part of
 * start-up.  loaded 0: not listed yet; ok 0: could not be listed.
 */
struct kh_names {
	char	**v;
	size_t	  n;
	int	  loaded;
	int	  ok;
};

/* A new key's state: its file, else a fresh start.  names may be NULL. */
static void
kh_key_load_state(struct kh *kh, const struct config *conf, struct kh_key *k,
    struct kh_names *names)
{
	char	serr[512];

	if (names != NULL && kh->state_ok && !names->loaded) {
		names->loaded = 1;
		names->ok = state_key_names(conf->state_dir, &names->v,
		    &names->n) == 0;
	}
	if (names != NULL && names->ok && k->sfile[0] != '\0' &&
	    !state_key_names_has(names->v, names->n, k->sfile))
		;	/* no file: a fresh start */
	else if (kh->state_ok) {
		enum state_read r = kh->mode == KH_MODE_CHECK ?
		    state_key_peek(conf->state_dir, k->ck->arn, &k->st, serr,
		    sizeof(serr)) :
		    state_key_load(conf->state_dir, k->ck->arn, &k->st, serr,
		    sizeof(serr));

		if (r != STATE_READ_OK && serr[0] != '\0')
			log_warnx("key %s: %s", k->ck->name, serr);
		if (r == STATE_READ_OK) {
			kh_key_stat_id(k, conf->state_dir);
			k->base_on_disk = 1;
		}
	}
	if (k->st.arn == NULL)
		k->st.arn = strdup(k->ck->arn);
}

/*
 * The one place where a key joins the watched set at run time
 * (keyhealthd.h).
 */
struct kh_key *
kh_key_add(struct kh *kh, struct config_key *ck, enum kh_origin origin,
    char *err, size_t errlen)
{
	struct kh_key	**v, *k;

	if (ck == NULL)
		return NULL;	/* the builder said why */
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (v = reallocarray(kh->keys, kh->nkeys + 1, sizeof(*v))) == NULL) {
		free(k);
		kh_ck_free(ck);
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	kh->keys = v;
	k->own_ck = ck;
	k->origin = origin;
	k->added = time(NULL);
	kh_key_setup(kh, kh->conf, k, ck, NULL);
	kh_key_load_state(kh, kh->conf, k, NULL);
	v[kh->nkeys++] = k;
	if (origin == KH_ORIGIN_DISCOVERED)
		kh->ndiscovered++;
	kh->nworst[findings_worst(&k->findings)]++;
	if (kh_keymap_build(kh) == -1)
		log_warnx("key %s: out of memory indexing it", ck->name);
	return k;
}

/*
 * The one place where a run-time key leaves (keyhealthd.h).  Its state
 * file stays: a key found again keeps its baseline.
 */
void
kh_key_drop(struct kh_key *k)
{
	struct kh	*kh = k->kh;
	struct kh_key	*p, *prev = NULL;
	size_t		 i;
	enum severity	 w;

	if (k->origin == KH_ORIGIN_CONFIG)
		return;
	if (k->poll != NULL) {
		k->drop = 1;
		return;
	}
	if (kh->on_key_dropped != NULL)
		kh->on_key_dropped(kh, k);
	if (k->ep != NULL)
		sched_queue_remove(&k->ep->q, &k->slot);
	/* What it still had to save is of no use now. */
	if (k->dirty) {
		for (p = kh->dirty_head; p != NULL && p != k;
		    p = p->dirty_next)
			prev = p;
		if (p == k) {
			if (prev != NULL)
				prev->dirty_next = k->dirty_next;
			else
				kh->dirty_head = k->dirty_next;
			if (kh->dirty_tail == k)
				kh->dirty_tail = prev;
		}
	}
	for (i = kh->nconfigured; i < kh->nkeys && kh->keys[i] != k; i++)
		;
	if (i < kh->nkeys) {
		memmove(&kh->keys[i], &kh->keys[i + 1],
		    (kh->nkeys - i - 1) * sizeof(*kh->keys));
		kh->nkeys--;
	}
	if (k->origin == KH_ORIGIN_DISCOVERED && kh->ndiscovered > 0)
		kh->ndiscovered--;
	w = findings_worst(&k->findings);
	if (kh->nworst[w] > 0)
		kh->nworst[w]--;
	kh_key_free(k);
	if (kh_keymap_build(kh) == -1)
		log_warnx("state: out of memory indexing the keys");
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
 * A reload keeps a key that stays watched in the same struct: what it
 * learnt (state, last poll, findings, schedule, timer, metrics) stays
 * where it is and only what its entry decides is set again.  Building a
 * new struct per key and moving the old one's over held two sets of keys
 * at once (the reload's peak of memory: 9 MB at 10,000 keys) and took
 * most of the reload's loop turn.  k->ck becomes k->prev_ck (NULL: the
 * key is to be polled at once); the caller frees a run-time entry it
 * returns (k no longer points into it).
 */
static struct config_key *
kh_key_rebind(struct kh *kh, struct config *conf, struct kh_key *k,
    const struct config_key *ck, const struct config_key *prev,
    struct kh_ep_memo *memo)
{
	struct config_key	*own = k->own_ck;

	free(k->alias_arn);
	k->alias_arn = NULL;
	free(k->endpoint_err);
	k->endpoint_err = NULL;
	k->ep = NULL;
	/* The endpoints' queues were dropped (kh_keys_free()). */
	memset(&k->slot, 0, sizeof(k->slot));
	k->primary = NULL;
	k->expect.primary = NULL;
	k->state_only = 0;
	k->own_ck = NULL;
	k->prev_ck = prev;
	k->kept = 1;
	kh_key_setup(kh, conf, k, ck, memo);
	return own != ck ? own : NULL;
}

/*
 * Builds the keys of conf, keeping the current keys (kh_key_rebind()) for
 * the ARNs that stay; such a key's prev_ck points at its entry in the
 * current config until the caller clears it.  Requires no poll in
 * flight.  The current keys are found by binary search: a reload of
 * 100,000 keys compared every pair.
 */
/*
 * A reload keeps the run-time keys while what derives them stays, and
 * while conf does not list them itself (an entry of keys: wins: the key
 * is kept as a configured one): a discovered key while conf has a discover: section, its entry
 * moving over; a replica while its primary is configured and watches
 * replicas (replica_kept()), with an entry built again from its
 * primary's new one.  keys[0 .. conf->nkeys) are the new configured
 * keys; the kept ones are appended to keys[n...].  Returns the new count.
 */
static size_t
kh_keys_carry(struct kh *kh, struct config *conf, struct kh_key **keys,
    size_t n)
{
	struct kh_key		*k;
	struct config_key	*ck, *prev;
	size_t			 i;
	long			 p = -1;

	kh->ndiscovered = 0;
	for (i = 0; i < kh->nkeys; i++) {
		k = kh->keys[i];
		if (k->origin == KH_ORIGIN_CONFIG || k->own_ck == NULL ||
		    k->kept)
			continue;	/* configured now: that one wins */
		if (k->origin == KH_ORIGIN_DISCOVERED &&
		    !conf->discover.enabled)
			continue;
		if (k->origin == KH_ORIGIN_REPLICA &&
		    (p = replica_kept(conf, k)) == -1)
			continue;
		if (k->origin == KH_ORIGIN_REPLICA) {
			/* Its primary's settings, as they are now. */
			if ((ck = replica_ck_new(&conf->keys[p],
			    k->ck->arn)) == NULL) {
				log_warnx("key %s: out of memory: no longer "
				    "watched", kh_key_name(k));
				continue;
			}
		} else {
			ck = k->own_ck;
			/* Profiles are the new configuration's. */
			ck->vendor = ck->vendor_name != NULL ?
			    config_vendor(conf, ck->vendor_name) : NULL;
		}
		/* What the reload compares is the key's entry as it moved
		 * over; a replica's, its primary's (run.c). */
		prev = kh_key_rebind(kh, conf, k, ck, ck, NULL);
		kh_ck_free(prev);
		k->own_ck = ck;
		if (k->origin == KH_ORIGIN_REPLICA)
			replica_setup(k, keys[p]);
		keys[n++] = k;
		if (k->origin == KH_ORIGIN_DISCOVERED)
			kh->ndiscovered++;
	}
	return n;
}

int
kh_keys_build(struct kh *kh, struct config *conf, char *err, size_t errlen)
{
	struct kh_key		**keys, **sorted = NULL, **oldkeys;
	struct kh_key		 *olddirty, *next, *k;
	struct config_key	 *own;
	struct kh_ep_memo	  memo = { NULL, NULL };
	struct kh_names		  names = { NULL, 0, 0, 0 };
	size_t			  i, n, oldn;
	int			  rc;

	if ((keys = calloc(conf->nkeys + kh->nkeys + 1,
	    sizeof(*keys))) == NULL || (kh->nkeys > 0 &&
	    (sorted = reallocarray(NULL, kh->nkeys, sizeof(*sorted))) ==
	    NULL)) {
		free(keys);
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < kh->nkeys; i++)
		kh->keys[i]->kept = 0;
	if (kh->nkeys > 0) {
		memcpy(sorted, kh->keys, kh->nkeys * sizeof(*sorted));
		qsort(sorted, kh->nkeys, sizeof(*sorted), kh_key_arn_cmp);
	}
	for (i = 0; i < conf->nkeys; i++) {
		k = kh_key_bsearch(sorted, kh->nkeys, conf->keys[i].arn);
		if (k != NULL) {
			/* A run-time key now configured: its own entry goes
			 * (a new entry, polled at once). */
			own = kh_key_rebind(kh, conf, k, &conf->keys[i],
			    k->own_ck != NULL ? NULL : k->ck, &memo);
			kh_ck_free(own);
			if (k->origin == KH_ORIGIN_DISCOVERED &&
			    kh->ndiscovered > 0)
				kh->ndiscovered--;
			k->origin = KH_ORIGIN_CONFIG;
			keys[i] = k;
			/* A shorter grants_interval applies now, not after
			 * the longer one ran out. */
			if (k->sched.next_grants > time(NULL) +
			    config_key_grants_interval(conf, k->ck))
				k->sched.next_grants = 0;
			continue;
		}
		if ((k = calloc(1, sizeof(*k))) == NULL) {
			for (size_t j = 0; j < i; j++)
				if (!keys[j]->kept)
					kh_key_free(keys[j]);
			free(keys);
			free(sorted);
			state_key_names_free(names.v, names.n);
			(void)snprintf(err, errlen, "out of memory");
			return -1;
		}
		keys[i] = k;
		kh_key_setup(kh, conf, k, &conf->keys[i], &memo);
		kh_key_load_state(kh, conf, k, &names);
	}
	state_key_names_free(names.v, names.n);
	/* Run-time keys stay while what derives them does. */
	n = kh_keys_carry(kh, conf, keys, conf->nkeys);
	free(sorted);
	olddirty = kh->dirty_head;
	kh->dirty_head = kh->dirty_tail = NULL;
	oldkeys = kh->keys;
	oldn = kh->nkeys;
	kh->keys = NULL;
	kh->nkeys = 0;
	kh_keys_free(kh);	/* queues and map of the old keys */
	kh->keys = keys;
	kh->nkeys = n;
	kh->nconfigured = conf->nkeys;
	memset(kh->nworst, 0, sizeof(kh->nworst));
	for (i = 0; i < kh->nkeys; i++)
		kh->nworst[findings_worst(&keys[i]->findings)]++;
	rc = kh_keymap_build(kh);
	/* A state a kept key had still to save stays queued, in the same
	 * order; a removed key's is written now. */
	for (; olddirty != NULL; olddirty = next) {
		next = olddirty->dirty_next;
		olddirty->dirty_next = NULL;
		olddirty->dirty = 0;
		if (olddirty->kept)
			kh_key_mark_dirty(olddirty);
		else
			(void)kh_key_write(olddirty);
	}
	for (i = 0; i < oldn; i++) {
		/* Dirty behind a write still out: after it, in order. */
		if (!oldkeys[i]->kept && oldkeys[i]->write_after) {
			oldkeys[i]->write_after = 0;
			oldkeys[i]->dirty = 0;
			(void)kh_key_write(oldkeys[i]);
		}
		if (!oldkeys[i]->kept)
			kh_key_free(oldkeys[i]);
	}
	free(oldkeys);
	for (i = 0; i < kh->nkeys; i++)
		kh->keys[i]->kept = 0;
	if (rc == -1) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (kh->writer != NULL)
		kh_state_pump(kh, 0);
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
	kh->nconfigured = 0;
	/* The keys waiting for their endpoints are gone with them. */
	for (i = 0; i < kh->nendpoints; i++)
		sched_queue_drop(&kh->endpoints[i]->q);
	free(kh->keymap);
	kh->keymap = NULL;
	kh->keymap_size = 0;
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
	kh->inotify_fd = -1;
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
	if (mode == KH_MODE_RUN && kh->state_ok)
		kh_inotify_start(kh, conf->state_dir);
	if (mode == KH_MODE_RUN && kh->state_ok &&
	    (kh->writer = statewriter_new(base, conf->state_dir,
	    kh_state_written, kh, err, errlen)) == NULL) {
		kh_free(kh);
		return NULL;
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
	/* What is queued gets written, and reported to the keys. */
	if (kh->writer != NULL)
		kh_state_flush(kh);
	statewriter_free(kh->writer);
	kh->writer = NULL;
	if (kh->lag_timer != NULL) {
		event_free(kh->lag_timer);
		if (kh->lag_schedfd != -1)
			(void)close(kh->lag_schedfd);
	}
	if (kh->inotify_ev != NULL)
		event_free(kh->inotify_ev);
	if (kh->inotify_fd != -1)
		(void)close(kh->inotify_fd);
	/* Cancelling runs the callbacks of what is in flight. */
	if (kh->kms != NULL)
		kms_client_free(kh->kms);
	kh->kms = NULL;
	kh_creds_free(kh);
	kh_keys_free(kh);
	keystore_free_all(kh);
	if (kh->creds_async != NULL)
		creds_async_free(kh->creds_async);
	if (kh->http != NULL)
		http_free(kh->http);
	json_decref(kh->stats.kms_errors);
	for (size_t i = 0; i < kh->nendpoints; i++) {
		free(kh->endpoints[i]->url);
		free(kh->endpoints[i]);
	}
	free(kh->endpoints);
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

json_t *
kh_key_json(struct kh *kh, struct kh_key *k, int with_alerts)
{
	json_t	*kj, *reps = NULL;
	size_t	 i, f;

	kj = check_key_json(&k->expect, k->have_snap ? &k->snap : NULL,
	    &k->findings);
	if (kj == NULL)
		return NULL;
	if (with_alerts && kh->alerts != NULL) {
		json_t	*firing = json_array();

		for (f = 0; firing != NULL && f < k->findings.n; f++)
			if (alert_table_is_firing(kh->alerts, k->ck->arn,
			    k->findings.v[f].check))
				(void)json_array_append_new(firing,
				    json_string(k->findings.v[f].check));
		if (firing != NULL)
			(void)json_object_set_new(kj, "alerts_firing",
			    firing);
	}
	(void)json_object_set_new(kj, "origin",
	    json_string(kh_key_origin(k)));
	/* Run-time keys are the tail of keys[]; only a configured
	 * multi-Region key ("mrk-") has replicas. */
	for (i = kh->nconfigured; k->origin == KH_ORIGIN_CONFIG &&
	    strncmp(k->ck->parsed.resource, "mrk-", 4) == 0 &&
	    i < kh->nkeys; i++) {
		if (kh->keys[i]->primary != k)
			continue;
		if (reps == NULL && (reps = json_array()) == NULL)
			break;
		(void)json_array_append_new(reps, kh_key_json(kh,
		    kh->keys[i], with_alerts));
	}
	if (reps != NULL)
		(void)json_object_set_new(kj, "replicas", reps);
	return kj;
}

/* The `check --json` document: {"status", "keys": [...]}; derived keys
 * under the key they come from. */
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
		/* A replica is nested under its primary. */
		if (kh->keys[i]->origin == KH_ORIGIN_REPLICA &&
		    kh->keys[i]->primary != NULL)
			continue;
		if ((kj = kh_key_json(kh, kh->keys[i], with_alerts)) != NULL)
			(void)json_array_append_new(keys, kj);
	}
	(void)json_object_set_new(doc, "status",
	    json_string(severity_name(kh_worst(kh))));
	(void)json_object_set_new(doc, "keys", keys);
	if (kh->nstores > 0)
		(void)json_object_set_new(doc, "custom_key_stores",
		    keystore_status_json(kh));
	return doc;
}

/*
 * The loop's lag: a timer due every KH_LAG_PERIOD_MS, and how late it
 * runs.  Anything that holds the loop (a long callback, a blocking call)
 * delays every timer, /metrics and alert delivery by as much.
 */
#define KH_LAG_PERIOD_MS	50

const double kh_lag_bounds[KH_LAG_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5
};

/*
 * The loop thread's run-queue wait so far, in ns: the second field of
 * its schedstat, time it was runnable while another task had the CPU.
 * On a shared machine that is part of every timer's lateness without
 * being anything the daemon did.  On any failure the own-lag figures
 * go away for good (lag_runq_ok 0): absent rather than wrong.
 */
static int
kh_lag_runq(struct kh *kh, uint64_t *ns)
{
	char			 buf[128];
	unsigned long long	 run, wait;
	ssize_t			 n;

	if (kh->lag_schedfd == -1)
		return -1;
	if ((n = pread(kh->lag_schedfd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		if (sscanf(buf, "%llu %llu", &run, &wait) == 2) {
			*ns = wait;
			return 0;
		}
	}
	(void)close(kh->lag_schedfd);
	kh->lag_schedfd = -1;
	kh->stats.lag_runq_ok = 0;
	return -1;
}

static void
kh_lag_arm(struct kh *kh)
{
	struct timeval	tv = { 0, KH_LAG_PERIOD_MS * 1000 };

	(void)clock_gettime(CLOCK_MONOTONIC, &kh->lag_due);
	kh->lag_due.tv_nsec += KH_LAG_PERIOD_MS * 1000000L;
	if (kh->lag_due.tv_nsec >= 1000000000L) {
		kh->lag_due.tv_sec++;
		kh->lag_due.tv_nsec -= 1000000000L;
	}
	(void)evtimer_add(kh->lag_timer, &tv);
}

static void
kh_lag_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kh	*kh = arg;
	struct timespec	 now;
	double		 lag, own, wait;
	uint64_t	 runq;
	size_t		 b;

	(void)fd;
	(void)what;
	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	lag = (double)(now.tv_sec - kh->lag_due.tv_sec) +
	    (double)(now.tv_nsec - kh->lag_due.tv_nsec) / 1e9;
	/* libevent's clock is coarser than ours: early is on time. */
	if (lag < 0)
		lag = 0;
	for (b = 0; b < KH_LAG_BUCKETS && lag > kh_lag_bounds[b]; b++)
		;
	kh->stats.lag_bucket[b]++;
	kh->stats.lag_sum += lag;
	kh->stats.lag_count++;
	if (lag > kh->stats.lag_max)
		kh->stats.lag_max = lag;
	/*
	 * Waiting for a CPU anywhere in the period (before the due time
	 * too) delays whatever ran then, so all of it comes off: what is
	 * left is about the lateness the loop's own work would have
	 * caused on an idle machine.
	 */
	if (kh_lag_runq(kh, &runq) == 0) {
		wait = runq > kh->lag_runq_ns ?
		    (double)(runq - kh->lag_runq_ns) / 1e9 : 0;
		kh->lag_runq_ns = runq;
		kh->stats.lag_runq_wait += wait;
		own = lag > wait ? lag - wait : 0;
		if (own > kh->stats.lag_own_max)
			kh->stats.lag_own_max = own;
	}
	kh_lag_arm(kh);
}

int
kh_lag_start(struct kh *kh)
{
	if ((kh->lag_timer = evtimer_new(kh->base, kh_lag_cb, kh)) == NULL)
		return -1;
	/* Called on the loop's thread: thread-self is that thread. */
	kh->lag_schedfd = open("/proc/thread-self/schedstat",
	    O_RDONLY | O_CLOEXEC);
	kh->stats.lag_runq_ok = 1;
	if (kh_lag_runq(kh, &kh->lag_runq_ns) == -1)
		log_debug("loop lag: no run-queue figures from "
		    "/proc/thread-self/schedstat");
	kh_lag_arm(kh);
	return 0;
}

struct config *
kh_config_load(const char *path, int flags)
{
	struct config_errors	 errs;
	struct config		*conf;

	memset(&errs, 0, sizeof(errs));
	if ((conf = config_load_flags(path, flags, &errs)) == NULL)
		kh_config_log_errors(path, &errs);
	config_errors_free(&errs);
	return conf;
}

void
kh_config_log_errors(const char *path, const struct config_errors *errs)
{
	size_t	i;

	for (i = 0; i < errs->n; i++)
		log_warnx("%s", errs->msgs[i]);
	if (errs->total > errs->n)
		log_warnx("%s: %zu more errors not shown", path,
		    errs->total - errs->n);
}
