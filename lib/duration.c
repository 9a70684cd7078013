/*
 * Duration parsing and formatting, see duration.h.
 */
#include <stdio.h>
#include <string.h>

#include "duration.h"

/* Largest first: the order the grammar requires. */
static const struct {
	const char	*unit;
	long long	 ms;
} duration_units[] = {
	{ "d", 86400000LL },
	{ "h", 3600000LL },
	{ "m", 60000LL },
	{ "s", 1000LL },
	{ "ms", 1LL },
};
#define DURATION_NUNITS	(sizeof(duration_units) / sizeof(duration_units[0]))
#define DURATION_HINT	"write e.g. 500ms, 30s, 5m, 1h, 1h30m, 2d"

static int
duration_fail(const char *s, char *err, size_t errlen, const char *reason)
{
	(void)snprintf(err, errlen, "bad duration '%.40s%s': %s", s,
	    strlen(s) > 40 ? "..." : "", reason);
	return -1;
}

int
duration_parse_ms(const char *s, long long *out_ms, char *err, size_t errlen)
{
	const char	*p = s;
	long long	 total = 0, n;
	size_t		 u, next = 0;
	char		 unit[8], reason[96];

	if (*s == '\0')
		return duration_fail(s, err, errlen, "empty (" DURATION_HINT
		    ")");
	if (strcmp(s, "0") == 0) {
		*out_ms = 0;
		return 0;
	}
	while (*p != '\0') {
		if (*p < '0' || *p > '9') {
			if (p == s && (*p == '-' || *p == '+'))
				return duration_fail(s, err, errlen,
				    "no sign allowed");
			return duration_fail(s, err, errlen,
			    "expected a number (" DURATION_HINT ")");
		}
		n = 0;
		while (*p >= '0' && *p <= '9') {
			n = n * 10 + (*p - '0');
			if (n > DURATION_MAX_MS)
				return duration_fail(s, err, errlen,
				    "too large (at most 3650d)");
			p++;
		}
		if (*p == '\0')
			return duration_fail(s, err, errlen,
			    "missing unit (use ms, s, m, h, d)");
		if (*p == '.')
			return duration_fail(s, err, errlen, "fractions are "
			    "not supported (write 1m30s for 1.5m)");
		/* The unit: letters up to the next digit, for the message. */
		for (u = 0; p[u] != '\0' && (p[u] < '0' || p[u] > '9') &&
		    u < sizeof(unit) - 1; u++)
			unit[u] = p[u];
		unit[u] = '\0';
		if (strchr(unit, ' ') != NULL || strchr(unit, '\t') != NULL)
			return duration_fail(s, err, errlen,
			    "no spaces allowed (write 1h30m)");
		p += u;
		for (u = 0; u < DURATION_NUNITS; u++)
			if (strcmp(unit, duration_units[u].unit) == 0)
				break;
		if (u == DURATION_NUNITS) {
			(void)snprintf(reason, sizeof(reason), "unknown unit "
			    "'%s' (use ms, s, m, h, d)", unit);
			return duration_fail(s, err, errlen, reason);
		}
		if (u < next) {
			(void)snprintf(reason, sizeof(reason), "unit '%s' "
			    "repeated or out of order (largest first, as in "
			    "1h30m)", unit);
			return duration_fail(s, err, errlen, reason);
		}
		next = u + 1;
		if (n > DURATION_MAX_MS / duration_units[u].ms ||
		    total > DURATION_MAX_MS - n * duration_units[u].ms)
			return duration_fail(s, err, errlen,
			    "too large (at most 3650d)");
		total += n * duration_units[u].ms;
	}
	*out_ms = total;
	return 0;
}

int
duration_parse(const char *s, long *out, char *err, size_t errlen)
{
	long long	ms;

	if (duration_parse_ms(s, &ms, err, errlen) == -1)
		return -1;
	if (ms % 1000 != 0)
		return duration_fail(s, err, errlen, "this option takes whole "
		    "seconds");
	*out = (long)(ms / 1000);
	return 0;
}

const char *
duration_format_ms(long long ms, char *buf, size_t len)
{
	size_t		u, off = 0;
	long long	n;
	int		r;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (ms <= 0) {
		(void)snprintf(buf, len, "0s");
		return buf;
	}
	for (u = 0; u < DURATION_NUNITS; u++) {
		n = ms / duration_units[u].ms;
		ms %= duration_units[u].ms;
		if (n == 0)
			continue;
		r = snprintf(buf + off, len - off, "%lld%s", n,
		    duration_units[u].unit);
		if (r < 0 || (size_t)r >= len - off)
			break;
		off += (size_t)r;
	}
	return buf;
}

const char *
duration_format(long secs, char *buf, size_t len)
{
	return duration_format_ms((long long)secs * 1000LL, buf, len);
}
