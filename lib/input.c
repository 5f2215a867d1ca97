/* input.c: the FILE... operands of a tool as one stream of good records. */
#include <errno.h>
#include <string.h>

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

/* Opens the next file that can be opened; returns 0 when none is left. */
static int
open_next(struct sa_input *in)
{
	while (in->r == NULL && in->cur < in->nfiles) {
		const char *path = in->files[in->cur++];

		in->r = sa_reader_open(path);
		if (in->r == NULL) {
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
		if (st == SA_OK) {
			sa_stats.in++;
			sa_progress();
			return SA_OK;
		}
		if (st == SA_BAD) {
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
