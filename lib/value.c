/* value.c: JSON values: writing them out, comparing them, finding members. */
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "sa.h"

static const char hex[] = "0123456789abcdef";

/* 1 for the bytes a JSON string must escape. */
static const unsigned char escape[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
};

void
sa_json_string(struct sa_buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	const unsigned char *run;
	char *o;

	sa_buf_grow(b, len + 2);
	b->s[b->len++] = '"';
	while (p < end) {
		run = p;
#ifdef __SSE2__
		/* Sixteen bytes at a time while none needs escaping: none
		 * below ' ' (signed: UTF-8's bytes above 0x7f are not), no '"'
		 * and no backslash. */
		while (end - p >= 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)p);
			__m128i bad = _mm_or_si128(_mm_andnot_si128(
			    _mm_cmplt_epi8(v, _mm_setzero_si128()),
			    _mm_cmplt_epi8(v, _mm_set1_epi8(' '))),
			    _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
			    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));

			if (_mm_movemask_epi8(bad))
				break;
			p += 16;
		}
#endif
		/* Eight bytes at a time while none needs escaping. */
		while (end - p >= 8) {
			uint64_t x, q, bs;

			memcpy(&x, p, 8);
			q = x ^ 0x2222222222222222ULL;
			bs = x ^ 0x5c5c5c5c5c5c5c5cULL;
			if (((x - 0x2020202020202020ULL) |
			    (q - 0x0101010101010101ULL) |
			    (bs - 0x0101010101010101ULL)) &
			    ~x & 0x8080808080808080ULL)
				break;
			p += 8;
		}
		for (; p < end && !escape[*p]; p++)
			;
		if (p > run) {
			memcpy(b->s + b->len, run, p - run);
			b->len += p - run;
		}
		if (p == end)
			break;
		/* Room for the escape and for the rest of the string. */
		sa_buf_grow(b, 6 + (end - p));
		o = b->s + b->len;
		*o++ = '\\';
		switch (*p) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\n': *o++ = 'n'; break;
		case '\t': *o++ = 't'; break;
		case '\r': *o++ = 'r'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		default:
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
		b->len = o - b->s;
		p++;
	}
	b->s[b->len++] = '"';
	b->s[b->len] = '\0';
}

/* Returns the length of the valid UTF-8 sequence at P, or 0. */
static size_t
utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n, i;
	unsigned c = *p;
	unsigned long cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 ||
	    cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

size_t
sa_utf8_valid_len(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	size_t n;

	for (; p < end; p += n)
		if ((n = utf8_len(p, end)) == 0)
			break;
	return p - (const unsigned char *)s;
}

/* The value of the \u escape at S (N bytes left), or -1. */
static long
u_escape(const char *s, size_t n)
{
	long u = 0;
	size_t i;

	if (n < 6 || s[0] != '\\' || s[1] != 'u')
		return -1;
	for (i = 2; i < 6; i++) {
		int c = (unsigned char)s[i] | 0x20;

		if (c >= '0' && c <= '9')
			u = u << 4 | (c - '0');
		else if (c >= 'a' && c <= 'f')
			u = u << 4 | (c - 'a' + 10);
		else
			return -1;
	}
	return u;
}

size_t
sa_json_half_surrogate(const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	long u, v;

	while ((p = memchr(p, '\\', end - p)) != NULL) {
		if ((u = u_escape(p, end - p)) < 0) {
			p += 2;	/* \\ and the one-letter escapes */
			continue;
		}
		if (u < 0xd800 || u > 0xdfff) {
			p += 6;
			continue;
		}
		v = u <= 0xdbff ? u_escape(p + 6, end - p - 6) : -1;
		if (v < 0xdc00 || v > 0xdfff)
			return p - s + 1;
		p += 12;
	}
	return 0;
}

void
sa_json_string_lossy(struct sa_buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	struct sa_buf clean = { 0 };
	size_t n;

	while (p < end) {
		n = utf8_len(p, end);
		if (n == 0) {
			sa_buf_add(&clean, "\xef\xbf\xbd", 3);
			p++;
		} else {
			sa_buf_add(&clean, p, n);
			p += n;
		}
	}
	sa_json_string(b, clean.s ? clean.s : "", clean.len);
	sa_buf_free(&clean);
}

static void
append(struct sa_buf *b, const struct sa_val *v, int canonical);

static int
cmp_member(const void *a, const void *b)
{
	const struct sa_val *x = *(const struct sa_val *const *)a;
	const struct sa_val *y = *(const struct sa_val *const *)b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);

	if (c != 0)
		return c;
	return (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

static void
append_object(struct sa_buf *b, const struct sa_val *v, int canonical)
{
	const struct sa_val *m, **sorted = NULL;
	size_t i, n = 0;

	sa_buf_addc(b, '{');
	if (canonical && v->len > 1) {
		sorted = xmalloc(v->len * sizeof(*sorted));
		for (m = v->child; m != NULL; m = m->next)
			sorted[n++] = m;
		qsort(sorted, n, sizeof(*sorted), cmp_member);
		for (i = 0; i < n; i++) {
			if (i > 0)
				sa_buf_addc(b, ',');
			sa_json_string(b, sorted[i]->key, sorted[i]->keylen);
			sa_buf_addc(b, ':');
			append(b, sorted[i], canonical);
		}
		free(sorted);
	} else {
		for (m = v->child; m != NULL; m = m->next) {
			if (m != v->child)
				sa_buf_addc(b, ',');
			sa_json_string(b, m->key, m->keylen);
			sa_buf_addc(b, ':');
			append(b, m, canonical);
		}
	}
	sa_buf_addc(b, '}');
}

static void
append(struct sa_buf *b, const struct sa_val *v, int canonical)
{
	const struct sa_val *e;

	switch (v->type) {
	case SA_NULL: sa_buf_add(b, "null", 4); break;
	case SA_FALSE: sa_buf_add(b, "false", 5); break;
	case SA_TRUE: sa_buf_add(b, "true", 4); break;
	case SA_NUMBER: sa_buf_add(b, v->str, v->len); break;
	case SA_STRING: sa_json_string(b, v->str, v->len); break;
	case SA_OBJECT: append_object(b, v, canonical); break;
	case SA_ARRAY:
		sa_buf_addc(b, '[');
		for (e = v->child; e != NULL; e = e->next) {
			if (e != v->child)
				sa_buf_addc(b, ',');
			append(b, e, canonical);
		}
		sa_buf_addc(b, ']');
		break;
	}
}

void
sa_json_append(struct sa_buf *b, const struct sa_val *v)
{
	append(b, v, 0);
}

void
sa_json_canonical(struct sa_buf *b, const struct sa_val *v)
{
	append(b, v, 1);
}

struct sa_val *
sa_get(const struct sa_val *o, const char *name, size_t len)
{
	struct sa_val *m;

	if (o == NULL || o->type != SA_OBJECT)
		return NULL;
	for (m = o->child; m != NULL; m = m->next)
		if (m->keylen == len && memcmp(m->key, name, len) == 0)
			return m;
	return NULL;
}

struct sa_val *
sa_get_path(const struct sa_val *o, const char *path)
{
	const char *dot;
	struct sa_val *v;

	/* A member whose own name has dots wins over the path. */
	if ((v = sa_get(o, path, strlen(path))) != NULL)
		return v;
	for (dot = strchr(path, '.'); dot != NULL; dot = strchr(dot + 1, '.'))
		if ((v = sa_get(o, path, dot - path)) != NULL &&
		    v->type == SA_OBJECT && (v = sa_get_path(v, dot + 1)) != NULL)
			return v;
	return NULL;
}

int
sa_val_text(const struct sa_val *v, struct sa_buf *scratch, const char **s,
    size_t *len)
{
	switch (v == NULL ? SA_NULL : v->type) {
	case SA_NULL:
		return 0;
	case SA_FALSE:
		*s = "false", *len = 5;
		return 1;
	case SA_TRUE:
		*s = "true", *len = 4;
		return 1;
	case SA_NUMBER:
	case SA_STRING:
		*s = v->str, *len = v->len;
		return 1;
	default:
		sa_buf_reset(scratch);
		sa_json_canonical(scratch, v);
		*s = scratch->s, *len = scratch->len;
		return 1;
	}
}

int
sa_val_equal(const struct sa_val *a, const struct sa_val *b)
{
	struct sa_buf x = { 0 }, y = { 0 };
	int eq;

	if (a->type != b->type)
		return 0;
	if (a->type == SA_NUMBER || a->type == SA_STRING)
		return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
	if (a->type != SA_OBJECT && a->type != SA_ARRAY)
		return 1;
	sa_json_canonical(&x, a);
	sa_json_canonical(&y, b);
	eq = x.len == y.len && memcmp(x.s, y.s, x.len) == 0;
	sa_buf_free(&x);
	sa_buf_free(&y);
	return eq;
}
