/* read-tsv.c: records from TSV with a header, read as PostgreSQL COPY
 * text. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "reader.h"

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
		if (!reader_fill(r)) {
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
	if (*len >= SA_ABORT_MARKLEN &&
	    memcmp(p, SA_ABORT_MARK, SA_ABORT_MARKLEN) == 0) {
		reader_aborted(r, r->line, p + SA_ABORT_MARKLEN,
		    *len - SA_ABORT_MARKLEN);
		return NULL;	/* a chunk ends at it */
	}
	return p;
}

void
tsv_header(struct sa_reader *r)
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

int
tsv_next(struct sa_reader *r, struct sa_record *rec)
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
	if (!utf8_valid(p, len)) {
		snprintf(msg, sizeof(msg), "invalid UTF-8");
		goto bad;
	}
	if (memchr(p, '\0', len) != NULL) {
		snprintf(msg, sizeof(msg), "a NUL byte, which COPY text "
		    "cannot hold");
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
				    "a NUL character" : !utf8_valid(r->field.s,
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
