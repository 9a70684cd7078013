/*
 * Durations as written in the configuration: "30s", "5m", "1h30m", "2d".
 * Whole seconds only: every interval and timeout keyhealthd has is measured
 * in seconds or more, so "500ms" is refused rather than rounded.
 */
#ifndef KEYHEALTHD_DURATION_H
#define KEYHEALTHD_DURATION_H

#include <stddef.h>

/* The largest duration accepted: 3650 days. */
#define DURATION_MAX	(3650L * 86400L)

/*
 * Parses s: one or more NUMBER UNIT pairs with units d, h, m, s, each unit
 * at most once and from the largest to the smallest ("1d12h", "1h30m",
 * "90s"), or a bare "0".  No spaces, signs or fractions.  On success stores
 * the seconds in *out and returns 0; otherwise returns -1 with
 * "bad duration 'S': REASON" in err (S shortened if long).
 */
int		 duration_parse(const char *s, long *out, char *err,
		    size_t errlen);

/*
 * Formats secs (>= 0) in the canonical form that duration_parse() reads
 * back: the largest units first, zero parts left out ("1h30m", "2d",
 * "1d1s", "0s").  Returns buf.
 */
const char	*duration_format(long secs, char *buf, size_t len);

#endif
