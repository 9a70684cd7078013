/*
 * AWS Signature Version 4, header signing.  Follows the published
 * algorithm (and botocore's reading of it where the text is vague):
 * header values are trimmed and their inner whitespace runs collapsed,
 * repeated headers are joined with ',', the path is normalised unless
 * asked not to (S3 style), the query is decoded, re-encoded and sorted.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "errf.h"
#include "sigv4.h"

#define ALGORITHM	"AWS4-HMAC-SHA256"
/* Fits struct sigv4_keycache's region and service. */
#define SCOPE_PART_MAX	31

struct sbuf {
	char	*s;
	size_t	 len;
	size_t	 cap;
	int	 failed;
};

static void
sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	size_t	 ncap;
	char	*p;

	if (b->failed)
		return;
	if (n > SIGV4_MAX_CREQ || b->len + n + 1 > SIGV4_MAX_CREQ) {
		b->failed = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 512;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if ((p = realloc(b->s, ncap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->s = p;
		b->cap = ncap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
sbuf_str(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

static int
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

static void
sbuf_encode(struct sbuf *b, const char *s, size_t len, int keep_slash)
{
	static const char	 hexd[] = "0123456789ABCDEF";
	char			 pct[3];
	size_t			 i, start;
	unsigned char		 c;

	start = 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (is_unreserved(c) || (keep_slash && c == '/'))
			continue;
		sbuf_add(b, s + start, i - start);
		pct[0] = '%';
		pct[1] = hexd[c >> 4];
		pct[2] = hexd[c & 0xf];
		sbuf_add(b, pct, 3);
		start = i + 1;
	}
	sbuf_add(b, s + start, len - start);
}

char *
sigv4_uri_encode(const char *s, size_t len, int keep_slash)
{
	struct sbuf	b = { NULL, 0, 0, 0 };

	sbuf_add(&b, "", 0);
	sbuf_encode(&b, s, len, keep_slash);
	if (b.failed) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

void
sigv4_hex(const unsigned char *in, size_t len, char *out)
{
	static const char	hexd[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hexd[in[i] >> 4];
		out[2 * i + 1] = hexd[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int
sha256(const void *data, size_t len, unsigned char md[32])
{
	unsigned int	mdlen = 32;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		return -1;
	return 0;
}

int
sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char	md[32];

	if (sha256(data, len, md) == -1)
		return -1;
	sigv4_hex(md, 32, out);
	return 0;
}

static int
hmac256(const void *key, size_t keylen, const void *msg, size_t msglen,
    unsigned char out[32])
{
	unsigned int	outlen = 32;

	if (HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out,
	    &outlen) == NULL || outlen != 32)
		return -1;
	return 0;
}

int
sigv4_amzdate(time_t now, char amzdate[SIGV4_AMZDATE_LEN])
{
	struct tm	tm;

	if (now < 0 || gmtime_r(&now, &tm) == NULL ||
	    tm.tm_year + 1900 > 9999)
		return -1;
	if (strftime(amzdate, SIGV4_AMZDATE_LEN, "%Y%m%dT%H%M%SZ", &tm) !=
	    SIGV4_AMZDATE_LEN - 1)
		return -1;
	return 0;
}

/* Region and service go into the scope: keep them to what AWS uses. */
static int
valid_scope_part(const char *s, size_t max)
{
	size_t	i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= max)
			return 0;
		if (!(islower((unsigned char)s[i]) ||
		    isdigit((unsigned char)s[i]) || s[i] == '-'))
			return 0;
	}
	return 1;
}

static int
valid_amzdate(const char *d)
{
	size_t	i;

	if (d == NULL || strlen(d) != SIGV4_AMZDATE_LEN - 1 || d[8] != 'T' ||
	    d[15] != 'Z')
		return 0;
	for (i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char)d[i]))
			return 0;
	return 1;
}

/* RFC 7230 token characters. */
static int
valid_header_name(const char *s)
{
	size_t	i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (isalnum((unsigned char)s[i]))
			continue;
		if (strchr("!#$%&'*+-.^_`|~", s[i]) == NULL)
			return 0;
	}
	return 1;
}

static int
is_hspace(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
	    c == '\v' || c == '\f';
}

/*
 * Trimmed, with every whitespace run (line folds included) turned into one
 * space: the spec's Trimall, as botocore does it.
 */
static void
sbuf_trimall(struct sbuf *b, const char *v)
{
	const char	*p, *q;
	int		 first = 1;

	p = v;
	for (;;) {
		while (*p != '\0' && is_hspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		q = p;
		while (*q != '\0' && !is_hspace((unsigned char)*q))
			q++;
		if (!first)
			sbuf_add(b, " ", 1);
		sbuf_add(b, p, (size_t)(q - p));
		first = 0;
		p = q;
	}
}

struct hdr {
	char		 lname[128];
	const char	*value;
	size_t		 pos;		/* input order, for a stable sort */
};

static int
hdr_cmp(const void *a, const void *b)
{
	const struct hdr	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->lname, y->lname)) != 0)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* RFC 3986 dot-segment removal plus empty-segment collapse (botocore's). */
static void
sbuf_path(struct sbuf *b, const char *path, int normalize)
{
	const char	**segs;
	size_t		 *lens, nseg = 0, i, n, len;
	const char	 *p, *q;
	struct sbuf	  t = { NULL, 0, 0, 0 };

	len = strlen(path);
	if (!normalize) {
		sbuf_encode(b, path, len, 1);
		return;
	}
	/* At most len / 2 + 1 segments. */
	n = len / 2 + 2;
	segs = calloc(n, sizeof(*segs));
	lens = calloc(n, sizeof(*lens));
	if (segs == NULL || lens == NULL) {
		free(segs);
		free(lens);
		b->failed = 1;
		return;
	}
	p = path;
	while (*p != '\0') {
		q = strchr(p, '/');
		if (q == NULL)
			q = p + strlen(p);
		n = (size_t)(q - p);
		if (n == 0 || (n == 1 && p[0] == '.'))
			;
		else if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (nseg > 0)
				nseg--;
		} else {
			segs[nseg] = p;
			lens[nseg] = n;
			nseg++;
		}
		p = *q == '/' ? q + 1 : q;
	}
	sbuf_add(&t, "/", 1);
	for (i = 0; i < nseg; i++) {
		if (i > 0)
			sbuf_add(&t, "/", 1);
		sbuf_add(&t, segs[i], lens[i]);
	}
	if (nseg > 0 && path[len - 1] == '/')
		sbuf_add(&t, "/", 1);
	free(segs);
	free(lens);
	if (t.failed) {
		free(t.s);
		b->failed = 1;
		return;
	}
	sbuf_encode(b, t.s, t.len, 1);
	free(t.s);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes then SigV4-encodes s[0..len): the query may come raw or encoded. */
static char *
query_part(const char *s, size_t len)
{
	char	*dec, *enc;
	size_t	 i, j;
	int	 h, l;

	if ((dec = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0, j = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len &&
		    (h = hexval((unsigned char)s[i + 1])) != -1 &&
		    (l = hexval((unsigned char)s[i + 2])) != -1) {
			dec[j++] = (char)(h << 4 | l);
			i += 2;
		} else
			dec[j++] = s[i];
	}
	enc = sigv4_uri_encode(dec, j, 0);
	free(dec);
	return enc;
}

struct qparam {
	char	*key;
	char	*val;
};

static int
qparam_cmp(const void *a, const void *b)
{
	const struct qparam	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->key, y->key)) != 0)
		return c;
	return strcmp(x->val, y->val);
}

static int
sbuf_query(struct sbuf *b, const char *query)
{
	struct qparam	*ps;
	const char	*p, *amp, *eq;
	size_t		 n = 1, np = 0, i;
	int		 rc = -1;

	if (query == NULL || query[0] == '\0')
		return 0;
	for (p = query; *p != '\0'; p++)
		if (*p == '&')
			n++;
	if ((ps = calloc(n, sizeof(*ps))) == NULL)
		return -1;
	p = query;
	for (;;) {
		amp = strchr(p, '&');
		if (amp == NULL)
			amp = p + strlen(p);
		if (amp > p) {
			eq = memchr(p, '=', (size_t)(amp - p));
			if (eq == NULL)
				eq = amp;
			ps[np].key = query_part(p, (size_t)(eq - p));
			ps[np].val = eq < amp ?
			    query_part(eq + 1, (size_t)(amp - eq - 1)) :
			    query_part("", 0);
			np++;
			if (ps[np - 1].key == NULL || ps[np - 1].val == NULL)
				goto out;
		}
		if (*amp == '\0')
			break;
		p = amp + 1;
	}
	qsort(ps, np, sizeof(*ps), qparam_cmp);
	for (i = 0; i < np; i++) {
		if (i > 0)
			sbuf_add(b, "&", 1);
		sbuf_str(b, ps[i].key);
		sbuf_add(b, "=", 1);
		sbuf_str(b, ps[i].val);
	}
	rc = 0;
out:
	for (i = 0; i < np; i++) {
		free(ps[i].key);
		free(ps[i].val);
	}
	free(ps);
	return rc;
}

char *
sigv4_canonical_request(const struct sigv4_request *req, const char *amzdate,
    const char *session_token, int flags, char *signed_headers, size_t shlen,
    char *err, size_t errlen)
{
	struct hdr	 hs[SIGV4_MAX_HEADERS + 2];
	struct sbuf	 b = { NULL, 0, 0, 0 }, sh = { NULL, 0, 0, 0 };
	char		 hash[65];
	const char	*path, *m;
	size_t		 nh = 0, i, j, k;
	int		 have_host = 0;

	if (req == NULL || req->method == NULL || req->method[0] == '\0') {
		errf(err, errlen, "sigv4: request has no method");
		return NULL;
	}
	for (m = req->method; *m != '\0'; m++)
		if (!isupper((unsigned char)*m)) {
			errf(err, errlen, "sigv4: bad method");
			return NULL;
		}
	if (!valid_amzdate(amzdate)) {
		errf(err, errlen, "sigv4: bad X-Amz-Date");
		return NULL;
	}
	if (req->nheaders > SIGV4_MAX_HEADERS) {
		errf(err, errlen, "sigv4: more than %d headers",
		    SIGV4_MAX_HEADERS);
		return NULL;
	}
	if (req->bodylen > 0 && req->body == NULL) {
		errf(err, errlen, "sigv4: body length without a body");
		return NULL;
	}
	for (i = 0; i < req->nheaders; i++) {
		const char *name = req->headers[i].name;

		if (!valid_header_name(name) ||
		    strlen(name) >= sizeof(hs[0].lname)) {
			errf(err, errlen, "sigv4: bad header name");
			return NULL;
		}
		if (req->headers[i].value == NULL) {
			errf(err, errlen, "sigv4: header %s has no value",
			    name);
			return NULL;
		}
		for (k = 0; name[k] != '\0'; k++)
			hs[nh].lname[k] = (char)tolower((unsigned char)name[k]);
		hs[nh].lname[k] = '\0';
		if (strcmp(hs[nh].lname, "x-amz-date") == 0 ||
		    strcmp(hs[nh].lname, "x-amz-security-token") == 0 ||
		    strcmp(hs[nh].lname, "authorization") == 0) {
			errf(err, errlen, "sigv4: header %s is added by the "
			    "signer", hs[nh].lname);
			return NULL;
		}
		if (strcmp(hs[nh].lname, "host") == 0)
			have_host = 1;
		hs[nh].value = req->headers[i].value;
		hs[nh].pos = nh;
		nh++;
	}
	if (!have_host) {
		errf(err, errlen, "sigv4: request has no host header");
		return NULL;
	}
	snprintf(hs[nh].lname, sizeof(hs[nh].lname), "x-amz-date");
	hs[nh].value = amzdate;
	hs[nh].pos = nh;
	nh++;
	if (session_token != NULL) {
		for (m = session_token; *m != '\0'; m++)
			if ((unsigned char)*m < 0x20 || *m == 0x7f) {
				errf(err, errlen, "sigv4: session token has "
				    "control characters");
				return NULL;
			}
		snprintf(hs[nh].lname, sizeof(hs[nh].lname),
		    "x-amz-security-token");
		hs[nh].value = session_token;
		hs[nh].pos = nh;
		nh++;
	}
	qsort(hs, nh, sizeof(hs[0]), hdr_cmp);

	path = req->path == NULL || req->path[0] == '\0' ? "/" : req->path;
	if (path[0] != '/') {
		errf(err, errlen, "sigv4: path does not start with /");
		return NULL;
	}

	sbuf_str(&b, req->method);
	sbuf_add(&b, "\n", 1);
	sbuf_path(&b, path, !(flags & SIGV4_F_NO_NORMALIZE));
	sbuf_add(&b, "\n", 1);
	if (sbuf_query(&b, req->query) == -1)
		b.failed = 1;
	sbuf_add(&b, "\n", 1);
	for (i = 0; i < nh; i = j) {
		sbuf_str(&b, hs[i].lname);
		sbuf_add(&b, ":", 1);
		if (i > 0)
			sbuf_add(&sh, ";", 1);
		sbuf_str(&sh, hs[i].lname);
		for (j = i; j < nh && strcmp(hs[j].lname, hs[i].lname) == 0;
		    j++) {
			if (j > i)
				sbuf_add(&b, ",", 1);
			sbuf_trimall(&b, hs[j].value);
		}
		sbuf_add(&b, "\n", 1);
	}
	sbuf_add(&b, "\n", 1);
	if (sh.failed || sh.len >= shlen) {
		errf(err, errlen, "sigv4: signed header list too long");
		goto fail;
	}
	memcpy(signed_headers, sh.s, sh.len + 1);
	sbuf_str(&b, sh.s);
	sbuf_add(&b, "\n", 1);
	if (sigv4_sha256_hex(req->body != NULL ? req->body : "", req->bodylen,
	    hash) == -1) {
		errf(err, errlen, "sigv4: SHA-256 failed");
		goto fail;
	}
	sbuf_str(&b, hash);
	if (b.failed) {
		errf(err, errlen, "sigv4: canonical request too long or out "
		    "of memory");
		goto fail;
	}
	free(sh.s);
	return b.s;
fail:
	free(sh.s);
	free(b.s);
	return NULL;
}

int
sigv4_string_to_sign(const char *creq, const char *amzdate,
    const char *region, const char *service, char *out, size_t outlen,
    char *err, size_t errlen)
{
	char	hash[65];
	int	n;

	if (!valid_amzdate(amzdate)) {
		errf(err, errlen, "sigv4: bad X-Amz-Date");
		return -1;
	}
	if (!valid_scope_part(region, SCOPE_PART_MAX) ||
	    !valid_scope_part(service, SCOPE_PART_MAX)) {
		errf(err, errlen, "sigv4: bad region or service name");
		return -1;
	}
	if (sigv4_sha256_hex(creq, strlen(creq), hash) == -1) {
		errf(err, errlen, "sigv4: SHA-256 failed");
		return -1;
	}
	n = snprintf(out, outlen, ALGORITHM "\n%s\n%.8s/%s/%s/aws4_request\n%s",
	    amzdate, amzdate, region, service, hash);
	if (n < 0 || (size_t)n >= outlen) {
		errf(err, errlen, "sigv4: string to sign too long");
		return -1;
	}
	return 0;
}

int
sigv4_signing_key(const char *secret, const char *date, const char *region,
    const char *service, struct sigv4_keycache *cache, unsigned char key[32],
    char *err, size_t errlen)
{
	unsigned char	 shash[32], k1[32], k2[32];
	char		*ksecret;
	size_t		 slen;
	int		 rc = -1;

	if (secret == NULL || secret[0] == '\0') {
		errf(err, errlen, "sigv4: empty secret access key");
		return -1;
	}
	if (date == NULL || strlen(date) != 8 ||
	    !valid_scope_part(region, SCOPE_PART_MAX) ||
	    !valid_scope_part(service, SCOPE_PART_MAX)) {
		errf(err, errlen, "sigv4: bad date, region or service");
		return -1;
	}
	slen = strlen(secret);
	if (sha256(secret, slen, shash) == -1) {
		errf(err, errlen, "sigv4: SHA-256 failed");
		return -1;
	}
	if (cache != NULL && cache->valid && strcmp(cache->date, date) == 0 &&
	    strcmp(cache->region, region) == 0 &&
	    strcmp(cache->service, service) == 0 &&
	    CRYPTO_memcmp(cache->secret_hash, shash, 32) == 0) {
		memcpy(key, cache->key, 32);
		OPENSSL_cleanse(shash, sizeof(shash));
		return 0;
	}
	if ((ksecret = malloc(slen + 5)) == NULL) {
		errf(err, errlen, "sigv4: out of memory");
		return -1;
	}
	memcpy(ksecret, "AWS4", 4);
	memcpy(ksecret + 4, secret, slen + 1);
	if (hmac256(ksecret, slen + 4, date, 8, k1) == -1 ||
	    hmac256(k1, 32, region, strlen(region), k2) == -1 ||
	    hmac256(k2, 32, service, strlen(service), k1) == -1 ||
	    hmac256(k1, 32, "aws4_request", 12, key) == -1) {
		errf(err, errlen, "sigv4: HMAC-SHA256 failed");
		goto out;
	}
	if (cache != NULL) {
		memcpy(cache->date, date, 9);
		snprintf(cache->region, sizeof(cache->region), "%s", region);
		snprintf(cache->service, sizeof(cache->service), "%s",
		    service);
		memcpy(cache->secret_hash, shash, 32);
		memcpy(cache->key, key, 32);
		cache->valid = 1;
	}
	rc = 0;
out:
	OPENSSL_cleanse(ksecret, slen + 5);
	free(ksecret);
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	OPENSSL_cleanse(shash, sizeof(shash));
	return rc;
}

/* The access key id goes verbatim into the Authorization header. */
static int
valid_access_key(const char *s)
{
	size_t	i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= 128 || !isalnum((unsigned char)s[i]))
			return 0;
	return 1;
}

int
sigv4_sign_flags(const struct sigv4_request *req,
    const struct sigv4_creds *creds, const char *region, const char *service,
    time_t now, int flags, struct sigv4_keycache *cache, char *auth,
    size_t authlen, char amzdate[SIGV4_AMZDATE_LEN], char *err, size_t errlen)
{
	char		 sts[SIGV4_STS_MAX], sh[SIGV4_SIGNED_HEADERS_MAX];
	char		 sighex[65], date[9];
	unsigned char	 key[32], sig[32];
	char		*creq;
	int		 n, rc = -1;

	if (creds == NULL || !valid_access_key(creds->access_key)) {
		errf(err, errlen, "sigv4: missing or malformed access key "
		    "id");
		return -1;
	}
	if (creds->secret_key == NULL || creds->secret_key[0] == '\0') {
		errf(err, errlen, "sigv4: empty secret access key");
		return -1;
	}
	if (sigv4_amzdate(now, amzdate) == -1) {
		errf(err, errlen, "sigv4: time out of range");
		return -1;
	}
	creq = sigv4_canonical_request(req, amzdate, creds->session_token,
	    flags, sh, sizeof(sh), err, errlen);
	if (creq == NULL)
		return -1;
	if (sigv4_string_to_sign(creq, amzdate, region, service, sts,
	    sizeof(sts), err, errlen) == -1)
		goto out;
	memcpy(date, amzdate, 8);
	date[8] = '\0';
	if (sigv4_signing_key(creds->secret_key, date, region, service, cache,
	    key, err, errlen) == -1)
		goto out;
	if (hmac256(key, 32, sts, strlen(sts), sig) == -1) {
		errf(err, errlen, "sigv4: HMAC-SHA256 failed");
		goto out;
	}
	sigv4_hex(sig, 32, sighex);
	n = snprintf(auth, authlen, ALGORITHM " Credential=%s/%s/%s/%s/"
	    "aws4_request, SignedHeaders=%s, Signature=%s", creds->access_key,
	    date, region, service, sh, sighex);
	if (n < 0 || (size_t)n >= authlen) {
		errf(err, errlen, "sigv4: Authorization header too long");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	free(creq);
	return rc;
}

int
sigv4_sign(const struct sigv4_request *req, const struct sigv4_creds *creds,
    const char *region, const char *service, time_t now,
    struct sigv4_keycache *cache, char *auth, size_t authlen,
    char amzdate[SIGV4_AMZDATE_LEN], char *err, size_t errlen)
{
	return sigv4_sign_flags(req, creds, region, service, now, 0, cache,
	    auth, authlen, amzdate, err, errlen);
}
