/*
 * Signs a batch of requests with lib/sigv4 for the botocore cross-check.
 * Input (stdin): one JSON object per line, as written by
 * tests/sigv4/botocore_sign.py --generate.  Output (stdout): one line per
 * case, the Authorization header value or "ERROR <message>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sigv4.h"

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static unsigned char *
unhex(const char *s, size_t *lenp)
{
	unsigned char	*out;
	size_t		 n, i;
	int		 h, l;

	n = strlen(s);
	if (n % 2 != 0 || (out = malloc(n / 2 + 1)) == NULL)
		return NULL;
	for (i = 0; i < n / 2; i++) {
		if ((h = hexval((unsigned char)s[2 * i])) == -1 ||
		    (l = hexval((unsigned char)s[2 * i + 1])) == -1) {
			free(out);
			return NULL;
		}
		out[i] = (unsigned char)(h << 4 | l);
	}
	*lenp = n / 2;
	return out;
}

static void
sign_one(const char *line, struct sigv4_keycache *cache)
{
	struct sigv4_header	 hdrs[SIGV4_MAX_HEADERS];
	struct sigv4_request	 req;
	struct sigv4_creds	 creds;
	json_t			*c, *hs, *h;
	json_error_t		 jerr;
	unsigned char		*body = NULL;
	char			 auth[SIGV4_AUTH_MAX], amzdate[SIGV4_AMZDATE_LEN];
	char			 err[256];
	size_t			 i, bodylen = 0;

	if ((c = json_loads(line, 0, &jerr)) == NULL) {
		printf("ERROR bad case line: %s\n", jerr.text);
		return;
	}
	memset(&req, 0, sizeof(req));
	req.method = json_string_value(json_object_get(c, "method"));
	req.path = json_string_value(json_object_get(c, "path"));
	req.query = json_string_value(json_object_get(c, "query"));
	hs = json_object_get(c, "headers");
	if (json_array_size(hs) > SIGV4_MAX_HEADERS) {
		printf("ERROR too many headers\n");
		goto out;
	}
	json_array_foreach(hs, i, h) {
		hdrs[i].name = json_string_value(json_array_get(h, 0));
		hdrs[i].value = json_string_value(json_array_get(h, 1));
	}
	req.headers = hdrs;
	req.nheaders = json_array_size(hs);
	body = unhex(json_string_value(json_object_get(c, "body_hex")) ?
	    json_string_value(json_object_get(c, "body_hex")) : "", &bodylen);
	if (body == NULL) {
		printf("ERROR bad body_hex\n");
		goto out;
	}
	req.body = body;
	req.bodylen = bodylen;
	creds.access_key = json_string_value(json_object_get(c, "access_key"));
	creds.secret_key = json_string_value(json_object_get(c, "secret_key"));
	creds.session_token = json_string_value(json_object_get(c,
	    "session_token"));
	if (sigv4_sign(&req, &creds,
	    json_string_value(json_object_get(c, "region")),
	    json_string_value(json_object_get(c, "service")),
	    (time_t)json_integer_value(json_object_get(c, "time")), cache,
	    auth, sizeof(auth), amzdate, err, sizeof(err)) == -1)
		printf("ERROR %s\n", err);
	else
		printf("%s\n", auth);
out:
	free(body);
	json_decref(c);
}

int
main(void)
{
	struct sigv4_keycache	 cache;
	char			*line = NULL;
	size_t			 cap = 0;
	ssize_t			 n;

	memset(&cache, 0, sizeof(cache));
	while ((n = getline(&line, &cap, stdin)) != -1) {
		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		if (line[0] == '\0')
			continue;
		/* Alternate cached and uncached signing: both must agree. */
		sign_one(line, (n % 2) ? &cache : NULL);
	}
	free(line);
	return ferror(stdout) || fflush(stdout) != 0 ? 1 : 0;
}
