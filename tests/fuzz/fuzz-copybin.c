/*
 * fuzz-copybin.c: sa-load's binary COPY values (bin/load-binary.c) on
 * any text.
 *
 * The first byte picks the column's kind, the rest is the value's text.
 * A value taken is read back from its binary form and compared with what
 * an independent reading of the text gives: strtoll for bigint, the
 * decimal point moved by string for numeric (with numeric_in's display
 * scale), timegm for dates and timestamps, the hex digits for uuid.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "load.h"

static struct sa_buf out, want;

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static uint64_t
get64(const unsigned char *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static int
alldigits(const char *s, size_t n)
{
	for (; n > 0; s++, n--)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static void
check_int8(const char *s, size_t len, int took)
{
	char buf[32], *end;
	long long v;
	int neg = len > 0 && s[0] == '-';

	if (len == (size_t)neg || len - neg > 19 ||
	    !alldigits(s + neg, len - neg)) {
		FUZZ_CHECK(!took, "bigint: took text that is not an integer");
		return;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	FUZZ_CHECK(took == (errno == 0), "bigint: took or refused wrongly");
	if (took)
		FUZZ_CHECK(get32((unsigned char *)out.s) == 8 &&
		    (long long)get64((unsigned char *)out.s + 4) == v,
		    "bigint: not the value strtoll reads");
}

/* The number S as numeric_out writes it, by moving its point. */
static int
numeric_text(const char *s, size_t len, struct sa_buf *b)
{
	char d[2100];
	size_t i = 0, n = 0, nfrac = 0, k;
	long exp = 0, p, dscale, intlen;
	int neg = 0, esign = 1, zero = 1;

	if (i < len && s[i] == '-')
		neg = 1, i++;
	for (; i < len && s[i] >= '0' && s[i] <= '9' && n < 1000; i++)
		d[n++] = s[i];
	if (i < len && s[i] == '.')
		for (i++; i < len && s[i] >= '0' && s[i] <= '9' && n < 1000;
		    i++, nfrac++)
			d[n++] = s[i];
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			esign = s[i++] == '-' ? -1 : 1;
		for (; i < len && s[i] >= '0' && s[i] <= '9' && exp <= 1000;
		    i++)
			exp = exp * 10 + (s[i] - '0');
		exp *= esign;
	}
	p = exp - (long)nfrac;	/* the value is D times 10^P */
	dscale = p < 0 ? -p : 0;
	for (k = 0; k < n; k++)
		zero &= d[k] == '0';
	/* Digits of D as a string with DSCALE digits after the point. */
	if (p > 0) {
		memset(d + n, '0', p);
		n += p;
	}
	intlen = (long)n - dscale;
	sa_buf_reset(b);
	if (neg && !zero)
		sa_buf_addc(b, '-');
	if (intlen <= 0)
		sa_buf_addc(b, '0');
	else {
		for (k = 0; k + 1 < (size_t)intlen && d[k] == '0'; k++)
			;
		sa_buf_add(b, d + k, intlen - k);
	}
	if (dscale > 0) {
		sa_buf_addc(b, '.');
		for (; intlen < 0; intlen++, dscale--)
			sa_buf_addc(b, '0');
		sa_buf_add(b, d + intlen, dscale);
	}
	return 1;
}

/* The binary numeric at P as numeric_out writes it. */
static void
numeric_out(const unsigned char *p, struct sa_buf *b)
{
	int nd = p[0] << 8 | p[1], weight = (int16_t)(p[2] << 8 | p[3]);
	int sign = p[4] << 8 | p[5], dscale = p[6] << 8 | p[7], i, k, g;
	char digs[5];
	int started = 0;

	sa_buf_reset(b);
	if (sign == 0x4000 && nd > 0)
		sa_buf_addc(b, '-');
	for (i = 0; i <= weight; i++) {
		g = i < nd ? p[8 + 2 * i] << 8 | p[9 + 2 * i] : 0;
		snprintf(digs, sizeof(digs), started ? "%04d" : "%d", g);
		if (started || g != 0) {
			sa_buf_adds(b, digs);
			started = 1;
		}
	}
	if (!started)
		sa_buf_addc(b, '0');
	if (dscale > 0) {
		sa_buf_addc(b, '.');
		for (k = 0; k < dscale; k++) {
			int gi = weight + 1 + k / 4, pos = k % 4;

			g = gi >= 0 && gi < nd ?
			    p[8 + 2 * gi] << 8 | p[9 + 2 * gi] : 0;
			snprintf(digs, sizeof(digs), "%04d", g);
			sa_buf_addc(b, digs[pos]);
		}
	}
}

static void
check_numeric(const char *s, size_t len, int took)
{
	struct sa_buf got = { 0 };

	if (!took)
		return;
	numeric_text(s, len, &want);
	numeric_out((unsigned char *)out.s + 4, &got);
	FUZZ_CHECK(got.len == want.len && memcmp(got.s, want.s, got.len) == 0,
	    "numeric: not the value and scale of its text");
	sa_buf_free(&got);
}

/* Seconds since 2000-01-01 UTC of Y-M-D H:M:S by timegm, and whether
 * it names that very day. */
static int
civil(int y, int m, int d, int hh, int mi, int ss, int64_t *t)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d,
		.tm_hour = hh, .tm_min = mi, .tm_sec = ss };
	time_t u = timegm(&tm);

	*t = (int64_t)u - 946684800;
	return tm.tm_year == y - 1900 && tm.tm_mon == m - 1 && tm.tm_mday == d;
}

static void
check_time(int kind, const char *s, size_t len, int took)
{
	int y, m, d, hh = 0, mi = 0, ss = 0;
	int64_t t, us = 0;
	long off = 0;
	size_t i;
	char c = 0;

	if (!took)
		return;
	FUZZ_CHECK(len >= 10 && sscanf(s, "%4d-%2d-%2d", &y, &m, &d) == 3 &&
	    y >= 1 && civil(y, m, d, 0, 0, 0, &t),
	    "date: took a day that is not one");
	if (kind == BIN_DATE) {
		FUZZ_CHECK(len == 10 && (int32_t)get32((unsigned char *)out.s + 4)
		    == t / 86400, "date: not the day timegm counts");
		return;
	}
	FUZZ_CHECK(sscanf(s + 11, "%2d:%2d", &hh, &mi) == 2,
	    "timestamptz: took one without hours and minutes");
	i = 16;
	if (s[i] == ':') {
		ss = (s[17] - '0') * 10 + (s[18] - '0');
		i = 19;
		if (s[i] == '.') {
			int64_t scale = 100000;

			for (i++; s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
				us += (s[i] - '0') * scale;
		}
	}
	c = s[i];
	FUZZ_CHECK(c == 'Z' || c == '+' || c == '-',
	    "timestamptz: took one without a zone");
	if (c != 'Z') {
		off = ((s[i + 1] - '0') * 10 + (s[i + 2] - '0')) * 3600L;
		i += 3;
		if (i < len && s[i] == ':')
			i++;
		if (i < len)
			off += ((s[i] - '0') * 10 + (s[i + 1] - '0')) * 60L;
		if (c == '-')
			off = -off;
	}
	civil(y, m, d, hh, mi, ss, &t);
	FUZZ_CHECK((int64_t)get64((unsigned char *)out.s + 4) ==
	    (t - off) * 1000000 + us, "timestamptz: not the instant timegm "
	    "and its zone give");
}

static void
check_uuid(const char *s, size_t len, int took)
{
	static const char hex[] = "0123456789abcdef";
	char text[37];
	size_t i, k = 0;

	if (!took)
		return;
	FUZZ_CHECK(len == 36, "uuid: took text of another length");
	for (i = 0; i < 16; i++) {
		if (k == 8 || k == 13 || k == 18 || k == 23)
			text[k++] = '-';
		text[k++] = hex[(unsigned char)out.s[4 + i] >> 4];
		text[k++] = hex[(unsigned char)out.s[4 + i] & 15];
	}
	text[36] = '\0';
	FUZZ_CHECK(strncasecmp(text, s, 36) == 0, "uuid: other bytes");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int kinds[] = {
		BIN_BOOL, BIN_INT8, BIN_NUMERIC, BIN_DATE, BIN_TIMESTAMPTZ,
		BIN_UUID
	};
	static struct sa_buf text;
	const char *s;
	size_t len;
	int kind, took;

	if (size < 1)
		return 0;
	/* NUL-terminated, for the checks' sscanf. */
	sa_buf_reset(&text);
	sa_buf_add(&text, data + 1, size - 1);
	sa_buf_addc(&text, '\0');
	s = text.s;
	len = size - 1;
	kind = kinds[data[0] % (sizeof(kinds) / sizeof(kinds[0]))];
	sa_buf_reset(&out);
	took = bin_put(&out, kind, s, len);
	if (!took)
		out.len = 0;
	switch (kind) {
	case BIN_BOOL:
		FUZZ_CHECK(took == ((len == 4 && memcmp(s, "true", 4) == 0) ||
		    (len == 5 && memcmp(s, "false", 5) == 0)),
		    "bool: took other text than true or false");
		break;
	case BIN_INT8: check_int8(s, len, took); break;
	case BIN_NUMERIC: check_numeric(s, len, took); break;
	case BIN_DATE:
	case BIN_TIMESTAMPTZ: check_time(kind, s, len, took); break;
	case BIN_UUID: check_uuid(s, len, took); break;
	}
	return 0;
}
