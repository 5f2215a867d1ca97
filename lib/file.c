/* file.c: files the tools create for the user, private or complete, never through a planted symbolic link. */
#include <sys/file.h>
#include <sys/stat.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sa.h"

/* Files being written under a visible temporary name, where the file
 * system has no O_TMPFILE; removed at exit unless committed. */
struct pending {
	struct pending *next;
	int fd;
	char *tmp;
};
static struct pending *pending;

void
sa_no_sigxfsz(void)
{
	static int done;

	/* Past a file size limit (ulimit -f) write() then fails with EFBIG,
	 * which the writer reports, instead of the process being killed. */
	if (!done)
		signal(SIGXFSZ, SIG_IGN);
	done = 1;
}

int
sa_open_private(const char *path)
{
	int fd;

	sa_no_sigxfsz();
	/* Only root changes /dev and /proc, so their links are the user's
	 * own (/dev/stderr): followed, and appended to, never truncated. */
	if (strncmp(path, "/dev/", 5) == 0 || strncmp(path, "/proc/", 6) == 0)
		fd = open(path, O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC);
	else
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
		    O_NOCTTY | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ELOOP)
		sa_die(EX_CANTCREAT, "%s: a symbolic link, not followed", path);
	if (fd < 0)
		sa_die_errno(EX_CANTCREAT, "%s", path);
	return fd;
}

static void
remove_pending(void)
{
	struct pending *p;

	for (p = pending; p != NULL; p = p->next)
		if (p->tmp != NULL)
			unlink(p->tmp);
}

/* PATH with a suffix no other file is likely to have. */
static char *
temp_name(const char *path, unsigned n)
{
	struct sa_buf b = { 0 };
	struct timespec ts;
	char sfx[64];

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(sfx, sizeof(sfx), ".%ld.%lx%x.tmp", (long)getpid(),
	    (unsigned long)ts.tv_nsec, n);
	sa_buf_adds(&b, path);
	sa_buf_adds(&b, sfx);
	return b.s;
}

/* Whether NAME is a temporary name that temp_name() gives BASE (BLEN
 * bytes), "BASE.PID.HEX.tmp"; *PID is its process. */
static int
temp_name_of(const char *name, const char *base, size_t blen, long *pid)
{
	const char *p = name + blen + 1, *hex;
	size_t len = strlen(name);

	if (len < blen + 8 || strncmp(name, base, blen) != 0 ||
	    name[blen] != '.' || strcmp(name + len - 4, ".tmp") != 0 ||
	    !isdigit((unsigned char)*p))
		return 0;
	for (*pid = 0; isdigit((unsigned char)*p); p++)
		if ((*pid = *pid * 10 + (*p - '0')) > INT_MAX)
			return 0;
	if (*p++ != '.' || *pid == 0)
		return 0;
	hex = p;
	p += strspn(p, "0123456789abcdef");
	return p > hex && p == name + len - 4;
}

/*
 * Removes the temporary names beside PATH, in its directory DIR, that a
 * run killed with SIGKILL left between naming its file and renaming it:
 * those of temp_name() whose process no longer runs on this machine and
 * whose file no process holds (the writer keeps a shared lock on it,
 * which also covers a writer in another PID namespace or on another host
 * of a network file system).
 */
static void
remove_stale(const char *dir, const char *path)
{
	static char *done;	/* the last PATH, once per run is enough */
	char *copy, *base;
	struct dirent *e;
	struct stat st;
	size_t blen;
	long pid;
	DIR *d;
	int dfd, fd;

	if (done != NULL && strcmp(done, path) == 0)
		return;
	free(done);
	done = xstrdup(path);
	copy = xstrdup(path);
	base = basename(copy);
	blen = strlen(base);
	if ((d = opendir(dir)) == NULL)
		goto out;
	dfd = dirfd(d);
	while ((e = readdir(d)) != NULL) {
		if (!temp_name_of(e->d_name, base, blen, &pid) ||
		    pid == getpid() || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		fd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW |
		    O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    flock(fd, LOCK_EX | LOCK_NB) == 0)
			unlinkat(dfd, e->d_name, 0);
		close(fd);
	}
	closedir(d);
out:
	free(copy);
}

int
sa_create_atomic(const char *path, mode_t mode)
{
	struct pending *p = xcalloc(1, sizeof(*p));
	char *copy = xstrdup(path), *dir = dirname(copy);
	static int registered;
	unsigned n;

	sa_no_sigxfsz();
	remove_stale(dir, path);
	p->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
	if (p->fd < 0 && errno != EOPNOTSUPP && errno != EISDIR &&
	    errno != EINVAL)
		sa_die_errno(EX_CANTCREAT, "%s", path);
	free(copy);
	for (n = 0; p->fd < 0; n++) {
		/* O_EXCL: a name planted meanwhile is never followed. */
		p->tmp = temp_name(path, n);
		p->fd = open(p->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    mode);
		if (p->fd < 0 && (errno != EEXIST || n > 100))
			sa_die_errno(EX_CANTCREAT, "%s", p->tmp);
		if (p->fd < 0) {
			free(p->tmp);
			p->tmp = NULL;
		}
	}
	/* Held until sa_commit() closes FD: remove_stale() leaves the file
	 * alone meanwhile. */
	(void)flock(p->fd, LOCK_SH);
	if (!registered)
		atexit(remove_pending);
	registered = 1;
	p->next = pending;
	pending = p;
	return p->fd;
}

/* Gives the unnamed file FD the name TMP. */
static int
link_unnamed(int fd, const char *tmp)
{
	char proc[64];

	if (linkat(fd, "", AT_FDCWD, tmp, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno == EEXIST)
		return -1;
	/* Without CAP_DAC_READ_SEARCH, through /proc. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW);
}

void
sa_commit(int fd, const char *path)
{
	struct pending **pp, *p;
	char *copy, *dir;
	unsigned n;
	int dfd;

	for (pp = &pending; (p = *pp) != NULL && p->fd != fd; pp = &p->next)
		;
	if (p == NULL)
		sa_die(EX_SOFTWARE, "%s: not a file of sa_create_atomic", path);
	if (fsync(fd) != 0)
		sa_die_errno(EX_IOERR, "%s", path);
	for (n = 0; p->tmp == NULL; n++) {
		p->tmp = temp_name(path, n);
		if (link_unnamed(fd, p->tmp) == 0)
			break;
		if (errno != EEXIST || n > 100)
			sa_die_errno(EX_CANTCREAT, "%s", path);
		free(p->tmp);
		p->tmp = NULL;
	}
	if (close(fd) != 0)
		sa_die_errno(EX_IOERR, "%s", path);
	/* rename() replaces a symbolic link at PATH, never follows it. */
	if (rename(p->tmp, path) != 0)
		sa_die_errno(EX_CANTCREAT, "%s", path);
	*pp = p->next;
	free(p->tmp);
	free(p);
	/* The new name is durable once the directory is synced. */
	copy = xstrdup(path);
	dir = dirname(copy);
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(copy);
}
