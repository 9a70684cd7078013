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
	{ "discover",	cmd_discover },
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
	    "       keyhealthd discover [-v] [-c file] [--vendor name] "
	    "[--region region ...]\n"
	    "                           [--account-role arn]\n"
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

#define KH_GETOPT_MAXFLAGS	4

int
kh_getopt(struct kh_opts *opts, int argc, char **argv,
    const struct kh_flag *flags, size_t nflags)
{
	struct option	 longopts[2 + KH_GETOPT_MAXFLAGS + 1];
	char		 shortopts[sizeof("+c:v") + 2 * KH_GETOPT_MAXFLAGS];
	size_t		 i, ns, nl;
	int		 ch;

	if (nflags > KH_GETOPT_MAXFLAGS)
		fatalx("%s: %zu flags, at most %d", __func__, nflags,
		    KH_GETOPT_MAXFLAGS);
	memset(longopts, 0, sizeof(longopts));
	longopts[0] = (struct option){ "config", required_argument, NULL, 'c' };
	longopts[1] = (struct option){ "verbose", no_argument, NULL, 'v' };
	nl = 2;
	/* '+': stop at the first operand (a subcommand, a key name). */
	memcpy(shortopts, "+c:v", sizeof("+c:v"));
	ns = strlen(shortopts);
	for (i = 0; i < nflags; i++) {
		/* Long-only flags get a value no letter can take. */
		longopts[nl++] = (struct option){ flags[i].name,
		    flags[i].take != NULL ? required_argument : no_argument,
		    NULL, flags[i].letter != 0 ? flags[i].letter :
		    256 + (int)i };
		if (flags[i].letter != 0) {
			shortopts[ns++] = (char)flags[i].letter;
			if (flags[i].take != NULL)
				shortopts[ns++] = ':';
		}
	}
	shortopts[ns] = '\0';

	optind = 1;	/* argv[0] is the program or the command name */
	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) !=
	    -1) {
		if (ch == 'c') {
			opts->config = optarg;
			continue;
		}
		if (ch == 'v') {
			opts->verbose++;
			continue;
		}
		for (i = 0; i < nflags; i++)
			if (ch == (flags[i].letter != 0 ? flags[i].letter :
			    256 + (int)i))
				break;
		if (i == nflags)
			return -1;
		if (flags[i].take == NULL)
			*flags[i].set = 1;
		else if (flags[i].take(flags[i].arg, optarg) == -1)
			return -1;
	}
	return optind;
}

int
main(int argc, char *argv[])
{
	struct kh_opts	 opts;
	const char	*env;
	int		 help = 0, show_version = 0, first;
	const struct kh_flag flags[] = {
		{ "help",	'h',	&help,		NULL, NULL },
		{ "version",	0,	&show_version,	NULL, NULL },
	};
	size_t		 i;

	memset(&opts, 0, sizeof(opts));
	if ((env = getenv("KEYHEALTHD_CONFIG")) != NULL && *env != '\0')
		opts.config = env;
	else
		opts.config = KEYHEALTHD_DEFAULT_CONFIG;

	/* The parser stops at the subcommand; it parses its own options. */
	first = kh_getopt(&opts, argc, argv, flags,
	    sizeof(flags) / sizeof(flags[0]));
	/* -h answers at once, even before a later bad option. */
	if (help) {
		usage_print(0);
		return 0;
	}
	if (first == -1) {
		usage_print(1);
		return 2;
	}
	if (show_version) {
		version_print(opts.verbose);
		return 0;
	}
	log_init(LOG_TO_AUTO, opts.verbose, "keyhealthd");
	argc -= first;
	argv += first;
	if (argc == 0)
		return cmd_run(&opts, 0, argv);
	for (i = 0; i < sizeof(kh_cmds) / sizeof(kh_cmds[0]); i++)
		if (strcmp(argv[0], kh_cmds[i].name) == 0)
			return kh_cmds[i].fn(&opts, argc, argv);
	(void)fprintf(stderr, "keyhealthd: unknown command '%s'\n", argv[0]);
	usage_print(1);
	return 2;
}
