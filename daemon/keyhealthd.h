/*
 * keyhealthd: the process.  One header for daemon/, prototypes grouped by
 * file, as the OpenBSD daemons do.
 */
#ifndef KEYHEALTHD_H
#define KEYHEALTHD_H

#define KEYHEALTHD_DEFAULT_CONFIG	"/etc/keyhealthd/keyhealthd.yaml"

/* Options every subcommand shares. */
struct kh_opts {
	const char	*config;	/* -c, KEYHEALTHD_CONFIG, or the default */
	int		 verbose;	/* -v count */
};

/* main.c */
void	usage_print(int to_stderr);
int	kh_not_available(const char *what);

/* Subcommands: argc/argv start at the subcommand's name; each returns the
 * process exit status. */
int	cmd_run(struct kh_opts *, int, char **);
int	cmd_check(struct kh_opts *, int, char **);
int	cmd_validate(struct kh_opts *, int, char **);
int	cmd_baseline(struct kh_opts *, int, char **);

#endif
