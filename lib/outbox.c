/*
 * The durable per-notifier outbox: a directory of event files, delivered
 * oldest first with capped backoff; see outbox.h for the guarantees.
 */
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "alert.h"
#include "errf.h"
#include "log.h"
#include "outbox.h"
#include "statefs.h"

#define OUTBOX_MAX_EVENTS	10000
#define OUTBOX_MAX_BYTES	(64 * 1024 * 1024)
#define OUTBOX_BACKOFF_MIN	1000
#define OUTBOX_BACKOFF_MAX	300000
#define OUTBOX_COMPLAIN_FIRST	60000
#define OUTBOX_COMPLAIN_MAX	3600000
#define OUTBOX_OVER_CAP_LOG	60000
#define OUTBOX_FILE_MAX		(1024 * 1024)
#define OUTBOX_SUFFIX		".json"
#define OUTBOX_PERSIST_MIN	1000	/* ms: an unwritable event is */
#define OUTBOX_PERSIST_MAX	60000	/* written again this often */
#define OUTBOX_ACKED		".acked"

struct outbox_item {
	TAILQ_ENTRY(outbox_item) entry;
	uint64_t		 seq;
	struct alert_event	 ev;
	size_t			 bytes;
	time_t			 queued;
	char			*unsaved;	/* its file's text while the
						 * file could not be written */
};
TAILQ_HEAD(outbox_items, outbox_item);

/* Separate from the outbox so a late done() after outbox_free is safe. */
struct outbox_flight {
	struct outbox		*ob;
	struct outbox_item	*item;
};

struct outbox {
	struct event_base	*base;
	char			*dir;
	int			 dirfd;
	char			*name;
	struct outbox_opts	 opts;
	outbox_send_fn		 send;
	void			*sendarg;
	struct outbox_items	 items;
	struct outbox_items	 acked;		/* kept while held */
	int			 hold;
	uint64_t		 next_seq;
	struct event		*timer;
	int			 waiting;	/* backoff timer armed */
	int			 started;
	struct outbox_flight	*flight;
	struct outbox_stats	 st;
	long			 backoff_ms;
	int64_t			 failing_since;	/* monotonic ms */
	int64_t			 complain_next;
	long			 complain_interval;
	int64_t			 over_cap_logged;
	/* Events that could not be written stay queued in memory and are
	 * written again with backoff: a full disk or EMFILE must not lose
	 * a page.  memory_only: no state directory at all. */
	int			 memory_only;
	char			*state_dir;
	struct event		*persist;
	long			 persist_ms;
	int64_t			 write_failing_since;
	int64_t			 write_complain_next;
	long			 write_complain_interval;
};

static void	outbox_next(struct outbox *);
static int	outbox_load(struct outbox *, char *, size_t);

/* Monotonic milliseconds. */
static int64_t
outbox_mono(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
outbox_filename(uint64_t seq, char *buf, size_t len)
{
	(void)snprintf(buf, len, "%016" PRIx64 OUTBOX_SUFFIX, seq);
}

static void
outbox_acked_name(uint64_t seq, char *buf, size_t len)
{
	(void)snprintf(buf, len, "%016" PRIx64 OUTBOX_ACKED, seq);
}

/* "<16 hex digits><suffix>" to its sequence number. */
static int
outbox_parse_name(const char *name, const char *suffix, uint64_t *seq)
{
	char			*end;
	unsigned long long	 v;
	size_t			 i;

	if (strlen(name) != 16 + strlen(suffix) ||
	    strcmp(name + 16, suffix) != 0)
		return -1;
	for (i = 0; i < 16; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		    (name[i] >= 'a' && name[i] <= 'f')))
			return -1;
	errno = 0;
	v = strtoull(name, &end, 16);
	if (errno != 0 || end != name + 16)
		return -1;
	*seq = v;
	return 0;
}

static void
outbox_item_free(struct outbox_item *it)
{
	alert_event_clear(&it->ev);
	free(it->unsaved);
	free(it);
}

/* Inserts in seq order (loading reads the directory unordered). */
static void
outbox_insert(struct outbox *ob, struct outbox_item *it)
{
	struct outbox_item	*p;

	TAILQ_FOREACH_REVERSE(p, &ob->items, outbox_items, entry)
		if (p->seq < it->seq)
			break;
	if (p == NULL)
		TAILQ_INSERT_HEAD(&ob->items, it, entry);
	else
		TAILQ_INSERT_AFTER(&ob->items, p, it, entry);
	ob->st.depth++;
	ob->st.bytes += it->bytes;
}

static void
outbox_remove(struct outbox *ob, struct outbox_item *it)
{
	char	name[64];

	outbox_filename(it->seq, name, sizeof(name));
	if (it->unsaved != NULL)
		ob->st.unsaved--;
	else if (unlinkat(ob->dirfd, name, 0) == -1 && errno != ENOENT)
		log_warn("outbox %s: unlink %s/%s", ob->name, ob->dir, name);
	TAILQ_REMOVE(&ob->items, it, entry);
	ob->st.depth--;
	ob->st.bytes -= it->bytes;
	outbox_item_free(it);
}

/*
 * Acknowledged while held: the file stays, renamed <seq>.acked and out of
 * the queue, until outbox_hold(ob, 0); see outbox.h.
 */
static void
outbox_keep_acked(struct outbox *ob, struct outbox_item *it)
{
	char	name[64], acked[64];

	outbox_filename(it->seq, name, sizeof(name));
	outbox_acked_name(it->seq, acked, sizeof(acked));
	if (renameat(ob->dirfd, name, ob->dirfd, acked) == -1) {
		log_warn("outbox %s: rename %s/%s to %s", ob->name, ob->dir,
		    name, acked);
		outbox_remove(ob, it);
		return;
	}
	TAILQ_REMOVE(&ob->items, it, entry);
	ob->st.depth--;
	ob->st.bytes -= it->bytes;
	TAILQ_INSERT_TAIL(&ob->acked, it, entry);
}

void
outbox_hold(struct outbox *ob, int on)
{
	struct outbox_item	*it;
	char			 name[64];

	ob->hold = on;
	if (on)
		return;
	while ((it = TAILQ_FIRST(&ob->acked)) != NULL) {
		outbox_acked_name(it->seq, name, sizeof(name));
		if (unlinkat(ob->dirfd, name, 0) == -1 && errno != ENOENT)
			log_warn("outbox %s: unlink %s/%s", ob->name, ob->dir,
			    name);
		TAILQ_REMOVE(&ob->acked, it, entry);
		outbox_item_free(it);
	}
}

/* Moves a file we cannot use aside as NAME.bad-<time>, loudly. */
static void
outbox_move_bad(struct outbox *ob, const char *name, const char *why)
{
	char	bad[NAME_MAX + 1];

	if (statefs_move_aside(ob->dirfd, name, "bad", bad,
	    sizeof(bad)) == -1)
		log_warn("outbox %s: %s/%s is unusable (%s) and cannot be "
		    "moved aside", ob->name, ob->dir, name, why);
	else
		log_warnx("outbox %s: %s/%s is unusable (%s); moved aside as "
		    "%s", ob->name, ob->dir, name, why, bad);
}

static int
outbox_load_one(struct outbox *ob, const char *name, uint64_t seq,
    int acked)
{
	struct outbox_item	*it;
	struct stat		 sb;
	json_error_t		 jerr;
	json_t			*j = NULL, *q;
	char			 err[256];
	int			 fd, refused;

	if ((fd = statefs_open_read(ob->dirfd, ob->dir, name, 0, &sb,
	    &refused, err, sizeof(err))) == -1) {
		if (refused)
			goto bad;
		if (errno != ENOENT)
			log_warnx("outbox %s: %s", ob->name, err);
		return -1;
	}
	if (sb.st_size > OUTBOX_FILE_MAX) {
		(void)snprintf(err, sizeof(err), "larger than %d bytes",
		    OUTBOX_FILE_MAX);
		close(fd);
		goto bad;
	}
	j = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
	close(fd);
	if (j == NULL) {
		(void)snprintf(err, sizeof(err), "%s", jerr.text);
		goto bad;
	}
	if ((it = calloc(1, sizeof(*it))) == NULL) {
		json_decref(j);
		return -1;
	}
	if (alert_event_from_json(json_object_get(j, "event"), &it->ev, err,
	    sizeof(err)) == -1) {
		free(it);
		goto bad;
	}
	q = json_object_get(j, "queued_at");
	it->queued = json_is_integer(q) ? (time_t)json_integer_value(q) : 0;
	json_decref(j);
	it->seq = seq;
	it->bytes = (size_t)sb.st_size;
	if (acked)
		TAILQ_INSERT_TAIL(&ob->acked, it, entry);
	else
		outbox_insert(ob, it);
	if (seq >= ob->next_seq)
		ob->next_seq = seq + 1;
	return 0;
bad:
	json_decref(j);
	outbox_move_bad(ob, name, err);
	return -1;
}

static void
outbox_warn(void *arg, const char *msg)
{
	struct outbox	*ob = arg;

	log_warnx("outbox %s: %s", ob->name, msg);
}

static int
outbox_load(struct outbox *ob, char *err, size_t errlen)
{
	struct dirent	*de;
	DIR		*d;
	uint64_t	 seq;
	int		 fd;

	if ((fd = dup(ob->dirfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		errf(err, errlen, "%s: %s", ob->dir, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	/* Writes that did not finish were never enqueued. */
	(void)statefs_clean_tmp(ob->dirfd, ob->dir, outbox_warn, ob);
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (outbox_parse_name(de->d_name, OUTBOX_SUFFIX, &seq) == 0)
			(void)outbox_load_one(ob, de->d_name, seq, 0);
		else if (outbox_parse_name(de->d_name, OUTBOX_ACKED,
		    &seq) == 0)
			(void)outbox_load_one(ob, de->d_name, seq, 1);
	}
	closedir(d);
	return 0;
}

static void
outbox_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct outbox	*ob = arg;

	(void)fd;
	(void)what;
	ob->waiting = 0;
	outbox_next(ob);
}

static void
outbox_arm(struct outbox *ob, long ms, int backoff)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	ob->waiting = backoff;
	evtimer_add(ob->timer, &tv);
}

/*
 * Opens STATE_DIR/outbox/NAME, creating what is missing, through
 * statefs: a link or FIFO in their place is refused, never followed.
 */
static int
outbox_open_dir(struct outbox *ob, const char *state_dir, char *err,
    size_t errlen)
{
	char	note[512], path[PATH_MAX];
	int	top, ofd;

	if ((top = statefs_open_top(state_dir, 1, NULL, err, errlen)) == -1)
		return -1;
	ofd = statefs_open_dir(top, state_dir, "outbox", 1, note,
	    sizeof(note), err, errlen);
	close(top);
	if (ofd == -1)
		return -1;
	if (note[0] != '\0')
		log_warnx("outbox %s: %s", ob->name, note);
	(void)snprintf(path, sizeof(path), "%s/outbox", state_dir);
	ob->dirfd = statefs_open_dir(ofd, path, ob->name, 1, note,
	    sizeof(note), err, errlen);
	close(ofd);
	if (ob->dirfd == -1)
		return -1;
	if (note[0] != '\0')
		log_warnx("outbox %s: %s", ob->name, note);
	return 0;
}

/* The directory and the events in it; -1 leaves ob->dirfd -1. */
static int
outbox_open_load(struct outbox *ob, char *err, size_t errlen)
{
	if (outbox_open_dir(ob, ob->state_dir, err, errlen) == -1)
		return -1;
	if (outbox_load(ob, err, errlen) == -1) {
		(void)close(ob->dirfd);
		ob->dirfd = -1;
		return -1;
	}
	return 0;
}

/*
 * A write failed: the events stay in memory (still delivered) and are
 * written again with backoff; said at once, then at growing intervals.
 */
static void
outbox_write_failed(struct outbox *ob, const char *why)
{
	struct timeval	tv;
	int64_t		now = outbox_mono();

	ob->st.write_failures++;
	if (ob->write_failing_since == 0) {
		ob->write_failing_since = now;
		ob->write_complain_interval = ob->opts.complain_first_ms;
		ob->write_complain_next = now + ob->write_complain_interval;
		log_warnx("%s; its events are kept in memory (%zu now) and "
		    "delivered, and written again until it works", why,
		    ob->st.unsaved);
	} else if (now >= ob->write_complain_next) {
		log_warnx("%s; still failing after %llds (%zu event(s) only "
		    "in memory)", why,
		    (long long)((now - ob->write_failing_since) / 1000),
		    ob->st.unsaved);
		ob->write_complain_interval *= 2;
		if (ob->write_complain_interval > ob->opts.complain_max_ms)
			ob->write_complain_interval = ob->opts.complain_max_ms;
		ob->write_complain_next = now + ob->write_complain_interval;
	}
	if (evtimer_pending(ob->persist, NULL))
		return;
	ob->persist_ms = ob->persist_ms == 0 ? OUTBOX_PERSIST_MIN :
	    ob->persist_ms * 2;
	if (ob->persist_ms > OUTBOX_PERSIST_MAX)
		ob->persist_ms = OUTBOX_PERSIST_MAX;
	tv.tv_sec = ob->persist_ms / 1000;
	tv.tv_usec = (ob->persist_ms % 1000) * 1000;
	(void)evtimer_add(ob->persist, &tv);
}

/* The directory opened late: the events on disk are older than the ones
 * kept in memory meanwhile, which are renumbered after them. */
static int
outbox_open_late(struct outbox *ob, char *err, size_t errlen)
{
	struct outbox_items	 mem;
	struct outbox_item	*it;

	TAILQ_INIT(&mem);
	TAILQ_CONCAT(&mem, &ob->items, entry);
	ob->st.depth = 0;
	ob->st.bytes = 0;
	if (outbox_open_load(ob, err, errlen) == -1) {
		TAILQ_CONCAT(&ob->items, &mem, entry);
		TAILQ_FOREACH(it, &ob->items, entry) {
			ob->st.depth++;
			ob->st.bytes += it->bytes;
		}
		return -1;
	}
	if (ob->st.depth > 0)
		log_info("outbox %s: %zu undelivered event(s) from before, "
		    "delivering them", ob->name, ob->st.depth);
	while ((it = TAILQ_FIRST(&mem)) != NULL) {
		TAILQ_REMOVE(&mem, it, entry);
		it->seq = ob->next_seq++;
		TAILQ_INSERT_TAIL(&ob->items, it, entry);
		ob->st.depth++;
		ob->st.bytes += it->bytes;
	}
	return 0;
}

/* Writes the event file of it from buf (len bytes), durably. */
static int
outbox_write_item(struct outbox *ob, const struct outbox_item *it,
    const char *buf, size_t len, char *err, size_t errlen)
{
	char	name[64];

	outbox_filename(it->seq, name, sizeof(name));
	if (statefs_write(ob->dirfd, ob->dir, name, buf, len, err,
	    errlen) == -1) {
		/* Renamed but not durable: not on disk, so not left either. */
		(void)unlinkat(ob->dirfd, name, 0);
		return -1;
	}
	return 0;
}

static void
outbox_on_persist(evutil_socket_t fd, short what, void *arg)
{
	struct outbox		*ob = arg;
	struct outbox_item	*it;
	char			 err[512];

	(void)fd;
	(void)what;
	if (ob->dirfd == -1 && outbox_open_late(ob, err, sizeof(err)) == -1) {
		outbox_write_failed(ob, err);
		return;
	}
	TAILQ_FOREACH(it, &ob->items, entry) {
		if (it->unsaved == NULL)
			continue;
		if (outbox_write_item(ob, it, it->unsaved, it->bytes, err,
		    sizeof(err)) == -1) {
			outbox_write_failed(ob, err);
			return;
		}
		free(it->unsaved);
		it->unsaved = NULL;
		ob->st.unsaved--;
	}
	if (ob->write_failing_since != 0)
		log_info("outbox %s: writing again after %llds; every queued "
		    "event is on disk", ob->name, (long long)((outbox_mono() -
		    ob->write_failing_since) / 1000));
	ob->write_failing_since = 0;
	ob->persist_ms = 0;
}

struct outbox *
outbox_new(struct event_base *base, const char *state_dir, const char *name,
    const struct outbox_opts *opts, outbox_send_fn send, void *sendarg,
    char *err, size_t errlen)
{
	struct outbox	*ob;

	if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL) {
		errf(err, errlen, "outbox: bad notifier name '%s'",
		    name);
		return NULL;
	}
	if ((ob = calloc(1, sizeof(*ob))) == NULL) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	TAILQ_INIT(&ob->items);
	TAILQ_INIT(&ob->acked);
	ob->dirfd = -1;
	ob->base = base;
	ob->send = send;
	ob->sendarg = sendarg;
	ob->next_seq = 1;
	if (opts != NULL)
		ob->opts = *opts;
	if (ob->opts.max_events == 0)
		ob->opts.max_events = OUTBOX_MAX_EVENTS;
	if (ob->opts.max_bytes == 0)
		ob->opts.max_bytes = OUTBOX_MAX_BYTES;
	if (ob->opts.backoff_min_ms <= 0)
		ob->opts.backoff_min_ms = OUTBOX_BACKOFF_MIN;
	if (ob->opts.backoff_max_ms <= 0)
		ob->opts.backoff_max_ms = OUTBOX_BACKOFF_MAX;
	if (ob->opts.backoff_max_ms < ob->opts.backoff_min_ms)
		ob->opts.backoff_max_ms = ob->opts.backoff_min_ms;
	if (ob->opts.complain_first_ms <= 0)
		ob->opts.complain_first_ms = OUTBOX_COMPLAIN_FIRST;
	if (ob->opts.complain_max_ms <= 0)
		ob->opts.complain_max_ms = OUTBOX_COMPLAIN_MAX;
	if (ob->opts.complain_max_ms < ob->opts.complain_first_ms)
		ob->opts.complain_max_ms = ob->opts.complain_first_ms;
	ob->memory_only = state_dir == NULL;
	if ((ob->name = strdup(name)) == NULL || (!ob->memory_only &&
	    (ob->state_dir = strdup(state_dir)) == NULL) ||
	    asprintf(&ob->dir, "%s/outbox/%s", ob->memory_only ? "(none)" :
	    state_dir, name) == -1) {
		ob->dir = NULL;
		errf(err, errlen, "out of memory");
		goto fail;
	}
	if ((ob->timer = evtimer_new(base, outbox_on_timer, ob)) == NULL ||
	    (ob->persist = evtimer_new(base, outbox_on_persist,
	    ob)) == NULL) {
		errf(err, errlen, "outbox: cannot create a timer");
		goto fail;
	}
	if (ob->memory_only)
		return ob;
	if (outbox_open_load(ob, err, errlen) == -1) {
		/* Maybe EMFILE, a full or read-only disk: its events wait in
		 * memory, delivered, while the directory is tried again. */
		outbox_write_failed(ob, err);
		return ob;
	}
	if (ob->st.depth > 0)
		log_info("outbox %s: %zu undelivered event(s) from before, "
		    "delivering them", ob->name, ob->st.depth);
	return ob;
fail:
	outbox_free(ob);
	return NULL;
}

void
outbox_start(struct outbox *ob)
{
	ob->started = 1;
	outbox_arm(ob, 0, 0);
}

void
outbox_kick(struct outbox *ob)
{
	if (ob->waiting) {
		evtimer_del(ob->timer);
		ob->waiting = 0;
	}
	if (ob->started)
		outbox_arm(ob, 0, 0);
}

/* Makes room for one more event of len bytes by dropping old info ones. */
static void
outbox_make_room(struct outbox *ob, size_t len)
{
	struct outbox_item	*it, *next;

	for (it = TAILQ_FIRST(&ob->items); it != NULL &&
	    (ob->st.depth + 1 > ob->opts.max_events ||
	    ob->st.bytes + len > ob->opts.max_bytes); it = next) {
		next = TAILQ_NEXT(it, entry);
		if (it->ev.severity > SEV_INFO ||
		    (ob->flight != NULL && ob->flight->item == it))
			continue;
		ob->st.dropped++;
		log_warnx("outbox %s: full (%zu events, %zu bytes; caps %zu, "
		    "%zu): DROPPED the oldest info event %s %s for %s (%" PRIu64
		    " dropped so far)", ob->name, ob->st.depth, ob->st.bytes,
		    ob->opts.max_events, ob->opts.max_bytes,
		    alert_status_name(it->ev.status), it->ev.check,
		    it->ev.key_arn, ob->st.dropped);
		outbox_remove(ob, it);
	}
	if (ob->st.depth + 1 > ob->opts.max_events ||
	    ob->st.bytes + len > ob->opts.max_bytes) {
		int64_t	now = outbox_mono();

		ob->st.over_cap++;
		/* Warning and worse are never dropped; say so now and then. */
		if (ob->over_cap_logged == 0 ||
		    now - ob->over_cap_logged >= OUTBOX_OVER_CAP_LOG) {
			log_warnx("outbox %s: over its caps (%zu events, %zu "
			    "bytes) with nothing droppable: keeping every "
			    "warning and critical event", ob->name,
			    ob->st.depth, ob->st.bytes);
			ob->over_cap_logged = now;
		}
	}
}

int
outbox_enqueue(struct outbox *ob, const struct alert_event *ev, char *err,
    size_t errlen)
{
	struct outbox_item	*it;
	json_t			*j, *evj;
	char			*buf;
	size_t			 len;
	time_t			 now = time(NULL);

	if ((evj = alert_event_to_json(ev)) == NULL ||
	    (j = json_pack("{s:i, s:I, s:o}", "version", 1, "queued_at",
	    (json_int_t)now, "event", evj)) == NULL) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	buf = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (buf == NULL) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	len = strlen(buf);
	if (len > OUTBOX_FILE_MAX) {
		free(buf);
		errf(err, errlen, "outbox %s: event larger than %d "
		    "bytes", ob->name, OUTBOX_FILE_MAX);
		return -1;
	}
	if ((it = calloc(1, sizeof(*it))) == NULL ||
	    alert_event_copy(&it->ev, ev) == -1) {
		free(it);
		free(buf);
		errf(err, errlen, "out of memory");
		return -1;
	}
	outbox_make_room(ob, len);
	it->seq = ob->next_seq++;
	it->bytes = len;
	it->queued = now;
	if (!ob->memory_only && ob->dirfd == -1)
		errf(err, errlen, "outbox %s: %s cannot be opened yet",
		    ob->name, ob->dir);
	if (ob->memory_only || ob->dirfd == -1 ||
	    outbox_write_item(ob, it, buf, len, err, errlen) == -1) {
		it->unsaved = buf;
		ob->st.unsaved++;
		if (!ob->memory_only)
			outbox_write_failed(ob, err);
	} else
		free(buf);
	TAILQ_INSERT_TAIL(&ob->items, it, entry);
	ob->st.depth++;
	ob->st.bytes += len;
	ob->st.enqueued++;
	if (ob->started && !ob->waiting && ob->flight == NULL)
		outbox_arm(ob, 0, 0);
	return 0;
}

static void
outbox_recovered(struct outbox *ob)
{
	if (ob->st.failing == 0)
		return;
	log_info("outbox %s: delivering again after %u failed attempt(s) "
	    "over %llds", ob->name, ob->st.failing,
	    (long long)((outbox_mono() - ob->failing_since) / 1000));
	ob->st.recoveries++;
	ob->st.failing = 0;
	ob->backoff_ms = 0;
	ob->complain_interval = 0;
}

static void
outbox_retry_later(struct outbox *ob, const struct outbox_item *it,
    const char *why)
{
	uint32_t	r = 0;
	long		b, delay;
	int64_t		now = outbox_mono();

	ob->st.retries++;
	if (ob->st.failing++ == 0) {
		ob->st.complaints++;
		ob->failing_since = now;
		ob->complain_interval = ob->opts.complain_first_ms;
		ob->complain_next = now + ob->complain_interval;
		log_warnx("outbox %s: delivery of %s %s for %s failed: %s; "
		    "retrying (%zu queued)", ob->name,
		    alert_status_name(it->ev.status), it->ev.check,
		    it->ev.key_arn, why != NULL ? why : "unknown error",
		    ob->st.depth);
	} else if (now >= ob->complain_next) {
		ob->st.complaints++;
		log_warnx("outbox %s: still failing after %u attempts over "
		    "%llds: %s (%zu queued)", ob->name, ob->st.failing,
		    (long long)((now - ob->failing_since) / 1000),
		    why != NULL ? why : "unknown error", ob->st.depth);
		ob->complain_interval *= 2;
		if (ob->complain_interval > ob->opts.complain_max_ms)
			ob->complain_interval = ob->opts.complain_max_ms;
		ob->complain_next = now + ob->complain_interval;
	}
	b = ob->backoff_ms == 0 ? ob->opts.backoff_min_ms : ob->backoff_ms * 2;
	if (b > ob->opts.backoff_max_ms)
		b = ob->opts.backoff_max_ms;
	ob->backoff_ms = b;
	/* Equal jitter: half fixed, half random, so notifiers spread out. */
	(void)RAND_bytes((unsigned char *)&r, sizeof(r));
	delay = b / 2 + (long)(r % (uint32_t)(b / 2 + 1));
	outbox_arm(ob, delay, 1);
}

static void
outbox_done(void *arg, enum notify_result res, const char *why)
{
	struct outbox_flight	*f = arg;
	struct outbox		*ob = f->ob;
	struct outbox_item	*it = f->item;

	free(f);
	if (ob == NULL)
		return;		/* the outbox was freed meanwhile */
	ob->flight = NULL;
	switch (res) {
	case NOTIFY_ACK:
		ob->st.delivered++;
		outbox_recovered(ob);
		/* An event only in memory has no file to keep. */
		if (ob->hold && it->unsaved == NULL)
			outbox_keep_acked(ob, it);
		else
			outbox_remove(ob, it);
		break;
	case NOTIFY_PERMANENT:
		ob->st.failed++;
		log_warnx("outbox %s: PERMANENT FAILURE, event DROPPED: %s %s "
		    "%s for %s (event %s): %s (%" PRIu64 " so far)", ob->name,
		    alert_status_name(it->ev.status),
		    severity_name(it->ev.severity), it->ev.check,
		    it->ev.key_arn, it->ev.id, why != NULL ? why : "no reason",
		    ob->st.failed);
		/* It answered, so it is up: not a reason to back off. */
		outbox_recovered(ob);
		outbox_remove(ob, it);
		break;
	case NOTIFY_RETRY:
	default:
		outbox_retry_later(ob, it, why);
		return;
	}
	if (!ob->waiting)
		outbox_arm(ob, 0, 0);
}

static void
outbox_next(struct outbox *ob)
{
	struct outbox_flight	*f;
	struct outbox_item	*it;

	if (!ob->started || ob->flight != NULL || ob->waiting ||
	    (it = TAILQ_FIRST(&ob->items)) == NULL)
		return;
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		outbox_retry_later(ob, it, "out of memory");
		return;
	}
	f->ob = ob;
	f->item = it;
	ob->flight = f;
	if (ob->send(ob->sendarg, &it->ev, outbox_done, f) == -1) {
		/* done will not run: f is still ours. */
		ob->flight = NULL;
		free(f);
		outbox_retry_later(ob, it, "the delivery could not start");
	}
}

void
outbox_foreach(const struct outbox *ob, void (*fn)(void *arg,
    const struct alert_event *ev, time_t queued_at), void *arg)
{
	const struct outbox_item	*it;

	TAILQ_FOREACH(it, &ob->items, entry)
		fn(arg, &it->ev, it->queued);
	TAILQ_FOREACH(it, &ob->acked, entry)
		fn(arg, &it->ev, it->queued);
}

void
outbox_orphans(const char *state_dir, int (*configured)(void *, const char *),
    void (*report)(void *, const char *, size_t, const char *), void *arg)
{
	char		 path[PATH_MAX], err[512];
	DIR		*d, *sd;
	struct dirent	*de, *se;
	uint64_t	 seq;
	size_t		 nev;
	int		 top, ofd, sfd;

	if ((top = statefs_open_top(state_dir, 0, NULL, err,
	    sizeof(err))) == -1)
		return;
	ofd = statefs_open_dir(top, state_dir, "outbox", 0, NULL, 0, err,
	    sizeof(err));
	close(top);
	if (ofd == -1 || (d = fdopendir(ofd)) == NULL) {
		if (ofd != -1)
			close(ofd);
		return;
	}
	(void)snprintf(path, sizeof(path), "%s/outbox", state_dir);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || configured(arg, de->d_name))
			continue;
		/* Counting names only, yet never through a link either. */
		if ((sfd = statefs_open_dir(ofd, path, de->d_name, 0, NULL, 0,
		    err, sizeof(err))) == -1) {
			report(arg, de->d_name, 0, err);
			continue;
		}
		if ((sd = fdopendir(sfd)) == NULL) {
			close(sfd);
			continue;
		}
		nev = 0;
		while ((se = readdir(sd)) != NULL)
			if (outbox_parse_name(se->d_name, OUTBOX_SUFFIX,
			    &seq) == 0)
				nev++;
		(void)closedir(sd);
		report(arg, de->d_name, nev, NULL);
	}
	(void)closedir(d);
}

void
outbox_stats(const struct outbox *ob, struct outbox_stats *st)
{
	const struct outbox_item	*it = TAILQ_FIRST(&ob->items);

	*st = ob->st;
	st->oldest = it != NULL ? it->queued : 0;
}

const char *
outbox_name(const struct outbox *ob)
{
	return ob->name;
}

size_t
outbox_depth(const struct outbox *ob)
{
	return ob->st.depth;
}

int
outbox_idle(const struct outbox *ob)
{
	return ob->flight == NULL && ob->st.depth == 0;
}

size_t
outbox_take_unsaved(struct outbox *ob, struct alert_events *out)
{
	struct outbox_item	*it, *next;
	struct alert_event	*v;
	size_t			 n = 0;

	for (it = TAILQ_FIRST(&ob->items); it != NULL; it = next) {
		next = TAILQ_NEXT(it, entry);
		if (it->unsaved == NULL)
			continue;
		if (out->n == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 8;

			if ((v = reallocarray(out->v, cap, sizeof(*v))) == NULL)
				break;
			out->v = v;
			out->cap = cap;
		}
		if (alert_event_copy(&out->v[out->n], &it->ev) == -1)
			break;
		out->n++;
		n++;
		if (ob->flight != NULL && ob->flight->item == it) {
			ob->flight->ob = NULL;	/* its done is ignored */
			ob->flight = NULL;
		}
		outbox_remove(ob, it);
	}
	return n;
}

void
outbox_free(struct outbox *ob)
{
	struct outbox_item	*it;

	if (ob == NULL)
		return;
	if (ob->st.unsaved > 0)
		log_warnx("outbox %s: %zu undelivered event(s) that could not "
		    "be written to disk are lost", ob->name, ob->st.unsaved);
	if (ob->flight != NULL)
		ob->flight->ob = NULL;
	while ((it = TAILQ_FIRST(&ob->items)) != NULL) {
		TAILQ_REMOVE(&ob->items, it, entry);
		outbox_item_free(it);
	}
	while ((it = TAILQ_FIRST(&ob->acked)) != NULL) {
		TAILQ_REMOVE(&ob->acked, it, entry);
		outbox_item_free(it);
	}
	if (ob->timer != NULL)
		event_free(ob->timer);
	if (ob->persist != NULL)
		event_free(ob->persist);
	if (ob->dirfd != -1)
		close(ob->dirfd);
	free(ob->dir);
	free(ob->state_dir);
	free(ob->name);
	free(ob);
}
