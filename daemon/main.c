/*
 * keyhealthd: command line and subcommand dispatch.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <yaml.h>

#include "config.h"
#include "log.h"
#include "keyhealthd.h"

static const struct kh_cmd {
	const char	*name;
	int		(*fn)(struct kh_opts *, int, char **);
} kh_cmds[] = {
	{ "run",	cmd_run },
	{ "check",	cmd_check },
	{ "validate",	cmd_validate },
	{ "baseline",	cmd_baseline },
	{ "vendors",	cmd_vendors },
};

void
usage_print(int to_stderr)
{
	FILE	*f = to_stderr ? stderr : stdout;

	(void)fprintf(f,
	    "usage: keyhealthd [-v] [-c file] [run]\n"
	    "       keyhealthd check [-v] [-c file] [--json] [key ...]\n"
	    "       keyhealthd validate [-v] [-c file]\n"
	    "       keyhealthd baseline accept [-c file] key | --all\n"
	    "       keyhealthd vendors [-c file]\n"
	    "       keyhealthd --version [-v] | --help\n"
	    "\n"
	    "Watches AWS KMS keys that vendors depend on and alerts when one is\n"
	    "disabled, scheduled for deletion, replaced, or loses the vendor's\n"
	    "access.  See keyhealthd(8) and keyhealthd.yaml(5).\n");
}

static void
version_print(int verbose)
{
	curl_version_info_data	*cv;

	(void)printf("keyhealthd %s\n", KEYHEALTHD_VERSION);
	if (verbose < 1)
		return;
	cv = curl_version_info(CURLVERSION_NOW);
	(void)printf("libcurl %s (%s)\n", cv->version,
	    cv->ssl_version != NULL ? cv->ssl_version : "no TLS");
	(void)printf("openssl %s\n", OpenSSL_version(OPENSSL_VERSION));
	(void)printf("jansson %s\n", jansson_version_str());
	(void)printf("libevent %s\n", event_get_version());
	(void)printf("libyaml %s\n", yaml_get_version_string());
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

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config",	required_argument,	NULL, 'c' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "verbose",	no_argument,		NULL, 'v' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	struct kh_opts	 opts;
	const char	*env;
	int		 ch, show_version = 0;
	size_t		 i;

	memset(&opts, 0, sizeof(opts));
	if ((env = getenv("KEYHEALTHD_CONFIG")) != NULL && *env != '\0')
		opts.config = env;
	else
		opts.config = KEYHEALTHD_DEFAULT_CONFIG;

	/* '+': stop at the subcommand; it parses its own options. */
	while ((ch = getopt_long(argc, argv, "+c:hv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			opts.config = optarg;
			break;
		case 'h':
			usage_print(0);
			return 0;
		case 'v':
			opts.verbose++;
			break;
		case 'V':
			show_version = 1;
			break;
		default:
			usage_print(1);
			return 2;
		}
	}
	if (show_version) {
		version_print(opts.verbose);
		return 0;
	}
	log_init(LOG_TO_AUTO, opts.verbose, "keyhealthd");
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return cmd_run(&opts, 0, argv);
	for (i = 0; i < sizeof(kh_cmds) / sizeof(kh_cmds[0]); i++)
		if (strcmp(argv[0], kh_cmds[i].name) == 0)
			return kh_cmds[i].fn(&opts, argc, argv);
	(void)fprintf(stderr, "keyhealthd: unknown command '%s'\n", argv[0]);
	usage_print(1);
	return 2;
}
