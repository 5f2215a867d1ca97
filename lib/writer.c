/* writer.c: rows as NDJSON or as PostgreSQL COPY text. */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "sa.h"

int sa_copy_text;

void
sa_write_ndjson(struct sa_buf *b, const struct sa_col *cols, size_t n)
{
	size_t i;

	sa_buf_addc(b, '{');
	for (i = 0; i < n; i++) {
		if (i > 0)
			sa_buf_addc(b, ',');
		sa_json_string(b, cols[i].name, cols[i].namelen);
		sa_buf_addc(b, ':');
		if (cols[i].v == NULL)
			sa_buf_add(b, "null", 4);
		else
			sa_json_append(b, cols[i].v);
	}
	sa_buf_add(b, "}\n", 2);
}

void
sa_copy_escape(struct sa_buf *b, const char *s, size_t len)
{
	const char *end = s + len, *run;

	sa_buf_grow(b, len);
	while (s < end) {
		run = s;
#ifdef __SSE2__
		/* Sixteen bytes at a time while none is \ TAB LF CR NUL. */
		while (end - s >= 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)s);
			__m128i bad = _mm_or_si128(_mm_or_si128(
			    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')),
			    _mm_cmpeq_epi8(v, _mm_set1_epi8('\t'))),
			    _mm_or_si128(_mm_or_si128(
			    _mm_cmpeq_epi8(v, _mm_set1_epi8('\n')),
			    _mm_cmpeq_epi8(v, _mm_set1_epi8('\r'))),
			    _mm_cmpeq_epi8(v, _mm_setzero_si128())));

			if (_mm_movemask_epi8(bad))
				break;
			s += 16;
		}
#endif
		/* Eight bytes at a time while none is \ TAB LF CR NUL. */
		while (end - s >= 8) {
			uint64_t x, bs, tab, lf, cr;
			const uint64_t ones = 0x0101010101010101ULL;
			const uint64_t high = 0x8080808080808080ULL;

			memcpy(&x, s, 8);
			bs = x ^ 0x5c5c5c5c5c5c5c5cULL;
			tab = x ^ 0x0909090909090909ULL;
			lf = x ^ 0x0a0a0a0a0a0a0a0aULL;
			cr = x ^ 0x0d0d0d0d0d0d0d0dULL;
			if ((((bs - ones) & ~bs) | ((tab - ones) & ~tab) |
			    ((lf - ones) & ~lf) | ((cr - ones) & ~cr) |
			    ((x - ones) & ~x)) & high)
				break;
			s += 8;
		}
		for (; s < end && *s != '\\' && *s != '\t' && *s != '\n' &&
		    *s != '\r' && *s != '\0'; s++)
			;
		if (s > run)
			sa_buf_add(b, run, s - run);
		if (s == end)
			break;
		if (*s == '\0')
			/* Readers refuse \u0000 when sa_copy_text is set; this
			 * is for a string that got past them. */
			sa_die(EX_DATAERR, "a string holds a NUL character "
			    "(\\u0000), which COPY text cannot hold");
		sa_buf_addc(b, '\\');
		switch (*s) {
		case '\\': sa_buf_addc(b, '\\'); break;
		case '\t': sa_buf_addc(b, 't'); break;
		case '\n': sa_buf_addc(b, 'n'); break;
		case '\r': sa_buf_addc(b, 'r'); break;
		}
		s++;
	}
}

void
sa_copy_field(struct sa_buf *b, const struct sa_val *v)
{
	struct sa_buf j = { 0 };

	switch (v == NULL ? SA_NULL : v->type) {
	case SA_NULL: sa_buf_add(b, "\\N", 2); break;
	case SA_FALSE: sa_buf_add(b, "false", 5); break;
	case SA_TRUE: sa_buf_add(b, "true", 4); break;
	case SA_NUMBER: sa_buf_add(b, v->str, v->len); break;
	case SA_STRING: sa_copy_escape(b, v->str, v->len); break;
	default:
		sa_json_append(&j, v);
		sa_copy_escape(b, j.s, j.len);
		sa_buf_free(&j);
	}
}

void
sa_write_tsv_header(struct sa_buf *b, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			sa_buf_addc(b, '\t');
		sa_copy_escape(b, names[i], strlen(names[i]));
	}
	sa_buf_addc(b, '\n');
}
