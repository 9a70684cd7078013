/*
 * Notifier modules.  Each notify_<type>.c exports exactly one
 * `const struct notify_ops notify_<type>_ops`, everything else in it is
 * static; notify.c keeps the NULL-terminated table of built-in types and
 * loads external ones (type: module) from a shared object exporting a
 * versioned descriptor, `keyhealthd_notify_module`.
 *
 * A notifier never blocks the loop: send() starts the delivery and reports
 * its outcome later through done().  The outbox owns retries: a notifier
 * just says whether one delivery was acknowledged, should be retried, or
 * failed for good.
 */
#ifndef KEYHEALTHD_NOTIFY_H
#define KEYHEALTHD_NOTIFY_H

#include <stddef.h>

#include "alert.h"

struct event_base;
struct http;
struct ynode;

enum notify_result {
	NOTIFY_ACK = 0,		/* delivered; remove from the outbox */
	NOTIFY_RETRY,		/* transient; the outbox retries later */
	NOTIFY_PERMANENT	/* will never work (e.g. HTTP 400); logged
				 * loudly, counted, removed */
};

/* What the daemon gives every notifier at start. */
struct notify_env {
	struct event_base	*base;
	struct http		*http;
	const char		*hostname;
	const char		*source;	/* "keyhealthd/VERSION" */
};

typedef void (*notify_done_cb)(void *arg, enum notify_result result,
    const char *why);

struct notify_ops {
	const char	*type;
	/* Validates the notifier's own config block (a YAML mapping that
	 * includes "type" and the common keys name, min_severity, checks,
	 * exclude_checks, which it must accept and may ignore); errors as
	 * "FILE:LINE:COLUMN: message".  On success *state is the
	 * notifier's, freed by free(). */
	int	(*configure)(const struct ynode *block, void **state,
		    char *err, size_t errlen);
	int	(*start)(void *state, const struct notify_env *env,
		    char *err, size_t errlen);
	/* Starts one delivery; done runs exactly once, possibly before send
	 * returns.  -1 only if nothing was started (done does not run). */
	int	(*send)(void *state, const struct alert_event *ev,
		    notify_done_cb done, void *arg);
	/* Cancels deliveries in flight (their done runs with RETRY). */
	void	(*stop)(void *state);
	void	(*free)(void *state);
};

/* The descriptor an external module exports as keyhealthd_notify_module. */
#define NOTIFY_MODULE_ABI	1
struct notify_module {
	unsigned int		 abi;		/* NOTIFY_MODULE_ABI */
	const char		*name;
	const struct notify_ops	*ops;
};

#endif
