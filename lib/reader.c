/* reader.c: records from NDJSON, concatenated or pretty-printed JSON, a
 * top-level array of objects, or TSV with a header.
 *
 * JSON goes through yajl's streaming parser, fed one line (or, for very
 * long lines, one buffer) at a time, so that every record knows the line
 * it starts on and a syntax error can be skipped by resuming at the next
 * line.  Values are built in arenas that are recycled as soon as the
 * records in them have been handed out, so memory follows the size of one
 * record, not of the input: a 10 GB top-level array is streamed element
 * by element. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "sa.h"

#define BUFSIZE (256 * 1024)
#define GEN_SIZE (256 * 1024)	/* arena bytes before a new one is started */
#define RAW_MAX (1 << 20)	/* input text kept for --rejects */

struct pending {
	struct sa_val *root;	/* NULL for a syntax error */
	uintmax_t line;
	uint64_t seq;
	char *error;		/* for a bad record */
	char *raw;
	size_t rawlen;
};

struct gen {
	struct sa_arena *a;
	uint64_t maxseq;
};

struct sa_reader {
	int fd, own_fd;
	char *name;
	char *buf;
	size_t bufsize, pos, end;
	int eof;
	uintmax_t line;		/* complete lines consumed */
	uintmax_t bytes;
	enum sa_format fmt;

	/* JSON */
	yajl_handle h;
	int depth;		/* nesting, a top-level array included */
	int rdepth;		/* depth at which records start: 0, or 1 in [...] */
	int in_array;
	struct sa_val *cur, *rec;
	char *key;
	size_t keylen;
	uintmax_t recline;
	char cancel[128];	/* why a callback stopped the parse */
	size_t bad;		/* 1 + offset in the chunk of text that is not
				 * UTF-8, or of half a surrogate pair */
	const char *badwhy;
	int utf8cut;		/* the last chunk ended inside a character */
	int fed;		/* the parser has been given a value's bytes */
	struct sa_buf raw;	/* text of the lines of the record in flight */
	int line_start;		/* the next byte fed starts a line */

	struct pending *q;
	size_t qhead, qlen, qcap;
	struct gen *gens;
	size_t ngens, gencap;
	uint64_t seq;
	struct sa_arena **free_arenas;	/* recycled arenas */
	size_t nfree;

	/* what the last SA_BAD was about */
	char *error;
	char *errraw;
	size_t errrawlen;

	/* TSV */
	char **cols;
	size_t ncols;
	struct sa_arena *tsv;
	struct sa_buf field;
};

static void start_parser(struct sa_reader *);

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

static int
cb_string(void *ctx, const unsigned char *s, size_t len)
{
	if (bad_string(ctx))
		return 0;
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

static void
start_parser(struct sa_reader *r)
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

/* Turns a yajl failure into a bad record and starts a fresh parser. */
static void
parse_failed(struct sa_reader *r, yajl_status st, const unsigned char *chunk,
    size_t len)
{
	char msg[256];
	uintmax_t line = r->rec != NULL ? r->recline : r->line + 1;

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
	start_parser(r);
}

/* Reading. */

static int
fill(struct sa_reader *r)
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
		return 0;
	}
	r->end += n;
	r->bytes += n;
	return 1;
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

/*
 * The length of the longest prefix of S (N bytes) that is valid UTF-8,
 * as RFC 3629 has it: no overlong forms, no surrogates, nothing above
 * U+10FFFF.  *CUT is set when what stops it is a character cut short by
 * the end of S.
 */
static size_t
utf8_valid_len(const char *s, size_t n, int *cut)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	uint64_t w;

	*cut = 0;
	while (p < end) {
		unsigned c = *p;
		size_t k, len;

		/* Eight ASCII bytes at a time. */
		if (c < 0x80) {
			while (end - p >= 8) {
				memcpy(&w, p, 8);
				if (w & 0x8080808080808080ull)
					break;
				p += 8;
			}
			while (p < end && *p < 0x80)
				p++;
			continue;
		}
		len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ?
		    3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
		if (len == 0)
			break;
		for (k = 1; k < len && p + k < end; k++)
			if ((p[k] & 0xc0) != 0x80)
				break;
		if (k < len) {
			*cut = p + k == end;
			break;
		}
		if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
		    (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
			break;
		p += len;
	}
	return p - (const unsigned char *)s;
}

static int
valid_utf8(const char *s, size_t n)
{
	int cut;

	return utf8_valid_len(s, n, &cut) == n;
}

/* True if the N bytes at S are ASCII without a backslash: nothing to
 * check.  Eight bytes at a time. */
static int
plain(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	const uint64_t ones = 0x0101010101010101ull, high = ones << 7;
	uint64_t w, x;

#ifdef __SSE2__
	const __m128i bs = _mm_set1_epi8('\\');

	for (; end - p >= 16; p += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)p);

		if (_mm_movemask_epi8(_mm_or_si128(v, _mm_cmpeq_epi8(v, bs))))
			return 0;
	}
#endif
	for (; end - p >= 8; p += 8) {
		memcpy(&w, p, 8);
		x = w ^ (ones * '\\');	/* a backslash becomes 0 */
		if ((w | ((x - ones) & ~x)) & high)
			return 0;
	}
	for (; p < end; p++)
		if (*p >= 0x80 || *p == '\\')
			return 0;
	return 1;
}

static int
hex4(const char *s, unsigned *u)
{
	int i;

	for (*u = 0, i = 0; i < 4; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return 0;
		*u = *u << 4 | (isdigit((unsigned char)s[i]) ? s[i] - '0' :
		    (tolower((unsigned char)s[i]) - 'a' + 10));
	}
	return 1;
}

/* 1 + the offset of the first \u escape in P that is half of a surrogate
 * pair without the other half, or 0. */
static size_t
find_lone(const char *p, size_t n)
{
	const char *s = p, *end = p + n;
	unsigned u, v;

	while ((s = memchr(s, '\\', end - s)) != NULL && end - s >= 6) {
		if (s[1] != 'u' || !hex4(s + 2, &u)) {
			s += 2;
			continue;
		}
		if (u >= 0xd800 && u <= 0xdbff && end - s >= 12 &&
		    s[6] == '\\' && s[7] == 'u' && hex4(s + 8, &v) &&
		    v >= 0xdc00 && v <= 0xdfff) {
			s += 12;
			continue;
		}
		if (u >= 0xd800 && u <= 0xdfff)
			return s - p + 1;
		s += 6;
	}
	return 0;
}

/* Feeds the parser the rest of the current line, or as much of it as the
 * buffer holds. */
static void
feed_json(struct sa_reader *r)
{
	const char *p = r->buf + r->pos, *nl;
	size_t n = r->end - r->pos, before;
	yajl_status st;
	int whole;

	nl = memchr(p, '\n', n);
	whole = nl != NULL;
	if (whole)
		n = nl - p + 1;
	if (r->line_start && r->rec == NULL)
		sa_buf_reset(&r->raw);
	before = r->raw.len;
	keep_raw(r, p, n);
	r->bad = 0;
	if (r->utf8cut || !plain(p, n)) {
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
		} else if ((r->bad = find_lone(p, ok)) != 0)
			r->badwhy = "invalid JSON: a \\u escape is half of a "
			    "surrogate pair";
	}
	if (!r->fed)
		r->fed = !blank(p, n);
	st = yajl_parse(r->h, (const unsigned char *)p, n);
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
			if (r->pos == r->end && !fill(r))
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

/* TSV, as PostgreSQL COPY text. */

static size_t
unescape(struct sa_buf *out, const char *s, size_t n)
{
	const char *bs = memchr(s, '\\', n);
	size_t i;

	sa_buf_reset(out);
	if (bs == NULL) {
		/* Most fields have nothing to unescape. */
		sa_buf_add(out, s, n);
		return out->len;
	}
	sa_buf_add(out, s, bs - s);
	for (i = bs - s; i < n; i++) {
		char c = s[i];

		if (c == '\\' && i + 1 < n) {
			c = s[++i];
			switch (c) {
			case 't': c = '\t'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'v': c = '\v'; break;
			case 'x':
				/* \xh or \xhh, as COPY reads them. */
				if (i + 1 < n && isxdigit((unsigned char)s[i + 1])) {
					int v = 0, k;

					for (k = 0; k < 2 && i + 1 < n &&
					    isxdigit((unsigned char)s[i + 1]); k++) {
						c = s[++i];
						v = v * 16 + (isdigit((unsigned char)c) ?
						    c - '0' : (c | 0x20) - 'a' + 10);
					}
					c = (char)v;
				}
				break;
			default:
				/* \o, \oo or \ooo. */
				if (c >= '0' && c <= '7') {
					int v = c - '0', k;

					for (k = 1; k < 3 && i + 1 < n &&
					    s[i + 1] >= '0' && s[i + 1] <= '7'; k++)
						v = v * 8 + (s[++i] - '0');
					c = (char)v;
				}
			}
		}
		sa_buf_addc(out, c);
	}
	return out->len;
}

/* Returns the next whole line (without its LF, or CRLF) or NULL at EOF. */
static char *
next_line(struct sa_reader *r, size_t *len)
{
	char *p, *nl;

	for (;;) {
		p = r->buf + r->pos;
		nl = memchr(p, '\n', r->end - r->pos);
		if (nl != NULL) {
			r->pos = nl - r->buf + 1;
			break;
		}
		if (!fill(r)) {
			if (r->pos == r->end)
				return NULL;
			p = r->buf + r->pos;
			nl = r->buf + r->end;
			r->pos = r->end;
			break;
		}
	}
	r->line++;
	*len = nl - p;
	if (*len > 0 && p[*len - 1] == '\r')
		(*len)--;
	return p;
}

static void
read_header(struct sa_reader *r)
{
	size_t len, i, start;
	char *p;

	while ((p = next_line(r, &len)) != NULL && len == 0)
		;
	if (p == NULL)
		return;
	r->ncols = 1;
	for (i = 0; i < len; i++)
		if (p[i] == '\t')
			r->ncols++;
	r->cols = xcalloc(r->ncols + 1, sizeof(char *));
	for (i = start = 0, r->ncols = 0; i <= len; i++)
		if (i == len || p[i] == '\t') {
			unescape(&r->field, p + start, i - start);
			r->cols[r->ncols++] = xstrndup(r->field.s ?
			    r->field.s : "", r->field.len);
			start = i + 1;
		}
	r->tsv = sa_arena_new();
}

static int
next_tsv(struct sa_reader *r, struct sa_record *rec)
{
	size_t len, i, start, n;
	struct sa_val *o, *v;
	char *p, msg[128];
	const char *why;

	sa_arena_reset(r->tsv);
	/* An empty line is a row of one empty field, as for COPY. */
	if ((p = next_line(r, &len)) == NULL)
		return SA_EOF;
	rec->line = r->line;
	for (i = 0, n = 1; i < len; i++)
		n += p[i] == '\t';
	if (n != r->ncols) {
		snprintf(msg, sizeof(msg), "expected %zu fields, found %zu",
		    r->ncols, n);
		goto bad;
	}
	if (!valid_utf8(p, len)) {
		snprintf(msg, sizeof(msg), "invalid UTF-8");
		goto bad;
	}
	o = sa_val_new(r->tsv, SA_OBJECT, NULL, 0);
	for (i = start = 0, n = 0; i <= len; i++)
		if (i == len || p[i] == '\t') {
			if (i - start == 2 && p[start] == '\\' &&
			    p[start + 1] == 'N')
				v = sa_val_new(r->tsv, SA_NULL, NULL, 0);
			else {
				unescape(&r->field, p + start, i - start);
				/* \xhh and \ooo can make any byte. */
				if (memchr(p + start, '\\', i - start) != NULL &&
				    (why = memchr(r->field.s, '\0', r->field.len) ?
				    "a NUL character" : !valid_utf8(r->field.s,
				    r->field.len) ? "invalid UTF-8" : NULL)) {
					snprintf(msg, sizeof(msg), "column \"%s\": %s",
					    r->cols[n], why);
					goto bad;
				}
				v = sa_val_new(r->tsv, SA_STRING,
				    r->field.s ? r->field.s : "",
				    r->field.len);
			}
			sa_val_add(o, v, r->cols[n], strlen(r->cols[n]));
			n++;
			start = i + 1;
		}
	rec->root = o;
	return SA_OK;
bad:
	free(r->error);
	free(r->errraw);
	r->error = xstrdup(msg);
	r->errraw = xstrndup(p, len);
	r->errrawlen = len;
	return SA_BAD;
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
				start_parser(r);
			else
				read_header(r);
			return;
		}
		if (!fill(r))
			return;
	}
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
sa_reader_next(struct sa_reader *r, struct sa_record *rec)
{
	struct pending p;

	rec->file = r->name;
	rec->root = NULL;
	if (r->fmt == SA_FMT_UNKNOWN) {
		detect(r);
		if (r->fmt == SA_FMT_UNKNOWN)
			return SA_EOF;
	}
	if (r->fmt == SA_FMT_TSV)
		return r->cols == NULL ? SA_EOF : next_tsv(r, rec);

	while (r->qhead == r->qlen) {
		if (r->h == NULL)
			return SA_EOF;
		if (r->pos == r->end && !fill(r)) {
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
	free(r->buf);
	free(r->name);
	free(r->error);
	free(r->errraw);
	sa_buf_free(&r->raw);
	sa_buf_free(&r->field);
	free(r);
}
