/* input.c: the FILE... operands of a tool as one stream of good records. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sa.h"

static char *stdin_only[] = { "-" };

void
sa_input_init(struct sa_input *in, int nfiles, char **files)
{
	memset(in, 0, sizeof(*in));
	if (nfiles == 0) {
		nfiles = 1;
		files = stdin_only;
	}
	in->nfiles = nfiles;
	in->files = files;
}

/* Copies FD to an unlinked temporary file and returns that file's
 * descriptor, at its start. */
static int
spool_fd(int fd, const char *name)
{
	char buf[1 << 16];
	ssize_t n, w, off;
	int spool = sa_tmpfd();

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			sa_die_errno(EX_IOERR, "%s", name);
		for (off = 0; off < n; off += w)
			if ((w = write(spool, buf + off, n - off)) < 0)
				sa_die_errno(EX_IOERR, "temporary file");
	}
	if (lseek(spool, 0, SEEK_SET) < 0)
		sa_die_errno(EX_IOERR, "temporary file");
	return spool;
}

/*
 * Opens operand I for a tool that reads its input twice.  A regular file
 * is opened again for each pass; anything else (standard input, a pipe,
 * a FIFO, /dev/stdin) can be read only once, so it is copied to an
 * unlinked temporary file the first time, and read from there.
 */
static struct sa_reader *
open_rereadable(struct sa_input *in, int i, const char *path)
{
	struct stat st;
	int fd;

	if (in->spools == NULL) {
		in->spools = xcalloc(in->nfiles, sizeof(*in->spools));
		for (fd = 0; fd < in->nfiles; fd++)
			in->spools[fd] = -1;
	}
	if (in->spools[i] < 0) {
		if (strcmp(path, "-") == 0)
			fd = STDIN_FILENO;
		else if (stat(path, &st) == 0 &&
		    (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
			return sa_reader_open(path);
		else if ((fd = open(path, O_RDONLY)) < 0)
			return NULL;
		in->spools[i] = spool_fd(fd, path);
		if (fd != STDIN_FILENO)
			close(fd);
	} else if (lseek(in->spools[i], 0, SEEK_SET) < 0)
		sa_die_errno(EX_IOERR, "temporary file");
	return sa_reader_fdopen(in->spools[i], strcmp(path, "-") == 0 ?
	    "stdin" : path);
}

void
sa_input_rewind(struct sa_input *in)
{
	sa_reader_close(in->r);
	in->r = NULL;
	in->cur = 0;
	in->rewound = 1;
}

/* Opens the next file that can be opened; returns 0 when none is left. */
static int
open_next(struct sa_input *in)
{
	while (in->r == NULL && in->cur < in->nfiles) {
		const char *path = in->files[in->cur++];

		in->r = in->rereadable ? open_rereadable(in, in->cur - 1, path) :
		    sa_reader_open(path);
		in->counted = 0;
		if (in->r == NULL) {
			if (!in->rewound)
				sa_note("%s: %s", path, strerror(errno));
			in->status = EX_NOINPUT;
		}
	}
	return in->r != NULL;
}

int
sa_input_next(struct sa_input *in, struct sa_record *rec)
{
	const char *raw;
	size_t len;
	int st;

	while (open_next(in)) {
		st = sa_reader_next(in->r, rec);
		if (!in->dry) {
			sa_stats.bytes += sa_reader_bytes(in->r) - in->counted;
			in->counted = sa_reader_bytes(in->r);
		}
		if (st == SA_OK) {
			if (!in->dry) {
				sa_stats.in++;
				sa_progress();
			}
			return SA_OK;
		}
		if (st == SA_BAD) {
			if (in->dry && sa_rejects_enabled())
				continue;
			sa_stats.in++;
			raw = sa_reader_raw(in->r, &len);
			sa_reject(rec->file, rec->line, raw, len, NULL, "%s",
			    sa_reader_error(in->r));
			continue;
		}
		sa_reader_close(in->r);
		in->r = NULL;
		if (in->one_file)
			break;
	}
	return SA_EOF;
}

enum sa_format
sa_input_format(struct sa_input *in)
{
	if (!open_next(in))
		return SA_FMT_UNKNOWN;
	return sa_reader_format(in->r);
}

void
sa_input_close(struct sa_input *in)
{
	int i;

	sa_reader_close(in->r);
	in->r = NULL;
	for (i = 0; in->spools != NULL && i < in->nfiles; i++)
		if (in->spools[i] >= 0)
			close(in->spools[i]);
	free(in->spools);
	in->spools = NULL;
}
