/*
 * AWS Signature Version 4 for the requests keyhealthd makes (KMS JSON 1.1,
 * STS query protocol).  Pure functions: no I/O, no clock reads, no logging.
 */
#ifndef KEYHEALTHD_SIGV4_H
#define KEYHEALTHD_SIGV4_H

#include <stddef.h>
#include <time.h>

struct sigv4_creds {
	const char	*access_key;
	const char	*secret_key;
	const char	*session_token;	/* NULL for long-term credentials */
};

struct sigv4_header {
	const char	*name;
	const char	*value;
};

struct sigv4_request {
	const char		*method;	/* "POST" */
	const char		*path;		/* "/" ; not yet URI-encoded */
	const char		*query;		/* raw query string or NULL */
	const struct sigv4_header *headers;	/* must include "host" */
	size_t			 nheaders;
	const void		*body;
	size_t			 bodylen;
};

/* Caches the derived signing key for one (secret, date, region, service). */
struct sigv4_keycache {
	char		date[9];		/* YYYYMMDD */
	char		region[32];
	char		service[32];
	unsigned char	secret_hash[32];	/* SHA-256 of the secret, never the secret */
	unsigned char	key[32];
	int		valid;
};

#define SIGV4_AMZDATE_LEN	17	/* "YYYYMMDDTHHMMSSZ" + NUL */
#define SIGV4_AUTH_MAX		1024

/*
 * Signs req at time now.  Writes the Authorization header value (without
 * "Authorization: ") into auth (size authlen) and the X-Amz-Date value into
 * amzdate.  The caller must send exactly the headers it passed plus
 * X-Amz-Date (and X-Amz-Security-Token when creds has a session token, which
 * the signature covers).  cache may be NULL.  Returns 0, or -1 with err set.
 */
int	sigv4_sign(const struct sigv4_request *req,
	    const struct sigv4_creds *creds, const char *region,
	    const char *service, time_t now, struct sigv4_keycache *cache,
	    char *auth, size_t authlen, char amzdate[SIGV4_AMZDATE_LEN],
	    char *err, size_t errlen);

#endif
