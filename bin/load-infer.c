/* load-infer.c: what type a value has, and how column types widen. */
#include <string.h>

#include "load-infer.h"

static const char *const sql_names[] = {
	"text", "boolean", "bigint", "numeric", "date", "timestamptz",
	"uuid", "jsonb", "text", "text"
};

const char *
ld_type_sql(enum ld_type t)
{
	return sql_names[t];
}

enum ld_type
ld_join(enum ld_type a, enum ld_type b)
{
	if (a == b || b == LD_NONE)
		return a;
	if (a == LD_NONE)
		return b;
	if (a == LD_OTHER || b == LD_OTHER)
		return LD_OTHER;
	if ((a == LD_BIGINT && b == LD_NUMERIC) ||
	    (a == LD_NUMERIC && b == LD_BIGINT))
		return LD_NUMERIC;
	if ((a == LD_DATE && b == LD_TIMESTAMPTZ) ||
	    (a == LD_TIMESTAMPTZ && b == LD_DATE))
		return LD_TIMESTAMPTZ;
	return LD_TEXT;
}

static int
isdig(char c)
{
	return c >= '0' && c <= '9';
}

int
ld_digits(const char *s, int n)
{
	int v = 0;

	while (n-- > 0) {
		if (!isdig(*s))
			return -1;
		v = v * 10 + (*s++ - '0');
	}
	return v;
}

enum ld_type
ld_number(const char *s, size_t len)
{
	size_t i = 0, n;

	if (len > 0 && s[0] == '-')
		i++;
	for (n = i; n < len; n++)
		if (!isdig(s[n]))
			return LD_NUMERIC;
	n = len - i;
	if (n == 0)
		return LD_NUMERIC;
	if (n < 19)
		return LD_BIGINT;
	if (n > 19)
		return LD_NUMERIC;
	/* Nineteen digits: compare with the limit, one more on the negative
	 * side. */
	return memcmp(s + i, i ? "9223372036854775808" :
	    "9223372036854775807", 19) <= 0 ? LD_BIGINT : LD_NUMERIC;
}

/* Is S/LEN a number in JSON's grammar? */
static int
json_number(const char *s, size_t len)
{
	size_t i = 0;

	if (i < len && s[i] == '-')
		i++;
	if (i >= len || !isdig(s[i]))
		return 0;
	if (s[i] == '0')
		i++;
	else
		while (i < len && isdig(s[i]))
			i++;
	if (i < len && s[i] == '.') {
		if (++i >= len || !isdig(s[i]))
			return 0;
		while (i < len && isdig(s[i]))
			i++;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= len || !isdig(s[i]))
			return 0;
		while (i < len && isdig(s[i]))
			i++;
	}
	return i == len;
}

int
ld_ymd(const char *s, int *y, int *m, int *d)
{
	static const int mdays[] = {
		31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	*y = ld_digits(s, 4), *m = ld_digits(s + 5, 2), *d = ld_digits(s + 8, 2);
	if (*y < 1 || *m < 1 || *m > 12 || *d < 1 || s[4] != '-' ||
	    s[7] != '-' || *d > mdays[*m - 1])
		return 0;
	if (*m == 2 && *d == 29)
		return *y % 4 == 0 && (*y % 100 != 0 || *y % 400 == 0);
	return 1;
}

static int
is_date(const char *s)
{
	int y, m, d;

	return ld_ymd(s, &y, &m, &d);
}

long
ld_zone(const char *s, size_t len)
{
	int h, m = 0;

	if (len == 1 && s[0] == 'Z')
		return 0;
	if (len < 3 || (s[0] != '+' && s[0] != '-') ||
	    (h = ld_digits(s + 1, 2)) < 0 || h > 15)
		return -1;
	if (len == 5)
		m = ld_digits(s + 3, 2);
	else if (len == 6)
		m = s[3] == ':' ? ld_digits(s + 4, 2) : -1;
	else if (len != 3)
		return -1;
	if (m < 0 || m > 59)
		return -1;
	return (s[0] == '-' ? -1 : 1) * (h * 3600L + m * 60);
}

/* YYYY-MM-DD[T ]HH:MM[:SS[.fff]][zone], as PostgreSQL reads it. */
static int
is_timestamp(const char *s, size_t len)
{
	size_t i;

	if (len < 16 || !is_date(s) || (s[10] != 'T' && s[10] != ' '))
		return 0;
	if (ld_digits(s + 11, 2) < 0 || ld_digits(s + 11, 2) > 23 || s[13] != ':' ||
	    ld_digits(s + 14, 2) < 0 || ld_digits(s + 14, 2) > 59)
		return 0;
	i = 16;
	if (i < len && s[i] == ':') {
		if (len < 19 || ld_digits(s + 17, 2) < 0 || ld_digits(s + 17, 2) > 59)
			return 0;
		i = 19;
		if (i < len && s[i] == '.') {
			if (++i >= len || !isdig(s[i]))
				return 0;
			while (i < len && isdig(s[i]))
				i++;
		}
	}
	return i == len || ld_zone(s + i, len - i) != -1;
}

static int
is_uuid(const char *s)
{
	int i;

	for (i = 0; i < 36; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return 0;
		} else if (!isdig(c) && !(c >= 'a' && c <= 'f') &&
		    !(c >= 'A' && c <= 'F'))
			return 0;
	}
	return 1;
}

enum ld_type
ld_string(const char *s, size_t len)
{
	if (len == 10 && is_date(s))
		return LD_DATE;
	if (len >= 16 && len <= 40 && isdig(s[0]) && is_timestamp(s, len))
		return LD_TIMESTAMPTZ;
	if (len == 36 && is_uuid(s))
		return LD_UUID;
	return LD_TEXT;
}

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Skips a JSON string at P (at its opening quote); NULL if invalid.
 * PostgreSQL checks the UTF-8 itself, and refuses \u0000 in jsonb. */
static const char *
skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '"')
			return p + 1;
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			if (++p >= end)
				return NULL;
			if (*p == 'u') {
				if (end - p < 5 || memcmp(p, "u0000", 5) == 0)
					return NULL;
				for (int i = 1; i <= 4; i++)
					if (!isdig(p[i]) &&
					    !(p[i] >= 'a' && p[i] <= 'f') &&
					    !(p[i] >= 'A' && p[i] <= 'F'))
						return NULL;
				p += 4;
			} else if (!strchr("\"\\/bfnrt", *p))
				return NULL;
		}
	}
	return NULL;
}

/* Is S/LEN one whole JSON value?  Nesting deeper than 256 levels is
 * left as text. */
static int
json_text(const char *s, size_t len)
{
	char stack[256];	/* '}' or ']' for each open container */
	int depth = 0;
	const char *p = s, *end = s + len, *q;

	for (;;) {
		/* A value. */
		p = skip_ws(p, end);
		if (p >= end)
			return 0;
		if (*p == '{' || *p == '[') {
			if (depth == (int)sizeof(stack))
				return 0;
			stack[depth++] = *p == '{' ? '}' : ']';
			p = skip_ws(p + 1, end);
			if (p < end && *p == stack[depth - 1]) {
				p++;
				depth--;
				goto after;
			}
			if (stack[depth - 1] == '}')
				goto key;
			continue;
		}
		if (*p == '"') {
			if ((p = skip_string(p, end)) == NULL)
				return 0;
		} else if (len - (p - s) >= 4 && memcmp(p, "true", 4) == 0)
			p += 4;
		else if (len - (p - s) >= 5 && memcmp(p, "false", 5) == 0)
			p += 5;
		else if (len - (p - s) >= 4 && memcmp(p, "null", 4) == 0)
			p += 4;
		else {
			for (q = p; q < end && (isdig(*q) || *q == '-' ||
			    *q == '+' || *q == '.' || *q == 'e' || *q == 'E');
			    q++)
				;
			if (q == p || !json_number(p, q - p))
				return 0;
			p = q;
		}
after:
		/* What follows a value. */
		p = skip_ws(p, end);
		if (depth == 0)
			return p == end;
		if (p >= end)
			return 0;
		if (*p == stack[depth - 1]) {
			p++;
			depth--;
			goto after;
		}
		if (*p != ',')
			return 0;
		p++;
		if (stack[depth - 1] == ']')
			continue;
key:
		p = skip_ws(p, end);
		if (p >= end || *p != '"' || (p = skip_string(p, end)) == NULL)
			return 0;
		p = skip_ws(p, end);
		if (p >= end || *p != ':')
			return 0;
		p++;
	}
}

enum ld_type
ld_tsv(const char *s, size_t len)
{
	if (len == 0)
		return LD_TEXT;
	if ((len == 4 && memcmp(s, "true", 4) == 0) ||
	    (len == 5 && memcmp(s, "false", 5) == 0))
		return LD_BOOL;
	if ((isdig(s[0]) || s[0] == '-') && json_number(s, len))
		return ld_number(s, len);
	if ((s[0] == '{' && s[len - 1] == '}') ||
	    (s[0] == '[' && s[len - 1] == ']'))
		return json_text(s, len) ? LD_JSONB : LD_TEXT;
	return ld_string(s, len);
}

enum ld_type
ld_from_pg(const char *t)
{
	static const struct {
		const char *name;
		enum ld_type type;
	} map[] = {
		{ "bool", LD_BOOL }, { "int2", LD_BIGINT },
		{ "int4", LD_BIGINT }, { "int8", LD_BIGINT },
		{ "numeric", LD_NUMERIC }, { "float4", LD_NUMERIC },
		{ "float8", LD_NUMERIC }, { "date", LD_DATE },
		{ "timestamptz", LD_TIMESTAMPTZ },
		{ "timestamp", LD_TIMESTAMPTZ }, { "uuid", LD_UUID },
		{ "jsonb", LD_JSONB }, { "json", LD_JSONB },
		{ "text", LD_TEXT }, { "varchar", LD_OTHER },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(t, map[i].name) == 0)
			return map[i].type;
	return LD_OTHER;
}
