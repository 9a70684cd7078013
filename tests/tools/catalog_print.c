/*
 * Prints the journald message catalog from lib/catalog's table: what
 * `make catalog` writes to systemd/keyhealthd.catalog.
 */
#include <stdio.h>
#include <stdlib.h>

#include "catalog.h"

int
main(void)
{
	return catalog_print_journal(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
