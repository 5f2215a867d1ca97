/* input.c: the FILE... operands of a tool as one stream of good records. */
#include <errno.h>
#include <string.h>
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
	in->spool = -1;
}

/* Copies standard input to an unlinked temporary file, once. */
static struct sa_reader *
open_spooled_stdin(struct sa_input *in)
{
	char buf[1 << 16];
	ssize_t n, w, off;

	if (in->spool < 0) {
		in->spool = sa_tmpfd();
		while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				sa_die_errno(EX_IOERR, "stdin");
			for (off = 0; off < n; off += w)
				if ((w = write(in->spool, buf + off,
				    n - off)) < 0)
					sa_die_errno(EX_IOERR,
					    "temporary file");
		}
	}
	if (lseek(in->spool, 0, SEEK_SET) < 0)
		sa_die_errno(EX_IOERR, "temporary file");
	return sa_reader_fdopen(in->spool, "stdin");
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

		if (in->rereadable && strcmp(path, "-") == 0)
			in->r = open_spooled_stdin(in);
		else
			in->r = sa_reader_open(path);
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
	sa_reader_close(in->r);
	in->r = NULL;
}
