/*
 * lib/config: the error list (every problem of a file, as
 * FILE:LINE:COLUMN: message, capped) and the value checks the
 * schema walk (config.c) applies to each node: types, ranges,
 * durations, lists, URLs, ARNs.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_int.h"
#include "duration.h"
#include "endpoint.h"
#include "suggest.h"
#include "ynode.h"

/* ---- errors ---- */

int
cfg_errors_push(struct config_errors *errs, int line, int column,
    const char *msg)
{
	char	**msgs, *m;
	int	 *lines, *cols;

	errs->total++;
	if (errs->n >= CONFIG_MAX_ERRORS) {
		size_t	i, last = 0;

		/* Full: the kept error latest in the file makes room for an
		 * earlier one, so that the errors shown are the file's first
		 * whatever order they were found in (keys: entries are
		 * checked while the file is parsed, the rest after). */
		for (i = 1; i < errs->n; i++)
			if (errs->lines[i] > errs->lines[last] ||
			    (errs->lines[i] == errs->lines[last] &&
			    errs->columns[i] >= errs->columns[last]))
				last = i;
		if (line > errs->lines[last] || (line == errs->lines[last] &&
		    column >= errs->columns[last]))
			return 0;
		if ((m = strdup(msg)) == NULL)
			return -1;
		free(errs->msgs[last]);
		errs->n--;
		memmove(&errs->msgs[last], &errs->msgs[last + 1],
		    (errs->n - last) * sizeof(*errs->msgs));
		memmove(&errs->lines[last], &errs->lines[last + 1],
		    (errs->n - last) * sizeof(*errs->lines));
		memmove(&errs->columns[last], &errs->columns[last + 1],
		    (errs->n - last) * sizeof(*errs->columns));
		errs->msgs[errs->n] = m;
		errs->lines[errs->n] = line;
		errs->columns[errs->n] = column;
		errs->n++;
		return 0;
	}
	if ((m = strdup(msg)) == NULL)
		return -1;
	msgs = reallocarray(errs->msgs, errs->n + 1, sizeof(*msgs));
	if (msgs == NULL) {
		free(m);
		return -1;
	}
	errs->msgs = msgs;
	lines = reallocarray(errs->lines, errs->n + 1, sizeof(*lines));
	if (lines == NULL) {
		free(m);
		return -1;
	}
	errs->lines = lines;
	cols = reallocarray(errs->columns, errs->n + 1, sizeof(*cols));
	if (cols == NULL) {
		free(m);
		return -1;
	}
	errs->columns = cols;
	msgs[errs->n] = m;
	lines[errs->n] = line;
	cols[errs->n] = column;
	errs->n++;
	return 0;
}

int
config_error(struct config_errors *errs, const struct ynode *n,
    const char *fmt, ...)
{
	char	msg[768], full[1024];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n == NULL)
		return cfg_errors_push(errs, 0, 0, msg);
	(void)snprintf(full, sizeof(full), "%s:%d:%d: %s", n->file, n->line,
	    n->column, msg);
	return cfg_errors_push(errs, n->line, n->column, full);
}

void
config_errors_sort(struct config_errors *errs)
{
	size_t	 i, j;
	char	*m;
	int	 l, c;

	/* Insertion sort: stable, and there are at most 50. */
	for (i = 1; i < errs->n; i++) {
		m = errs->msgs[i];
		l = errs->lines[i];
		c = errs->columns[i];
		for (j = i; j > 0 && (errs->lines[j - 1] > l ||
		    (errs->lines[j - 1] == l && errs->columns[j - 1] > c));
		    j--) {
			errs->msgs[j] = errs->msgs[j - 1];
			errs->lines[j] = errs->lines[j - 1];
			errs->columns[j] = errs->columns[j - 1];
		}
		errs->msgs[j] = m;
		errs->lines[j] = l;
		errs->columns[j] = c;
	}
}

void
config_errors_free(struct config_errors *errs)
{
	size_t	i;

	if (errs == NULL)
		return;
	for (i = 0; i < errs->n; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	free(errs->lines);
	free(errs->columns);
	memset(errs, 0, sizeof(*errs));
}

void
cfg_nomem(struct cfg *c)
{
	(void)config_error(c->errs, NULL, "%s: out of memory", c->cfg->path);
}

char *
cfg_strdup(struct cfg *c, const char *s)
{
	char	*d;

	if ((d = strdup(s)) == NULL)
		cfg_nomem(c);
	return d;
}

/* "a, b, c" into buf. */
const char *
cfg_join(const char * const *v, size_t n, char *buf, size_t len)
{
	size_t	i, off = 0;
	int	r;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		r = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", v[i]);
		if (r < 0 || (size_t)r >= len - off)
			break;
		off += (size_t)r;
	}
	return buf;
}

size_t
cfg_count(const char * const *v)
{
	size_t	n;

	for (n = 0; v[n] != NULL; n++)
		;
	return n;
}

/* ---- node helpers ---- */

/* Checks that n is of type want; what names it in the message. */
int
cfg_type(struct cfg *c, const struct ynode *n, enum ynode_type want,
    const char *what)
{
	if (n->type == want && !(want == YNODE_SCALAR && ynode_is_null(n)))
		return 0;
	if (ynode_is_null(n))
		cfg_err(c, n, "%s: expected a %s, got an empty value", what,
		    ynode_type_name(want));
	else
		cfg_err(c, n, "%s: expected a %s, got a %s", what,
		    ynode_type_name(want), ynode_type_name(n->type));
	return -1;
}

/* Reports every key of map that is not in known. */
void
cfg_unknown_keys(struct cfg *c, const struct ynode *map,
    const char * const *known, const char *where)
{
	const char	*s;
	char		 list[512];
	size_t		 i, j, nknown = cfg_count(known);

	for (i = 0; i < map->nitems; i++) {
		const struct ynode *k = map->keys[i];

		for (j = 0; j < nknown; j++)
			if (strcmp(k->value, known[j]) == 0)
				break;
		if (j < nknown)
			continue;
		if ((s = suggest_closest(k->value, known, nknown)) != NULL)
			cfg_err(c, k, "unknown key '%.64s'%s%s; did you mean "
			    "'%s'?", k->value, *where ? " in " : "", where, s);
		else
			cfg_err(c, k, "unknown key '%.64s'%s%s (expected one "
			    "of: %s)", k->value, *where ? " in " : "", where,
			    cfg_join(known, nknown, list, sizeof(list)));
	}
}

int
cfg_has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* A non-empty single-line string; *out is a new copy. */
int
cfg_string(struct cfg *c, const struct ynode *n, const char *what,
    size_t maxlen, char **out)
{
	if (cfg_type(c, n, YNODE_SCALAR, what) == -1)
		return -1;
	if (n->valuelen == 0) {
		cfg_err(c, n, "%s: must not be empty", what);
		return -1;
	}
	if (n->valuelen > maxlen) {
		cfg_err(c, n, "%s: too long (%zu bytes, at most %zu)", what,
		    n->valuelen, maxlen);
		return -1;
	}
	if (cfg_has_ctl(n->value)) {
		cfg_err(c, n, "%s: control characters are not allowed", what);
		return -1;
	}
	free(*out);
	if ((*out = cfg_strdup(c, n->value)) == NULL)
		return -1;
	return 0;
}

int
cfg_bool(struct cfg *c, const struct ynode *n, const char *what, int *out)
{
	static const char * const yaml11[] = { "yes", "no", "on", "off", "y",
	    "n", "True", "False", "TRUE", "FALSE", "Yes", "No", "YES", "NO",
	    "On", "Off", "ON", "OFF", NULL };
	size_t	i;

	if (cfg_type(c, n, YNODE_SCALAR, what) == -1)
		return -1;
	if (!n->quoted && strcmp(n->value, "true") == 0) {
		*out = 1;
		return 0;
	}
	if (!n->quoted && strcmp(n->value, "false") == 0) {
		*out = 0;
		return 0;
	}
	if (n->quoted) {
		cfg_err(c, n, "%s: expected true or false, got a quoted string "
		    "(write the boolean without quotes)", what);
		return -1;
	}
	for (i = 0; yaml11[i] != NULL; i++)
		if (strcmp(n->value, yaml11[i]) == 0) {
			cfg_err(c, n, "%s: expected true or false, got '%s' "
			    "(only true and false are booleans here)", what,
			    n->value);
			return -1;
		}
	cfg_err(c, n, "%s: expected true or false, got '%.40s'", what,
	    n->value);
	return -1;
}

int
cfg_int(struct cfg *c, const struct ynode *n, const char *what, long min,
    long max, long *out)
{
	const char	*s;
	long		 v = 0;

	if (cfg_type(c, n, YNODE_SCALAR, what) == -1)
		return -1;
	s = n->value;
	if (n->quoted) {
		cfg_err(c, n, "%s: expected an integer, got a quoted string "
		    "(write the number without quotes)", what);
		return -1;
	}
	if (*s == '\0' || (s[0] == '0' && s[1] != '\0') ||
	    strspn(s, "0123456789") != strlen(s)) {
		cfg_err(c, n, "%s: expected an integer, got '%.40s'", what, s);
		return -1;
	}
	for (; *s != '\0'; s++) {
		v = v * 10 + (*s - '0');
		if (v > max)
			break;
	}
	if (v < min || v > max) {
		cfg_err(c, n, "%s: must be between %ld and %ld, got %.40s",
		    what, min, max, n->value);
		return -1;
	}
	*out = v;
	return 0;
}

/* A decimal number DIGITS[.DIGITS]: no sign, exponent, hex or inf. */
int
cfg_number(struct cfg *c, const struct ynode *n, const char *what,
    double min, double max, double *out)
{
	const char	*s, *dot;
	char		*end;
	double		 v;

	if (cfg_type(c, n, YNODE_SCALAR, what) == -1)
		return -1;
	s = n->value;
	if (n->quoted) {
		cfg_err(c, n, "%s: expected a number, got a quoted string "
		    "(write the number without quotes)", what);
		return -1;
	}
	dot = strchr(s, '.');
	if (strspn(s, "0123456789") == 0 || n->valuelen > 32 ||
	    (dot == NULL && strspn(s, "0123456789") != n->valuelen) ||
	    (dot != NULL && ((size_t)(dot - s) != strspn(s, "0123456789") ||
	    dot[1] == '\0' || strspn(dot + 1, "0123456789") !=
	    strlen(dot + 1)))) {
		cfg_err(c, n, "%s: expected a number, got '%.40s'", what, s);
		return -1;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || v < min ||
	    v > max) {
		cfg_err(c, n, "%s: must be between %g and %g, got %.40s", what,
		    min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

int
cfg_duration(struct cfg *c, const struct ynode *n, const char *what,
    long min, long max, long *out)
{
	char	err[256], a[32], b[32];
	long	v;

	if (cfg_type(c, n, YNODE_SCALAR, what) == -1)
		return -1;
	if (duration_parse(n->value, &v, err, sizeof(err)) == -1) {
		cfg_err(c, n, "%s: %s", what, err);
		return -1;
	}
	if (v < min || v > max) {
		cfg_err(c, n, "%s: must be between %s and %s, got %.40s", what,
		    duration_format(min, a, sizeof(a)),
		    duration_format(max, b, sizeof(b)), n->value);
		return -1;
	}
	*out = v;
	return 0;
}

/* GetKeyLastUsage is fetched hourly: a shorter window would judge a use
 * the daemon has not had a chance to see. */
int
cfg_use_within(struct cfg *c, const struct ynode *v, const char *what,
    long *out)
{
	long	w;

	if (cfg_duration(c, v, what, 0, 365L * 86400, &w) == -1)
		return -1;
	if (w > 0 && w < CONFIG_MIN_USE_WITHIN) {
		cfg_err(c, v, "%s: must be 0 (off) or at least 1h: usage is "
		    "fetched hourly, got %.40s", what, v->value);
		return -1;
	}
	*out = w;
	return 0;
}

/* A sequence of strings (flow [a, b] or block); at least one. */
int
cfg_string_list(struct cfg *c, const struct ynode *n, const char *what,
    char ***out, size_t *nout)
{
	char	**v;
	size_t	  i;
	int	  bad = 0;

	if (cfg_type(c, n, YNODE_SEQ, what) == -1)
		return -1;
	if (n->nitems == 0) {
		cfg_err(c, n, "%s: the list is empty", what);
		return -1;
	}
	if (n->nitems > CFG_MAX_LIST) {
		cfg_err(c, n, "%s: too many entries (at most %d)", what,
		    CFG_MAX_LIST);
		return -1;
	}
	if ((v = calloc(n->nitems, sizeof(*v))) == NULL) {
		cfg_nomem(c);
		return -1;
	}
	for (i = 0; i < n->nitems; i++)
		if (cfg_string(c, n->items[i], what, CFG_MAX_STRING,
		    &v[i]) == -1)
			bad = 1;
	if (bad) {
		for (i = 0; i < n->nitems; i++)
			free(v[i]);
		free(v);
		return -1;
	}
	*out = v;
	*nout = n->nitems;
	return 0;
}

/* ---- value syntaxes ---- */

int
cfg_account_ok(const char *s)
{
	return strlen(s) == 12 && strspn(s, "0123456789") == 12;
}

/* An AWS endpoint override, by the rules `run` applies to it. */
int
cfg_url(struct cfg *c, const struct ynode *n, const char *what,
    int allow_http, char **out)
{
	char	e[512];

	if (cfg_string(c, n, what, ENDPOINT_URL_MAX, out) == -1)
		return -1;
	if (endpoint_override(*out, allow_http, NULL, e, sizeof(e)) == 0)
		return 0;
	cfg_err(c, n, "%s: %s", what, e);
	free(*out);
	*out = NULL;
	return -1;
}

/* arn:PARTITION:iam::ACCOUNT:role/PATH/NAME */
int
cfg_role_arn(struct cfg *c, const struct ynode *n, const char *what,
    char **out)
{
	const char	*s, *p;
	char		 part[32];
	size_t		 i;

	if (cfg_string(c, n, what, 2048, out) == -1)
		return -1;
	s = *out;
	if (strncmp(s, "arn:", 4) != 0)
		goto bad;
	p = s + 4;
	i = strcspn(p, ":");
	if (i == 0 || i >= sizeof(part))
		goto bad;
	memcpy(part, p, i);
	part[i] = '\0';
	if (endpoint_partition_dns_suffix(part) == NULL) {
		cfg_err(c, n, "%s: unknown AWS partition '%s' in role ARN",
		    what, part);
		goto fail;
	}
	p += i;
	if (strncmp(p, ":iam::", 6) != 0)
		goto bad;
	p += 6;
	if (strspn(p, "0123456789") != 12 || p[12] != ':') {
		cfg_err(c, n, "%s: role ARN account must be 12 digits: %.80s",
		    what, s);
		goto fail;
	}
	p += 13;
	if (strncmp(p, "role/", 5) != 0 || p[5] == '\0')
		goto bad;
	for (p += 5; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("/+=,.@_-", *p) ==
		    NULL) {
			cfg_err(c, n, "%s: invalid character '%c' in role "
			    "name: %.80s", what, *p, s);
			goto fail;
		}
	return 0;
bad:
	cfg_err(c, n, "%s: expected an IAM role ARN "
	    "(arn:aws:iam::ACCOUNT:role/NAME), got '%.80s'", what, s);
fail:
	free(*out);
	*out = NULL;
	return -1;
}
