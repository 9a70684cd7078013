/*
 * lib/config's private header, shared by config.c (the schema walk:
 * sections, keys, vendors, notifiers, loading, accessors),
 * config_values.c (the error list and the value checks every section
 * uses).  cfg_ is their private prefix.
 */
#ifndef KEYHEALTHD_CONFIG_INT_H
#define KEYHEALTHD_CONFIG_INT_H

#include <stddef.h>

#include "config.h"
#include "vendor.h"
#include "ynode.h"

#define CFG_MAX_STRING		1024	/* any single value */
#define CFG_MAX_NAME		128	/* key names */
#define CFG_MAX_LIST		1000	/* notifiers, actions, ... */
/* Keys: a large tenant watches thousands; make bench runs 10,000. */
#define CFG_MAX_KEYS		100000

/*
 * Where a keys: entry's parts were (the entries are read as the file is
 * parsed and their nodes freed at once: config.c's cfg_key_item()); what
 * the checks that need the whole file report at.  0: absent.
 */
struct cfg_keypos {
	int			 arn[2];	/* line, column */
	int			 name[2];
	int			 vendor[2];
};

/* A key's aws: block, kept until the global one is read. */
struct cfg_keyaws {
	size_t			 idx;
	struct ynode		*n;
};

struct cfg {
	struct config		*cfg;
	struct config_errors	*errs;
	int			 flags;		/* CONFIG_LOAD_* */
	char			 vdir_err[1024]; /* shipped profiles unread */
	enum vendor_from	 vendor_from;	/* of the vendor files read now */
	/* keys: entries, as the parse hands them over */
	size_t			 nkeys;		/* entries seen */
	size_t			 kcap;		/* slots in cfg->keys */
	struct cfg_keypos	*kpos;
	struct cfg_keyaws	*kaws;
	size_t			 nkaws;
	int			 knomem;
};

/* Reports a problem at node n (NULL: the file) into the error list. */
#define cfg_err(c, n, ...)	\
	((void)config_error((c)->errs, (n), __VA_ARGS__))

/* config_values.c */
int	cfg_errors_push(struct config_errors *errs, int line, int column,
	    const char *msg);
void	cfg_nomem(struct cfg *c);
char *	cfg_strdup(struct cfg *c, const char *s);
/* "a, b, c" into buf. */
const char *cfg_join(const char * const *v, size_t n, char *buf,
	    size_t len);
size_t	cfg_count(const char * const *v);
/* Checks that n is of type want; what names it in the message. */
int	cfg_type(struct cfg *c, const struct ynode *n, enum ynode_type want,
	    const char *what);
/* Reports every key of map that is not in known. */
void	cfg_unknown_keys(struct cfg *c, const struct ynode *map,
	    const char * const *known, const char *where);
int	cfg_has_ctl(const char *s);
/* A non-empty single-line string; *out is a new copy. */
int	cfg_string(struct cfg *c, const struct ynode *n, const char *what,
	    size_t maxlen, char **out);
int	cfg_bool(struct cfg *c, const struct ynode *n, const char *what,
	    int *out);
int	cfg_int(struct cfg *c, const struct ynode *n, const char *what,
	    long min, long max, long *out);
/* A decimal number DIGITS[.DIGITS]: no sign, exponent, hex or inf. */
int	cfg_number(struct cfg *c, const struct ynode *n, const char *what,
	    double min, double max, double *out);
int	cfg_duration(struct cfg *c, const struct ynode *n, const char *what,
	    long min, long max, long *out);
/* expect_use_within: 0 (off) or 1h (CONFIG_MIN_USE_WITHIN) to 365d. */
int	cfg_use_within(struct cfg *c, const struct ynode *n, const char *what,
	    long *out);
/* A sequence of strings (flow [a, b] or block); at least one. */
int	cfg_string_list(struct cfg *c, const struct ynode *n, const char *what,
	    char ***out, size_t *nout);
int	cfg_account_ok(const char *s);
/* An AWS endpoint override, by the rules `run` applies to it. */
int	cfg_url(struct cfg *c, const struct ynode *n, const char *what,
	    int allow_http, char **out);
/* arn:PARTITION:iam::ACCOUNT:role/PATH/NAME */
int	cfg_role_arn(struct cfg *c, const struct ynode *n, const char *what,
	    char **out);

#endif
