/*
 * Logging in the OpenBSD daemons' style: log_warn() appends strerror(errno),
 * log_warnx() does not; fatal()/fatalx() are for start-up and can't-happen
 * only.  Messages go to journald (with CODE_FILE/CODE_LINE/CODE_FUNC) when
 * stderr is the journal or when asked for, else to stderr.  errno is
 * preserved across every call.
 */
#ifndef KEYHEALTHD_LOG_H
#define KEYHEALTHD_LOG_H

#include <stdarg.h>

enum log_target {
	LOG_TO_AUTO = 0,	/* journald if JOURNAL_STREAM matches stderr */
	LOG_TO_STDERR,
	LOG_TO_JOURNAL
};

/* verbose: 0 = warnings and info, 1 = + debug, 2 = + library debug. */
void	log_init(enum log_target target, int verbose, const char *ident);
void	log_setverbose(int verbose);
int	log_getverbose(void);
/* Non-zero when log lines go to journald. */
int	log_to_journal(void);
/*
 * fn (or NULL) runs before each line written to stderr, so that a caller
 * drawing a progress line on a terminal can erase it first and no log
 * line lands in the middle of it.
 */
void	log_set_stderr_hook(void (*fn)(void));

void	log_emit(int prio, int with_errno, const char *file, int line,
	    const char *func, const char *fmt, ...)
	    __attribute__((format(printf, 6, 7)));
void	log_vemit(int prio, int with_errno, const char *file, int line,
	    const char *func, const char *fmt, va_list ap)
	    __attribute__((format(printf, 6, 0)));
void	log_fatal(int with_errno, const char *file, int line,
	    const char *func, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6), noreturn));

/* Priorities as syslog(3); kept numeric so callers need not include it. */
#define LOG_PRIO_ERR		3
#define LOG_PRIO_WARNING	4
#define LOG_PRIO_NOTICE		5
#define LOG_PRIO_INFO		6
#define LOG_PRIO_DEBUG		7

#define log_warn(...)	log_emit(LOG_PRIO_WARNING, 1, __FILE__, __LINE__, \
			    __func__, __VA_ARGS__)
#define log_warnx(...)	log_emit(LOG_PRIO_WARNING, 0, __FILE__, __LINE__, \
			    __func__, __VA_ARGS__)
#define log_info(...)	log_emit(LOG_PRIO_INFO, 0, __FILE__, __LINE__, \
			    __func__, __VA_ARGS__)
#define log_notice(...)	log_emit(LOG_PRIO_NOTICE, 0, __FILE__, __LINE__, \
			    __func__, __VA_ARGS__)
#define log_debug(...)	log_emit(LOG_PRIO_DEBUG, 0, __FILE__, __LINE__, \
			    __func__, __VA_ARGS__)
#define fatal(...)	log_fatal(1, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define fatalx(...)	log_fatal(0, __FILE__, __LINE__, __func__, __VA_ARGS__)

/* Route libevent's own messages into the log. */
void	log_hook_libevent(void);

#endif
