/*
 * keyhealthd vendors [-c FILE]: every vendor profile the configuration
 * sees (shipped, vendors.d, the config's vendors:), with its accounts per
 * region and the file (or config line) it came from.  Exit 0, or 1 when
 * the configuration or a vendor file does not load.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "keyhealthd.h"

int
cmd_vendors(struct kh_opts *opts, int argc, char **argv)
{
	struct config_errors	 errs = { 0 };
	struct config		*cfg;
	size_t			 i;
	int			 first, rc;

	if ((first = kh_getopt(opts, argc, argv, NULL, 0)) == -1) {
		usage_print(1);
		return 2;
	}
	if (first != argc) {
		(void)fprintf(stderr, "keyhealthd: vendors: unexpected "
		    "argument '%s'\n", argv[first]);
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
