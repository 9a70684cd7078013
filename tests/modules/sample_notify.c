/*
 * A sample external notifier module: appends one line per event
 * ("STATUS CHECK SEVERITY ARN FINGERPRINT ID") to the file named by its
 * `file:` option.  Built as a shared object and loaded with
 * `type: module, path: ...` by the tests.  It uses nothing from keyhealthd
 * but the headers: a module cannot count on the daemon's symbols.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"
#include "ynode.h"

#ifndef SAMPLE_ABI
#define SAMPLE_ABI	NOTIFY_MODULE_ABI
#endif

struct sample {
	char	*file;
};

static const char *
sample_severity(enum severity s)
{
	switch (s) {
	case SEV_CRITICAL:
		return "critical";
	case SEV_WARNING:
		return "warning";
	case SEV_UNKNOWN:
		return "unknown";
	case SEV_INFO:
		return "info";
	case SEV_OK:
	default:
		return "ok";
	}
}

/* Its own options and the common ones; anything else is reported.
 * configured_log: a file that gets a line at every configure(), so that
 * the tests can count how often a load builds the notifier. */
static const char * const sample_known[] = { "type", "name", "path",
	"min_severity", "checks", "exclude_checks", "file", "configured_log",
	NULL };

static int
sample_configure(const struct ynode *block, void **state,
    struct notify_conf *nc)
{
	struct sample	*s;
	const char	*file = NULL, *log = NULL;
	char		 msg[160];
	FILE		*f;
	size_t		 i, j;
	int		 rc = 0;

	for (i = 0; i < block->nitems; i++) {
		for (j = 0; sample_known[j] != NULL; j++)
			if (strcmp(block->keys[i]->value, sample_known[j]) == 0)
				break;
		if (sample_known[j] == NULL) {
			(void)snprintf(msg, sizeof(msg), "sample module: "
			    "unknown option '%.64s'", block->keys[i]->value);
			nc->error(nc, block->keys[i], msg);
			rc = -1;
		} else if (block->items[i]->type != YNODE_SCALAR)
			continue;
		else if (strcmp(block->keys[i]->value, "file") == 0)
			file = block->items[i]->value;
		else if (strcmp(block->keys[i]->value, "configured_log") == 0)
			log = block->items[i]->value;
	}
	if (log != NULL && (f = fopen(log, "a")) != NULL) {
		(void)fprintf(f, "configured\n");
		(void)fclose(f);
	}
	if (file == NULL) {
		nc->error(nc, block, "sample module: missing 'file'");
		rc = -1;
	}
	if (rc == -1)
		return -1;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->file = strdup(file)) == NULL) {
		free(s);
		nc->error(nc, block, "out of memory");
		return -1;
	}
	*state = s;
	return 0;
}

static int
sample_start(void *state, const struct notify_env *env, char *err,
    size_t errlen)
{
	(void)state;
	(void)env;
	(void)err;
	(void)errlen;
	return 0;
}

static int
sample_send(void *state, const struct alert_event *ev, notify_done_cb done,
    void *arg)
{
	struct sample	*s = state;
	FILE		*f;
	int		 ok;

	if ((f = fopen(s->file, "a")) == NULL) {
		done(arg, NOTIFY_RETRY, strerror(errno));
		return 0;
	}
	ok = fprintf(f, "%s %s %s %s %s %s\n",
	    ev->status == ALERT_RESOLVED ? "resolved" : "firing", ev->check,
	    sample_severity(ev->severity), ev->key_arn, ev->fingerprint,
	    ev->id) > 0;
	ok = fclose(f) == 0 && ok;
	done(arg, ok ? NOTIFY_ACK : NOTIFY_RETRY, ok ? NULL : "write failed");
	return 0;
}

static void
sample_stop(void *state)
{
	(void)state;
}

static void
sample_free(void *state)
{
	struct sample	*s = state;

	if (s != NULL)
		free(s->file);
	free(s);
}

static const struct notify_ops sample_ops = {
	.type = "sample",
	.configure = sample_configure,
	.start = sample_start,
	.send = sample_send,
	.stop = sample_stop,
	.free = sample_free,
};

#ifndef SAMPLE_NO_DESCRIPTOR
extern const struct notify_module keyhealthd_notify_module;
const struct notify_module keyhealthd_notify_module = {
	.abi = SAMPLE_ABI,
	.name = "sample",
	.ops = &sample_ops,
};
#else
/* Something to export so the object is not empty. */
extern const struct notify_ops *sample_notify_ops(void);
const struct notify_ops *
sample_notify_ops(void)
{
	return &sample_ops;
}
#endif
