/*
 * The notifier registry: the static table of built-in types, the options
 * common to every notifier, filters, and external modules loaded with
 * dlopen (OpenSMTPD's table backends, collectd's notification plugins).
 */
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alert.h"
#include "catalog.h"
#include "notify.h"
#include "notify_util.h"
#include "ynode.h"

/* The built-in types; a new one is one more line. */
static const struct notify_ops * const notify_builtin[] = {
	&notify_journald_ops,
	&notify_webhook_ops,
	&notify_exec_ops,
	&notify_pagerduty_ops,
	&notify_alertmanager_ops,
	&notify_slack_ops,
	NULL
};

#define NOTIFY_NAME_MAX		64
#define NOTIFY_OPTNAMES_MAX	512

struct notifier {
	const struct notify_ops	*ops;
	void			*state;
	void			*dl;		/* module handle or NULL */
	char			*name;
	char			*type;
	enum severity		 min_severity;
	char			**checks;	/* NULL: all */
	size_t			 nchecks;
	char			**exclude;
	size_t			 nexclude;
	char			 options[NOTIFY_OPTNAMES_MAX];
	int			 started;
};

const struct notify_ops *
notify_lookup(const char *type)
{
	size_t	i;

	for (i = 0; notify_builtin[i] != NULL; i++)
		if (strcmp(notify_builtin[i]->type, type) == 0)
			return notify_builtin[i];
	return NULL;
}

const char * const *
notify_type_names(void)
{
	static const char	*names[sizeof(notify_builtin) /
				    sizeof(notify_builtin[0])];
	size_t			 i;

	for (i = 0; notify_builtin[i] != NULL; i++)
		names[i] = notify_builtin[i]->type;
	names[i] = NULL;
	return names;
}

static void
notify_conf_forward(struct notify_conf *nc, const struct ynode *at,
    const char *msg)
{
	nc->nerrors++;
	if (nc->report != NULL)
		nc->report(nc->arg, at, msg);
}

void
notify_conf_init(struct notify_conf *nc,
    void (*report)(void *, const struct ynode *, const char *), void *arg)
{
	memset(nc, 0, sizeof(*nc));
	nc->error = notify_conf_forward;
	nc->report = report;
	nc->arg = arg;
}

static void
notify_free_strv(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* A list of check ids: every one must be in the catalogue. */
static int
notify_conf_checks(const struct ynode *block, const char *key, char ***out,
    size_t *nout, struct notify_conf *nc)
{
	const struct ynode	*n = ynode_get(block, key), *it;
	char			**v;
	size_t			 i;
	int			 bad = 0;

	*out = NULL;
	*nout = 0;
	if (n == NULL)
		return 0;
	if (n->type != YNODE_SEQ)
		return notify_util_error(nc, n, "'%s' must be a list of check "
		    "ids", key);
	if ((v = calloc(n->nitems + 1, sizeof(*v))) == NULL)
		return notify_util_error(nc, n, "out of memory");
	for (i = 0; i < n->nitems; i++) {
		it = n->items[i];
		if (it->type != YNODE_SCALAR ||
		    catalog_find(it->value) == NULL) {
			notify_util_error(nc, it, "'%s': unknown check id "
			    "'%.64s'", key, it->type == YNODE_SCALAR ?
			    it->value : "");
			bad = 1;
			continue;
		}
		if ((v[i] = strdup(it->value)) == NULL) {
			notify_util_error(nc, it, "out of memory");
			bad = 1;
		}
	}
	if (bad) {
		notify_free_strv(v, n->nitems);
		return -1;
	}
	*out = v;
	*nout = n->nitems;
	return 0;
}

/* The one name rule: the name is the outbox directory's, and a label. */
static int
notify_name_ok(const char *s)
{
	size_t	i, len = strlen(s);

	if (len == 0 || len > NOTIFY_NAME_MAX || s[0] == '.')
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-' && s[i] != '.')
			return 0;
	return 1;
}

/* Loads path and checks its descriptor; the handle into *dl. */
static const struct notify_ops *
notify_load_module(const struct ynode *pathn, void **dl,
    struct notify_conf *nc)
{
	const struct notify_module	*m;
	const char			*e;
	void				*h;

	*dl = NULL;
	if ((h = dlopen(pathn->value, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		e = dlerror();
		notify_util_error(nc, pathn, "cannot load module: %s",
		    e != NULL ? e : pathn->value);
		return NULL;
	}
	(void)dlerror();
	m = dlsym(h, "keyhealthd_notify_module");
	if (m == NULL) {
		notify_util_error(nc, pathn, "module %s does not export "
		    "keyhealthd_notify_module (not a keyhealthd notifier "
		    "module)", pathn->value);
		goto fail;
	}
	if (m->abi != NOTIFY_MODULE_ABI) {
		notify_util_error(nc, pathn, "module %s has notifier ABI %u, "
		    "this keyhealthd needs %u (rebuild the module)",
		    pathn->value, m->abi, NOTIFY_MODULE_ABI);
		goto fail;
	}
	if (m->ops == NULL || m->ops->configure == NULL ||
	    m->ops->send == NULL || m->ops->free == NULL) {
		notify_util_error(nc, pathn, "module %s: incomplete ops "
		    "(configure, send and free are required)", pathn->value);
		goto fail;
	}
	*dl = h;
	return m->ops;
fail:
	dlclose(h);
	return NULL;
}

/* "journald, webhook, ..., module": the table, as messages list it. */
static const char *
notify_type_list(char *buf, size_t len)
{
	const char * const	*t = notify_type_names();
	size_t			 i, off = 0;
	int			 r;

	buf[0] = '\0';
	for (i = 0; t[i] != NULL; i++) {
		r = snprintf(buf + off, len - off, "%s, ", t[i]);
		if (r < 0 || (size_t)r >= len - off)
			return buf;
		off += (size_t)r;
	}
	(void)snprintf(buf + off, len - off, "module");
	return buf;
}

/* "unknown notifier type 'X'", with a suggestion or the list. */
static void
notify_unknown_type(const struct ynode *typen, struct notify_conf *nc)
{
	const char * const	*t = notify_type_names();
	const char		*names[sizeof(notify_builtin) /
				    sizeof(notify_builtin[0]) + 1];
	const char		*hint;
	char			 list[256];
	size_t			 i;

	for (i = 0; t[i] != NULL; i++)
		names[i] = t[i];
	names[i++] = "module";
	names[i] = NULL;
	if ((hint = notify_util_suggest(typen->value, names)) != NULL)
		notify_util_error(nc, typen, "unknown notifier type '%.64s'; "
		    "did you mean '%s'?", typen->value, hint);
	else
		notify_util_error(nc, typen, "unknown notifier type '%.64s' "
		    "(one of: %s)", typen->value,
		    notify_type_list(list, sizeof(list)));
}

/* The option names of block that are the type's own, for -v. */
static void
notify_keep_option_names(struct notifier *n, const struct ynode *block)
{
	static const char * const common[] = { "type", "name",
	    "min_severity", "checks", "exclude_checks", NULL };
	size_t	i, j, off = 0;
	int	r;

	n->options[0] = '\0';
	for (i = 0; i < block->nitems; i++) {
		for (j = 0; common[j] != NULL; j++)
			if (strcmp(block->keys[i]->value, common[j]) == 0)
				break;
		if (common[j] != NULL)
			continue;
		r = snprintf(n->options + off, sizeof(n->options) - off,
		    "%s%.64s", off > 0 ? ", " : "", block->keys[i]->value);
		if (r < 0 || (size_t)r >= sizeof(n->options) - off)
			break;
		off += (size_t)r;
	}
}

/* One block; NULL when nc got at least one error about it. */
static struct notifier *
notify_configure(const struct ynode *block, struct notify_conf *nc)
{
	const struct ynode	*typen, *namen, *sevn, *pathn;
	struct notifier		*n;
	char			 list[256];
	unsigned int		 before = nc->nerrors;

	if (block == NULL || block->type != YNODE_MAP) {
		notify_util_error(nc, block, "a notifier must be a mapping "
		    "(type: ...)");
		return NULL;
	}
	if ((typen = ynode_get(block, "type")) == NULL ||
	    typen->type != YNODE_SCALAR || ynode_is_null(typen)) {
		notify_util_error(nc, typen != NULL ? typen : block, "a "
		    "notifier needs a 'type' (one of: %s)",
		    notify_type_list(list, sizeof(list)));
		return NULL;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL) {
		notify_util_error(nc, block, "out of memory");
		return NULL;
	}
	n->min_severity = SEV_INFO;
	if (strcmp(typen->value, "module") == 0) {
		if ((pathn = ynode_get(block, "path")) == NULL ||
		    pathn->type != YNODE_SCALAR || ynode_is_null(pathn))
			notify_util_error(nc, pathn != NULL ? pathn : block,
			    "a module notifier needs 'path' (the .so file)");
		else
			n->ops = notify_load_module(pathn, &n->dl, nc);
	} else if ((n->ops = notify_lookup(typen->value)) == NULL)
		notify_unknown_type(typen, nc);
	if ((n->type = strdup(typen->value)) == NULL) {
		notify_util_error(nc, block, "out of memory");
		goto fail;
	}
	if ((namen = ynode_get(block, "name")) != NULL &&
	    (namen->type != YNODE_SCALAR || !notify_name_ok(namen->value)))
		notify_util_error(nc, namen, "bad notifier name '%.64s' (1 to "
		    "%d of A-Z a-z 0-9 _ - ., not starting with .)",
		    namen->type == YNODE_SCALAR ? namen->value : "",
		    NOTIFY_NAME_MAX);
	else if ((n->name = strdup(namen != NULL ? namen->value :
	    n->ops != NULL && n->ops->type != NULL ? n->ops->type :
	    typen->value)) == NULL)
		notify_util_error(nc, block, "out of memory");
	else if (namen == NULL && !notify_name_ok(n->name))
		notify_util_error(nc, typen, "give this notifier a name: (its "
		    "type '%.64s' is not a valid name)", n->name);
	if ((sevn = ynode_get(block, "min_severity")) != NULL &&
	    (sevn->type != YNODE_SCALAR || severity_parse(sevn->value,
	    &n->min_severity) == -1 || n->min_severity == SEV_OK)) {
		notify_util_error(nc, sevn, "min_severity: '%.40s' is not one "
		    "of info, warning, unknown, critical",
		    sevn->type == YNODE_SCALAR ? sevn->value : "");
		n->min_severity = SEV_INFO;
	}
	(void)notify_conf_checks(block, "checks", &n->checks, &n->nchecks,
	    nc);
	(void)notify_conf_checks(block, "exclude_checks", &n->exclude,
	    &n->nexclude, nc);
	/* The type's own options are checked even after an error in the
	 * common ones: validate shows all of them at once. */
	if (n->ops != NULL && n->ops->configure(block, &n->state, nc) == -1) {
		n->state = NULL;
		if (nc->nerrors == before)
			notify_util_error(nc, typen, "%s notifier: cannot be "
			    "configured", typen->value);
	}
	if (nc->nerrors != before)
		goto fail;
	notify_keep_option_names(n, block);
	return n;
fail:
	notify_free(n);
	return NULL;
}

int
notify_configure_all(const struct ynode *seq, struct notify_conf *nc,
    struct notifier ***out, size_t *nout)
{
	struct notifier	**v;
	const struct ynode *at;
	unsigned int	  before = nc->nerrors;
	size_t		  i, j;

	*out = NULL;
	*nout = 0;
	if (seq == NULL || (seq->type == YNODE_SCALAR && ynode_is_null(seq)))
		return 0;
	if (seq->type != YNODE_SEQ)
		return notify_util_error(nc, seq, "notifiers: expected a list "
		    "of notifiers, got a %s", ynode_type_name(seq->type));
	if ((v = calloc(seq->nitems + 1, sizeof(*v))) == NULL)
		return notify_util_error(nc, seq, "out of memory");
	for (i = 0; i < seq->nitems; i++) {
		if ((v[i] = notify_configure(seq->items[i], nc)) == NULL)
			continue;
		for (j = 0; j < i; j++) {
			if (v[j] == NULL || strcmp(v[j]->name, v[i]->name) != 0)
				continue;
			if ((at = ynode_get(seq->items[i], "name")) == NULL)
				at = ynode_get(seq->items[i], "type");
			notify_util_error(nc, at, "a second notifier named "
			    "'%s' (notifiers[%zu] at line %d; give each a "
			    "unique name:)", v[i]->name, j,
			    seq->items[j]->line);
			break;
		}
	}
	if (nc->nerrors != before) {
		notify_free_all(v, seq->nitems);
		return -1;
	}
	*out = v;
	*nout = seq->nitems;
	return 0;
}

/* Keeps the first error as "FILE:LINE:COLUMN: message". */
static void
notify_text_report(void *arg, const struct ynode *at, const char *msg)
{
	struct notify_conf_text	*t = arg;
	char			 where[PATH_MAX + 32];

	if (t->n++ > 0 || t->err == NULL || t->errlen == 0)
		return;
	if (at != NULL)
		(void)snprintf(t->err, t->errlen, "%s: %s",
		    ynode_where(at, where, sizeof(where)), msg);
	else
		(void)snprintf(t->err, t->errlen, "%s", msg);
}

void
notify_conf_init_text(struct notify_conf *nc, struct notify_conf_text *t,
    char *err, size_t errlen)
{
	t->err = err;
	t->errlen = errlen;
	t->n = 0;
	notify_conf_init(nc, notify_text_report, t);
}

struct notifier *
notify_new(const struct ynode *block, char *err, size_t errlen)
{
	struct notify_conf_text	t;
	struct notify_conf	nc;

	notify_conf_init_text(&nc, &t, err, errlen);
	return notify_configure(block, &nc);
}

int
notify_new_all(const struct ynode *seq, struct notifier ***out, size_t *nout,
    char *err, size_t errlen)
{
	struct notify_conf_text	t;
	struct notify_conf	nc;

	notify_conf_init_text(&nc, &t, err, errlen);
	return notify_configure_all(seq, &nc, out, nout);
}

void
notify_free_all(struct notifier **v, size_t n)
{
	size_t	i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		notify_free(v[i]);
	free(v);
}

const char *
notify_name(const struct notifier *n)
{
	return n->name;
}

const char *
notify_type(const struct notifier *n)
{
	return n->type;
}

enum severity
notify_min_severity(const struct notifier *n)
{
	return n->min_severity;
}

char * const *
notify_checks(const struct notifier *n, size_t *nout)
{
	*nout = n->nchecks;
	return n->checks;
}

char * const *
notify_exclude_checks(const struct notifier *n, size_t *nout)
{
	*nout = n->nexclude;
	return n->exclude;
}

const char *
notify_option_names(const struct notifier *n)
{
	return n->options;
}

int
notify_filter(const struct notifier *n, const struct alert_event *ev)
{
	size_t	i;
	int	found;

	if (ev->severity < n->min_severity)
		return 0;
	if (n->checks != NULL) {
		for (i = 0, found = 0; i < n->nchecks && !found; i++)
			found = strcmp(n->checks[i], ev->check) == 0;
		if (!found)
			return 0;
	}
	for (i = 0; i < n->nexclude; i++)
		if (strcmp(n->exclude[i], ev->check) == 0)
			return 0;
	return 1;
}

int
notify_start(struct notifier *n, const struct notify_env *env, char *err,
    size_t errlen)
{
	if (n->ops->start != NULL && n->ops->start(n->state, env, err,
	    errlen) == -1)
		return -1;
	n->started = 1;
	return 0;
}

int
notify_send(void *arg, const struct alert_event *ev, notify_done_cb done,
    void *donearg)
{
	struct notifier	*n = arg;

	return n->ops->send(n->state, ev, done, donearg);
}

void
notify_stop(struct notifier *n)
{
	if (n->started && n->ops->stop != NULL)
		n->ops->stop(n->state);
	n->started = 0;
}

void
notify_free(struct notifier *n)
{
	if (n == NULL)
		return;
	notify_stop(n);
	if (n->state != NULL && n->ops != NULL && n->ops->free != NULL)
		n->ops->free(n->state);
	if (n->dl != NULL)
		dlclose(n->dl);
	free(n->name);
	free(n->type);
	notify_free_strv(n->checks, n->nchecks);
	notify_free_strv(n->exclude, n->nexclude);
	free(n);
}
