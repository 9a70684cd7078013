/*
 * journald notifier: one structured entry per event, with a MESSAGE_ID per
 * check id that systemd/keyhealthd.catalog explains (journalctl -x).
 * sd_journal_send() is a datagram to a local socket: it does not block
 * the loop, and it succeeds even when nobody listens, so an entry is
 * acknowledged as soon as it is handed over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "alert.h"
#include "catalog.h"
#include "notify.h"
#include "notify_util.h"
#include "ynode.h"


struct journald {
	int	unused;
};

/* The MESSAGE_ID that systemd/keyhealthd.catalog explains. */
static const char *
journald_msgid(const struct alert_event *ev)
{
	const struct catalog_entry	*e;

	if (ev->status == ALERT_RESOLVED)
		return catalog_resolved.message_id;
	return (e = catalog_find(ev->check)) != NULL ? e->message_id : NULL;
}

static int
journald_priority(const struct alert_event *ev)
{
	if (ev->status == ALERT_RESOLVED)
		return 5;
	switch (ev->severity) {
	case SEV_CRITICAL:
		return 2;
	case SEV_WARNING:
		return 4;
	case SEV_UNKNOWN:
		return 3;
	case SEV_OK:
	case SEV_INFO:
	default:
		return 6;
	}
}

static int
journald_configure(const struct ynode *block, void **state,
    struct notify_conf *nc)
{
	struct journald	*j;

	if (notify_util_check_keys(block, "journald", NULL, nc) == -1)
		return -1;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return notify_util_error(nc, block, "out of memory");
	*state = j;
	return 0;
}

static int
journald_start(void *state, const struct notify_env *env, char *err,
    size_t errlen)
{
	(void)state;
	(void)env;
	(void)err;
	(void)errlen;
	return 0;
}

/* "FIELD=value" into a fresh string; NULL on out of memory. */
static char *
journald_field(const char *name, const char *value)
{
	char	*s;

	if (asprintf(&s, "%s=%s", name, value != NULL ? value : "") == -1)
		return NULL;
	return s;
}

static int
journald_send(void *state, const struct alert_event *ev, notify_done_cb done,
    void *arg)
{
	struct iovec	 iov[16];
	char		*f[16], *details = NULL, prio[2];
	const char	*msgid, *name;
	size_t		 n = 0, i;
	int		 r;

	(void)state;
	name = ev->key_name != NULL ? ev->key_name : ev->key_arn;
	if (ev->status == ALERT_RESOLVED)
		r = asprintf(&f[n], "MESSAGE=RESOLVED %s %s: %s", ev->check,
		    name, ev->summary != NULL ? ev->summary : "");
	else
		r = asprintf(&f[n], "MESSAGE=%s %s %s: %s",
		    ev->severity == SEV_CRITICAL ? "CRITICAL" :
		    ev->severity == SEV_WARNING ? "WARNING" :
		    ev->severity == SEV_UNKNOWN ? "UNKNOWN" : "INFO",
		    ev->check, name, ev->summary != NULL ? ev->summary : "");
	if (r == -1)
		return -1;
	n++;
	prio[0] = (char)('0' + journald_priority(ev));
	prio[1] = '\0';
	f[n++] = journald_field("PRIORITY", prio);
	f[n++] = journald_field("SYSLOG_IDENTIFIER", "keyhealthd");
	if ((msgid = journald_msgid(ev)) != NULL)
		f[n++] = journald_field("MESSAGE_ID", msgid);
	f[n++] = journald_field("KEYHEALTH_CHECK", ev->check);
	f[n++] = journald_field("KEYHEALTH_STATUS",
	    alert_status_name(ev->status));
	f[n++] = journald_field("KEYHEALTH_SEVERITY",
	    severity_name(ev->severity));
	f[n++] = journald_field("KEYHEALTH_KEY_ARN", ev->key_arn);
	f[n++] = journald_field("KEYHEALTH_KEY_NAME", name);
	f[n++] = journald_field("KEYHEALTH_FINGERPRINT", ev->fingerprint);
	f[n++] = journald_field("KEYHEALTH_EVENT_ID", ev->id);
	if (ev->region != NULL)
		f[n++] = journald_field("KEYHEALTH_KEY_REGION", ev->region);
	if (ev->account != NULL)
		f[n++] = journald_field("KEYHEALTH_KEY_ACCOUNT", ev->account);
	if (ev->details != NULL && json_object_size(ev->details) > 0 &&
	    (details = json_dumps(ev->details, JSON_COMPACT |
	    JSON_SORT_KEYS)) != NULL)
		f[n++] = journald_field("KEYHEALTH_DETAILS", details);
	free(details);
	for (i = 0; i < n; i++) {
		if (f[i] == NULL)
			goto fail;
		iov[i].iov_base = f[i];
		iov[i].iov_len = strlen(f[i]);
	}
	r = sd_journal_sendv(iov, (int)n);
	for (i = 0; i < n; i++)
		free(f[i]);
	if (r < 0)
		done(arg, NOTIFY_RETRY, strerror(-r));
	else
		done(arg, NOTIFY_ACK, NULL);
	return 0;
fail:
	for (i = 0; i < n; i++)
		free(f[i]);
	return -1;
}

static void
journald_stop(void *state)
{
	(void)state;
}

static void
journald_free(void *state)
{
	free(state);
}

const struct notify_ops notify_journald_ops = {
	.type = "journald",
	.configure = journald_configure,
	.start = journald_start,
	.send = journald_send,
	.stop = journald_stop,
	.free = journald_free,
};
