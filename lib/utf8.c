/* utf8.c: the checks of input text that yajl does not make: valid
 * UTF-8 (RFC 3629), \u escapes of half a surrogate pair, and control
 * characters that yajl takes for whitespace. */
#include <ctype.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "reader.h"

/*
 * The length of the longest prefix of S (N bytes) that is valid UTF-8,
 * as RFC 3629 has it: no overlong forms, no surrogates, nothing above
 * U+10FFFF.  *CUT is set when what stops it is a character cut short by
 * the end of S.
 */
size_t
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

int
utf8_valid(const char *s, size_t n)
{
	int cut;

	return utf8_valid_len(s, n, &cut) == n;
}

/* True if C may stand in JSON text: not a control character other than
 * the whitespace RFC 8259 allows (space, tab, LF, CR).  yajl also skips
 * form feeds and vertical tabs; in strings it refuses them itself. */
static int
json_byte(unsigned char c)
{
	return c >= 0x20 || c == '\t' || c == '\n' || c == '\r';
}

#ifdef __SSE2__
/* The bytes of V below ' ' (signed: those above 0x7f too) that are not
 * tab, LF or CR: control characters, and with them the bytes of
 * multibyte characters, for the caller to tell apart. */
static inline __m128i
below_space(__m128i v)
{
	return _mm_andnot_si128(_mm_or_si128(_mm_or_si128(
	    _mm_cmpeq_epi8(v, _mm_set1_epi8('\t')),
	    _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))),
	    _mm_cmpeq_epi8(v, _mm_set1_epi8('\r'))),
	    _mm_cmplt_epi8(v, _mm_set1_epi8(' ')));
}
#endif

/* True if the N bytes at S are ASCII without a backslash or a control
 * character JSON does not allow: nothing to check.  Eight bytes at a
 * time. */
int
text_plain(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	const uint64_t ones = 0x0101010101010101ull, high = ones << 7;
	uint64_t w, x;
	int i;

#ifdef __SSE2__
	for (; end - p >= 16; p += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)p);

		/* Bytes above 0x7f are bad here too. */
		if (_mm_movemask_epi8(_mm_or_si128(below_space(v),
		    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')))))
			return 0;
	}
#endif
	for (; end - p >= 8; p += 8) {
		memcpy(&w, p, 8);
		x = w ^ (ones * '\\');	/* a backslash becomes 0 */
		if ((w | ((x - ones) & ~x)) & high)
			return 0;
		if ((w - ones * ' ') & ~w & high)	/* a byte below ' ' */
			for (i = 0; i < 8; i++)
				if (!json_byte(p[i]))
					return 0;
	}
	for (; p < end; p++)
		if (*p >= 0x80 || *p == '\\' || !json_byte(*p))
			return 0;
	return 1;
}

/* The offset in S of the first control character that JSON does not
 * allow, or N. */
size_t
find_control(const char *s, size_t n)
{
	size_t i = 0;

#ifdef __SSE2__
	for (; n - i >= 16; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(s + i));

		/* Bytes above 0x7f, negative here, are not control
		 * characters. */
		if (_mm_movemask_epi8(_mm_andnot_si128(_mm_cmplt_epi8(v,
		    _mm_setzero_si128()), below_space(v))))
			break;
	}
#endif
	for (; i < n; i++)
		if (!json_byte((unsigned char)s[i]))
			return i;
	return n;
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
size_t
find_lone_surrogate(const char *p, size_t n)
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
