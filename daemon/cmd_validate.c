/*
 * keyhealthd validate [-v] [-c FILE]: parse and check the configuration,
 * report every error as FILE:LINE:COLUMN: message, exit 0 or 1.  With -v
 * print the effective configuration (defaults filled in).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "keyhealthd.h"

/*
 * Hook for the notifier modules: checks the options of one notifier block
 * beyond the common keys that lib/config already checked (type, name,
 * min_severity, checks, exclude_checks).  To be connected to the type's
 * notify_ops configure() (lib/notify.h): look the type up, call
 * configure(n->block, &state, err, sizeof(err)), add err with
 * config_error(errs, NULL, "%s", err) on failure (err already carries
 * FILE:LINE:COLUMN), and free the state.  Returns 0 or -1.
 */
static int
validate_notifier_options(const struct config *cfg,
    const struct config_notifier *n, struct config_errors *errs)
{
	(void)cfg;
	(void)n;
	(void)errs;
	return 0;
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
