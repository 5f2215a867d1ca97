/* join-merge.c: the merge join of inputs sorted by key (--sorted), in
 * memory for one right group at a time. */
#include <stdlib.h>
#include <string.h>

#include "join.h"

/* Compares key texts made by sa_fp_key, key by key, as bytes. */
static int
key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	const char *ae = a + alen, *be = b + blen;
	size_t x, y;
	int c;

	while (a < ae && b < be) {
		memcpy(&x, a, sizeof(x));
		memcpy(&y, b, sizeof(y));
		a += sizeof(x);
		b += sizeof(y);
		if ((c = memcmp(a, b, x < y ? x : y)) != 0)
			return c;
		if (x != y)
			return x < y ? -1 : 1;
		a += x;
		b += y;
	}
	return (a < ae) - (b < be);
}

struct side {
	struct sa_input *in;
	const char *label;
	char **names;
	struct sa_record rec;
	struct key k;
	int eof;
	struct sa_buf prev;	/* the last non-null key, for the order check */
	int have_prev;
};

/* Reads the next record of side S with its key; checks the order. */
static int
side_next(struct side *s)
{
	int c = 0;

	if (s->eof)
		return 0;
	if (sa_input_next(s->in, &s->rec) != SA_OK) {
		s->eof = 1;
		return 0;
	}
	key_of(s->rec.root, s->names, &s->k);
	if (s->k.null)
		return 1;
	if (s->have_prev && (c = key_cmp(s->prev.s, s->prev.len, s->k.text.s,
	    s->k.text.len)) > 0) {
		sa_out_flush();
		sa_die(EX_DATAERR, "%s:%ju: %s is not sorted by key (%s after "
		    "a greater key)", s->rec.file, s->rec.line, s->label,
		    key_desc(s->k.text.s, s->k.text.len));
	}
	/* A repeated left key, whether it matches or not. */
	if (s->have_prev && c == 0 && unique_left &&
	    strcmp(s->label, "LEFT") == 0)
		not_unique(s->rec.file, s->rec.line, s->k.text.s,
		    s->k.text.len, "LEFT");
	sa_buf_reset(&s->prev);
	sa_buf_add(&s->prev, s->k.text.s, s->k.text.len);
	s->have_prev = 1;
	return 1;
}

void
sorted_join(struct sa_input *rin, struct sa_input *lin, enum sa_format ofmt)
{
	struct side R = { rin, "RIGHT", NULL, { 0 }, { 0 }, 0, { 0 }, 0 };
	struct side L = { lin, "LEFT", NULL, { 0 }, { 0 }, 0, { 0 }, 0 };
	struct sa_fields lf = { 0 }, rf = { 0 }, tmp = { 0 };
	struct sa_buf group = { 0 }, gkey = { 0 };
	size_t *goff = NULL, ng = 0, capg = 0, i;
	uint64_t nleft = 0;
	int rok, lok, c, gmatched = 0;
	enum sa_format rfmt, lfmt;

	R.names = rkeys;
	L.names = lkeys;
	if ((rfmt = sa_input_format(rin)) == SA_FMT_TSV)
		schema_of(rin, NULL, &rschema, &nrschema);
	if ((lfmt = sa_input_format(lin)) == SA_FMT_TSV)
		schema_of(lin, NULL, &lschema, &nlschema);
	if (ofmt == SA_FMT_UNKNOWN)
		ofmt = output_format(lfmt, rfmt);
	rok = side_next(&R);
	lok = side_next(&L);
	schema_of(rin, rok ? R.rec.root : NULL, &rschema, &nrschema);
	schema_of(lin, lok ? L.rec.root : NULL, &lschema, &nlschema);
	for (i = 0; i < nlschema; i++)
		nameset_add(&lnames, lschema[i], strlen(lschema[i]));
	open_sink(ofmt, lfmt == SA_FMT_TSV && rfmt == SA_FMT_TSV);

	/* The right group: the right records of one key, packed. */
	for (;;) {
		/* Right records with a null key never match. */
		while (rok && R.k.null) {
			if (type == RIGHT || type == FULL) {
				sa_fields_of(&rf, R.rec.root);
				emit(NULL, &rf, 0, 0);
			}
			rok = side_next(&R);
		}
		/* Load the next group if the current one is done. */
		if (ng == 0 && rok) {
			sa_buf_reset(&group);
			sa_buf_reset(&gkey);
			sa_buf_add(&gkey, R.k.text.s, R.k.text.len);
			do {
				if (ng > 0 && unique_right)
					not_unique(R.rec.file, R.rec.line,
					    gkey.s, gkey.len, "RIGHT");
				if (ng == capg) {
					capg = capg ? capg * 2 : 16;
					goff = xrealloc(goff,
					    (capg + 1) * sizeof(*goff));
				}
				goff[ng++] = group.len;
				sa_fields_of(&tmp, R.rec.root);
				sa_fields_pack(&group, tmp.f, tmp.n);
				rok = side_next(&R);
			} while (rok && !R.k.null && key_cmp(R.k.text.s,
			    R.k.text.len, gkey.s, gkey.len) == 0);
			goff[ng] = group.len;
			gmatched = 0;
			nleft = 0;
		}
		if (!lok && ng == 0 && !rok)
			break;
		/* A left record with a null key matches nothing. */
		c = !lok ? 1 : L.k.null || ng == 0 ? -1 : key_cmp(L.k.text.s,
		    L.k.text.len, gkey.s, gkey.len);
		if (c < 0) {
			if (type == LEFT || type == FULL) {
				left_gen++;
				sa_fields_of(&lf, L.rec.root);
				emit(&lf, NULL, 0, 0);
			}
			lok = side_next(&L);
			continue;
		}
		if (c > 0) {
			/* The group is done. */
			if (!gmatched && (type == RIGHT || type == FULL))
				for (i = 0; i < ng; i++) {
					sa_fields_unpack(&rf, group.s +
					    goff[i], goff[i + 1] - goff[i]);
					emit(NULL, &rf, 0, 0);
				}
			ng = 0;
			continue;
		}
		/* Equal keys: every pair. */
		nleft++;
		if (nleft > 1 && unique_left)
			not_unique(L.rec.file, L.rec.line, gkey.s, gkey.len,
			    "LEFT");
		if (max_fanout > 0 && nleft * ng > max_fanout) {
			sa_out_flush();
			sa_die(EX_DATAERR, "%s:%ju: key %s would produce more "
			    "than %llu rows (--max-fanout)", L.rec.file,
			    L.rec.line, key_desc(gkey.s, gkey.len),
			    max_fanout);
		}
		left_gen++;
		sa_fields_of(&lf, L.rec.root);
		for (i = 0; i < ng; i++) {
			sa_fields_unpack(&rf, group.s + goff[i],
			    goff[i + 1] - goff[i]);
			emit(&lf, &rf, 0, 0);
		}
		gmatched = 1;
		lok = side_next(&L);
	}
	sa_fields_free(&lf);
	sa_fields_free(&rf);
	sa_fields_free(&tmp);
	sa_buf_free(&group);
	sa_buf_free(&gkey);
	free(goff);
}
