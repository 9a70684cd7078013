/*
 * libFuzzer target for lib/creds' parsers of what the network, a child
 * process or a user's files hand us: the first byte picks the parser
 * (shared INI file, STS XML, IMDS/container JSON, credential_process JSON,
 * IMDS role listing, RFC 3339 time), the rest is its input.  Invariants:
 * a parse that succeeds yields complete credentials; a failing one leaves
 * nothing allocated and an error text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/creds.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "creds_fuzzer: invariant broken: %s\n", what);
		abort();
	}
}

static void
check_creds(int rc, struct creds *c, const char *err)
{
	if (rc == 0) {
		check(c->access_key_id != NULL && c->access_key_id[0] != '\0',
		    "access key id");
		check(c->secret_access_key != NULL, "secret");
		creds_clear(c);
	} else {
		check(c->access_key_id == NULL && c->secret_access_key == NULL &&
		    c->session_token == NULL, "nothing left on failure");
		check(err[0] != '\0', "error text");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct creds_ini	 ini;
	struct creds		 c;
	char			 err[512], role[256], *s;
	const char		*text;
	size_t			 len, i, j;
	time_t			 t;
	int			 rc;

	if (size < 1)
		return 0;
	text = (const char *)data + 1;
	len = size - 1;
	err[0] = '\0';
	memset(&c, 0, sizeof(c));
	switch (data[0] % 6) {
	case 0:
		if (creds_ini_parse(text, len, &ini, err, sizeof(err)) == 0) {
			for (i = 0; i < ini.nsec; i++)
				for (j = 0; j < ini.sec[i].nkv; j++)
					check(creds_ini_get(&ini.sec[i],
					    ini.sec[i].kv[j].key) != NULL,
					    "key found");
			creds_ini_free(&ini);
		} else
			check(err[0] != '\0', "ini error text");
		break;
	case 1:
		rc = creds_sts_parse(200, text, len, &c, err, sizeof(err));
		check_creds(rc, &c, err);
		if (rc == 0)
			break;
		rc = creds_sts_parse(403, text, len, &c, err, sizeof(err));
		check(rc == -1, "STS error status never succeeds");
		break;
	case 2:
		rc = creds_json_parse(200, text, len, &c, err, sizeof(err));
		check_creds(rc, &c, err);
		break;
	case 3:
		rc = creds_process_parse(text, len, &c, err, sizeof(err));
		check_creds(rc, &c, err);
		break;
	case 4:
		if (creds_imds_parse_role(200, text, len, role, sizeof(role),
		    err, sizeof(err)) == 0)
			check(role[0] != '\0' && strchr(role, '/') == NULL,
			    "role name");
		break;
	case 5:
		if ((s = malloc(len + 1)) == NULL)
			return 0;
		memcpy(s, text, len);
		s[len] = '\0';
		(void)creds_parse_time(s, &t);
		free(s);
		break;
	}
	return 0;
}
