/*
 * keyhealthd vendors [-c FILE]: every vendor profile the configuration
 * sees (shipped, vendors.d, the config's vendors:), with its accounts per
 * region and the file (or config line) it came from.  Exit 0, or 1 when
 * the configuration or a vendor file does not load.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "keyhealthd.h"

int
cmd_vendors(struct kh_opts *opts, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config",	required_argument,	NULL, 'c' },
		{ NULL,		0,			NULL, 0 }
	};
	struct config_errors	 errs = { 0 };
	struct config		*cfg;
	size_t			 i;
	int			 ch, rc;

	optind = 0;	/* GNU getopt: start over, after the command name */
	while ((ch = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			opts->config = optarg;
			break;
		default:
			usage_print(1);
			return 2;
		}
	}
	if (optind != argc) {
		(void)fprintf(stderr, "keyhealthd: vendors: unexpected "
		    "argument '%s'\n", argv[optind]);
		usage_print(1);
		return 2;
	}
	if ((cfg = config_load(opts->config, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			(void)fprintf(stderr, "%s\n", errs.msgs[i]);
		config_errors_free(&errs);
		return 1;
	}
	rc = config_print_vendors(cfg, stdout) == 0 ? 0 : 1;
	config_free(cfg);
	return rc;
}
