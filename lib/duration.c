/*
 * Duration parsing and formatting, see duration.h.
 */
#include <stdio.h>
#include <string.h>

#include "duration.h"

static const struct {
	char	unit;
	long	secs;
} duration_units[] = {
	{ 'd', 86400 },
	{ 'h', 3600 },
	{ 'm', 60 },
	{ 's', 1 },
};
#define DURATION_NUNITS	(sizeof(duration_units) / sizeof(duration_units[0]))

static int
duration_fail(const char *s, char *err, size_t errlen, const char *reason)
{
	(void)snprintf(err, errlen, "bad duration '%.40s%s': %s", s,
	    strlen(s) > 40 ? "..." : "", reason);
	return -1;
}

int
duration_parse(const char *s, long *out, char *err, size_t errlen)
{
	const char	*p = s;
	long		 total = 0, n;
	size_t		 u, next = 0;
	char		 unit[8], reason[96];

	if (*s == '\0')
		return duration_fail(s, err, errlen, "empty (write e.g. 30s, "
		    "5m, 1h, 1h30m, 2d)");
	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	while (*p != '\0') {
		if (*p < '0' || *p > '9') {
			if (p == s && (*p == '-' || *p == '+'))
				return duration_fail(s, err, errlen,
				    "no sign allowed");
			return duration_fail(s, err, errlen,
			    "expected a number (write e.g. 30s, 5m, 1h, "
			    "1h30m, 2d)");
		}
		n = 0;
		while (*p >= '0' && *p <= '9') {
			n = n * 10 + (*p - '0');
			if (n > DURATION_MAX)
				return duration_fail(s, err, errlen,
				    "too large (at most 3650d)");
			p++;
		}
		if (*p == '\0')
			return duration_fail(s, err, errlen,
			    "missing unit (use s, m, h, d)");
		if (*p == '.')
			return duration_fail(s, err, errlen, "fractions are "
			    "not supported (write 1m30s for 1.5m)");
		/* The unit: letters up to the next digit, for the message. */
		for (u = 0; p[u] != '\0' && (p[u] < '0' || p[u] > '9') &&
		    u < sizeof(unit) - 1; u++)
			unit[u] = p[u];
		unit[u] = '\0';
		if (strcmp(unit, "ms") == 0)
			return duration_fail(s, err, errlen, "unit 'ms' is "
			    "not supported: durations are whole seconds");
		for (u = 0; u < DURATION_NUNITS; u++)
			if (strlen(unit) == 1 && unit[0] ==
			    duration_units[u].unit)
				break;
		if (strchr(unit, ' ') != NULL || strchr(unit, '\t') != NULL)
			return duration_fail(s, err, errlen,
			    "no spaces allowed (write 1h30m)");
		if (u == DURATION_NUNITS) {
			(void)snprintf(reason, sizeof(reason), "unknown unit "
			    "'%s' (use s, m, h, d)", unit);
			return duration_fail(s, err, errlen, reason);
		}
		if (u < next) {
			(void)snprintf(reason, sizeof(reason), "unit '%s' "
			    "repeated or out of order (largest first, as in "
			    "1h30m)", unit);
			return duration_fail(s, err, errlen, reason);
		}
		next = u + 1;
		if (n > DURATION_MAX / duration_units[u].secs ||
		    total > DURATION_MAX - n * duration_units[u].secs)
			return duration_fail(s, err, errlen,
			    "too large (at most 3650d)");
		total += n * duration_units[u].secs;
		p++;
	}
	*out = total;
	return 0;
}

const char *
duration_format(long secs, char *buf, size_t len)
{
	size_t	u, off = 0;
	long	n;
	int	r;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (secs <= 0) {
		(void)snprintf(buf, len, "0s");
		return buf;
	}
	for (u = 0; u < DURATION_NUNITS; u++) {
		n = secs / duration_units[u].secs;
		secs %= duration_units[u].secs;
		if (n == 0)
			continue;
		r = snprintf(buf + off, len - off, "%ld%c", n,
		    duration_units[u].unit);
		if (r < 0 || (size_t)r >= len - off)
			break;
		off += (size_t)r;
	}
	return buf;
}
