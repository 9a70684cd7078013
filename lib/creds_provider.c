/*
 * The credentials runner of lib/creds (creds.h; the pure steps are in
 * creds.c): a provider walks its plan through a creds_fetcher, keeps the
 * current credentials, refreshes them ahead of expiry and backs off after
 * failures.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "creds.h"
#include "errf.h"
#include "sigv4.h"

#define CREDS_MAX_TOKEN		(16 * 1024)	/* web identity / auth token */

/* ---- The runner ---------------------------------------------------- */

enum phase {
	PH_IDLE,
	PH_WEB_IDENTITY,
	PH_PROCESS,
	PH_CONTAINER,
	PH_IMDS_TOKEN,
	PH_IMDS_ROLE,
	PH_IMDS_CREDS,
	PH_ASSUME_ROLE
};

struct waiter {
	creds_cb	 cb;
	void		*arg;
};

struct creds_provider {
	struct creds_plan	 plan;
	struct creds_fetcher	 f;
	time_t			(*clock)(void);
	struct creds		 cur;
	int			 have;
	time_t			 refresh_at;
	time_t			 margin;	/* unusable this close to expiry */
	int			 inflight;
	enum phase		 phase;
	size_t			 step;
	struct creds		 work;
	char			*imds_token;
	char			 imds_role[256];
	struct waiter		*w;
	size_t			 nw;
	char			 lasterr[600];
	time_t			 retry_at;
	int			 failures;
};

static time_t
default_clock(void)
{
	return time(NULL);
}

struct creds_provider *
creds_provider_new(struct creds_plan *plan, const struct creds_fetcher *f,
    time_t (*clock)(void))
{
	struct creds_provider	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->plan = *plan;
	memset(plan, 0, sizeof(*plan));
	if (f != NULL)
		p->f = *f;
	p->clock = clock != NULL ? clock : default_clock;
	p->phase = PH_IDLE;
	return p;
}

void
creds_provider_free(struct creds_provider *p)
{
	if (p == NULL)
		return;
	if (p->inflight && p->f.cancel != NULL)
		p->f.cancel(p->f.ctx, p);
	creds_plan_free(&p->plan);
	creds_clear(&p->cur);
	creds_clear(&p->work);
	creds_free_secret(p->imds_token);
	free(p->w);
	free(p);
}

static int
usable(const struct creds_provider *p, time_t now)
{
	return p->have && (p->cur.expiration == 0 ||
	    now < p->cur.expiration - p->margin);
}

static void
notify(struct creds_provider *p, const struct creds *c, const char *err)
{
	struct waiter	*w = p->w;
	size_t		 nw = p->nw, i;

	/* Waiters may ask again from their callback: start afresh. */
	p->w = NULL;
	p->nw = 0;
	for (i = 0; i < nw; i++)
		w[i].cb(w[i].arg, c, err);
	free(w);
}

static void
finish_ok(struct creds_provider *p)
{
	time_t	now = p->clock(), life, ahead;

	creds_clear(&p->cur);
	p->cur = p->work;
	memset(&p->work, 0, sizeof(p->work));
	p->have = 1;
	p->inflight = 0;
	p->phase = PH_IDLE;
	p->failures = 0;
	p->retry_at = 0;
	p->lasterr[0] = '\0';
	if (p->cur.expiration == 0)
		p->refresh_at = 0;
	else {
		/* Short-lived credentials: refresh at half their life. */
		life = p->cur.expiration - now;
		ahead = life / 2 < CREDS_REFRESH_AHEAD ? life / 2 :
		    CREDS_REFRESH_AHEAD;
		if (ahead < 0)
			ahead = 0;
		p->refresh_at = p->cur.expiration - ahead;
		p->margin = life / 4 < CREDS_EXPIRY_MARGIN ? life / 4 :
		    CREDS_EXPIRY_MARGIN;
		if (p->margin < 0)
			p->margin = 0;
	}
	notify(p, &p->cur, NULL);
}

static void
finish_fail(struct creds_provider *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
finish_fail(struct creds_provider *p, const char *fmt, ...)
{
	va_list	ap;
	char	msg[400];
	time_t	now = p->clock();
	long	backoff;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->lasterr, sizeof(p->lasterr), "%s: %s", p->plan.desc, msg);
	creds_clear(&p->work);
	p->inflight = 0;
	p->phase = PH_IDLE;
	p->failures++;
	backoff = 5L << (p->failures > 6 ? 6 : p->failures - 1);
	if (backoff > 300)
		backoff = 300;
	p->retry_at = now + backoff;
	if (usable(p, now))
		notify(p, &p->cur, NULL);
	else
		notify(p, NULL, p->lasterr);
}

static void	run_done(void *, const struct creds_fetch_result *);

static void
do_fetch(struct creds_provider *p, enum phase ph, struct creds_http_req *req)
{
	int	rc;

	p->phase = ph;
	rc = p->f.fetch != NULL ? p->f.fetch(p->f.ctx, req, run_done, p) : -1;
	creds_http_req_free(req);
	if (rc == -1 && p->phase == ph && p->inflight)
		finish_fail(p, "could not start the request");
}

static void
next_step(struct creds_provider *p)
{
	struct creds_http_req	req;
	char			e[300];

	if (p->step >= p->plan.nsteps) {
		finish_ok(p);
		return;
	}
	if (creds_sts_assume_role_request(p->plan.sts_endpoint,
	    p->plan.region, &p->plan.steps[p->step], &p->work, p->clock(),
	    &req, e, sizeof(e)) == -1) {
		finish_fail(p, "AssumeRole %s: %s",
		    p->plan.steps[p->step].role_arn, e);
		return;
	}
	do_fetch(p, PH_ASSUME_ROLE, &req);
}

/* A token file's contents, trimmed; NULL with err. */
static char *
read_token(const char *path, const char *what, char *err, size_t errlen)
{
	char	*t, e[300];
	size_t	 len;
	int	 missing;

	if ((t = creds_read_file(path, CREDS_MAX_TOKEN, &len, &missing, e,
	    sizeof(e))) == NULL) {
		if (missing)
			errf(err, errlen, "%s %s does not exist", what, path);
		else
			errf(err, errlen, "%s: %s", what, e);
		return NULL;
	}
	while (len > 0 && isspace((unsigned char)t[len - 1]))
		t[--len] = '\0';
	if (len == 0 || strpbrk(t, "\r\n") != NULL) {
		errf(err, errlen, "%s %s is empty or has several lines",
		    what, path);
		creds_free_secret(t);
		return NULL;
	}
	return t;
}

static void
run_start(struct creds_provider *p)
{
	struct creds_http_req	 req;
	char			 e[400], *tok;
	int			 rc;

	p->inflight = 1;
	p->step = 0;
	creds_clear(&p->work);
	switch (p->plan.source) {
	case CREDS_SRC_STATIC:
		if (creds_copy(&p->work, &p->plan.static_creds) == -1) {
			finish_fail(p, "out of memory");
			return;
		}
		next_step(p);
		return;
	case CREDS_SRC_WEB_IDENTITY:
		if ((tok = read_token(p->plan.token_file, "web identity token "
		    "file", e, sizeof(e))) == NULL) {
			finish_fail(p, "%s", e);
			return;
		}
		rc = creds_sts_web_identity_request(p->plan.sts_endpoint,
		    p->plan.role_arn, p->plan.session_name, tok, &req, e,
		    sizeof(e));
		creds_free_secret(tok);
		if (rc == -1) {
			finish_fail(p, "%s", e);
			return;
		}
		do_fetch(p, PH_WEB_IDENTITY, &req);
		return;
	case CREDS_SRC_PROCESS:
		p->phase = PH_PROCESS;
		if (p->f.exec == NULL || p->f.exec(p->f.ctx, p->plan.command,
		    run_done, p) == -1) {
			if (p->inflight && p->phase == PH_PROCESS)
				finish_fail(p, "could not run "
				    "credential_process");
		}
		return;
	case CREDS_SRC_CONTAINER:
		tok = NULL;
		if (p->plan.auth_token_file != NULL &&
		    (tok = read_token(p->plan.auth_token_file,
		    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", e,
		    sizeof(e))) == NULL) {
			finish_fail(p, "%s", e);
			return;
		}
		rc = creds_container_request(p->plan.url, tok != NULL ? tok :
		    p->plan.auth_token, &req, e, sizeof(e));
		creds_free_secret(tok);
		if (rc == -1) {
			finish_fail(p, "%s", e);
			return;
		}
		do_fetch(p, PH_CONTAINER, &req);
		return;
	case CREDS_SRC_IMDS:
		if (creds_imds_token_request(p->plan.url, &req, e, sizeof(e)) ==
		    -1) {
			finish_fail(p, "%s", e);
			return;
		}
		do_fetch(p, PH_IMDS_TOKEN, &req);
		return;
	}
	finish_fail(p, "unknown credential source");
}

static void
run_done(void *arg, const struct creds_fetch_result *res)
{
	struct creds_provider	*p = arg;
	struct creds_http_req	 req;
	struct creds		 c;
	const char		*what;
	char			 e[400];
	size_t			 n;

	if (!p->inflight)
		return;
	switch (p->phase) {
	case PH_WEB_IDENTITY:
		what = "AssumeRoleWithWebIdentity";
		break;
	case PH_PROCESS:
		what = "credential_process";
		break;
	case PH_CONTAINER:
		what = "container endpoint";
		break;
	case PH_IMDS_TOKEN:
	case PH_IMDS_ROLE:
	case PH_IMDS_CREDS:
		what = "instance metadata";
		break;
	case PH_ASSUME_ROLE:
		what = "AssumeRole";
		break;
	default:
		return;
	}
	if (res->status < 0) {
		finish_fail(p, "%s: %s", what, res->error != NULL ?
		    res->error : "transport error");
		return;
	}
	switch (p->phase) {
	case PH_WEB_IDENTITY:
	case PH_ASSUME_ROLE:
		if (creds_sts_parse(res->status, res->body, res->bodylen, &c, e,
		    sizeof(e)) == -1) {
			if (p->phase == PH_ASSUME_ROLE)
				finish_fail(p, "AssumeRole %s: %s",
				    p->plan.steps[p->step].role_arn, e);
			else
				finish_fail(p, "%s: %s", what, e);
			return;
		}
		creds_clear(&p->work);
		p->work = c;
		if (p->phase == PH_ASSUME_ROLE)
			p->step++;
		next_step(p);
		return;
	case PH_PROCESS:
		if (res->status != 0) {
			finish_fail(p, "credential_process exited with status "
			    "%ld", res->status);
			return;
		}
		if (creds_process_parse(res->body, res->bodylen, &c, e,
		    sizeof(e)) == -1) {
			finish_fail(p, "%s", e);
			return;
		}
		p->work = c;
		next_step(p);
		return;
	case PH_CONTAINER:
	case PH_IMDS_CREDS:
		if (creds_json_parse(res->status, res->body, res->bodylen, &c,
		    e, sizeof(e)) == -1) {
			finish_fail(p, "%s: %s", what, e);
			return;
		}
		p->work = c;
		next_step(p);
		return;
	case PH_IMDS_TOKEN:
		if (res->status != 200) {
			finish_fail(p, "%s: token request: HTTP %ld", what,
			    res->status);
			return;
		}
		n = res->bodylen;
		while (n > 0 && isspace((unsigned char)res->body[n - 1]))
			n--;
		if (n == 0 || n > 4096) {
			finish_fail(p, "%s: malformed token", what);
			return;
		}
		creds_free_secret(p->imds_token);
		if ((p->imds_token = strndup(res->body, n)) == NULL) {
			finish_fail(p, "out of memory");
			return;
		}
		if (creds_imds_creds_request(p->plan.url, p->imds_token, NULL,
		    &req, e, sizeof(e)) == -1) {
			finish_fail(p, "%s", e);
			return;
		}
		do_fetch(p, PH_IMDS_ROLE, &req);
		return;
	case PH_IMDS_ROLE:
		if (creds_imds_parse_role(res->status, res->body, res->bodylen,
		    p->imds_role, sizeof(p->imds_role), e, sizeof(e)) == -1 ||
		    creds_imds_creds_request(p->plan.url, p->imds_token,
		    p->imds_role, &req, e, sizeof(e)) == -1) {
			finish_fail(p, "%s", e);
			return;
		}
		do_fetch(p, PH_IMDS_CREDS, &req);
		return;
	default:
		return;
	}
}

static int
add_waiter(struct creds_provider *p, creds_cb cb, void *arg)
{
	struct waiter	*w;

	if (cb == NULL)
		return 0;
	if ((w = reallocarray(p->w, p->nw + 1, sizeof(*w))) == NULL)
		return -1;
	p->w = w;
	w[p->nw].cb = cb;
	w[p->nw].arg = arg;
	p->nw++;
	return 0;
}

int
creds_provider_get(struct creds_provider *p, const struct creds **out,
    creds_cb cb, void *arg, char *err, size_t errlen)
{
	time_t	now = p->clock();

	*out = NULL;
	if (usable(p, now)) {
		if (p->refresh_at != 0 && now >= p->refresh_at &&
		    !p->inflight && now >= p->retry_at)
			run_start(p);
		/* Still usable: a failed refresh keeps the old ones. */
		if (usable(p, now)) {
			*out = &p->cur;
			return 0;
		}
	}
	if (p->inflight) {
		if (add_waiter(p, cb, arg) == -1) {
			errf(err, errlen, "out of memory");
			return -1;
		}
		return 1;
	}
	if (p->failures > 0 && now < p->retry_at) {
		errf(err, errlen, "%s", p->lasterr);
		return -1;
	}
	run_start(p);
	if (!p->inflight) {
		if (usable(p, p->clock())) {
			*out = &p->cur;
			return 0;
		}
		errf(err, errlen, "%s", p->lasterr[0] ? p->lasterr :
		    "credentials expired on arrival");
		return -1;
	}
	if (add_waiter(p, cb, arg) == -1) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	return 1;
}

int
creds_provider_sigv4(void *arg, struct sigv4_creds *out, char *err,
    size_t errlen)
{
	struct creds_provider	*p = arg;
	const struct creds	*c;
	int			 rc;

	rc = creds_provider_get(p, &c, NULL, NULL, err, errlen);
	if (rc == 1) {
		errf(err, errlen, "credentials from %s are still being "
		    "fetched", p->plan.desc);
		return -1;
	}
	if (rc == -1)
		return -1;
	out->access_key = c->access_key_id;
	out->secret_key = c->secret_access_key;
	out->session_token = c->session_token;
	return 0;
}

time_t
creds_provider_refresh_at(const struct creds_provider *p)
{
	return p->refresh_at;
}

const char *
creds_provider_last_error(const struct creds_provider *p)
{
	return p->lasterr;
}

const char *
creds_provider_describe(const struct creds_provider *p)
{
	return p->plan.desc;
}
