/*
 * keyhealthd validate [-v] [-c FILE]: parse and check the configuration,
 * report every error as FILE:LINE:COLUMN: message, exit 0 or 1.  With -v
 * print the effective configuration (defaults filled in).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ynode.h"
#include "keyhealthd.h"

/*
 * Each key's KMS endpoint as `run` computes it (config_key_endpoint()):
 * the file's endpoint_url was checked with the same parse already; this
 * adds what comes from the environment (AWS_ENDPOINT_URL_KMS,
 * AWS_ENDPOINT_URL, AWS_USE_FIPS_ENDPOINT), once per distinct error.
 */
static void
validate_endpoints(const struct config *cfg, struct config_errors *errs)
{
	struct ynode	 at;
	char		 url[512], err[512], last[512] = "";
	size_t		 i;

	for (i = 0; i < cfg->nkeys; i++) {
		/* The same inputs as the key before: the same answer. */
		if ((i > 0 && config_key_same_endpoint(cfg, &cfg->keys[i - 1],
		    &cfg->keys[i])) || config_key_endpoint(cfg, &cfg->keys[i],
		    url, sizeof(url), err, sizeof(err)) == 0 ||
		    strcmp(err, last) == 0)
			continue;
		(void)snprintf(last, sizeof(last), "%s", err);
		memset(&at, 0, sizeof(at));
		at.file = cfg->path;
		at.line = cfg->keys[i].line;
		at.column = cfg->keys[i].column;
		(void)config_error(errs, &at, "keys[%zu]: KMS endpoint: %s", i,
		    err);
	}
}

static void
validate_print_errors(const char *path, const struct config_errors *errs)
{
	size_t	i;

	for (i = 0; i < errs->n; i++)
		(void)fprintf(stderr, "%s\n", errs->msgs[i]);
	if (errs->total > errs->n)
		(void)fprintf(stderr, "%s: %zu more errors not shown\n", path,
		    errs->total - errs->n);
}

int
cmd_validate(struct kh_opts *opts, int argc, char **argv)
{
	struct config_errors	 errs = { 0 };
	struct config		*cfg;
	char			 err[1024];
	int			 first;

	if ((first = kh_getopt(opts, argc, argv, NULL, 0)) == -1) {
		usage_print(1);
		return 2;
	}
	if (first != argc) {
		(void)fprintf(stderr, "keyhealthd: validate: unexpected "
		    "argument '%s'\n", argv[first]);
		usage_print(1);
		return 2;
	}
	if (config_check_file_perms(opts->config, err, sizeof(err)) == -1) {
		(void)fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* As `run` loads it: the notifiers configured, secrets read. */
	if ((cfg = config_load_flags(opts->config, CONFIG_LOAD_NOTIFIERS,
	    &errs)) == NULL) {
		validate_print_errors(opts->config, &errs);
		config_errors_free(&errs);
		return 1;
	}
	validate_endpoints(cfg, &errs);
	if (errs.total > 0) {
		config_errors_sort(&errs);
		validate_print_errors(opts->config, &errs);
		config_errors_free(&errs);
		config_free(cfg);
		return 1;
	}
	if (opts->verbose > 0 && config_print(cfg, stdout) == -1) {
		(void)fprintf(stderr, "keyhealthd: validate: cannot write the "
		    "configuration\n");
		config_free(cfg);
		return 1;
	}
	(void)printf("%s: configuration OK (%zu key%s, %zu notifier%s)\n",
	    opts->config, cfg->nkeys, cfg->nkeys == 1 ? "" : "s",
	    cfg->nnotifiers, cfg->nnotifiers == 1 ? "" : "s");
	config_free(cfg);
	return fflush(stdout) == 0 ? 0 : 1;
}
