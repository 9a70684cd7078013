/*
 * Credential providers on the loop: lib/creds decides where credentials
 * come from and parses the answers, lib/creds_async fetches them through
 * lib/http and runs credential_process without blocking.  Keys with the
 * same aws: settings share one provider; polls that find no usable
 * credentials wait for the provider's refresh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "creds.h"
#include "creds_async.h"
#include "log.h"
#include "keyhealthd.h"

extern char **environ;

/* The settings that decide the credentials, as a string key. */
static void
glue_id(const struct config_aws *aws, const char *region, char *buf,
    size_t len)
{
	(void)snprintf(buf, len, "profile=%s|role=%s|region=%s|sts=%s|http=%d",
	    aws->profile ? aws->profile : "",
	    aws->assume_role ? aws->assume_role : "",
	    aws->region ? aws->region : region,
	    aws->sts_endpoint_url ? aws->sts_endpoint_url : "",
	    aws->allow_http);
}

struct kh_creds *
creds_glue_get(struct kh *kh, const struct config *conf,
    const struct config_key *ck)
{
	struct config_aws	 aws;
	struct creds_config	 cc;
	struct creds_plan	 plan;
	struct creds_fetcher	 f;
	struct kh_creds		*c, **v;
	char			 id[1024];
	size_t			 i;

	config_key_aws(conf, ck, &aws);
	glue_id(&aws, ck->parsed.region, id, sizeof(id));
	for (i = 0; i < kh->ncreds; i++)
		if (strcmp(kh->creds[i]->id, id) == 0)
			return kh->creds[i];
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->id = strdup(id)) == NULL) {
		free(c);
		return NULL;
	}
	if ((v = reallocarray(kh->creds, kh->ncreds + 1, sizeof(*v))) == NULL) {
		free(c->id);
		free(c);
		return NULL;
	}
	kh->creds = v;
	kh->creds[kh->ncreds++] = c;

	memset(&cc, 0, sizeof(cc));
	cc.profile = aws.profile;
	cc.assume_role = aws.assume_role;
	cc.region = aws.region != NULL ? aws.region : ck->parsed.region;
	cc.sts_endpoint = aws.sts_endpoint_url;
	cc.allow_http = aws.allow_http;
	memset(&plan, 0, sizeof(plan));
	if (creds_plan_resolve(&cc, (const char * const *)environ, &plan,
	    c->err, sizeof(c->err)) == -1) {
		creds_plan_free(&plan);
		log_warnx("credentials for key %s: %s", ck->name, c->err);
		return c;
	}
	(void)snprintf(c->desc, sizeof(c->desc), "%s", plan.desc);
	creds_async_fetcher(kh->creds_async, &f);
	if ((c->prov = creds_provider_new(&plan, &f, NULL)) == NULL) {
		creds_plan_free(&plan);
		(void)snprintf(c->err, sizeof(c->err), "out of memory");
		return c;
	}
	log_debug("credentials for key %s: %s", ck->name, c->desc);
	return c;
}

static void
glue_creds_cb(void *arg, const struct creds *cr, const char *err)
{
	struct kh_creds	 *c = arg;
	struct kh_key	**w = c->waiting;
	size_t		  i, n = c->nwaiting;

	c->waiting = NULL;
	c->nwaiting = 0;
	if (cr == NULL)
		log_warnx("credentials (%s): %s", c->desc, err != NULL ?
		    err : "unavailable");
	for (i = 0; i < n; i++)
		poll_creds_ready(w[i], cr == NULL ? (err != NULL ? err :
		    "credentials unavailable") : NULL);
	free(w);
}

int
creds_glue_ready(struct kh_creds *c, struct kh_key *k, char *err,
    size_t errlen)
{
	const struct creds	 *cr;
	struct kh_key		**v;
	int			  r;

	if (c == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (c->prov == NULL) {
		(void)snprintf(err, errlen, "%s", c->err);
		return -1;
	}
	if (c->nwaiting > 0)
		r = 1;		/* a refresh is already awaited */
	else
		r = creds_provider_get(c->prov, &cr, glue_creds_cb, c, err,
		    errlen);
	if (r != 1)
		return r;
	if ((v = reallocarray(c->waiting, c->nwaiting + 1,
	    sizeof(*v))) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->waiting = v;
	c->waiting[c->nwaiting++] = k;
	return 1;
}

void
creds_glue_forget(struct kh_creds *c, struct kh_key *k)
{
	size_t	i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nwaiting; i++)
		if (c->waiting[i] == k) {
			c->waiting[i] = c->waiting[--c->nwaiting];
			return;
		}
}

void
creds_glue_free(struct kh_creds *c)
{
	if (c == NULL)
		return;
	creds_provider_free(c->prov);
	free(c->waiting);
	free(c->id);
	free(c);
}
