/*
 * The daemon's creds_fetcher: HTTP through lib/http on the libevent loop,
 * credential_process as a child whose output is read by a libevent event
 * under a timeout.  Nothing here blocks the loop.
 */
#ifndef KEYHEALTHD_CREDS_ASYNC_H
#define KEYHEALTHD_CREDS_ASYNC_H

#include "creds.h"

struct event_base;
struct http;
struct creds_async;

/*
 * A fetcher context on base using h for HTTP (timeout_ms per request and
 * per process run; 0 for 5000).  NULL when out of memory.  Free it with
 * creds_async_free() after every provider using it (pending work is
 * cancelled, children are killed and reaped).
 */
struct creds_async *creds_async_new(struct event_base *base, struct http *h,
	    long timeout_ms);
/* Fills f with the fetcher that creds_provider_new() takes. */
void	creds_async_fetcher(struct creds_async *a, struct creds_fetcher *f);
void	creds_async_free(struct creds_async *a);

#endif
