/*
 * AWS credential provider chain, the pure half of lib/creds (creds.h has
 * the order): time, the shared INI files and profiles, the plan, building
 * the HTTP requests and parsing the answers.  The runner that walks a plan
 * through a creds_fetcher is creds_provider.c.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "creds.h"
#include "errf.h"
#include "endpoint.h"
#include "sigv4.h"

#define CREDS_MAX_SECTIONS	4096
#define CREDS_MAX_KEYS		256

static char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* strdup that treats NULL as NULL; *failed set on allocation failure. */
static char *
dupnull(const char *s, int *failed)
{
	char	*p;

	if (s == NULL)
		return NULL;
	if ((p = strdup(s)) == NULL)
		*failed = 1;
	return p;
}

void
creds_free_secret(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

void
creds_clear(struct creds *c)
{
	if (c == NULL)
		return;
	free(c->access_key_id);
	creds_free_secret(c->secret_access_key);
	creds_free_secret(c->session_token);
	memset(c, 0, sizeof(*c));
}

int
creds_copy(struct creds *dst, const struct creds *src)
{
	int	failed = 0;

	creds_clear(dst);
	dst->access_key_id = dupnull(src->access_key_id, &failed);
	dst->secret_access_key = dupnull(src->secret_access_key, &failed);
	dst->session_token = dupnull(src->session_token, &failed);
	dst->expiration = src->expiration;
	if (failed) {
		creds_clear(dst);
		return -1;
	}
	return 0;
}

const char *
creds_env_get(const char *const *env, const char *name)
{
	size_t	n;

	if (env == NULL)
		return NULL;
	n = strlen(name);
	for (; *env != NULL; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

/* An environment value, treating "" as unset as the SDKs do. */
static const char *
envv(const char *const *env, const char *name)
{
	const char	*v = creds_env_get(env, name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* ---- Time ---------------------------------------------------------- */

static int
digits(const char *s, int n, int *out)
{
	int	i, v = 0;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int
creds_parse_time(const char *s, time_t *out)
{
	struct tm	tm;
	int		y, mo, d, h, mi, sec, oh, om, off = 0;
	time_t		t;

	if (s == NULL || strlen(s) < 19)
		return -1;
	if (digits(s, 4, &y) == -1 || s[4] != '-' ||
	    digits(s + 5, 2, &mo) == -1 || s[7] != '-' ||
	    digits(s + 8, 2, &d) == -1 ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) == -1 || s[13] != ':' ||
	    digits(s + 14, 2, &mi) == -1 || s[16] != ':' ||
	    digits(s + 17, 2, &sec) == -1)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60 || y < 1970)
		return -1;
	s += 19;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return -1;
		while (isdigit((unsigned char)*s))
			s++;
	}
	if (*s == 'Z' || *s == 'z')
		s++;
	else if (*s == '+' || *s == '-') {
		if (digits(s + 1, 2, &oh) == -1 || s[3] != ':' ||
		    digits(s + 4, 2, &om) == -1 || oh > 23 || om > 59)
			return -1;
		off = (oh * 60 + om) * 60 * (*s == '+' ? 1 : -1);
		s += 6;
	} else
		return -1;
	if (*s != '\0')
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	*out = t - off;
	return 0;
}

/* ---- INI ----------------------------------------------------------- */

static char *
trim(char *s)
{
	char	*e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

void
creds_ini_free(struct creds_ini *ini)
{
	size_t	i, j;

	if (ini == NULL)
		return;
	for (i = 0; i < ini->nsec; i++) {
		for (j = 0; j < ini->sec[i].nkv; j++) {
			free(ini->sec[i].kv[j].key);
			creds_free_secret(ini->sec[i].kv[j].value);
		}
		free(ini->sec[i].kv);
		free(ini->sec[i].name);
	}
	free(ini->sec);
	memset(ini, 0, sizeof(*ini));
}

const struct creds_ini_section *
creds_ini_section(const struct creds_ini *ini, const char *name)
{
	size_t	i;

	for (i = 0; ini != NULL && i < ini->nsec; i++)
		if (strcmp(ini->sec[i].name, name) == 0)
			return &ini->sec[i];
	return NULL;
}

const char *
creds_ini_get(const struct creds_ini_section *sec, const char *key)
{
	size_t	i;

	for (i = 0; sec != NULL && i < sec->nkv; i++)
		if (strcmp(sec->kv[i].key, key) == 0)
			return sec->kv[i].value;
	return NULL;
}

static int
ini_set(struct creds_ini_section *sec, const char *key, const char *value,
    int line)
{
	struct creds_ini_kv	*kv;
	size_t			 i;
	char			*v;

	if ((v = strdup(value)) == NULL)
		return -1;
	for (i = 0; i < sec->nkv; i++)
		if (strcmp(sec->kv[i].key, key) == 0) {
			creds_free_secret(sec->kv[i].value);
			sec->kv[i].value = v;
			sec->kv[i].line = line;
			return 0;
		}
	if (sec->nkv >= CREDS_MAX_KEYS ||
	    (kv = reallocarray(sec->kv, sec->nkv + 1, sizeof(*kv))) == NULL) {
		creds_free_secret(v);
		return -1;
	}
	sec->kv = kv;
	if ((kv[sec->nkv].key = strdup(key)) == NULL) {
		creds_free_secret(v);
		return -1;
	}
	kv[sec->nkv].value = v;
	kv[sec->nkv].line = line;
	sec->nkv++;
	return 0;
}

int
creds_ini_parse(const char *text, size_t len, struct creds_ini *ini,
    char *err, size_t errlen)
{
	struct creds_ini_section	*cur = NULL, *ns;
	char				*buf, *p, *nl, *line, *s, *k, *eq;
	size_t				 i;
	int				 lineno = 0, in_key = 0;

	memset(ini, 0, sizeof(*ini));
	if (len > CREDS_MAX_FILE) {
		errf(err, errlen, "file larger than %d bytes", CREDS_MAX_FILE);
		return -1;
	}
	if ((buf = xstrndup(text, len)) == NULL)
		goto oom;
	if (memchr(text, '\0', len) != NULL) {
		errf(err, errlen, "file contains a NUL byte");
		goto fail;
	}
	for (p = buf; p != NULL; p = nl) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		lineno++;
		line = p;
		s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		/* An indented line continues the last key (a sub-section
		 * such as "s3 =\n  max_concurrent_requests = 2"): not ours. */
		if ((line[0] == ' ' || line[0] == '\t') && in_key)
			continue;
		if (*s == '[') {
			char	*end = strchr(s, ']');

			if (end == NULL) {
				errf(err, errlen, "line %d: section header "
				    "without ']'", lineno);
				goto fail;
			}
			*end = '\0';
			s = trim(s + 1);
			cur = NULL;
			for (i = 0; i < ini->nsec; i++)
				if (strcmp(ini->sec[i].name, s) == 0)
					cur = &ini->sec[i];
			if (cur == NULL) {
				if (ini->nsec >= CREDS_MAX_SECTIONS) {
					errf(err, errlen, "line %d: too many "
					    "sections", lineno);
					goto fail;
				}
				ns = reallocarray(ini->sec, ini->nsec + 1,
				    sizeof(*ns));
				if (ns == NULL)
					goto oom;
				ini->sec = ns;
				cur = &ini->sec[ini->nsec];
				memset(cur, 0, sizeof(*cur));
				if ((cur->name = strdup(s)) == NULL)
					goto oom;
				ini->nsec++;
			}
			in_key = 0;
			continue;
		}
		if (cur == NULL) {
			errf(err, errlen, "line %d: setting outside a "
			    "[section]", lineno);
			goto fail;
		}
		eq = s + strcspn(s, "=:");
		if (*eq == '\0') {
			errf(err, errlen, "line %d: expected key = value",
			    lineno);
			goto fail;
		}
		*eq = '\0';
		k = trim(s);
		if (*k == '\0') {
			errf(err, errlen, "line %d: empty key", lineno);
			goto fail;
		}
		for (i = 0; k[i] != '\0'; i++)
			k[i] = (char)tolower((unsigned char)k[i]);
		if (ini_set(cur, k, trim(eq + 1), lineno) == -1)
			goto oom;
		in_key = 1;
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	return 0;
oom:
	errf(err, errlen, "out of memory");
fail:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	creds_ini_free(ini);
	return -1;
}

/* Reads a whole small file; *missing set when it does not exist. */
char *
creds_read_file(const char *path, size_t max, size_t *lenp, int *missing,
    char *err, size_t errlen)
{
	struct stat	 st;
	char		*buf;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd;

	*missing = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT) {
			*missing = 1;
			return NULL;
		}
		errf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		errf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if ((size_t)st.st_size > max) {
		errf(err, errlen, "%s: larger than %zu bytes", path, max);
		close(fd);
		return NULL;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		errf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	while (len < max && (n = read(fd, buf + len, max - len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			errf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			free(buf);
			return NULL;
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

int
creds_ini_load(const char *path, struct creds_ini *ini, char *err,
    size_t errlen)
{
	char	*text, e[256];
	size_t	 len;
	int	 missing, rc;

	memset(ini, 0, sizeof(*ini));
	text = creds_read_file(path, CREDS_MAX_FILE, &len, &missing, err,
	    errlen);
	if (text == NULL)
		return missing ? 0 : -1;
	rc = creds_ini_parse(text, len, ini, e, sizeof(e));
	if (rc == -1)
		errf(err, errlen, "%s: %s", path, e);
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

/* ---- Plans --------------------------------------------------------- */

static void
step_free(struct creds_role_step *s)
{
	free(s->role_arn);
	free(s->session_name);
	free(s->external_id);
	free(s->via);
	memset(s, 0, sizeof(*s));
}

void
creds_plan_free(struct creds_plan *plan)
{
	size_t	i;

	if (plan == NULL)
		return;
	creds_clear(&plan->static_creds);
	free(plan->token_file);
	free(plan->role_arn);
	free(plan->session_name);
	free(plan->command);
	free(plan->url);
	creds_free_secret(plan->auth_token);
	free(plan->auth_token_file);
	for (i = 0; i < plan->nsteps; i++)
		step_free(&plan->steps[i]);
	free(plan->region);
	free(plan->sts_endpoint);
	memset(plan, 0, sizeof(*plan));
}

static int
plan_step(struct creds_plan *plan, const char *role_arn,
    const char *session_name, const char *external_id, const char *via,
    char *err, size_t errlen)
{
	struct creds_role_step	*s;
	int			 failed = 0;

	if (plan->nsteps >= CREDS_MAX_CHAIN + 1) {
		errf(err, errlen, "more than %d chained roles",
		    CREDS_MAX_CHAIN);
		return -1;
	}
	if (strncmp(role_arn, "arn:", 4) != 0 ||
	    strstr(role_arn, ":role/") == NULL) {
		errf(err, errlen, "%s: \"%s\" is not an IAM role ARN", via,
		    role_arn);
		return -1;
	}
	s = &plan->steps[plan->nsteps];
	s->role_arn = dupnull(role_arn, &failed);
	s->session_name = dupnull(session_name != NULL ? session_name :
	    CREDS_SESSION_NAME, &failed);
	s->external_id = dupnull(external_id, &failed);
	s->via = dupnull(via, &failed);
	plan->nsteps++;
	if (failed) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int
plan_static(struct creds_plan *plan, const char *ak, const char *sk,
    const char *tok, char *err, size_t errlen)
{
	int	failed = 0;

	plan->source = CREDS_SRC_STATIC;
	plan->static_creds.access_key_id = dupnull(ak, &failed);
	plan->static_creds.secret_access_key = dupnull(sk, &failed);
	plan->static_creds.session_token = tok != NULL && tok[0] != '\0' ?
	    dupnull(tok, &failed) : NULL;
	if (failed) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int
plan_container(struct creds_plan *plan, const char *const *env, char *err,
    size_t errlen);
static int
plan_imds(struct creds_plan *plan, const char *const *env, char *err,
    size_t errlen);

/* Value of key in a profile: the credentials file wins over config. */
struct profile {
	const struct creds_ini_section	*cred;
	const struct creds_ini_section	*conf;
};

static const char *
prof_get(const struct profile *pr, const char *key)
{
	const char	*v;

	if ((v = creds_ini_get(pr->cred, key)) != NULL && v[0] != '\0')
		return v;
	if ((v = creds_ini_get(pr->conf, key)) != NULL && v[0] != '\0')
		return v;
	return NULL;
}

static int
prof_find(const struct creds_ini *config, const struct creds_ini *credentials,
    const char *name, struct profile *pr)
{
	char	sec[512];

	pr->cred = creds_ini_section(credentials, name);
	snprintf(sec, sizeof(sec), "profile %s", name);
	pr->conf = creds_ini_section(config, sec);
	if (pr->conf == NULL && strcmp(name, "default") == 0)
		pr->conf = creds_ini_section(config, "default");
	return pr->cred != NULL || pr->conf != NULL;
}

static int
profile_resolve(const struct creds_ini *config,
    const struct creds_ini *credentials, const char *name, int must_exist,
    const char *const *env, struct creds_plan *plan, const char **chain,
    size_t depth, char *err, size_t errlen)
{
	struct profile	 pr;
	const char	*role, *src, *csrc, *wit, *ak, *sk, *proc, *reg;
	char		 via[300], path[512];
	size_t		 i;
	int		 r, failed = 0;

	if (!prof_find(config, credentials, name, &pr)) {
		if (must_exist) {
			errf(err, errlen, "profile \"%s\" not found in the "
			    "shared config or credentials file", name);
			return -1;
		}
		return 0;
	}
	for (i = 0; i < depth; i++)
		if (strcmp(chain[i], name) == 0) {
			path[0] = '\0';
			for (i = 0; i < depth; i++) {
				size_t l = strlen(path);

				snprintf(path + l, sizeof(path) - l, "%s -> ",
				    chain[i]);
			}
			errf(err, errlen, "source_profile loop: %s%s", path,
			    name);
			return -1;
		}
	if (depth >= CREDS_MAX_CHAIN) {
		errf(err, errlen, "profile \"%s\": source_profile chain "
		    "longer than %d", name, CREDS_MAX_CHAIN);
		return -1;
	}
	chain[depth] = name;
	if (plan->region == NULL && (reg = prof_get(&pr, "region")) != NULL)
		plan->region = dupnull(reg, &failed);
	snprintf(via, sizeof(via), "profile %s", name);

	ak = prof_get(&pr, "aws_access_key_id");
	sk = prof_get(&pr, "aws_secret_access_key");
	if ((ak == NULL) != (sk == NULL)) {
		errf(err, errlen, "profile \"%s\": %s without %s", name,
		    ak != NULL ? "aws_access_key_id" : "aws_secret_access_key",
		    ak != NULL ? "aws_secret_access_key" : "aws_access_key_id");
		return -1;
	}
	if ((role = prof_get(&pr, "role_arn")) != NULL) {
		src = prof_get(&pr, "source_profile");
		csrc = prof_get(&pr, "credential_source");
		wit = prof_get(&pr, "web_identity_token_file");
		if (src != NULL && csrc != NULL) {
			errf(err, errlen, "profile \"%s\": both "
			    "source_profile and credential_source", name);
			return -1;
		}
		if (src != NULL && strcmp(src, name) == 0) {
			/* A profile may be its own source via its keys. */
			if (ak == NULL) {
				errf(err, errlen, "profile \"%s\" is its own "
				    "source_profile but has no keys", name);
				return -1;
			}
			if (plan_static(plan, ak, sk, prof_get(&pr,
			    "aws_session_token"), err, errlen) == -1)
				return -1;
			snprintf(plan->desc, sizeof(plan->desc), "profile %s "
			    "(static keys)", name);
		} else if (src != NULL) {
			r = profile_resolve(config, credentials, src, 1, env,
			    plan, chain, depth + 1, err, errlen);
			if (r == -1)
				return -1;
			if (r == 0) {
				errf(err, errlen, "profile \"%s\": "
				    "source_profile \"%s\" has no credentials",
				    name, src);
				return -1;
			}
		} else if (csrc != NULL) {
			if (strcmp(csrc, "Environment") == 0) {
				const char *eak = envv(env,
				    "AWS_ACCESS_KEY_ID");
				const char *esk = envv(env,
				    "AWS_SECRET_ACCESS_KEY");

				if (eak == NULL || esk == NULL) {
					errf(err, errlen, "profile \"%s\": "
					    "credential_source Environment but "
					    "AWS_ACCESS_KEY_ID/AWS_SECRET_"
					    "ACCESS_KEY are not set", name);
					return -1;
				}
				if (plan_static(plan, eak, esk, envv(env,
				    "AWS_SESSION_TOKEN"), err, errlen) == -1)
					return -1;
				snprintf(plan->desc, sizeof(plan->desc),
				    "environment");
			} else if (strcmp(csrc, "Ec2InstanceMetadata") == 0) {
				if (plan_imds(plan, env, err, errlen) != 1) {
					errf(err, errlen, "profile \"%s\": "
					    "credential_source "
					    "Ec2InstanceMetadata but "
					    "AWS_EC2_METADATA_DISABLED is set",
					    name);
					return -1;
				}
			} else if (strcmp(csrc, "EcsContainer") == 0) {
				r = plan_container(plan, env, err, errlen);
				if (r == -1)
					return -1;
				if (r == 0) {
					errf(err, errlen, "profile \"%s\": "
					    "credential_source EcsContainer "
					    "but AWS_CONTAINER_CREDENTIALS_"
					    "RELATIVE_URI/FULL_URI are not "
					    "set", name);
					return -1;
				}
			} else {
				errf(err, errlen, "profile \"%s\": unknown "
				    "credential_source \"%s\"", name, csrc);
				return -1;
			}
		} else if (wit != NULL) {
			plan->source = CREDS_SRC_WEB_IDENTITY;
			plan->token_file = dupnull(wit, &failed);
			plan->role_arn = dupnull(role, &failed);
			plan->session_name = dupnull(prof_get(&pr,
			    "role_session_name") != NULL ? prof_get(&pr,
			    "role_session_name") : CREDS_SESSION_NAME, &failed);
			snprintf(plan->desc, sizeof(plan->desc), "profile %s "
			    "(web identity, role %s)", name, role);
			if (failed) {
				errf(err, errlen, "out of memory");
				return -1;
			}
			return 1;
		} else {
			errf(err, errlen, "profile \"%s\": role_arn without "
			    "source_profile, credential_source or "
			    "web_identity_token_file", name);
			return -1;
		}
		if (plan_step(plan, role, prof_get(&pr, "role_session_name"),
		    prof_get(&pr, "external_id"), via, err, errlen) == -1)
			return -1;
		return 1;
	}
	if (ak != NULL) {
		if (plan_static(plan, ak, sk, prof_get(&pr,
		    "aws_session_token"), err, errlen) == -1)
			return -1;
		snprintf(plan->desc, sizeof(plan->desc), "profile %s (static "
		    "keys)", name);
		return 1;
	}
	if ((proc = prof_get(&pr, "credential_process")) != NULL) {
		plan->source = CREDS_SRC_PROCESS;
		if ((plan->command = strdup(proc)) == NULL) {
			errf(err, errlen, "out of memory");
			return -1;
		}
		snprintf(plan->desc, sizeof(plan->desc), "profile %s "
		    "(credential_process)", name);
		return 1;
	}
	return failed ? -1 : 0;
}

int
creds_profile_resolve(const struct creds_ini *config,
    const struct creds_ini *credentials, const char *name, int must_exist,
    const char *const *env, struct creds_plan *plan, char *err,
    size_t errlen)
{
	const char	*chain[CREDS_MAX_CHAIN];

	return profile_resolve(config, credentials, name, must_exist, env,
	    plan, chain, 0, err, errlen);
}

/* https, or plain http to loopback or the ECS/EKS agents' link-local
 * addresses. */
static int
container_url_ok(const char *url, char *err, size_t errlen)
{
	static const char *const	 agents[] = { "169.254.170.2",
	    "169.254.170.23", "fd00:ec2::23" };
	struct endpoint_url		 u;
	char				 e[256];
	size_t				 i;

	if (endpoint_url_parse(url, ENDPOINT_NO_USERINFO, &u, e,
	    sizeof(e)) == -1) {
		errf(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI: %s",
		    e);
		return 0;
	}
	if (u.https || endpoint_host_is_loopback(u.host))
		return 1;
	for (i = 0; i < sizeof(agents) / sizeof(agents[0]); i++)
		if (strcmp(u.host, agents[i]) == 0)
			return 1;
	errf(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http "
	    "only to loopback or the container agent (169.254.170.2, "
	    "169.254.170.23)");
	return 0;
}

/* 1 when the container provider applies, 0 when not, -1 on error. */
static int
plan_container(struct creds_plan *plan, const char *const *env, char *err,
    size_t errlen)
{
	const char	*rel, *full, *tok, *tokf;
	int		 failed = 0;
	size_t		 n;

	rel = envv(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	full = envv(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
	if (rel == NULL && full == NULL)
		return 0;
	plan->source = CREDS_SRC_CONTAINER;
	if (rel != NULL) {
		if (rel[0] != '/') {
			errf(err, errlen, "AWS_CONTAINER_CREDENTIALS_"
			    "RELATIVE_URI does not start with /");
			return -1;
		}
		n = strlen(CREDS_CONTAINER_HOST) + strlen(rel) + 1;
		if ((plan->url = malloc(n)) == NULL) {
			errf(err, errlen, "out of memory");
			return -1;
		}
		snprintf(plan->url, n, "%s%s", CREDS_CONTAINER_HOST, rel);
	} else {
		if (!container_url_ok(full, err, errlen))
			return -1;
		plan->url = dupnull(full, &failed);
	}
	tok = envv(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
	tokf = envv(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	plan->auth_token_file = dupnull(tokf, &failed);
	plan->auth_token = tokf == NULL ? dupnull(tok, &failed) : NULL;
	if (plan->auth_token != NULL &&
	    strpbrk(plan->auth_token, "\r\n") != NULL) {
		errf(err, errlen, "AWS_CONTAINER_AUTHORIZATION_TOKEN "
		    "contains a line break");
		return -1;
	}
	snprintf(plan->desc, sizeof(plan->desc), "container credentials "
	    "(%s)", rel != NULL ? "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" :
	    "AWS_CONTAINER_CREDENTIALS_FULL_URI");
	if (failed) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	return 1;
}

/* 1 when IMDS applies, 0 when disabled, -1 on error. */
static int
plan_imds(struct creds_plan *plan, const char *const *env, char *err,
    size_t errlen)
{
	const char	*dis, *ep, *mode;
	char		 e[256];
	size_t		 n;

	dis = envv(env, "AWS_EC2_METADATA_DISABLED");
	if (dis != NULL && strcasecmp(dis, "true") == 0)
		return 0;
	ep = envv(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
	mode = envv(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
	if (ep == NULL)
		ep = mode != NULL && strcasecmp(mode, "IPv6") == 0 ?
		    CREDS_IMDS_ENDPOINT6 : CREDS_IMDS_ENDPOINT;
	if (endpoint_url_parse(ep, ENDPOINT_NO_QUERY | ENDPOINT_NO_USERINFO,
	    NULL, e, sizeof(e)) == -1) {
		errf(err, errlen, "AWS_EC2_METADATA_SERVICE_ENDPOINT: %s", e);
		return -1;
	}
	plan->source = CREDS_SRC_IMDS;
	if ((plan->url = strdup(ep)) == NULL) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	/* The paths are appended: drop a trailing slash. */
	n = strlen(plan->url);
	while (n > 0 && plan->url[n - 1] == '/')
		plan->url[--n] = '\0';
	snprintf(plan->desc, sizeof(plan->desc), "EC2 instance metadata "
	    "(IMDSv2)");
	return 1;
}

/* "~/x" against HOME; NULL when it can't be resolved. */
static char *
expand_home(const char *path, const char *const *env)
{
	const char	*home;
	char		*p;
	size_t		 n;

	if (path[0] != '~')
		return strdup(path);
	if (path[1] != '/' || (home = envv(env, "HOME")) == NULL)
		return NULL;
	n = strlen(home) + strlen(path);
	if ((p = malloc(n)) == NULL)
		return NULL;
	snprintf(p, n, "%s%s", home, path + 1);
	return p;
}

int
creds_sts_endpoint(const char *override, int allow_http, const char *region,
    const char *const *env, char *url, size_t urllen, char *err,
    size_t errlen)
{
	const char	*ep;

	if ((ep = override) == NULL && (ep = envv(env,
	    "AWS_ENDPOINT_URL_STS")) == NULL)
		ep = envv(env, "AWS_ENDPOINT_URL");
	return endpoint_sts(ep, allow_http, region, url, urllen, err, errlen);
}

static int
plan_finish(const struct creds_config *cfg, const char *const *env,
    struct creds_plan *plan, char *err, size_t errlen)
{
	char	url[512], *d;
	size_t	i, l;

	if (cfg != NULL && cfg->assume_role != NULL &&
	    cfg->assume_role[0] != '\0' &&
	    plan_step(plan, cfg->assume_role, CREDS_SESSION_NAME,
	    cfg->external_id, "config assume_role", err, errlen) == -1)
		return -1;
	if (plan->region == NULL) {
		const char *r = envv(env, "AWS_REGION");

		if (r == NULL)
			r = envv(env, "AWS_DEFAULT_REGION");
		if ((plan->region = strdup(r != NULL ? r : "us-east-1")) ==
		    NULL) {
			errf(err, errlen, "out of memory");
			return -1;
		}
	}
	if (plan->nsteps > 0 || plan->source == CREDS_SRC_WEB_IDENTITY) {
		if (creds_sts_endpoint(cfg != NULL ? cfg->sts_endpoint : NULL,
		    cfg != NULL && cfg->allow_http, plan->region, env, url, sizeof(url), err, errlen) == -1)
			return -1;
		if ((plan->sts_endpoint = strdup(url)) == NULL) {
			errf(err, errlen, "out of memory");
			return -1;
		}
	}
	d = plan->desc;
	for (i = 0; i < plan->nsteps; i++) {
		l = strlen(d);
		snprintf(d + l, sizeof(plan->desc) - l, ", then AssumeRole %s",
		    plan->steps[i].role_arn);
	}
	return 0;
}

int
creds_plan_resolve(const struct creds_config *cfg, const char *const *env,
    struct creds_plan *plan, char *err, size_t errlen)
{
	static const struct creds_config	 none;
	struct creds_ini			 conf, cred;
	const char				*ak, *sk, *tf, *ra, *name, *p;
	char					*cpath = NULL, *kpath = NULL;
	char					 e[400];
	int					 r, explicit, failed = 0;

	memset(plan, 0, sizeof(*plan));
	if (cfg == NULL)
		cfg = &none;
	if (cfg->region != NULL && cfg->region[0] != '\0' &&
	    (plan->region = strdup(cfg->region)) == NULL)
		goto oom;

	/* 1. The config file's own keys. */
	if (cfg->access_key_id != NULL || cfg->secret_access_key != NULL) {
		if (cfg->access_key_id == NULL ||
		    cfg->secret_access_key == NULL) {
			errf(err, errlen, "config: aws.access_key_id and "
			    "aws.secret_access_key must be set together");
			goto fail;
		}
		if (plan_static(plan, cfg->access_key_id,
		    cfg->secret_access_key, cfg->session_token, err,
		    errlen) == -1)
			goto fail;
		snprintf(plan->desc, sizeof(plan->desc), "config "
		    "(aws.access_key_id)");
		goto done;
	}

	/* 2. Environment, unless the config names a profile. */
	ak = envv(env, "AWS_ACCESS_KEY_ID");
	sk = envv(env, "AWS_SECRET_ACCESS_KEY");
	if (cfg->profile == NULL && (ak != NULL || sk != NULL)) {
		if (ak == NULL || sk == NULL) {
			errf(err, errlen, "environment: %s is set but %s is "
			    "not", ak != NULL ? "AWS_ACCESS_KEY_ID" :
			    "AWS_SECRET_ACCESS_KEY", ak != NULL ?
			    "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
			goto fail;
		}
		if (plan_static(plan, ak, sk, envv(env, "AWS_SESSION_TOKEN"),
		    err, errlen) == -1)
			goto fail;
		snprintf(plan->desc, sizeof(plan->desc), "environment "
		    "(AWS_ACCESS_KEY_ID)");
		goto done;
	}

	/* 3. Web identity from the environment. */
	tf = envv(env, "AWS_WEB_IDENTITY_TOKEN_FILE");
	ra = envv(env, "AWS_ROLE_ARN");
	if (tf != NULL) {
		if (ra == NULL) {
			errf(err, errlen, "environment: "
			    "AWS_WEB_IDENTITY_TOKEN_FILE is set but "
			    "AWS_ROLE_ARN is not");
			goto fail;
		}
		plan->source = CREDS_SRC_WEB_IDENTITY;
		plan->token_file = dupnull(tf, &failed);
		plan->role_arn = dupnull(ra, &failed);
		p = envv(env, "AWS_ROLE_SESSION_NAME");
		plan->session_name = dupnull(p != NULL ? p :
		    CREDS_SESSION_NAME, &failed);
		if (failed)
			goto oom;
		snprintf(plan->desc, sizeof(plan->desc), "web identity "
		    "(AWS_WEB_IDENTITY_TOKEN_FILE, role %s)", ra);
		goto done;
	}

	/* 4. The shared files. */
	explicit = 1;
	if ((name = cfg->profile) == NULL && (name = envv(env,
	    "AWS_PROFILE")) == NULL && (name = envv(env,
	    "AWS_DEFAULT_PROFILE")) == NULL) {
		name = "default";
		explicit = 0;
	}
	p = envv(env, "AWS_CONFIG_FILE");
	cpath = expand_home(p != NULL ? p : "~/.aws/config", env);
	p = envv(env, "AWS_SHARED_CREDENTIALS_FILE");
	kpath = expand_home(p != NULL ? p : "~/.aws/credentials", env);
	memset(&conf, 0, sizeof(conf));
	memset(&cred, 0, sizeof(cred));
	if (cpath != NULL && creds_ini_load(cpath, &conf, err, errlen) == -1)
		goto fail;
	if (kpath != NULL && creds_ini_load(kpath, &cred, err, errlen) == -1) {
		creds_ini_free(&conf);
		goto fail;
	}
	r = creds_profile_resolve(&conf, &cred, name, explicit, env, plan, e,
	    sizeof(e));
	creds_ini_free(&conf);
	creds_ini_free(&cred);
	if (r == -1) {
		errf(err, errlen, "shared config: %s", e);
		goto fail;
	}
	if (r == 1)
		goto done;

	/* 5. Container, 6. IMDS. */
	if ((r = plan_container(plan, env, err, errlen)) == -1)
		goto fail;
	if (r == 1)
		goto done;
	if ((r = plan_imds(plan, env, err, errlen)) == -1)
		goto fail;
	if (r == 1)
		goto done;
	errf(err, errlen, "no AWS credentials: none in the config, the "
	    "environment, web identity, profile \"%s\" or a container, and "
	    "AWS_EC2_METADATA_DISABLED is set", name);
	goto fail;
done:
	if (plan_finish(cfg, env, plan, err, errlen) == -1)
		goto fail;
	free(cpath);
	free(kpath);
	return 0;
oom:
	errf(err, errlen, "out of memory");
fail:
	free(cpath);
	free(kpath);
	creds_plan_free(plan);
	return -1;
}

/* ---- Requests ------------------------------------------------------ */

void
creds_http_req_free(struct creds_http_req *r)
{
	size_t	i;

	if (r == NULL)
		return;
	free(r->method);
	free(r->url);
	for (i = 0; i < r->nheaders; i++)
		creds_free_secret(r->headers[i]);
	if (r->body != NULL) {
		OPENSSL_cleanse(r->body, r->bodylen);
		free(r->body);
	}
	memset(r, 0, sizeof(*r));
}

static int
req_header(struct creds_http_req *r, const char *name, const char *value)
{
	size_t	n;
	char	*h;

	if (r->nheaders >= CREDS_HTTP_MAX_HEADERS)
		return -1;
	n = strlen(name) + strlen(value) + 3;
	if ((h = malloc(n)) == NULL)
		return -1;
	snprintf(h, n, "%s: %s", name, value);
	r->headers[r->nheaders++] = h;
	r->headers[r->nheaders] = NULL;
	return 0;
}

static int
req_init(struct creds_http_req *r, const char *method, const char *base,
    const char *path)
{
	size_t	n;

	memset(r, 0, sizeof(*r));
	n = strlen(base) + strlen(path) + 1;
	if ((r->method = strdup(method)) == NULL ||
	    (r->url = malloc(n)) == NULL) {
		free(r->method);
		r->method = NULL;
		return -1;
	}
	snprintf(r->url, n, "%s%s", base, path);
	return 0;
}

struct form {
	char	*s;
	size_t	 len;
	int	 failed;
};

static void
form_add(struct form *f, const char *key, const char *value)
{
	char	*ek, *ev, *p;
	size_t	 n;

	if (f->failed)
		return;
	ek = sigv4_uri_encode(key, strlen(key), 0);
	ev = sigv4_uri_encode(value, strlen(value), 0);
	if (ek == NULL || ev == NULL) {
		f->failed = 1;
		goto out;
	}
	n = f->len + strlen(ek) + strlen(ev) + 3;
	if ((p = realloc(f->s, n)) == NULL) {
		f->failed = 1;
		goto out;
	}
	f->s = p;
	f->len += (size_t)snprintf(f->s + f->len, n - f->len, "%s%s=%s",
	    f->len > 0 ? "&" : "", ek, ev);
out:
	free(ek);
	creds_free_secret(ev);
}

#define FORM_CTYPE	"application/x-www-form-urlencoded; charset=utf-8"

int
creds_sts_assume_role_request(const char *endpoint, const char *region,
    const struct creds_role_step *step, const struct creds *src, time_t now,
    struct creds_http_req *out, char *err, size_t errlen)
{
	struct sigv4_header	 h[2];
	struct sigv4_request	 sr;
	struct sigv4_creds	 sc;
	struct form		 f = { NULL, 0, 0 };
	struct endpoint_url	 u;
	char			 auth[SIGV4_AUTH_MAX];
	char			 amzdate[SIGV4_AMZDATE_LEN], e[256];

	memset(out, 0, sizeof(*out));
	if (endpoint_url_parse(endpoint, ENDPOINT_NO_QUERY |
	    ENDPOINT_NO_USERINFO, &u, e, sizeof(e)) == -1) {
		errf(err, errlen, "STS endpoint: %s", e);
		return -1;
	}
	form_add(&f, "Action", "AssumeRole");
	form_add(&f, "Version", "2011-06-15");
	form_add(&f, "RoleArn", step->role_arn);
	form_add(&f, "RoleSessionName", step->session_name != NULL ?
	    step->session_name : CREDS_SESSION_NAME);
	if (step->external_id != NULL)
		form_add(&f, "ExternalId", step->external_id);
	if (f.failed)
		goto oom;
	h[0].name = "Host";
	h[0].value = u.hostport;
	h[1].name = "Content-Type";
	h[1].value = FORM_CTYPE;
	memset(&sr, 0, sizeof(sr));
	sr.method = "POST";
	sr.path = u.path;
	sr.headers = h;
	sr.nheaders = 2;
	sr.body = f.s;
	sr.bodylen = f.len;
	sc.access_key = src->access_key_id;
	sc.secret_key = src->secret_access_key;
	sc.session_token = src->session_token;
	if (sigv4_sign(&sr, &sc, region, "sts", now, NULL, auth, sizeof(auth),
	    amzdate, e, sizeof(e)) == -1) {
		errf(err, errlen, "signing AssumeRole: %s", e);
		free(f.s);
		return -1;
	}
	if (req_init(out, "POST", endpoint, "") == -1 ||
	    req_header(out, "Content-Type", FORM_CTYPE) == -1 ||
	    req_header(out, "X-Amz-Date", amzdate) == -1 ||
	    (src->session_token != NULL && req_header(out,
	    "X-Amz-Security-Token", src->session_token) == -1) ||
	    req_header(out, "Authorization", auth) == -1 ||
	    req_header(out, "Accept", "text/xml") == -1)
		goto oom;
	out->body = f.s;
	out->bodylen = f.len;
	return 0;
oom:
	free(f.s);
	creds_http_req_free(out);
	errf(err, errlen, "out of memory");
	return -1;
}

int
creds_sts_web_identity_request(const char *endpoint, const char *role_arn,
    const char *session_name, const char *token, struct creds_http_req *out,
    char *err, size_t errlen)
{
	struct form	f = { NULL, 0, 0 };

	memset(out, 0, sizeof(*out));
	form_add(&f, "Action", "AssumeRoleWithWebIdentity");
	form_add(&f, "Version", "2011-06-15");
	form_add(&f, "RoleArn", role_arn);
	form_add(&f, "RoleSessionName", session_name != NULL ? session_name :
	    CREDS_SESSION_NAME);
	form_add(&f, "WebIdentityToken", token);
	if (f.failed || req_init(out, "POST", endpoint, "") == -1 ||
	    req_header(out, "Content-Type", FORM_CTYPE) == -1 ||
	    req_header(out, "Accept", "text/xml") == -1) {
		if (f.s != NULL) {
			OPENSSL_cleanse(f.s, f.len);
			free(f.s);
		}
		creds_http_req_free(out);
		errf(err, errlen, "out of memory");
		return -1;
	}
	out->body = f.s;
	out->bodylen = f.len;
	out->secret_body = 1;
	return 0;
}

/* Contents of <tag>...</tag> within [s, e), entity-decoded; NULL if absent. */
static char *
xml_get(const char *s, const char *e, const char *tag, const char **after)
{
	char		 open[64], close[64];
	const char	*p, *q, *r;
	char		*out, *o;
	size_t		 ol, cl;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	ol = strlen(open);
	cl = strlen(close);
	if ((p = memmem(s, (size_t)(e - s), open, ol)) == NULL) {
		/* <tag xmlns="..."> */
		open[ol - 1] = ' ';
		if ((p = memmem(s, (size_t)(e - s), open, ol)) == NULL)
			return NULL;
		if ((p = memchr(p, '>', (size_t)(e - p))) == NULL)
			return NULL;
		p++;
	} else
		p += ol;
	if ((q = memmem(p, (size_t)(e - p), close, cl)) == NULL)
		return NULL;
	if (after != NULL)
		*after = q + cl;
	if ((out = malloc((size_t)(q - p) + 1)) == NULL)
		return NULL;
	for (o = out, r = p; r < q; ) {
		static const struct { const char *ent; char c; } ents[] = {
			{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
			{ "&quot;", '"' }, { "&apos;", '\'' },
		};
		size_t	i;
		int	done = 0;

		if (*r == '&') {
			for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
				size_t l = strlen(ents[i].ent);

				if ((size_t)(q - r) >= l &&
				    memcmp(r, ents[i].ent, l) == 0) {
					*o++ = ents[i].c;
					r += l;
					done = 1;
					break;
				}
			}
			if (!done && r + 2 < q && r[1] == '#') {
				char		*end;
				unsigned long	 v;

				errno = 0;
				v = r[2] == 'x' ? strtoul(r + 3, &end, 16) :
				    strtoul(r + 2, &end, 10);
				if (errno == 0 && end < q && *end == ';' &&
				    v > 0 && v < 0x80) {
					*o++ = (char)v;
					r = end + 1;
					done = 1;
				}
			}
		}
		if (!done)
			*o++ = *r++;
	}
	*o = '\0';
	return out;
}

/* A server's message, made safe for a log line. */
static void
sanitize(char *s, size_t max)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = ' ';
	if (i > max)
		s[max] = '\0';
}

/* Checks parsed credentials are complete and plausible. */
static int
creds_check(struct creds *c, const char *what, char *err, size_t errlen)
{
	const char	*p;

	if (c->access_key_id == NULL || c->access_key_id[0] == '\0' ||
	    c->secret_access_key == NULL || c->secret_access_key[0] == '\0') {
		errf(err, errlen, "%s: answer without AccessKeyId or "
		    "SecretAccessKey", what);
		return -1;
	}
	for (p = c->access_key_id; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p)) {
			errf(err, errlen, "%s: malformed AccessKeyId", what);
			return -1;
		}
	if (c->session_token != NULL &&
	    strpbrk(c->session_token, "\r\n") != NULL) {
		errf(err, errlen, "%s: malformed session token", what);
		return -1;
	}
	return 0;
}

int
creds_sts_parse(long status, const char *body, size_t len, struct creds *out,
    char *err, size_t errlen)
{
	const char	*s, *e, *cs;
	char		*exp = NULL, *code, *msg;
	const char	*ce;

	memset(out, 0, sizeof(*out));
	if (len > CREDS_MAX_BODY) {
		errf(err, errlen, "STS: answer larger than %d bytes",
		    CREDS_MAX_BODY);
		return -1;
	}
	s = body;
	e = body + len;
	if (status == 200 && (cs = memmem(s, len, "<Credentials>", 13)) !=
	    NULL) {
		if ((ce = memmem(cs, (size_t)(e - cs), "</Credentials>", 14)) ==
		    NULL)
			goto bad;
		ce += 14;
		out->access_key_id = xml_get(cs, ce, "AccessKeyId", NULL);
		out->secret_access_key = xml_get(cs, ce, "SecretAccessKey",
		    NULL);
		out->session_token = xml_get(cs, ce, "SessionToken", NULL);
		exp = xml_get(cs, ce, "Expiration", NULL);
		if (creds_check(out, "STS", err, errlen) == -1)
			goto fail;
		if (exp == NULL || creds_parse_time(exp, &out->expiration) ==
		    -1) {
			errf(err, errlen, "STS: missing or malformed "
			    "Expiration");
			goto fail;
		}
		free(exp);
		return 0;
	}
	if ((code = xml_get(s, e, "Code", NULL)) != NULL) {
		msg = xml_get(s, e, "Message", NULL);
		sanitize(code, 64);
		if (msg != NULL)
			sanitize(msg, 300);
		errf(err, errlen, "STS: %s: %s (HTTP %ld)", code,
		    msg != NULL ? msg : "no message", status);
		free(code);
		free(msg);
		return -1;
	}
bad:
	errf(err, errlen, "STS: HTTP %ld with an unrecognised answer",
	    status);
	return -1;
fail:
	free(exp);
	creds_clear(out);
	return -1;
}

int
creds_imds_token_request(const char *base, struct creds_http_req *out,
    char *err, size_t errlen)
{
	if (req_init(out, "PUT", base, "/latest/api/token") == -1 ||
	    req_header(out, "X-aws-ec2-metadata-token-ttl-seconds", "21600") ==
	    -1) {
		creds_http_req_free(out);
		errf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
creds_imds_creds_request(const char *base, const char *token,
    const char *role, struct creds_http_req *out, char *err, size_t errlen)
{
	char	path[512];

	if (role != NULL && (role[0] == '\0' || strpbrk(role, "/?#%\r\n ") !=
	    NULL)) {
		errf(err, errlen, "IMDS: malformed role name");
		return -1;
	}
	if (strpbrk(token, "\r\n") != NULL) {
		errf(err, errlen, "IMDS: malformed token");
		return -1;
	}
	if (snprintf(path, sizeof(path),
	    "/latest/meta-data/iam/security-credentials/%s",
	    role != NULL ? role : "") >= (int)sizeof(path)) {
		errf(err, errlen, "IMDS: role name too long");
		return -1;
	}
	if (req_init(out, "GET", base, path) == -1 ||
	    req_header(out, "X-aws-ec2-metadata-token", token) == -1) {
		creds_http_req_free(out);
		errf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
creds_imds_parse_role(long status, const char *body, size_t len, char *role,
    size_t rolelen, char *err, size_t errlen)
{
	size_t	n;

	if (status == 404) {
		errf(err, errlen, "IMDS: no IAM role attached to this "
		    "instance (HTTP 404)");
		return -1;
	}
	if (status != 200) {
		errf(err, errlen, "IMDS: listing roles: HTTP %ld", status);
		return -1;
	}
	while (len > 0 && isspace((unsigned char)*body)) {
		body++;
		len--;
	}
	for (n = 0; n < len && body[n] != '\n' && body[n] != '\r'; n++)
		if (!isgraph((unsigned char)body[n]) || body[n] == '/') {
			errf(err, errlen, "IMDS: malformed role name");
			return -1;
		}
	if (n == 0 || n >= rolelen) {
		errf(err, errlen, "IMDS: %s role name", n == 0 ? "empty" :
		    "too long");
		return -1;
	}
	memcpy(role, body, n);
	role[n] = '\0';
	return 0;
}

static char *
json_str(json_t *o, const char *key)
{
	const char	*v = json_string_value(json_object_get(o, key));

	return v != NULL ? strdup(v) : NULL;
}

int
creds_json_parse(long status, const char *body, size_t len,
    struct creds *out, char *err, size_t errlen)
{
	json_t		*j;
	json_error_t	 je;
	const char	*code, *msg, *exp;
	char		 m[300];

	memset(out, 0, sizeof(*out));
	if (len > CREDS_MAX_BODY) {
		errf(err, errlen, "answer larger than %d bytes",
		    CREDS_MAX_BODY);
		return -1;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (status != 200) {
		msg = j != NULL ? json_string_value(json_object_get(j,
		    "message")) : NULL;
		if (msg == NULL && j != NULL)
			msg = json_string_value(json_object_get(j, "Message"));
		snprintf(m, sizeof(m), "%s", msg != NULL ? msg : "");
		sanitize(m, 200);
		errf(err, errlen, "HTTP %ld%s%s", status, m[0] ? ": " : "",
		    m);
		json_decref(j);
		return -1;
	}
	if (j == NULL || !json_is_object(j)) {
		errf(err, errlen, "answer is not a JSON object");
		json_decref(j);
		return -1;
	}
	code = json_string_value(json_object_get(j, "Code"));
	if (code != NULL && strcmp(code, "Success") != 0) {
		msg = json_string_value(json_object_get(j, "Message"));
		snprintf(m, sizeof(m), "%s: %s", code, msg != NULL ? msg :
		    "no message");
		sanitize(m, 250);
		errf(err, errlen, "%s", m);
		json_decref(j);
		return -1;
	}
	out->access_key_id = json_str(j, "AccessKeyId");
	out->secret_access_key = json_str(j, "SecretAccessKey");
	out->session_token = json_str(j, "Token");
	if (creds_check(out, "credentials", err, errlen) == -1)
		goto fail;
	exp = json_string_value(json_object_get(j, "Expiration"));
	if (exp != NULL && creds_parse_time(exp, &out->expiration) == -1) {
		errf(err, errlen, "malformed Expiration");
		goto fail;
	}
	json_decref(j);
	return 0;
fail:
	json_decref(j);
	creds_clear(out);
	return -1;
}

int
creds_container_request(const char *url, const char *token,
    struct creds_http_req *out, char *err, size_t errlen)
{
	if (token != NULL && strpbrk(token, "\r\n") != NULL) {
		errf(err, errlen, "container authorization token contains "
		    "a line break");
		return -1;
	}
	if (req_init(out, "GET", url, "") == -1 || (token != NULL &&
	    req_header(out, "Authorization", token) == -1) ||
	    req_header(out, "Accept", "application/json") == -1) {
		creds_http_req_free(out);
		errf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
creds_process_parse(const char *text, size_t len, struct creds *c, char *err,
    size_t errlen)
{
	json_t		*j, *v;
	json_error_t	 je;
	const char	*exp;

	memset(c, 0, sizeof(*c));
	if (len > CREDS_MAX_BODY) {
		errf(err, errlen, "credential_process: output larger than "
		    "%d bytes", CREDS_MAX_BODY);
		return -1;
	}
	if ((j = json_loadb(text, len, 0, &je)) == NULL || !json_is_object(j)) {
		errf(err, errlen, "credential_process: output is not a JSON "
		    "object");
		json_decref(j);
		return -1;
	}
	v = json_object_get(j, "Version");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		errf(err, errlen, "credential_process: Version must be 1");
		json_decref(j);
		return -1;
	}
	c->access_key_id = json_str(j, "AccessKeyId");
	c->secret_access_key = json_str(j, "SecretAccessKey");
	c->session_token = json_str(j, "SessionToken");
	if (creds_check(c, "credential_process", err, errlen) == -1)
		goto fail;
	exp = json_string_value(json_object_get(j, "Expiration"));
	if (exp != NULL && creds_parse_time(exp, &c->expiration) == -1) {
		errf(err, errlen, "credential_process: malformed "
		    "Expiration");
		goto fail;
	}
	json_decref(j);
	return 0;
fail:
	json_decref(j);
	creds_clear(c);
	return -1;
}
