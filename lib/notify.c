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
#define NOTIFY_SECRET_MAX	4096

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
	int			 started;
};

static const char * const notify_common_keys[] = {
	"type", "name", "min_severity", "checks", "exclude_checks", NULL
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

int
notify_conf_error(const struct ynode *at, char *err, size_t errlen,
    const char *fmt, ...)
{
	char	where[PATH_MAX + 32], msg[512];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err != NULL && errlen > 0)
		(void)snprintf(err, errlen, "%s: %s",
		    ynode_where(at, where, sizeof(where)), msg);
	return -1;
}

int
notify_conf_keys(const struct ynode *block, const char * const *known,
    char *err, size_t errlen)
{
	const char	*k;
	size_t		 i, j;
	int		 ok;

	if (block == NULL || block->type != YNODE_MAP)
		return notify_conf_error(block, err, errlen,
		    "a notifier must be a mapping");
	for (i = 0; i < block->nitems; i++) {
		k = block->keys[i]->value;
		ok = 0;
		for (j = 0; notify_common_keys[j] != NULL && !ok; j++)
			ok = strcmp(notify_common_keys[j], k) == 0;
		for (j = 0; known != NULL && known[j] != NULL && !ok; j++)
			ok = strcmp(known[j], k) == 0;
		if (!ok)
			return notify_conf_error(block->keys[i], err, errlen,
			    "unknown key '%s' in a %s notifier", k,
			    ynode_get(block, "type") != NULL &&
			    ynode_get(block, "type")->value != NULL ?
			    ynode_get(block, "type")->value : "");
	}
	return 0;
}

/* The scalar under key, NULL when absent; -1 when it is not a scalar. */
static int
notify_conf_scalar(const struct ynode *block, const char *key, int required,
    const struct ynode **out, char *err, size_t errlen)
{
	const struct ynode	*n = ynode_get(block, key);

	*out = NULL;
	if (n == NULL || (n->type == YNODE_SCALAR && ynode_is_null(n))) {
		if (required)
			return notify_conf_error(n != NULL ? n : block, err,
			    errlen, "missing '%s'", key);
		return 0;
	}
	if (n->type != YNODE_SCALAR)
		return notify_conf_error(n, err, errlen,
		    "'%s' must be a scalar, not a %s", key,
		    ynode_type_name(n->type));
	*out = n;
	return 0;
}

int
notify_conf_string(const struct ynode *block, const char *key, int required,
    char **out, char *err, size_t errlen)
{
	const struct ynode	*n;

	*out = NULL;
	if (notify_conf_scalar(block, key, required, &n, err, errlen) == -1)
		return -1;
	if (n == NULL)
		return 0;
	if (strlen(n->value) != n->valuelen)
		return notify_conf_error(n, err, errlen,
		    "'%s' contains a NUL byte", key);
	if ((*out = strdup(n->value)) == NULL)
		return notify_conf_error(n, err, errlen, "out of memory");
	return 0;
}

int
notify_conf_duration_ms(const struct ynode *block, const char *key, long def,
    long *out, char *err, size_t errlen)
{
	const struct ynode	*n;
	char			*end;
	unsigned long long	 v;
	long			 mult;

	*out = def;
	if (notify_conf_scalar(block, key, 0, &n, err, errlen) == -1)
		return -1;
	if (n == NULL)
		return 0;
	errno = 0;
	if (!isdigit((unsigned char)n->value[0]))
		goto bad;
	v = strtoull(n->value, &end, 10);
	if (errno != 0)
		goto bad;
	if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (*end == '\0' || strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		mult = 3600 * 1000;
	else
		goto bad;
	if (v == 0 || v > (unsigned long long)(LONG_MAX / 1000) / mult)
		goto bad;
	*out = (long)v * mult;
	return 0;
bad:
	return notify_conf_error(n, err, errlen,
	    "'%s': bad duration '%s' (a positive number with ms, s, m or h)",
	    key, n->value);
}

int
notify_conf_bool(const struct ynode *block, const char *key, int def,
    int *out, char *err, size_t errlen)
{
	const struct ynode	*n;

	*out = def;
	if (notify_conf_scalar(block, key, 0, &n, err, errlen) == -1)
		return -1;
	if (n == NULL)
		return 0;
	if (strcmp(n->value, "true") == 0 || strcmp(n->value, "yes") == 0)
		*out = 1;
	else if (strcmp(n->value, "false") == 0 ||
	    strcmp(n->value, "no") == 0)
		*out = 0;
	else
		return notify_conf_error(n, err, errlen,
		    "'%s' must be true or false", key);
	return 0;
}

int
notify_conf_secret_file(const struct ynode *block, const char *key,
    int required, char **out, size_t *outlen, char *err, size_t errlen)
{
	const struct ynode	*n;
	struct stat		 st;
	char			*buf = NULL, path[PATH_MAX];
	size_t			 len = 0;
	ssize_t			 r;
	int			 fd;

	*out = NULL;
	if (outlen != NULL)
		*outlen = 0;
	if (notify_conf_scalar(block, key, required, &n, err, errlen) == -1)
		return -1;
	if (n == NULL)
		return 0;
	/* A relative name is a systemd credential (LoadCredential=), as
	 * for the other notifiers' *_file options: the daemon's working
	 * directory means nothing. */
	if (n->value[0] != '/') {
		const char *dir = getenv("CREDENTIALS_DIRECTORY");

		if (dir == NULL || *dir == '\0')
			return notify_conf_error(n, err, errlen, "%s: \"%s\" "
			    "is a relative name but $CREDENTIALS_DIRECTORY is "
			    "not set (use an absolute path or LoadCredential=)",
			    key, n->value);
		if (strstr(n->value, "..") != NULL)
			return notify_conf_error(n, err, errlen, "%s: a "
			    "credential name may not contain \"..\"", key);
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    n->value) >= sizeof(path))
			return notify_conf_error(n, err, errlen, "%s: the path "
			    "is too long", key);
	} else if ((size_t)snprintf(path, sizeof(path), "%s", n->value) >=
	    sizeof(path))
		return notify_conf_error(n, err, errlen, "%s: the path is too "
		    "long", key);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return notify_conf_error(n, err, errlen, "%s: %s: %s", key,
		    path, strerror(errno));
	if (fstat(fd, &st) == -1) {
		notify_conf_error(n, err, errlen, "%s: %s: %s", key, path,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		notify_conf_error(n, err, errlen, "%s: %s: not a regular file",
		    key, path);
		goto fail;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		notify_conf_error(n, err, errlen, "%s: %s is readable or "
		    "writable by others (mode %04o); chmod o-rw it", key,
		    path, (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	if ((buf = calloc(1, NOTIFY_SECRET_MAX + 2)) == NULL) {
		notify_conf_error(n, err, errlen, "out of memory");
		goto fail;
	}
	while (len <= NOTIFY_SECRET_MAX) {
		r = read(fd, buf + len, NOTIFY_SECRET_MAX + 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			notify_conf_error(n, err, errlen, "%s: %s: %s", key,
			    path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > NOTIFY_SECRET_MAX) {
		notify_conf_error(n, err, errlen, "%s: %s: longer than %d "
		    "bytes", key, path, NOTIFY_SECRET_MAX);
		goto fail;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (len == 0) {
		notify_conf_error(n, err, errlen, "%s: %s is empty", key,
		    path);
		goto fail;
	}
	if (memchr(buf, '\0', len) != NULL) {
		notify_conf_error(n, err, errlen, "%s: %s contains a NUL byte",
		    key, path);
		goto fail;
	}
	close(fd);
	*out = buf;
	if (outlen != NULL)
		*outlen = len;
	return 0;
fail:
	if (buf != NULL) {
		explicit_bzero(buf, NOTIFY_SECRET_MAX + 2);
		free(buf);
	}
	close(fd);
	return -1;
}

/* A list of check ids: every one must be in the catalogue. */
static int
notify_conf_checks(const struct ynode *block, const char *key, char ***out,
    size_t *nout, char *err, size_t errlen)
{
	const struct ynode	*n = ynode_get(block, key), *it;
	char			**v;
	size_t			 i;

	*out = NULL;
	*nout = 0;
	if (n == NULL)
		return 0;
	if (n->type != YNODE_SEQ)
		return notify_conf_error(n, err, errlen,
		    "'%s' must be a list of check ids", key);
	if ((v = calloc(n->nitems + 1, sizeof(*v))) == NULL)
		return notify_conf_error(n, err, errlen, "out of memory");
	for (i = 0; i < n->nitems; i++) {
		it = n->items[i];
		if (it->type != YNODE_SCALAR || catalog_find(it->value) == NULL) {
			notify_conf_error(it, err, errlen,
			    "'%s': unknown check id '%s'", key,
			    it->type == YNODE_SCALAR ? it->value : "");
			goto fail;
		}
		if ((v[i] = strdup(it->value)) == NULL) {
			notify_conf_error(it, err, errlen, "out of memory");
			goto fail;
		}
	}
	*out = v;
	*nout = n->nitems;
	return 0;
fail:
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
	return -1;
}

static void
notify_free_strv(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

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
notify_load_module(const struct ynode *pathn, void **dl, char *err,
    size_t errlen)
{
	const struct notify_module	*m;
	const char			*e;
	void				*h;

	*dl = NULL;
	if ((h = dlopen(pathn->value, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		e = dlerror();
		notify_conf_error(pathn, err, errlen, "cannot load module: %s",
		    e != NULL ? e : pathn->value);
		return NULL;
	}
	(void)dlerror();
	m = dlsym(h, "keyhealthd_notify_module");
	if (m == NULL) {
		notify_conf_error(pathn, err, errlen, "module %s does not "
		    "export keyhealthd_notify_module (not a keyhealthd "
		    "notifier module)", pathn->value);
		goto fail;
	}
	if (m->abi != NOTIFY_MODULE_ABI) {
		notify_conf_error(pathn, err, errlen, "module %s has notifier "
		    "ABI %u, this keyhealthd needs %u (rebuild the module)",
		    pathn->value, m->abi, NOTIFY_MODULE_ABI);
		goto fail;
	}
	if (m->ops == NULL || m->ops->configure == NULL ||
	    m->ops->send == NULL || m->ops->free == NULL) {
		notify_conf_error(pathn, err, errlen, "module %s: incomplete "
		    "ops (configure, send and free are required)",
		    pathn->value);
		goto fail;
	}
	*dl = h;
	return m->ops;
fail:
	dlclose(h);
	return NULL;
}

struct notifier *
notify_new(const struct ynode *block, char *err, size_t errlen)
{
	const struct ynode	*typen, *namen, *sevn, *pathn;
	struct notifier		*n;
	char			 tmp[256];

	if (block == NULL || block->type != YNODE_MAP) {
		notify_conf_error(block, err, errlen,
		    "a notifier must be a mapping (type: ...)");
		return NULL;
	}
	if (notify_conf_scalar(block, "type", 1, &typen, err, errlen) == -1)
		return NULL;
	if ((n = calloc(1, sizeof(*n))) == NULL) {
		notify_conf_error(block, err, errlen, "out of memory");
		return NULL;
	}
	n->min_severity = SEV_INFO;
	if (strcmp(typen->value, "module") == 0) {
		if (notify_conf_scalar(block, "path", 1, &pathn, err,
		    errlen) == -1)
			goto fail;
		if ((n->ops = notify_load_module(pathn, &n->dl, err,
		    errlen)) == NULL)
			goto fail;
	} else if ((n->ops = notify_lookup(typen->value)) == NULL) {
		const char * const	*t = notify_type_names();
		size_t			 i, off = 0;

		tmp[0] = '\0';
		for (i = 0; t[i] != NULL && off < sizeof(tmp); i++)
			off += (size_t)snprintf(tmp + off, sizeof(tmp) - off,
			    "%s, ", t[i]);
		notify_conf_error(typen, err, errlen, "unknown notifier type "
		    "'%s' (known: %smodule)", typen->value, tmp);
		goto fail;
	}
	if ((n->type = strdup(typen->value)) == NULL)
		goto oom;
	if (notify_conf_scalar(block, "name", 0, &namen, err, errlen) == -1)
		goto fail;
	if (namen != NULL && !notify_name_ok(namen->value)) {
		notify_conf_error(namen, err, errlen, "bad notifier name '%s' "
		    "(1 to %d of A-Z a-z 0-9 _ - ., not starting with .)",
		    namen->value, NOTIFY_NAME_MAX);
		goto fail;
	}
	if ((n->name = strdup(namen != NULL ? namen->value :
	    n->ops->type != NULL ? n->ops->type : typen->value)) == NULL)
		goto oom;
	if (!notify_name_ok(n->name)) {
		notify_conf_error(typen, err, errlen, "give this notifier a "
		    "name: (its type '%s' is not a valid name)", n->name);
		goto fail;
	}
	if (notify_conf_scalar(block, "min_severity", 0, &sevn, err,
	    errlen) == -1)
		goto fail;
	if (sevn != NULL && (severity_parse(sevn->value,
	    &n->min_severity) == -1 || n->min_severity == SEV_OK)) {
		notify_conf_error(sevn, err, errlen, "min_severity: '%s' is "
		    "not one of info, warning, unknown, critical",
		    sevn->value);
		goto fail;
	}
	if (notify_conf_checks(block, "checks", &n->checks, &n->nchecks, err,
	    errlen) == -1 ||
	    notify_conf_checks(block, "exclude_checks", &n->exclude,
	    &n->nexclude, err, errlen) == -1)
		goto fail;
	if (n->ops->configure(block, &n->state, err, errlen) == -1) {
		n->state = NULL;
		goto fail;
	}
	return n;
oom:
	notify_conf_error(block, err, errlen, "out of memory");
fail:
	notify_free(n);
	return NULL;
}

int
notify_new_all(const struct ynode *seq, struct notifier ***out, size_t *nout,
    char *err, size_t errlen)
{
	struct notifier	**v;
	size_t		  i, j;

	*out = NULL;
	*nout = 0;
	if (seq == NULL)
		return 0;
	if (seq->type != YNODE_SEQ)
		return notify_conf_error(seq, err, errlen,
		    "notifiers must be a list");
	if ((v = calloc(seq->nitems + 1, sizeof(*v))) == NULL)
		return notify_conf_error(seq, err, errlen, "out of memory");
	for (i = 0; i < seq->nitems; i++) {
		if ((v[i] = notify_new(seq->items[i], err, errlen)) == NULL)
			goto fail;
		for (j = 0; j < i; j++)
			if (strcmp(v[j]->name, v[i]->name) == 0) {
				notify_conf_error(seq->items[i], err, errlen,
				    "a second notifier named '%s' (give each "
				    "a unique name:)", v[i]->name);
				goto fail;
			}
	}
	*out = v;
	*nout = seq->nitems;
	return 0;
fail:
	notify_free_all(v, seq->nitems);
	return -1;
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
