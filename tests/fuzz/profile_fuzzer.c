/*
 * libFuzzer target for the shared-file credential chain as a user writes
 * it: two INI texts (~/.aws/config and ~/.aws/credentials) and a profile
 * name, through creds_ini_parse and creds_profile_resolve (source_profile
 * chains, loops, credential_source, web identity, credential_process).
 * Input: "NAME\n" CONFIG "\f" CREDENTIALS; the first byte also picks
 * must_exist and an environment.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creds.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const env_none[] = { NULL };
static const char *const env_full[] = {
	"AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
	"AWS_SECRET_ACCESS_KEY=secret",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/creds",
	"AWS_EC2_METADATA_DISABLED=true",
	"AWS_ROLE_SESSION_NAME=fuzz",
	NULL
};

static void
invariant(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "profile_fuzzer: invariant broken: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct creds_ini	 conf, cred;
	struct creds_plan	 plan;
	const char		*text, *nl, *ff, *cfgtext, *credtext;
	char			 name[128], err[512];
	size_t			 len, cfglen, credlen, n;
	int			 rc, sel;

	if (size < 2)
		return 0;
	sel = data[0];
	text = (const char *)data + 1;
	len = size - 1;
	if ((nl = memchr(text, '\n', len)) == NULL)
		return 0;
	n = (size_t)(nl - text);
	if (n >= sizeof(name) || memchr(text, '\0', n) != NULL)
		return 0;
	memcpy(name, text, n);
	name[n] = '\0';
	cfgtext = nl + 1;
	cfglen = len - n - 1;
	credtext = "";
	credlen = 0;
	if ((ff = memchr(cfgtext, '\f', cfglen)) != NULL) {
		credtext = ff + 1;
		credlen = cfglen - (size_t)(ff - cfgtext) - 1;
		cfglen = (size_t)(ff - cfgtext);
	}
	err[0] = '\0';
	if (creds_ini_parse(cfgtext, cfglen, &conf, err, sizeof(err)) == -1)
		return 0;
	if (creds_ini_parse(credtext, credlen, &cred, err, sizeof(err)) == -1) {
		creds_ini_free(&conf);
		return 0;
	}
	memset(&plan, 0, sizeof(plan));
	err[0] = '\0';
	rc = creds_profile_resolve(&conf, &cred, name, sel & 1,
	    (sel & 2) ? env_full : env_none, &plan, err, sizeof(err));
	invariant(rc >= -1 && rc <= 1, "result in -1..1");
	if (rc == -1)
		invariant(err[0] != '\0', "error text");
	invariant(plan.nsteps <= CREDS_MAX_CHAIN + 1, "chain bounded");
	if (rc == 1 && plan.source == CREDS_SRC_STATIC)
		invariant(plan.static_creds.access_key_id != NULL,
		    "static credentials complete");
	creds_plan_free(&plan);
	creds_ini_free(&conf);
	creds_ini_free(&cred);
	return 0;
}
