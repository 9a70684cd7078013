/*
 * A blocking credentials fetcher for the tools and unit tests that drive
 * lib/creds without an event loop (the daemon uses creds_async): libcurl
 * easy for HTTP, a child process for credential_process.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "creds.h"
#include "creds_blocking.h"

struct body {
	char	*s;
	size_t	 len;
	int	 too_large;
};

static size_t
body_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct body	*b = arg;
	size_t		 n = size * nmemb;
	char		*p;

	if (b->len + n > CREDS_MAX_BODY) {
		b->too_large = 1;
		return 0;
	}
	if ((p = realloc(b->s, b->len + n + 1)) == NULL)
		return 0;
	b->s = p;
	memcpy(b->s + b->len, ptr, n);
	b->len += n;
	b->s[b->len] = '\0';
	return n;
}

static int
blocking_fetch(void *ctx, const struct creds_http_req *req,
    creds_fetch_done done, void *cbarg)
{
	struct creds_fetch_result	 res;
	struct curl_slist		*hl = NULL, *t;
	struct body			 b = { NULL, 0, 0 };
	char				 ebuf[CURL_ERROR_SIZE] = "";
	long				 timeout = *(long *)ctx, status = 0;
	size_t				 i;
	CURL				*c;
	CURLcode			 cc;

	if ((c = curl_easy_init()) == NULL)
		return -1;
	for (i = 0; i < req->nheaders; i++) {
		if ((t = curl_slist_append(hl, req->headers[i])) == NULL) {
			curl_slist_free_all(hl);
			curl_easy_cleanup(c);
			return -1;
		}
		hl = t;
	}
	/* No "Expect: 100-continue" round trip for small STS bodies. */
	if ((t = curl_slist_append(hl, "Expect:")) != NULL)
		hl = t;
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (req->body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)req->bodylen);
	} else if (strcmp(req->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	}
	cc = curl_easy_perform(c);
	memset(&res, 0, sizeof(res));
	if (cc != CURLE_OK) {
		res.status = -1;
		res.error = b.too_large ? "answer too large" : ebuf[0] ? ebuf :
		    curl_easy_strerror(cc);
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		res.status = status;
		res.body = b.s != NULL ? b.s : "";
		res.bodylen = b.len;
	}
	done(cbarg, &res);
	if (b.s != NULL) {
		OPENSSL_cleanse(b.s, b.len);
		free(b.s);
	}
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return 0;
}

/* Runs command with /bin/sh, stdout captured (bounded), under a timeout. */
static int
blocking_exec(void *ctx, const char *command, creds_fetch_done done,
    void *cbarg)
{
	struct creds_fetch_result	 res;
	struct pollfd			 pfd;
	struct timespec			 t0, t1;
	long				 timeout = *(long *)ctx, left;
	char				*buf;
	size_t				 len = 0;
	ssize_t				 n;
	pid_t				 pid;
	int				 fds[2], status, killed = 0, big = 0;
	int				 rc;

	if ((buf = malloc(CREDS_MAX_BODY + 1)) == NULL)
		return -1;
	if (pipe2(fds, O_CLOEXEC) == -1) {
		free(buf);
		return -1;
	}
	if ((pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		free(buf);
		return -1;
	}
	if (pid == 0) {
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
	(void)setpgid(pid, pid);
	close(fds[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = timeout - ((t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			killed = 1;
			break;
		}
		pfd.fd = fds[0];
		pfd.events = POLLIN;
		rc = poll(&pfd, 1, (int)left);
		if (rc == -1 && errno == EINTR)
			continue;
		if (rc == -1) {
			killed = 1;
			break;
		}
		if (rc == 0)		/* the deadline is checked above */
			continue;
		if (len >= CREDS_MAX_BODY) {
			big = 1;
			break;
		}
		n = read(fds[0], buf + len, CREDS_MAX_BODY - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fds[0]);
	if (killed || big)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	buf[len] = '\0';
	memset(&res, 0, sizeof(res));
	if (killed || big) {
		res.status = -1;
		res.error = killed ? "timed out" : "output too large";
	} else {
		res.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 +
		    (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		res.body = buf;
		res.bodylen = len;
	}
	done(cbarg, &res);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return 0;
}

void
creds_blocking_fetcher(struct creds_fetcher *f, long *timeout_ms)
{
	memset(f, 0, sizeof(*f));
	f->fetch = blocking_fetch;
	f->exec = blocking_exec;
	f->ctx = timeout_ms;
}

int
creds_blocking_resolve(const struct creds_config *cfg,
    const char *const *env, long timeout_ms, struct creds *out, char *desc,
    size_t desclen, char *err, size_t errlen)
{
	struct creds_plan	 plan;
	struct creds_fetcher	 f;
	struct creds_provider	*p;
	const struct creds	*c;
	long			 t = timeout_ms > 0 ? timeout_ms : 5000;
	int			 rc;

	memset(out, 0, sizeof(*out));
	if (creds_plan_resolve(cfg, env, &plan, err, errlen) == -1)
		return -1;
	if (desc != NULL && desclen > 0)
		snprintf(desc, desclen, "%s", plan.desc);
	creds_blocking_fetcher(&f, &t);
	if ((p = creds_provider_new(&plan, &f, NULL)) == NULL) {
		creds_plan_free(&plan);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = creds_provider_get(p, &c, NULL, NULL, err, errlen);
	if (rc == 0 && creds_copy(out, c) == -1) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	} else if (rc == 1) {
		snprintf(err, errlen, "blocking fetch did not complete");
		rc = -1;
	}
	creds_provider_free(p);
	return rc;
}
