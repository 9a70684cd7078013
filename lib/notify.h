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

/*
 * Where configure() reports what is wrong with its block: the same error
 * list as the rest of the configuration file (lib/config hands the
 * notifiers: section to notify_configure_all()), so that `validate` shows
 * every error of the file, each as FILE:LINE:COLUMN, sorted, and `run`
 * refuses exactly what `validate` refuses.
 */
struct notify_conf {
	/* Reports msg (one line, no position) about node at; the position
	 * is added from the node.  A module calls it as nc->error(nc, at,
	 * msg) for each problem, then returns -1 from configure(). */
	void		(*error)(struct notify_conf *nc,
			    const struct ynode *at, const char *msg);
	/* keyhealthd's own: where error() forwards to, and a count. */
	void		(*report)(void *arg, const struct ynode *at,
			    const char *msg);
	void		*arg;
	unsigned int	 nerrors;
};

struct notify_ops {
	const char	*type;
	/* Validates the notifier's own config block (a YAML mapping that
	 * includes "type" and the common keys name, min_severity, checks,
	 * exclude_checks, path, which it must accept and may ignore),
	 * reporting every problem through nc; returns -1 if there was one.
	 * On success *state is the notifier's, freed by free(). */
	int	(*configure)(const struct ynode *block, void **state,
		    struct notify_conf *nc);
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
#define NOTIFY_MODULE_ABI	2	/* 2: configure() reports through
					 * struct notify_conf */
struct notify_module {
	unsigned int		 abi;		/* NOTIFY_MODULE_ABI */
	const char		*name;
	const struct notify_ops	*ops;
};

/*
 * The built-in types, one file each (notify_<type>.c).  Adding a type:
 * write notify_<type>.c exporting its ops (configure() checks its options
 * with the notify_util_* helpers), declare the ops here and add one line
 * to the table in notify.c (the build takes every .c file of lib).
 * Nothing else lists the types: configuration, `validate` and `run` all
 * come here.  An external type is a module (type: module, path: FILE.so)
 * that exports keyhealthd_notify_module; see tests/modules/sample_notify.c.
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
 *   name		 unique, 1 to 64 of [A-Za-z0-9_.-], not starting with
 *			 "." (it names the outbox directory); default the type
 *   min_severity	 info (default), warning, unknown, critical
 *   checks		 [ids]: only these check ids (default all)
 *   exclude_checks	 [ids]: never these
 */
struct notifier;

/* Sets up nc to forward every error to report(arg, at, msg). */
void		 notify_conf_init(struct notify_conf *nc,
		    void (*report)(void *, const struct ynode *, const char *),
		    void *arg);
/* For tools and tests: sets up nc to keep the first error as
 * "FILE:LINE:COLUMN: message" in err; *t is nc's, alive as long as it. */
struct notify_conf_text {
	char	*err;
	size_t	 errlen;
	int	 n;		/* errors reported */
};
void		 notify_conf_init_text(struct notify_conf *nc,
		    struct notify_conf_text *t, char *err, size_t errlen);
/*
 * The notifiers: section, the one place it is parsed: every block of the
 * sequence seq (NULL: none) configured once, the common options here, the
 * rest by the type's configure(), names unique.  Every problem goes to nc
 * (an unknown type or option with a suggestion, a bad check id, a module
 * that cannot be loaded, lacks the descriptor or has another ABI ...).
 * Returns 0 with *out an array of *nout notifiers (freed with
 * notify_free_all()), or -1 with nothing allocated.
 */
int		 notify_configure_all(const struct ynode *seq,
		    struct notify_conf *nc, struct notifier ***out,
		    size_t *nout);
/*
 * The same for callers that want the first error as text
 * ("FILE:LINE:COLUMN: message"): tools and tests.  notify_new() is one
 * block; the caller frees it with notify_free().
 */
struct notifier	*notify_new(const struct ynode *block, char *err,
		    size_t errlen);
int		 notify_new_all(const struct ynode *seq,
		    struct notifier ***out, size_t *nout, char *err,
		    size_t errlen);
void		 notify_free_all(struct notifier **v, size_t n);
const char	*notify_name(const struct notifier *n);
const char	*notify_type(const struct notifier *n);
/* The filters, for `validate -v`: the check lists are NULL when absent. */
enum severity	 notify_min_severity(const struct notifier *n);
char * const	*notify_checks(const struct notifier *n, size_t *nout);
char * const	*notify_exclude_checks(const struct notifier *n,
		    size_t *nout);
/* The names of n's own options, "url, timeout" ("" when none): their
 * values are not kept here, they may be secrets. */
const char	*notify_option_names(const struct notifier *n);
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

#endif
