/*
 * The configuration file: walks the ynode tree section by section and
 * collects every error of the file (capped) instead of stopping at the
 * first, so that one `keyhealthd validate` run shows all of them.  The
 * value checks the sections share (types, ranges, syntaxes) and the
 * error list are config_values.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "config.h"
#include "config_int.h"
#include "duration.h"
#include "endpoint.h"
#include "notify.h"
#include "policy.h"
#include "suggest.h"
#include "vendor.h"
#include "ynode.h"

static void	cfg_parse_error(struct config_errors *, const char *);
static struct config *cfg_new(const char *);

/* ---- sections ---- */

static const char * const cfg_aws_keys[] = { "profile", "region",
	"endpoint_url", "sts_endpoint_url", "assume_role", "ca_file",
	"use_fips", "allow_http", NULL };

/*
 * An aws block.  For a key's block (global != NULL) the flags start unset
 * (-1) and http is judged with the merged allow_http.
 */
static void
cfg_aws(struct cfg *c, const struct ynode *n, const char *where,
    const struct config_aws *global, struct config_aws *a)
{
	static const char * const secrets[] = { "aws_access_key_id",
	    "aws_secret_access_key", "aws_session_token", "access_key_id",
	    "secret_access_key", "session_token", "secret_key", "access_key",
	    NULL };
	const struct ynode	*v;
	char			 what[64];
	size_t			 i, j;
	int			 allow_http;

	if (cfg_type(c, n, YNODE_MAP, where) == -1)
		return;
	for (i = 0; i < n->nitems; i++)
		for (j = 0; secrets[j] != NULL; j++)
			if (strcmp(n->keys[i]->value, secrets[j]) == 0)
				cfg_err(c, n->keys[i], "%s: inline AWS "
				    "credentials are not supported; use a "
				    "profile (with AWS_SHARED_CREDENTIALS_FILE), "
				    "the environment or a role", where);
	for (i = 0; i < n->nitems; i++) {
		for (j = 0; secrets[j] != NULL; j++)
			if (strcmp(n->keys[i]->value, secrets[j]) == 0)
				break;
		if (secrets[j] != NULL)
			continue;
		for (j = 0; cfg_aws_keys[j] != NULL; j++)
			if (strcmp(n->keys[i]->value, cfg_aws_keys[j]) == 0)
				break;
		if (cfg_aws_keys[j] == NULL) {
			/* One key at a time, so the secrets stay out. */
			struct ynode	 one = *n;

			one.keys = &n->keys[i];
			one.items = &n->items[i];
			one.nitems = 1;
			cfg_unknown_keys(c, &one, cfg_aws_keys, where);
		}
	}
#define W(k)	(snprintf(what, sizeof(what), "%s.%s", where, k), what)
	if ((v = ynode_get(n, "use_fips")) != NULL)
		(void)cfg_bool(c, v, W("use_fips"), &a->use_fips);
	if ((v = ynode_get(n, "allow_http")) != NULL)
		(void)cfg_bool(c, v, W("allow_http"), &a->allow_http);
	allow_http = a->allow_http;
	if (allow_http == -1)
		allow_http = global != NULL ? global->allow_http : 0;
	if ((v = ynode_get(n, "profile")) != NULL &&
	    cfg_string(c, v, W("profile"), 128, &a->profile) == 0 &&
	    strpbrk(a->profile, " \t[]") != NULL) {
		cfg_err(c, v, "%s: a profile name has no spaces or brackets",
		    what);
		free(a->profile);
		a->profile = NULL;
	}
	if ((v = ynode_get(n, "region")) != NULL &&
	    cfg_string(c, v, W("region"), 31, &a->region) == 0 &&
	    !endpoint_region_ok(a->region)) {
		cfg_err(c, v, "%s: not an AWS region: '%s' (e.g. eu-west-1)",
		    what, a->region);
		free(a->region);
		a->region = NULL;
	}
	if ((v = ynode_get(n, "endpoint_url")) != NULL)
		(void)cfg_url(c, v, W("endpoint_url"), allow_http,
		    &a->endpoint_url);
	if ((v = ynode_get(n, "sts_endpoint_url")) != NULL)
		(void)cfg_url(c, v, W("sts_endpoint_url"), allow_http,
		    &a->sts_endpoint_url);
	if ((v = ynode_get(n, "assume_role")) != NULL)
		(void)cfg_role_arn(c, v, W("assume_role"), &a->assume_role);
	if ((v = ynode_get(n, "ca_file")) != NULL &&
	    cfg_string(c, v, W("ca_file"), 4096, &a->ca_file) == 0 &&
	    a->ca_file[0] != '/') {
		cfg_err(c, v, "%s: must be an absolute path", what);
		free(a->ca_file);
		a->ca_file = NULL;
	}
#undef W
}

static void
cfg_http(struct cfg *c, const struct ynode *n)
{
	static const char * const known[] = { "listen", "max_connections",
	    NULL };
	struct config_http	*h = &c->cfg->http;
	const struct ynode	*v;
	const char		*s, *colon, *host;
	size_t			 hlen, i;
	long			 port = 0, l;

	if (cfg_type(c, n, YNODE_MAP, "http") == -1)
		return;
	cfg_unknown_keys(c, n, known, "http");
	if ((v = ynode_get(n, "max_connections")) != NULL &&
	    cfg_int(c, v, "http.max_connections", 1, 65536, &l) == 0)
		h->max_connections = (int)l;
	if ((v = ynode_get(n, "listen")) == NULL)
		return;
	if (cfg_string(c, v, "http.listen", 300, &h->listen) == -1)
		return;
	s = h->listen;
	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			goto bad;
		host = s + 1;
		hlen = (size_t)(rb - host);
		colon = rb + 1;
		if (hlen == 0 || strspn(host, "0123456789abcdefABCDEF:.") <
		    hlen)
			goto bad;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			goto bad;
		host = s;
		hlen = (size_t)(colon - s);
		if (hlen == 0) {
			cfg_err(c, v, "http.listen: no host in '%s' (write "
			    "0.0.0.0:PORT to listen on every address)", s);
			goto fail;
		}
		for (i = 0; i < hlen; i++)
			if (!isalnum((unsigned char)host[i]) &&
			    host[i] != '.' && host[i] != '-')
				goto bad;
	}
	if (colon[1] == '\0' || strlen(colon + 1) > 5 ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		goto bad;
	for (s = colon + 1; *s != '\0'; s++)
		port = port * 10 + (*s - '0');
	if (port < 1 || port > 65535) {
		cfg_err(c, v, "http.listen: port must be between 1 and 65535, "
		    "got %ld", port);
		goto fail;
	}
	if ((h->host = strndup(host, hlen)) == NULL) {
		cfg_nomem(c);
		goto fail;
	}
	h->port = (int)port;
	return;
bad:
	cfg_err(c, v, "http.listen: expected HOST:PORT or [IPV6]:PORT, got "
	    "'%.80s'", h->listen);
fail:
	free(h->listen);
	h->listen = NULL;
}

static void
cfg_kms(struct cfg *c, const struct ynode *n)
{
	static const char * const known[] = { "connect_timeout", "timeout",
	    "max_attempts", "rate_limit", "max_inflight", NULL };
	struct config_kms	*k = &c->cfg->kms;
	const struct ynode	*v, *tv;
	long			 l;

	if (cfg_type(c, n, YNODE_MAP, "kms") == -1)
		return;
	cfg_unknown_keys(c, n, known, "kms");
	if ((v = ynode_get(n, "connect_timeout")) != NULL)
		(void)cfg_duration(c, v, "kms.connect_timeout", 1, 300,
		    &k->connect_timeout);
	if ((tv = ynode_get(n, "timeout")) != NULL &&
	    cfg_duration(c, tv, "kms.timeout", 1, 3600, &k->timeout) == 0 &&
	    k->timeout < k->connect_timeout)
		cfg_err(c, tv, "kms.timeout: must not be shorter than "
		    "connect_timeout");
	if ((v = ynode_get(n, "max_attempts")) != NULL &&
	    cfg_int(c, v, "kms.max_attempts", 1, 20, &l) == 0)
		k->max_attempts = (int)l;
	if ((v = ynode_get(n, "rate_limit")) != NULL)
		(void)cfg_number(c, v, "kms.rate_limit", 0.01, 10000,
		    &k->rate_limit);
	if ((v = ynode_get(n, "max_inflight")) != NULL &&
	    cfg_int(c, v, "kms.max_inflight", 1, 1024, &l) == 0)
		k->max_inflight = (int)l;
}

static void
cfg_alerts(struct cfg *c, const struct ynode *n)
{
	static const char * const known[] = { "fire_after", "resolve_after",
	    "material_expiry_warning", NULL };
	struct config_alerts	*a = &c->cfg->alerts;
	const struct ynode	*v;
	long			 l;

	if (cfg_type(c, n, YNODE_MAP, "alerts") == -1)
		return;
	cfg_unknown_keys(c, n, known, "alerts");
	if ((v = ynode_get(n, "fire_after")) != NULL &&
	    cfg_int(c, v, "alerts.fire_after", 1, 1000, &l) == 0)
		a->fire_after = (int)l;
	if ((v = ynode_get(n, "resolve_after")) != NULL &&
	    cfg_int(c, v, "alerts.resolve_after", 1, 1000, &l) == 0)
		a->resolve_after = (int)l;
	if ((v = ynode_get(n, "material_expiry_warning")) != NULL)
		(void)cfg_duration(c, v, "alerts.material_expiry_warning", 0,
		    365L * 86400, &a->material_expiry_warning);
}

/* ---- vendors ---- */

static const char * const cfg_key_specs[] = { "SYMMETRIC_DEFAULT",
	"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384",
	"ECC_NIST_P521", "ECC_SECG_P256K1", "HMAC_224", "HMAC_256",
	"HMAC_384", "HMAC_512", "SM2", NULL };

static const char * const cfg_key_usages[] = { "ENCRYPT_DECRYPT",
	"SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT", NULL };

/* kms:Action, with IAM wildcards; must name at least one KMS action
 * (the list is lib/policy's, which expands the wildcards). */
static int
cfg_action(struct cfg *c, const struct ynode *n, const char *what)
{
	const char	*s = n->value, *sug;
	size_t		 i, nact = cfg_count(policy_kms_actions);

	if (strncasecmp(s, "kms:", 4) != 0) {
		cfg_err(c, n, "%s: '%.80s' is not a KMS action (kms:NAME, e.g. "
		    "kms:Decrypt)", what, s);
		return -1;
	}
	if (strlen(s + 4) > 64 || strlen(s + 4) == 0) {
		cfg_err(c, n, "%s: '%.80s' is not a KMS action", what, s);
		return -1;
	}
	for (i = 0; i < nact; i++)
		if (policy_match(s, policy_kms_actions[i], 1))
			return 0;
	if (strpbrk(s + 4, "*?") == NULL &&
	    (sug = suggest_closest(s, policy_kms_actions, nact)) != NULL)
		cfg_err(c, n, "%s: unknown KMS action '%.80s'; did you mean "
		    "'%s'?", what, s, sug);
	else
		cfg_err(c, n, "%s: '%.80s' matches no KMS action", what, s);
	return -1;
}

/* One entry of a vendor's enum-like field (key_spec, key_usage). */
static int
cfg_enum(struct cfg *c, const struct ynode *n, const char *what,
    const char * const *known, char **out)
{
	const char	*sug;
	char		 list[512];
	size_t		 i, nk = cfg_count(known);

	if (cfg_string(c, n, what, 64, out) == -1)
		return -1;
	for (i = 0; i < nk; i++)
		if (strcmp(*out, known[i]) == 0)
			return 0;
	if ((sug = suggest_closest(*out, known, nk)) != NULL)
		cfg_err(c, n, "%s: unknown value '%s'; did you mean '%s'?",
		    what, *out, sug);
	else
		cfg_err(c, n, "%s: unknown value '%s' (expected one of: %s)",
		    what, *out, cfg_join(known, nk, list, sizeof(list)));
	free(*out);
	*out = NULL;
	return -1;
}

static void
cfg_vendor_group(struct cfg *c, const struct ynode *n, const char *where,
    size_t idx, struct vendor_group *g)
{
	static const char * const known[] = { "actions", "condition", "label",
	    NULL };
	const struct ynode	*v, *opn, *kv;
	char			 what[256];
	size_t			 i, j, nconds = 0;

	if (cfg_type(c, n, YNODE_MAP, where) == -1)
		return;
	cfg_unknown_keys(c, n, known, where);
	if ((v = ynode_get(n, "label")) != NULL) {
		(void)snprintf(what, sizeof(what), "%s.label", where);
		(void)cfg_string(c, v, what, CFG_MAX_NAME, &g->label);
	}
	if (g->label == NULL) {
		char	def[48];

		(void)snprintf(def, sizeof(def), "requirement %zu", idx + 1);
		g->label = cfg_strdup(c, def);
	}
	(void)snprintf(what, sizeof(what), "%s.actions", where);
	if ((v = ynode_get(n, "actions")) == NULL)
		cfg_err(c, n, "%s: missing required key 'actions'", where);
	else if (cfg_string_list(c, v, what, &g->actions, &g->nactions) == 0)
		for (i = 0; i < g->nactions; i++)
			(void)cfg_action(c, v->items[i], what);
	if ((v = ynode_get(n, "condition")) == NULL)
		return;
	(void)snprintf(what, sizeof(what), "%s.condition", where);
	if (cfg_type(c, v, YNODE_MAP, what) == -1)
		return;
	if (v->nitems == 0) {
		cfg_err(c, v, "%s: empty condition (remove it for none)", what);
		return;
	}
	for (i = 0; i < v->nitems; i++) {
		opn = v->items[i];
		if (!policy_cond_op_known(v->keys[i]->value)) {
			const char	*ops[64], *sug;
			size_t		 nops;

			for (nops = 0; nops < 64 &&
			    (ops[nops] = policy_cond_op_name(nops)) != NULL;
			    nops++)
				;
			sug = suggest_closest(v->keys[i]->value, ops, nops);

			if (sug != NULL)
				cfg_err(c, v->keys[i], "%s: unknown condition "
				    "operator '%.64s'; did you mean '%s'?",
				    what, v->keys[i]->value, sug);
			else
				cfg_err(c, v->keys[i], "%s: unknown condition "
				    "operator '%.64s'", what,
				    v->keys[i]->value);
		}
		if (cfg_type(c, opn, YNODE_MAP, what) == 0) {
			if (opn->nitems == 0)
				cfg_err(c, opn, "%s: no condition key under "
				    "'%.64s'", what, v->keys[i]->value);
			nconds += opn->nitems;
		}
	}
	if (nconds == 0 || nconds > CFG_MAX_LIST)
		return;
	if ((g->conds = calloc(nconds, sizeof(*g->conds))) == NULL) {
		cfg_nomem(c);
		return;
	}
	for (i = 0; i < v->nitems; i++) {
		opn = v->items[i];
		if (opn->type != YNODE_MAP)
			continue;
		for (j = 0; j < opn->nitems; j++) {
			struct vendor_cond *vc = &g->conds[g->nconds];

			kv = opn->keys[j];
			if (strchr(kv->value, ':') == NULL ||
			    kv->value[0] == ':' || cfg_has_ctl(kv->value))
				cfg_err(c, kv, "%s: '%.64s' is not a condition "
				    "key (e.g. kms:GrantIsForAWSResource)",
				    what, kv->value);
			if (opn->items[j]->type == YNODE_SEQ) {
				cfg_err(c, opn->items[j], "%s: one value per "
				    "condition key", what);
				continue;
			}
			if (cfg_string(c, opn->items[j], what, 256,
			    &vc->value) == -1)
				continue;
			vc->op = cfg_strdup(c, v->keys[i]->value);
			vc->key = cfg_strdup(c, kv->value);
			g->nconds++;
		}
	}
}

static int
cfg_vendor_name_ok(const char *s)
{
	size_t	n = strlen(s);

	return n > 0 && n <= 64 && strspn(s,
	    "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* Adds vd, replacing an earlier profile of the same name: files are read
 * in the order of precedence, shipped, then vendors.d, then the config. */
static void
cfg_vendor_put(struct cfg *c, struct vendor *vd)
{
	struct config	*cfg = c->cfg;
	struct vendor	**vv;
	size_t		 i;

	for (i = 0; i < cfg->nvendors; i++)
		if (strcmp(cfg->vendors[i]->name, vd->name) == 0) {
			vendor_free(cfg->vendors[i]);
			cfg->vendors[i] = vd;
			return;
		}
	if ((vv = reallocarray(cfg->vendors, cfg->nvendors + 1,
	    sizeof(*vv))) == NULL) {
		vendor_free(vd);
		cfg_nomem(c);
		return;
	}
	cfg->vendors = vv;
	vv[cfg->nvendors++] = vd;
}

/* One profile, name kn and body vn, of the config or of a vendor file. */
static void
cfg_vendor(struct cfg *c, const struct ynode *kn, const struct ynode *vn,
    enum vendor_from from)
{
	static const char * const known[] = { "accounts", "require",
	    "key_spec", "key_usage", "source", "date", NULL };
	const struct ynode	*v;
	struct vendor		*vd;
	char			 where[160], what[192], origin[1100];
	size_t			 j;

	(void)snprintf(where, sizeof(where), "vendors.%.64s", kn->value);
	if (!cfg_vendor_name_ok(kn->value)) {
		cfg_err(c, kn, "vendors: bad vendor name '%.64s' (use "
		    "lowercase letters, digits, '-' and '_')", kn->value);
		return;
	}
	if (cfg_type(c, vn, YNODE_MAP, where) == -1)
		return;
	cfg_unknown_keys(c, vn, known, where);
	if ((vd = calloc(1, sizeof(*vd))) == NULL) {
		cfg_nomem(c);
		return;
	}
	vd->name = cfg_strdup(c, kn->value);
	vd->from = from;
	if (from == VENDOR_CONFIG)
		(void)snprintf(origin, sizeof(origin), "%s:%d", kn->file,
		    kn->line);
	else
		(void)snprintf(origin, sizeof(origin), "%s", kn->file);
	vd->origin = cfg_strdup(c, origin);
	if ((v = ynode_get(vn, "source")) != NULL) {
		(void)snprintf(what, sizeof(what), "%s.source", where);
		(void)cfg_string(c, v, what, CFG_MAX_STRING, &vd->source);
	}
	if ((v = ynode_get(vn, "date")) != NULL) {
		(void)snprintf(what, sizeof(what), "%s.date", where);
		(void)cfg_string(c, v, what, 64, &vd->date);
	}

	(void)snprintf(what, sizeof(what), "%s.accounts", where);
	if ((v = ynode_get(vn, "accounts")) == NULL)
		cfg_err(c, vn, "%s: missing required key 'accounts'", where);
	else if (cfg_type(c, v, YNODE_MAP, what) == 0 && v->nitems == 0)
		cfg_err(c, v, "%s: no region", what);
	else if (v->type == YNODE_MAP && v->nitems <= CFG_MAX_LIST) {
		if ((vd->accounts = calloc(v->nitems,
		    sizeof(*vd->accounts))) == NULL)
			goto nomem;
		for (j = 0; j < v->nitems; j++) {
			struct vendor_account *a =
			    &vd->accounts[vd->naccounts];

			if (!endpoint_region_ok(v->keys[j]->value)) {
				cfg_err(c, v->keys[j], "%s: not an AWS region: "
				    "'%.64s' (e.g. eu-west-1)", what,
				    v->keys[j]->value);
				continue;
			}
			if (cfg_string(c, v->items[j], what, 12,
			    &a->account) == -1)
				continue;
			if (!cfg_account_ok(a->account)) {
				cfg_err(c, v->items[j], "%s: an AWS account "
				    "is 12 digits, got '%.40s'", what,
				    a->account);
				free(a->account);
				a->account = NULL;
				continue;
			}
			a->region = cfg_strdup(c, v->keys[j]->value);
			vd->naccounts++;
		}
	}

	(void)snprintf(what, sizeof(what), "%s.require", where);
	if ((v = ynode_get(vn, "require")) == NULL)
		cfg_err(c, vn, "%s: missing required key 'require'", where);
	else if (cfg_type(c, v, YNODE_SEQ, what) == 0 && v->nitems == 0)
		cfg_err(c, v, "%s: the list is empty", what);
	else if (v->type == YNODE_SEQ && v->nitems <= CFG_MAX_LIST) {
		if ((vd->groups = calloc(v->nitems,
		    sizeof(*vd->groups))) == NULL)
			goto nomem;
		vd->ngroups = v->nitems;
		for (j = 0; j < v->nitems; j++) {
			(void)snprintf(what, sizeof(what), "%s.require[%zu]",
			    where, j);
			cfg_vendor_group(c, v->items[j], what, j,
			    &vd->groups[j]);
		}
	}
	if ((v = ynode_get(vn, "key_spec")) != NULL) {
		(void)snprintf(what, sizeof(what), "%s.key_spec", where);
		(void)cfg_enum(c, v, what, cfg_key_specs, &vd->key_spec);
	}
	if ((v = ynode_get(vn, "key_usage")) != NULL) {
		(void)snprintf(what, sizeof(what), "%s.key_usage", where);
		(void)cfg_enum(c, v, what, cfg_key_usages, &vd->key_usage);
	}
	/* Kept even when broken (the load fails anyway), so that a key naming
	 * it gets no second, misleading "unknown vendor" error. */
	if (vd->name == NULL) {
		vendor_free(vd);
		return;
	}
	cfg_vendor_put(c, vd);
	return;
nomem:
	vendor_free(vd);
	cfg_nomem(c);
}

static void
cfg_vendors(struct cfg *c, const struct ynode *n, enum vendor_from from)
{
	size_t	i;

	if (cfg_type(c, n, YNODE_MAP, "vendors") == -1)
		return;
	if (n->nitems > CFG_MAX_LIST) {
		cfg_err(c, n, "vendors: too many (at most %d)", CFG_MAX_LIST);
		return;
	}
	for (i = 0; i < n->nitems; i++)
		cfg_vendor(c, n->keys[i], n->items[i], from);
}

/* A vendor file: a mapping with one key, vendors:, as in the config. */
static void
cfg_vendor_file(struct cfg *c, const char *path)
{
	static const char * const known[] = { "vendors", NULL };
	struct ynode		*root;
	const struct ynode	*v;
	char			 err[1024];

	/* Whoever can write it decides which account must be granted. */
	if (config_check_file_perms(path, err, sizeof(err)) == -1) {
		(void)config_error(c->errs, NULL, "%s", err);
		return;
	}
	if ((root = ynode_parse_file(path, err, sizeof(err))) == NULL) {
		cfg_parse_error(c->errs, err);
		return;
	}
	if (root->type != YNODE_MAP)
		cfg_err(c, root, "a vendor file must be a mapping with a "
		    "'vendors:' key, got a %s", ynode_type_name(root->type));
	else if ((v = ynode_get(root, "vendors")) == NULL)
		cfg_err(c, root, "missing required key 'vendors'");
	else {
		cfg_unknown_keys(c, root, known, "");
		cfg_vendors(c, v, c->vendor_from);
	}
	ynode_free(root);
}

static int
cfg_vendor_file_sel(const struct dirent *d)
{
	size_t	n = strlen(d->d_name);

	/* Skips dot files, so editors' and packagers' leftovers too. */
	return d->d_name[0] != '.' && n > 5 &&
	    strcmp(d->d_name + n - 5, ".yaml") == 0;
}

/* Every DIR/NAME.yaml in name order; -1 with errno when dir is unreadable. */
static int
cfg_vendor_dir(struct cfg *c, const char *dir)
{
	struct dirent	**ents;
	char		  path[4096];
	int		  i, n;

	if ((n = scandir(dir, &ents, cfg_vendor_file_sel, alphasort)) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir,
		    ents[i]->d_name) < (int)sizeof(path))
			cfg_vendor_file(c, path);
		free(ents[i]);
	}
	free(ents);
	return 0;
}

/*
 * The shipped profiles, then vendors.d next to the configuration file
 * (absent is fine).  A missing shipped directory is only an error for a
 * key that names a vendor nobody defines: cfg_key_vendor() says why.
 */
static void
cfg_vendor_dirs(struct cfg *c, int with_vendors_d)
{
	const char	*dir = vendor_dir(), *slash;
	char		 vd[4096];

	c->vendor_from = VENDOR_SHIPPED;
	if (cfg_vendor_dir(c, dir) == -1)
		(void)snprintf(c->vdir_err, sizeof(c->vdir_err), "%s: %s", dir,
		    strerror(errno));
	if (!with_vendors_d)
		return;
	slash = strrchr(c->cfg->path, '/');
	if (slash == NULL)
		(void)snprintf(vd, sizeof(vd), "vendors.d");
	else
		(void)snprintf(vd, sizeof(vd), "%.*s/vendors.d",
		    (int)(slash - c->cfg->path), c->cfg->path);
	c->vendor_from = VENDOR_LOCAL;
	if (cfg_vendor_dir(c, vd) == -1 && errno != ENOENT)
		(void)config_error(c->errs, NULL, "%s: %s", vd,
		    strerror(errno));
}

const struct vendor *
config_vendor(const struct config *cfg, const char *name)
{
	size_t	i;

	for (i = 0; i < cfg->nvendors; i++)
		if (cfg->vendors[i]->name != NULL &&
		    strcmp(cfg->vendors[i]->name, name) == 0)
			return cfg->vendors[i];
	return NULL;
}

/* The vendor a key names, from any of the three places. */
static const struct vendor *
cfg_key_vendor(struct cfg *c, const struct ynode *n, const char *what)
{
	struct config		*cfg = c->cfg;
	const struct vendor	*v;
	const char		*names[64], *sug;
	char			 list[512];
	size_t			 i, nn = 0;

	if ((v = config_vendor(cfg, n->value)) != NULL)
		return v;
	for (i = 0; i < cfg->nvendors && nn < 63; i++)
		names[nn++] = cfg->vendors[i]->name;
	names[nn] = NULL;
	if ((sug = suggest_closest(n->value, names, nn)) != NULL)
		cfg_err(c, n, "%s: unknown vendor '%.64s'; did you mean '%s'? "
		    "(known: %s)", what, n->value, sug,
		    cfg_join(names, nn, list, sizeof(list)));
	else if (c->vdir_err[0] != '\0')
		cfg_err(c, n, "%s: unknown vendor '%.64s': the vendor profile "
		    "directory cannot be read (%s; set KEYHEALTHD_VENDOR_DIR, "
		    "or define it under vendors:)", what, n->value,
		    c->vdir_err);
	else
		cfg_err(c, n, "%s: unknown vendor '%.64s' (known: %s; define "
		    "custom ones under vendors:)", what, n->value,
		    nn > 0 ? cfg_join(names, nn, list, sizeof(list)) : "none");
	return NULL;
}

/* ---- keys ---- */

static int
cfg_name_ok(const char *s)
{
	return *s != '\0' && strlen(s) <= CFG_MAX_NAME && !cfg_has_ctl(s);
}

static void
cfg_alias(struct cfg *c, const struct ynode *n, const char *what,
    struct config_key *k, int arn_ok)
{
	char		 err[256], *written;
	struct arn	 a;
	const char	*name;
	size_t		 i;

	if (cfg_string(c, n, what, 2048, &k->alias) == -1)
		return;
	if (strncmp(k->alias, "arn:", 4) == 0) {
		if (arn_parse(k->alias, &a, err, sizeof(err)) == -1) {
			cfg_err(c, n, "%s: %s", what, err);
			goto fail;
		}
		if (a.kind != ARN_KMS_ALIAS) {
			cfg_err(c, n, "%s: expected an alias (alias/NAME or an "
			    "alias ARN), got a key ARN", what);
			goto fail;
		}
		if (arn_ok && (strcmp(a.region, k->parsed.region) != 0 ||
		    strcmp(a.account, k->parsed.account) != 0 ||
		    strcmp(a.partition, k->parsed.partition) != 0)) {
			cfg_err(c, n, "%s: the alias is in %s/%s but the key "
			    "in %s/%s: an alias can only point to a key of "
			    "its own account and region", what, a.account,
			    a.region, k->parsed.account, k->parsed.region);
			goto fail;
		}
		/* a.resource points into the ARN as written. */
		written = k->alias;
		k->alias = cfg_strdup(c, a.resource);
		free(written);
		if (k->alias == NULL)
			return;
	}
	if (strncmp(k->alias, "alias/", 6) != 0 || k->alias[6] == '\0') {
		cfg_err(c, n, "%s: expected alias/NAME or an alias ARN, got "
		    "'%.80s'", what, k->alias);
		goto fail;
	}
	name = k->alias + 6;
	if (strlen(name) > 250) {
		cfg_err(c, n, "%s: alias name too long", what);
		goto fail;
	}
	for (i = 0; name[i] != '\0'; i++)
		if (!isalnum((unsigned char)name[i]) &&
		    strchr("/_-", name[i]) == NULL) {
			cfg_err(c, n, "%s: invalid character '%c' in alias "
			    "name", what, name[i]);
			goto fail;
		}
	if (strncmp(name, "aws/", 4) == 0) {
		cfg_err(c, n, "%s: alias/aws/ names AWS managed keys, which a "
		    "vendor cannot be granted", what);
		goto fail;
	}
	return;
fail:
	free(k->alias);
	k->alias = NULL;
}

static const char * const cfg_key_keys[] = { "arn", "name", "vendor",
	"alias", "interval", "expect_rotation", "expect_use_within",
	"grants_interval", "replicas", "aws", NULL };

/* replicas: watch|off into *out (1 or 0). */
static void
cfg_replicas(struct cfg *c, const struct ynode *n, const char *what,
    int *out)
{
	static const char * const known[] = { "watch", "off", NULL };
	char	*s = NULL;

	if (cfg_enum(c, n, what, known, &s) == 0)
		*out = strcmp(s, "watch") == 0;
	free(s);
}

static void
cfg_pos(int *pos, const struct ynode *v)
{
	if (v != NULL) {
		pos[0] = v->line;
		pos[1] = v->column;
	}
}

/* A node that stands for a position recorded in a struct cfg_keypos. */
static const struct ynode *
cfg_at(struct ynode *buf, const char *file, const int *pos,
    const char *value)
{
	memset(buf, 0, sizeof(*buf));
	buf->type = YNODE_SCALAR;
	buf->file = file;
	buf->line = pos[0];
	buf->column = pos[1];
	buf->value = (char *)(uintptr_t)value;
	buf->valuelen = strlen(value);
	return buf;
}

/*
 * One keys: entry, checked as far as it can be on its own: its vendor
 * (the file's vendors: may come later) and its aws: block (judged with
 * the global allow_http) are cfg_keys()'s.
 */
static void
cfg_key(struct cfg *c, const struct ynode *n, size_t idx,
    struct config_key *k, struct cfg_keypos *pos)
{
	const struct ynode	*v;
	char			 where[32], what[64], err[256];
	int			 arn_ok = 0;

	(void)snprintf(where, sizeof(where), "keys[%zu]", idx);
	k->line = n->line;
	k->column = n->column;
	k->expect_rotation = 0;
	k->expect_use_within = -1;
	k->replicas = -1;
	k->aws.use_fips = -1;
	k->aws.allow_http = -1;
	if (cfg_type(c, n, YNODE_MAP, where) == -1)
		return;
	cfg_unknown_keys(c, n, cfg_key_keys, where);
#define W(key)	(snprintf(what, sizeof(what), "%s.%s", where, key), what)
	cfg_pos(pos->arn, ynode_get(n, "arn"));
	cfg_pos(pos->name, ynode_get(n, "name"));
	cfg_pos(pos->vendor, ynode_get(n, "vendor"));
	if ((v = ynode_get(n, "arn")) == NULL)
		cfg_err(c, n, "%s: missing required key 'arn'", where);
	else if (cfg_string(c, v, W("arn"), 2048, &k->arn) == 0) {
		if (arn_parse(k->arn, &k->parsed, err, sizeof(err)) == -1)
			cfg_err(c, v, "%s: %s", what, err);
		else if (k->parsed.kind != ARN_KMS_KEY)
			cfg_err(c, v, "%s: expected a key ARN (...:key/ID), got "
			    "an alias ARN; give the key's ARN and the alias "
			    "under 'alias:'", what);
		else
			arn_ok = 1;
	}
	if ((v = ynode_get(n, "name")) != NULL &&
	    cfg_string(c, v, W("name"), CFG_MAX_NAME, &k->name) == 0 &&
	    !cfg_name_ok(k->name)) {
		cfg_err(c, v, "%s: not a usable name", what);
		free(k->name);
		k->name = NULL;
	}
	if (k->name == NULL && arn_ok)
		k->name = cfg_strdup(c, k->parsed.resource);
	if ((v = ynode_get(n, "vendor")) != NULL)
		(void)cfg_string(c, v, W("vendor"), 64, &k->vendor_name);
	if ((v = ynode_get(n, "alias")) != NULL)
		cfg_alias(c, v, W("alias"), k, arn_ok);
	if ((v = ynode_get(n, "interval")) != NULL)
		(void)cfg_duration(c, v, W("interval"), 1, 86400,
		    &k->interval);
	if ((v = ynode_get(n, "expect_rotation")) != NULL)
		(void)cfg_bool(c, v, W("expect_rotation"),
		    &k->expect_rotation);
	if ((v = ynode_get(n, "expect_use_within")) != NULL)
		(void)cfg_use_within(c, v, W("expect_use_within"),
		    &k->expect_use_within);
	if ((v = ynode_get(n, "grants_interval")) != NULL)
		(void)cfg_duration(c, v, W("grants_interval"), 1, 7 * 86400,
		    &k->grants_interval);
	if ((v = ynode_get(n, "replicas")) != NULL)
		cfg_replicas(c, v, W("replicas"), &k->replicas);
#undef W
}

/*
 * The parse hands over each keys: entry as soon as it is read
 * (ynode_stream): it becomes a config_key and its nodes are freed, so
 * that a file of 100,000 keys is never a tree of 100,000 entries.  An
 * aws: block is kept (rare, small) until the global one is known.
 */
static void
cfg_key_item(void *arg, struct ynode *item, size_t idx)
{
	struct cfg		*c = arg;
	struct config		*cfg = c->cfg;
	struct config_key	*kv;
	struct cfg_keypos	*pv;
	struct cfg_keyaws	*av;
	size_t			 cap, i;

	c->nkeys = idx + 1;
	if (idx >= CFG_MAX_KEYS || c->knomem)
		goto done;
	if (idx >= c->kcap) {
		cap = c->kcap > 0 ? c->kcap * 2 : 64;
		if (cap > CFG_MAX_KEYS)
			cap = CFG_MAX_KEYS;
		/* Not cleared ahead: pages of slots never used stay out of
		 * RSS. */
		if ((kv = reallocarray(cfg->keys, cap, sizeof(*kv))) == NULL)
			goto nomem;
		cfg->keys = kv;
		if ((pv = reallocarray(c->kpos, cap, sizeof(*pv))) == NULL)
			goto nomem;
		c->kpos = pv;
		c->kcap = cap;
	}
	memset(&cfg->keys[idx], 0, sizeof(cfg->keys[idx]));
	memset(&c->kpos[idx], 0, sizeof(c->kpos[idx]));
	cfg->nkeys = idx + 1;
	cfg_key(c, item, idx, &cfg->keys[idx], &c->kpos[idx]);
	for (i = 0; item->type == YNODE_MAP && i < item->nitems; i++) {
		if (strcmp(item->keys[i]->value, "aws") != 0)
			continue;
		/* Grown at each power of two. */
		if ((c->nkaws & (c->nkaws - 1)) == 0) {
			av = reallocarray(c->kaws, c->nkaws ? c->nkaws * 2 : 1,
			    sizeof(*av));
			if (av == NULL)
				goto nomem;
			c->kaws = av;
		}
		c->kaws[c->nkaws].idx = idx;
		c->kaws[c->nkaws++].n = item->items[i];
		item->items[i] = NULL;
		break;
	}
	goto done;
nomem:
	c->knomem = 1;
done:
	ynode_free_subtree(item);
}

/* Sorting key indexes by ARN or name, ties by index: equal strings end up
 * side by side, the first of them written first. */
struct cfg_keyref {
	const char	*s;
	size_t		 i;
};

static int
cfg_keyref_cmp(const void *a, const void *b)
{
	const struct cfg_keyref	*x = a, *y = b;
	int			 r = strcmp(x->s, y->s);

	if (r != 0)
		return r;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Finds, for every key whose ARN (by_name 0) or name (by_name 1) an
 * earlier key already has, that earlier key's index: first[i] (or
 * SIZE_MAX).  Sorting, not comparing every pair: 100,000 keys took
 * minutes that way.  -1 out of memory.
 */
static int
cfg_keys_dups(const struct config *cfg, int by_name, size_t *first)
{
	struct cfg_keyref	*v;
	size_t			 i, n = 0, lead = 0;

	if ((v = calloc(cfg->nkeys, sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < cfg->nkeys; i++) {
		first[i] = SIZE_MAX;
		v[n].s = by_name ? cfg->keys[i].name : cfg->keys[i].arn;
		v[n].i = i;
		if (v[n].s != NULL)
			n++;
	}
	qsort(v, n, sizeof(*v), cfg_keyref_cmp);
	for (i = 1; i < n; i++) {
		if (strcmp(v[i].s, v[lead].s) != 0) {
			lead = i;
			continue;
		}
		first[v[i].i] = v[lead].i;
	}
	free(v);
	return 0;
}

static void
cfg_keys(struct cfg *c, const struct ynode *root)
{
	struct config		*cfg = c->cfg;
	const struct ynode	*n;
	struct config_key	*k;
	struct ynode		 at;
	const int		*pos;
	size_t			 i, j, *dup_arn = NULL, *dup_name = NULL;
	char			 what[64];

	/* With discover:, the keys may all be found at run time. */
	if ((n = ynode_get(root, "keys")) == NULL) {
		if (!cfg->discover.enabled)
			cfg_err(c, root, "no keys to watch: add a 'keys:' "
			    "list (or a 'discover:' section)");
		return;
	}
	if (cfg->discover.enabled && ((n->type == YNODE_SCALAR &&
	    n->value[0] == '\0' && !n->quoted) ||
	    (n->type == YNODE_SEQ && c->nkeys == 0)))
		return;
	if (cfg_type(c, n, YNODE_SEQ, "keys") == -1)
		return;
	if (c->nkeys == 0) {
		cfg_err(c, n, "keys: the list is empty; add at least one key");
		return;
	}
	if (c->nkeys > CFG_MAX_KEYS) {
		cfg_err(c, n, "keys: too many keys (at most %d)", CFG_MAX_KEYS);
		return;
	}
	if (c->knomem) {
		cfg_nomem(c);
		return;
	}
	/* What an entry could not be checked for alone. */
	for (i = 0; i < cfg->nkeys; i++) {
		k = &cfg->keys[i];
		if (k->vendor_name == NULL)
			continue;
		(void)snprintf(what, sizeof(what), "keys[%zu].vendor", i);
		k->vendor = cfg_key_vendor(c, cfg_at(&at, root->file,
		    c->kpos[i].vendor, k->vendor_name), what);
	}
	for (i = 0; i < c->nkaws; i++) {
		(void)snprintf(what, sizeof(what), "keys[%zu].aws",
		    c->kaws[i].idx);
		cfg_aws(c, c->kaws[i].n, what, &cfg->aws,
		    &cfg->keys[c->kaws[i].idx].aws);
	}
	if ((dup_arn = calloc(cfg->nkeys, sizeof(*dup_arn))) == NULL ||
	    (dup_name = calloc(cfg->nkeys, sizeof(*dup_name))) == NULL ||
	    cfg_keys_dups(cfg, 0, dup_arn) == -1 ||
	    cfg_keys_dups(cfg, 1, dup_name) == -1) {
		cfg_nomem(c);
		goto done;
	}
	for (i = 1; i < cfg->nkeys; i++) {
		/* The earlier clash is reported, the ARN's first. */
		j = dup_arn[i] < dup_name[i] ? dup_arn[i] : dup_name[i];
		if (j == SIZE_MAX)
			continue;
		if (j == dup_arn[i]) {
			cfg_err(c, cfg_at(&at, root->file, c->kpos[i].arn, ""),
			    "keys[%zu].arn: duplicate key ARN (also keys[%zu] "
			    "at line %d)", i, j, cfg->keys[j].line);
			continue;
		}
		pos = c->kpos[i].name[0] != 0 ? c->kpos[i].name :
		    c->kpos[i].arn;
		if (c->kpos[i].name[0] != 0)
			cfg_err(c, cfg_at(&at, root->file, pos, ""),
			    "keys[%zu].name: duplicate name '%s' (also "
			    "keys[%zu] at line %d)", i, cfg->keys[i].name, j,
			    cfg->keys[j].line);
		else
			cfg_err(c, cfg_at(&at, root->file, pos, ""),
			    "keys[%zu]: its default name '%s' is taken "
			    "(keys[%zu] at line %d); set a 'name:'", i,
			    cfg->keys[i].name, j, cfg->keys[j].line);
	}
done:
	free(dup_arn);
	free(dup_name);
}

/* ---- discover ---- */

static const char * const cfg_discover_keys[] = { "interval", "regions",
	"vendors", "accounts", NULL };

/*
 * discover: adds keys at run time.  Each accounts: entry is an aws: block
 * over the global one (typically an assume_role per account); regions
 * and vendors narrow the search, which by default covers every region of
 * every known vendor.
 */
static void
cfg_discover(struct cfg *c, const struct ynode *n)
{
	struct config_discover	*d = &c->cfg->discover;
	const struct ynode	*v;
	char			 where[48];
	size_t			 i;

	d->enabled = 1;
	d->interval = CONFIG_DEFAULT_DISCOVER_INTERVAL;
	/* "discover:" alone, or {}: every default. */
	if (n->type == YNODE_SCALAR && n->value[0] == '\0' && !n->quoted)
		return;
	if (cfg_type(c, n, YNODE_MAP, "discover") == -1)
		return;
	cfg_unknown_keys(c, n, cfg_discover_keys, "discover");
	if ((v = ynode_get(n, "interval")) != NULL)
		(void)cfg_duration(c, v, "discover.interval", 1, 7 * 86400,
		    &d->interval);
	if ((v = ynode_get(n, "regions")) != NULL &&
	    cfg_string_list(c, v, "discover.regions", &d->regions,
	    &d->nregions) == 0) {
		for (i = 0; i < d->nregions; i++)
			if (!endpoint_region_ok(d->regions[i]))
				cfg_err(c, v->items[i], "discover.regions: not "
				    "an AWS region: '%.40s' (e.g. eu-west-1)",
				    d->regions[i]);
	}
	if ((v = ynode_get(n, "vendors")) != NULL &&
	    cfg_string_list(c, v, "discover.vendors", &d->vendors,
	    &d->nvendors) == 0) {
		for (i = 0; i < d->nvendors; i++)
			(void)cfg_key_vendor(c, v->items[i],
			    "discover.vendors");
	}
	if ((v = ynode_get(n, "accounts")) == NULL)
		return;
	if (cfg_type(c, v, YNODE_SEQ, "discover.accounts") == -1)
		return;
	if (v->nitems == 0 || v->nitems > CFG_MAX_LIST) {
		cfg_err(c, v, "discover.accounts: give 1 to %d entries",
		    CFG_MAX_LIST);
		return;
	}
	if ((d->accounts = calloc(v->nitems, sizeof(*d->accounts))) == NULL) {
		cfg_nomem(c);
		return;
	}
	d->naccounts = v->nitems;
	for (i = 0; i < v->nitems; i++) {
		d->accounts[i].use_fips = -1;
		d->accounts[i].allow_http = -1;
		(void)snprintf(where, sizeof(where), "discover.accounts[%zu]",
		    i);
		cfg_aws(c, v->items[i], where, &c->cfg->aws, &d->accounts[i]);
	}
}

/* ---- notifiers ---- */

/* lib/notify owns the notifiers: section; its errors join ours. */
static void
cfg_notify_report(void *arg, const struct ynode *at, const char *msg)
{
	struct cfg	*c = arg;

	cfg_err(c, at, "%s", msg);
}

static void
cfg_notifiers(struct cfg *c, const struct ynode *n)
{
	struct notify_conf	nc;

	if (!(c->flags & CONFIG_LOAD_NOTIFIERS))
		return;
	notify_conf_init(&nc, cfg_notify_report, c);
	(void)notify_configure_all(n, &nc, &c->cfg->notifiers,
	    &c->cfg->nnotifiers);
}

/* ---- the whole file ---- */

static const char * const cfg_top_keys[] = { "interval", "slow_interval",
	"grants_interval", "renotify", "expect_use_within", "replicas",
	"state_dir", "aws", "http", "kms", "alerts", "keys", "vendors",
	"notifiers", "discover", NULL };

static void
cfg_state_dir_default(struct cfg *c)
{
	const char	*env = getenv("STATE_DIRECTORY");
	size_t		 n;

	/* systemd may give several, colon-separated; ours is the first. */
	if (env != NULL && (n = strcspn(env, ":")) > 0 && env[0] == '/') {
		if ((c->cfg->state_dir = strndup(env, n)) == NULL)
			cfg_nomem(c);
		return;
	}
	c->cfg->state_dir = cfg_strdup(c, CONFIG_DEFAULT_STATE_DIR);
}

static void
cfg_walk(struct cfg *c, const struct ynode *root)
{
	struct config		*cfg = c->cfg;
	const struct ynode	*v;

	if (root->type != YNODE_MAP) {
		cfg_err(c, root, "the configuration must be a mapping (key: "
		    "value), got a %s", ynode_type_name(root->type));
		return;
	}
	cfg_unknown_keys(c, root, cfg_top_keys, "");
	if ((v = ynode_get(root, "interval")) != NULL)
		(void)cfg_duration(c, v, "interval", 1, 86400, &cfg->interval);
	if ((v = ynode_get(root, "slow_interval")) != NULL)
		(void)cfg_duration(c, v, "slow_interval", 1, 7 * 86400,
		    &cfg->slow_interval);
	if ((v = ynode_get(root, "grants_interval")) != NULL)
		(void)cfg_duration(c, v, "grants_interval", 1, 7 * 86400,
		    &cfg->grants_interval);
	if ((v = ynode_get(root, "renotify")) != NULL)
		(void)cfg_duration(c, v, "renotify", 0, 30 * 86400,
		    &cfg->renotify);
	if ((v = ynode_get(root, "expect_use_within")) != NULL)
		(void)cfg_use_within(c, v, "expect_use_within",
		    &cfg->expect_use_within);
	if ((v = ynode_get(root, "replicas")) != NULL)
		cfg_replicas(c, v, "replicas", &cfg->replicas);
	if ((v = ynode_get(root, "state_dir")) != NULL) {
		char	*s = NULL;

		if (cfg_string(c, v, "state_dir", 4096, &s) == 0) {
			if (s[0] != '/') {
				cfg_err(c, v, "state_dir: must be an absolute "
				    "path");
				free(s);
			} else {
				free(cfg->state_dir);
				cfg->state_dir = s;
			}
		}
	}
	if ((v = ynode_get(root, "aws")) != NULL)
		cfg_aws(c, v, "aws", NULL, &cfg->aws);
	if ((v = ynode_get(root, "http")) != NULL)
		cfg_http(c, v);
	if ((v = ynode_get(root, "kms")) != NULL)
		cfg_kms(c, v);
	if ((v = ynode_get(root, "alerts")) != NULL)
		cfg_alerts(c, v);
	if ((v = ynode_get(root, "vendors")) != NULL)
		cfg_vendors(c, v, VENDOR_CONFIG);
	if ((v = ynode_get(root, "discover")) != NULL)
		cfg_discover(c, v);
	cfg_keys(c, root);
	if ((v = ynode_get(root, "notifiers")) != NULL)
		cfg_notifiers(c, v);
}

static struct config *
cfg_new(const char *path)
{
	struct config	*cfg;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return NULL;
	if ((cfg->path = strdup(path)) == NULL) {
		free(cfg);
		return NULL;
	}
	cfg->interval = CONFIG_DEFAULT_INTERVAL;
	cfg->replicas = -1;
	cfg->slow_interval = CONFIG_DEFAULT_SLOW_INTERVAL;
	cfg->grants_interval = CONFIG_DEFAULT_GRANTS_INTERVAL;
	cfg->renotify = CONFIG_DEFAULT_RENOTIFY;
	cfg->kms.connect_timeout = CONFIG_DEFAULT_CONNECT_TIMEOUT;
	cfg->kms.timeout = CONFIG_DEFAULT_TIMEOUT;
	cfg->kms.max_attempts = CONFIG_DEFAULT_MAX_ATTEMPTS;
	cfg->kms.rate_limit = CONFIG_DEFAULT_RATE_LIMIT;
	cfg->kms.max_inflight = CONFIG_DEFAULT_MAX_INFLIGHT;
	cfg->http.max_connections = CONFIG_DEFAULT_HTTP_MAX_CONNECTIONS;
	cfg->alerts.fire_after = CONFIG_DEFAULT_FIRE_AFTER;
	cfg->alerts.resolve_after = CONFIG_DEFAULT_RESOLVE_AFTER;
	cfg->alerts.material_expiry_warning = CONFIG_DEFAULT_EXPIRY_WARNING;
	return cfg;
}

static void
cfg_keys_loaded(struct cfg *c)
{
	size_t	i;

	for (i = 0; i < c->nkaws; i++)
		ynode_free_subtree(c->kaws[i].n);
	free(c->kaws);
	free(c->kpos);
	c->kaws = NULL;
	c->kpos = NULL;
	c->nkaws = 0;
}

/*
 * Parses (text, or the file name when text is NULL) and checks it.  The
 * keys: entries are checked as the parse reads them, into errors of
 * their own: a file that is not YAML reports only that, as before.
 */
static struct config *
cfg_load(const char *name, const char *text, size_t len, int flags,
    struct config_errors *errs)
{
	struct cfg		 c;
	struct config_errors	 kerrs;
	struct ynode_stream	 st;
	struct ynode		*root;
	size_t			 before = errs->total, i;
	char			 err[1024];

	memset(&c, 0, sizeof(c));
	memset(&kerrs, 0, sizeof(kerrs));
	if ((c.cfg = cfg_new(name)) == NULL) {
		(void)config_error(errs, NULL, "%s: out of memory", name);
		return NULL;
	}
	c.errs = &kerrs;
	c.flags = flags;
	st.key = "keys";
	st.item = cfg_key_item;
	st.arg = &c;
	root = text == NULL ? ynode_parse_file_stream(name, &st, err,
	    sizeof(err)) : ynode_parse_stream(name, text, len, &st, err,
	    sizeof(err));
	if (root == NULL) {
		cfg_parse_error(errs, err);
		goto fail;
	}
	c.errs = errs;
	for (i = 0; i < kerrs.n; i++)
		(void)cfg_errors_push(errs, kerrs.lines[i], kerrs.columns[i],
		    kerrs.msgs[i]);
	errs->total += kerrs.total - kerrs.n;
	c.cfg->root = root;
	cfg_state_dir_default(&c);
	cfg_vendor_dirs(&c, text == NULL);
	cfg_walk(&c, root);
	if (errs->total > before) {
		config_errors_sort(errs);
		goto fail;
	}
	/* Positions matter only while loading: the tree is not kept for the
	 * daemon's life.  Every value the configuration keeps is its own
	 * copy. */
	cfg_keys_loaded(&c);
	config_errors_free(&kerrs);
	ynode_free(c.cfg->root);
	c.cfg->root = NULL;
	return c.cfg;
fail:
	cfg_keys_loaded(&c);
	config_errors_free(&kerrs);
	config_free(c.cfg);
	return NULL;
}

/* ynode's message is already "FILE:LINE:COLUMN: message". */
static void
cfg_parse_error(struct config_errors *errs, const char *msg)
{
	const char	*p;
	char		*end;
	long		 line = 0, col = 0;

	/* Sort keys only; the text is kept as is. */
	if ((p = strchr(msg, ':')) != NULL && isdigit((unsigned char)p[1])) {
		line = strtol(p + 1, &end, 10);
		if (*end == ':')
			col = strtol(end + 1, NULL, 10);
		if (line < 0 || line > INT32_MAX || col < 0 ||
		    col > INT32_MAX)
			line = col = 0;
	}
	(void)cfg_errors_push(errs, (int)line, (int)col, msg);
}

struct config *
config_load_buffer(const char *name, const char *text, size_t len,
    struct config_errors *errs)
{
	return config_load_buffer_flags(name, text, len, 0, errs);
}

struct config *
config_load_buffer_flags(const char *name, const char *text, size_t len,
    int flags, struct config_errors *errs)
{
	/* An empty buffer is an empty file, not a file name. */
	return cfg_load(name, text != NULL ? text : "", len, flags, errs);
}

struct config *
config_load_flags(const char *path, int flags, struct config_errors *errs)
{
	return cfg_load(path, NULL, 0, flags, errs);
}

struct config *
config_load(const char *path, struct config_errors *errs)
{
	return config_load_flags(path, 0, errs);
}

static void
cfg_aws_free(struct config_aws *a)
{
	free(a->profile);
	free(a->region);
	free(a->endpoint_url);
	free(a->sts_endpoint_url);
	free(a->assume_role);
	free(a->ca_file);
}

void
config_free(struct config *cfg)
{
	size_t	i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->state_dir);
	cfg_aws_free(&cfg->aws);
	free(cfg->http.listen);
	free(cfg->http.host);
	for (i = 0; i < cfg->nkeys; i++) {
		struct config_key *k = &cfg->keys[i];

		free(k->arn);
		free(k->name);
		free(k->vendor_name);
		free(k->alias);
		cfg_aws_free(&k->aws);
	}
	free(cfg->keys);
	for (i = 0; i < cfg->discover.nregions; i++)
		free(cfg->discover.regions[i]);
	free(cfg->discover.regions);
	for (i = 0; i < cfg->discover.nvendors; i++)
		free(cfg->discover.vendors[i]);
	free(cfg->discover.vendors);
	for (i = 0; i < cfg->discover.naccounts; i++)
		cfg_aws_free(&cfg->discover.accounts[i]);
	free(cfg->discover.accounts);
	for (i = 0; i < cfg->nvendors; i++)
		vendor_free(cfg->vendors[i]);
	free(cfg->vendors);
	notify_free_all(cfg->notifiers, cfg->nnotifiers);
	ynode_free(cfg->root);
	free(cfg);
}

/* ---- accessors ---- */

const struct config_key *
config_key_find(const struct config *cfg, const char *name_or_arn)
{
	size_t	i;

	for (i = 0; i < cfg->nkeys; i++)
		if (strcmp(cfg->keys[i].name, name_or_arn) == 0 ||
		    strcmp(cfg->keys[i].arn, name_or_arn) == 0)
			return &cfg->keys[i];
	return NULL;
}

void
config_key_keyid(const struct config_key *key, struct keyid *out)
{
	out->arn = key->arn;
	out->name = key->name;
	out->region = key->parsed.region;
	out->account = key->parsed.account;
	out->partition = key->parsed.partition;
}

long
config_key_interval(const struct config *cfg, const struct config_key *key)
{
	return key->interval > 0 ? key->interval : cfg->interval;
}

long
config_key_use_within(const struct config *cfg, const struct config_key *key)
{
	return key->expect_use_within >= 0 ? key->expect_use_within :
	    cfg->expect_use_within;
}

long
config_key_grants_interval(const struct config *cfg,
    const struct config_key *key)
{
	return key->grants_interval > 0 ? key->grants_interval :
	    cfg->grants_interval;
}

void
config_key_aws(const struct config *cfg, const struct config_key *key,
    struct config_aws *out)
{
	const struct config_aws	*g = &cfg->aws, *k = &key->aws;

#define PICK(f)	(k->f != NULL ? k->f : g->f)
	out->profile = PICK(profile);
	out->region = PICK(region);
	out->endpoint_url = PICK(endpoint_url);
	out->sts_endpoint_url = PICK(sts_endpoint_url);
	out->assume_role = PICK(assume_role);
	out->ca_file = PICK(ca_file);
#undef PICK
	out->use_fips = k->use_fips != -1 ? k->use_fips : g->use_fips;
	out->allow_http = k->allow_http != -1 ? k->allow_http : g->allow_http;
}

int
config_key_replicas(const struct config *cfg, const struct config_key *key)
{
	if (key->replicas != -1)
		return key->replicas;
	if (cfg->replicas != -1)
		return cfg->replicas;
	return key->vendor != NULL;
}

int
config_key_endpoint(const struct config *cfg, const struct config_key *key,
    char *url, size_t urllen, char *err, size_t errlen)
{
	struct config_aws	 aws;
	struct endpoint_kms_cfg	 ecfg;

	config_key_aws(cfg, key, &aws);
	memset(&ecfg, 0, sizeof(ecfg));
	ecfg.endpoint_url = aws.endpoint_url;
	ecfg.use_fips = aws.use_fips == 1;
	ecfg.allow_http = aws.allow_http == 1;
	return endpoint_kms(&ecfg, key->parsed.region, key->parsed.partition,
	    url, urllen, err, errlen);
}

int
config_key_same_endpoint(const struct config *cfg,
    const struct config_key *a, const struct config_key *b)
{
	struct config_aws	x, y;

	config_key_aws(cfg, a, &x);
	config_key_aws(cfg, b, &y);
	if (x.endpoint_url != y.endpoint_url && (x.endpoint_url == NULL ||
	    y.endpoint_url == NULL || strcmp(x.endpoint_url,
	    y.endpoint_url) != 0))
		return 0;
	return x.use_fips == y.use_fips && x.allow_http == y.allow_http &&
	    strcmp(a->parsed.region, b->parsed.region) == 0 &&
	    strcmp(a->parsed.partition, b->parsed.partition) == 0;
}

int
config_check_file_perms(const char *path, char *err, size_t errlen)
{
	struct stat	st;

	if (stat(path, &st) == -1) {
		(void)snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		(void)snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (st.st_mode & S_IWOTH) {
		(void)snprintf(err, errlen, "%s: refusing a world-writable "
		    "file (mode %04o): anyone could change what it says; "
		    "chmod o-w it", path, (unsigned int)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* ---- printing ---- */

/* A scalar as YAML: plain when it reads back as the same string. */
static void
cfg_put(FILE *f, const char *s)
{
	static const char * const words[] = { "true", "false", "null", "yes",
	    "no", "on", "off", "y", "n", "~", NULL };
	const unsigned char	*p;
	size_t			 i, n = strlen(s);
	int			 plain;

	plain = n > 0 && (isalpha((unsigned char)s[0]) || s[0] == '/' ||
	    s[0] == '_') && s[n - 1] != ':' &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_./:@+-*") == n;
	for (i = 0; plain && words[i] != NULL; i++)
		if (strcasecmp(s, words[i]) == 0)
			plain = 0;
	if (plain) {
		(void)fputs(s, f);
		return;
	}
	(void)fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			(void)fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			(void)fprintf(f, "\\x%02x", *p);
		else
			(void)fputc(*p, f);
	}
	(void)fputc('"', f);
}

static void
cfg_put_kv(FILE *f, int indent, const char *key, const char *value)
{
	(void)fprintf(f, "%*s%s: ", indent, "", key);
	cfg_put(f, value);
	(void)fputc('\n', f);
}

static void
cfg_put_dur(FILE *f, int indent, const char *key, long secs)
{
	char	buf[32];

	(void)fprintf(f, "%*s%s: %s\n", indent, "", key,
	    duration_format(secs, buf, sizeof(buf)));
}

static void
cfg_put_list(FILE *f, int indent, const char *key, char * const *v,
    size_t n)
{
	size_t	i;

	(void)fprintf(f, "%*s%s: [", indent, "", key);
	for (i = 0; i < n; i++) {
		if (i > 0)
			(void)fputs(", ", f);
		cfg_put(f, v[i]);
	}
	(void)fputs("]\n", f);
}

static void
cfg_print_aws(FILE *f, int indent, const struct config_aws *a)
{
	if (a->profile != NULL)
		cfg_put_kv(f, indent, "profile", a->profile);
	if (a->region != NULL)
		cfg_put_kv(f, indent, "region", a->region);
	if (a->endpoint_url != NULL)
		cfg_put_kv(f, indent, "endpoint_url", a->endpoint_url);
	if (a->sts_endpoint_url != NULL)
		cfg_put_kv(f, indent, "sts_endpoint_url", a->sts_endpoint_url);
	if (a->assume_role != NULL)
		cfg_put_kv(f, indent, "assume_role", a->assume_role);
	if (a->ca_file != NULL)
		cfg_put_kv(f, indent, "ca_file", a->ca_file);
	(void)fprintf(f, "%*suse_fips: %s\n", indent, "",
	    a->use_fips > 0 ? "true" : "false");
	(void)fprintf(f, "%*sallow_http: %s\n", indent, "",
	    a->allow_http > 0 ? "true" : "false");
}

static void
cfg_print_vendor(FILE *f, const struct vendor *v)
{
	size_t	i, j;

	(void)fprintf(f, "  ");
	cfg_put(f, v->name);
	(void)fprintf(f, ":\n    accounts:\n");
	for (i = 0; i < v->naccounts; i++) {
		(void)fprintf(f, "      %s: ", v->accounts[i].region);
		cfg_put(f, v->accounts[i].account);
		(void)fputc('\n', f);
	}
	(void)fprintf(f, "    require:\n");
	for (i = 0; i < v->ngroups; i++) {
		const struct vendor_group *g = &v->groups[i];

		(void)fprintf(f, "      - label: ");
		cfg_put(f, g->label);
		(void)fputc('\n', f);
		cfg_put_list(f, 8, "actions", g->actions, g->nactions);
		if (g->nconds > 0)
			(void)fprintf(f, "        condition:\n");
		for (j = 0; j < g->nconds; j++) {
			/* Conditions under one operator stay together. */
			if (j == 0 || strcmp(g->conds[j].op,
			    g->conds[j - 1].op) != 0) {
				(void)fprintf(f, "          ");
				cfg_put(f, g->conds[j].op);
				(void)fprintf(f, ":\n");
			}
			(void)fprintf(f, "            ");
			cfg_put(f, g->conds[j].key);
			(void)fprintf(f, ": ");
			cfg_put(f, g->conds[j].value);
			(void)fputc('\n', f);
		}
	}
	if (v->key_spec != NULL)
		cfg_put_kv(f, 4, "key_spec", v->key_spec);
	if (v->key_usage != NULL)
		cfg_put_kv(f, 4, "key_usage", v->key_usage);
}

int
config_print_vendors(const struct config *cfg, FILE *f)
{
	const struct vendor	*v;
	size_t			 i, j;

	for (i = 0; i < cfg->nvendors; i++) {
		v = cfg->vendors[i];
		(void)fprintf(f, "%s\tfrom %s\n", v->name, v->origin);
		if (v->source != NULL)
			(void)fprintf(f, "  source: %s%s%s\n", v->source,
			    v->date != NULL ? ", checked " : "",
			    v->date != NULL ? v->date : "");
		for (j = 0; j < v->naccounts; j++)
			(void)fprintf(f, "  %-16s %s\n", v->accounts[j].region,
			    v->accounts[j].account);
	}
	if (cfg->nvendors == 0)
		(void)fprintf(f, "no vendor profiles (shipped ones are read "
		    "from %s)\n", vendor_dir());
	return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

struct vendor *
config_vendor_load(const char *name, char *err, size_t errlen)
{
	struct config_errors	 errs;
	struct cfg		 c;
	struct vendor		*v = NULL;
	size_t			 i;

	memset(&errs, 0, sizeof(errs));
	memset(&c, 0, sizeof(c));
	c.errs = &errs;
	if ((c.cfg = cfg_new("(none)")) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	cfg_vendor_dirs(&c, 0);
	if (errs.total > 0)
		(void)snprintf(err, errlen, "%s", errs.n > 0 ? errs.msgs[0] :
		    "out of memory");
	else if (c.vdir_err[0] != '\0')
		(void)snprintf(err, errlen, "%s", c.vdir_err);
	else {
		for (i = 0; i < c.cfg->nvendors; i++)
			if (strcmp(c.cfg->vendors[i]->name, name) == 0) {
				v = c.cfg->vendors[i];
				c.cfg->vendors[i] =
				    c.cfg->vendors[--c.cfg->nvendors];
				break;
			}
		if (v == NULL)
			(void)snprintf(err, errlen, "no vendor profile '%s' in "
			    "%s", name, vendor_dir());
	}
	config_free(c.cfg);
	config_errors_free(&errs);
	return v;
}

int
config_print(const struct config *cfg, FILE *f)
{
	struct config_aws	 a;
	size_t			 i, nv = 0;

	(void)fprintf(f, "# effective configuration, defaults filled in\n");
	cfg_put_dur(f, 0, "interval", cfg->interval);
	cfg_put_dur(f, 0, "slow_interval", cfg->slow_interval);
	cfg_put_dur(f, 0, "grants_interval", cfg->grants_interval);
	cfg_put_dur(f, 0, "renotify", cfg->renotify);
	cfg_put_dur(f, 0, "expect_use_within", cfg->expect_use_within);
	if (cfg->replicas != -1)
		(void)fprintf(f, "replicas: %s\n",
		    cfg->replicas ? "watch" : "off");
	cfg_put_kv(f, 0, "state_dir", cfg->state_dir);
	(void)fprintf(f, "aws:\n");
	cfg_print_aws(f, 2, &cfg->aws);
	if (cfg->http.listen != NULL) {
		(void)fprintf(f, "http:\n");
		cfg_put_kv(f, 2, "listen", cfg->http.listen);
		(void)fprintf(f, "  max_connections: %d\n",
		    cfg->http.max_connections);
	} else
		(void)fprintf(f, "http: {}  # no listener\n");
	(void)fprintf(f, "kms:\n");
	cfg_put_dur(f, 2, "connect_timeout", cfg->kms.connect_timeout);
	cfg_put_dur(f, 2, "timeout", cfg->kms.timeout);
	(void)fprintf(f, "  max_attempts: %d\n", cfg->kms.max_attempts);
	(void)fprintf(f, "  rate_limit: %g\n", cfg->kms.rate_limit);
	(void)fprintf(f, "  max_inflight: %d\n", cfg->kms.max_inflight);
	(void)fprintf(f, "alerts:\n");
	(void)fprintf(f, "  fire_after: %d\n", cfg->alerts.fire_after);
	(void)fprintf(f, "  resolve_after: %d\n", cfg->alerts.resolve_after);
	cfg_put_dur(f, 2, "material_expiry_warning",
	    cfg->alerts.material_expiry_warning);
	for (i = 0; i < cfg->nvendors; i++)
		if (cfg->vendors[i]->from == VENDOR_CONFIG)
			nv++;
	if (nv == 0)
		(void)fprintf(f, "vendors: {}\n");
	else {
		(void)fprintf(f, "vendors:\n");
		for (i = 0; i < cfg->nvendors; i++)
			if (cfg->vendors[i]->from == VENDOR_CONFIG)
				cfg_print_vendor(f, cfg->vendors[i]);
	}
	if (cfg->discover.enabled) {
		(void)fprintf(f, "discover:\n");
		cfg_put_dur(f, 2, "interval", cfg->discover.interval);
		if (cfg->discover.nregions > 0)
			cfg_put_list(f, 2, "regions", cfg->discover.regions,
			    cfg->discover.nregions);
		if (cfg->discover.nvendors > 0)
			cfg_put_list(f, 2, "vendors", cfg->discover.vendors,
			    cfg->discover.nvendors);
		if (cfg->discover.naccounts > 0)
			(void)fprintf(f, "  accounts:\n");
		for (i = 0; i < cfg->discover.naccounts; i++) {
			(void)fprintf(f, "    -\n");
			cfg_print_aws(f, 6, &cfg->discover.accounts[i]);
		}
	}
	(void)fprintf(f, cfg->nkeys > 0 ? "keys:\n" : "keys: []\n");
	for (i = 0; i < cfg->nkeys; i++) {
		const struct config_key *key = &cfg->keys[i];

		cfg_put_kv(f, 2, "- arn", key->arn);
		cfg_put_kv(f, 4, "name", key->name);
		if (key->vendor_name != NULL) {
			(void)fprintf(f, "    vendor: ");
			cfg_put(f, key->vendor_name);
			/* The shipped path depends on the installation. */
			if (key->vendor != NULL &&
			    key->vendor->from == VENDOR_SHIPPED)
				(void)fprintf(f, "  # shipped profile");
			else if (key->vendor != NULL &&
			    key->vendor->from == VENDOR_LOCAL)
				(void)fprintf(f, "  # profile from %s",
				    key->vendor->origin);
			(void)fputc('\n', f);
		}
		if (key->alias != NULL)
			cfg_put_kv(f, 4, "alias", key->alias);
		cfg_put_dur(f, 4, "interval", config_key_interval(cfg, key));
		(void)fprintf(f, "    expect_rotation: %s\n",
		    key->expect_rotation ? "true" : "false");
		cfg_put_dur(f, 4, "expect_use_within",
		    config_key_use_within(cfg, key));
		cfg_put_dur(f, 4, "grants_interval",
		    config_key_grants_interval(cfg, key));
		(void)fprintf(f, "    replicas: %s\n",
		    config_key_replicas(cfg, key) ? "watch" : "off");
		(void)fprintf(f, "    aws:\n");
		config_key_aws(cfg, key, &a);
		cfg_print_aws(f, 6, &a);
	}
	if (cfg->nnotifiers == 0)
		(void)fprintf(f, "notifiers: []\n");
	else
		(void)fprintf(f, "notifiers:\n");
	for (i = 0; i < cfg->nnotifiers; i++) {
		const struct notifier	*n = cfg->notifiers[i];
		char * const		*ids;
		size_t			 nids;

		cfg_put_kv(f, 2, "- type", notify_type(n));
		cfg_put_kv(f, 4, "name", notify_name(n));
		cfg_put_kv(f, 4, "min_severity",
		    severity_name(notify_min_severity(n)));
		if ((ids = notify_checks(n, &nids)) != NULL && nids > 0)
			cfg_put_list(f, 4, "checks", ids, nids);
		if ((ids = notify_exclude_checks(n, &nids)) != NULL &&
		    nids > 0)
			cfg_put_list(f, 4, "exclude_checks", ids, nids);
		/* The notifier's own options may hold secrets (a Slack URL,
		 * a routing key): names only. */
		if (*notify_option_names(n) != '\0')
			(void)fprintf(f, "    # options of this notifier "
			    "(values not shown): %s\n", notify_option_names(n));
	}
	if (fflush(f) == EOF || ferror(f))
		return -1;
	return 0;
}
