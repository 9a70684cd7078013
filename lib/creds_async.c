/*
 * creds_fetcher for the daemon's loop: lib/http for the network, a child
 * process watched by libevent for credential_process.
 */
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "creds.h"
#include "creds_async.h"
#include "http.h"

#define REAP_POLL_MS	20

struct pending {
	LIST_ENTRY(pending)	 entry;
	struct creds_async	*a;
	creds_fetch_done	 done;
	void			*cbarg;
	/* HTTP */
	struct http_req		*req;
	/* credential_process */
	pid_t			 pid;
	int			 fd;
	struct event		*ev_read;
	struct event		*ev_deadline;
	struct event		*ev_reap;
	char			*buf;
	size_t			 len;
	int			 too_large;
};

struct creds_async {
	struct event_base	*base;
	struct http		*h;
	long			 timeout_ms;
	LIST_HEAD(, pending)	 pending;
};

struct creds_async *
creds_async_new(struct event_base *base, struct http *h, long timeout_ms)
{
	struct creds_async	*a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->base = base;
	a->h = h;
	a->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	LIST_INIT(&a->pending);
	return a;
}

static void
pending_free(struct pending *p)
{
	if (p->ev_read != NULL)
		event_free(p->ev_read);
	if (p->ev_deadline != NULL)
		event_free(p->ev_deadline);
	if (p->ev_reap != NULL)
		event_free(p->ev_reap);
	if (p->fd != -1)
		close(p->fd);
	if (p->buf != NULL) {
		OPENSSL_cleanse(p->buf, p->len);
		free(p->buf);
	}
	free(p);
}

/* Takes p off the list before calling back: done may start new work. */
static void
pending_finish(struct pending *p, const struct creds_fetch_result *res)
{
	creds_fetch_done	 done = p->done;
	void			*cbarg = p->cbarg;

	LIST_REMOVE(p, entry);
	done(cbarg, res);
	pending_free(p);
}

static void
http_done(const struct http_response *hr, void *arg)
{
	struct pending			*p = arg;
	struct creds_fetch_result	 res;

	memset(&res, 0, sizeof(res));
	p->req = NULL;
	if (!hr->ok) {
		res.status = -1;
		res.error = hr->error != NULL ? hr->error : "transport error";
	} else {
		res.status = hr->status;
		res.body = hr->body != NULL ? hr->body : "";
		res.bodylen = hr->body != NULL ? hr->bodylen : 0;
	}
	pending_finish(p, &res);
}

static int
async_fetch(void *ctx, const struct creds_http_req *req, creds_fetch_done done,
    void *cbarg)
{
	struct creds_async	*a = ctx;
	struct http_request	 hr;
	struct pending		*p;
	char			 err[256];

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	p->a = a;
	p->done = done;
	p->cbarg = cbarg;
	p->fd = -1;
	memset(&hr, 0, sizeof(hr));
	hr.method = req->method;
	hr.url = req->url;
	hr.headers = (const char *const *)req->headers;
	hr.body = req->body;
	hr.bodylen = req->bodylen;
	hr.timeout_ms = a->timeout_ms;
	hr.max_body = CREDS_MAX_BODY;
	/* On the list first: http may call back before http_submit returns. */
	LIST_INSERT_HEAD(&a->pending, p, entry);
	if ((p->req = http_submit(a->h, &hr, http_done, p, err,
	    sizeof(err))) == NULL) {
		LIST_REMOVE(p, entry);
		pending_free(p);
		return -1;
	}
	return 0;
}

/* Reaps the child: 1 with *status, 0 still running. */
static int
reap(struct pending *p, int *status)
{
	pid_t	r;

	for (;;) {
		r = waitpid(p->pid, status, WNOHANG);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == 0)
			return 0;
		if (r == -1)	/* SIGCHLD ignored: reaped by the kernel */
			*status = 0;
		p->pid = -1;
		return 1;
	}
}

static void
kill_and_reap(struct pending *p)
{
	int	status;

	if (p->pid <= 0)
		return;
	kill(-p->pid, SIGKILL);
	/* Does not wait long: SIGKILL can't be caught. */
	while (waitpid(p->pid, &status, 0) == -1 && errno == EINTR)
		;
	p->pid = -1;
}

static void
proc_fail(struct pending *p, const char *why)
{
	struct creds_fetch_result	res;

	kill_and_reap(p);
	memset(&res, 0, sizeof(res));
	res.status = -1;
	res.error = why;
	pending_finish(p, &res);
}

static void
proc_try_finish(struct pending *p)
{
	struct creds_fetch_result	res;
	struct timeval			tv = { 0, REAP_POLL_MS * 1000 };
	int				status;

	if (!reap(p, &status)) {
		/* Closed its output but still running: look again soon. */
		evtimer_add(p->ev_reap, &tv);
		return;
	}
	memset(&res, 0, sizeof(res));
	res.status = WIFEXITED(status) ? WEXITSTATUS(status) :
	    128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	res.body = p->buf;
	res.bodylen = p->len;
	pending_finish(p, &res);
}

static void
proc_reap_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	proc_try_finish(arg);
}

static void
proc_deadline_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	proc_fail(arg, "credential_process timed out");
}

static void
proc_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct pending	*p = arg;
	ssize_t		 n;

	(void)ev;
	for (;;) {
		if (p->len >= CREDS_MAX_BODY) {
			proc_fail(p, "credential_process output too large");
			return;
		}
		n = read(fd, p->buf + p->len, CREDS_MAX_BODY - p->len);
		if (n > 0) {
			p->len += (size_t)n;
			p->buf[p->len] = '\0';
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		break;		/* EOF or error: the child is done writing */
	}
	event_del(p->ev_read);
	close(p->fd);
	p->fd = -1;
	proc_try_finish(p);
}

static int
async_exec(void *ctx, const char *command, creds_fetch_done done,
    void *cbarg)
{
	struct creds_async	*a = ctx;
	struct pending		*p;
	struct timeval		 tv;
	int			 fds[2];

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	p->a = a;
	p->done = done;
	p->cbarg = cbarg;
	p->fd = -1;
	p->pid = -1;
	if ((p->buf = malloc(CREDS_MAX_BODY + 1)) == NULL)
		goto fail;
	p->buf[0] = '\0';
	if (pipe2(fds, O_CLOEXEC) == -1)
		goto fail;
	p->fd = fds[0];
	if (fcntl(p->fd, F_SETFL, O_NONBLOCK) == -1) {
		close(fds[1]);
		goto fail;
	}
	p->ev_read = event_new(a->base, p->fd, EV_READ | EV_PERSIST,
	    proc_read_cb, p);
	p->ev_deadline = evtimer_new(a->base, proc_deadline_cb, p);
	p->ev_reap = evtimer_new(a->base, proc_reap_cb, p);
	if (p->ev_read == NULL || p->ev_deadline == NULL ||
	    p->ev_reap == NULL) {
		close(fds[1]);
		goto fail;
	}
	if ((p->pid = fork()) == -1) {
		close(fds[1]);
		goto fail;
	}
	if (p->pid == 0) {
		int	null;

		/* Its own process group: a timeout kills what it started.
		 * No stdin: it must not read the daemon's or a terminal's. */
		if ((null = open("/dev/null", O_RDONLY)) == -1 ||
		    dup2(null, STDIN_FILENO) == -1 || setpgid(0, 0) == -1 ||
		    dup2(fds[1], STDOUT_FILENO) == -1)
			_exit(127);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	/* Also here: kill(-pid) must find the group even if the child has
	 * not run yet. */
	(void)setpgid(p->pid, p->pid);
	close(fds[1]);
	tv.tv_sec = a->timeout_ms / 1000;
	tv.tv_usec = (a->timeout_ms % 1000) * 1000;
	event_add(p->ev_read, NULL);
	evtimer_add(p->ev_deadline, &tv);
	LIST_INSERT_HEAD(&a->pending, p, entry);
	return 0;
fail:
	pending_free(p);
	return -1;
}

static void
async_cancel(void *ctx, void *cbarg)
{
	struct creds_async	*a = ctx;
	struct pending		*p, *next;

	for (p = LIST_FIRST(&a->pending); p != NULL; p = next) {
		next = LIST_NEXT(p, entry);
		if (p->cbarg != cbarg)
			continue;
		if (p->req != NULL)
			http_cancel(p->req);
		kill_and_reap(p);
		LIST_REMOVE(p, entry);
		pending_free(p);
	}
}

void
creds_async_fetcher(struct creds_async *a, struct creds_fetcher *f)
{
	memset(f, 0, sizeof(*f));
	f->fetch = async_fetch;
	f->exec = async_exec;
	f->cancel = async_cancel;
	f->ctx = a;
}

void
creds_async_free(struct creds_async *a)
{
	struct pending	*p;

	if (a == NULL)
		return;
	while ((p = LIST_FIRST(&a->pending)) != NULL) {
		if (p->req != NULL)
			http_cancel(p->req);
		kill_and_reap(p);
		LIST_REMOVE(p, entry);
		pending_free(p);
	}
	free(a);
}
