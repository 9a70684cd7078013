/*
 * AWS endpoint facts and URL syntax, with one owner: partitions and their
 * DNS suffixes, region syntax, the KMS and STS endpoints (FIPS, aws-cn,
 * aws-us-gov, overrides), which hosts are loopback, and the strict parse
 * of every http(s) URL the daemon is configured with.  `validate` and
 * `run` both call these, so that they give the same verdict; the parse is
 * libcurl's URL API, so that what is checked (and redacted) is what curl
 * sends.
 */
#ifndef KEYHEALTHD_ENDPOINT_H
#define KEYHEALTHD_ENDPOINT_H

#include <stddef.h>

/* The longest URL accepted anywhere (notifier URLs carry long tokens). */
#define ENDPOINT_URL_MAX	2048

/* endpoint_url_parse() flags. */
#define ENDPOINT_NO_QUERY	0x01	/* a base URL: no ?query, #fragment */
#define ENDPOINT_NO_USERINFO	0x02	/* no user:password@ */
#define ENDPOINT_HTTP_LOOPBACK	0x04	/* plain http only to loopback */
#define ENDPOINT_SECRET		0x08	/* a credential: never echo it */

/* A URL as curl sends it. */
struct endpoint_url {
	int	https;
	int	userinfo;			/* carries user[:password]@ */
	long	port;				/* explicit, or the scheme's */
	char	host[256];			/* lower case, IPv6 unbracketed */
	char	hostport[272];			/* Host: form, default port out */
	char	path[ENDPOINT_URL_MAX + 1];	/* dot segments removed; "/" */
	char	query[ENDPOINT_URL_MAX + 1];	/* without '?'; "" when none */
	char	url[ENDPOINT_URL_MAX + 1];	/* normalised, no fragment */
};

/*
 * Parses url strictly (http or https, a host, a port in 1..65535, no
 * white space or control characters, at most ENDPOINT_URL_MAX bytes) with
 * the rules of flags.  0, or -1 with the reason in err (the URL itself
 * only when not ENDPOINT_SECRET).  u may be NULL.
 */
int	 endpoint_url_parse(const char *url, int flags,
	    struct endpoint_url *u, char *err, size_t errlen);

/* url for log lines: credentials in it (user:password@) become "***@".
 * NULL when out of memory; the caller frees. */
char	*endpoint_url_shown(const char *url);

/*
 * An AWS endpoint override (aws.endpoint_url, aws.sts_endpoint_url,
 * AWS_ENDPOINT_URL*): a base URL without query or credentials; plain http
 * only to loopback unless allow_http.  0, or -1 with err.
 */
int	 endpoint_override(const char *url, int allow_http,
	    struct endpoint_url *u, char *err, size_t errlen);

/* Whether host (as in struct endpoint_url) is loopback: localhost,
 * 127.0.0.0/8, ::1.  Names that merely start with "127." are not. */
int	 endpoint_host_is_loopback(const char *host);

/* eu-west-1, us-gov-west-1, cn-north-1: lower case words and digits
 * joined by single dashes, at least three parts, ending in a digit. */
int	 endpoint_region_ok(const char *region);

/* The partition a region belongs to ("aws", "aws-cn", "aws-us-gov"). */
const char *endpoint_region_partition(const char *region);

/* The DNS suffix of a partition's endpoints ("amazonaws.com",
 * "amazonaws.com.cn"), or NULL for a partition we don't know. */
const char *endpoint_partition_dns_suffix(const char *partition);

struct endpoint_kms_cfg {
	const char	*endpoint_url;	/* config's aws.endpoint_url */
	int		 use_fips;
	int		 allow_http;	/* plain http to a non-loopback host */
};

/*
 * The KMS endpoint for region/partition: endpoint_url, then
 * AWS_ENDPOINT_URL_KMS, then AWS_ENDPOINT_URL (unless
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), else
 * https://kms[-fips].REGION.SUFFIX.  partition may be NULL (derived from
 * the region); cfg may be NULL.  An override is returned as given, without
 * trailing slashes.  0, or -1 with err.
 */
int	 endpoint_kms(const struct endpoint_kms_cfg *cfg, const char *region,
	    const char *partition, char *url, size_t urllen, char *err,
	    size_t errlen);

/*
 * The STS endpoint: override (the caller picks it among its config and
 * AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL; NULL for none) with the rules
 * of endpoint_override(), else https://sts.REGION.SUFFIX (region NULL:
 * us-east-1).  0, or -1 with err.
 */
int	 endpoint_sts(const char *override, int allow_http, const char *region,
	    char *url, size_t urllen, char *err, size_t errlen);

#endif
