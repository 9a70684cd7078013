/*
 * Key discovery, the pure half (discover.h).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arn.h"
#include "check.h"
#include "discover.h"
#include "policy.h"
#include "vendor.h"

/* "N", or an IAM ARN "arn:PARTITION:iam::N:..." */
static int
discover_principal_is(const char *v, const char *account)
{
	const char	*p;
	size_t		 alen = strlen(account);

	if (strcmp(v, account) == 0)
		return 1;
	if (strncmp(v, "arn:", 4) != 0 || (p = strstr(v, ":iam::")) == NULL)
		return 0;
	p += strlen(":iam::");
	return strncmp(p, account, alen) == 0 && p[alen] == ':';
}

int
discover_policy_names(const struct policy *p, const char *account)
{
	const struct policy_stmt	*st;
	size_t				 i, j;

	for (i = 0; i < p->nstmts; i++) {
		st = &p->stmts[i];
		if (st->not_principal)
			continue;
		for (j = 0; j < st->nprincipals; j++)
			if (st->principals[j].type == POLICY_PRINCIPAL_AWS &&
			    discover_principal_is(st->principals[j].value,
			    account))
				return 1;
	}
	return 0;
}

int
discover_match(const char *policy, const struct vendor *const *vs, size_t n,
    const char *region, char *err, size_t errlen)
{
	struct policy	*p;
	const char	*account;
	size_t		 i;
	int		 found = -1;

	if ((p = policy_parse(policy, strlen(policy), err, errlen)) == NULL)
		return -2;
	for (i = 0; i < n && found == -1; i++)
		if ((account = vendor_account(vs[i], region)) != NULL &&
		    discover_policy_names(p, account))
			found = (int)i;
	policy_free(p);
	return found;
}

const struct kms_alias *
discover_alias(const struct kms_alias *a, size_t n, const char *key_id)
{
	const struct kms_alias	*best = NULL;
	size_t			 i;

	for (i = 0; i < n; i++) {
		if (a[i].name == NULL || a[i].target_key_id == NULL ||
		    strcmp(a[i].target_key_id, key_id) != 0 ||
		    strncmp(a[i].name, "alias/aws/", 10) == 0)
			continue;
		if (best == NULL || strcmp(a[i].name, best->name) < 0)
			best = &a[i];
	}
	return best;
}

void
discover_name(const char *alias, const char *key_id, char *buf, size_t len)
{
	const char	*s = key_id;
	size_t		 i, max = len - 1;

	if (alias != NULL && strncmp(alias, "alias/", 6) == 0 &&
	    alias[6] != '\0')
		s = alias + 6;
	if (max > DISCOVER_NAME_MAX)
		max = DISCOVER_NAME_MAX;
	for (i = 0; i < max && s[i] != '\0'; i++)
		buf[i] = isalnum((unsigned char)s[i]) ||
		    strchr("._-", s[i]) != NULL ? s[i] : '-';
	buf[i] = '\0';
	if (i == 0)
		(void)snprintf(buf, len, "key");
}

int
discover_name_unique(char *buf, size_t len, int (*taken)(void *,
    const char *), void *arg)
{
	char	base[DISCOVER_NAME_MAX + 1], sfx[16];
	size_t	blen;
	int	i;

	if (!taken(arg, buf))
		return 0;
	(void)snprintf(base, sizeof(base), "%s", buf);
	for (i = 2; i < 100000; i++) {
		(void)snprintf(sfx, sizeof(sfx), "-%d", i);
		blen = strlen(base);
		/* The suffix always fits: the base gives way. */
		if (blen + strlen(sfx) >= len)
			blen = len - 1 - strlen(sfx);
		(void)snprintf(buf, len, "%.*s%s", (int)blen, base, sfx);
		if (!taken(arg, buf))
			return 0;
	}
	return -1;
}

int
discover_verdict(const char *arn, const struct kms_key_meta *m,
    const char *policy, const struct vendor *v, char *buf, size_t len)
{
	struct key_snapshot	 s;
	struct key_expect	 ex;
	struct findings		 fs;
	struct arn		 a;
	char			 err[256];
	const struct finding	*worst = NULL;
	size_t			 i;

	memset(&s, 0, sizeof(s));
	memset(&ex, 0, sizeof(ex));
	memset(&fs, 0, sizeof(fs));
	if (arn_parse(arn, &a, err, sizeof(err)) == -1) {
		(void)snprintf(buf, len, "check-failed: %s", err);
		return 0;
	}
	/* Borrowed for the call: the snapshot is never freed here. */
	s.polled_at = time(NULL);
	s.meta = *m;
	s.policy_known = 1;
	s.policy = (char *)(uintptr_t)policy;
	ex.id.arn = arn;
	ex.id.region = a.region;
	ex.id.account = a.account;
	ex.id.partition = a.partition;
	ex.vendor = v;
	if (check_key(&s, NULL, &ex, s.polled_at, &fs) == -1) {
		findings_clear(&fs);
		return -1;
	}
	for (i = 0; i < fs.n; i++)
		if (fs.v[i].severity > SEV_INFO && (worst == NULL ||
		    fs.v[i].severity > worst->severity))
			worst = &fs.v[i];
	if (worst == NULL)
		(void)snprintf(buf, len, "ok: vendor access complete");
	else
		(void)snprintf(buf, len, "%s: %s", worst->check,
		    worst->summary);
	findings_clear(&fs);
	return 0;
}
