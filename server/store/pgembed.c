/*
 * pgembed.c - runs initdb/pg_ctl as child processes (as `postgres` when we
 * are root, since PostgreSQL refuses to run as root).
 */
#include "store/pgembed.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"

#include <libpq-fe.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* In a child: become the cluster owner (postgres when we are root). 0 or RAMP_EFORBIDDEN. */
static int drop_to_owner(void)
{
	struct passwd *pw;

	if (getuid() != 0)
		return 0;
	pw = getpwnam("postgres");
	if (pw == NULL || setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0)
		return RAMP_EFORBIDDEN;
	return 0;
}

/* The name of the user initdb and postgres run as, into out. */
static void owner_name(char *out, size_t len)
{
	struct passwd *pw = getuid() == 0 ? getpwnam("postgres") : getpwuid(getuid());

	snprintf(out, len, "%s", pw ? pw->pw_name : getuid() == 0 ? "postgres" : "this user");
}

/* Runs argv as the cluster owner; returns the exit status, or RAMP_EIO. Output goes to logpath (or stderr). */
static int run_as_owner(char *const argv[], const char *logpath)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return RAMP_EIO;
	if (pid == 0) {
		/* the log is opened before privileges drop, so root may own it */
		if (logpath) {
			int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
			if (fd >= 0) {
				dup2(fd, STDOUT_FILENO);
				dup2(fd, STDERR_FILENO);
				close(fd);
			}
		}
		if (drop_to_owner() != 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return RAMP_EIO;
	return WIFEXITED(status) ? WEXITSTATUS(status) : RAMP_EIO;
}

/* In a child running as the owner: walks path from "/" and reports on fd the
 * first directory it cannot search (or, for path itself, read and write) as
 * "<what> <errno> <dir>". Exits 0 when every step is allowed. */
static void walk_as_owner(const char *path, int fd)
{
	char p[4200], msg[4300];
	size_t n = strlen(path);

	if (n >= sizeof(p))
		_exit(0);
	memcpy(p, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		static const int want[] = {X_OK, R_OK, W_OK};
		static const char *const what[] = {"searchable", "readable", "writable"};
		char c = p[i];
		if (c != '/' && c != '\0')
			continue;
		p[i] = '\0';
		for (int k = 0; k < (c ? 1 : 3); k++) {
			if (access(p, want[k]) == 0)
				continue;
			int len = snprintf(msg, sizeof(msg), "%s %d %s", what[k], errno, p);
			if (write(fd, msg, (size_t)len) < 0)
				_exit(2);
			_exit(1);
		}
		p[i] = c;
	}
	_exit(0);
}

/* Why the cluster owner (as_owner) or rampd itself cannot use dir (or one
 * above it), as a sentence into why: "/tmp/tmp.x is not searchable by
 * postgres (mode 0700, owner root)". 0 when nothing on the way is in the
 * way (why is then empty). */
static int explain_reach(const char *dir, int as_owner, char *why, size_t len)
{
	char buf[4400] = "", user[64], what[16], owner[64];
	int fds[2], status, err = 0, off = 0;
	ssize_t got;
	pid_t pid;
	struct stat st;

	why[0] = '\0';
	if (pipe(fds) != 0)
		return 0;
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return 0;
	}
	if (pid == 0) {
		close(fds[0]);
		if (as_owner && drop_to_owner() != 0)
			_exit(126);
		walk_as_owner(dir, fds[1]);
	}
	close(fds[1]);
	while ((got = read(fds[0], buf + off, sizeof(buf) - 1 - (size_t)off)) > 0)
		off += (int)got;
	buf[off] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (sscanf(buf, "%15s %d %n", what, &err, &off) < 2 || buf[0] == '\0')
		return 0;
	if (as_owner) {
		owner_name(user, sizeof(user));
	} else {
		struct passwd *me = getpwuid(getuid());
		snprintf(user, sizeof(user), "%s", me ? me->pw_name : "rampd");
	}
	if (err == ENOENT) {
		snprintf(why, len, "%s does not exist", buf + off);
	} else if (err == EACCES && stat(buf + off, &st) == 0) {
		struct passwd *pw = getpwuid(st.st_uid);
		if (pw)
			snprintf(owner, sizeof(owner), "%s", pw->pw_name);
		else
			snprintf(owner, sizeof(owner), "%u", (unsigned)st.st_uid);
		snprintf(why, len, "%s is not %s by %s (mode %04o, owner %s)", buf + off,
			 what, user, (unsigned)(st.st_mode & 07777), owner);
	} else {
		snprintf(why, len, "%s is not %s by %s: %s", buf + off, what, user,
			 strerror(err));
	}
	return RAMP_EFORBIDDEN;
}

/* Logs the last n non-empty lines of a tool's log (initdb's, postgres's). */
static void log_tail(const char *tool, const char *path, int n)
{
	char buf[4096], *lines[64];
	int nl = 0;
	size_t got;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return;
	if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (long)sizeof(buf) - 1)
		fseek(f, -(long)sizeof(buf) + 1, SEEK_END);
	else
		rewind(f);
	got = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[got] = '\0';
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (l[strspn(l, " \t\r")] == '\0')
			continue;
		if (nl == 64)
			memmove(lines, lines + 1, sizeof(lines[0]) * (size_t)--nl);
		lines[nl++] = l;
	}
	for (int i = nl > n ? nl - n : 0; i < nl; i++) {
		char *l = lines[i];
		size_t tl = strlen(tool);
		if (strncmp(l, tool, tl) == 0 && l[tl] == ':') /* "initdb: error: ..." */
			l += tl + 1 + (l[tl + 1] == ' ');
		for (char *q = l; *q; q++)
			if (*q == '"' || *q == '\r')
				*q = '\'';
		log_error("msg=\"%s: %s\"", tool, l);
	}
}

/* After initdb or pg_ctl failed: what the tool said, and why the owner cannot
 * use the data directory when that is the cause. */
static void explain_failure(const struct pgembed *e, const char *tool, const char *logpath)
{
	char why[4600], user[64], data_dir[4096];
	size_t n = strlen(e->pgdir);

	log_tail(tool, logpath, 3);
	if (explain_reach(e->pgdir, 1, why, sizeof(why)) == 0)
		return;
	snprintf(data_dir, sizeof(data_dir), "%.*s", (int)(n > 3 ? n - 3 : n), e->pgdir);
	owner_name(user, sizeof(user));
	log_error("msg=\"could not use data directory %s: %s\" user=%s hint=\"the embedded "
		  "postgresql runs as %s: let it through (chmod o+x on the directories above) or "
		  "set RAMP_DATA_DIR to a directory it can reach\"",
		  data_dir, why, user, user);
}

static int find_bindir(char *out, size_t len)
{
	FILE *p = popen("pg_config --bindir 2>/dev/null", "r");
	char path[4200];
	long best = -1;
	DIR *d;
	struct dirent *de;

	if (p) {
		if (fgets(out, (int)len, p)) {
			out[strcspn(out, "\n")] = '\0';
			snprintf(path, sizeof(path), "%s/initdb", out);
			if (pclose(p) == 0 && access(path, X_OK) == 0)
				return 0;
		} else {
			pclose(p);
		}
	}
	d = opendir("/usr/lib/postgresql");
	if (d == NULL)
		return RAMP_ENOTFOUND;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long v = strtol(de->d_name, &end, 10);
		if (*end != '\0' || end == de->d_name)
			continue;
		snprintf(path, sizeof(path), "/usr/lib/postgresql/%s/bin/initdb", de->d_name);
		if (v > best && access(path, X_OK) == 0)
			best = v;
	}
	closedir(d);
	if (best < 0)
		return RAMP_ENOTFOUND;
	snprintf(out, len, "/usr/lib/postgresql/%ld/bin", best);
	return 0;
}

/* Logs why dir could not be made (err from mkdir), naming the directory in
 * the way when permissions are the reason. */
static void log_mkdir_failure(const char *what, const char *dir, int err)
{
	char parent[4200], why[4600];
	char *slash;

	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (slash == NULL)
		snprintf(parent, sizeof(parent), ".");
	else
		slash[slash == parent] = '\0';
	if ((err == EACCES || err == ENOENT) && explain_reach(parent, 0, why, sizeof(why)) != 0)
		log_error("msg=\"could not create %s %s: %s\"", what, dir, why);
	else
		log_error("msg=\"could not create %s %s: %s\"", what, dir, strerror(err));
}

/* As root, the data dir must be traversable by postgres and pg owned by it. */
static int prepare_dirs(struct pgembed *e, const char *data_dir)
{
	struct passwd *pw = NULL;

	if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
		log_mkdir_failure("data directory", data_dir, errno);
		return RAMP_EIO;
	}
	if (mkdir(e->pgdir, 0700) != 0 && errno != EEXIST) {
		log_mkdir_failure("the cluster's directory", e->pgdir, errno);
		return RAMP_EIO;
	}
	if (getuid() != 0)
		return 0;
	pw = getpwnam("postgres");
	if (pw == NULL) {
		log_error("msg=\"running as root needs the postgres system user (apt-get install postgresql)\"");
		return RAMP_EIO;
	}
	/* traverse-only for others, so postgres can reach its directory */
	if (chmod(data_dir, 0711) != 0 || chown(e->pgdir, pw->pw_uid, pw->pw_gid) != 0 ||
	    chmod(e->pgdir, 0700) != 0) {
		log_error("msg=\"could not hand %s to postgres\" error=\"%s\"", e->pgdir, strerror(errno));
		return RAMP_EIO;
	}
	return 0;
}

static int write_conf(struct pgembed *e)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ramp.conf", e->pgdir);
	f = fopen(path, "w");
	if (f == NULL)
		return RAMP_EIO;
	fprintf(f, "# written by rampd on every start\n"
		   "listen_addresses = ''\n"
		   "unix_socket_directories = '%s'\n"
		   "max_connections = 200\n"
		   "shared_buffers = 128MB\n"
		   "logging_collector = off\n",
		e->pgdir);
	fclose(f);
	if (getuid() == 0) {
		struct passwd *pw = getpwnam("postgres");
		if (pw && chown(path, pw->pw_uid, pw->pw_gid) != 0)
			return RAMP_EIO;
	}
	snprintf(path, sizeof(path), "%s/postgresql.conf", e->pgdir);
	f = fopen(path, "r+");
	if (f == NULL)
		return RAMP_EIO;
	{
		char line[512];
		int found = 0;
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "include_if_exists = 'ramp.conf'", 31) == 0)
				found = 1;
		if (!found)
			fprintf(f, "\ninclude_if_exists = 'ramp.conf'\n");
	}
	fclose(f);
	return 0;
}

static int initdb_if_needed(struct pgembed *e)
{
	char path[4200], initdb[4200], log[4200];

	snprintf(path, sizeof(path), "%s/PG_VERSION", e->pgdir);
	if (access(path, F_OK) == 0)
		return 0;
	snprintf(initdb, sizeof(initdb), "%s/initdb", e->bindir);
	snprintf(log, sizeof(log), "%s.initdb.log", e->pgdir);
	log_info("msg=\"initializing embedded postgresql\" dir=%s", e->pgdir);
	unlink(log); /* so its tail is this run's */
	{
		char *argv[] = {initdb, "-D", e->pgdir, "-U", "ramp", "-A", "trust",
				"-E", "UTF8", "--no-locale", NULL};
		if (run_as_owner(argv, log) != 0) {
			log_error("msg=\"initdb failed\" dir=%s log=%s", e->pgdir, log);
			explain_failure(e, "initdb", log);
			return RAMP_EIO;
		}
	}
	return 0;
}

/* The cluster comes with "postgres"; rampd's own database is "ramp". */
static int create_database(struct pgembed *e)
{
	char conninfo[4300];
	PGconn *c;
	PGresult *r;
	int rc = RAMP_EUNAVAIL;

	snprintf(conninfo, sizeof(conninfo), "host=%s dbname=postgres user=ramp", e->pgdir);
	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		log_error("msg=\"could not connect to embedded postgresql\" error=\"%s\"",
			  PQerrorMessage(c));
		goto out;
	}
	r = PQexec(c, "SELECT 1 FROM pg_database WHERE datname = 'ramp'");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		rc = 0;
	} else {
		PQclear(r);
		r = PQexec(c, "CREATE DATABASE ramp");
		rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : RAMP_EINTERNAL;
		if (rc)
			log_error("msg=\"could not create database ramp\" error=\"%s\"",
				  PQerrorMessage(c));
	}
	PQclear(r);
out:
	PQfinish(c);
	return rc;
}

/* The pid postmaster.pid (or another lock file) names; 0 when there is none. */
static long lockfile_pid(const char *path)
{
	char line[64] = "";
	FILE *f = fopen(path, "r");
	long pid;
	char *end;

	if (f == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	pid = strtol(line, &end, 10);
	return end != line && pid > 0 ? pid : 0;
}

/* Why pid cannot be a postmaster serving pgdir, or NULL when it may be one. */
static const char *not_our_postmaster(long pid, const char *pgdir)
{
	char path[64], buf[4200];
	FILE *f;
	ssize_t n;

	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return "its process is gone";
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) != NULL) {
		size_t got = fread(buf, 1, sizeof(buf) - 1, f);
		char *paren;
		fclose(f);
		buf[got] = '\0';
		paren = strrchr(buf, ')');
		if (paren && (paren[2] == 'Z' || paren[2] == 'X'))
			return "its process is a zombie";
	}
	/* a postmaster works in its data directory */
	snprintf(path, sizeof(path), "/proc/%ld/cwd", pid);
	if ((n = readlink(path, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		return strcmp(buf, pgdir) == 0 ? NULL : "its pid belongs to another process";
	}
	return NULL;
}

/* Removes the socket's lock file when the pid it names is no postmaster of
 * ours (postgres would take a zombie for a live one and refuse to start). */
static void clear_socket_lock(const struct pgembed *e)
{
	char path[4300];
	long pid;

	snprintf(path, sizeof(path), "%s/.s.PGSQL.5432.lock", e->pgdir);
	if ((pid = lockfile_pid(path)) != 0 && not_our_postmaster(pid, e->pgdir))
		unlink(path);
}

/* Removes postmaster.pid, which names pid, known to be no postmaster of ours. */
static void clear_lock_files(const struct pgembed *e, long pid, const char *why)
{
	char path[4300];

	log_warn("msg=\"removing stale postmaster.pid: %s\" pid=%ld dir=%s", why, pid, e->pgdir);
	snprintf(path, sizeof(path), "%s/postmaster.pid", e->pgdir);
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("msg=\"could not remove %s\" error=\"%s\"", path, strerror(errno));
	clear_socket_lock(e);
}

/*
 * pg_ctl says a postmaster runs here. Adopt it once it answers (it may be
 * starting up or recovering); if the pid it left is gone, a zombie or
 * someone else's, clear the stale lock files so it can be started afresh; a
 * postmaster of ours that refuses connections for 60 s is killed (it is
 * our own embedded cluster, and shared memory still in use keeps a new one
 * from starting over live backends). 0 to adopt, 1 to start the cluster.
 */
static int adopt_or_clear(const struct pgembed *e)
{
	char conninfo[4300], path[4300];
	double deadline = clock_mono_s() + 60, kill_deadline = 0;
	int said = 0;

	snprintf(conninfo, sizeof(conninfo), "host=%s dbname=postgres user=ramp connect_timeout=5",
		 e->pgdir);
	snprintf(path, sizeof(path), "%s/postmaster.pid", e->pgdir);
	for (;;) {
		long pid = lockfile_pid(path);
		const char *why;
		PGPing ping = PQping(conninfo);

		if (ping == PQPING_OK)
			return 0;
		if (ping == PQPING_REJECT && kill_deadline == 0)
			deadline = clock_mono_s() + 60; /* starting up or recovering: it is working */
		if (pid == 0)
			return 1; /* it stopped meanwhile */
		if ((why = not_our_postmaster(pid, e->pgdir)) != NULL) {
			clear_lock_files(e, pid, why);
			return 1;
		}
		if (!said++)
			log_info("msg=\"waiting for the running embedded postgresql to answer\" pid=%ld", pid);
		if (kill_deadline == 0 && clock_mono_s() > deadline) {
			log_warn("msg=\"embedded postgresql runs but has not answered for 60 s: killing it\" pid=%ld",
				 pid);
			kill((pid_t)pid, SIGKILL);
			kill_deadline = clock_mono_s() + 30;
		} else if (kill_deadline && clock_mono_s() > kill_deadline) {
			clear_lock_files(e, pid, "it outlived SIGKILL");
			return 1;
		}
		usleep(100 * 1000);
	}
}

int pgembed_start(struct pgembed *e, const char *data_dir, const char *bindir)
{
	char pg_ctl[4200], logfile[4200], sock[4300];

	memset(e, 0, sizeof(*e));
	if (bindir && *bindir)
		snprintf(e->bindir, sizeof(e->bindir), "%s", bindir);
	else if (find_bindir(e->bindir, sizeof(e->bindir)) != 0) {
		log_error("msg=\"postgresql server binaries not found\" hint=\"apt-get install postgresql\"");
		return RAMP_ENOTFOUND;
	}
	{
		char abs[PATH_MAX];
		if (realpath(data_dir, abs) == NULL &&
		    (mkdir(data_dir, 0700) != 0 || realpath(data_dir, abs) == NULL)) {
			log_mkdir_failure("data directory", data_dir, errno);
			return RAMP_EIO;
		}
		if (strlen(abs) > 200) {
			log_error("msg=\"data directory path too long for a unix socket\" dir=%s", abs);
			return RAMP_ETOOBIG;
		}
		snprintf(e->pgdir, sizeof(e->pgdir), "%.200s/pg", abs);
		if (prepare_dirs(e, abs) != 0)
			return RAMP_EIO;
	}
	if (snprintf(sock, sizeof(sock), "%s/.s.PGSQL.5432", e->pgdir) > 100) {
		log_error("msg=\"data directory path too long for a unix socket\" dir=%s", e->pgdir);
		return RAMP_ETOOBIG;
	}
	if (initdb_if_needed(e) != 0 || write_conf(e) != 0)
		return RAMP_EIO;
	snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", e->bindir);
	snprintf(logfile, sizeof(logfile), "%s/postgresql.log", e->pgdir);
	{
		char *status[] = {pg_ctl, "status", "-D", e->pgdir, NULL};
		char *start[] = {pg_ctl, "start", "-w", "-t", "120", "-D", e->pgdir,
				 "-l", logfile, NULL};
		/* "running" may be a zombie or a pid taken by another process after a
		 * kill -9: postgres would refuse to start over that lock file */
		int rc = run_as_owner(status, "/dev/null");
		if (rc == 0 && adopt_or_clear(e) == 0) {
			log_info("msg=\"adopting running embedded postgresql\" dir=%s", e->pgdir);
		} else {
			/* a lock file naming a dead pid is handled by postgres itself */
			log_info("msg=\"starting embedded postgresql\" dir=%s", e->pgdir);
			clear_socket_lock(e);
			if (run_as_owner(start, "/dev/null") != 0) {
				log_error("msg=\"pg_ctl start failed\" log=%s", logfile);
				explain_failure(e, "postgres", logfile);
				return RAMP_EIO;
			}
		}
	}
	e->started = 1;
	if (create_database(e) != 0)
		return RAMP_EIO;
	snprintf(e->conninfo, sizeof(e->conninfo), "host=%s dbname=ramp user=ramp", e->pgdir);
	return 0;
}

void pgembed_stop(struct pgembed *e)
{
	char pg_ctl[4200];

	if (!e->started)
		return;
	snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", e->bindir);
	{
		char *argv[] = {pg_ctl, "stop", "-m", "fast", "-w", "-D", e->pgdir, NULL};
		if (run_as_owner(argv, "/dev/null") != 0)
			log_warn("msg=\"pg_ctl stop failed\" dir=%s", e->pgdir);
	}
	e->started = 0;
	log_info("msg=\"embedded postgresql stopped\"");
}
