/*
 * Logging back ends: journald or stderr.  See log.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

static int		 log_verbose;
static int		 log_journal;
static const char	*log_ident = "keyhealthd";
static void		(*log_stderr_hook)(void);

/*
 * systemd sets JOURNAL_STREAM to "dev:inode" of the stream it connected to
 * stderr; only then is stderr really the journal (a child may inherit the
 * variable with stderr redirected elsewhere).
 */
static int
log_stderr_is_journal(void)
{
	const char		*js;
	struct stat		 st;
	unsigned long long	 dev, ino;
	char			 end;

	if ((js = getenv("JOURNAL_STREAM")) == NULL)
		return 0;
	if (sscanf(js, "%llu:%llu%c", &dev, &ino, &end) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(enum log_target target, int verbose, const char *ident)
{
	int	saved = errno;

	log_verbose = verbose;
	if (ident != NULL)
		log_ident = ident;
	switch (target) {
	case LOG_TO_JOURNAL:
		log_journal = 1;
		break;
	case LOG_TO_STDERR:
		log_journal = 0;
		break;
	case LOG_TO_AUTO:
	default:
		log_journal = log_stderr_is_journal();
		break;
	}
	errno = saved;
}

void
log_setverbose(int verbose)
{
	log_verbose = verbose;
}

int
log_getverbose(void)
{
	return log_verbose;
}

void
log_set_stderr_hook(void (*fn)(void))
{
	log_stderr_hook = fn;
}

int
log_to_journal(void)
{
	return log_journal;
}

static const char *
log_prio_name(int prio)
{
	switch (prio) {
	case LOG_PRIO_ERR:
		return "error";
	case LOG_PRIO_WARNING:
		return "warning";
	case LOG_PRIO_NOTICE:
		return "notice";
	case LOG_PRIO_INFO:
		return "info";
	default:
		return "debug";
	}
}

void
log_vemit(int prio, int with_errno, const char *file, int line,
    const char *func, const char *fmt, va_list ap)
{
	char	 msg[2048];
	char	 linebuf[32], filebuf[256];
	int	 saved = errno;
	size_t	 len;

	if (prio >= LOG_PRIO_DEBUG && log_verbose < 1) {
		errno = saved;
		return;
	}
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		len = strlen(msg);
		(void)snprintf(msg + len, sizeof(msg) - len, ": %s",
		    strerror(saved));
	}
	if (log_journal) {
		(void)snprintf(filebuf, sizeof(filebuf), "CODE_FILE=%s", file);
		(void)snprintf(linebuf, sizeof(linebuf), "CODE_LINE=%d", line);
		(void)sd_journal_send_with_location(filebuf, linebuf, func,
		    "MESSAGE=%s", msg, "PRIORITY=%d", prio,
		    "SYSLOG_IDENTIFIER=%s", log_ident, NULL);
	} else {
		struct timespec	ts;
		struct tm	tm;
		char		tbuf[32];

		(void)clock_gettime(CLOCK_REALTIME, &ts);
		(void)gmtime_r(&ts.tv_sec, &tm);
		(void)strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (log_stderr_hook != NULL)
			log_stderr_hook();
		if (log_verbose >= 1)
			(void)fprintf(stderr, "%s %s[%ld] %s: %s (%s:%d)\n",
			    tbuf, log_ident, (long)getpid(),
			    log_prio_name(prio), msg, file, line);
		else
			(void)fprintf(stderr, "%s %s: %s: %s\n", tbuf,
			    log_ident, log_prio_name(prio), msg);
	}
	errno = saved;
}

void
log_emit(int prio, int with_errno, const char *file, int line,
    const char *func, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vemit(prio, with_errno, file, line, func, fmt, ap);
	va_end(ap);
}

void
log_fatal(int with_errno, const char *file, int line, const char *func,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vemit(LOG_PRIO_ERR, with_errno, file, line, func, fmt, ap);
	va_end(ap);
	exit(1);
}

static void
log_libevent_cb(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		if (log_verbose >= 2)
			log_emit(LOG_PRIO_DEBUG, 0, "libevent", 0, "libevent",
			    "libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_emit(LOG_PRIO_INFO, 0, "libevent", 0, "libevent",
		    "libevent: %s", msg);
		break;
	default:
		log_emit(LOG_PRIO_WARNING, 0, "libevent", 0, "libevent",
		    "libevent: %s", msg);
		break;
	}
}

void
log_hook_libevent(void)
{
	event_set_log_callback(log_libevent_cb);
}
