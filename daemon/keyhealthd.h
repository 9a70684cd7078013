/*
 * keyhealthd: the process.  One header for daemon/, prototypes grouped by
 * file, as the OpenBSD daemons do.
 */
#ifndef KEYHEALTHD_H
#define KEYHEALTHD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "check.h"
#include "finding.h"
#include "kms.h"
#include "notify.h"
#include "sched.h"
#include "state.h"

#define KEYHEALTHD_DEFAULT_CONFIG	"/etc/keyhealthd/keyhealthd.yaml"

struct alert_events;
struct alert_table;
struct config;
struct config_key;
struct creds_async;
struct creds_provider;
struct event;
struct event_base;
struct httpd;
struct http;
struct kms_client;
struct notifier;
struct outbox;
struct statewriter;

/* Options every subcommand shares. */
struct kh_opts {
	const char	*config;	/* -c, KEYHEALTHD_CONFIG, or the default */
	int		 verbose;	/* -v count */
};

enum kh_mode {
	KH_MODE_RUN,		/* the daemon */
	KH_MODE_CHECK,		/* one poll, print, send nothing */
	KH_MODE_BASELINE	/* one poll, accept policies */
};

/* One credential provider per distinct aws: setting (profile, role...). */
struct kh_creds {
	char			*id;		/* the settings, as a key */
	struct creds_provider	*prov;
	char			 desc[160];
	char			 err[256];	/* when it could not be set up */
	struct kh_key		**waiting;	/* keys waiting for credentials */
	size_t			 nwaiting;
};

struct kh_poll;

/*
 * A KMS endpoint and the keys polled through it.  A poll starts only
 * while fewer than kms.max_inflight of its endpoint's are running: the
 * rest wait in q, due, holding nothing (a started poll holds its
 * snapshot and signed requests until the rate limiter lets them out).
 */
struct kh_endpoint {
	char			*url;
	struct sched_queue	 q;	/* polls running, keys waiting */
};

/*
 * Where a watched key comes from.  Keys other than configured ones are
 * derived at run time (kh_key_add()), kept after the configured ones in
 * kh->keys, and own their config_key.
 */
enum kh_origin {
	KH_ORIGIN_CONFIG,	/* an entry of keys: */
	KH_ORIGIN_REPLICA	/* a replica of a configured multi-Region
				 * primary (replica.c) */
};

/* A key's place in the schedule (lib/sched decides, run.c keeps it). */
struct kh_key_sched {
	struct timespec		 next_at;	/* CLOCK_MONOTONIC, when the
						 * timer is set */
	time_t			 next_slow;	/* rotation status and alias */
	int			 failures;	/* consecutive failed polls */
	int			 due;		/* a poll waits for a reload */
};

/* A key's figures for /metrics. */
struct kh_key_metrics {
	uint64_t		 polls;
	uint64_t		 polls_failed;
	time_t			 last_success;
	double			 last_latency;
};

/*
 * A watched key at run time.  What it learnt (state, last poll,
 * findings, schedule, metrics) moves to its replacement across a reload
 * while the key stays configured: kh.c's kh_key_take_over().
 */
struct kh_key {
	struct kh		*kh;
	const struct config_key	*ck;
	struct config_key	*own_ck;	/* derived: ck, owned */
	struct kh_key		*primary;	/* KH_ORIGIN_REPLICA: the key
						 * it was derived from */
	struct key_expect	 expect;
	char			*alias_arn;	/* NULL: no alias configured */
	struct kh_endpoint	*ep;		/* shared; NULL: none (bad) */
	struct sched_slot	 slot;		/* in ep's queue */
	unsigned char		 origin;	/* enum kh_origin */
	unsigned char		 gone;		/* derived, no longer wanted:
						 * dropped when its poll ends */
	unsigned char		 state_only;	/* DescribeKey only */
	char			*endpoint_err;	/* why there is none */
	struct kh_creds		*creds;
	struct kms_target	 target;
	struct state_key	 st;		/* baseline and last result */
	char			 sfile[48];	/* "keys/<hash>.json" */
	struct timespec		 state_mtime;	/* of its state file, as we
						 * last wrote or read it */
	unsigned int		 wpending;	/* our writes of it queued */
	int			 dirty;		/* to be handed to the writer */
	struct kh_key		*dirty_next;
	int			 disk_changed;	/* inotify saw its file change */
	struct key_snapshot	 snap;		/* the last complete poll */
	int			 have_snap;
	struct findings		 findings;	/* of the last poll */
	struct check_cache	 pcache;	/* the policy part's memo */
	struct event		*timer;
	struct kh_key_sched	 sched;
	const struct config_key	*prev_ck;	/* during a reload: the
						 * key's entry in the config
						 * being replaced, or NULL */
	struct kh_poll		*poll;		/* in flight, or NULL */
	struct kh_key_metrics	 metrics;
};

/* Counters for /metrics that are not per key. */
#define KH_LATENCY_BUCKETS	10
#define KH_LAG_BUCKETS		11
struct kh_stats {
	uint64_t	 latency_bucket[KH_LATENCY_BUCKETS + 1];
	double		 latency_sum;
	uint64_t	 latency_count;
	json_t		*kms_errors;	/* {"code": count} */
	uint64_t	 reloads;
	uint64_t	 reload_failures;
	uint64_t	 state_write_failures;
	uint64_t	 http_deadline;		/* connections cut */
	uint64_t	 http_evicted;
	uint64_t	 http_paused_fds;	/* accept paused: EMFILE... */
	uint64_t	 http_paused_cap;
	time_t		 started;
	/* keyhealthd_loop_lag_seconds: how late a periodic timer ran */
	uint64_t	 lag_bucket[KH_LAG_BUCKETS + 1];
	double		 lag_sum;
	uint64_t	 lag_count;
	double		 lag_max;
};

struct kh {
	enum kh_mode		 mode;
	struct event_base	*base;
	struct config		*conf;
	struct config		*pending_conf;	/* applied when idle */
	struct http		*http;
	struct kms_client	*kms;
	struct kh_key		**keys;
	size_t			 nkeys;
	size_t			 nconfigured;	/* keys[0 .. nconfigured) are
						 * configured, the rest derived */
	/* Told of a derived key added (to poll it) and of one about to be
	 * dropped (its alerts resolve); NULL: nothing to do. */
	void			(*on_key_added)(struct kh *, struct kh_key *);
	void			(*on_key_dropped)(struct kh *,
				    struct kh_key *);
	struct kh_key		**keymap;	/* by sfile, open addressing */
	struct kh_endpoint	**endpoints;	/* live as long as kh */
	size_t			 nendpoints;
	size_t			 nworst[SEV_CRITICAL + 1];	/* keys by their
						 * worst finding */
	size_t			 keymap_size;	/* a power of two */
	struct statewriter	*writer;	/* run: state writes off the
						 * loop; else NULL (direct) */
	struct kh_key		*dirty_head;	/* keys to save, in order */
	struct kh_key		*dirty_tail;
	struct event		*lag_timer;
	int			 inotify_fd;	/* on state_dir/keys; -1: none,
						 * stat() per poll instead */
	struct event		*inotify_ev;
	struct timespec		 lag_due;	/* when lag_timer should run */
	struct kh_creds		**creds;
	size_t			 ncreds;
	struct creds_async	*creds_async;	/* the providers' fetcher */
	struct alert_table	*alerts;
	struct notifier		**notifiers;
	size_t			 nnotifiers;
	struct outbox		**outboxes;	/* one per notifier */
	struct notify_env	 nenv;		/* notifiers keep a pointer */
	struct httpd		*httpd;
	char			 hostname[256];
	size_t			 polls_inflight;
	int			 stopping;
	int			 state_ok;	/* state_dir usable */
	struct event		*stop_timer;
	struct kh_stats		 stats;
	/* KH_MODE_CHECK / KH_MODE_BASELINE: which keys, and when done */
	size_t			 remaining;
	void			(*on_key_done)(struct kh *, struct kh_key *);
};

/* kh.c: the daemon's context, shared by run, check and baseline */
struct kh	*kh_new(enum kh_mode, struct event_base *, struct config *,
		    char *, size_t);
void		 kh_free(struct kh *);
int		 kh_keys_build(struct kh *, struct config *, char *, size_t);
int		 kh_clients_reset(struct kh *, struct config *, char *, size_t);
void		 kh_keys_free(struct kh *);
struct kh_key	*kh_key_find(struct kh *, const char *);
/* Watches a derived key: ck (built by the caller, owned by the key from
 * now on, freed with it through replica_ck_free()) becomes the key's
 * entry; its state is read as a configured key's.  NULL when out of
 * memory (ck is then freed). */
struct kh_key	*kh_key_add(struct kh *, struct config_key *, enum kh_origin);
/* Stops watching a derived key: told to on_key_dropped and freed now, or
 * marked gone and dropped by the end of its poll in flight. */
void		 kh_key_drop(struct kh_key *);
/* A key's document for check --json and /status, its derived replicas
 * nested under "replicas". */
json_t		*kh_key_json(struct kh *, struct kh_key *, int with_alerts);
int		 kh_key_save_state(struct kh_key *);
void		 kh_key_reload_baseline(struct kh_key *);
const char	*kh_key_name(const struct kh_key *);
struct kh_key	*kh_key_by_file(struct kh *, const char *);
/* Starts measuring the loop's lag (keyhealthd_loop_lag_seconds). */
int		 kh_lag_start(struct kh *);
extern const double kh_lag_bounds[KH_LAG_BUCKETS];	/* upper bounds, s */
json_t		*kh_status_json(struct kh *, int with_alerts);
enum severity	 kh_worst(struct kh *);
void		 kh_count_error(struct kh *, const struct kms_error *);
/* Loads path (flags: CONFIG_LOAD_*); on failure logs every error and
 * returns NULL. */
struct config	*kh_config_load(const char *path, int flags);
/* Logs the errors of a failed config_load() of path. */
struct config_errors;
void		 kh_config_log_errors(const char *path,
		    const struct config_errors *);

/* poll.c: one poll of one key, async */
int		 poll_start(struct kh_key *, void (*)(struct kh_key *));
/* Credentials for a poll that waited: err NULL when they are there. */
void		 poll_creds_ready(struct kh_key *, const char *);
void		 poll_discard(struct kh_key *);
/* keyhealthd_poll_duration_seconds: upper bounds, s */
extern const double poll_latency_bounds[KH_LATENCY_BUCKETS];

/* replica.c: the replicas of multi-Region primaries, watched as keys */
/* After a poll of a configured key: its replicas as its DescribeKey
 * lists them are watched from now on, those no longer listed dropped. */
void		 replica_sync(struct kh_key *);
/* A replica (arn) of the configured primary pck, as a key entry of its
 * own; NULL when out of memory. */
struct config_key *replica_ck_new(const struct config_key *pck,
		    const char *arn);
void		 replica_ck_free(struct config_key *);
/* The configured key (index into conf->keys) that a derived replica k
 * stays a replica of under conf, or -1: its primary is no longer
 * configured, watches no replicas, or k itself is configured. */
long		 replica_kept(const struct config *, const struct kh_key *k);
/* Start-up: an alert's key ARN that is no configured key may be a
 * replica of a configured primary (same multi-Region key id); watch it
 * at once so that its alerts carry on.  1 when it is now watched. */
int		 replica_adopt(struct kh *, const char *arn);
/* After a poll of a derived replica: 1 (logged) when KMS says it no
 * longer exists; the caller drops it (kh_key_drop()). */
int		 replica_vanished(struct kh_key *k);
/* Finishes a derived replica key k of primary after kh_key_add(). */
void		 replica_setup(struct kh_key *k, struct kh_key *primary);

/* credsglue.c: credential providers on the loop */
struct kh_creds	*creds_glue_get(struct kh *, const struct config *,
		    const struct config_key *);
void		 creds_glue_free(struct kh_creds *);
/* 0: credentials ready; 1: k waits and is polled when they arrive;
 * -1: none (err says why). */
int		 creds_glue_ready(struct kh_creds *, struct kh_key *,
		    char *, size_t);
void		 creds_glue_forget(struct kh_creds *, struct kh_key *);

/* httpd.c: /metrics, /healthz, /status */
int		 httpd_start(struct kh *, char *, size_t);
void		 httpd_stop(struct kh *);
/* The same address after a reload: applies the new http.max_connections. */
void		 httpd_reload(struct kh *);
struct evbuffer;
void		 metrics_render(struct kh *, struct evbuffer *);

/* proc.c: signals, sd_notify, watchdog */
#define PROC_NSIGNALS	4
struct proc {
	struct event_base	*base;
	struct event		*sig[PROC_NSIGNALS];
	struct event		*watchdog;
	struct event		*stall;		/* test only */
	void			(*on_signal)(int, void *);
	void			*arg;
};
int	proc_init(struct proc *, struct event_base *,
	    void (*)(int, void *), void *);
void	proc_free(struct proc *);
/* sd_notify(3) with a formatted state string: "READY=1\nSTATUS=...". */
void	proc_notify(const char *, ...) __attribute__((format(printf, 1, 2)));

/* main.c */
void	usage_print(int to_stderr);
/* A no-argument option of one command besides -c/-v: its long name, its
 * short letter (0: long only), the flag it sets. */
struct kh_flag {
	const char	*name;
	int		 letter;
	int		*set;
};
/* The one option parser of every command: -c/--config and -v/--verbose
 * into opts, plus the command's flags; stops at the first operand.
 * Returns the index of the first operand, or -1 after a bad option
 * (getopt has said which; the caller prints the usage). */
int	kh_getopt(struct kh_opts *, int, char **, const struct kh_flag *,
	    size_t);

/* The subcommands main.c dispatches to: argc/argv start at the
 * subcommand's name; each returns the process exit status. */
/* run.c */
int	cmd_run(struct kh_opts *, int, char **);
/* cmd_check.c */
int	cmd_check(struct kh_opts *, int, char **);
int	cmd_baseline(struct kh_opts *, int, char **);
/* cmd_validate.c */
int	cmd_validate(struct kh_opts *, int, char **);
/* cmd_vendors.c */
int	cmd_vendors(struct kh_opts *, int, char **);

#endif
