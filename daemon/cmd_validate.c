/*
 * keyhealthd validate [-v] [-c FILE]: parse and check the configuration,
 * report every error as FILE:LINE:COLUMN: message, exit 0 or 1.  With -v
 * print the effective configuration (defaults filled in).
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "notify.h"
#include "ynode.h"
#include "keyhealthd.h"

/*
 * A notifier block's own options, checked by its type's configure() (or
 * the module's, which is loaded for it) through notify_new(): an option
 * error then fails `validate` as it would fail `run`.  configure() errors
 * already read "FILE:LINE:COLUMN: message"; the position is taken back
 * out so that they sort with the others in the order of the file.
 */
static int
validate_notifier_options(const struct config *cfg,
    const struct config_notifier *n, struct config_errors *errs)
{
	struct notifier	*nt;
	struct ynode	 at;
	char		 err[1024], *end;
	const char	*file, *p;
	long		 line, col;
	size_t		 flen;

	err[0] = '\0';
	if ((nt = notify_new(n->block, err, sizeof(err))) != NULL) {
		notify_free(nt);
		return 0;
	}
	if (err[0] == '\0')
		(void)snprintf(err, sizeof(err), "notifier %s: cannot be "
		    "configured", n->name != NULL ? n->name : n->type);
	file = n->block != NULL && n->block->file != NULL ? n->block->file :
	    cfg->path;
	flen = file != NULL ? strlen(file) : 0;
	if (flen > 0 && strncmp(err, file, flen) == 0 && err[flen] == ':') {
		p = err + flen + 1;
		line = strtol(p, &end, 10);
		if (end != p && *end == ':' && line > 0 && line < INT_MAX) {
			p = end + 1;
			col = strtol(p, &end, 10);
			if (end != p && strncmp(end, ": ", 2) == 0 && col > 0 &&
			    col < INT_MAX) {
				memset(&at, 0, sizeof(at));
				at.file = file;
				at.line = (int)line;
				at.column = (int)col;
				(void)config_error(errs, &at, "%s", end + 2);
				return -1;
			}
		}
	}
	(void)config_error(errs, NULL, "%s", err);
	return -1;
}

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
		if (config_key_endpoint(cfg, &cfg->keys[i], url, sizeof(url),
		    err, sizeof(err)) == 0 || strcmp(err, last) == 0)
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
	static const struct option longopts[] = {
		{ "config",	required_argument,	NULL, 'c' },
		{ "verbose",	no_argument,		NULL, 'v' },
		{ NULL,		0,			NULL, 0 }
	};
	struct config_errors	 errs = { 0 };
	struct config		*cfg;
	char			 err[1024];
	int			 ch, verbose = opts->verbose;
	size_t			 i;

	optind = 0;	/* GNU getopt: start over, after the command name */
	while ((ch = getopt_long(argc, argv, "c:v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			opts->config = optarg;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage_print(1);
			return 2;
		}
	}
	if (optind != argc) {
		(void)fprintf(stderr, "keyhealthd: validate: unexpected "
		    "argument '%s'\n", argv[optind]);
		usage_print(1);
		return 2;
	}
	if (config_check_file_perms(opts->config, err, sizeof(err)) == -1) {
		(void)fprintf(stderr, "%s\n", err);
		return 1;
	}
	if ((cfg = config_load(opts->config, &errs)) == NULL) {
		validate_print_errors(opts->config, &errs);
		config_errors_free(&errs);
		return 1;
	}
	for (i = 0; i < cfg->nnotifiers; i++)
		(void)validate_notifier_options(cfg, &cfg->notifiers[i],
		    &errs);
	validate_endpoints(cfg, &errs);
	if (errs.total > 0) {
		config_errors_sort(&errs);
		validate_print_errors(opts->config, &errs);
		config_errors_free(&errs);
		config_free(cfg);
		return 1;
	}
	if (verbose > 0 && config_print(cfg, stdout) == -1) {
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
