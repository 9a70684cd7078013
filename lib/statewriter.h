/*
 * Durable state writes off the event loop.  A file of the state
 * directory written with state_write_json() costs two fsyncs (the file,
 * then its directory): 0.2-7 ms each on a real disk, 20,000 of them in
 * the first sweep of 10,000 keys.  The loop hands the documents to one
 * writer thread instead and goes on; the thread writes them in order,
 * each atomically, in groups of up to 64 whose directory is fsync'ed once
 * (a group commit): a write is reported done only once it is durable.
 *
 * A document queued for a name that is still waiting replaces the
 * waiting one: only the latest state of a file is written, however often
 * it changed meanwhile (coalescing: a burst costs one write per file).
 * Completions are reported on the loop, in the order of the writes.
 *
 * A batch is written under the state directory's lock (state_lock()),
 * and a document may be conditional: written only if the file is still
 * the one its writer last saw (`keyhealthd baseline accept` may have
 * replaced it meanwhile; the lock makes the test and the rename one step
 * for both).
 *
 * Not for the outbox: an alert must be on disk before its delivery
 * starts, which the outbox does itself.
 */
#ifndef KEYHEALTHD_STATEWRITER_H
#define KEYHEALTHD_STATEWRITER_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "state.h"

struct event_base;
struct statewriter;

/*
 * One finished write, called on the loop: rc 0 (id is the file as
 * written, to tell our own writes from others'), STATE_WRITE_CONFLICT
 * (not written: the file is not the one expected; id is what is there)
 * or -1 with err (the old file is untouched).  name is the one given to
 * statewriter_put().
 */
typedef void	(*statewriter_done_cb)(void *arg, const char *name, int rc,
		    const struct state_id *id, const char *err);

/*
 * Starts the writer thread for files under dir (copied).  done may be
 * NULL.  NULL with err set when
 * the thread or its wake-up descriptor cannot be created.
 */
struct statewriter *statewriter_new(struct event_base *base, const char *dir,
		    statewriter_done_cb done, void *arg, char *err,
		    size_t errlen);

/*
 * Queues j (a reference is stolen: the caller must not change j or
 * anything in it afterwards; shared immutable parts are fine, jansson's
 * reference counts are atomic) to be written as dir/name (see
 * state_write_json()), only if the file then is *expect (copied; see
 * state_write_json_nosync()) when expect is not NULL.  Returns 1 when it
 * replaced a document still waiting for the same name (one completion
 * for both; the waiting one's expect holds), 0 when queued anew, -1 with
 * err (out of memory; j is released).
 */
int		 statewriter_put(struct statewriter *sw, const char *name,
		    json_t *j, const struct state_id *expect, char *err,
		    size_t errlen);

/* Writes queued or in progress. */
size_t		 statewriter_pending(struct statewriter *sw);

/* Waits until everything queued is written and reports the completions
 * (blocks: only for stopping). */
void		 statewriter_flush(struct statewriter *sw);

/* Flushes, stops the thread and frees sw.  NULL is fine. */
void		 statewriter_free(struct statewriter *sw);

#endif
