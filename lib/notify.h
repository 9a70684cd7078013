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

/*
 * The built-in types, one file each (notify_<type>.c).  A new type adds
 * its declaration here and one line to the table in notify.c.
 */
extern const struct notify_ops notify_journald_ops;
extern const struct notify_ops notify_webhook_ops;
extern const struct notify_ops notify_exec_ops;
extern const struct notify_ops notify_pagerduty_ops;
extern const struct notify_ops notify_alertmanager_ops;
extern const struct notify_ops notify_slack_ops;

/* The built-in type by name, or NULL (also for "module"). */
const struct notify_ops *notify_lookup(const char *type);
/* The built-in type names, NULL-terminated (static storage). */
const char * const *notify_type_names(void);

/*
 * One configured notifier: its ops (built-in or from a module), its
 * state, its name and the common options every type accepts:
 *   type		 a built-in type or "module" (then path: FILE.so)
 *   name		 unique, [A-Za-z0-9_.-], at most 64; default the type
 *   min_severity	 info (default), warning, unknown, critical
 *   checks		 [ids]: only these check ids (default all)
 *   exclude_checks	 [ids]: never these
 */
struct notifier;

/*
 * Parses block (a mapping): the common options here, the rest by the
 * type's configure().  Errors "FILE:LINE:COLUMN: message", e.g. an
 * unknown type or check id, a module that cannot be loaded, lacks the
 * descriptor or has another ABI.  The caller frees it with notify_free().
 */
struct notifier	*notify_new(const struct ynode *block, char *err,
		    size_t errlen);
/* Every block of the sequence seq (names must be unique); *out is an
 * array of *nout notifiers freed with notify_free_all().  0 or -1. */
int		 notify_new_all(const struct ynode *seq,
		    struct notifier ***out, size_t *nout, char *err,
		    size_t errlen);
void		 notify_free_all(struct notifier **v, size_t n);
const char	*notify_name(const struct notifier *n);
const char	*notify_type(const struct notifier *n);
/*
 * Non-zero when ev passes n's filters (min_severity, checks,
 * exclude_checks).  A resolved event carries the highest severity its
 * alert fired with, so it passes exactly when a firing of it passed.
 */
int		 notify_filter(const struct notifier *n,
		    const struct alert_event *ev);
int		 notify_start(struct notifier *n, const struct notify_env *env,
		    char *err, size_t errlen);
/* As ops->send.  The signature fits outbox_send_fn with n as arg. */
int		 notify_send(void *n, const struct alert_event *ev,
		    notify_done_cb done, void *arg);
void		 notify_stop(struct notifier *n);
/* Frees the state (ops->free) and unloads the module; NULL is fine. */
void		 notify_free(struct notifier *n);

/*
 * Helpers for the types' configure().  Every error is
 * "FILE:LINE:COLUMN: message" about the offending node.
 */
/* Formats such an error about node at into err; returns -1. */
int		 notify_conf_error(const struct ynode *at, char *err,
		    size_t errlen, const char *fmt, ...)
		    __attribute__((format(printf, 4, 5)));
/* Rejects any key of block that is neither common nor in known
 * (NULL-terminated; may be NULL).  0 or -1. */
int		 notify_conf_keys(const struct ynode *block,
		    const char * const *known, char *err, size_t errlen);
/* A scalar option; *out is a copy (caller frees) or NULL when absent
 * (an error when required).  0 or -1. */
int		 notify_conf_string(const struct ynode *block, const char *key,
		    int required, char **out, char *err, size_t errlen);
/* A duration ("500ms", "10s", "5m", "1h", or seconds) in milliseconds;
 * def when absent.  Must be > 0.  0 or -1. */
int		 notify_conf_duration_ms(const struct ynode *block,
		    const char *key, long def, long *out, char *err,
		    size_t errlen);
/* true/false/yes/no; def when absent.  0 or -1. */
int		 notify_conf_bool(const struct ynode *block, const char *key,
		    int def, int *out, char *err, size_t errlen);
/*
 * Reads the secret in the file named by option key (trailing newlines
 * stripped; at most 4096 bytes): an absolute path, or a relative name
 * under $CREDENTIALS_DIRECTORY (systemd's LoadCredential=).  A file readable or writable by others
 * is refused.  The secret never appears in err.  *out (NUL-terminated,
 * caller frees after wiping) is NULL when the option is absent and not
 * required.  0 or -1.
 */
int		 notify_conf_secret_file(const struct ynode *block,
		    const char *key, int required, char **out, size_t *outlen,
		    char *err, size_t errlen);

#endif
