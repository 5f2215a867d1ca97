/*
 * join-threads.c: --threads, the probe side of the hash join on worker
 * threads.
 *
 * The right side is in the table before a left record is read, and the
 * table does not change while workers read it.  A worker takes a chunk
 * of LEFT: it parses each record, finds its key's right records and
 * makes its output rows; the main thread takes the records in input
 * order and does what one thread would do with the rest: the counts of
 * --max-fanout, the left keys of --validate, the right records matched
 * (for right and full joins), the rows written.  A key with many right
 * records, and every left record once RIGHT has spilled, is handed to
 * the main thread unjoined (its fields, packed here), and so are the
 * last records of a chunk whose rows pass JOIN_OUT: a chunk's output
 * stays small, and the grace join sees its rows in order.
 *
 * The left columns come from the first good record, which the workers
 * need before any of them joins: it is found first, in the text read
 * ahead (reading on if need be); when it cannot be, LEFT is read by one
 * thread.
 *
 * RIGHT is read by the workers too: they parse its records and hand the
 * main thread each one's key and fields, which it puts in the table (or
 * spills) in input order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "join.h"

/* The most right records of one key a worker joins itself, and the most
 * output of a chunk before it hands the rest of its records on unjoined:
 * a chunk of LEFT_CHUNK bytes then holds under 1 MiB. */
#define JOIN_AT 64
#define JOIN_OUT (640 * 1024)
#define LEFT_CHUNK (128 * 1024)
/* The most LEFT read ahead to find its first record. */
#define SCAN_MAX (16u << 20)

unsigned threads = 1;

/* What a worker hands the main thread for a left record: the item, the
 * key text, then LEN bytes, its rows (JOINED) or its fields. */
struct item {
	uintmax_t line;		/* in its chunk */
	struct sa_fp fp;
	struct bucket *b;	/* the key's right records, or NULL */
	size_t klen, len;
	uint32_t nrows;
	unsigned char null, joined;
};

/* Each worker's. */
static __thread struct key wk;
static __thread struct sa_fields wfs, wrf;

/* In a worker: good left record REC as an item of chunk C. */
static void
record(void *w, struct sa_chunk *c, const struct sa_record *rec)
{
	struct item it;
	struct sa_buf *b;
	size_t off;

	(void)w;
	key_of(rec->root, lkeys, &wk);
	if (!key_in_shard(&wk))
		return;
	sa_fields_of(&wfs, rec->root);
	memset(&it, 0, sizeof(it));
	it.line = rec->line;
	it.fp = wk.fp;
	it.null = wk.null;
	it.klen = wk.text.len;
	it.b = wk.null ? NULL : right_bucket(&wk);
	b = sa_chunk_buf(c, 0);
	off = b->len;
	it.joined = !right_spilled() && off < JOIN_OUT && (it.b == NULL ||
	    (it.b->nright <= JOIN_AT &&
	    (max_fanout == 0 || it.b->nright <= max_fanout)));
	sa_buf_grow(b, sizeof(it));
	b->len += sizeof(it);
	if (it.klen > 0)
		sa_buf_add(b, wk.text.s, it.klen);
	if (it.joined) {
		emit_rows = b;
		emit_nrows = 0;
		left_gen++;
		if (it.b == NULL || !matches(it.b, &wk, &wfs, 0, 1, &wrf))
			if (type == LEFT || type == FULL)
				emit(&wfs, NULL, 0, 0);
		emit_rows = NULL;
		it.nrows = emit_nrows;
	} else
		sa_fields_pack_named(b, wfs.f, wfs.n);
	it.len = b->len - off - sizeof(it) - it.klen;
	memcpy(b->s + off, &it, sizeof(it));
}

/* In the main thread: the item at S, its key in K; returns its LEN bytes
 * of rows or fields. */
static const char *
item_at(const char *s, struct item *it, struct key *k)
{
	memcpy(it, s, sizeof(*it));
	s += sizeof(*it);
	k->null = it->null;
	k->fp = it->fp;
	sa_buf_reset(&k->text);
	if (it->klen > 0)
		sa_buf_add(&k->text, s, it->klen);
	return s + it->klen;
}

/* In the main thread: the items of a chunk, in input order. */
static void
take(int tag, const char *s, size_t len)
{
	static struct key k;
	static struct sa_fields fs;
	uintmax_t base = sa_chunk_base();
	struct item it;
	const char *p;

	(void)tag;
	while (len > 0) {
		p = item_at(s, &it, &k);
		if (it.joined)
			left_joined(&k, it.b, p, it.len, it.nrows,
			    base + it.line);
		else {
			sa_fields_unpack_named(&fs, p);
			left_fields(&k, &fs, lname, base + it.line);
		}
		s = p + it.len;
		len -= sizeof(it) + it.klen + it.len;
	}
}

static void
worker_free(void *w)
{
	(void)w;
	sa_buf_free(&wk.text);
	sa_fields_free(&wfs);
	sa_fields_free(&wrf);
	join_thread_done();
}

static const struct sa_chunk_ops ops = {
	NULL, worker_free, record, take
};

/*
 * Finds the first good record of IN and hands it to FOUND (NULL for TSV,
 * whose header names the columns); returns 0 if it is not in the first
 * SCAN_MAX bytes (or IN is not line-delimited, or ends in an abort line
 * first), when one thread reads IN.  What is read to find it is handed
 * back to IN's reader.
 */
static int
first_record(struct sa_input *in,
    void (*found)(struct sa_input *, const struct sa_val *))
{
	struct sa_buf text = { 0 };
	struct sa_reader *r;
	struct sa_record rec;
	const char *buf, *nl, *abort_text;
	size_t len, head, abort_len;
	uintmax_t lines, abort_line;
	ssize_t n;
	int st, got = 0, fd, eof = 0, more = 0;

	switch (sa_input_format(in)) {
	case SA_FMT_TSV:
		found(in, NULL);		/* the header's */
		return 1;
	case SA_FMT_JSON:
		break;
	default:
		return 1;			/* nothing, or blanks */
	}
	buf = sa_reader_buffered(in->r, &len, &head);
	if (sa_array_first(buf, len))
		return 0;
	fd = sa_reader_fd(in->r);
	sa_buf_add(&text, buf, len);
	for (;;) {
		nl = text.len > 0 ? memrchr(text.s, '\n', text.len) : NULL;
		if (nl != NULL) {
			r = sa_reader_chunk(text.s, nl + 1 - text.s,
			    sa_reader_name(in->r), SA_FMT_UNKNOWN, 0);
			while ((st = sa_reader_next(r, &rec)) != SA_EOF)
				if (st == SA_OK) {
					found(in, rec.root);
					got = 1;
					break;
				}
			sa_reader_chunk_state(r, &lines, &abort_text,
			    &abort_len, &abort_line);
			sa_reader_close(r);
			if (got || abort_text != NULL)
				break;
		}
		if (eof || text.len >= SCAN_MAX)
			break;
		sa_buf_grow(&text, 64 * 1024);
		do
			n = read(fd, text.s + text.len, 64 * 1024);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			sa_die_errno(EX_IOERR, "%s", sa_reader_name(in->r));
		text.len += n;
		sa_stats.bytes += n;
		eof = n == 0;
		more = 1;
	}
	if (more)
		sa_reader_resume(in->r, text.s != NULL ? text.s : "",
		    text.len, 0, 1);
	sa_buf_free(&text);
	return got;
}

/* Reads LEFT, probing the table: with the workers when there are any
 * and LEFT's first record can be found, else with LEFT_ONE_THREAD. */
void
probe_left(struct sa_input *lin,
    void (*left_one_thread)(struct sa_input *, void *))
{
	unsigned n = threads;

	if (n > 1 && !first_record(lin, left_schema))
		n = 1;
	/* A chunk's rows are a few times its bytes of LEFT. */
	sa_chunk_size = LEFT_CHUNK;
	sa_chunks_run(lin, n, &ops, left_one_thread, NULL);
}

/* In a worker: good right record REC as an item of chunk C, its key and
 * its fields. */
static void
right_record(void *w, struct sa_chunk *c, const struct sa_record *rec)
{
	struct item it;
	struct sa_buf *b;
	size_t off;

	(void)w;
	key_of(rec->root, rkeys, &wk);
	if (!key_in_shard(&wk))
		return;
	right_fields_of(&wfs, rec->root);
	memset(&it, 0, sizeof(it));
	it.line = rec->line;
	it.fp = wk.fp;
	it.null = wk.null;
	it.klen = wk.text.len;
	b = sa_chunk_buf(c, 0);
	off = b->len;
	sa_buf_grow(b, sizeof(it));
	b->len += sizeof(it);
	if (it.klen > 0)
		sa_buf_add(b, wk.text.s, it.klen);
	sa_fields_pack_named(b, wfs.f, wfs.n);
	it.len = b->len - off - sizeof(it) - it.klen;
	memcpy(b->s + off, &it, sizeof(it));
}

/* In the main thread: the right records of a chunk, in input order, into
 * the table. */
static void
take_right(int tag, const char *s, size_t len)
{
	static struct key k;
	static struct sa_fields fs;
	uintmax_t base = sa_chunk_base();
	struct item it;
	const char *p;

	(void)tag;
	while (len > 0) {
		p = item_at(s, &it, &k);
		sa_fields_unpack_named(&fs, p);
		right_fields(&k, &fs, base + it.line);
		s = p + it.len;
		len -= sizeof(it) + it.klen + it.len;
	}
}

static const struct sa_chunk_ops right_ops = {
	NULL, worker_free, right_record, take_right
};

/* Reads RIGHT into the table: with the workers when there are any and
 * its first record can be found, else with RIGHT_ONE_THREAD. */
void
build_right(struct sa_input *rin,
    void (*right_one_thread)(struct sa_input *, void *))
{
	unsigned n = threads;

	if (n > 1 && !first_record(rin, right_schema))
		n = 1;
	sa_chunk_size = SA_CHUNK;
	sa_chunks_run(rin, n, &right_ops, right_one_thread, NULL);
}
