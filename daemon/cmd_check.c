/*
 * `keyhealthd check` and `keyhealthd baseline accept`: one poll of every
 * (or the named) key on a private loop, then print or accept.  `check`
 * sends nothing and writes nothing; its exit status follows the Nagios
 * plugin convention.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "keyhealthd.h"

#define CHECK_EXIT_UNKNOWN	3

/*
 * A one-shot run over many keys is as slow as kms.rate_limit makes it
 * (500 keys take 150 s at 10 requests/s) and prints only at the end.  On
 * a terminal, a run that lasts longer than PROGRESS_AFTER shows one line
 * on stderr, redrawn in place every PROGRESS_TICK_MS: keys done, the
 * total and the time left at the rate of the last PROGRESS_WINDOW ticks
 * (the first requests go out in a burst, faster than the steady rate).
 * Pipes, files and --json never get it: what reads them is a program.
 */
#define PROGRESS_AFTER		2.0
#define PROGRESS_TICK_MS	250
#define PROGRESS_WINDOW		40	/* ticks: 10 s */

struct once_progress {
	struct kh	*kh;
	struct event	*tick;
	size_t		 total;
	double		 start;
	double		 t[PROGRESS_WINDOW];	/* when ... */
	size_t		 done[PROGRESS_WINDOW];	/* ... this many were done */
	size_t		 nsamples;
	size_t		 shown;		/* length of the line on screen */
	char		 line[128];
};

/* The line on screen, for the log hook: one run per process. */
static struct once_progress	*progress_cur;

static double
progress_now(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Blanks the line on screen (before a log line, and at the end). */
static void
progress_erase(void)
{
	struct once_progress	*pr = progress_cur;

	if (pr == NULL || pr->shown == 0)
		return;
	(void)fprintf(stderr, "\r%*s\r", (int)pr->shown, "");
	(void)fflush(stderr);
	pr->shown = 0;
	pr->line[0] = '\0';
}

static void
progress_format_left(double secs, char *buf, size_t len)
{
	long	s = (long)secs;

	/* Up, so that it never says 0s while keys are left. */
	if ((double)s < secs)
		s++;

	if (s >= 3600)
		(void)snprintf(buf, len, "%ldh%02ldm", s / 3600, s / 60 % 60);
	else if (s >= 60)
		(void)snprintf(buf, len, "%ldm%02lds", s / 60, s % 60);
	else
		(void)snprintf(buf, len, "%lds", s);
}

static void
progress_tick(int fd, short what, void *arg)
{
	struct once_progress	*pr = arg;
	size_t			 done, oldest, len;
	double			 now = progress_now(), rate;
	char			 left[32], line[sizeof(pr->line)];

	(void)fd;
	(void)what;
	done = pr->total - pr->kh->remaining;
	pr->t[pr->nsamples % PROGRESS_WINDOW] = now;
	pr->done[pr->nsamples % PROGRESS_WINDOW] = done;
	pr->nsamples++;
	if (now - pr->start < PROGRESS_AFTER)
		return;
	oldest = pr->nsamples > PROGRESS_WINDOW ?
	    pr->nsamples % PROGRESS_WINDOW : 0;
	rate = now > pr->t[oldest] ?
	    (double)(done - pr->done[oldest]) / (now - pr->t[oldest]) : 0;
	if (rate > 0) {
		progress_format_left((double)(pr->total - done) / rate, left,
		    sizeof(left));
		(void)snprintf(line, sizeof(line), "keyhealthd: %zu/%zu keys "
		    "checked, about %s left", done, pr->total, left);
	} else
		(void)snprintf(line, sizeof(line), "keyhealthd: %zu/%zu keys "
		    "checked", done, pr->total);
	if (strcmp(line, pr->line) == 0)
		return;
	len = strlen(line);
	/* Pad over the tail of a longer previous line. */
	(void)fprintf(stderr, "\r%s%*s", line,
	    pr->shown > len ? (int)(pr->shown - len) : 0, "");
	(void)fflush(stderr);
	(void)memcpy(pr->line, line, len + 1);
	pr->shown = pr->shown > len ? pr->shown : len;
}

/* Starts the progress line of a run over total keys: 0, or -1 (the run
 * goes on without it). */
static int
progress_start(struct once_progress *pr, struct kh *kh, size_t total)
{
	struct timeval	tv = { 0, PROGRESS_TICK_MS * 1000 };

	memset(pr, 0, sizeof(*pr));
	pr->kh = kh;
	pr->total = total;
	pr->start = progress_now();
	if ((pr->tick = event_new(kh->base, -1, EV_PERSIST, progress_tick,
	    pr)) == NULL || event_add(pr->tick, &tv) == -1) {
		if (pr->tick != NULL)
			event_free(pr->tick);
		pr->tick = NULL;
		return -1;
	}
	progress_cur = pr;
	log_set_stderr_hook(progress_erase);
	return 0;
}

static void
progress_stop(struct once_progress *pr)
{
	if (pr->tick == NULL)
		return;
	progress_erase();
	log_set_stderr_hook(NULL);
	progress_cur = NULL;
	event_free(pr->tick);
	pr->tick = NULL;
}

static void
once_key_done(struct kh_key *k)
{
	struct kh	*kh = k->kh;

	if (kh->remaining > 0 && --kh->remaining == 0)
		event_base_loopexit(kh->base, NULL);
}

/* A replica found by its primary's poll: polled in the same run. */
static void
once_key_added(struct kh *kh, struct kh_key *k)
{
	kh->remaining++;
	/* The progress line counts it too (done = total - remaining). */
	if (progress_cur != NULL)
		progress_cur->total++;
	if (poll_start(k, once_key_done) == -1) {
		kh->remaining--;
		log_warnx("key %s: out of memory: not polled",
		    kh_key_name(k));
	}
}

/*
 * Polls the keys in sel (all when nsel == 0) once, with a progress line
 * on stderr when asked and stderr is a terminal.  Returns the context
 * (the caller frees it and its config) or NULL after logging why.
 */
static struct kh *
once_poll(enum kh_mode mode, const char *path, char **sel, size_t nsel,
    int progress, int **selectedp, struct event_base **basep)
{
	struct once_progress	 pr;
	int			*selected;
	struct config		*conf;
	struct event_base	*base;
	struct kh		*kh;
	struct kh_key		*k;
	char			 err[512];
	size_t			 i, n0;

	if ((conf = kh_config_load(path, 0)) == NULL)
		return NULL;
	if ((base = event_base_new()) == NULL) {
		log_warnx("cannot create the event loop");
		config_free(conf);
		return NULL;
	}
	log_hook_libevent();
	if ((kh = kh_new(mode, base, conf, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		config_free(conf);
		event_base_free(base);
		return NULL;
	}
	kh->on_key_added = once_key_added;
	/* Keys found by the discover: section are polled like the rest; a
	 * listing that failed leaves them out, said on stderr. */
	if (kh->conf->discover.enabled && discover_once(kh) == -1)
		log_warnx("discover: incomplete: some keys may be missing");
	if ((selected = calloc(kh->nkeys + 1, sizeof(*selected))) == NULL) {
		log_warnx("out of memory");
		goto fail;
	}
	*selectedp = selected;
	for (i = 0; i < nsel; i++) {
		if ((k = kh_key_find(kh, sel[i])) == NULL) {
			log_warnx("no key named '%s' in %s", sel[i], path);
			goto fail;
		}
	}
	for (i = 0; i < kh->nkeys; i++) {
		size_t j;

		selected[i] = nsel == 0;
		for (j = 0; j < nsel; j++)
			if (strcmp(sel[j], kh->keys[i]->ck->arn) == 0 ||
			    strcmp(sel[j], kh->keys[i]->ck->name) == 0)
				selected[i] = 1;
	}
	for (i = 0; i < kh->nkeys; i++) {
		if (!selected[i])
			continue;
		kh->remaining++;
		if (poll_start(kh->keys[i], once_key_done) == -1) {
			log_warnx("out of memory");
			goto fail;
		}
	}
	n0 = kh->nkeys;
	if (kh->remaining > 0) {
		pr.tick = NULL;
		if (progress && isatty(STDERR_FILENO))
			(void)progress_start(&pr, kh, kh->remaining);
		(void)event_base_dispatch(base);
		progress_stop(&pr);
	}
	/* The replicas added meanwhile are those of selected keys. */
	if (kh->nkeys > n0) {
		int	*v = reallocarray(selected, kh->nkeys + 1,
			    sizeof(*selected));

		if (v == NULL) {
			log_warnx("out of memory");
			goto fail;
		}
		*selectedp = selected = v;
		for (i = n0; i < kh->nkeys; i++)
			selected[i] = 1;
	}
	*basep = base;
	return kh;
fail:
	free(*selectedp);
	*selectedp = NULL;
	kh_free(kh);
	config_free(conf);
	event_base_free(base);
	return NULL;
}

static void
once_free(struct kh *kh, struct event_base *base)
{
	struct config	*conf = kh->conf;

	kh_free(kh);
	config_free(conf);
	event_base_free(base);
}

static void
check_print_table(struct kh *kh, const int *selected)
{
	size_t	i, f, w = 3;

	for (i = 0; i < kh->nkeys; i++)
		if (selected[i] && strlen(kh_key_name(kh->keys[i])) > w)
			w = strlen(kh_key_name(kh->keys[i]));
	(void)printf("%-*s  %-22s  %s\n", (int)w, "KEY", "STATE", "STATUS");
	for (i = 0; i < kh->nkeys; i++) {
		struct kh_key	*k = kh->keys[i];
		const char	*state = "-";

		if (!selected[i])
			continue;
		if (k->snap.describe_err.cls == KMS_OK && k->snap.meta.state)
			state = k->snap.meta.state;
		else if (k->snap.describe_err.cls == KMS_ERR_NOT_FOUND)
			state = "NotFound";
		(void)printf("%-*s  %-22s  %s\n", (int)w, kh_key_name(k),
		    state, severity_name(findings_worst(&k->findings)));
		for (f = 0; f < k->findings.n; f++)
			(void)printf("%-*s    %-8s %s: %s\n", (int)w, "",
			    severity_name(k->findings.v[f].severity),
			    k->findings.v[f].check, k->findings.v[f].summary);
	}
}

int
cmd_check(struct kh_opts *opts, int argc, char **argv)
{
	struct event_base	*base = NULL;
	struct kh		*kh;
	enum severity		 worst = SEV_OK, s;
	json_t			*doc, *keys;
	int			*selected = NULL, json = 0, first, rc;
	const struct kh_flag	 flags[] = { { "json", 'j', &json, NULL, NULL } };
	size_t			 i;

	if ((first = kh_getopt(opts, argc, argv, flags, 1)) == -1) {
		usage_print(1);
		return CHECK_EXIT_UNKNOWN;
	}
	log_setverbose(opts->verbose);
	kh = once_poll(KH_MODE_CHECK, opts->config, argv + first,
	    (size_t)(argc - first), !json, &selected, &base);
	if (kh == NULL)
		return CHECK_EXIT_UNKNOWN;
	for (i = 0; i < kh->nkeys; i++)
		if (selected[i] &&
		    (s = findings_worst(&kh->keys[i]->findings)) > worst)
			worst = s;
	if (json) {
		/* Only the selected keys, in config order; a key whose
		 * document cannot be built makes the whole answer UNKNOWN
		 * rather than shifting another key's result into its place. */
		doc = json_pack("{s:s, s:[]}", "status", severity_name(worst),
		    "keys");
		keys = doc != NULL ? json_object_get(doc, "keys") : NULL;
		for (i = 0; keys != NULL && i < kh->nkeys; i++) {
			struct kh_key *k = kh->keys[i];

			/* Replicas are nested under their primary. */
			if (!selected[i] || (k->origin == KH_ORIGIN_REPLICA &&
			    k->primary != NULL))
				continue;
			if (json_array_append_new(keys, kh_key_json(kh, k,
			    0)) == -1)
				keys = NULL;
		}
		if (keys == NULL || json_dumpf(doc, stdout, JSON_INDENT(2) |
		    JSON_PRESERVE_ORDER) == -1) {
			log_warnx("out of memory writing the JSON result");
			worst = SEV_UNKNOWN;
		} else
			(void)printf("\n");
		json_decref(doc);
	} else
		check_print_table(kh, selected);
	rc = severity_exit_code(worst);
	once_free(kh, base);
	free(selected);
	return rc;
}

int
cmd_baseline(struct kh_opts *opts, int argc, char **argv)
{
	struct event_base	*base = NULL;
	struct kh		*kh;
	int			*selected = NULL, all = 0, first, rc = 0, lk;
	const struct kh_flag	 flags[] = { { "all", 'a', &all, NULL, NULL } };
	char			 err[512];
	size_t			 i;

	if (argc < 2 || strcmp(argv[1], "accept") != 0) {
		usage_print(1);
		return 2;
	}
	argc--;
	argv++;
	if ((first = kh_getopt(opts, argc, argv, flags, 1)) == -1) {
		usage_print(1);
		return 2;
	}
	log_setverbose(opts->verbose);
	if (all == (first < argc)) {
		(void)fprintf(stderr, "keyhealthd: baseline accept takes key "
		    "names or ARNs, or --all\n");
		usage_print(1);
		return 2;
	}
	kh = once_poll(KH_MODE_BASELINE, opts->config, argv + first,
	    (size_t)(argc - first), 1, &selected, &base);
	if (kh == NULL)
		return 1;
	for (i = 0; i < kh->nkeys; i++) {
		struct kh_key *k = kh->keys[i];

		/* A replica watched for its state only has no policy. */
		if (!selected[i] || k->state_only)
			continue;
		if (check_accept_baseline(&k->st.baseline, &k->snap,
		    time(NULL), err, sizeof(err)) == -1) {
			(void)fprintf(stderr, "keyhealthd: %s: not accepted: "
			    "%s\n", kh_key_name(k), err);
			rc = 1;
			continue;
		}
		/* A running daemon's writer holds off meanwhile, and does not
		 * write its older view of the key over ours after. */
		lk = kh->state_ok ? state_lock(kh->conf->state_dir) : -1;
		/* The grants too, or say why not (the policy still is). */
		if (k->snap.grants_err != NULL || k->grants_set == NULL) {
			(void)fprintf(stderr, "keyhealthd: %s: grants not "
			    "accepted: ListGrants failed: %s\n", kh_key_name(k),
			    k->snap.grants_err != NULL ?
			    k->snap.grants_err->code : "not read");
			rc = 1;
		} else if (kh_key_accept_grants(k, k->grants_set, err,
		    sizeof(err)) == -1) {
			(void)fprintf(stderr, "keyhealthd: %s: grants not "
			    "accepted: %s\n", kh_key_name(k), err);
			rc = 1;
		}
		if (kh_key_save_state(k) == -1) {
			state_unlock(lk);
			rc = 1;
			continue;
		}
		state_unlock(lk);
		if (k->st.baseline.has_grants && k->snap.grants != NULL &&
		    memcmp(k->st.baseline.grants_md, k->snap.grants->md,
		    sizeof(k->snap.grants->md)) == 0)
			(void)printf("%s: accepted its current key policy and "
			    "its %zu grant%s as the baseline\n",
			    kh_key_name(k), k->snap.grants->n,
			    k->snap.grants->n == 1 ? "" : "s");
		else
			(void)printf("%s: accepted its current key policy as "
			    "the baseline\n", kh_key_name(k));
	}
	once_free(kh, base);
	free(selected);
	return rc;
}
