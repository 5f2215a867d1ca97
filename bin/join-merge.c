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
	char ***schema;		/* taken from the first record, in shard or not */
	size_t *nschema;
	struct sa_record rec;
	struct key k;
	int eof;
	struct sa_buf prev;	/* the last non-null key, for the order check */
	int have_prev;
};

static void check_order(struct side *);

/* Reads the next record of side S in the shard, with its key; checks the
 * order of every record. */
static int
side_next(struct side *s)
{
	do {
		if (s->eof)
			return 0;
		if (sa_input_next(s->in, &s->rec) != SA_OK) {
			s->eof = 1;
			return 0;
		}
		schema_of(s->in, s->rec.root, s->schema, s->nschema);
		key_of(s->rec.root, s->names, &s->k);
		check_order(s);
	} while (!key_in_shard(&s->k));
	return 1;
}

/* The order check of side S's record, and the repeated left key. */
static void
check_order(struct side *s)
{
	int c = 0;

	if (s->k.null)
		return;
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
}

/* The right group: the right records of one key, packed in memory, and
 * in a spill stream once they outgrow the budget. */
struct group {
	struct sa_buf buf, key;
	size_t *off, n, cap;	/* where each record starts in BUF */
	FILE *f;		/* all of them, past the budget */
	struct sa_buf rbuf;	/* the last one read back from F */
};

static void
group_start(struct group *g, const struct key *k)
{
	sa_buf_reset(&g->buf);
	sa_buf_reset(&g->key);
	sa_buf_add(&g->key, k->text.s, k->text.len);
	g->n = 0;
	if (g->f != NULL)
		fclose(g->f);
	g->f = NULL;
}

static void
group_spill(struct group *g, const char *p, size_t len)
{
	struct sa_spill_rec rec = { { 0, 0 }, 0, 0, NULL, p, 0, len };

	sa_spill_write(g->f, &rec);
}

static void
group_add(struct group *g, const struct sa_fields *fs)
{
	size_t i;

	if (g->f != NULL) {
		sa_buf_reset(&g->buf);
		sa_fields_pack(&g->buf, fs->f, fs->n);
		group_spill(g, g->buf.s, g->buf.len);
		g->n++;
		return;
	}
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 16;
		g->off = xrealloc(g->off, (g->cap + 1) * sizeof(*g->off));
	}
	g->off[g->n++] = g->buf.len;
	sa_fields_pack(&g->buf, fs->f, fs->n);
	g->off[g->n] = g->buf.len;
	if (g->buf.len + g->cap * sizeof(*g->off) <= budget)
		return;
	g->f = sa_spill_stream();
	for (i = 0; i < g->n; i++)
		group_spill(g, g->buf.s + g->off[i], g->off[i + 1] - g->off[i]);
	sa_buf_free(&g->buf);
	free(g->off);
	g->off = NULL;
	g->cap = 0;
}

/* Sets RF to record I of the group; I goes from 0 up, one at a time. */
static void
group_get(struct group *g, size_t i, struct sa_fields *rf)
{
	struct sa_spill_rec rec;

	if (g->f == NULL) {
		sa_fields_unpack(rf, g->buf.s + g->off[i],
		    g->off[i + 1] - g->off[i]);
		return;
	}
	if (i == 0)
		sa_spill_rewind(g->f);
	if (!sa_spill_read(g->f, &rec, &g->rbuf))
		sa_die(EX_SOFTWARE, "a temporary file is short");
	sa_fields_unpack(rf, rec.q, rec.qlen);
}

void
sorted_join(struct sa_input *rin, struct sa_input *lin, enum sa_format ofmt)
{
	/* Static, so that they are still reachable when a check exits. */
	static struct side R, L;
	static struct sa_fields lf, rf, tmp;
	static struct group g;
	size_t i;
	uint64_t nleft = 0;
	int rok, lok, c, gmatched = 0;
	enum sa_format rfmt, lfmt;

	R.in = rin;
	R.label = "RIGHT";
	R.names = rkeys;
	R.schema = &rschema;
	R.nschema = &nrschema;
	L.in = lin;
	L.label = "LEFT";
	L.names = lkeys;
	L.schema = &lschema;
	L.nschema = &nlschema;
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

	for (;;) {
		/* Right records with a null key never match. */
		while (rok && R.k.null) {
			if (type == RIGHT || type == FULL) {
				right_fields_of(&rf, R.rec.root);
				emit(NULL, &rf, 0, 0);
			}
			rok = side_next(&R);
		}
		/* Load the next group if the current one is done. */
		if (g.n == 0 && rok) {
			group_start(&g, &R.k);
			do {
				if (g.n > 0 && unique_right)
					not_unique(R.rec.file, R.rec.line,
					    g.key.s, g.key.len, "RIGHT");
				right_fields_of(&tmp, R.rec.root);
				group_add(&g, &tmp);
				rok = side_next(&R);
			} while (rok && !R.k.null && key_cmp(R.k.text.s,
			    R.k.text.len, g.key.s, g.key.len) == 0);
			gmatched = 0;
			nleft = 0;
		}
		if (!lok && g.n == 0 && !rok)
			break;
		/* A left record with a null key matches nothing. */
		c = !lok ? 1 : L.k.null || g.n == 0 ? -1 :
		    key_cmp(L.k.text.s, L.k.text.len, g.key.s, g.key.len);
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
				for (i = 0; i < g.n; i++) {
					group_get(&g, i, &rf);
					emit(NULL, &rf, 0, 0);
				}
			g.n = 0;
			continue;
		}
		/* Equal keys: every pair. */
		nleft++;
		if (nleft > 1 && unique_left)
			not_unique(L.rec.file, L.rec.line, g.key.s, g.key.len,
			    "LEFT");
		if (max_fanout > 0 && nleft * g.n > max_fanout) {
			sa_out_flush();
			sa_die(EX_DATAERR, "%s:%ju: key %s would produce more "
			    "than %llu rows (--max-fanout)", L.rec.file,
			    L.rec.line, key_desc(g.key.s, g.key.len),
			    max_fanout);
		}
		left_gen++;
		sa_fields_of(&lf, L.rec.root);
		for (i = 0; i < g.n; i++) {
			group_get(&g, i, &rf);
			emit(&lf, &rf, 0, 0);
		}
		gmatched = 1;
		lok = side_next(&L);
	}
	sa_fields_free(&lf);
	sa_fields_free(&rf);
	sa_fields_free(&tmp);
	if (g.f != NULL)
		fclose(g.f);
	sa_buf_free(&g.buf);
	sa_buf_free(&g.key);
	sa_buf_free(&g.rbuf);
	free(g.off);
}
