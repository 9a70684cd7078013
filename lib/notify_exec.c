/*
 * exec notifier: runs a command (argv, no shell) per event with the
 * payload (version 1) on stdin and KEYHEALTH_* in its environment.  Exit 0
 * acknowledges; anything else, a signal or the timeout (the whole process
 * group is killed) asks the outbox to retry.  The child is watched with a
 * pidfd on the loop and its stdin is fed without blocking.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "alert.h"
#include "notify.h"
#include "notify_util.h"
#include "ynode.h"

extern char **environ;

#define EXEC_MAX_ARGS		256
#define EXEC_DEFAULT_TIMEOUT	30000

struct exec_job;

struct exec {
	char			**argv;		/* argv[0] as given */
	char			 *path;		/* resolved at configure */
	size_t			  argc;
	long long		  timeout_ms;
	const struct notify_env	 *env;
	struct exec_job		 *jobs;
};

struct exec_job {
	struct exec		*x;
	struct exec_job		*next;
	pid_t			 pid;
	int			 pidfd;
	int			 sock;		/* child's stdin, our end */
	struct event		*ev_exit;
	struct event		*ev_write;
	struct event		*ev_timer;
	char			*buf;
	size_t			 len;
	size_t			 off;
	int			 timed_out;
	notify_done_cb		 done;
	void			*arg;
};

static void
exec_free_argv(char **argv, size_t argc)
{
	size_t	i;

	if (argv == NULL)
		return;
	for (i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

/* argv[0] as execve wants it: as is with a slash, else found in PATH. */
static char *
exec_resolve(const char *cmd)
{
	const char	*path, *p, *colon;
	char		*cand;
	struct stat	 st;
	size_t		 dlen;

	/* A program that is not there would fail every delivery, forever:
	 * refuse it at configure time (validate) instead. */
	if (strchr(cmd, '/') != NULL)
		return stat(cmd, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(cmd, X_OK) == 0 ? strdup(cmd) : NULL;
	if ((path = getenv("PATH")) == NULL || *path == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; ; p = colon + 1) {
		colon = strchr(p, ':');
		dlen = colon != NULL ? (size_t)(colon - p) : strlen(p);
		if (asprintf(&cand, "%.*s/%s", (int)dlen,
		    dlen > 0 ? p : ".", cmd) == -1)
			return NULL;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(cand, X_OK) == 0)
			return cand;
		free(cand);
		if (colon == NULL)
			break;
	}
	return NULL;
}

static int
exec_configure(const struct ynode *block, void **state,
    struct notify_conf *nc)
{
	static const char * const	 known[] = { "command", "timeout",
					    NULL };
	const struct ynode		*cmd, *it;
	struct exec			*x;
	size_t				 i;
	int				 rc = 0;

	if (notify_util_check_keys(block, "exec", known, nc) == -1)
		rc = -1;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return notify_util_error(nc, block, "out of memory");
	if (notify_util_duration(block, "exec", "timeout", EXEC_DEFAULT_TIMEOUT,
	    100, 3600000, &x->timeout_ms, nc) == -1)
		rc = -1;
	if ((cmd = ynode_get(block, "command")) == NULL) {
		notify_util_error(nc, block, "exec: missing 'command' (a list: "
		    "[program, arg, ...])");
		goto fail;
	}
	if (cmd->type != YNODE_SEQ || cmd->nitems == 0 ||
	    cmd->nitems > EXEC_MAX_ARGS) {
		notify_util_error(nc, cmd, "exec: 'command' must be a "
		    "non-empty list [program, arg, ...] (no shell)");
		goto fail;
	}
	if ((x->argv = calloc(cmd->nitems + 1, sizeof(*x->argv))) == NULL) {
		notify_util_error(nc, block, "out of memory");
		goto fail;
	}
	x->argc = cmd->nitems;
	for (i = 0; i < cmd->nitems; i++) {
		it = cmd->items[i];
		if (it->type != YNODE_SCALAR ||
		    strlen(it->value) != it->valuelen) {
			notify_util_error(nc, it, "exec: command arguments "
			    "must be strings");
			goto fail;
		}
		if ((x->argv[i] = strdup(it->value)) == NULL) {
			notify_util_error(nc, it, "out of memory");
			goto fail;
		}
	}
	if (x->argv[0][0] == '\0' ||
	    (x->path = exec_resolve(x->argv[0])) == NULL) {
		notify_util_error(nc, cmd->items[0], "exec: program '%s' %s",
		    x->argv[0], strchr(x->argv[0], '/') != NULL ?
		    "is not an executable file" : "not found in PATH");
		goto fail;
	}
	if (rc == -1)
		goto fail;
	*state = x;
	return 0;
fail:
	exec_free_argv(x->argv, x->argc);
	free(x->path);
	free(x);
	return -1;
}

static int
exec_start(void *state, const struct notify_env *env, char *err,
    size_t errlen)
{
	struct exec	*x = state;

	if (env == NULL || env->base == NULL) {
		(void)snprintf(err, errlen, "exec: no event base");
		return -1;
	}
	x->env = env;
	return 0;
}

static void
exec_job_unlink(struct exec_job *j)
{
	struct exec_job	**pp;

	for (pp = &j->x->jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
}

static void
exec_job_free(struct exec_job *j)
{
	if (j->ev_exit != NULL)
		event_free(j->ev_exit);
	if (j->ev_write != NULL)
		event_free(j->ev_write);
	if (j->ev_timer != NULL)
		event_free(j->ev_timer);
	if (j->pidfd != -1)
		close(j->pidfd);
	if (j->sock != -1)
		close(j->sock);
	free(j->buf);
	free(j);
}

static void
exec_job_finish(struct exec_job *j, enum notify_result r, const char *why)
{
	notify_done_cb	 done = j->done;
	void		*arg = j->arg;

	exec_job_unlink(j);
	exec_job_free(j);
	done(arg, r, why);
}

static void
exec_on_exit(evutil_socket_t fd, short what, void *arg)
{
	struct exec_job	*j = arg;
	char		 why[128];
	int		 st;
	pid_t		 r;

	(void)fd;
	(void)what;
	do
		r = waitpid(j->pid, &st, WNOHANG);
	while (r == -1 && errno == EINTR);
	if (r == 0)
		return;		/* spurious; the persistent event stays */
	if (r == -1) {
		exec_job_finish(j, NOTIFY_RETRY, "waitpid failed");
		return;
	}
	if (j->timed_out) {
		(void)snprintf(why, sizeof(why), "%s: killed after the %lld ms "
		    "timeout", j->x->argv[0], j->x->timeout_ms);
		exec_job_finish(j, NOTIFY_RETRY, why);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		exec_job_finish(j, NOTIFY_ACK, NULL);
	else if (WIFEXITED(st)) {
		(void)snprintf(why, sizeof(why), "%s exited with status %d",
		    j->x->argv[0], WEXITSTATUS(st));
		exec_job_finish(j, NOTIFY_RETRY, why);
	} else {
		(void)snprintf(why, sizeof(why), "%s killed by signal %d",
		    j->x->argv[0], WIFSIGNALED(st) ? WTERMSIG(st) : 0);
		exec_job_finish(j, NOTIFY_RETRY, why);
	}
}

static void
exec_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct exec_job	*j = arg;
	ssize_t		 w;

	(void)what;
	while (j->off < j->len) {
		w = send(fd, j->buf + j->off, j->len - j->off, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;		/* the persistent event comes back */
		if (w == -1)
			break;		/* it does not read stdin: fine */
		j->off += (size_t)w;
	}
	event_del(j->ev_write);
	close(j->sock);
	j->sock = -1;
}

static void
exec_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct exec_job	*j = arg;

	(void)fd;
	(void)what;
	j->timed_out = 1;
	(void)kill(-j->pid, SIGKILL);
	(void)kill(j->pid, SIGKILL);
}

static void	exec_envp_free(char **);

/*
 * What the child inherits from the daemon: only these, when set.  The
 * daemon's environment holds AWS credentials (AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN) and the path of its systemd credentials
 * (CREDENTIALS_DIRECTORY): a paging script needs none of them.
 */
static const char * const exec_env_keep[] = {
	"PATH", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", NULL
};

static char exec_default_path[] = "PATH=/usr/local/bin:/usr/bin:/bin";

static int
exec_env_kept(const char *entry)
{
	size_t	i, n;

	for (i = 0; exec_env_keep[i] != NULL; i++) {
		n = strlen(exec_env_keep[i]);
		if (strncmp(entry, exec_env_keep[i], n) == 0 && entry[n] == '=')
			return 1;
	}
	return 0;
}

/* A minimal environment: the few variables above, then the event's. */
static char **
exec_envp(const struct alert_event *ev)
{
	char		**envp;
	size_t		  i, k = 0, nkeep;
	const char	 *name;

	for (nkeep = 0; exec_env_keep[nkeep] != NULL; nkeep++)
		;
	if ((envp = calloc(nkeep + 9, sizeof(*envp))) == NULL)
		return NULL;
	for (i = 0; environ != NULL && environ[i] != NULL && k < nkeep; i++)
		if (exec_env_kept(environ[i]))
			envp[k++] = environ[i];
	if (getenv("PATH") == NULL)
		envp[k++] = exec_default_path;
	name = ev->key_name != NULL ? ev->key_name : ev->key_arn;
	if (asprintf(&envp[k++], "KEYHEALTH_CHECK=%s", ev->check) == -1 ||
	    asprintf(&envp[k++], "KEYHEALTH_STATUS=%s",
	    alert_status_name(ev->status)) == -1 ||
	    asprintf(&envp[k++], "KEYHEALTH_SEVERITY=%s",
	    severity_name(ev->severity)) == -1 ||
	    asprintf(&envp[k++], "KEYHEALTH_KEY_ARN=%s", ev->key_arn) == -1 ||
	    asprintf(&envp[k++], "KEYHEALTH_KEY_NAME=%s", name) == -1 ||
	    asprintf(&envp[k++], "KEYHEALTH_FINGERPRINT=%s",
	    ev->fingerprint) == -1 ||
	    asprintf(&envp[k++], "KEYHEALTH_SUMMARY=%s",
	    ev->summary != NULL ? ev->summary : "") == -1) {
		/* asprintf left the failed slot undefined. */
		envp[k - 1] = NULL;
		exec_envp_free(envp);
		return NULL;
	}
	envp[k] = NULL;
	return envp;
}

static void
exec_envp_free(char **envp)
{
	size_t	i;

	if (envp == NULL)
		return;
	for (i = 0; envp[i] != NULL; i++)
		if (strncmp(envp[i], "KEYHEALTH_", 10) == 0)
			free(envp[i]);
	free(envp);
}

static int
exec_send(void *state, const struct alert_event *ev, notify_done_cb done,
    void *arg)
{
	struct exec	*x = state;
	struct exec_job	*j;
	struct timeval	 tv;
	json_t		*payload;
	char		**envp = NULL;
	int		 sv[2] = { -1, -1 };
	sigset_t	 all, old;

	if (x->env == NULL)
		return -1;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return -1;
	j->x = x;
	j->pidfd = j->sock = -1;
	j->done = done;
	j->arg = arg;
	payload = alert_event_payload(ev, x->env->hostname, x->env->source,
	    time(NULL));
	if (payload == NULL)
		goto fail;
	j->buf = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	if (j->buf == NULL)
		goto fail;
	j->len = strlen(j->buf);
	if ((envp = exec_envp(ev)) == NULL)
		goto fail;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		goto fail;
	/* Signals blocked across fork: the child resets them itself. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	j->pid = fork();
	if (j->pid == 0) {
		struct sigaction	sa;
		int			s;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		for (s = 1; s < NSIG; s++)
			(void)sigaction(s, &sa, NULL);
		(void)setpgid(0, 0);
		if (dup2(sv[1], STDIN_FILENO) == -1)
			_exit(127);
		(void)syscall(SYS_close_range, 3U, ~0U, 0U);
		sigprocmask(SIG_SETMASK, &old, NULL);
		execve(x->path, x->argv, envp);
		_exit(127);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (j->pid == -1)
		goto fail;
	/* Both sides set the group so a quick timeout cannot miss it. */
	(void)setpgid(j->pid, j->pid);
	close(sv[1]);
	sv[1] = -1;
	j->sock = sv[0];
	sv[0] = -1;
	exec_envp_free(envp);
	envp = NULL;
	(void)shutdown(j->sock, SHUT_RD);
	(void)evutil_make_socket_nonblocking(j->sock);
	j->next = x->jobs;
	x->jobs = j;
	if ((j->pidfd = (int)syscall(SYS_pidfd_open, j->pid, 0)) == -1 ||
	    (j->ev_exit = event_new(x->env->base, j->pidfd,
	    EV_READ | EV_PERSIST, exec_on_exit, j)) == NULL ||
	    (j->ev_write = event_new(x->env->base, j->sock,
	    EV_WRITE | EV_PERSIST, exec_on_write, j)) == NULL ||
	    (j->ev_timer = evtimer_new(x->env->base, exec_on_timeout,
	    j)) == NULL) {
		/* Started but cannot be watched: kill it, report retry. */
		(void)kill(-j->pid, SIGKILL);
		(void)waitpid(j->pid, NULL, 0);
		exec_job_finish(j, NOTIFY_RETRY, "cannot watch the child");
		return 0;
	}
	tv.tv_sec = x->timeout_ms / 1000;
	tv.tv_usec = (x->timeout_ms % 1000) * 1000;
	event_add(j->ev_exit, NULL);
	event_add(j->ev_write, NULL);
	evtimer_add(j->ev_timer, &tv);
	return 0;
fail:
	exec_envp_free(envp);
	if (sv[0] != -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	free(j->buf);
	free(j);
	return -1;
}

static void
exec_stop(void *state)
{
	struct exec	*x = state;
	struct exec_job	*j;

	while ((j = x->jobs) != NULL) {
		(void)kill(-j->pid, SIGKILL);
		(void)kill(j->pid, SIGKILL);
		/* It was just SIGKILLed: this wait is short. */
		(void)waitpid(j->pid, NULL, 0);
		exec_job_finish(j, NOTIFY_RETRY, "stopped");
	}
}

static void
exec_free(void *state)
{
	struct exec	*x = state;

	if (x == NULL)
		return;
	exec_stop(x);
	exec_free_argv(x->argv, x->argc);
	free(x->path);
	free(x);
}

const struct notify_ops notify_exec_ops = {
	.type = "exec",
	.configure = exec_configure,
	.start = exec_start,
	.send = exec_send,
	.stop = exec_stop,
	.free = exec_free,
};
