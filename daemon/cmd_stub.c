/*
 * Subcommands whose implementation lands with later parts of the project.
 * Each says so and exits 2; none pretends to work.
 */
#include "keyhealthd.h"

int
cmd_run(struct kh_opts *opts, int argc, char **argv)
{
	(void)opts; (void)argc; (void)argv;
	return kh_not_available("'run' (the daemon loop)");
}

int
cmd_check(struct kh_opts *opts, int argc, char **argv)
{
	(void)opts; (void)argc; (void)argv;
	return kh_not_available("'check'");
}

int
cmd_baseline(struct kh_opts *opts, int argc, char **argv)
{
	(void)opts; (void)argc; (void)argv;
	return kh_not_available("'baseline'");
}
