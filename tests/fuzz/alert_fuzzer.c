/*
 * libFuzzer target for the alert state and outbox files read back from
 * state_dir after a restart (a crash can leave anything there):
 * alert_event_from_json and alert_table_from_json, each with the round
 * trip through its *_to_json.  The first byte picks the parser.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alert.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
invariant(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "alert_fuzzer: invariant broken: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct alert_event	 ev, ev2;
	struct alert_table	*t, *t2;
	json_error_t		 jerr;
	json_t			*j, *out;
	char			 err[256];

	if (size < 1)
		return 0;
	j = json_loadb((const char *)data + 1, size - 1,
	    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (j == NULL)
		return 0;
	err[0] = '\0';
	if (data[0] & 1) {
		if (alert_event_from_json(j, &ev, err, sizeof(err)) == 0) {
			out = alert_event_to_json(&ev);
			invariant(out != NULL, "event to json");
			invariant(alert_event_from_json(out, &ev2, err,
			    sizeof(err)) == 0, "event round trip");
			invariant(strcmp(ev.id, ev2.id) == 0 &&
			    ev.status == ev2.status &&
			    ev.severity == ev2.severity, "same event");
			alert_event_clear(&ev2);
			json_decref(out);
		} else
			invariant(err[0] != '\0', "event error text");
		alert_event_clear(&ev);
	} else {
		if ((t = alert_table_from_json(j, NULL, err,
		    sizeof(err))) != NULL) {
			out = alert_table_to_json(t);
			invariant(out != NULL, "table to json");
			t2 = alert_table_from_json(out, NULL, err, sizeof(err));
			invariant(t2 != NULL, "table round trip");
			invariant(alert_table_size(t) == alert_table_size(t2) &&
			    alert_table_firing(t) == alert_table_firing(t2),
			    "same table");
			alert_table_free(t2);
			json_decref(out);
			alert_table_free(t);
		} else
			invariant(err[0] != '\0', "table error text");
	}
	json_decref(j);
	return 0;
}
