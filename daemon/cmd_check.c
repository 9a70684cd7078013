/*
 * `keyhealthd check` and `keyhealthd baseline accept`: one poll of every
 * (or the named) key on a private loop, then print or accept.  `check`
 * sends nothing and writes nothing; its exit status follows the Nagios
 * plugin convention.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "keyhealthd.h"

#define CHECK_EXIT_UNKNOWN	3

static void
once_key_done(struct kh_key *k)
{
	struct kh	*kh = k->kh;

	if (kh->remaining > 0 && --kh->remaining == 0)
		event_base_loopexit(kh->base, NULL);
}

/*
 * Polls the keys in sel (all when nsel == 0) once.  Returns the context
 * (the caller frees it and its config) or NULL after logging why.
 */
static struct kh *
once_poll(enum kh_mode mode, const char *path, char **sel, size_t nsel,
    int **selectedp, struct event_base **basep)
{
	int			*selected;
	struct config		*conf;
	struct event_base	*base;
	struct kh		*kh;
	struct kh_key		*k;
	char			 err[512];
	size_t			 i;

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
	if (kh->remaining > 0)
		(void)event_base_dispatch(base);
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
	static const struct option longopts[] = {
		{ "config",	required_argument,	NULL, 'c' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "verbose",	no_argument,		NULL, 'v' },
		{ NULL,		0,			NULL, 0 }
	};
	struct event_base	*base = NULL;
	struct kh		*kh;
	enum severity		 worst = SEV_OK, s;
	json_t			*doc, *keys;
	int			*selected = NULL, json = 0, ch, rc;
	size_t			 i;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:jv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			opts->config = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'v':
			opts->verbose++;
			break;
		default:
			usage_print(1);
			return CHECK_EXIT_UNKNOWN;
		}
	}
	log_setverbose(opts->verbose);
	kh = once_poll(KH_MODE_CHECK, opts->config, argv + optind,
	    (size_t)(argc - optind), &selected, &base);
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

			if (!selected[i])
				continue;
			if (json_array_append_new(keys, check_key_json(
			    &k->expect, k->have_snap ? &k->snap : NULL,
			    &k->findings)) == -1)
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
	static const struct option longopts[] = {
		{ "all",	no_argument,		NULL, 'a' },
		{ "config",	required_argument,	NULL, 'c' },
		{ "verbose",	no_argument,		NULL, 'v' },
		{ NULL,		0,			NULL, 0 }
	};
	struct event_base	*base = NULL;
	struct kh		*kh;
	int			*selected = NULL, all = 0, ch, rc = 0;
	char			 err[512];
	size_t			 i;

	if (argc < 2 || strcmp(argv[1], "accept") != 0) {
		usage_print(1);
		return 2;
	}
	argc--;
	argv++;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "ac:v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			all = 1;
			break;
		case 'c':
			opts->config = optarg;
			break;
		case 'v':
			opts->verbose++;
			break;
		default:
			usage_print(1);
			return 2;
		}
	}
	log_setverbose(opts->verbose);
	if (all == (optind < argc)) {
		(void)fprintf(stderr, "keyhealthd: baseline accept takes key "
		    "names or ARNs, or --all\n");
		usage_print(1);
		return 2;
	}
	kh = once_poll(KH_MODE_BASELINE, opts->config, argv + optind,
	    (size_t)(argc - optind), &selected, &base);
	if (kh == NULL)
		return 1;
	for (i = 0; i < kh->nkeys; i++) {
		struct kh_key *k = kh->keys[i];

		if (!selected[i])
			continue;
		if (check_accept_baseline(&k->st.baseline, &k->snap,
		    time(NULL), err, sizeof(err)) == -1) {
			(void)fprintf(stderr, "keyhealthd: %s: not accepted: "
			    "%s\n", kh_key_name(k), err);
			rc = 1;
			continue;
		}
		if (kh_key_save_state(k) == -1) {
			rc = 1;
			continue;
		}
		(void)printf("%s: accepted its current key policy as the "
		    "baseline\n", kh_key_name(k));
	}
	once_free(kh, base);
	free(selected);
	return rc;
}
