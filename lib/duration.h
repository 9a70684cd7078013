/*
 * Durations as written in the configuration, one grammar for every option
 * (intervals, renotify, timeouts of KMS and of the notifiers): "500ms",
 * "30s", "5m", "1h30m", "2d".  Options measured in seconds take the same
 * strings and refuse a value that is not a whole number of seconds;
 * options that need milliseconds (notifier timeouts) read them with
 * duration_parse_ms().
 */
#ifndef KEYHEALTHD_DURATION_H
#define KEYHEALTHD_DURATION_H

#include <stddef.h>

/* The largest duration accepted: 3650 days. */
#define DURATION_MAX	(3650L * 86400L)
#define DURATION_MAX_MS	((long long)DURATION_MAX * 1000LL)

/*
 * Parses s: one or more NUMBER UNIT pairs with units d, h, m, s, ms, each
 * unit at most once and from the largest to the smallest ("1d12h",
 * "1h30m", "1s500ms", "90s"), or a bare "0".  No spaces, signs or
 * fractions, and a number needs its unit ("30" is refused: seconds or
 * minutes?).  On success stores the milliseconds in *out_ms and returns 0;
 * otherwise returns -1 with "bad duration 'S': REASON" in err (S shortened
 * if long).
 */
int		 duration_parse_ms(const char *s, long long *out_ms, char *err,
		    size_t errlen);
/* The same for an option measured in whole seconds: "1500ms" is refused,
 * "2000ms" is 2. */
int		 duration_parse(const char *s, long *out, char *err,
		    size_t errlen);

/*
 * Formats secs (>= 0) in the canonical form that duration_parse() reads
 * back: the largest units first, zero parts left out ("1h30m", "2d",
 * "1d1s", "0s").  Returns buf.
 */
const char	*duration_format(long secs, char *buf, size_t len);
/* The same for milliseconds ("1m30s", "1s500ms", "100ms"). */
const char	*duration_format_ms(long long ms, char *buf, size_t len);

#endif
