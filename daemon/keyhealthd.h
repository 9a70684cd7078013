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
struct kms_keystore;
struct kh_store;
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
 * Where a watched key comes from.  Keys other than configured ones join
 * at run time (kh_key_add()), are kept after the configured ones in
 * kh->keys, own their config_key and leave through kh_key_drop(); an
 * entry of keys: wins over both kinds.
 */
enum kh_origin {
	KH_ORIGIN_CONFIG = 0,	/* an entry of keys: */
	KH_ORIGIN_DISCOVERED,	/* found by discover: (discovery.c) */
	KH_ORIGIN_REPLICA	/* a replica of a configured multi-Region
				 * primary (replica.c) */
};

/* A key's place in the schedule (lib/sched decides, run.c keeps it). */
struct kh_key_sched {
	struct timespec		 next_at;	/* CLOCK_MONOTONIC, when the
						 * timer is set */
	time_t			 next_slow;	/* rotation status and alias */
	int			 usage_due;	/* GetKeyLastUsage at the next
						 * poll, slow or not */
	time_t			 next_grants;	/* ListGrants */
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
 * A watched key at run time.  A reload keeps the struct of a key that
 * stays watched, with what it learnt (state, last poll, findings,
 * schedule, metrics): kh.c's kh_key_rebind().
 */
struct kh_key {
	struct kh		*kh;
	const struct config_key	*ck;
	struct config_key	*own_ck;	/* run-time keys: ck, owned */
	struct kh_key		*primary;	/* KH_ORIGIN_REPLICA: the key
						 * it was derived from */
	unsigned char		 disc_seen;	/* listed by this run */
	unsigned char		 kept;		/* kh_keys_build(): stays */
	unsigned int		 disc_source;	/* discover.accounts index */
	time_t			 added;		/* run-time keys: when */
	struct key_expect	 expect;
	char			*alias_arn;	/* NULL: no alias configured */
	struct kh_endpoint	*ep;		/* shared; NULL: none (bad) */
	struct sched_slot	 slot;		/* in ep's queue */
	unsigned char		 origin;	/* enum kh_origin */
	unsigned char		 drop;		/* run-time key no longer
						 * wanted: dropped when its
						 * poll ends */
	unsigned char		 state_only;	/* DescribeKey only */
	char			*endpoint_err;	/* why there is none */
	struct kh_creds		*creds;
	struct kms_target	 target;
	struct state_key	 st;		/* baseline and last result */
	char			 sfile[48];	/* "keys/<hash>.json" */
	struct state_id		 state_id;	/* of its state file, as we
						 * last wrote or read it */
	unsigned int		 wpending;	/* our writes of it queued */
	int			 dirty;		/* to be handed to the writer */
	int			 write_after;	/* dirty while a write of it is
						 * out: handed over after it */
	struct kh_key		*dirty_next;
	int			 disk_changed;	/* inotify saw its file change */
	int			 base_on_disk;	/* its file holds the accepted
						 * policy's text: memory keeps
						 * only the digest (check.h) */
	int			 base_lost;	/* the file lost that text
						 * (said once) */
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
	json_t			*grants_set;	/* baseline accept only: the
						 * grants its poll fetched */
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
	/* The part of the lag the daemon caused: lateness minus the loop
	 * thread's run-queue wait (from its schedstat) in the same period.
	 * Only when lag_runq_ok: a figure we cannot read is left out. */
	int		 lag_runq_ok;
	double		 lag_own_max;
	double		 lag_runq_wait;	/* s, since the lag timer started */
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
	struct kh_store		**stores;	/* custom key stores
						 * (keystore.c), as long as kh */
	size_t			 nstores;
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
	int			 lag_schedfd;	/* the loop thread's schedstat,
						 * -1: none (valid while
						 * lag_timer is set) */
	uint64_t		 lag_runq_ns;	/* its run-queue wait at the
						 * last arming */
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
	struct discovery	*disc;		/* a discovery running */
	struct event		*disc_timer;	/* the next one */
	const struct vendor	**disc_vendors;	/* the running one's */
	int			 disc_first;	/* none has finished yet */
	size_t			 ndiscovered;	/* keys of origin discovered */
	uint64_t		 disc_runs[2];	/* finished: ok, failed */
	uint64_t		 disc_added;
	uint64_t		 disc_removed;
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
/* The key with this ARN, in O(1) (a discovery run asks for every listed
 * key), or NULL. */
struct kh_key	*kh_key_by_arn(struct kh *, const char *);
/* A key's document for check --json and /status, its derived replicas
 * nested under "replicas". */
json_t		*kh_key_json(struct kh *, struct kh_key *, int with_alerts);
int		 kh_key_save_state(struct kh_key *);
void		 kh_key_reload_baseline(struct kh_key *);
/* Reads the accepted policy's text back from the key's state file when
 * memory holds only its digest; 0, or -1 (logged) when it could not be
 * read. */
int		 kh_key_baseline_text(struct kh_key *);
/* Frees the accepted policy's text when its state file holds it. */
void		 kh_key_baseline_drop(struct kh_key *);
/* Makes the grants k's poll fetched its grants baseline: writes the set
 * (keys/<hash>.grants.json) and records its digest in k's baseline (the
 * caller saves k's state).  0, or -1 with err. */
int		 kh_key_accept_grants(struct kh_key *, const json_t *,
		    char *, size_t);
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

/* Run-time keys (kh.c), discovered ones and replicas alike.
 * kh_key_add() watches a key of origin (not KH_ORIGIN_CONFIG) under ck,
 * an entry built by the caller (kh_ck_found(), replica_ck_new()) that the
 * key owns from now on (kh_ck_free(), also when the add fails); its state
 * is read as a configured key's; the caller schedules its first poll.
 * The key must not be watched yet.  NULL with err.
 * kh_key_drop() stops watching a run-time key: told to on_key_dropped
 * (its alerts resolve) and freed now, or marked drop and dropped by the
 * end of its poll in flight.  A reload carries run-time keys over while
 * what derives them stays (kh_keys_build()): a discovered key while
 * discover: is on, a replica while its primary is configured and watches
 * replicas; an entry of keys: for the same ARN wins over both. */
struct discovery_found;
struct kh_key	*kh_key_add(struct kh *, struct config_key *, enum kh_origin,
		    char *, size_t);
void		 kh_key_drop(struct kh_key *);
/* A found key's entry with the settings of its discovery's account
 * entry, named after its alias (unique); NULL with err. */
struct config_key *kh_ck_found(struct kh *, const struct discovery_found *,
		    char *, size_t);
void		 kh_ck_free(struct config_key *);
const char	*kh_key_origin(const struct kh_key *);
/* strdup(s), NULL for NULL; out of memory sets *bad. */
char		*kh_strdup0(const char *, int *);

/* discovery.c: finds keys whose policy names a vendor's account */
struct vendor;
struct config_aws;
struct kms_key_meta;
struct discovery;
struct discovery_spec {
	const struct config	 *conf;		/* endpoints, settings */
	const struct config_aws	 *accounts;	/* none: the global ones */
	size_t			  naccounts;
	char * const		 *regions;	/* none: the vendors' */
	size_t			  nregions;
	const struct vendor * const *vendors;
	size_t			  nvendors;
	size_t			  window;	/* keys evaluated at once */
};
/* A key whose policy names vendor's account; valid during the call. */
struct discovery_found {
	const char			*arn;
	const char			*key_id;
	const char			*region;
	const struct vendor		*vendor;
	const char			*alias;		/* NULL: none */
	const struct kms_key_meta	*meta;
	const char			*policy;
	size_t				 source;	/* accounts index */
	const struct config_aws		*aws;		/* its settings */
};
struct discovery_cbs {
	/* Every listed key, once per run: 1 skips it (already watched). */
	int	(*listed)(void *, size_t source, const char *region,
		    const char *arn);
	void	(*found)(void *, const struct discovery_found *);
	/* An account x region is done; err NULL, or why it could not be
	 * listed (nothing can be said about its keys then). */
	void	(*scanned)(void *, size_t source, const char *region,
		    const char *err);
	void	(*done)(void *);	/* every scan is done */
	void	*arg;
};
/* sp from conf's discover: section, looking for the vendors called names
 * (n 0: the section's, else every known profile): *vsp, the vendors,
 * is the caller's to free after the discovery.  0, or -1 with err (an
 * unknown vendor, none known, out of memory). */
int		 discovery_spec_conf(struct discovery_spec *,
		    const struct config *, char * const *, size_t,
		    const struct vendor ***, char *, size_t);
/* Starts at the next loop turn; NULL with err.  The callbacks run from
 * the loop.  discovery_free() cancels (no callback after it). */
struct discovery *discovery_start(struct kh *, const struct discovery_spec *,
		    const struct discovery_cbs *, char *, size_t);
void		 discovery_free(struct discovery *);

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
 * own (every string its own, freed by kh_ck_free()); NULL when out of
 * memory. */
struct config_key *replica_ck_new(const struct config_key *pck,
		    const char *arn);
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

/* keystore.c: custom key stores, one fetch per store per interval */
/* Calls cb once with a reference to store id's record (the callee
 * unrefs it; NULL when out of memory), from the cache when fresh for k's
 * interval (then before returning), else when the fetch, with k's
 * credentials, answers. */
void		 keystore_get(struct kh_key *, const char *,
		    void (*)(struct kms_keystore *, void *), void *);
/* After the KMS client is freed (no fetch in flight). */
void		 keystore_free_all(struct kh *);
/* /status's "custom_key_stores". */
json_t		*keystore_status_json(struct kh *);

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
/* /metrics in pieces (a run of keys each): where the answer stands. */
struct metrics_cursor {
	int	 part;
	size_t	 i;
};
/* Appends the next piece to b; 1 while more is to come, 0 when done. */
int		 metrics_render_step(struct kh *, struct metrics_cursor *,
		    struct evbuffer *);

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
/* An option of one command besides -c/-v: its long name, its short
 * letter (0: long only), the flag it sets; or, with take, an option with
 * a value, each handed to take(arg, value) (-1: refused, take said why). */
struct kh_flag {
	const char	*name;
	int		 letter;
	int		*set;
	int		(*take)(void *, const char *);
	void		*arg;
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
/* cmd_discover.c */
int	cmd_discover(struct kh_opts *, int, char **);
/* The keys of the discover: section, found on kh's loop before a
 * one-shot poll (`check`); 0, or -1 when a listing failed (logged). */
int	discover_once(struct kh *);

#endif
