/*
 * The process around the loop: signals as libevent events funnelled into
 * one handler (no work in signal context, as tmux does), the systemd
 * notification protocol, and the watchdog keep-alive.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "duration.h"
#include "log.h"
#include "keyhealthd.h"

static const int proc_signals[] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1 };

static void
proc_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct proc	*p = arg;

	(void)what;
	p->on_signal((int)sig, p->arg);
}

/*
 * The notification protocol without sd_notify(3), whose send blocks
 * while the receiving socket's queue is full: a manager (or a test, or
 * a wrapper) that stops reading NOTIFY_SOCKET would stop the loop with
 * it.  Ours never waits: a datagram that does not fit is dropped and
 * counted; the next status line or keep-alive carries the news.
 */
static int			 proc_nfd = -1;	/* -1: not yet; -2: none */
static struct sockaddr_un	 proc_naddr;
static socklen_t		 proc_nlen;
static unsigned long		 proc_ndropped;

static int
proc_notify_open(void)
{
	const char	*e = getenv("NOTIFY_SOCKET");
	size_t		 len;

	if (proc_nfd != -1)
		return proc_nfd >= 0 ? 0 : -1;
	proc_nfd = -2;
	if (e == NULL || (e[0] != '/' && e[0] != '@') ||
	    (len = strlen(e)) >= sizeof(proc_naddr.sun_path) || len < 2)
		return -1;
	memset(&proc_naddr, 0, sizeof(proc_naddr));
	proc_naddr.sun_family = AF_UNIX;
	memcpy(proc_naddr.sun_path, e, len);
	if (e[0] == '@')
		proc_naddr.sun_path[0] = '\0';	/* abstract namespace */
	proc_nlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	    (e[0] == '@' ? 0 : 1));
	if ((proc_nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		log_warn("sd_notify: socket");
		proc_nfd = -2;
		return -1;
	}
	return 0;
}

static void
proc_sd_send(const char *msg)
{
	if (proc_notify_open() == -1)
		return;
	if (sendto(proc_nfd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
	    (const struct sockaddr *)&proc_naddr, proc_nlen) == -1 &&
	    proc_ndropped++ == 0)
		log_warn("sd_notify: \"%.40s\" not sent (the service "
		    "manager does not read its socket?); not waiting for it",
		    msg);
}

static void
proc_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	/* Runs from the loop: if the loop is stuck, systemd notices. */
	proc_sd_send("WATCHDOG=1");
}

/*
 * The soft open-file limit up to the hard one: 1,024 is the usual soft
 * limit, and connections to the HTTP endpoint, KMS and the receivers all
 * count against it.  The unit sets LimitNOFILE= so this is a no-op there.
 */
static void
proc_raise_nofile(void)
{
	struct rlimit	rl;
	rlim_t		old;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= rl.rlim_max)
		return;
	old = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_debug("open files: cannot raise the soft limit %llu to "
		    "%llu: %s", (unsigned long long)old,
		    (unsigned long long)rl.rlim_max, strerror(errno));
	else
		log_debug("open files: soft limit raised from %llu to %llu",
		    (unsigned long long)old, (unsigned long long)rl.rlim_max);
}

/*
 * Test only: KEYHEALTHD_TEST_STALL=DURATION blocks the loop that long after
 * start, for good, so that the systemd tests can watch the watchdog catch a
 * stuck daemon.  Only the environment reaches it, never the configuration.
 */
static void
proc_stall_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_warnx("KEYHEALTHD_TEST_STALL: stalling the event loop (test only)");
	for (;;)
		(void)pause();
}

static int
proc_stall_arm(struct proc *p)
{
	struct timeval	 tv;
	const char	*env;
	char		 err[128];
	long		 secs;

	if ((env = getenv("KEYHEALTHD_TEST_STALL")) == NULL || *env == '\0')
		return 0;
	if (duration_parse(env, &secs, err, sizeof(err)) == -1) {
		log_warnx("KEYHEALTHD_TEST_STALL: %s", err);
		return -1;
	}
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = 0;
	p->stall = evtimer_new(p->base, proc_stall_cb, p);
	if (p->stall == NULL || evtimer_add(p->stall, &tv) == -1) {
		log_warnx("cannot arm the KEYHEALTHD_TEST_STALL timer");
		return -1;
	}
	log_warnx("KEYHEALTHD_TEST_STALL: the event loop stalls in %lds "
	    "(test only)", secs);
	return 0;
}

int
proc_init(struct proc *p, struct event_base *base,
    void (*on_signal)(int, void *), void *arg)
{
	struct timeval	 tv;
	uint64_t	 usec = 0;
	size_t		 i;

	memset(p, 0, sizeof(*p));
	p->base = base;
	p->on_signal = on_signal;
	p->arg = arg;
	(void)signal(SIGPIPE, SIG_IGN);
	proc_raise_nofile();
	for (i = 0; i < PROC_NSIGNALS; i++) {
		p->sig[i] = evsignal_new(base, proc_signals[i], proc_signal_cb,
		    p);
		if (p->sig[i] == NULL || evsignal_add(p->sig[i], NULL) == -1) {
			log_warnx("cannot watch signal %d", proc_signals[i]);
			return -1;
		}
	}
	/* sd_watchdog_enabled() checks WATCHDOG_PID against us. */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		usec /= 2;
		tv.tv_sec = (time_t)(usec / 1000000);
		tv.tv_usec = (suseconds_t)(usec % 1000000);
		p->watchdog = event_new(base, -1, EV_PERSIST, proc_watchdog_cb,
		    p);
		if (p->watchdog == NULL || event_add(p->watchdog, &tv) == -1) {
			log_warnx("cannot arm the watchdog timer");
			return -1;
		}
		log_debug("watchdog: keep-alive every %lld ms",
		    (long long)(usec / 1000));
	}
	return proc_stall_arm(p);
}

void
proc_free(struct proc *p)
{
	size_t	i;

	for (i = 0; i < PROC_NSIGNALS; i++)
		if (p->sig[i] != NULL)
			event_free(p->sig[i]);
	if (p->watchdog != NULL)
		event_free(p->watchdog);
	if (p->stall != NULL)
		event_free(p->stall);
	memset(p, 0, sizeof(*p));
}

void
proc_notify(const char *fmt, ...)
{
	char	buf[512];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	proc_sd_send(buf);
}
