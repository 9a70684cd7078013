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

/* proc.c: signals, sd_notify, watchdog */
#define PROC_NSIGNALS	4
struct event_base;
struct event;
struct proc {
	struct event_base	*base;
	struct event		*sig[PROC_NSIGNALS];
	struct event		*watchdog;
	void			(*on_signal)(int, void *);
	void			*arg;
};
int	proc_init(struct proc *, struct event_base *,
	    void (*)(int, void *), void *);
void	proc_free(struct proc *);
/* sd_notify(3) with a formatted state string: "READY=1\nSTATUS=...". */
void	proc_notify(const char *, ...) __attribute__((format(printf, 1, 2)));

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
