/*
 * A blocking credentials fetcher, for tools and unit tests only: never on
 * the daemon's loop (which uses lib/creds_async).
 */
#ifndef KEYHEALTHD_CREDS_BLOCKING_H
#define KEYHEALTHD_CREDS_BLOCKING_H

#include "creds.h"

/* libcurl easy for HTTP (timeout_ms each, read at each fetch), a child
 * process for credential_process.  f is filled; nothing to free. */
void	creds_blocking_fetcher(struct creds_fetcher *f, long *timeout_ms);

/* Resolves cfg/env and fetches once, blocking.  0 with out (the caller
 * clears it with creds_clear()), or -1 with err. */
int	creds_blocking_resolve(const struct creds_config *cfg,
	    const char *const *env, long timeout_ms, struct creds *out,
	    char *desc, size_t desclen, char *err, size_t errlen);

#endif
