/*
 * AWS endpoint facts and URL syntax (see endpoint.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "endpoint.h"

static const struct {
	const char	*partition;
	const char	*region_prefix;	/* NULL: the default partition */
	const char	*suffix;
} endpoint_partitions[] = {
	{ "aws",	NULL,		"amazonaws.com" },
	{ "aws-us-gov",	"us-gov-",	"amazonaws.com" },
	{ "aws-cn",	"cn-",		"amazonaws.com.cn" },
	{ "aws-iso",	"us-iso-",	"c2s.ic.gov" },
	{ "aws-iso-b",	"us-isob-",	"sc2s.sgov.gov" },
};
#define ENDPOINT_NPARTITIONS \
	(sizeof(endpoint_partitions) / sizeof(endpoint_partitions[0]))

const char *
endpoint_partition_dns_suffix(const char *partition)
{
	size_t	i;

	for (i = 0; partition != NULL && i < ENDPOINT_NPARTITIONS; i++)
		if (strcmp(endpoint_partitions[i].partition, partition) == 0)
			return endpoint_partitions[i].suffix;
	return NULL;
}

const char *
endpoint_region_partition(const char *region)
{
	const char	*pfx;
	size_t		 i;

	for (i = 0; region != NULL && i < ENDPOINT_NPARTITIONS; i++)
		if ((pfx = endpoint_partitions[i].region_prefix) != NULL &&
		    strncmp(region, pfx, strlen(pfx)) == 0)
			return endpoint_partitions[i].partition;
	return "aws";
}

int
endpoint_region_ok(const char *r)
{
	size_t	i, n;
	int	dashes = 0;

	if (r == NULL || (n = strlen(r)) < 4 || n > 31 ||
	    !islower((unsigned char)r[0]) || !isdigit((unsigned char)r[n - 1]))
		return 0;
	for (i = 0; i < n; i++) {
		if (r[i] == '-') {
			if (r[i - 1] == '-')
				return 0;
			dashes++;
		} else if (!islower((unsigned char)r[i]) &&
		    !isdigit((unsigned char)r[i]))
			return 0;
	}
	return dashes >= 2;
}

int
endpoint_host_is_loopback(const char *host)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;

	if (strcasecmp(host, "localhost") == 0 ||
	    strcasecmp(host, "localhost.") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		    (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return 0;
}

/*
 * The authority's host and port as written: curl is lenient where we are
 * not ("http:///x" is host "x" to it, "h%41" is "hA", "h:" the default
 * port), so the raw text is checked first.
 */
static int
endpoint_authority_ok(const char *auth, size_t n, const char **why)
{
	const char	*at, *hp, *end = auth + n, *p;
	long		 port = 0;

	*why = "no host";
	for (at = NULL, p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	hp = at != NULL ? at + 1 : auth;
	if (hp == end)
		return 0;
	if (*hp == '[') {
		for (p = hp + 1; p < end && *p != ']'; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' &&
			    *p != '.') {
				*why = "bad IPv6 address (no zone id)";
				return 0;
			}
		if (p == end || p == hp + 1) {
			*why = "bad IPv6 address";
			return 0;
		}
		p++;
	} else {
		for (p = hp; p < end && *p != ':'; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' &&
			    *p != '-' && *p != '_') {
				*why = "bad character in the host name";
				return 0;
			}
		if (p == hp)
			return 0;
	}
	if (p == end)
		return 1;
	*why = "bad port";
	if (*p != ':' || p + 1 == end)
		return 0;
	for (p++; p < end; p++) {
		if (!isdigit((unsigned char)*p))
			return 0;
		port = port * 10 + (*p - '0');
		if (port > 65535)
			break;
	}
	*why = "port must be between 1 and 65535";
	return port >= 1 && port <= 65535;
}

static int
endpoint_get(CURLU *h, CURLUPart what, char *buf, size_t len)
{
	char		*s;
	CURLUcode	 rc;
	int		 fits;

	buf[0] = '\0';
	if ((rc = curl_url_get(h, what, &s, 0)) != CURLUE_OK)
		return rc == CURLUE_OUT_OF_MEMORY ? -1 : 0;
	fits = strlen(s) < len;
	if (fits)
		memcpy(buf, s, strlen(s) + 1);
	curl_free(s);
	return fits ? 0 : -1;
}

static int
endpoint_fail(char *err, size_t errlen, const char *url, int flags,
    const char *why)
{
	if (flags & ENDPOINT_SECRET)
		(void)snprintf(err, errlen, "%s", why);
	else
		(void)snprintf(err, errlen, "%s in '%.128s'", why, url);
	return -1;
}

int
endpoint_url_parse(const char *url, int flags, struct endpoint_url *out,
    char *err, size_t errlen)
{
	struct endpoint_url	 tmp, *u = out != NULL ? out : &tmp;
	CURLU			*h = NULL;
	CURLUcode		 rc;
	const char		*p, *auth, *why;
	char			 port[8];
	size_t			 i, n;

	memset(u, 0, sizeof(*u));
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			/* Never echoed: a CR/LF would split the log line. */
			(void)snprintf(err, errlen, "the URL contains white "
			    "space or a control character");
			return -1;
		}
	if (strlen(url) > ENDPOINT_URL_MAX) {
		(void)snprintf(err, errlen, "the URL is longer than %d bytes",
		    ENDPOINT_URL_MAX);
		return -1;
	}
	if (strncasecmp(url, "https://", 8) == 0) {
		u->https = 1;
		auth = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0)
		auth = url + 7;
	else
		return endpoint_fail(err, errlen, url, flags,
		    "expected an http:// or https:// URL");
	n = strcspn(auth, "/?#");
	if (!endpoint_authority_ok(auth, n, &why))
		return endpoint_fail(err, errlen, url, flags, why);
	if ((h = curl_url()) == NULL)
		goto nomem;
	if ((rc = curl_url_set(h, CURLUPART_URL, url, 0)) != CURLUE_OK) {
		if (rc == CURLUE_OUT_OF_MEMORY)
			goto nomem;
		curl_url_cleanup(h);
		return endpoint_fail(err, errlen, url, flags,
		    curl_url_strerror(rc));
	}
	u->userinfo = memchr(auth, '@', n) != NULL;
	if (u->userinfo && (flags & ENDPOINT_NO_USERINFO)) {
		curl_url_cleanup(h);
		/* Never echoed: it holds a password. */
		(void)snprintf(err, errlen, "credentials in the URL are not "
		    "allowed");
		return -1;
	}
	if (endpoint_get(h, CURLUPART_HOST, u->host, sizeof(u->host)) == -1 ||
	    endpoint_get(h, CURLUPART_PORT, port, sizeof(port)) == -1 ||
	    endpoint_get(h, CURLUPART_PATH, u->path, sizeof(u->path)) == -1 ||
	    endpoint_get(h, CURLUPART_QUERY, u->query, sizeof(u->query)) == -1)
		goto nomem;
	if ((flags & ENDPOINT_NO_QUERY) && (u->query[0] != '\0' ||
	    strpbrk(url, "?#") != NULL)) {
		curl_url_cleanup(h);
		return endpoint_fail(err, errlen, url, flags, "no query or "
		    "fragment allowed");
	}
	/* curl sends no fragment: neither do we keep one. */
	if (curl_url_set(h, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
	    endpoint_get(h, CURLUPART_URL, u->url, sizeof(u->url)) == -1)
		goto nomem;
	curl_url_cleanup(h);
	h = NULL;

	(void)snprintf(u->hostport, sizeof(u->hostport), "%s", u->host);
	n = strlen(u->host);
	if (n >= 2 && u->host[0] == '[') {
		memmove(u->host, u->host + 1, n - 2);
		u->host[n - 2] = '\0';
	}
	for (i = 0; u->host[i] != '\0'; i++)
		u->host[i] = (char)tolower((unsigned char)u->host[i]);
	for (i = 0; u->hostport[i] != '\0'; i++)
		u->hostport[i] = (char)tolower((unsigned char)u->hostport[i]);
	u->port = u->https ? 443 : 80;
	if (port[0] != '\0') {
		u->port = strtol(port, NULL, 10);
		if (u->port != (u->https ? 443 : 80)) {
			n = strlen(u->hostport);
			(void)snprintf(u->hostport + n, sizeof(u->hostport) - n,
			    ":%ld", u->port);
		}
	}
	if (u->host[0] == '\0')
		return endpoint_fail(err, errlen, url, flags, "no host");
	if (u->path[0] == '\0')
		(void)snprintf(u->path, sizeof(u->path), "/");
	if ((flags & ENDPOINT_HTTP_LOOPBACK) && !u->https &&
	    !endpoint_host_is_loopback(u->host)) {
		(void)snprintf(err, errlen, "plain http to '%s', which is not "
		    "loopback, is refused", u->host);
		return -1;
	}
	return 0;
nomem:
	curl_url_cleanup(h);
	return endpoint_fail(err, errlen, url, flags | ENDPOINT_SECRET,
	    "out of memory, or a part of the URL too long");
}

char *
endpoint_url_shown(const char *url)
{
	const char	*auth, *at;
	char		*out;
	size_t		 n;

	if ((auth = strstr(url, "://")) == NULL)
		return strdup(url);
	auth += 3;
	n = strcspn(auth, "/?#");
	if ((at = memrchr(auth, '@', n)) == NULL)
		return strdup(url);
	if (asprintf(&out, "%.*s***@%s", (int)(auth - url), url, at + 1) ==
	    -1)
		return NULL;
	return out;
}

int
endpoint_override(const char *url, int allow_http, struct endpoint_url *u,
    char *err, size_t errlen)
{
	size_t	n;

	if (endpoint_url_parse(url, ENDPOINT_NO_QUERY | ENDPOINT_NO_USERINFO |
	    (allow_http ? 0 : ENDPOINT_HTTP_LOOPBACK), u, err, errlen) == 0)
		return 0;
	n = strlen(err);
	if (strncmp(err, "plain http", 10) == 0)
		(void)snprintf(err + n, errlen - n, " (use https, or set "
		    "allow_http: true)");
	return -1;
}

static int
endpoint_env_true(const char *name)
{
	const char	*v = getenv(name);

	return v != NULL && strcasecmp(v, "true") == 0;
}

/* An override as given, without trailing slashes (paths are appended). */
static int
endpoint_copy_base(const char *from, const char *over, int allow_http,
    char *url, size_t urllen, char *err, size_t errlen)
{
	char	e[512];
	size_t	n;

	if (endpoint_override(over, allow_http, NULL, e, sizeof(e)) == -1) {
		(void)snprintf(err, errlen, "%s: %s", from, e);
		return -1;
	}
	n = strlen(over);
	while (n > 0 && over[n - 1] == '/')
		n--;
	if (n >= urllen) {
		(void)snprintf(err, errlen, "%s: URL too long", from);
		return -1;
	}
	memcpy(url, over, n);
	url[n] = '\0';
	return 0;
}

int
endpoint_kms(const struct endpoint_kms_cfg *cfg, const char *region,
    const char *partition, char *url, size_t urllen, char *err,
    size_t errlen)
{
	const char	*over = NULL, *from = NULL, *suffix;
	int		 fips;

	if (cfg != NULL && cfg->endpoint_url != NULL &&
	    cfg->endpoint_url[0] != '\0') {
		over = cfg->endpoint_url;
		from = "endpoint_url";
	} else if (!endpoint_env_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) {
		if ((over = getenv("AWS_ENDPOINT_URL_KMS")) != NULL &&
		    over[0] != '\0')
			from = "AWS_ENDPOINT_URL_KMS";
		else if ((over = getenv("AWS_ENDPOINT_URL")) != NULL &&
		    over[0] != '\0')
			from = "AWS_ENDPOINT_URL";
		else
			over = NULL;
	}
	if (over != NULL)
		return endpoint_copy_base(from, over, cfg != NULL &&
		    cfg->allow_http, url, urllen, err, errlen);
	if (!endpoint_region_ok(region)) {
		(void)snprintf(err, errlen, "bad region \"%.64s\"",
		    region != NULL ? region : "");
		return -1;
	}
	if (partition == NULL || partition[0] == '\0')
		partition = endpoint_region_partition(region);
	if ((suffix = endpoint_partition_dns_suffix(partition)) == NULL) {
		(void)snprintf(err, errlen, "unknown partition \"%.32s\"",
		    partition);
		return -1;
	}
	fips = (cfg != NULL && cfg->use_fips) ||
	    endpoint_env_true("AWS_USE_FIPS_ENDPOINT");
	if (fips && strcmp(partition, "aws-cn") == 0) {
		(void)snprintf(err, errlen, "no FIPS endpoint for KMS in "
		    "partition aws-cn (region %s)", region);
		return -1;
	}
	if ((size_t)snprintf(url, urllen, "https://kms%s.%s.%s",
	    fips ? "-fips" : "", region, suffix) >= urllen) {
		(void)snprintf(err, errlen, "endpoint URL too long");
		return -1;
	}
	return 0;
}

int
endpoint_sts(const char *override, int allow_http, const char *region,
    char *url, size_t urllen, char *err, size_t errlen)
{
	const char	*suffix;

	if (override != NULL)
		return endpoint_copy_base("STS endpoint", override, allow_http,
		    url, urllen, err, errlen);
	if (region == NULL || region[0] == '\0')
		region = "us-east-1";
	if (!endpoint_region_ok(region)) {
		(void)snprintf(err, errlen, "bad region \"%.64s\"", region);
		return -1;
	}
	suffix = endpoint_partition_dns_suffix(
	    endpoint_region_partition(region));
	if ((size_t)snprintf(url, urllen, "https://sts.%s.%s", region,
	    suffix) >= urllen) {
		(void)snprintf(err, errlen, "STS endpoint URL too long");
		return -1;
	}
	return 0;
}
