/*
 * `keyhealthd discover`: lists the customer managed keys whose key policy
 * names a vendor's account for their region, as a keys: block to paste
 * into keyhealthd.yaml, each with a one-line verdict.  Also the one-shot
 * discovery of `check` when the configuration has a discover: section.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "discover.h"
#include "endpoint.h"
#include "log.h"
#include "vendor.h"
#include "keyhealthd.h"

#define DISC_CMD_WINDOW		8	/* keys evaluated at once */
#define DISC_CMD_MAX_ARGS	64

/* A repeatable option's values. */
struct disc_list {
	const char	*what;
	char		*v[DISC_CMD_MAX_ARGS];
	size_t		 n;
};

/* A key to print. */
struct disc_entry {
	char	*arn;
	char	*region;
	char	*name;
	char	*vendor;
	char	*alias;
	char	*profile;		/* the account entry's, if any */
	char	*role;
	char	 verdict[CHECK_SUMMARY_MAX + 64];
};

struct disc_cmd {
	struct kh		*kh;
	struct disc_entry	*v;
	size_t			 n;
	size_t			 nconfigured;	/* listed, already watched */
	size_t			 failed;	/* scans that failed */
	int			 add;		/* `check`: watch them */
	/* options */
	struct disc_list	 vendors;
	struct disc_list	 regions;
	const char		*role;
};

static int
disc_take(void *arg, const char *s)
{
	struct disc_list	*l = arg;

	if (l->n == DISC_CMD_MAX_ARGS) {
		(void)fprintf(stderr, "keyhealthd: too many --%s\n", l->what);
		return -1;
	}
	l->v[l->n++] = (char *)(uintptr_t)s;
	return 0;
}

static int
disc_take_role(void *arg, const char *s)
{
	struct disc_cmd	*dc = arg;
	const char	*p = strstr(s, ":iam::");

	if (strncmp(s, "arn:", 4) != 0 || p == NULL ||
	    strspn(p + 6, "0123456789") != 12 ||
	    strncmp(p + 18, ":role/", 6) != 0 || p[24] == '\0') {
		(void)fprintf(stderr, "keyhealthd: --account-role: not a role "
		    "ARN: '%.100s' (arn:aws:iam::ACCOUNT:role/NAME)\n", s);
		return -1;
	}
	dc->role = s;
	return 0;
}

static int
disc_listed(void *arg, size_t source, const char *region, const char *arn)
{
	struct disc_cmd	*dc = arg;

	(void)source;
	(void)region;
	if (kh_key_by_arn(dc->kh, arn) == NULL)
		return 0;
	dc->nconfigured++;
	return 1;
}

static int
disc_name_taken(void *arg, const char *name)
{
	struct disc_cmd	*dc = arg;
	size_t		 i;

	if (kh_key_find(dc->kh, name) != NULL)
		return 1;
	for (i = 0; i < dc->n; i++)
		if (strcmp(dc->v[i].name, name) == 0)
			return 1;
	return 0;
}

static void
disc_entry_clear(struct disc_entry *e)
{
	free(e->arn);
	free(e->region);
	free(e->name);
	free(e->vendor);
	free(e->alias);
	free(e->profile);
	free(e->role);
}

static void
disc_found(void *arg, const struct discovery_found *f)
{
	struct disc_cmd		*dc = arg;
	struct disc_entry	*v, *e;
	char			 name[DISCOVER_NAME_MAX + 1];
	int			 bad = 0;

	if (dc->add) {
		char		 err[512];
		struct kh_key	*k = kh_key_add(dc->kh, kh_ck_found(dc->kh, f,
				    err, sizeof(err)), KH_ORIGIN_DISCOVERED, err,
				    sizeof(err));

		if (k != NULL)
			k->disc_source = (unsigned int)f->source;
		else
			log_warnx("discover: key %s: %s", f->arn, err);
		return;
	}
	if ((v = reallocarray(dc->v, dc->n + 1, sizeof(*v))) == NULL)
		goto nomem;
	dc->v = v;
	e = &v[dc->n];
	memset(e, 0, sizeof(*e));
	discover_name(f->alias, f->key_id, name, sizeof(name));
	if (discover_name_unique(name, sizeof(name), disc_name_taken,
	    dc) == -1)
		(void)snprintf(name, sizeof(name), "%s", f->key_id);
	e->arn = kh_strdup0(f->arn, &bad);
	e->region = kh_strdup0(f->region, &bad);
	e->name = kh_strdup0(name, &bad);
	e->vendor = kh_strdup0(f->vendor->name, &bad);
	e->alias = kh_strdup0(f->alias, &bad);
	e->profile = kh_strdup0(f->aws->profile, &bad);
	e->role = kh_strdup0(f->aws->assume_role, &bad);
	if (bad || discover_verdict(f->arn, f->meta, f->policy, f->vendor,
	    e->verdict, sizeof(e->verdict)) == -1) {
		disc_entry_clear(e);
		goto nomem;
	}
	dc->n++;
	return;
nomem:
	log_warnx("discover: key %s: out of memory", f->arn);
}

static void
disc_scanned(void *arg, size_t source, const char *region, const char *err)
{
	struct disc_cmd	*dc = arg;

	(void)source;
	if (err == NULL)
		return;
	dc->failed++;
	log_warnx("discover: %s: cannot list the keys: %s", region, err);
}

static void
disc_done(void *arg)
{
	struct disc_cmd	*dc = arg;

	event_base_loopexit(dc->kh->base, NULL);
}

/* Runs the discovery of sp to its end on kh's loop; 0 or -1 (logged). */
static int
disc_run(struct disc_cmd *dc, struct discovery_spec *sp)
{
	struct discovery_cbs	 cbs;
	struct discovery	*d;
	char			 err[256];

	sp->window = DISC_CMD_WINDOW;
	memset(&cbs, 0, sizeof(cbs));
	cbs.listed = disc_listed;
	cbs.found = disc_found;
	cbs.scanned = disc_scanned;
	cbs.done = disc_done;
	cbs.arg = dc;
	if ((d = discovery_start(dc->kh, sp, &cbs, err, sizeof(err))) ==
	    NULL) {
		log_warnx("discover: %s", err);
		return -1;
	}
	(void)event_base_dispatch(dc->kh->base);
	discovery_free(d);
	return 0;
}

int
discover_once(struct kh *kh)
{
	const struct vendor	**vs = NULL;
	struct discovery_spec	  sp;
	struct disc_cmd		  dc;
	char			  err[256];
	int			  rc = -1;

	memset(&dc, 0, sizeof(dc));
	dc.kh = kh;
	dc.add = 1;
	if (discovery_spec_conf(&sp, kh->conf, NULL, 0, &vs, err,
	    sizeof(err)) == -1)
		log_warnx("discover: %s", err);
	else if (disc_run(&dc, &sp) == 0)
		rc = dc.failed > 0 ? -1 : 0;
	free(vs);
	return rc;
}

/* A double-quoted YAML scalar: our names, ARNs and aliases have no
 * quote or backslash, but nothing is assumed. */
static void
disc_put(const char *key, const char *v)
{
	(void)printf("    %s: \"", key);
	for (; *v != '\0'; v++)
		if (*v == '"' || *v == '\\')
			(void)printf("\\%c", *v);
		else
			(void)putchar(*v);
	(void)printf("\"\n");
}

static int
disc_entry_cmp(const void *a, const void *b)
{
	const struct disc_entry	*x = a, *y = b;
	int			 r = strcmp(x->region, y->region);

	return r != 0 ? r : strcmp(x->name, y->name);
}

static void
disc_print(struct disc_cmd *dc, const struct vendor * const *vs, size_t nv)
{
	size_t	i;

	if (dc->n > 0)
		qsort(dc->v, dc->n, sizeof(*dc->v), disc_entry_cmp);
	(void)printf("# keyhealthd discover: %zu key%s whose policy names "
	    "the account of vendor", dc->n, dc->n == 1 ? "" : "s");
	for (i = 0; i < nv; i++)
		(void)printf("%s %s", i == 0 ? "" : ",", vs[i]->name);
	(void)printf("\n");
	if (dc->nconfigured > 0)
		(void)printf("# (%zu listed key%s already in the "
		    "configuration, not repeated)\n", dc->nconfigured,
		    dc->nconfigured == 1 ? "" : "s");
	if (dc->n == 0)
		return;
	(void)printf("keys:\n");
	for (i = 0; i < dc->n; i++) {
		const struct disc_entry *e = &dc->v[i];

		(void)printf("  # %s\n", e->verdict);
		(void)printf("  - arn: \"%s\"\n", e->arn);
		disc_put("name", e->name);
		disc_put("vendor", e->vendor);
		if (e->alias != NULL)
			disc_put("alias", e->alias);
		if (e->profile != NULL || e->role != NULL) {
			(void)printf("    aws:\n");
			if (e->profile != NULL)
				(void)printf("      profile: \"%s\"\n",
				    e->profile);
			if (e->role != NULL)
				(void)printf("      assume_role: \"%s\"\n",
				    e->role);
		}
	}
}

int
cmd_discover(struct kh_opts *opts, int argc, char **argv)
{
	struct disc_cmd			 dc;
	const struct vendor		**vs = NULL;
	struct discovery_spec		 sp;
	struct config_aws		 role;
	struct config_errors		 errs;
	struct config			*conf;
	struct event_base		*base = NULL;
	const char			*defaults = "discover: {}\n";
	char				 err[512];
	size_t				 i;
	int				 first, rc = 2;
	const struct kh_flag		 flags[] = {
		{ "vendor", 0, NULL, disc_take, &dc.vendors },
		{ "region", 0, NULL, disc_take, &dc.regions },
		{ "account-role", 0, NULL, disc_take_role, &dc },
	};

	memset(&dc, 0, sizeof(dc));
	dc.vendors.what = "vendor";
	dc.regions.what = "region";
	if ((first = kh_getopt(opts, argc, argv, flags,
	    sizeof(flags) / sizeof(flags[0]))) == -1 || first < argc) {
		usage_print(1);
		return 2;
	}
	log_setverbose(opts->verbose);
	/* The configuration gives credentials, endpoints and vendors; the
	 * default file is optional here (an empty one is assumed). */
	if (opts->config == (const char *)KEYHEALTHD_DEFAULT_CONFIG &&
	    access(opts->config, F_OK) == -1) {
		memset(&errs, 0, sizeof(errs));
		conf = config_load_buffer("(defaults)", defaults,
		    strlen(defaults), &errs);
		if (conf == NULL)
			kh_config_log_errors("(defaults)", &errs);
		config_errors_free(&errs);
	} else
		conf = kh_config_load(opts->config, 0);
	if (conf == NULL)
		return 2;
	for (i = 0; i < dc.regions.n; i++)
		if (!endpoint_region_ok(dc.regions.v[i])) {
			log_warnx("discover: --region: not an AWS region: "
			    "'%s'", dc.regions.v[i]);
			config_free(conf);
			return 2;
		}
	if ((base = event_base_new()) == NULL) {
		log_warnx("cannot create the event loop");
		config_free(conf);
		return 2;
	}
	log_hook_libevent();
	if ((dc.kh = kh_new(KH_MODE_CHECK, base, conf, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s", err);
		goto out;
	}
	if (discovery_spec_conf(&sp, conf, dc.vendors.v, dc.vendors.n, &vs,
	    err, sizeof(err)) == -1) {
		log_warnx("discover: %s", err);
		goto out;
	}
	if (dc.role != NULL) {
		memset(&role, 0, sizeof(role));
		role.use_fips = -1;
		role.allow_http = -1;
		role.assume_role = (char *)(uintptr_t)dc.role;
		sp.accounts = &role;
		sp.naccounts = 1;
	}
	if (dc.regions.n > 0) {
		sp.regions = dc.regions.v;
		sp.nregions = dc.regions.n;
	}
	if (disc_run(&dc, &sp) == -1)
		goto out;
	disc_print(&dc, sp.vendors, sp.nvendors);
	if (fflush(stdout) == EOF) {
		log_warn("stdout");
		goto out;
	}
	rc = dc.failed > 0 ? 1 : 0;
out:
	for (i = 0; i < dc.n; i++)
		disc_entry_clear(&dc.v[i]);
	free(dc.v);
	free(vs);
	kh_free(dc.kh);
	config_free(conf);
	event_base_free(base);
	return rc;
}
