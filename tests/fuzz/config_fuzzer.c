/*
 * libFuzzer target: a configuration file from bytes, through ynode_parse
 * and the whole config walk, then the effective-config printer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors	 errs = { 0 };
	struct config		*cfg;
	FILE			*f;

	cfg = config_load_buffer("fuzz.yaml", (const char *)data, size, &errs);
	if (cfg != NULL) {
		if ((f = fopen("/dev/null", "w")) != NULL) {
			(void)config_print(cfg, f);
			fclose(f);
		}
		config_free(cfg);
	}
	config_errors_free(&errs);
	return 0;
}
