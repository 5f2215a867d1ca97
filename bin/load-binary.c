/*
 * load-binary.c: values in COPY's binary format.
 *
 * PostgreSQL reads COPY text one byte at a time, and that parsing is most
 * of what the server spends on a load.  So sa-load sends binary when it can
 * say, for every column of the COPY, exactly what the server would have
 * made of the text: bool, bigint, numeric, date, timestamptz with its zone
 * written out, uuid, jsonb and text, and the values the type inference of
 * load-infer.c gives those types.  Anything else (a column of another type,
 * a timestamp without a zone, which the session's time zone would place,
 * more than six digits of a second, which the server rounds) is refused
 * here, and the load goes on in COPY text (load-copy.c).
 */
#include <endian.h>
#include <string.h>

#include "load.h"

/* Appends the N bytes at P, made in network byte order by the callers. */
static inline void
put_be(struct sa_buf *b, const void *p, size_t n)
{
	sa_buf_grow(b, n);
	memcpy(b->s + b->len, p, n);
	b->len += n;
}

static void
put16(struct sa_buf *b, uint16_t v)
{
	v = htobe16(v);
	put_be(b, &v, 2);
}

static void
put32(struct sa_buf *b, uint32_t v)
{
	v = htobe32(v);
	put_be(b, &v, 4);
}

static void
put64(struct sa_buf *b, uint64_t v)
{
	v = htobe64(v);
	put_be(b, &v, 8);
}

int
bin_kind(const char *typname)
{
	static const char *const names[] = {
		[BIN_TEXT] = "text", [BIN_BOOL] = "bool", [BIN_INT8] = "int8",
		[BIN_NUMERIC] = "numeric", [BIN_DATE] = "date",
		[BIN_TIMESTAMPTZ] = "timestamptz", [BIN_UUID] = "uuid",
		[BIN_JSONB] = "jsonb",
	};
	int k;

	for (k = BIN_TEXT; typname != NULL && k <= BIN_JSONB; k++)
		if (strcmp(typname, names[k]) == 0)
			return k;
	return BIN_NONE;
}

int
bin_kind_of(enum ld_type t)
{
	switch (t) {
	case LD_BOOL: return BIN_BOOL;
	case LD_BIGINT: return BIN_INT8;
	case LD_NUMERIC: return BIN_NUMERIC;
	case LD_DATE: return BIN_DATE;
	case LD_TIMESTAMPTZ: return BIN_TIMESTAMPTZ;
	case LD_UUID: return BIN_UUID;
	case LD_JSONB: return BIN_JSONB;
	case LD_NONE: case LD_TEXT: return BIN_TEXT;
	case LD_OTHER: break;
	}
	return BIN_NONE;
}

void
bin_header(struct sa_buf *b)
{
	sa_buf_add(b, "PGCOPY\n\377\r\n\0", 11);
	put32(b, 0);	/* flags */
	put32(b, 0);	/* header extension */
}

void
bin_trailer(struct sa_buf *b)
{
	put16(b, 0xffff);
}

static int
dig(char c)
{
	return c >= '0' && c <= '9';
}

static int
put_int8(struct sa_buf *b, const char *s, size_t len)
{
	uint64_t v = 0, max = INT64_MAX;
	size_t i = 0;
	int neg = len > 0 && s[0] == '-';

	if (neg) {
		i++;
		max++;
	}
	if (i == len || len - i > 19)
		return 0;
	for (; i < len; i++) {
		if (!dig(s[i]))
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return 0;
	put32(b, 8);
	put64(b, neg ? -v : v);
	return 1;
}

/*
 * A JSON number as numeric: base 10 000 digits, the weight of the first,
 * and the display scale numeric_in would give it (the digits after the
 * point, less the exponent, at least 0).  Exponents beyond ±1000 and more
 * than 1000 digits are left to the server's own reading.
 */
static int
put_numeric(struct sa_buf *b, const char *s, size_t len)
{
	char d[1000];
	int16_t g[256];
	size_t i = 0, n = 0, nfrac = 0;
	int neg = 0, exp = 0, esign = 1, p, top, low, w, k, dscale;

	if (i < len && s[i] == '-')
		neg = 1, i++;
	if (i == len || !dig(s[i]))
		return 0;
	for (; i < len && dig(s[i]); i++)
		if (n < sizeof(d))
			d[n++] = s[i];
		else
			return 0;
	if (i < len && s[i] == '.') {
		if (++i == len || !dig(s[i]))
			return 0;
		for (; i < len && dig(s[i]); i++, nfrac++)
			if (n < sizeof(d))
				d[n++] = s[i];
			else
				return 0;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		if (++i < len && (s[i] == '+' || s[i] == '-'))
			esign = s[i++] == '-' ? -1 : 1;
		if (i == len || !dig(s[i]))
			return 0;
		for (; i < len && dig(s[i]); i++)
			if ((exp = exp * 10 + (s[i] - '0')) > 1000)
				return 0;
	}
	if (i != len)
		return 0;
	exp *= esign;
	/* The value is the digits D times 10^P. */
	p = exp - (int)nfrac;
	dscale = p < 0 ? -p : 0;
	for (i = 0; i < n && d[i] == '0'; i++)
		;
	memmove(d, d + i, n - i);
	n -= i;
	if (n == 0) {
		put32(b, 8);
		put16(b, 0);
		put16(b, 0);
		put16(b, 0);
		put16(b, dscale);
		return 1;
	}
	/* Digit j of D stands at 10^(P + n - 1 - j); group k of base
	 * 10 000 holds 10^(4k) to 10^(4k + 3). */
	top = p + (int)n - 1;
	w = top >= 0 ? top / 4 : -((-top + 3) / 4);
	low = p >= 0 ? p / 4 : -((-p + 3) / 4);
	memset(g, 0, sizeof(g));
	for (i = 0; i < n; i++) {
		int x = p + (int)(n - 1 - i);
		int gi = x >= 0 ? x / 4 : -((-x + 3) / 4);
		static const int pow10[] = { 1, 10, 100, 1000 };

		g[w - gi] += (d[i] - '0') * pow10[x - gi * 4];
	}
	k = w - low + 1;
	put32(b, 8 + 2 * k);
	put16(b, k);
	put16(b, (unsigned)w & 0xffff);
	put16(b, neg ? 0x4000 : 0);
	put16(b, dscale);
	for (i = 0; i < (size_t)k; i++)
		put16(b, g[i]);
	return 1;
}

/* Days from 2000-01-01 to Y-M-D of the proleptic Gregorian calendar. */
static long
days(int y, int m, int d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468 - 10957;
}

static int
put_date(struct sa_buf *b, const char *s, size_t len)
{
	int y, m, d;

	if (len != 10 || !ld_ymd(s, &y, &m, &d))
		return 0;
	put32(b, 4);
	put32(b, (uint32_t)days(y, m, d));
	return 1;
}

/* YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]] and a zone, as microseconds since
 * 2000-01-01 UTC. */
static int
put_timestamptz(struct sa_buf *b, const char *s, size_t len)
{
	int y, m, d, hh, mi, ss = 0;
	long us = 0, scale = 100000, off;
	size_t i = 16;

	if (len < 17 || !ld_ymd(s, &y, &m, &d) || (s[10] != 'T' &&
	    s[10] != ' ') || s[13] != ':')
		return 0;
	hh = ld_digits(s + 11, 2), mi = ld_digits(s + 14, 2);
	if (hh < 0 || hh > 23 || mi < 0 || mi > 59)
		return 0;
	if (s[i] == ':') {
		if (len < 20 || (ss = ld_digits(s + 17, 2)) < 0 || ss > 59)
			return 0;
		i = 19;
		if (i < len && s[i] == '.') {
			if (++i == len || !dig(s[i]))
				return 0;
			for (; i < len && dig(s[i]); i++, scale /= 10) {
				if (scale == 0)
					return 0;	/* the server rounds */
				us += (s[i] - '0') * scale;
			}
		}
	}
	/* Without a zone the session's would apply. */
	if (i == len || (off = ld_zone(s + i, len - i)) == -1)
		return 0;
	put32(b, 8);
	put64(b, (uint64_t)(((int64_t)days(y, m, d) * 86400 + hh * 3600 +
	    mi * 60 + ss - off) * 1000000 + us));
	return 1;
}

static int
hex(char c)
{
	return dig(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	    c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The canonical form only: 8-4-4-4-12 hex digits. */
static int
put_uuid(struct sa_buf *b, const char *s, size_t len)
{
	unsigned char u[16] = { 0 };
	int i, n = 0, h;

	if (len != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
			continue;
		}
		if ((h = hex(s[i])) < 0)
			return 0;
		u[n / 2] |= n % 2 ? h : h << 4;
		n++;
	}
	put32(b, 16);
	sa_buf_add(b, u, 16);
	return 1;
}

int
bin_put(struct sa_buf *b, int kind, const char *s, size_t len)
{
	switch (kind) {
	case BIN_TEXT:
		bin_put_raw(b, s, len);
		return 1;
	case BIN_BOOL:
		if ((len != 4 || memcmp(s, "true", 4) != 0) &&
		    (len != 5 || memcmp(s, "false", 5) != 0))
			return 0;
		put32(b, 1);
		sa_buf_addc(b, len == 4);
		return 1;
	case BIN_INT8:
		return put_int8(b, s, len);
	case BIN_NUMERIC:
		return put_numeric(b, s, len);
	case BIN_DATE:
		return put_date(b, s, len);
	case BIN_TIMESTAMPTZ:
		return put_timestamptz(b, s, len);
	case BIN_UUID:
		return put_uuid(b, s, len);
	case BIN_JSONB:
		put32(b, len + 1);
		sa_buf_addc(b, 1);	/* jsonb's version */
		sa_buf_add(b, s, len);
		return 1;
	}
	return 0;
}

void
bin_put_int8(struct sa_buf *b, int64_t v)
{
	put32(b, 8);
	put64(b, (uint64_t)v);
}

void
bin_put_raw(struct sa_buf *b, const void *p, uint32_t n)
{
	put32(b, n);
	sa_buf_add(b, p, n);
}

void
bin_put_null(struct sa_buf *b)
{
	put32(b, UINT32_MAX);
}

void
bin_put_count(struct sa_buf *b, unsigned n)
{
	put16(b, n);
}
