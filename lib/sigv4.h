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
#define SIGV4_STS_MAX		256	/* string to sign, with NUL */
#define SIGV4_SIGNED_HEADERS_MAX 512	/* "host;x-amz-date;...", with NUL */

/* Limits on what sigv4 accepts (requests are built by keyhealthd itself). */
#define SIGV4_MAX_HEADERS	64
#define SIGV4_MAX_CREQ		(256 * 1024)

/* Flags for sigv4_sign_flags() and sigv4_canonical_request(). */
#define SIGV4_F_NO_NORMALIZE	0x01	/* S3 style: path not normalised */

/*
 * Signs req at time now.  Writes the Authorization header value (without
 * "Authorization: ") into auth (size authlen) and the X-Amz-Date value into
 * amzdate.  The caller must send exactly the headers it passed plus
 * X-Amz-Date (and X-Amz-Security-Token when creds has a session token, which
 * the signature covers).  cache may be NULL.  Returns 0, or -1 with err set.
 * Headers named x-amz-date, x-amz-security-token or authorization in req
 * are refused: sigv4 adds the first two itself.
 */
int	sigv4_sign(const struct sigv4_request *req,
	    const struct sigv4_creds *creds, const char *region,
	    const char *service, time_t now, struct sigv4_keycache *cache,
	    char *auth, size_t authlen, char amzdate[SIGV4_AMZDATE_LEN],
	    char *err, size_t errlen);

/* sigv4_sign() with SIGV4_F_* flags. */
int	sigv4_sign_flags(const struct sigv4_request *req,
	    const struct sigv4_creds *creds, const char *region,
	    const char *service, time_t now, int flags,
	    struct sigv4_keycache *cache, char *auth, size_t authlen,
	    char amzdate[SIGV4_AMZDATE_LEN], char *err, size_t errlen);

/*
 * The stages of sigv4_sign(), exposed for the tests and for debugging
 * signature mismatches.
 */

/* Formats now as an X-Amz-Date value.  Returns 0, or -1 if out of range. */
int	sigv4_amzdate(time_t now, char amzdate[SIGV4_AMZDATE_LEN]);

/*
 * The canonical request of req signed at amzdate, with x-amz-date and (if
 * session_token is not NULL) x-amz-security-token added to the headers.
 * Writes the signed header list into signed_headers (size shlen).  Returns
 * a NUL-terminated string the caller frees, or NULL with err set.
 */
char	*sigv4_canonical_request(const struct sigv4_request *req,
	    const char *amzdate, const char *session_token, int flags,
	    char *signed_headers, size_t shlen, char *err, size_t errlen);

/* The string to sign for creq.  out needs SIGV4_STS_MAX.  0 or -1. */
int	sigv4_string_to_sign(const char *creq, const char *amzdate,
	    const char *region, const char *service, char *out, size_t outlen,
	    char *err, size_t errlen);

/*
 * The signing key for (secret, date "YYYYMMDD", region, service), from
 * cache when it holds that key, else derived and stored in cache (which
 * may be NULL).  Returns 0, or -1 with err set.
 */
int	sigv4_signing_key(const char *secret, const char *date,
	    const char *region, const char *service,
	    struct sigv4_keycache *cache, unsigned char key[32],
	    char *err, size_t errlen);

/* Lower-case hex of in[0..len) into out (2 * len + 1 bytes). */
void	sigv4_hex(const unsigned char *in, size_t len, char *out);

/* Lower-case hex SHA-256 of data.  Returns 0, or -1 (OpenSSL failure). */
int	sigv4_sha256_hex(const void *data, size_t len, char out[65]);

/*
 * URI-encodes s[0..len) the SigV4 way: A-Z a-z 0-9 - . _ ~ kept, '/' kept
 * only when keep_slash, every other byte as %XX (upper case).  Returns a
 * string the caller frees, or NULL on allocation failure.
 */
char	*sigv4_uri_encode(const char *s, size_t len, int keep_slash);

#endif
