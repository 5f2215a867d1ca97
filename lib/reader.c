/* reader.c: one interface over every input format: the read buffer, the
 * detection of the format from the first non-blank byte, and what the
 * formats share.  read-json.c reads JSON, read-tsv.c TSV. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reader.h"

#define BUFSIZE (256 * 1024)

static void clear(struct sa_reader *);

/* Reading. */

int
reader_fill(struct sa_reader *r)
{
	ssize_t n;

	if (r->eof)
		return 0;
	if (r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->end - r->pos);
		r->end -= r->pos;
		r->pos = 0;
	}
	if (r->end == r->bufsize) {
		r->bufsize *= 2;
		r->buf = xrealloc(r->buf, r->bufsize);
	}
	do
		n = read(r->fd, r->buf + r->end, r->bufsize - r->end);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		sa_die_errno(EX_IOERR, "%s", r->name);
	if (n == 0) {
		r->eof = 1;
		if (r->lastc == 0 || r->lastc == 1 + '\n')
			return 0;
		/* A last line without its LF is read as a whole line, so
		 * that what it leaves open (a string, a record) is one bad
		 * line like any other; the LF is not counted as read. */
		r->buf[r->end++] = '\n';
		r->lastc = 1 + '\n';
		return 1;
	}
	r->end += n;
	r->bytes += n;
	r->lastc = 1 + (unsigned char)r->buf[r->end - 1];
	return 1;
}

/*
 * An abort line (sa(7)): the run upstream failed.  Its LEN bytes of TEXT
 * after the mark say "TOOL failed (exit STATUS)"; this run stops with
 * that status, which writes an abort line of its own downstream.  A
 * worker's chunk only notes it, and ends there: the writer dies of it
 * once everything before it is out.
 */
void
reader_aborted(struct sa_reader *r, uintmax_t line, const char *text,
    size_t len)
{
	if (r->chunked) {
		r->aborted = 1;
		r->abort_line = line;
		sa_buf_reset(&r->abort_text);
		sa_buf_add(&r->abort_text, text, len);
		r->end = r->pos;
		return;
	}
	reader_abort_die(r->name, line, text, len);
}

void
reader_abort_die(const char *name, uintmax_t line, const char *text,
    size_t len)
{
	const char *p = memmem(text, len, " (exit ", 7);
	int status = 0;
	size_t i;

	for (i = 0; i < len; i++)
		if (text[i] < ' ' || text[i] > '~')
			p = NULL;
	if (p != NULL)
		for (p += 7; p < text + len && *p >= '0' && *p <= '9' &&
		    status < 1000; p++)
			status = status * 10 + (*p - '0');
	if (p == NULL || p + 1 != text + len || *p != ')' || status < 1 ||
	    status > 255)
		sa_die(EX_DATAERR, "%s:%ju: the input ends in an abort line "
		    "that cannot be read", name, line);
	sa_die(status, "%s:%ju: %.*s", name, line, (int)len, text);
}

void
reader_check_abort(struct sa_reader *r)
{
	const char *nl;

	while (r->end - r->pos < SA_ABORT_MARKLEN &&
	    memchr(r->buf + r->pos, '\n', r->end - r->pos) == NULL &&
	    reader_fill(r))
		;
	if (r->end - r->pos < SA_ABORT_MARKLEN ||
	    memcmp(r->buf + r->pos, SA_ABORT_MARK, SA_ABORT_MARKLEN) != 0)
		return;
	while ((nl = memchr(r->buf + r->pos, '\n', r->end - r->pos)) == NULL &&
	    r->end - r->pos < 4096 && reader_fill(r))
		;
	if (nl == NULL)
		nl = r->buf + r->end;
	reader_aborted(r, r->line + 1, r->buf + r->pos + SA_ABORT_MARKLEN,
	    nl - (r->buf + r->pos) - SA_ABORT_MARKLEN);
}

/* The interface. */

struct sa_reader *
sa_reader_fdopen(int fd, const char *name)
{
	struct sa_reader *r = xcalloc(1, sizeof(*r));

	r->fd = fd;
	r->name = xstrdup(name);
	r->bufsize = BUFSIZE;
	r->buf = xmalloc(r->bufsize);
	r->line_start = 1;
	return r;
}

struct sa_reader *
sa_reader_open(const char *path)
{
	struct sa_reader *r;
	struct stat st;
	int fd;

	if (strcmp(path, "-") == 0)
		return sa_reader_fdopen(STDIN_FILENO, "stdin");
	if ((fd = open(path, O_RDONLY)) < 0)
		return NULL;
	/* A directory opens, but cannot be read: it is not input. */
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		errno = EISDIR;
		return NULL;
	}
	r = sa_reader_fdopen(fd, path);
	r->own_fd = 1;
	return r;
}

/*
 * A reader over LEN bytes at BUF, a chunk of line-delimited input cut at
 * a line's end (chunks.c), which must outlive it.  FMT is SA_FMT_UNKNOWN
 * for the file's first chunk; for a later one, SA_FMT_JSON, or SA_FMT_TSV
 * with the file's header line(s) first in BUF.  Lines are counted from
 * the chunk's first (the header's are not), and the reader neither dies
 * at an abort line nor rejects a record left open at the chunk's end
 * unless LAST: it notes them (sa_reader_chunk_state) for the writer.
 */
struct sa_reader *
sa_reader_chunk(const char *buf, size_t len, const char *name,
    enum sa_format fmt, int last)
{
	struct sa_reader *r = xcalloc(1, sizeof(*r));

	r->fd = -1;
	r->name = xstrdup(name);
	r->buf = (char *)buf;
	r->bufsize = r->end = len;
	r->eof = 1;
	r->line_start = 1;
	r->chunked = 1;
	r->last = last;
	if (fmt == SA_FMT_JSON) {
		r->fmt = SA_FMT_JSON;
		json_start(r);
	} else if (fmt == SA_FMT_TSV) {
		sa_reader_format(r);
		r->line = 0;
	}
	return r;
}

int
sa_reader_chunk_state(struct sa_reader *r, uintmax_t *lines,
    const char **abort_text, size_t *abort_len, uintmax_t *abort_line)
{
	*lines = r->line;
	*abort_text = r->aborted ? r->abort_text.s : NULL;
	*abort_len = r->abort_text.len;
	*abort_line = r->abort_line;
	return r->dirty;
}

/*
 * Goes on reading R from LEN bytes at TEXT (a copy is taken: input the
 * chunks had read ahead, from a line's start), then its file, counting
 * lines after LINE: the one-thread way, from where the chunks had to
 * stop.  FIRST: TEXT starts the file (its format is found again).
 */
void
sa_reader_resume(struct sa_reader *r, const char *text, size_t len,
    uintmax_t line, int first)
{
	enum sa_format fmt = first ? SA_FMT_UNKNOWN : r->fmt;

	clear(r);
	free(r->buf);
	r->bufsize = len > BUFSIZE ? len : BUFSIZE;
	r->buf = xmalloc(r->bufsize);
	memcpy(r->buf, text, len);
	/* Nothing read ahead starts a line: what was read before ends one. */
	r->lastc = len > 0 ? 1 + (unsigned char)text[len - 1] : 0;
	r->pos = 0;
	r->end = len;
	r->line = line;
	r->line_start = 1;
	r->utf8cut = 0;
	sa_buf_reset(&r->raw);
	r->fmt = fmt;
	if (fmt == SA_FMT_JSON)
		json_start(r);
}

/* The bytes read ahead into R's buffer, from the start of its file
 * (before the first record is taken). */
const char *
sa_reader_buffered(struct sa_reader *r, size_t *len, size_t *header)
{
	*len = r->end;
	*header = r->fmt == SA_FMT_TSV ? r->pos : 0;
	return r->buf;
}

int
sa_reader_fd(struct sa_reader *r)
{
	return r->fd;
}

const char *
sa_reader_name(struct sa_reader *r)
{
	return r->name;
}

static void
detect(struct sa_reader *r)
{
	size_t i;

	for (;;) {
		for (i = r->pos; i < r->end; i++) {
			unsigned char c = r->buf[i];

			if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
				continue;
			/* A UTF-8 byte order mark is not part of the data. */
			if (c == 0xef && i == 0 && r->end >= 3 &&
			    (unsigned char)r->buf[1] == 0xbb &&
			    (unsigned char)r->buf[2] == 0xbf) {
				r->pos = 3;
				i = 2;
				continue;
			}
			r->fmt = c == '{' || c == '[' ? SA_FMT_JSON :
			    SA_FMT_TSV;
			if (r->fmt == SA_FMT_JSON)
				json_start(r);
			else
				tsv_header(r);
			return;
		}
		if (!reader_fill(r))
			return;
	}
}

int
sa_reader_next(struct sa_reader *r, struct sa_record *rec)
{
	rec->file = r->name;
	rec->root = NULL;
	if (r->fmt == SA_FMT_UNKNOWN) {
		detect(r);
		if (r->fmt == SA_FMT_UNKNOWN)
			return SA_EOF;
	}
	if (r->fmt == SA_FMT_TSV)
		return r->cols == NULL ? SA_EOF : tsv_next(r, rec);
	return json_next(r, rec);
}

const char *
sa_reader_error(struct sa_reader *r)
{
	return r->error ? r->error : "";
}

const char *
sa_reader_raw(struct sa_reader *r, size_t *len)
{
	*len = r->errrawlen;
	return r->errraw ? r->errraw : "";
}

enum sa_format
sa_reader_format(struct sa_reader *r)
{
	if (r->fmt == SA_FMT_UNKNOWN)
		detect(r);
	return r->fmt;
}

const char *const *
sa_reader_columns(struct sa_reader *r, size_t *n)
{
	if (r->fmt == SA_FMT_UNKNOWN)
		detect(r);
	*n = r->ncols;
	return (const char *const *)r->cols;
}

uintmax_t
sa_reader_bytes(struct sa_reader *r)
{
	return r->bytes;
}

static void
clear(struct sa_reader *r)
{
	size_t i;

	for (i = r->qhead; i < r->qlen; i++) {
		free(r->q[i].error);
		free(r->q[i].raw);
	}
	r->qhead = r->qlen = 0;
	if (r->h != NULL)
		yajl_free(r->h);
	r->h = NULL;
	for (i = 0; i < r->ngens; i++)
		sa_arena_free(r->gens[i].a);
	r->ngens = 0;
	for (i = 0; i < r->nfree; i++)
		sa_arena_free(r->free_arenas[i]);
	r->nfree = 0;
	for (i = 0; i < r->ncols; i++)
		free(r->cols[i]);
	free(r->cols);
	r->cols = NULL;
	r->ncols = 0;
	sa_arena_free(r->tsv);
	r->tsv = NULL;
	r->rec = r->cur = NULL;
	r->in_array = r->depth = r->rdepth = 0;
}

void
sa_reader_rewind(struct sa_reader *r)
{
	clear(r);
	if (lseek(r->fd, 0, SEEK_SET) < 0)
		sa_die_errno(EX_IOERR, "%s: cannot read twice", r->name);
	r->pos = r->end = 0;
	r->eof = 0;
	r->lastc = 0;
	r->line = 0;
	r->fmt = SA_FMT_UNKNOWN;
	r->line_start = 1;
	sa_buf_reset(&r->raw);
}

void
sa_reader_close(struct sa_reader *r)
{
	if (r == NULL)
		return;
	clear(r);
	if (r->own_fd)
		close(r->fd);
	free(r->q);
	free(r->gens);
	free(r->free_arenas);
	if (!r->chunked)
		free(r->buf);
	sa_buf_free(&r->abort_text);
	free(r->name);
	free(r->error);
	free(r->errraw);
	sa_buf_free(&r->raw);
	sa_buf_free(&r->field);
	free(r);
}
