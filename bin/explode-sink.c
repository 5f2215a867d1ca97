/* explode-sink.c: where sa-explode's rows go: stdout or the files of a
 * --split model, as NDJSON, or as COPY text through a spool (-t). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "explode.h"

int tsv;
unsigned nthreads = 1;
const char *split_dir, *split_name;
struct sink out_sink;
struct sink **sinks;
size_t nsinks;
static struct sa_row sink_names;	/* path -> index into sinks */
static pthread_mutex_t sinks_lock = PTHREAD_MUTEX_INITIALIZER;

void
sink_names_init(void)
{
	sa_row_init(&sink_names);
}

/* Output, in the writer (the main thread). */

void
sink_write(struct sink *s)
{
	if (s->path == NULL) {
		sa_out_line_done();
		return;
	}
	if (sa_write_lines(s->fd, s->own.s, s->own.len) != 0)
		sa_die_errno(EX_IOERR, "%s", s->path);
	s->own.len = 0;
}

void
sink_open(struct sink *s)
{
	if (s->opened)
		return;
	s->opened = 1;
	if (s->path != NULL) {
		/* Each file of the model appears complete when the run
		 * succeeds, or not at all: a failed or killed run leaves the
		 * files of the last good one. */
		s->fd = sa_create_atomic(s->path, 0666);
		s->buf = &s->own;
	}
	if (tsv) {
		const char **names = xmalloc((s->cols.n + 1) * sizeof(*names));
		size_t i;

		for (i = 0; i < s->cols.n; i++)
			names[i] = s->cols.cols[i].name;
		sa_write_tsv_header(s->buf, names, s->cols.n);
		free(names);
	}
}

void
sink_close(struct sink *s)
{
	if (s->path != NULL && s->opened)
		sa_commit(s->fd, s->path);
}

struct sink *
sink_at(int i)
{
	struct sink *s;

	pthread_mutex_lock(&sinks_lock);
	s = sinks[i];
	pthread_mutex_unlock(&sinks_lock);
	return s;
}

/* Each thread's copy of the names it has looked up, with their sinks'
 * indexes: a row finds its sink without the lock. */
static __thread struct sa_row *known;
static __thread int *known_sink;

static int
shared_sink_for(const char *rel);

/* The index of the sink for the file named REL; workers share them. */
int
sink_for(const char *rel)
{
	size_t len = strlen(rel);
	long j;
	int i;

	if (split_dir == NULL)
		return 0;
	if (known == NULL) {
		known = xmalloc(sizeof(*known));
		sa_row_init(known);
	}
	if ((j = sa_row_find(known, rel, len)) >= 0)
		return known_sink[j];
	i = shared_sink_for(rel);
	sa_row_add(known, NULL, rel, len, NULL);
	known_sink = xrealloc(known_sink, known->n * sizeof(*known_sink));
	known_sink[known->n - 1] = i;
	return i;
}

void
sink_for_done(void)
{
	if (known != NULL) {
		sa_row_free(known);
		free(known);
	}
	free(known_sink);
	known = NULL;
	known_sink = NULL;
}

static int
shared_sink_for(const char *rel)
{
	struct sa_buf path = { 0 };
	struct sink *s;
	long i;

	pthread_mutex_lock(&sinks_lock);
	i = sa_row_find(&sink_names, rel, strlen(rel));
	if (i >= 0) {
		pthread_mutex_unlock(&sinks_lock);
		return (int)i;
	}
	sa_row_add(&sink_names, NULL, rel, strlen(rel), NULL);
	s = xcalloc(1, sizeof(*s));
	sa_buf_adds(&path, split_dir);
	sa_buf_addc(&path, '/');
	sa_buf_adds(&path, split_name);
	sa_buf_adds(&path, rel);
	sa_buf_adds(&path, tsv ? ".tsv" : ".ndjson");
	s->path = path.s;
	sa_row_init(&s->cols);
	sinks = xrealloc(sinks, (nsinks + 1) * sizeof(*sinks));
	i = nsinks;
	sinks[nsinks++] = s;
	pthread_mutex_unlock(&sinks_lock);
	return (int)i;
}

/*
 * -t: a worker writes a row as its count of columns, then each column's
 * name and COPY text, lengths first (host order, 4 bytes).  The writer
 * numbers the names as the columns of the sink and spools the row as
 * the TSV line it will be, under the columns known so far, \N where it
 * has no value.  The spool is cut into runs of rows written under the
 * same number of columns.  Once the input is read, the header names
 * every column; a run written under all of them is copied out as it
 * is, and the lines of the others get \N for the columns that came
 * after them.
 */
static void
put_u32(struct sa_buf *b, size_t n)
{
	uint32_t u = (uint32_t)n;

	sa_buf_add(b, &u, sizeof(u));
}

static uint32_t
get_u32(const char **p)
{
	uint32_t u;

	memcpy(&u, *p, sizeof(u));
	*p += sizeof(u);
	return u;
}

static void
encode_row(struct sa_buf *b, const struct sa_row *row)
{
	size_t i, at;
	uint32_t len;

	put_u32(b, row->n);
	for (i = 0; i < row->n; i++) {
		put_u32(b, row->cols[i].namelen);
		sa_buf_add(b, row->cols[i].name, row->cols[i].namelen);
		at = b->len;
		put_u32(b, 0);
		sa_copy_field(b, row->cols[i].v);
		len = (uint32_t)(b->len - at - sizeof(len));
		memcpy(b->s + at, &len, sizeof(len));
	}
}

static void
spool_flush(struct sink *s)
{
	if (!s->has_spool) {
		s->spool = sa_tmpfd();
		s->has_spool = 1;
	}
	sa_tmp_write(s->spool, s->spooled.s, s->spooled.len);
	s->spool_bytes += s->spooled.len;
	sa_buf_reset(&s->spooled);
}

/* The number of column NAME in sink S, new or not; I is where it was in
 * its row, which is where it usually is among the columns. */
static uint32_t
column(struct sink *s, size_t i, const char *name, uint32_t len)
{
	long j;

	if (i < s->cols.n && s->cols.cols[i].namelen == len &&
	    memcmp(s->cols.cols[i].name, name, len) == 0)
		return (uint32_t)i;
	if ((j = sa_row_find(&s->cols, name, len)) < 0) {
		j = (long)s->cols.n;
		sa_row_add(&s->cols, NULL, name, len, NULL);
	}
	return (uint32_t)j;
}

/* The writer's: a row's fields, and its values in column order. */
static struct field {
	uint32_t col, len;
	const char *text;
} *fields;
static const char **vals;
static size_t *lens;
static size_t nfields, nvals;

/* Appends to B the \N of columns FROM to TO of a line. */
static void
pad(struct sa_buf *b, size_t from, size_t to)
{
	for (; from < to; from++) {
		if (from > 0)
			sa_buf_addc(b, '\t');
		sa_buf_add(b, "\\N", 2);
	}
}

/* Spools the encoded rows at P for sink S as TSV lines. */
static void
spool_rows(struct sink *s, const char *p, size_t len)
{
	const char *end = p + len;
	struct sa_buf *b = &s->spooled;
	uint32_t n, i, namelen;
	size_t c, ncols;
	int in_order;

	while (p < end) {
		n = get_u32(&p);
		if (n > nfields) {
			nfields = n * 2;
			fields = xrealloc(fields, nfields * sizeof(*fields));
		}
		in_order = 1;
		for (i = 0; i < n; i++) {
			namelen = get_u32(&p);
			fields[i].col = column(s, i, p, namelen);
			p += namelen;
			fields[i].len = get_u32(&p);
			fields[i].text = p;
			p += fields[i].len;
			in_order &= fields[i].col == i;
		}
		ncols = s->cols.n;
		if (s->nruns == 0 || s->runs[s->nruns - 1].ncols != ncols) {
			s->runs = xrealloc(s->runs, (s->nruns + 1) *
			    sizeof(*s->runs));
			s->runs[s->nruns].ncols = ncols;
			s->nruns++;
		}
		if (in_order && n == ncols) {
			/* The usual row: its columns, in order. */
			for (i = 0; i < n; i++) {
				if (i > 0)
					sa_buf_addc(b, '\t');
				sa_buf_add(b, fields[i].text, fields[i].len);
			}
		} else {
			if (ncols > nvals) {
				nvals = ncols * 2;
				vals = xrealloc(vals, nvals * sizeof(*vals));
				lens = xrealloc(lens, nvals * sizeof(*lens));
			}
			for (c = 0; c < ncols; c++)
				vals[c] = NULL;
			for (i = 0; i < n; i++) {
				vals[fields[i].col] = fields[i].text;
				lens[fields[i].col] = fields[i].len;
			}
			for (c = 0; c < ncols; c++) {
				if (vals[c] == NULL)
					pad(b, c, c + 1);
				else {
					if (c > 0)
						sa_buf_addc(b, '\t');
					sa_buf_add(b, vals[c], lens[c]);
				}
			}
		}
		sa_buf_addc(b, '\n');
		s->runs[s->nruns - 1].end = s->spool_bytes + b->len;
		if (b->len >= 1 << 16)
			spool_flush(s);
	}
}

/*
 * Where tsv_finish() writes sink S's lines after its header: its
 * descriptor, through a writer thread with more than one thread
 * (--threads), so that reading the spool and writing overlap.  B is the
 * buffer being filled, NULL between runs copied as they are.
 */
struct copyout {
	struct sink *s;
	int fd;
	struct sa_bgwrite *bg;
	struct sa_buf *b, mine;
};

static void
copyout_failed(struct copyout *o)
{
	if (o->s->path == NULL)
		sa_out_failed();
	else
		sa_die_errno(EX_IOERR, "%s", o->s->path);
}

static void
lines_begin(struct copyout *o)
{
	if (o->b == NULL && nthreads > 1)
		o->bg = sa_bgwrite_start(o->fd, &o->b);
	else if (o->b == NULL)
		o->b = &o->mine;
}

/* Writes the lines filled in so far; 1 MiB at a time unless ALL. */
static void
lines_put(struct copyout *o, int all)
{
	int r;

	if (o->b == NULL || (!all && o->b->len < SA_BGWRITE_BLOCK))
		return;
	if (o->bg != NULL)
		r = all ? sa_bgwrite_end(o->bg, o->b) :
		    sa_bgwrite_put(o->bg, &o->b);
	else {
		r = sa_write_lines(o->fd, o->b->s, o->b->len);
		o->b->len = 0;
	}
	if (r != 0)
		copyout_failed(o);
	if (all) {
		o->bg = NULL;
		o->b = NULL;
	}
}

/* The LEN bytes of lines at OFF of the spool, spooled under every
 * column: copied as they are, in the kernel. */
static void
copy_run(struct copyout *o, uint64_t off, uint64_t len)
{
	lines_put(o, 1);
	if (o->s->path == NULL)
		sa_out_copy(o->s->spool, off, len);
	else if (sa_copy_lines(o->fd, o->s->spool, off, len) != 0)
		copyout_failed(o);
}

/* What pad_lines() adds to: the copy-out, and the columns of the run. */
struct padding {
	struct copyout *o;
	size_t ncols;
};

/* Adds the N bytes of lines at S, each with \N for the columns that came
 * after its run. */
static int
pad_lines(void *arg, const char *s, size_t n)
{
	struct padding *pd = arg;
	struct copyout *o = pd->o;
	const char *nl, *end = s + n;

	for (; (nl = memchr(s, '\n', end - s)) != NULL; s = nl + 1) {
		sa_buf_add(o->b, s, nl - s);
		pad(o->b, pd->ncols, o->s->cols.n);
		sa_buf_addc(o->b, '\n');
	}
	lines_put(o, 0);
	return 0;
}

/* The LEN bytes of lines at OFF of the spool, spooled under NCOLS
 * columns: padded. */
static void
pad_run(struct copyout *o, uint64_t off, uint64_t len, size_t ncols)
{
	struct padding pd = { o, ncols };

	lines_begin(o);
	sa_tmp_lines(o->s->spool, off, len, pad_lines, &pd);
}

/* -t at the end: the header, then the spooled rows of sink S, run by
 * run. */
void
tsv_finish(struct sink *s)
{
	struct copyout o = { s, STDOUT_FILENO, NULL, NULL, { 0 } };
	uint64_t at = 0;
	size_t run;

	sink_open(s);
	if (!s->has_spool && s->spooled.len == 0)
		return;
	spool_flush(s);
	if (s->path == NULL)
		sa_out_flush();
	else {
		sink_write(s);
		o.fd = s->fd;
	}
	for (run = 0; run < s->nruns; at = s->runs[run].end, run++)
		if (s->runs[run].ncols == s->cols.n)
			copy_run(&o, at, s->runs[run].end - at);
		else
			pad_run(&o, at, s->runs[run].end - at,
			    s->runs[run].ncols);
	lines_put(&o, 1);
	sa_buf_free(&o.mine);
	free(s->runs);
	s->runs = NULL;
	s->nruns = 0;
	sa_buf_free(&s->spooled);
	close(s->spool);
	s->has_spool = 0;
}

/* Takes the rows a worker made for sink TAG, in input order. */
void
take_rows(int tag, const char *p, size_t len)
{
	struct sink *s = sink_at(tag);

	if (tsv) {
		spool_rows(s, p, len);
		return;
	}
	sink_open(s);
	sa_buf_add(s->buf, p, len);
	if (s->path == NULL)
		sa_out_line_done();
	else if (s->own.len >= 1 << 16)
		sink_write(s);
}

/* In a worker: the rows of a good record into chunk C. */
void
put_row(struct sa_chunk *c, const struct pending *p)
{
	struct sa_buf *b = sa_chunk_buf(c, p->sink);

	if (tsv)
		encode_row(b, &p->row);
	else
		sa_write_ndjson(b, p->row.cols, p->row.n);
}
