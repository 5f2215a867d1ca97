/* read-json.c: records from NDJSON, concatenated or pretty-printed JSON,
 * or a top-level array of objects.
 *
 * JSON goes through yajl's streaming parser, fed one line (or, for very
 * long lines, one buffer) at a time, so that every record knows the line
 * it starts on and a syntax error can be skipped by resuming at the next
 * line.  Values are built in arenas that are recycled as soon as the
 * records in them have been handed out, so memory follows the size of one
 * record, not of the input: a 10 GB top-level array is streamed element
 * by element. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reader.h"

#define GEN_SIZE (256 * 1024)	/* arena bytes before a new one is started */
#define RAW_MAX (1 << 20)	/* input text kept for --rejects */

/* Records. */

static struct sa_arena *
arena_get(struct sa_reader *r)
{
	if (r->nfree > 0)
		return r->free_arenas[--r->nfree];
	return sa_arena_new();
}

static void
begin_record(struct sa_reader *r)
{
	struct gen *g = r->ngens ? &r->gens[r->ngens - 1] : NULL;

	if (g == NULL || sa_arena_used(g->a) > GEN_SIZE) {
		if (r->ngens == r->gencap) {
			r->gencap = r->gencap ? r->gencap * 2 : 8;
			r->gens = xrealloc(r->gens, r->gencap * sizeof(*g));
		}
		g = &r->gens[r->ngens++];
		g->a = arena_get(r);
	}
	g->maxseq = ++r->seq;
	r->recline = r->line + 1;
	r->recnul = 0;
}

static struct sa_arena *
cur_arena(struct sa_reader *r)
{
	return r->gens[r->ngens - 1].a;
}

static struct pending *
push(struct sa_reader *r)
{
	struct pending *p;

	if (r->qhead == r->qlen)
		r->qhead = r->qlen = 0;
	if (r->qlen == r->qcap) {
		r->qcap = r->qcap ? r->qcap * 2 : 16;
		r->q = xrealloc(r->q, r->qcap * sizeof(*p));
	}
	p = &r->q[r->qlen++];
	memset(p, 0, sizeof(*p));
	return p;
}

static void
push_bad(struct sa_reader *r, uintmax_t line, const char *error,
    const char *raw, size_t rawlen)
{
	struct pending *p = push(r);

	p->line = line;
	p->error = xstrdup(error);
	p->raw = xstrndup(raw ? raw : "", rawlen);
	p->rawlen = rawlen;
}

static void
record_done(struct sa_reader *r, struct sa_val *root)
{
	struct pending *p = push(r);

	p->root = root;
	p->line = r->recline;
	p->seq = r->seq;
	if (root->type != SA_OBJECT)
		p->error = xstrdup("record is not a JSON object");
	else if (r->recnul)
		p->error = xstrdup("a string holds \\u0000, and COPY text "
		    "cannot hold a NUL character");
	r->rec = r->cur = NULL;
}

/* yajl callbacks. */

static int
add_value(struct sa_reader *r, int type, const char *s, size_t len)
{
	struct sa_val *v;

	if (r->depth == r->rdepth) {
		/* A scalar where a record should be. */
		begin_record(r);
		v = sa_val_new(cur_arena(r), type, s, len);
		record_done(r, v);
		return 1;
	}
	if (r->rec == NULL) {
		/* Inside a non-record value; cannot happen with rdepth logic. */
		return 1;
	}
	v = sa_val_new(cur_arena(r), type, s, len);
	sa_val_add(r->cur, v, r->key, r->keylen);
	r->key = NULL;
	return 1;
}

static int
cb_null(void *ctx)
{
	return add_value(ctx, SA_NULL, NULL, 0);
}

static int
cb_boolean(void *ctx, int b)
{
	return add_value(ctx, b ? SA_TRUE : SA_FALSE, NULL, 0);
}

static int
cb_number(void *ctx, const char *s, size_t len)
{
	return add_value(ctx, SA_NUMBER, s, len);
}

/*
 * yajl turns a \u escape of half a surrogate pair into '?' or into bytes
 * that are not UTF-8, and lets overlong forms, surrogates and code points
 * above U+10FFFF through.  Such a string is bad input: the string token
 * that ends past the first such place in the chunk is the one that holds
 * it.  (Outside strings yajl itself stops at any byte above 0x7f.)
 */
static int
bad_string(struct sa_reader *r)
{
	if (r->bad == 0 || yajl_get_bytes_consumed(r->h) < r->bad)
		return 0;
	snprintf(r->cancel, sizeof(r->cancel), "%s", r->badwhy);
	return 1;
}

/* A \u0000 escape makes a NUL byte, which a tool writing COPY text
 * cannot write: the record is bad. */
static void
check_nul(struct sa_reader *r, const unsigned char *s, size_t len)
{
	if (r->maybe_nul && memchr(s, '\0', len) != NULL)
		r->recnul = 1;
}

static int
cb_string(void *ctx, const unsigned char *s, size_t len)
{
	if (bad_string(ctx))
		return 0;
	check_nul(ctx, s, len);
	return add_value(ctx, SA_STRING, (const char *)s, len);
}

static int
open_container(struct sa_reader *r, int type)
{
	struct sa_val *v;

	if (++r->depth > SA_MAX_DEPTH) {
		snprintf(r->cancel, sizeof(r->cancel),
		    "nested deeper than %d levels", SA_MAX_DEPTH);
		return 0;
	}
	if (r->depth - 1 == r->rdepth) {
		begin_record(r);
		r->rec = r->cur = sa_val_new(cur_arena(r), type, NULL, 0);
		return 1;
	}
	v = sa_val_new(cur_arena(r), type, NULL, 0);
	sa_val_add(r->cur, v, r->key, r->keylen);
	r->key = NULL;
	r->cur = v;
	return 1;
}

static int
close_container(struct sa_reader *r)
{
	r->depth--;
	if (r->depth == r->rdepth)
		record_done(r, r->rec);
	else
		r->cur = r->cur->parent;
	return 1;
}

static int
cb_start_map(void *ctx)
{
	return open_container(ctx, SA_OBJECT);
}

static int
cb_map_key(void *ctx, const unsigned char *s, size_t len)
{
	struct sa_reader *r = ctx;
	char *k;

	if (bad_string(r))
		return 0;
	check_nul(r, s, len);
	k = sa_arena_alloc(cur_arena(r), len + 1);
	memcpy(k, s, len);
	k[len] = '\0';
	r->key = k;
	r->keylen = len;
	return 1;
}

static int
cb_end_map(void *ctx)
{
	return close_container(ctx);
}

static int
cb_start_array(void *ctx)
{
	struct sa_reader *r = ctx;

	if (r->depth == 0 && r->rdepth == 0) {
		/* A top-level array: its elements are the records. */
		r->depth = r->rdepth = 1;
		r->in_array = 1;
		return 1;
	}
	return open_container(r, SA_ARRAY);
}

static int
cb_end_array(void *ctx)
{
	struct sa_reader *r = ctx;

	if (r->in_array && r->depth == 1) {
		r->depth = r->rdepth = 0;
		r->in_array = 0;
		return 1;
	}
	return close_container(r);
}

static const yajl_callbacks callbacks = {
	cb_null, cb_boolean, NULL, NULL, cb_number, cb_string,
	cb_start_map, cb_map_key, cb_end_map, cb_start_array, cb_end_array
};

void
json_start(struct sa_reader *r)
{
	if (r->h != NULL)
		yajl_free(r->h);
	r->h = yajl_alloc(&callbacks, NULL, r);
	yajl_config(r->h, yajl_allow_multiple_values, 1);
	r->cancel[0] = '\0';
	r->fed = 0;
	r->rec = r->cur = NULL;
	r->key = NULL;
	r->depth = 0;
	r->rdepth = 0;
	if (r->in_array) {
		/* Resume inside the array after an error in it. */
		r->in_array = 0;
		yajl_parse(r->h, (const unsigned char *)"[", 1);
	}
}

/*
 * Takes back the records that the chunk being fed completed before it
 * failed (nothing else is queued while a chunk is fed): a line with a
 * record and garbage after it is one bad line, not a good record and a
 * bad one.  Returns the line the first of them starts on, or 0.
 */
static uintmax_t
withdraw(struct sa_reader *r)
{
	uintmax_t line = r->qhead < r->qlen ? r->q[r->qhead].line : 0;

	for (; r->qlen > r->qhead; r->qlen--) {
		free(r->q[r->qlen - 1].error);
		free(r->q[r->qlen - 1].raw);
	}
	return line;
}

/* Turns a yajl failure into a bad record and starts a fresh parser. */
static void
parse_failed(struct sa_reader *r, yajl_status st, const unsigned char *chunk,
    size_t len)
{
	char msg[256];
	uintmax_t first = withdraw(r);
	uintmax_t line = first ? first : r->rec != NULL ? r->recline :
	    r->line + 1;

	if (st == yajl_status_client_canceled && r->cancel[0] != '\0')
		snprintf(msg, sizeof(msg), "%s", r->cancel);
	else {
		unsigned char *e = yajl_get_error(r->h, 0, chunk, len);
		char *p;

		snprintf(msg, sizeof(msg), "invalid JSON: %s", (char *)e);
		yajl_free_error(r->h, e);
		/* yajl's messages end in a newline; a line is one message. */
		for (p = msg; *p != '\0'; p++)
			if (*p == '\n')
				*p = ' ';
		while (p > msg && p[-1] == ' ')
			*--p = '\0';
	}
	push_bad(r, line, msg, r->raw.s, r->raw.len);
	json_start(r);
}

static void
keep_raw(struct sa_reader *r, const char *p, size_t n)
{
	if (r->raw.len < RAW_MAX)
		sa_buf_add(&r->raw, p, r->raw.len + n > RAW_MAX ?
		    RAW_MAX - r->raw.len : n);
}

static int
blank(const char *p, size_t n)
{
	for (; n > 0; p++, n--)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return 0;
	return 1;
}

/* True if the line at P starts with an object or array. */
static int
starts_value(const char *p, size_t n)
{
	while (n > 0 && (*p == ' ' || *p == '\t' || *p == '\r')) {
		p++;
		n--;
	}
	return n > 0 && (*p == '{' || *p == '[');
}

/* Feeds the parser the rest of the current line, or as much of it as the
 * buffer holds. */
static void
feed_json(struct sa_reader *r)
{
	const char *p, *nl;
	size_t n, before, ctl = SIZE_MAX;
	yajl_status st;
	int whole;

	if (r->line_start)
		reader_check_abort(r);
	/* Whole lines where the buffer can hold them: a line is judged as
	 * one (its record and anything after it), also the last one, which
	 * gains its LF only at end of input. */
	for (;;) {
		p = r->buf + r->pos;
		n = r->end - r->pos;
		if ((nl = memchr(p, '\n', n)) != NULL || n >= BUFSIZE / 2 ||
		    !reader_fill(r))
			break;
	}
	whole = nl != NULL;
	if (whole)
		n = nl - p + 1;
	if (r->line_start && r->rec == NULL)
		sa_buf_reset(&r->raw);
	before = r->raw.len;
	keep_raw(r, p, n);
	r->bad = 0;
	r->escaped = r->utf8cut || !text_plain(p, n);
	/* Only the six bytes of a \u0000 make a NUL (JSON text has no raw
	 * one): where a line has none, its strings need no search.  A line
	 * fed in parts may have the escape cut in two. */
	r->maybe_nul = r->escaped && sa_copy_text && (!whole ||
	    !r->line_start || memmem(p, n, "\\u0000", 6) != NULL);
	if (r->escaped) {
		int cut;
		size_t skip = 0, ok;

		/* The rest of a character the last chunk cut short. */
		while (r->utf8cut && skip < 3 && skip < n &&
		    ((unsigned char)p[skip] & 0xc0) == 0x80)
			skip++;
		ok = skip + utf8_valid_len(p + skip, n - skip, &cut);
		r->utf8cut = cut && !whole;
		if (ok < n && !r->utf8cut) {
			r->bad = ok + 1;
			r->badwhy = "invalid UTF-8";
		} else if ((r->bad = find_lone_surrogate(p, ok)) != 0)
			r->badwhy = "invalid JSON: a \\u escape is half of a "
			    "surrogate pair";
		ctl = find_control(p, n);
	}
	if (!r->fed)
		r->fed = !blank(p, n);
	st = yajl_parse(r->h, (const unsigned char *)p, ctl < n ? ctl : n);
	if (st == yajl_status_ok && ctl < n) {
		/* The parser stopped short of it: it would skip it. */
		snprintf(r->cancel, sizeof(r->cancel), "invalid JSON: control "
		    "character 0x%02x (JSON whitespace is space, tab, LF and "
		    "CR only)", (unsigned char)p[ctl]);
		st = yajl_status_client_canceled;
	}
	r->pos += n;
	if (st != yajl_status_ok && r->line_start && r->rec != NULL &&
	    r->recline <= r->line && starts_value(p, n)) {
		/* A record left open on an earlier line, broken by a line that
		 * starts a new one: reject what came before and read this line
		 * afresh, so that a truncated line costs one record, not two. */
		r->raw.len = before;
		if (r->raw.len > 0 && r->raw.s[r->raw.len - 1] == '\n')
			r->raw.len--;
		parse_failed(r, st, (const unsigned char *)r->raw.s,
		    r->raw.len);
		sa_buf_reset(&r->raw);
		r->pos -= n;
		return;
	}
	if (st != yajl_status_ok) {
		/* Skip what is left of the line, keeping it for the reject. */
		while (!whole) {
			if (r->pos == r->end && !reader_fill(r))
				break;
			p = r->buf + r->pos;
			n = r->end - r->pos;
			nl = memchr(p, '\n', n);
			if ((whole = nl != NULL))
				n = nl - p + 1;
			keep_raw(r, p, n);
			r->pos += n;
		}
		if (r->raw.len > 0 && r->raw.s[r->raw.len - 1] == '\n')
			r->raw.s[--r->raw.len] = '\0';
		parse_failed(r, st, (const unsigned char *)r->raw.s,
		    r->raw.len);
		sa_buf_reset(&r->raw);
	}
	if (whole)
		r->line++;
	r->line_start = whole;
}

static void
finish_json(struct sa_reader *r)
{
	yajl_status st = yajl_complete_parse(r->h);

	/* A parser started afresh after a bad record and given nothing
	 * since has nothing to complain of. */
	if (!r->fed && r->rec == NULL && !r->in_array)
		st = yajl_status_ok;
	/* A chunk that is not the file's last, or stops at an abort line,
	 * with a record open at its end: the input is not line-delimited
	 * here, and the writer reads on from this chunk with one thread. */
	if (r->chunked && (!r->last || r->aborted) &&
	    (st != yajl_status_ok || r->rec != NULL || r->in_array)) {
		r->dirty = 1;
		st = yajl_status_ok;
		r->rec = NULL;
		r->in_array = 0;
	}
	if (st != yajl_status_ok || r->rec != NULL || r->in_array) {
		uintmax_t line = r->rec != NULL ? r->recline : r->line;
		const char *msg = r->in_array && r->rec == NULL ?
		    "invalid JSON: the top-level array is not closed" :
		    "invalid JSON: the input ends inside a record";

		if (r->raw.len > 0 && r->raw.s[r->raw.len - 1] == '\n')
			r->raw.len--;
		/* After the last element of an unclosed array nothing is
		 * left out: its text went out with that element. */
		if (r->in_array && r->rec == NULL)
			r->raw.len = 0;
		push_bad(r, line ? line : 1, msg, r->raw.s, r->raw.len);
		r->rec = NULL;
		r->in_array = 0;
	}
	yajl_free(r->h);
	r->h = NULL;
}

static void
release_gens(struct sa_reader *r, uint64_t seq)
{
	size_t k = 0;

	while (k + 1 < r->ngens && r->gens[k].maxseq < seq) {
		sa_arena_reset(r->gens[k].a);
		if (r->nfree % 8 == 0)
			r->free_arenas = xrealloc(r->free_arenas,
			    (r->nfree + 8) * sizeof(*r->free_arenas));
		r->free_arenas[r->nfree++] = r->gens[k].a;
		k++;
	}
	if (k > 0) {
		memmove(r->gens, r->gens + k, (r->ngens - k) * sizeof(*r->gens));
		r->ngens -= k;
	}
}

int
json_next(struct sa_reader *r, struct sa_record *rec)
{
	struct pending p;

	while (r->qhead == r->qlen) {
		if (r->h == NULL)
			return SA_EOF;
		if (r->pos == r->end && !reader_fill(r)) {
			finish_json(r);
			continue;
		}
		feed_json(r);
	}
	p = r->q[r->qhead++];
	rec->line = p.line;
	rec->root = p.root;
	if (p.root != NULL)
		release_gens(r, p.seq);
	if (p.error == NULL)
		return SA_OK;
	free(r->error);
	free(r->errraw);
	r->error = p.error;
	if (p.raw != NULL) {
		r->errraw = p.raw;
		r->errrawlen = p.rawlen;
	} else {
		struct sa_buf b = { 0 };

		sa_json_append(&b, p.root);
		r->errraw = b.s;
		r->errrawlen = b.len;
	}
	return SA_BAD;
}
