/*
 * Credential providers on the loop: lib/creds decides where credentials
 * come from and parses the answers; this file does its network through
 * lib/http and runs credential_process asynchronously.  Keys with the
 * same aws: settings share one provider.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "creds.h"
#include "http.h"
#include "log.h"
#include "keyhealthd.h"

extern char **environ;

#define GLUE_PROCESS_TIMEOUT	30	/* seconds for credential_process */
#define GLUE_PROCESS_MAX	(64 * 1024)

/* One fetch or process run in flight, so that cancel can find it. */
struct glue_job {
	struct glue_job		*next;
	struct kh		*kh;
	void			*cbarg;
	creds_fetch_done	 done;
	struct http_req		*req;		/* HTTP */
	pid_t			 pid;		/* process */
	int			 fd;
	struct event		*ev;
	struct event		*timer;
	char			*out;
	size_t			 outlen;
};

static struct glue_job	*glue_jobs;

static void
glue_job_unlink(struct glue_job *j)
{
	struct glue_job	**pp;

	for (pp = &glue_jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			return;
		}
}

static void
glue_job_free(struct glue_job *j)
{
	glue_job_unlink(j);
	if (j->ev != NULL)
		event_free(j->ev);
	if (j->timer != NULL)
		event_free(j->timer);
	if (j->fd != -1)
		close(j->fd);
	if (j->pid > 0) {
		(void)kill(j->pid, SIGKILL);
		(void)waitpid(j->pid, NULL, 0);
	}
	if (j->out != NULL) {
		explicit_bzero(j->out, j->outlen);
		free(j->out);
	}
	free(j);
}

static void
glue_http_cb(const struct http_response *res, void *arg)
{
	struct glue_job			*j = arg;
	struct creds_fetch_result	 r;
	creds_fetch_done		 done = j->done;
	void				*cbarg = j->cbarg;

	memset(&r, 0, sizeof(r));
	if (res->ok) {
		r.status = res->status;
		r.body = res->body;
		r.bodylen = res->bodylen;
	} else {
		r.status = -1;
		r.error = res->error != NULL ? res->error : "transport error";
	}
	j->req = NULL;
	glue_job_free(j);
	done(cbarg, &r);
}

static int
glue_fetch(void *ctx, const struct creds_http_req *req, creds_fetch_done done,
    void *cbarg)
{
	struct kh		*kh = ctx;
	struct glue_job		*j;
	struct http_request	 hr;
	char			 err[256];

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return -1;
	j->kh = kh;
	j->fd = -1;
	j->done = done;
	j->cbarg = cbarg;
	memset(&hr, 0, sizeof(hr));
	hr.method = req->method;
	hr.url = req->url;
	hr.headers = (const char * const *)req->headers;
	hr.body = req->body;
	hr.bodylen = req->bodylen;
	hr.max_body = CREDS_MAX_BODY;
	j->next = glue_jobs;
	glue_jobs = j;
	j->req = http_submit(kh->http, &hr, glue_http_cb, j, err, sizeof(err));
	if (j->req == NULL) {
		log_warnx("credentials: cannot request %s: %s", req->url, err);
		glue_job_free(j);
		return -1;
	}
	return 0;
}

static void
glue_process_finish(struct glue_job *j, long status, const char *error)
{
	struct creds_fetch_result	 r;
	creds_fetch_done		 done = j->done;
	void				*cbarg = j->cbarg;
	char				*out = j->out;
	size_t				 outlen = j->outlen;

	memset(&r, 0, sizeof(r));
	r.status = status;
	r.body = out != NULL ? out : "";
	r.bodylen = outlen;
	r.error = error;
	j->out = NULL;
	glue_job_free(j);
	done(cbarg, &r);
	if (out != NULL) {
		explicit_bzero(out, outlen);
		free(out);
	}
}

static void
glue_process_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct glue_job	*j = arg;
	char		 buf[4096], *n;
	ssize_t		 r;
	int		 st;

	(void)what;
	r = read(fd, buf, sizeof(buf));
	if (r == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r > 0) {
		if (j->outlen + (size_t)r > GLUE_PROCESS_MAX) {
			glue_process_finish(j, -1,
			    "credential_process output too large");
			return;
		}
		if ((n = realloc(j->out, j->outlen + (size_t)r + 1)) == NULL) {
			glue_process_finish(j, -1, "out of memory");
			return;
		}
		j->out = n;
		memcpy(j->out + j->outlen, buf, (size_t)r);
		j->outlen += (size_t)r;
		j->out[j->outlen] = '\0';
		return;
	}
	/* EOF: the child closed stdout, so it is exiting. */
	if (waitpid(j->pid, &st, 0) == -1) {
		j->pid = 0;
		glue_process_finish(j, -1, "credential_process: wait failed");
		return;
	}
	j->pid = 0;
	if (WIFEXITED(st))
		glue_process_finish(j, WEXITSTATUS(st), WEXITSTATUS(st) == 0 ?
		    NULL : "credential_process exited with an error");
	else
		glue_process_finish(j, -1, "credential_process was killed");
}

static void
glue_process_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	glue_process_finish(arg, -1, "credential_process timed out");
}

static int
glue_exec(void *ctx, const char *command, creds_fetch_done done, void *cbarg)
{
	struct kh	*kh = ctx;
	struct glue_job	*j;
	struct timeval	 tv = { GLUE_PROCESS_TIMEOUT, 0 };
	int		 fds[2];
	pid_t		 pid;

	if (pipe2(fds, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		if (devnull != -1)
			(void)dup2(devnull, STDIN_FILENO);
		(void)dup2(fds[1], STDOUT_FILENO);
		(void)setsid();
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		close(fds[0]);
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		return -1;
	}
	j->kh = kh;
	j->fd = fds[0];
	j->pid = pid;
	j->done = done;
	j->cbarg = cbarg;
	j->next = glue_jobs;
	glue_jobs = j;
	(void)evutil_make_socket_nonblocking(j->fd);
	j->ev = event_new(kh->base, j->fd, EV_READ | EV_PERSIST,
	    glue_process_read_cb, j);
	j->timer = evtimer_new(kh->base, glue_process_timeout_cb, j);
	if (j->ev == NULL || j->timer == NULL || event_add(j->ev, NULL) == -1 ||
	    evtimer_add(j->timer, &tv) == -1) {
		glue_job_free(j);
		return -1;
	}
	return 0;
}

static void
glue_cancel(void *ctx, void *cbarg)
{
	struct glue_job	*j, *next;

	(void)ctx;
	for (j = glue_jobs; j != NULL; j = next) {
		next = j->next;
		if (j->cbarg != cbarg)
			continue;
		if (j->req != NULL) {
			http_cancel(j->req);
			j->req = NULL;
		}
		glue_job_free(j);
	}
}

/* The settings that decide the credentials, as a string key. */
static void
glue_id(const struct config_aws *aws, const char *region, char *buf,
    size_t len)
{
	(void)snprintf(buf, len, "profile=%s|role=%s|region=%s|sts=%s",
	    aws->profile ? aws->profile : "",
	    aws->assume_role ? aws->assume_role : "",
	    aws->region ? aws->region : region,
	    aws->sts_endpoint_url ? aws->sts_endpoint_url : "");
}

struct kh_creds *
creds_glue_get(struct kh *kh, const struct config_key *ck)
{
	struct config_aws	 aws;
	struct creds_config	 cc;
	struct creds_plan	 plan;
	struct creds_fetcher	 f;
	struct kh_creds		*c, **v;
	char			 id[1024];
	size_t			 i;

	config_key_aws(kh->conf, ck, &aws);
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
	memset(&plan, 0, sizeof(plan));
	if (creds_plan_resolve(&cc, (const char * const *)environ, &plan,
	    c->err, sizeof(c->err)) == -1) {
		creds_plan_free(&plan);
		log_warnx("credentials for key %s: %s", ck->name, c->err);
		return c;
	}
	(void)snprintf(c->desc, sizeof(c->desc), "%s", plan.desc);
	memset(&f, 0, sizeof(f));
	f.fetch = glue_fetch;
	f.exec = glue_exec;
	f.cancel = glue_cancel;
	f.ctx = kh;
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
