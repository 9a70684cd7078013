/*
 * libFuzzer target for a key's state file as read back from state_dir
 * (baseline policy, last result): state_key_from_json with the round trip
 * through state_key_to_json.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "state.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
invariant(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "state_fuzzer: invariant broken: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state_key	 k, k2;
	json_error_t		 jerr;
	json_t			*j, *out;
	char			 err[256];

	j = json_loadb((const char *)data, size,
	    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (j == NULL)
		return 0;
	err[0] = '\0';
	if (state_key_from_json(j, &k, err, sizeof(err)) == 0) {
		out = state_key_to_json(&k);
		invariant(out != NULL, "state to json");
		invariant(state_key_from_json(out, &k2, err, sizeof(err)) == 0,
		    "state round trip");
		invariant(strcmp(k.arn, k2.arn) == 0 &&
		    k.polled_at == k2.polled_at && k.status == k2.status,
		    "same state");
		state_key_free(&k2);
		json_decref(out);
	} else
		invariant(err[0] != '\0', "error text");
	state_key_free(&k);
	json_decref(j);
	return 0;
}
