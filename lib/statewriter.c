/*
 * The state writer thread: a queue of (name, document) with one entry
 * per waiting name, written in order by one thread with the atomic
 * primitive of state.c; completions go back to the loop through an
 * eventfd.  One thread keeps the writes of a name in order without any
 * per-name bookkeeping (two threads could rename an older document over
 * a newer one).
 *
 * A group commit: the thread takes what is waiting, up to SW_BATCH
 * documents, writes and fsyncs each file and renames it in place, then
 * fsyncs each directory of the batch once and only then reports the
 * batch's writes done.  The first sweep of 10,000 keys cost 20,000
 * fsyncs when every file also synced its directory.
 */
#include <sys/eventfd.h>
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "state.h"
#include "statefs.h"
#include "statewriter.h"

/* Enough that 100,000 waiting names keep short chains; 64 KiB. */
#define SW_BUCKETS	8192
/* Documents written between two fsyncs of their directory. */
#define SW_BATCH	64
/* Directories a batch fsyncs once at its end; a file in another one has
 * its directory synced at once. */
#define SW_DIRS		4

/* A directory of the batch, still to be fsync'ed. */
struct sw_dir {
	int	fd;
	int	e;			/* errno of its fsync, or 0 */
	char	path[4096];
};

struct sw_job {
	struct sw_job	*next;		/* queue, then done list */
	struct sw_job	*hnext;		/* bucket chain while waiting */
	char		*name;
	json_t		*j;
	int		 rc;
	int		 has_expect;
	struct state_id	 expect;
	struct state_id	 id;		/* as written, or found (conflict) */
	char		*err;		/* rc -1 */
};

struct statewriter {
	struct event_base	*base;
	char			*dir;
	statewriter_done_cb	 done;
	void			*arg;
	int			 efd;
	struct event		*ev;
	pthread_t		 thread;
	int			 started;

	pthread_mutex_t		 mtx;
	pthread_cond_t		 work;		/* queue not empty, or stop */
	pthread_cond_t		 idle;		/* a write finished */
	struct sw_job		*head, *tail;	/* waiting */
	struct sw_job		*buckets[SW_BUCKETS];
	struct sw_job		*done_head, *done_tail;
	size_t			 pending;	/* waiting + being written */
	int			 stop;
};

static size_t
sw_hash(const char *s)
{
	uint32_t	h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % SW_BUCKETS;
}

static void
sw_job_free(struct sw_job *job)
{
	if (job == NULL)
		return;
	json_decref(job->j);
	free(job->name);
	free(job->err);
	free(job);
}

static void
sw_unhash(struct statewriter *sw, struct sw_job *job)
{
	struct sw_job	**pp = &sw->buckets[sw_hash(job->name)];

	for (; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == job) {
			*pp = job->hnext;
			break;
		}
	job->hnext = NULL;
}

/* The failure of job's write, as err says (strdup'ed). */
static void
sw_fail(struct sw_job *job, const char *err)
{
	job->rc = -1;
	free(job->err);
	job->err = strdup(err[0] != '\0' ? err : "write failed");
}

/*
 * Writes the n jobs, then fsyncs their directories, one fsync each; a
 * job is done (rc 0) once its directory is synced.
 */
static void
sw_write_batch(struct statewriter *sw, struct sw_job **jobs, size_t n)
{
	struct sw_dir	 dirs[SW_DIRS];
	struct sw_job	*job;
	const char	*leaf;
	char		 err[1024], dpath[4096];
	int		 dir_of[SW_BATCH], dfd, lk, rc;
	size_t		 ndirs = 0, i, d;

	/* Until the batch is durable: a `baseline accept` waits for it,
	 * and this batch's conditional writes test what that wrote. */
	lk = state_lock(sw->dir);
	for (i = 0; i < n; i++) {
		job = jobs[i];
		dir_of[i] = -1;
		err[0] = '\0';
		if ((rc = state_write_json_nosync(sw->dir, job->name, job->j,
		    job->has_expect ? &job->expect : NULL, &job->id, &dfd,
		    dpath, sizeof(dpath), err, sizeof(err))) == -1) {
			sw_fail(job, err);
			continue;
		}
		if (rc == STATE_WRITE_CONFLICT) {
			job->rc = rc;
			continue;
		}
		job->rc = 0;
		for (d = 0; d < ndirs; d++)
			if (strcmp(dirs[d].path, dpath) == 0)
				break;
		if (d == ndirs && ndirs < SW_DIRS) {
			dirs[d].fd = dfd;
			dirs[d].e = 0;
			(void)snprintf(dirs[d].path, sizeof(dirs[d].path), "%s",
			    dpath);
			ndirs++;
		} else if (d == ndirs) {
			/* No room: this one is synced now. */
			if (state_sync_dir(dfd, dpath, job->name, err,
			    sizeof(err)) == -1)
				sw_fail(job, err);
			(void)close(dfd);
			continue;
		} else
			(void)close(dfd);
		dir_of[i] = (int)d;
	}
	for (d = 0; d < ndirs; d++) {
		if (fsync(dirs[d].fd) == -1)
			dirs[d].e = errno;
		(void)close(dirs[d].fd);
	}
	state_unlock(lk);
	for (i = 0; i < n; i++) {
		job = jobs[i];
		if (dir_of[i] >= 0 && dirs[dir_of[i]].e != 0) {
			leaf = strrchr(job->name, '/');
			statefs_dirsync_err(err, sizeof(err),
			    dirs[dir_of[i]].e, dirs[dir_of[i]].path,
			    leaf != NULL ? leaf + 1 : job->name);
			sw_fail(job, err);
		}
	}
	/*
	 * The documents are the loop's memory: they are freed on the loop
	 * (at the reap).  Freeing them here took the loop's malloc arena
	 * lock from this thread, and the loop stalled on that lock whenever
	 * this thread lost its CPU while holding it.
	 */
}

static void *
sw_main(void *arg)
{
	struct statewriter	*sw = arg;
	struct sw_job		*jobs[SW_BATCH];
	uint64_t		 one = 1;
	size_t			 n, i;
	int			 wake;

	(void)pthread_mutex_lock(&sw->mtx);
	for (;;) {
		while (sw->head == NULL && !sw->stop)
			(void)pthread_cond_wait(&sw->work, &sw->mtx);
		if (sw->head == NULL)
			break;
		/* What waits now, in order: one batch. */
		for (n = 0; sw->head != NULL && n < SW_BATCH; n++) {
			jobs[n] = sw->head;
			sw->head = jobs[n]->next;
			jobs[n]->next = NULL;
			sw_unhash(sw, jobs[n]);
		}
		if (sw->head == NULL)
			sw->tail = NULL;
		(void)pthread_mutex_unlock(&sw->mtx);

		sw_write_batch(sw, jobs, n);

		(void)pthread_mutex_lock(&sw->mtx);
		wake = sw->done_head == NULL;
		for (i = 0; i < n; i++) {
			if (sw->done_tail != NULL)
				sw->done_tail->next = jobs[i];
			else
				sw->done_head = jobs[i];
			sw->done_tail = jobs[i];
		}
		sw->pending -= n;
		(void)pthread_cond_broadcast(&sw->idle);
		(void)pthread_mutex_unlock(&sw->mtx);
		/* One wake-up per batch of completions, not per write; a
		 * failed write means the counter is full: one is due.  Not
		 * under the lock: the loop takes it, and a thread that loses
		 * its CPU inside a system call would hold the loop up. */
		if (wake)
			(void)!write(sw->efd, &one, sizeof(one));
		(void)pthread_mutex_lock(&sw->mtx);
	}
	(void)pthread_mutex_unlock(&sw->mtx);
	return NULL;
}

/* On the loop: reports the finished writes. */
static void
sw_reap(struct statewriter *sw)
{
	struct sw_job	*job, *next;

	(void)pthread_mutex_lock(&sw->mtx);
	job = sw->done_head;
	sw->done_head = sw->done_tail = NULL;
	(void)pthread_mutex_unlock(&sw->mtx);
	for (; job != NULL; job = next) {
		next = job->next;
		if (sw->done != NULL)
			sw->done(sw->arg, job->name, job->rc, &job->id,
			    job->err);
		sw_job_free(job);
	}
}

static void
sw_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t	n;

	(void)what;
	/* EAGAIN: a flush reaped already; reaping again is harmless. */
	(void)!read(fd, &n, sizeof(n));
	sw_reap(arg);
}

struct statewriter *
statewriter_new(struct event_base *base, const char *dir,
    statewriter_done_cb done, void *arg, char *err, size_t errlen)
{
	struct statewriter	*sw;
	int			 e;

	if ((sw = calloc(1, sizeof(*sw))) == NULL) {
		(void)snprintf(err, errlen, "state writer: out of memory");
		return NULL;
	}
	sw->efd = -1;
	sw->base = base;
	sw->done = done;
	sw->arg = arg;
	(void)pthread_mutex_init(&sw->mtx, NULL);
	(void)pthread_cond_init(&sw->work, NULL);
	(void)pthread_cond_init(&sw->idle, NULL);
	/* A reload replaces the configuration that holds the path. */
	if ((sw->dir = strdup(dir)) == NULL) {
		(void)snprintf(err, errlen, "state writer: out of memory");
		goto fail;
	}
	if ((sw->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		(void)snprintf(err, errlen, "state writer: eventfd: %s",
		    strerror(errno));
		goto fail;
	}
	if ((sw->ev = event_new(base, sw->efd, EV_READ | EV_PERSIST,
	    sw_wake_cb, sw)) == NULL || event_add(sw->ev, NULL) == -1) {
		(void)snprintf(err, errlen, "state writer: out of memory");
		goto fail;
	}
	if ((e = pthread_create(&sw->thread, NULL, sw_main, sw)) != 0) {
		(void)snprintf(err, errlen, "state writer: cannot start its "
		    "thread: %s", strerror(e));
		goto fail;
	}
	sw->started = 1;
	return sw;
fail:
	statewriter_free(sw);
	return NULL;
}

int
statewriter_put(struct statewriter *sw, const char *name, json_t *j,
    const struct state_id *expect, char *err, size_t errlen)
{
	struct sw_job	*job, **bucket;
	json_t		*old;

	(void)pthread_mutex_lock(&sw->mtx);
	bucket = &sw->buckets[sw_hash(name)];
	for (job = *bucket; job != NULL; job = job->hnext)
		if (strcmp(job->name, name) == 0) {
			/* Still waiting: the thread has not seen it. */
			old = job->j;
			job->j = j;
			(void)pthread_mutex_unlock(&sw->mtx);
			json_decref(old);
			return 1;
		}
	(void)pthread_mutex_unlock(&sw->mtx);

	if ((job = calloc(1, sizeof(*job))) == NULL ||
	    (job->name = strdup(name)) == NULL) {
		free(job);
		json_decref(j);
		(void)snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	job->j = j;
	if (expect != NULL) {
		job->has_expect = 1;
		job->expect = *expect;
	}
	(void)pthread_mutex_lock(&sw->mtx);
	job->hnext = *bucket;
	*bucket = job;
	if (sw->tail != NULL)
		sw->tail->next = job;
	else
		sw->head = job;
	sw->tail = job;
	sw->pending++;
	(void)pthread_cond_signal(&sw->work);
	(void)pthread_mutex_unlock(&sw->mtx);
	return 0;
}

size_t
statewriter_pending(struct statewriter *sw)
{
	size_t	n;

	(void)pthread_mutex_lock(&sw->mtx);
	n = sw->pending;
	(void)pthread_mutex_unlock(&sw->mtx);
	return n;
}

void
statewriter_flush(struct statewriter *sw)
{
	(void)pthread_mutex_lock(&sw->mtx);
	while (sw->pending > 0 && sw->started)
		(void)pthread_cond_wait(&sw->idle, &sw->mtx);
	(void)pthread_mutex_unlock(&sw->mtx);
	sw_reap(sw);
}

void
statewriter_free(struct statewriter *sw)
{
	struct sw_job	*job, *next;

	if (sw == NULL)
		return;
	if (sw->started) {
		(void)pthread_mutex_lock(&sw->mtx);
		sw->stop = 1;
		(void)pthread_cond_signal(&sw->work);
		(void)pthread_mutex_unlock(&sw->mtx);
		/* The thread writes what is queued before it stops. */
		(void)pthread_join(sw->thread, NULL);
		sw_reap(sw);
	}
	for (job = sw->head; job != NULL; job = next) {
		next = job->next;
		sw_job_free(job);
	}
	if (sw->ev != NULL)
		event_free(sw->ev);
	if (sw->efd != -1)
		(void)close(sw->efd);
	(void)pthread_cond_destroy(&sw->idle);
	(void)pthread_cond_destroy(&sw->work);
	(void)pthread_mutex_destroy(&sw->mtx);
	free(sw->dir);
	free(sw);
}
