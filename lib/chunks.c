/* chunks.c: --threads: line-delimited input cut into chunks, read by
 * worker threads, their output written in input order by one writer. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reader.h"

/* Where a chunk's output goes: bytes [off, next segment's off) of OUT are
 * for TAG. */
struct seg {
	int tag;
	size_t off;
};

/* A bad record, after POS bytes of output and with the counters as they
 * were then. */
struct reject {
	const char *file;
	uintmax_t line;
	size_t pos, raw, rawlen, msg;	/* offsets into rejtext */
	int has_raw;
	uintmax_t in, out;
};

struct sa_chunk {
	struct sa_buf out;
	struct seg *segs;
	size_t nsegs, capsegs;
	struct reject *rej;
	size_t nrej, caprej;
	struct sa_buf rejtext;
	uintmax_t in, nout;
	uintmax_t base;		/* lines before the chunk's first */
	struct sa_buf json;	/* a bad record's JSON */
};

struct sa_chunk *
sa_chunk_new(void)
{
	return xcalloc(1, sizeof(struct sa_chunk));
}

void
sa_chunk_free(struct sa_chunk *c)
{
	if (c == NULL)
		return;
	sa_buf_free(&c->out);
	sa_buf_free(&c->rejtext);
	sa_buf_free(&c->json);
	free(c->segs);
	free(c->rej);
	free(c);
}

static void
chunk_reset(struct sa_chunk *c)
{
	sa_buf_reset(&c->out);
	sa_buf_reset(&c->rejtext);
	c->nsegs = c->nrej = 0;
	c->in = c->nout = c->base = 0;
}

struct sa_buf *
sa_chunk_buf(struct sa_chunk *c, int tag)
{
	if (c->nsegs > 0 && c->segs[c->nsegs - 1].tag == tag)
		return &c->out;
	if (c->nsegs == c->capsegs) {
		c->capsegs = c->capsegs ? 2 * c->capsegs : 16;
		c->segs = xrealloc(c->segs, c->capsegs * sizeof(*c->segs));
	}
	c->segs[c->nsegs].tag = tag;
	c->segs[c->nsegs++].off = c->out.len;
	return &c->out;
}

void
sa_chunk_count(struct sa_chunk *c, size_t n)
{
	c->nout += n;
}

void
sa_chunk_reject(struct sa_chunk *c, const struct sa_record *rec,
    const char *raw, size_t rawlen, const char *msg)
{
	struct reject *j;

	if (c->nrej == c->caprej) {
		c->caprej = c->caprej ? 2 * c->caprej : 8;
		c->rej = xrealloc(c->rej, c->caprej * sizeof(*c->rej));
	}
	j = &c->rej[c->nrej++];
	j->file = rec->file;
	j->line = rec->line;
	j->pos = c->out.len;
	j->in = c->in;
	j->out = c->nout;
	if (raw == NULL) {
		sa_buf_reset(&c->json);
		sa_json_append(&c->json, rec->root);
		raw = c->json.s ? c->json.s : "";
		rawlen = c->json.len;
	}
	j->raw = c->rejtext.len;
	j->rawlen = rawlen;
	sa_buf_add(&c->rejtext, raw, rawlen);
	j->msg = c->rejtext.len;
	sa_buf_add(&c->rejtext, msg, strlen(msg) + 1);
}

/* Writes C's output from *POS up to END, segment by segment. */
static void
write_upto(struct sa_chunk *c, const struct sa_chunk_ops *ops, size_t *seg,
    size_t *pos, size_t end)
{
	size_t segend;

	while (*pos < end) {
		while (*seg + 1 < c->nsegs && c->segs[*seg + 1].off <= *pos)
			(*seg)++;
		segend = *seg + 1 < c->nsegs ? c->segs[*seg + 1].off :
		    c->out.len;
		if (segend > end)
			segend = end;
		ops->write(c->segs[*seg].tag, c->out.s + *pos, segend - *pos);
		*pos = segend;
	}
}

size_t sa_chunk_size = SA_CHUNK;
static uintmax_t flushing_base;	/* of the chunk being written */

uintmax_t
sa_chunk_base(void)
{
	return flushing_base;
}

/* Writes C's output and rejects in their order, and counts them. */
void
sa_chunk_flush(struct sa_chunk *c, const struct sa_chunk_ops *ops)
{
	uintmax_t in = 0, out = 0;
	size_t i, seg = 0, pos = 0;

	flushing_base = c->base;
	/* The counters go first, as one thread counts a row before it is
	 * written: a closed pipe ends the run in write_upto(). */
	for (i = 0; i < c->nrej; i++) {
		const struct reject *j = &c->rej[i];

		sa_stats.in += j->in - in;
		sa_stats.out += j->out - out;
		in = j->in;
		out = j->out;
		write_upto(c, ops, &seg, &pos, j->pos);
		sa_reject(j->file, c->base + j->line, c->rejtext.s + j->raw,
		    j->rawlen, NULL, "%s", c->rejtext.s + j->msg);
	}
	sa_stats.in += c->in - in;
	sa_stats.out += c->nout - out;
	write_upto(c, ops, &seg, &pos, c->out.len);
	chunk_reset(c);
}

/* The engine. */

enum { FREE, READY, BUSY, DONE };

struct slot {
	int state;
	struct sa_buf text;	/* the TSV header (if any), then the chunk */
	size_t head;		/* bytes of TEXT that are the header */
	enum sa_format fmt;	/* SA_FMT_UNKNOWN for a file's first */
	int last;
	struct sa_chunk *c;
	/* what the worker found */
	int dirty;
	uintmax_t lines, abort_line;
	struct sa_buf abort_text;
	int aborted;
};

struct engine {
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	const struct sa_chunk_ops *ops;
	struct slot *slots;
	size_t nslots;
	uint64_t fill, take, written;	/* sequence numbers of chunks */
	int quit;
	char *name;		/* of the file being read */
	uintmax_t base;		/* lines before the next chunk written */
};

static void
read_chunk(struct engine *e, void *w, struct slot *s)
{
	struct sa_reader *r;
	struct sa_record rec;
	const char *raw, *abort_text;
	size_t rawlen, abort_len, i;
	int st;

	r = sa_reader_chunk(s->text.s, s->text.len, e->name, s->fmt, s->last);
	while ((st = sa_reader_next(r, &rec)) != SA_EOF) {
		s->c->in++;
		if (st == SA_BAD) {
			raw = sa_reader_raw(r, &rawlen);
			sa_chunk_reject(s->c, &rec, raw, rawlen,
			    sa_reader_error(r));
		} else
			e->ops->record(w, s->c, &rec);
	}
	s->dirty = sa_reader_chunk_state(r, &s->lines, &abort_text,
	    &abort_len, &s->abort_line);
	s->aborted = abort_text != NULL;
	sa_buf_reset(&s->abort_text);
	if (s->aborted)
		sa_buf_add(&s->abort_text, abort_text, abort_len);
	/* The reader's copy of the name goes with it. */
	for (i = 0; i < s->c->nrej; i++)
		s->c->rej[i].file = e->name;
	sa_reader_close(r);
}

static void *
worker(void *arg)
{
	struct engine *e = arg;
	void *w = NULL;
	struct slot *s;

	if (e->ops->worker_new != NULL)
		w = e->ops->worker_new();

	pthread_mutex_lock(&e->lock);
	for (;;) {
		while (!e->quit && (e->take == e->fill ||
		    e->slots[e->take % e->nslots].state != READY))
			pthread_cond_wait(&e->work, &e->lock);
		if (e->quit)
			break;
		s = &e->slots[e->take++ % e->nslots];
		s->state = BUSY;
		pthread_mutex_unlock(&e->lock);
		read_chunk(e, w, s);
		pthread_mutex_lock(&e->lock);
		s->state = DONE;
		pthread_cond_broadcast(&e->done);
	}
	pthread_mutex_unlock(&e->lock);
	e->ops->worker_free(w);
	return NULL;
}

/* Reads at most N bytes of FD onto B; returns 0 at the end.  Read errors
 * exit 74. */
static int
read_more(int fd, const char *name, struct sa_buf *b, size_t n)
{
	ssize_t got;

	sa_buf_grow(b, n);
	do
		got = read(fd, b->s + b->len, n);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		sa_die_errno(EX_IOERR, "%s", name);
	b->len += got;
	sa_stats.bytes += got;
	return got > 0;
}

/* True if reading FD would not wait: a file, or a pipe with data in it. */
static int
ready(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) != 0;
}

/* Fills slot S with HEADER (a TSV file's, or nothing) and the next chunk
 * of FD after CARRY, the bytes read past the last chunk's end; returns 0
 * if nothing is left.  A chunk and its header take sa_chunk_size bytes,
 * unless a line is longer. */
static int
cut_chunk(struct slot *s, int fd, const char *name, const struct sa_buf *header,
    struct sa_buf *carry, int *eof)
{
	const char *nl;
	size_t data;

	sa_buf_reset(&s->text);
	sa_buf_grow(&s->text, sa_chunk_size - 1);
	if (header->len > 0)
		sa_buf_add(&s->text, header->s, header->len);
	s->head = data = header->len;
	if (carry->len > 0)
		sa_buf_add(&s->text, carry->s, carry->len);
	sa_buf_reset(carry);
	/* Input that comes slowly (a pipe from a stage that waits on the
	 * network) goes on as soon as it holds a whole line. */
	while (!*eof && s->text.len + 1 < sa_chunk_size &&
	    (s->text.len == data || ready(fd) ||
	    memchr(s->text.s + data, '\n', s->text.len - data) == NULL))
		*eof = !read_more(fd, name, &s->text,
		    sa_chunk_size - 1 - s->text.len);
	/* A chunk ends at a line's end: a long line makes a long chunk. */
	while ((nl = memrchr(s->text.s + data, '\n', s->text.len - data)) ==
	    NULL && !*eof)
		*eof = !read_more(fd, name, &s->text, sa_chunk_size);
	if (nl != NULL && !*eof) {
		sa_buf_add(carry, nl + 1, s->text.s + s->text.len - (nl + 1));
		s->text.len = nl + 1 - s->text.s;
	}
	/* The file's last line without its LF is read as a whole line, as
	 * reader_fill() reads it on one thread. */
	if (*eof && carry->len == 0 && s->text.len > data &&
	    s->text.s[s->text.len - 1] != '\n')
		sa_buf_add(&s->text, "\n", 1);
	s->last = *eof && carry->len == 0;
	return s->text.len > data;
}

/* Waits for the oldest chunk and writes it; returns 0 if it has a record
 * running on past its end. */
static int
write_oldest(struct engine *e)
{
	struct slot *s = &e->slots[e->written % e->nslots];
	uintmax_t n;

	pthread_mutex_lock(&e->lock);
	while (s->state != DONE)
		pthread_cond_wait(&e->done, &e->lock);
	pthread_mutex_unlock(&e->lock);
	if (s->dirty)
		return 0;
	s->c->base = e->base;
	for (n = 0; n < s->c->in; n++)
		sa_progress();
	sa_chunk_flush(s->c, e->ops);
	if (s->aborted)
		reader_abort_die(e->name, e->base + s->abort_line,
		    s->abort_text.s, s->abort_text.len);
	e->base += s->lines;
	pthread_mutex_lock(&e->lock);
	s->state = FREE;
	e->written++;
	pthread_mutex_unlock(&e->lock);
	return 1;
}

/* The oldest chunk was not line-delimited: lets the workers finish, and
 * hands the reader of IN what was read from that chunk on. */
static void
give_back(struct engine *e, struct sa_input *in, struct sa_buf *carry)
{
	struct sa_buf rest = { 0 };
	uint64_t i;
	int first = e->slots[e->written % e->nslots].fmt == SA_FMT_UNKNOWN;

	pthread_mutex_lock(&e->lock);
	e->take = e->fill;
	for (i = e->written; i < e->fill; i++)
		while (e->slots[i % e->nslots].state == BUSY)
			pthread_cond_wait(&e->done, &e->lock);
	pthread_mutex_unlock(&e->lock);
	for (i = e->written; i < e->fill; i++) {
		struct slot *s = &e->slots[i % e->nslots];

		if (s->text.len > s->head)
			sa_buf_add(&rest, s->text.s + s->head,
			    s->text.len - s->head);
		chunk_reset(s->c);
		s->state = FREE;
	}
	if (carry->len > 0)
		sa_buf_add(&rest, carry->s, carry->len);
	sa_reader_resume(in->r, rest.s ? rest.s : "", rest.len, e->base, first);
	e->written = e->take = e->fill = 0;
	sa_buf_free(&rest);
}

int
sa_array_first(const char *p, size_t n)
{
	size_t i = n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;

	for (; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return p[i] == '[';
	return 0;
}

/*
 * Cuts the file open in IN into chunks for the workers and writes them;
 * returns 0 if the rest of the input is for one thread.
 */
static int
run_file(struct engine *e, struct sa_input *in, enum sa_format fmt)
{
	struct sa_buf carry = { 0 }, header = { 0 }, none = { 0 };
	const char *text;
	size_t len, head;
	int eof = 0, fd = sa_reader_fd(in->r), first = 1;

	text = sa_reader_buffered(in->r, &len, &head);
	if (fmt == SA_FMT_JSON && sa_array_first(text, len))
		return 0;
	sa_stats.bytes += sa_reader_bytes(in->r) - in->counted;
	in->counted = sa_reader_bytes(in->r);
	if (len > 0)
		sa_buf_add(&carry, text, len);
	if (fmt == SA_FMT_TSV && head > 0)
		sa_buf_add(&header, text, head);
	free(e->name);
	e->name = xstrdup(sa_reader_name(in->r));
	e->base = 0;
	for (;;) {
		struct slot *s = &e->slots[e->fill % e->nslots];

		/* The slots are full, or the input is slow: what is done
		 * goes out before reading waits. */
		if (e->fill - e->written == e->nslots ||
		    (e->fill > e->written && !ready(fd))) {
			if (!write_oldest(e))
				break;
			continue;
		}
		if (!cut_chunk(s, fd, e->name, first ? &none : &header, &carry,
		    &eof))
			break;
		s->fmt = first ? SA_FMT_UNKNOWN : fmt;
		first = 0;
		pthread_mutex_lock(&e->lock);
		s->state = READY;
		e->fill++;
		pthread_cond_signal(&e->work);
		pthread_mutex_unlock(&e->lock);
	}
	sa_buf_free(&header);
	while (e->written < e->fill)
		if (!write_oldest(e)) {
			give_back(e, in, &carry);
			sa_buf_free(&carry);
			return 0;
		}
	sa_buf_free(&carry);
	sa_reader_close(in->r);
	in->r = NULL;
	return 1;
}

/* The one-thread way of a tool that needs no other: each record through
 * OPS in the one thread, its chunk written at once. */
static void
records_one_thread(struct sa_input *in, const struct sa_chunk_ops *ops)
{
	struct sa_chunk *c = sa_chunk_new();
	struct sa_record rec;
	void *w = ops->worker_new != NULL ? ops->worker_new() : NULL;

	while (sa_input_next(in, &rec) == SA_OK) {
		ops->record(w, c, &rec);
		sa_chunk_flush(c, ops);
	}
	sa_chunk_free(c);
	ops->worker_free(w);
}

void
sa_chunks_run(struct sa_input *in, unsigned threads,
    const struct sa_chunk_ops *ops,
    void (*one_thread)(struct sa_input *, void *), void *arg)
{
	struct engine e;
	pthread_t *tids;
	sigset_t all, old;
	enum sa_format fmt;
	unsigned i;
	int err;

	if (threads <= 1) {
		if (one_thread != NULL)
			one_thread(in, arg);
		else
			records_one_thread(in, ops);
		return;
	}
	memset(&e, 0, sizeof(e));
	pthread_mutex_init(&e.lock, NULL);
	pthread_cond_init(&e.work, NULL);
	pthread_cond_init(&e.done, NULL);
	e.ops = ops;
	e.nslots = 2 * threads;
	e.slots = xcalloc(e.nslots, sizeof(*e.slots));
	for (i = 0; i < e.nslots; i++)
		e.slots[i].c = sa_chunk_new();
	tids = xcalloc(threads, sizeof(*tids));
	/* Signals are the main thread's: it writes the abort line. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < threads; i++)
		if ((err = pthread_create(&tids[i], NULL, worker, &e)) != 0) {
			errno = err;
			sa_die_errno(EX_OSERR, "cannot start a thread");
		}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	for (;;) {
		fmt = sa_input_format(in);
		if (in->r == NULL)
			break;
		if (fmt == SA_FMT_UNKNOWN) {
			/* Nothing but blanks: nothing to cut. */
			sa_stats.bytes += sa_reader_bytes(in->r) - in->counted;
			sa_reader_close(in->r);
			in->r = NULL;
			continue;
		}
		if (!run_file(&e, in, fmt)) {
			in->one_file = 1;
			if (one_thread != NULL)
				one_thread(in, arg);
			else
				records_one_thread(in, ops);
			in->one_file = 0;
		}
	}

	pthread_mutex_lock(&e.lock);
	e.quit = 1;
	pthread_cond_broadcast(&e.work);
	pthread_mutex_unlock(&e.lock);
	for (i = 0; i < threads; i++)
		pthread_join(tids[i], NULL);
	for (i = 0; i < e.nslots; i++) {
		sa_chunk_free(e.slots[i].c);
		sa_buf_free(&e.slots[i].text);
		sa_buf_free(&e.slots[i].abort_text);
	}
	free(e.slots);
	free(tids);
	free(e.name);
}

unsigned
sa_threads_default(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
}

unsigned
sa_threads_parse(const char *opt, const char *arg)
{
	return (unsigned)sa_parse_int(opt, arg, 1, 256);
}

size_t
sa_memory_budget(size_t memory, unsigned threads)
{
	size_t keep = ((size_t)16 << 20) + ((size_t)4 << 20) * (threads - 1);

	return memory - (keep < memory / 2 ? keep : memory / 2);
}
