/* tmp.c: temporary files under $TMPDIR, unlinked as soon as they exist. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sa.h"

const char *
sa_tmpdir(void)
{
	const char *dir = getenv("TMPDIR");

	return dir == NULL || *dir == '\0' ? "/tmp" : dir;
}

int
sa_tmpfd(void)
{
	const char *dir = sa_tmpdir();
	struct sa_buf path = { 0 };
	int fd;

	sa_no_sigxfsz();
	sa_buf_adds(&path, dir);
	sa_buf_adds(&path, "/sa-XXXXXX");
	/* mkstemp: mode 0600 and O_EXCL, so a planted name is never used. */
	fd = mkstemp(path.s);
	if (fd < 0)
		sa_die_errno(EX_CANTCREAT, "%s: cannot create a temporary file",
		    dir);
	/* Unlinked at once: nothing is left behind on any exit path. */
	unlink(path.s);
	sa_buf_free(&path);
	return fd;
}

FILE *
sa_tmpfile(void)
{
	FILE *f = fdopen(sa_tmpfd(), "w+");

	if (f == NULL)
		sa_die_errno(EX_OSERR, "fdopen");
	return f;
}

/* sa_tmpfile_buffered(): stdio over a descriptor of its own, with a
 * buffer of TMPBUF bytes.  setvbuf() cannot ask that of glibc: given no
 * buffer, it takes the file system's block size (4 KiB) whatever the
 * size asked, and a spool goes in as many system calls. */
#define TMPBUF (1 << 16)

struct tmpcookie {
	int fd;
	char buf[TMPBUF];
};

static ssize_t
tmp_read(void *cookie, char *buf, size_t n)
{
	struct tmpcookie *c = cookie;
	ssize_t r;

	while ((r = read(c->fd, buf, n)) < 0 && errno == EINTR)
		;
	return r;
}

/* All N bytes at S to FD; -1 with errno set if not. */
static int
write_all(int fd, const char *s, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, s, n)) < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= w;
	}
	return 0;
}

/* All of BUF, or 0 with errno set (stdio's error). */
static ssize_t
tmp_write(void *cookie, const char *buf, size_t n)
{
	struct tmpcookie *c = cookie;

	return write_all(c->fd, buf, n) == 0 ? (ssize_t)n : 0;
}

static int
tmp_seek(void *cookie, off64_t *off, int whence)
{
	struct tmpcookie *c = cookie;
	off_t to = lseek(c->fd, *off, whence);

	if (to < 0)
		return -1;
	*off = to;
	return 0;
}

static int
tmp_close(void *cookie)
{
	struct tmpcookie *c = cookie;
	int r = close(c->fd);

	free(c);
	return r;
}

FILE *
sa_tmpfile_buffered_fd(int *fdp)
{
	static const cookie_io_functions_t io = { tmp_read, tmp_write,
		tmp_seek, tmp_close };
	struct tmpcookie *c = xmalloc(sizeof(*c));
	FILE *f;

	c->fd = sa_tmpfd();
	if ((f = fopencookie(c, "w+", io)) == NULL)
		sa_die_errno(EX_OSERR, "fopencookie");
	setvbuf(f, c->buf, _IOFBF, TMPBUF);
	if (fdp != NULL)
		*fdp = c->fd;
	return f;
}

FILE *
sa_tmpfile_buffered(void)
{
	return sa_tmpfile_buffered_fd(NULL);
}

void
sa_tmp_write(int fd, const void *s, size_t n)
{
	if (write_all(fd, s, n) != 0)
		sa_die_errno(EX_IOERR, "%s: cannot write a temporary file",
		    sa_tmpdir());
}

void
sa_tmp_pread(int fd, void *buf, size_t n, off_t off)
{
	ssize_t r;

	while (n > 0) {
		if ((r = pread(fd, buf, n, off)) < 0 && errno == EINTR)
			continue;
		if (r < 0)
			sa_die_errno(EX_IOERR, "cannot read a temporary file");
		if (r == 0)
			sa_die(EX_IOERR, "a temporary file was cut short");
		buf = (char *)buf + r;
		n -= r;
		off += r;
	}
}

int
sa_tmp_lines(int fd, uint64_t off, uint64_t len,
    int (*fn)(void *arg, const char *s, size_t n), void *arg)
{
	struct sa_buf b = { 0 };
	const char *nl;
	size_t n, keep = 0;
	int r = 0;

	sa_buf_grow(&b, 1 << 20);
	while (len > 0 && r == 0) {
		n = b.cap - keep < len ? b.cap - keep : len;
		sa_tmp_pread(fd, b.s + keep, n, off);
		off += n;
		len -= n;
		b.len = keep + n;
		nl = memrchr(b.s, '\n', b.len);
		keep = nl == NULL ? b.len : b.len - (size_t)(nl + 1 - b.s);
		if (nl != NULL)
			r = fn(arg, b.s, nl + 1 - b.s);
		/* Keep the part of a line, and read on. */
		memmove(b.s, b.s + b.len - keep, keep);
		if (b.cap - keep < 1 << 19)
			sa_buf_grow(&b, b.cap);
	}
	if (r == 0 && keep > 0)
		r = fn(arg, b.s, keep);
	sa_buf_free(&b);
	return r;
}
