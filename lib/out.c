/* out.c: buffered standard output that ends quietly on a closed pipe, and
 * the abort line that ends the output of a failed run (sa(7)). */
#include <sys/sendfile.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "sa.h"

struct sa_buf sa_out;
const char *sa_out_name = "standard output";
static int exiting;
static int broken;		/* stdout's reader is gone: nothing more */
static int plain_out;		/* stdout carries no records (sa-load) */
static void (*chained)(int);	/* the tool's own signal handler */

/*
 * Whole lines are written with these set, so that a signal that arrives
 * meanwhile only leaves a note in PENDING: the writer finishes the line
 * under way before the abort line goes out.  MIDLINE says that what was
 * written so far stops inside a line, DYING that the abort line is
 * being written.
 */
static volatile sig_atomic_t busy, pending, midline, dying;

/* Files other than stdout that get the abort line too (--split). */
struct also {
	int fd;
	struct also *next;
};
static struct also *volatile also;

/* What follows is called from signal handlers: write(2) and nothing that
 * allocates or locks. */

static void
write_raw(int fd, const char *s, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= w;
	}
}

/* The abort line of this tool for STATUS, in LINE; returns its length. */
static size_t
abort_line(char *line, size_t size, int status)
{
	char num[4], *p = line, *end = line + size - 32;
	const char *s;
	int i = 0;

	memcpy(p, SA_ABORT_MARK, 3);
	p += 3;
	for (s = sa_prog; *s != '\0' && p < end; s++)
		*p++ = *s;
	for (s = " failed (exit "; *s != '\0'; s++)
		*p++ = *s;
	do
		num[i++] = '0' + status % 10;
	while ((status /= 10) > 0 && i < 3);
	while (i > 0)
		*p++ = num[--i];
	*p++ = ')';
	*p++ = '\n';
	return p - line;
}

static void
put_abort(int status)
{
	char line[256];
	size_t n = abort_line(line, sizeof(line), status);
	struct termios t;
	struct also *a;

	dying = 1;
	/* On a terminal nobody parses it; after EPIPE nobody reads it. */
	if (!plain_out && !broken && tcgetattr(STDOUT_FILENO, &t) != 0)
		write_raw(STDOUT_FILENO, line, n);
	for (a = also; a != NULL; a = a->next)
		if (a->fd >= 0 && tcgetattr(a->fd, &t) != 0)
			write_raw(a->fd, line, n);
}

static void
die_by_signal(int sig)
{
	if (midline)
		write_raw(STDOUT_FILENO, "\n", 1);
	put_abort(128 + sig);
	sa_metrics_signal(128 + sig);
	if (chained != NULL)
		chained(sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
on_signal(int sig)
{
	/* A second signal, or one while the abort line is written, ends
	 * the run at once. */
	if (busy && !pending && !dying) {
		pending = sig;
		return;
	}
	if (dying) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	die_by_signal(sig);
}

/* End of what signal handlers call. */

int
sa_write_lines(int fd, const char *s, size_t len)
{
	size_t off = 0;
	const char *nl;
	ssize_t n;

	busy = 1;
	while (off < len && !pending) {
		if (dying)
			/* Another thread is writing the abort line. */
			for (;;)
				pause();
		n = write(fd, s + off, len - off < SA_WRITE_MAX ?
		    len - off : SA_WRITE_MAX);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			busy = 0;
			return -1;
		}
		off += n;
		midline = fd == STDOUT_FILENO && s[off - 1] != '\n';
	}
	if (pending) {
		/* Finish the line under way, then abort. */
		if (off > 0 && off < len && s[off - 1] != '\n' &&
		    (nl = memchr(s + off, '\n', len - off)) != NULL) {
			write_raw(fd, s + off, nl + 1 - (s + off));
			midline = 0;
		}
		die_by_signal(pending);
	}
	busy = 0;
	return 0;
}

/* Finishes the line that the LEN bytes at OFF of IN stop inside (those
 * bytes are written already), then takes the signal pending. */
static void
finish_line_then_die(int fd, int in, off_t off, size_t len)
{
	char buf[4096], *nl;
	ssize_t n;

	if (off == 0 || (pread(in, buf, 1, off - 1) == 1 && buf[0] == '\n'))
		midline = 0;
	else
		while (len > 0 && (n = pread(in, buf, len < sizeof(buf) ?
		    len : sizeof(buf), off)) > 0) {
			if ((nl = memchr(buf, '\n', n)) != NULL) {
				write_raw(fd, buf, nl + 1 - buf);
				midline = 0;
				break;
			}
			write_raw(fd, buf, n);
			off += n;
			len -= n;
		}
	die_by_signal(pending);
}

/* sa_copy_lines() where sendfile() cannot: a block of whole lines at a
 * time. */
static int
write_block(void *fdp, const char *s, size_t n)
{
	return sa_write_lines(*(int *)fdp, s, n);
}

int
sa_copy_lines(int fd, int in, off_t off, size_t len)
{
	ssize_t n;
	char last;

	busy = 1;
	while (len > 0 && !pending) {
		if (dying)
			for (;;)
				pause();
		n = sendfile(fd, in, &off, len < 1 << 30 ? len : 1 << 30);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
			/* An output sendfile() does not take (O_APPEND). */
			busy = 0;
			return sa_tmp_lines(in, off, len, write_block, &fd);
		}
		if (n == 0)
			sa_die(EX_IOERR, "a temporary file was cut short");
		if (n < 0) {
			/* Whether the bytes written end inside a line. */
			if (fd == STDOUT_FILENO)
				midline = pread(in, &last, 1, off - 1) == 1 &&
				    last != '\n';
			busy = 0;
			return -1;
		}
		len -= n;
		if (fd == STDOUT_FILENO)
			midline = 1;	/* until the end says otherwise */
	}
	if (pending)
		finish_line_then_die(fd, in, off, len);
	/* Whole lines, so the last byte was a line's end. */
	if (fd == STDOUT_FILENO)
		midline = 0;
	busy = 0;
	return 0;
}

void
sa_out_failed(void)
{
	if (errno == EPIPE) {
		/* The reader is gone: a quiet end, but through exit(), so
		 * that --stats prints and the rejects are written. */
		broken = 1;
		if (!exiting)
			exit(EX_OK);
		return;
	}
	sa_die_errno(EX_IOERR, "%s", sa_out_name);
}

void
sa_out_flush(void)
{
	if (broken) {
		sa_out.len = 0;
		return;
	}
	if (sa_write_lines(STDOUT_FILENO, sa_out.s, sa_out.len) != 0) {
		sa_out.len = 0;
		sa_out_failed();
		return;
	}
	sa_out.len = 0;
}

void
sa_out_copy(int in, off_t off, size_t len)
{
	sa_out_flush();
	if (!broken && len > 0 &&
	    sa_copy_lines(STDOUT_FILENO, in, off, len) != 0)
		sa_out_failed();
}

/* At exit: the whole lines buffered go out; after a failure, a line
 * begun is dropped and the abort line ends the output. */
static void
flush_at_exit(int status, void *arg)
{
	const char *nl;

	(void)arg;
	exiting = 1;
	if (status != 0) {
		nl = sa_out.len > 0 ? memrchr(sa_out.s, '\n', sa_out.len) :
		    NULL;
		sa_out.len = nl != NULL ? (size_t)(nl + 1 - sa_out.s) : 0;
	}
	sa_out_flush();
	if (status != 0)
		put_abort(status);
}

void
sa_out_init(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa, old;
	size_t i;

	/* EPIPE from write() is handled here rather than by SIGPIPE, so that
	 * the end is quiet and buffered work can be cleaned up. */
	signal(SIGPIPE, SIG_IGN);
	/* Past ulimit -f a write fails (74) instead of killing the tool. */
	sa_no_sigxfsz();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		/* A signal the shell left ignored (nohup) stays ignored; a
		 * handler the tool installed first runs after ours. */
		if (sigaction(sigs[i], NULL, &old) != 0 ||
		    old.sa_handler == SIG_IGN)
			continue;
		if (old.sa_handler != SIG_DFL && old.sa_handler != on_signal)
			chained = old.sa_handler;
		sigaction(sigs[i], &sa, NULL);
	}
	sa_buf_grow(&sa_out, 1 << 17);
	on_exit(flush_at_exit, NULL);
}

void
sa_on_signal(void (*fn)(int))
{
	chained = fn;
}

void
sa_out_plain(void)
{
	plain_out = 1;
}

void
sa_abort_also(int fd)
{
	struct also *a = xmalloc(sizeof(*a));

	a->fd = fd;
	a->next = also;
	also = a;
}

void
sa_abort_forget(int fd)
{
	struct also *a;

	for (a = also; a != NULL; a = a->next)
		if (a->fd == fd)
			a->fd = -1;
}
