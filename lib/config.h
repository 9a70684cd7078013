/*
 * The configuration file, keyhealthd.yaml(5): read with lib/ynode, checked
 * completely (every error of a file in one run, each as
 * "FILE:LINE:COLUMN: message" naming the offending node), defaults filled.
 *
 * Durations are whole seconds (lib/duration).  Strings are owned by the
 * config; a "const" pointer in an accessor's output points into it.
 */
#ifndef KEYHEALTHD_CONFIG_H
#define KEYHEALTHD_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "alert.h"
#include "arn.h"
#include "check.h"
#include "finding.h"
#include "http.h"
#include "keyid.h"
#include "kms.h"

struct notifier;
struct ynode;
struct vendor;

/*
 * Defaults, also the values documented in keyhealthd.yaml(5).  A value
 * that a module also applies by itself (its options left 0) is that
 * module's: the config derives it, so the two cannot drift.
 */
#define CONFIG_DEFAULT_INTERVAL		300		/* 5m */
#define CONFIG_DEFAULT_SLOW_INTERVAL	3600		/* 1h */
#define CONFIG_DEFAULT_GRANTS_INTERVAL	3600		/* 1h */
#define CONFIG_DEFAULT_RENOTIFY		ALERT_DEFAULT_RENOTIFY
#define CONFIG_DEFAULT_STATE_DIR	"/var/lib/keyhealthd"
#define CONFIG_DEFAULT_CONNECT_TIMEOUT	(HTTP_DEF_CONNECT_MS / 1000)
#define CONFIG_DEFAULT_TIMEOUT		(HTTP_DEF_TIMEOUT_MS / 1000)
#define CONFIG_DEFAULT_MAX_ATTEMPTS	KMS_DEF_MAX_ATTEMPTS
#define CONFIG_DEFAULT_RATE_LIMIT	KMS_DEF_RATE	/* requests/s */
#define CONFIG_DEFAULT_MAX_INFLIGHT	KMS_DEF_MAX_INFLIGHT
#define CONFIG_DEFAULT_HTTP_MAX_CONNECTIONS	64
#define CONFIG_DEFAULT_FIRE_AFTER	ALERT_DEFAULT_FIRE_AFTER
#define CONFIG_DEFAULT_RESOLVE_AFTER	ALERT_DEFAULT_RESOLVE_AFTER
#define CONFIG_DEFAULT_EXPIRY_WARNING	CHECK_EXPIRY_WARNING_DEFAULT
#define CONFIG_DEFAULT_DISCOVER_INTERVAL	(6 * 3600)	/* 6h */
#define CONFIG_MIN_USE_WITHIN		3600		/* 1h; 0 is off */

/* At most this many errors are kept, the first by position; the rest are
 * only counted. */
#define CONFIG_MAX_ERRORS		50

/*
 * The errors of one load.  Zero-initialise it ({ 0 }); free with
 * config_errors_free().  Messages are "FILE:LINE:COLUMN: message" (or
 * "FILE: message" when there is no position), sorted by position.
 */
struct config_errors {
	char	**msgs;
	int	 *lines;	/* sort keys; 0 for "no position" */
	int	 *columns;
	size_t	  n;		/* kept, <= CONFIG_MAX_ERRORS */
	size_t	  total;	/* found, including those not kept */
};

/*
 * AWS settings, global (config->aws) or per key (key->aws).  In a key's
 * block an unset string is NULL and an unset flag is -1: it inherits the
 * global value; config_key_aws() gives the merged settings.  Globally an
 * unset string is NULL (the SDK default chain / the environment decides)
 * and the flags are 0 or 1.
 */
struct config_aws {
	char	*profile;		/* shared config/credentials profile */
	char	*region;		/* for STS and credential look-ups; a
					 * key's KMS region is its ARN's */
	char	*endpoint_url;		/* KMS endpoint override */
	char	*sts_endpoint_url;	/* STS endpoint override */
	char	*assume_role;		/* role ARN to assume */
	char	*ca_file;		/* PEM bundle for TLS verification */
	int	 use_fips;		/* kms-fips endpoints */
	int	 allow_http;		/* plain http to a non-loopback host */
};

struct config_http {
	char	*listen;		/* "127.0.0.1:9464", NULL: off */
	char	*host;			/* "127.0.0.1", "::1" (no brackets) */
	int	 port;
	int	 max_connections;	/* open at once; lowered at run time
					 * to a quarter of RLIMIT_NOFILE */
};

struct config_kms {
	long	 connect_timeout;	/* seconds */
	long	 timeout;		/* seconds, one whole request */
	int	 max_attempts;		/* including the first */
	double	 rate_limit;		/* requests/s per account+region */
	int	 max_inflight;		/* requests in flight per endpoint */
};

struct config_alerts {
	int	 fire_after;		/* consecutive polls before firing */
	int	 resolve_after;		/* consecutive clean polls to resolve */
	long	 material_expiry_warning;	/* seconds before ValidTo */
};

struct config_key {
	char			*arn;		/* as written */
	struct arn		 parsed;	/* kind ARN_KMS_KEY */
	char			*name;		/* default: the key id */
	char			*vendor_name;	/* NULL: no vendor checks */
	const struct vendor	*vendor;	/* into config->vendors, or NULL */
	char			*alias;		/* "alias/NAME" (an alias ARN is
						 * reduced to this), or NULL */
	long			 interval;	/* seconds; 0: the global one */
	long			 grants_interval;	/* ListGrants; 0: the
						 * global one */
	int			 expect_rotation;
	long			 expect_use_within;	/* seconds; 0 off;
						 * -1: the global one */
	int			 replicas;	/* watch 1, off 0; -1: the
						 * global one */
	struct config_aws	 aws;		/* overrides, see above */
	int			 line;		/* of the key's entry */
	int			 column;
};

/*
 * The discover: section: keys found at run time (their policy names a
 * vendor's account) join the watched set.  Absent: enabled 0.
 */
struct config_discover {
	int			 enabled;
	long			 interval;	/* seconds between runs */
	char			**regions;	/* NULL: every region of the
						 * vendors' accounts */
	size_t			 nregions;
	char			**vendors;	/* profile names; NULL: all */
	size_t			 nvendors;
	struct config_aws	*accounts;	/* per-account settings over
						 * the global ones; none: the
						 * global ones alone */
	size_t			 naccounts;
};

struct config {
	char			*path;		/* as given to config_load() */
	long			 interval;
	long			 slow_interval;	/* rotation status, aliases */
	long			 grants_interval;	/* ListGrants */
	long			 renotify;	/* 0: never repeat */
	long			 expect_use_within;	/* key-unused; 0 off */
	int			 replicas;	/* watch 1, off 0; -1: unset */
	char			*state_dir;
	struct config_aws	 aws;
	struct config_http	 http;
	struct config_kms	 kms;
	struct config_alerts	 alerts;
	struct config_key	*keys;
	size_t			 nkeys;
	struct config_discover	 discover;
	/* Every known profile: shipped, vendors.d, config (vendor.h). */
	struct vendor		**vendors;
	size_t			 nvendors;
	/* Configured (not started) by lib/notify, only when loaded with
	 * CONFIG_LOAD_NOTIFIERS; the config owns them unless the caller
	 * takes them (and sets these to NULL/0). */
	struct notifier		**notifiers;
	size_t			 nnotifiers;
	struct ynode		*root;		/* owned while loading; NULL after */
};

/*
 * Reads and checks path.  Returns the config (free with config_free()),
 * or NULL with every problem found in errs (at least one).  Reads the
 * environment for defaults: STATE_DIRECTORY.
 */
struct config	*config_load(const char *path, struct config_errors *errs);
/*
 * The same; with CONFIG_LOAD_NOTIFIERS the notifiers: section is handed to
 * lib/notify, which configures each notifier once (reading its secret
 * files, loading modules) and reports into errs like the rest of the file:
 * `validate` and `run` load this way.  Without it (`check`, `baseline`,
 * which send nothing) the section is not read.
 */
#define CONFIG_LOAD_NOTIFIERS	0x1
struct config	*config_load_flags(const char *path, int flags,
		    struct config_errors *errs);
struct config	*config_load_buffer_flags(const char *name, const char *text,
		    size_t len, int flags, struct config_errors *errs);
/* The same from a buffer; name is used in positions. */
struct config	*config_load_buffer(const char *name, const char *text,
		    size_t len, struct config_errors *errs);
/* Frees cfg and everything it owns (also its notifiers); NULL ok. */
void		 config_free(struct config *cfg);

/*
 * Writes the effective configuration, defaults filled in, as YAML in a
 * stable order that config_load() reads back (notifiers: only the common
 * keys; their own options are listed by name in a comment, values never
 * shown; present only when loaded with CONFIG_LOAD_NOTIFIERS).  Returns
 * 0, or -1 on a write error.
 */
int		 config_print(const struct config *cfg, FILE *f);

/* The key with this name or ARN, or NULL. */
const struct config_key *config_key_find(const struct config *cfg,
		    const char *name_or_arn);
/* A key's identity (lib/keyid): its ARN, name and the ARN's region,
 * account and partition; the strings point into key. */
void		 config_key_keyid(const struct config_key *key,
		    struct keyid *out);
/* A key's poll interval: its own, else the global one. */
long		 config_key_interval(const struct config *cfg,
		    const struct config_key *key);
/* A key's expect_use_within: its own, else the global one; 0 is off. */
long		 config_key_use_within(const struct config *cfg,
		    const struct config_key *);
/* A key's grants_interval: its own, else the global one. */
long		 config_key_grants_interval(const struct config *cfg,
		    const struct config_key *key);
/* Whether a key's multi-Region replicas are watched: its replicas:, else
 * the global one, else watch when the key has a vendor. */
int		 config_key_replicas(const struct config *cfg,
		    const struct config_key *key);
/* A key's AWS settings, each from the key if set there, else the global
 * one; strings point into cfg. */
void		 config_key_aws(const struct config *cfg,
		    const struct config_key *key, struct config_aws *out);
/* A key's KMS endpoint: endpoint_kms() with its merged settings and the
 * environment; what `run` uses and `validate` checks.  0, or -1 with err. */
int		 config_key_endpoint(const struct config *cfg,
		    const struct config_key *key, char *url, size_t urllen,
		    char *err, size_t errlen);
/* Whether keys a and b have the same KMS endpoint inputs (their merged
 * endpoint_url, use_fips, allow_http, and their ARNs' region and
 * partition): then config_key_endpoint() says the same for both. */
int		 config_key_same_endpoint(const struct config *cfg,
		    const struct config_key *a, const struct config_key *b);
/* The vendor profile called name, or NULL. */
const struct vendor *config_vendor(const struct config *cfg,
		    const char *name);
/* `keyhealthd vendors`: every profile, its accounts and where it comes
 * from.  0, or -1 on a write error. */
int		 config_print_vendors(const struct config *cfg, FILE *f);
/* The profile called name as an empty configuration sees it (the shipped
 * files of vendor_dir()), for tests and tools; NULL with err when there
 * is none or a file is bad.  The caller frees it with vendor_free(). */
struct vendor	*config_vendor_load(const char *name, char *err,
		    size_t errlen);

/*
 * Refuses a configuration (or secret) file that others could change:
 * world-writable, or not a regular file.  0, or -1 with a reason in err.
 */
int		 config_check_file_perms(const char *path, char *err,
		    size_t errlen);

/*
 * Errors: appends "WHERE: message" for node n (NULL: no position, then
 * "FILE: message" must be written by the caller or is just message).
 * Returns 0, or -1 when out of memory.  lib/notify's errors about the
 * notifiers: section come here too, through config.c.
 */
int		 config_error(struct config_errors *errs,
		    const struct ynode *n, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
/* Sorts by position (unpositioned first), keeping equal ones in order. */
void		 config_errors_sort(struct config_errors *errs);
void		 config_errors_free(struct config_errors *errs);

#endif
