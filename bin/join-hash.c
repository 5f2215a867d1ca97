/* join-hash.c: the hash join, RIGHT in a table in memory and LEFT
 * streaming past it, handing both to join-grace.c past the budget. */
#include <string.h>

#include "join.h"

/* The hash table of right records. */

void
table_init(struct table *t, size_t cap)
{
	memset(t, 0, sizeof(*t));
	t->cap = cap;
	t->idx = sa_fptab_new(sizeof(struct bucket), cap);
	t->a = sa_arena_new();
}

void
table_free(struct table *t)
{
	sa_fptab_free(t->idx);
	sa_arena_free(t->a);
	memset(t, 0, sizeof(*t));
}

/* Adds a right record; returns 0 if it does not fit in the budget. */
int
table_add(struct table *t, const struct key *k, uint64_t rseq,
    uintmax_t line, const char *fields, size_t flen)
{
	struct rrec *r;
	struct bucket *b = NULL;
	size_t need = sizeof(*r) + k->text.len + flen;
	int isnew;

	if (k->null && (type == INNER || type == LEFT))
		return 1;
	/* The first record always fits, however large. */
	if (t->cap && t->first != NULL && sa_arena_used(t->a) + need +
	    sa_fptab_bytes(t->idx) > t->cap)
		return 0;
	if (!k->null) {
		if ((b = sa_fptab_get(t->idx, k->fp, &isnew)) == NULL)
			return 0;
		if (unique_right && !isnew && b->first->klen == k->text.len &&
		    memcmp(b->first->data, k->text.s, k->text.len) == 0)
			not_unique(rname, line, k->text.s, k->text.len,
			    "RIGHT");
	}
	r = sa_arena_alloc(t->a, need);
	memset(r, 0, sizeof(*r));
	r->rseq = rseq;
	r->line = line;
	r->klen = k->text.len;
	r->flen = flen;
	r->nullkey = k->null;
	memcpy(r->data, k->text.s, k->text.len);
	memcpy(r->data + k->text.len, fields, flen);
	if (b != NULL) {
		if (b->last != NULL)
			b->last->next = r;
		else
			b->first = r;
		b->last = r;
		b->nright++;
	}
	if (t->last != NULL)
		t->last->onext = r;
	else
		t->first = r;
	t->last = r;
	return 1;
}

__thread struct sa_fptab *lseen;	/* left keys, for --validate 1:m, 1:1 */
static __thread struct sa_parts *lspill;	/* the left keys past it */
#define MARKER 1		/* in lspill: a key already in lseen */

static void
write_marker(struct sa_fp fp, void *payload, void *arg)
{
	struct sa_spill_rec rec = { fp, 0, MARKER, NULL, NULL, 0, 0 };

	(void)payload;
	sa_parts_write(arg, &rec);
}

/* Records a left key for the uniqueness check: in memory while it fits,
 * then in hash partitions that check_left_keys() reads at the end. */
static void
see_left_key(const struct key *k, const char *file, uintmax_t line)
{
	struct sa_spill_rec rec = { k->fp, 0, 0, NULL, NULL, 0, 0 };
	int isnew;

	if (lspill == NULL) {
		if (sa_fptab_get(lseen, k->fp, &isnew) != NULL) {
			if (!isnew)
				not_unique(file, line, k->text.s, k->text.len,
				    "LEFT");
			return;
		}
		lspill = sa_parts_new(0);
		sa_fptab_each(lseen, write_marker, lspill);
		sa_fptab_free(lseen);
		lseen = NULL;
	}
	rec.b = (uint64_t)line << 1;
	rec.p = k->text.s;
	rec.plen = k->text.len;
	sa_parts_write(lspill, &rec);
}

static void
check_left_keys(void)
{
	struct sa_spill_rec rec;
	struct sa_buf buf = { 0 };
	/* Static, so that it is still reachable when not_unique() exits. */
	static struct sa_fptab *t;
	unsigned i;
	int isnew;

	if (lspill == NULL)
		return;
	for (i = 0; i < lspill->n; i++) {
		if (lspill->f[i] == NULL)
			continue;
		t = sa_fptab_new(0, 0);
		sa_spill_rewind(lspill->f[i]);
		while (sa_spill_read(lspill->f[i], &rec, &buf)) {
			sa_fptab_get(t, rec.fp, &isnew);
			if (!isnew && rec.b != MARKER)
				not_unique(lname, rec.b >> 1, rec.p,
				    rec.plen, "LEFT");
		}
		sa_fptab_free(t);
	}
	sa_parts_free(lspill);
	lspill = NULL;
	sa_buf_free(&buf);
}

/* Emits the rows of left fields LF with the right records of key K in
 * bucket B (HOW & 1; RF is the caller's scratch), marks those records
 * matched (HOW & 2); returns whether there were any. */
int
matches(struct bucket *b, const struct key *k, const struct sa_fields *lf,
    uint64_t lseq, int how, struct sa_fields *rf)
{
	struct rrec *r;
	int matched = 0;

	for (r = b->first; r != NULL; r = r->next) {
		if (r->klen != k->text.len ||
		    memcmp(r->data, k->text.s, r->klen) != 0)
			continue;
		if (how & 1) {
			sa_fields_unpack(rf, r->data + r->klen, r->flen);
			emit(lf, rf, lseq, r->rseq);
		}
		if (how & 2)
			r->matched = 1;
		matched = 1;
	}
	return matched;
}

/* The right fields of a match, unpacked: each thread's. */
static __thread struct sa_fields rf;

void
probe_thread_done(void)
{
	sa_fields_free(&rf);
	memset(&rf, 0, sizeof(rf));
}

/* Joins one left record with the table. */
void
probe(struct table *t, const struct key *k, const struct sa_fields *lf,
    uint64_t lseq, const char *file, uintmax_t line)
{
	struct bucket *b = NULL;
	int matched = 0;

	left_gen++;
	if (!k->null) {
		/* Unless a block join reads this left row again. */
		if (lseen != NULL || lspill != NULL)
			see_left_key(k, file, line);
		b = sa_fptab_find(t->idx, k->fp);
	}
	if (b != NULL) {
		b->nleft++;
		check_fanout(b, file, line, k->text.s, k->text.len);
		matched = matches(b, k, lf, lseq, 3, &rf);
	}
	if (!matched && (type == LEFT || type == FULL))
		emit(lf, NULL, lseq, 0);
}

void
table_rest(struct table *t)
{
	struct rrec *r;

	if (type != RIGHT && type != FULL)
		return;
	for (r = t->first; r != NULL; r = r->onext)
		if (!r->matched) {
			sa_fields_unpack(&rf, r->data + r->klen, r->flen);
			emit(NULL, &rf, NO_LEFT, r->rseq);
		}
}

/* The hash join's state, the main thread's. */
static struct table rtab;		/* RIGHT, while it fits */
static struct sa_parts *rp, *lp;	/* both sides, once it does not */
static uint64_t rseq, lseq;
static enum sa_format out_fmt;
static int both_tsv;

/* For workers: the right records of key K, or NULL; and whether RIGHT
 * spilled (then the grace join does the joining). */
struct bucket *
right_bucket(const struct key *k)
{
	return rp == NULL ? sa_fptab_find(rtab.idx, k->fp) : NULL;
}

int
right_spilled(void)
{
	return rp != NULL;
}

/* Makes the left columns of FIRST, LEFT's first good record (or of its
 * TSV header, or none), and the sink: once. */
void
left_schema(struct sa_input *lin, const struct sa_val *first)
{
	size_t i;

	if (sink != NULL)
		return;
	schema_of(lin, first, &lschema, &nlschema);
	for (i = 0; i < nlschema; i++)
		nameset_add(&lnames, lschema[i], strlen(lschema[i]));
	open_sink(out_fmt, both_tsv);
}

/* A left record with key K and fields FS at LINE of FILE, in input order:
 * joined with the table, or spilled past the budget. */
void
left_fields(const struct key *k, const struct sa_fields *fs, const char *file,
    uintmax_t line)
{
	static struct sa_buf packed;

	lseq++;
	if (rp == NULL) {
		probe(&rtab, k, fs, lseq, file, line);
		return;
	}
	if (lp == NULL)
		lp = sa_parts_new(0);
	sa_buf_reset(&packed);
	sa_fields_pack(&packed, fs->f, fs->n);
	spill_row(lp, k, lseq, line, &packed);
}

/* --threads: a left record a worker joined, into NROWS rows of LEN bytes
 * at ROWS; what probe() does besides, in input order. */
void
left_joined(const struct key *k, struct bucket *b, const char *rows,
    size_t len, uint32_t nrows, uintmax_t line)
{
	lseq++;
	if (!k->null && (lseen != NULL || lspill != NULL))
		see_left_key(k, lname, line);
	if (b != NULL) {
		b->nleft++;
		check_fanout(b, lname, line, k->text.s, k->text.len);
		if (type == RIGHT || type == FULL)
			matches(b, k, NULL, 0, 2, NULL);
	}
	sa_stats.out += nrows;
	if (len > 0)
		sa_sink_put(sink, rows, len);
}

/* The columns of RIGHT: of FIRST, its first good record, or of its TSV
 * header (or none). */
void
right_schema(struct sa_input *rin, const struct sa_val *first)
{
	schema_of(rin, first, &rschema, &nrschema);
}

/* A right record with key K and fields FS at LINE, in input order: into
 * the table while it fits, then to partitions. */
void
right_fields(const struct key *k, const struct sa_fields *fs, uintmax_t line)
{
	static struct sa_buf packed;

	sa_buf_reset(&packed);
	sa_fields_pack(&packed, fs->f, fs->n);
	rseq++;
	if (rp == NULL && table_add(&rtab, k, rseq, line, packed.s,
	    packed.len))
		return;
	if (rp == NULL) {
		/* Past the budget: what is in memory goes first. */
		rp = sa_parts_new(0);
		spill_table(&rtab, rp);
		table_free(&rtab);
	}
	if (k->null && (type == INNER || type == LEFT))
		return;
	spill_row(rp, k, rseq, line, &packed);
}

/* --threads 1, and RIGHT that is not line-delimited. */
static void
right_one_thread(struct sa_input *rin, void *arg)
{
	static struct sa_fields fs;
	static struct key k;
	struct sa_record rec;

	(void)arg;
	while (sa_input_next(rin, &rec) == SA_OK) {
		if (rschema == NULL)
			right_schema(rin, rec.root);
		key_of(rec.root, rkeys, &k);
		if (!key_in_shard(&k))
			continue;
		right_fields_of(&fs, rec.root);
		right_fields(&k, &fs, rec.line);
	}
}

/* --threads 1, and LEFT that is not line-delimited. */
static void
left_one_thread(struct sa_input *lin, void *arg)
{
	static struct sa_fields fs;
	static struct key k;
	struct sa_record rec;
	int st;

	(void)arg;
	while ((st = sa_input_next(lin, &rec)) == SA_OK || sink == NULL) {
		left_schema(lin, st == SA_OK ? rec.root : NULL);
		if (st != SA_OK)
			break;
		key_of(rec.root, lkeys, &k);
		if (!key_in_shard(&k))
			continue;
		sa_fields_of(&fs, rec.root);
		left_fields(&k, &fs, rec.file, rec.line);
	}
}

/* Hash join: RIGHT in memory, spilling to partitions past the budget. */
void
hash_join(struct sa_input *rin, struct sa_input *lin, enum sa_format ofmt)
{
	enum sa_format rfmt, lfmt;

	table_init(&rtab, budget);
	/* A TSV header is taken now: the reader is gone after the last row. */
	if ((rfmt = sa_input_format(rin)) == SA_FMT_TSV)
		schema_of(rin, NULL, &rschema, &nrschema);
	build_right(rin, right_one_thread);
	schema_of(rin, NULL, &rschema, &nrschema);
	if (rin->status != 0 && rin->status > lin->status)
		lin->status = rin->status;

	if ((lfmt = sa_input_format(lin)) == SA_FMT_TSV)
		schema_of(lin, NULL, &lschema, &nlschema);
	out_fmt = ofmt != SA_FMT_UNKNOWN ? ofmt : output_format(lfmt, rfmt);
	both_tsv = lfmt == SA_FMT_TSV && rfmt == SA_FMT_TSV;
	if (unique_left && rp == NULL) {
		size_t used = sa_arena_used(rtab.a) + sa_fptab_bytes(rtab.idx);

		lseen = sa_fptab_new(0, budget > used + (1 << 20) ?
		    budget - used : 1 << 20);
	}
	probe_left(lin, left_one_thread);
	left_schema(lin, NULL);
	if (rp == NULL) {
		check_left_keys();
		table_rest(&rtab);
		table_free(&rtab);
	} else {
		sa_fptab_free(lseen);
		lseen = NULL;
		grace_join(rp, lp);
	}
	sa_fptab_free(lseen);
}
