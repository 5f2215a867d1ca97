/*
 * sa-join: join two record streams on keys, with SQL semantics.
 *
 * The RIGHT input is hashed in memory and the LEFT input streams past it.
 * When RIGHT outgrows --memory, both sides go to hash partitions (a grace
 * hash join); every output row carries the input positions of its left
 * and right records, and the partitions' rows are merged by them, so the
 * rows come out in the same order whatever the budget: left input order,
 * matches in right input order, then the unmatched right records.
 * --sorted is a merge join over inputs sorted by key, in constant memory.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sa.h"
#include "spill.h"

enum { INNER, LEFT, RIGHT, FULL };
enum { OPT_TYPE = 0x2000, OPT_SUFFIX, OPT_VALIDATE, OPT_MAX_FANOUT,
	OPT_SORTED };
#define NO_LEFT UINT64_MAX	/* the left position of right-only rows */
#define NULLKEY 1		/* in spill records: B is NULLKEY | line << 1 */

/* A right record in memory. */
struct rrec {
	struct rrec *next;	/* of the same fingerprint */
	struct rrec *onext;	/* in input order */
	uint64_t rseq;
	uintmax_t line;
	uint32_t klen, flen;
	unsigned char matched, nullkey;
	char data[];		/* key text, then packed fields */
};

struct bucket {
	struct rrec *first, *last;
	uint64_t nright, nleft;
};

struct table {
	struct sa_fptab *idx;
	struct sa_arena *a;
	struct rrec *first, *last;
	size_t cap;
};

/* A key value, from a record: its fingerprint and its text. */
struct key {
	int null;
	struct sa_fp fp;
	struct sa_buf text;
};

static int type = INNER;
static char **lkeys, **rkeys;
static size_t nkeys;
static const char *suffix = "_right";
static int unique_left, unique_right;
static const char *validate;
static unsigned long long max_fanout;
static size_t budget;
static const char *rname, *lname;
static struct sa_sink *sink;

/* Column names of each side: the TSV header, or the first record's. */
static char **lschema, **rschema;
static size_t nlschema, nrschema;

static FILE *emit_to;		/* spill file of output rows, or NULL */
static struct sa_buf line;

static void
usage(void)
{
	printf("usage: sa-join -k KEY[,KEY...] [--type inner|left|right|full] "
	    "[--suffix S] [--validate 1:1|1:m|m:1] [--max-fanout N] "
	    "[-m SIZE] [--sorted] [-tj] [--rejects FILE] [--stats] [--quiet] "
	    "[--metrics FILE] [--metrics-label NAME=VALUE] RIGHT [LEFT]\n"
	    "\n"
	    "Join the records of LEFT (default stdin) with those of RIGHT.\n"
	    "\n"
	    "  -k, --key KEY[,KEY...]  join columns; LEFTNAME=RIGHTNAME when "
	    "names differ\n"
	    "      --type TYPE         inner (default), left, right or full\n"
	    "      --suffix S          for right columns whose names clash "
	    "(default _right)\n"
	    "      --validate REL      1:1, 1:m or m:1: stop if a side declared "
	    "unique is not\n"
	    "      --max-fanout N      stop when one key would give more than N "
	    "rows\n"
	    "  -m, --memory SIZE       memory for RIGHT before spilling "
	    "(default 256M)\n"
	    "      --sorted            both inputs are sorted by key: merge "
	    "join\n"
	    "  -t, --tsv               write TSV (PostgreSQL COPY text)\n"
	    "  -j, --ndjson            write NDJSON (also --json)\n"
	    "      --rejects FILE      write bad records to FILE and go on\n"
	    "      --stats             print counters as JSON on stderr at exit\n"
	    "      --quiet             no progress line or warnings\n"
	    "      --metrics FILE      write the --stats figures for Prometheus "
	    "at exit\n"
	    "      --metrics-label NAME=VALUE  add a label to them (repeatable)\n"
	    "  -h, --help              show this help\n"
	    "      --version           show the version\n");
}

static void
parse_keys(const char *arg)
{
	char *s = xstrdup(arg), *tok, *save = NULL, *eq;

	for (tok = strtok_r(s, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		lkeys = xrealloc(lkeys, (nkeys + 1) * sizeof(*lkeys));
		rkeys = xrealloc(rkeys, (nkeys + 1) * sizeof(*rkeys));
		if ((eq = strchr(tok, '=')) != NULL)
			*eq++ = '\0';
		lkeys[nkeys] = tok;
		rkeys[nkeys] = eq != NULL ? eq : tok;
		if (*lkeys[nkeys] == '\0' || *rkeys[nkeys] == '\0')
			sa_usage_error("-k: empty key name in '%s'", arg);
		nkeys++;
	}
	if (nkeys == 0)
		sa_usage_error("-k: no key given");
}

static void
key_of(const struct sa_val *o, char **names, struct key *k)
{
	static struct sa_val **vals;
	size_t i;

	if (vals == NULL)
		vals = xcalloc(nkeys, sizeof(*vals));
	for (i = 0; i < nkeys; i++)
		vals[i] = sa_get_path(o, names[i]);
	k->null = !sa_fp_key(vals, nkeys, &k->text, &k->fp);
	if (k->null) {
		k->fp.lo = k->fp.hi = 0;
		sa_buf_reset(&k->text);
	}
}

/* Describes key text P (as made by sa_fp_key) for messages. */
static const char *
key_desc(const char *p, size_t len)
{
	static struct sa_buf b;
	const char *end = p + len;
	size_t i, n;

	sa_buf_reset(&b);
	for (i = 0; i < nkeys && p + sizeof(n) <= end; i++) {
		memcpy(&n, p, sizeof(n));
		p += sizeof(n);
		if (i > 0)
			sa_buf_addc(&b, ',');
		sa_buf_adds(&b, lkeys[i]);
		sa_buf_addc(&b, '=');
		sa_json_string_lossy(&b, p, n);
		p += n;
	}
	return b.s != NULL ? b.s : "";
}

static void
not_unique(const char *file, uintmax_t line, const char *key, size_t klen,
    const char *side)
{
	sa_out_flush();
	sa_die(EX_DATAERR, "%s:%ju: key %s is not unique in %s "
	    "(--validate %s)", file, line, key_desc(key, klen), side,
	    validate);
}

static void
check_fanout(struct bucket *b, const char *file, uintmax_t line,
    const char *key, size_t klen)
{
	if (max_fanout > 0 && b->nleft * b->nright > max_fanout) {
		sa_out_flush();
		sa_die(EX_DATAERR, "%s:%ju: key %s would produce more than %llu "
		    "rows (--max-fanout)", file, line, key_desc(key, klen),
		    max_fanout);
	}
}

/* Names: a small set of strings, for the left columns. */

struct nameset {
	struct { const char *s; size_t len; } *e;
	size_t size, n;
};

static int
nameset_has(const struct nameset *ns, const char *s, size_t len)
{
	size_t i;

	if (ns->size == 0)
		return 0;
	for (i = sa_fp_bytes(s, len).lo & (ns->size - 1); ns->e[i].s != NULL;
	    i = (i + 1) & (ns->size - 1))
		if (ns->e[i].len == len && memcmp(ns->e[i].s, s, len) == 0)
			return 1;
	return 0;
}

static void
nameset_add(struct nameset *ns, const char *s, size_t len)
{
	size_t i;

	if (nameset_has(ns, s, len))
		return;
	if ((ns->n + 1) * 2 > ns->size) {
		struct nameset old = *ns;

		ns->size = old.size ? old.size * 2 : 64;
		ns->e = xcalloc(ns->size, sizeof(*ns->e));
		ns->n = 0;
		for (i = 0; i < old.size; i++)
			if (old.e[i].s != NULL)
				nameset_add(ns, old.e[i].s, old.e[i].len);
		free(old.e);
	}
	for (i = sa_fp_bytes(s, len).lo & (ns->size - 1); ns->e[i].s != NULL;
	    i = (i + 1) & (ns->size - 1))
		;
	ns->e[i].s = s;
	ns->e[i].len = len;
	ns->n++;
}

static struct nameset lnames;	/* of the left schema */

static int
is_right_key(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < nkeys; i++)
		if (strlen(rkeys[i]) == len && memcmp(rkeys[i], s, len) == 0)
			return 1;
	return 0;
}

static int
is_left_key(const char *s, size_t len, size_t *which)
{
	size_t i;

	for (i = 0; i < nkeys; i++)
		if (strlen(lkeys[i]) == len && memcmp(lkeys[i], s, len) == 0) {
			*which = i;
			return 1;
		}
	return 0;
}

/* The current left record: bumped whenever its fields change, so that
 * what emit() made of them can be reused for its other matches. */
static uint64_t left_gen, cached_gen = UINT64_MAX;
static int lf_extra;		/* it has columns beyond the left schema */
static struct sa_buf prefix;	/* its JSON, without the closing brace */

/* Whether right column S clashes with the left columns of this row. */
static int
clashes(const char *s, size_t len, const struct sa_fields *lf)
{
	size_t i;

	if (nameset_has(&lnames, s, len))
		return 1;
	if (lf != NULL && lf_extra)
		for (i = 0; i < lf->n; i++)
			if (lf->f[i].namelen == len &&
			    memcmp(lf->f[i].name, s, len) == 0)
				return 1;
	return 0;
}

/* The right column name S with the suffix, kept for the run. */
static const char *
suffixed(const char *s, size_t len, size_t *outlen)
{
	static struct { char *from, *to; size_t len; } *cache;
	static size_t n;
	size_t i, sl = strlen(suffix), tlen;
	char *t;

	for (i = 0; i < n; i++)
		if (strlen(cache[i].from) == len &&
		    memcmp(cache[i].from, s, len) == 0) {
			*outlen = cache[i].len;
			return cache[i].to;
		}
	t = xmalloc(len + sl + 1);
	memcpy(t, s, len);
	memcpy(t + len, suffix, sl + 1);
	tlen = len + sl;
	/* A left column may have that name already: suffix again. */
	while (nameset_has(&lnames, t, tlen)) {
		t = xrealloc(t, tlen + sl + 1);
		memcpy(t + tlen, suffix, sl + 1);
		tlen += sl;
	}
	cache = xrealloc(cache, (n + 1) * sizeof(*cache));
	cache[n].from = xstrndup(s, len);
	cache[n].to = t;
	cache[n].len = tlen;
	n++;
	*outlen = tlen;
	return t;
}

/* Output rows. */

static struct sa_fields row;

static void
add_right(const struct sa_field *f, const struct sa_fields *lf)
{
	const char *name = f->name;
	size_t len = f->namelen;

	if (is_right_key(name, len))
		return;
	if (clashes(name, len, lf))
		name = suffixed(name, len, &len);
	sa_fields_add(&row, name, len, f->type, f->s, f->len);
}

/* Writes the row of left fields LF and right fields RF (either may be
 * NULL), at positions LSEQ and RSEQ. */
static void
emit(const struct sa_fields *lf, const struct sa_fields *rf, uint64_t lseq,
    uint64_t rseq)
{
	struct sa_spill_rec rec = { { 0, 0 }, lseq, rseq, NULL, NULL, 0, 0 };
	const struct sa_field *kf;
	struct sa_field nul = { NULL, 0, SA_NULL, NULL, 0 };
	size_t i, j, k;
	int json = sa_sink_json(sink);

	if (lf != NULL && cached_gen != left_gen) {
		cached_gen = left_gen;
		lf_extra = 0;
		for (i = 0; i < lf->n && !lf_extra; i++)
			lf_extra = !nameset_has(&lnames, lf->f[i].name,
			    lf->f[i].namelen);
		if (json) {
			sa_buf_reset(&prefix);
			sa_buf_addc(&prefix, '{');
			for (i = 0; i < lf->n; i++) {
				if (i > 0)
					sa_buf_addc(&prefix, ',');
				sa_field_json(&prefix, &lf->f[i]);
			}
		}
	}
	row.n = 0;
	if (lf != NULL && !json)
		for (i = 0; i < lf->n; i++)
			sa_fields_add(&row, lf->f[i].name, lf->f[i].namelen,
			    lf->f[i].type, lf->f[i].s, lf->f[i].len);
	else if (lf == NULL) {
		/* A right-only row: its key goes in the left key columns. */
		for (i = 0; i < nlschema + nkeys; i++) {
			const char *name;

			if (i < nlschema)
				name = lschema[i];
			else if (nameset_has(&lnames, lkeys[i - nlschema],
			    strlen(lkeys[i - nlschema])))
				continue;
			else
				name = lkeys[i - nlschema];
			kf = &nul;
			if (is_left_key(name, strlen(name), &k))
				for (j = 0; j < rf->n; j++)
					if (rf->f[j].namelen ==
					    strlen(rkeys[k]) &&
					    memcmp(rf->f[j].name, rkeys[k],
					    rf->f[j].namelen) == 0)
						kf = &rf->f[j];
			sa_fields_add(&row, name, strlen(name), kf->type, kf->s,
			    kf->len);
		}
	}
	if (rf != NULL)
		for (i = 0; i < rf->n; i++)
			add_right(&rf->f[i], lf);
	else
		for (i = 0; i < nrschema; i++) {
			nul.name = rschema[i];
			nul.namelen = strlen(rschema[i]);
			add_right(&nul, lf);
		}
	sa_buf_reset(&line);
	if (lf != NULL && json) {
		/* The left part was made once for all its matches. */
		sa_buf_add(&line, prefix.s, prefix.len);
		for (i = 0; i < row.n; i++) {
			if (line.len > 1)
				sa_buf_addc(&line, ',');
			sa_field_json(&line, &row.f[i]);
		}
		sa_buf_add(&line, "}\n", 2);
	} else
		sa_sink_format(sink, &line, row.f, row.n);
	sa_stats.out++;
	if (emit_to == NULL) {
		sa_sink_put(sink, line.s, line.len);
		return;
	}
	rec.p = line.s;
	rec.plen = line.len;
	sa_spill_write(emit_to, &rec);
}

/* The hash table of right records. */

static void
table_init(struct table *t, size_t cap)
{
	memset(t, 0, sizeof(*t));
	t->cap = cap;
	t->idx = sa_fptab_new(sizeof(struct bucket), cap);
	t->a = sa_arena_new();
}

static void
table_free(struct table *t)
{
	sa_fptab_free(t->idx);
	sa_arena_free(t->a);
	memset(t, 0, sizeof(*t));
}

/* Adds a right record; returns 0 if it does not fit in the budget. */
static int
table_add(struct table *t, const struct key *k, uint64_t rseq,
    uintmax_t line, const char *fields, size_t flen)
{
	struct rrec *r;
	struct bucket *b = NULL;
	size_t need = sizeof(*r) + k->text.len + flen;
	int isnew;

	if (k->null && (type == INNER || type == LEFT))
		return 1;
	if (t->cap && sa_arena_used(t->a) + need + sa_fptab_bytes(t->idx) >
	    t->cap)
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

static struct sa_fptab *lseen;	/* left keys, for --validate 1:m, 1:1 */
static struct sa_parts *lspill;	/* the left keys that did not fit in it */
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

/* Joins one left record with the table. */
static void
probe(struct table *t, const struct key *k, const struct sa_fields *lf,
    uint64_t lseq, const char *file, uintmax_t line)
{
	static struct sa_fields rf;
	struct bucket *b = NULL;
	struct rrec *r;
	int matched = 0;

	left_gen++;
	if (!k->null) {
		if (unique_left)
			see_left_key(k, file, line);
		b = sa_fptab_find(t->idx, k->fp);
	}
	if (b != NULL) {
		b->nleft++;
		check_fanout(b, file, line, k->text.s, k->text.len);
		for (r = b->first; r != NULL; r = r->next) {
			if (r->klen != k->text.len ||
			    memcmp(r->data, k->text.s, r->klen) != 0)
				continue;
			sa_fields_unpack(&rf, r->data + r->klen, r->flen);
			emit(lf, &rf, lseq, r->rseq);
			r->matched = 1;
			matched = 1;
		}
	}
	if (!matched && (type == LEFT || type == FULL))
		emit(lf, NULL, lseq, 0);
}

static void
table_rest(struct table *t)
{
	static struct sa_fields rf;
	struct rrec *r;

	if (type != RIGHT && type != FULL)
		return;
	for (r = t->first; r != NULL; r = r->onext)
		if (!r->matched) {
			sa_fields_unpack(&rf, r->data + r->klen, r->flen);
			emit(NULL, &rf, NO_LEFT, r->rseq);
		}
}

/* Grace hash join of one partition: right records in RF, left in LF
 * (either may be NULL); output rows go to OUT in (left, right) order. */
static void join_files(FILE *rf, FILE *lf, unsigned level, FILE *out);

static struct sa_parts *
split_file(FILE *f, unsigned level)
{
	struct sa_parts *p = sa_parts_new(level);
	struct sa_spill_rec rec;
	struct sa_buf buf = { 0 };

	if (f != NULL) {
		sa_spill_rewind(f);
		while (sa_spill_read(f, &rec, &buf))
			sa_parts_write(p, &rec);
	}
	sa_buf_free(&buf);
	return p;
}

static void
split_join(FILE *rf, FILE *lf, unsigned level, FILE *out)
{
	struct sa_parts *rp = split_file(rf, level), *lp = split_file(lf,
	    level);
	FILE *outs[SA_SPILL_PARTS];
	struct sa_spill_rec rec;
	struct sa_merge *m;
	unsigned i;

	for (i = 0; i < rp->n; i++) {
		outs[i] = NULL;
		if (rp->f[i] == NULL && lp->f[i] == NULL)
			continue;
		outs[i] = sa_spill_file();
		join_files(rp->f[i], lp->f[i], level + 1, outs[i]);
		if (rp->f[i] != NULL)
			fclose(rp->f[i]);
		if (lp->f[i] != NULL)
			fclose(lp->f[i]);
		rp->f[i] = lp->f[i] = NULL;
	}
	sa_parts_free(rp);
	sa_parts_free(lp);
	m = sa_merge_new(outs, SA_SPILL_PARTS);
	while (sa_merge_next(m, &rec))
		sa_spill_write(out, &rec);
	sa_merge_free(m);
	for (i = 0; i < SA_SPILL_PARTS; i++)
		if (outs[i] != NULL)
			fclose(outs[i]);
}

/* The key of a row read back from a spill partition. */
static void
key_of_spilled(struct key *k, const struct sa_spill_rec *rec)
{
	k->null = rec->b & NULLKEY;
	k->fp = rec->fp;
	sa_buf_reset(&k->text);
	sa_buf_add(&k->text, rec->p, rec->plen);
}

static void
join_files(FILE *rf, FILE *lf, unsigned level, FILE *out)
{
	struct table t;
	struct sa_spill_rec rec;
	struct sa_buf buf = { 0 };
	struct sa_fields lfs = { 0 };
	struct key k = { 0, { 0, 0 }, { 0 } };
	FILE *saved = emit_to;

	table_init(&t, level > SA_SPILL_MAXLEVEL ? 0 : budget);
	if (rf != NULL) {
		sa_spill_rewind(rf);
		while (sa_spill_read(rf, &rec, &buf)) {
			key_of_spilled(&k, &rec);
			if (!table_add(&t, &k, rec.a, rec.b >> 1, rec.q,
			    rec.qlen)) {
				table_free(&t);
				sa_buf_free(&buf);
				sa_buf_free(&k.text);
				split_join(rf, lf, level, out);
				return;
			}
		}
	}
	emit_to = out;
	if (unique_left)
		lseen = sa_fptab_new(0, 0);
	if (lf != NULL) {
		sa_spill_rewind(lf);
		while (sa_spill_read(lf, &rec, &buf)) {
			key_of_spilled(&k, &rec);
			sa_fields_unpack(&lfs, rec.q, rec.qlen);
			probe(&t, &k, &lfs, rec.a, lname, rec.b >> 1);
		}
	}
	table_rest(&t);
	sa_fptab_free(lseen);
	lseen = NULL;
	emit_to = saved;
	table_free(&t);
	sa_buf_free(&buf);
	sa_buf_free(&k.text);
	free(lfs.f);
}

/* Schemas. */

static void
schema_of(struct sa_input *in, const struct sa_val *first, char ***names,
    size_t *n)
{
	const char *const *cols;
	const struct sa_val *m;
	size_t i;

	if (*names != NULL)
		return;
	*n = 0;
	if (in->r != NULL && sa_reader_format(in->r) == SA_FMT_TSV) {
		cols = sa_reader_columns(in->r, n);
		*names = xcalloc(*n + 1, sizeof(**names));
		for (i = 0; i < *n; i++)
			(*names)[i] = xstrdup(cols[i]);
		return;
	}
	if (first == NULL)
		return;
	*names = xcalloc(first->len + 1, sizeof(**names));
	for (m = first->child; m != NULL; m = m->next)
		(*names)[(*n)++] = xstrndup(m->key, m->keylen);
}

/* Makes the sink once both schemas are known. */
static void
open_sink(enum sa_format ofmt, int both_tsv)
{
	char **cols;
	size_t i, n = 0, len;
	const char *name;

	if (ofmt != SA_FMT_TSV || !both_tsv) {
		sink = sa_sink_new(ofmt, NULL, 0);
		return;
	}
	cols = xcalloc(nlschema + nkeys + nrschema + 1, sizeof(*cols));
	for (i = 0; i < nlschema; i++)
		cols[n++] = lschema[i];
	for (i = 0; i < nkeys; i++)
		if (!nameset_has(&lnames, lkeys[i], strlen(lkeys[i])))
			cols[n++] = lkeys[i];
	for (i = 0; i < nrschema; i++) {
		name = rschema[i];
		len = strlen(name);
		if (is_right_key(name, len))
			continue;
		if (nameset_has(&lnames, name, len))
			name = suffixed(name, len, &len);
		cols[n++] = (char *)name;
	}
	sink = sa_sink_new(SA_FMT_TSV, (const char *const *)cols, n);
	free(cols);
}

/* The format of LEFT, or of RIGHT if LEFT is empty. */
static enum sa_format
output_format(enum sa_format lfmt, enum sa_format rfmt)
{
	if (lfmt == SA_FMT_UNKNOWN)
		lfmt = rfmt;
	return lfmt == SA_FMT_TSV ? SA_FMT_TSV : SA_FMT_JSON;
}

/* Writes a row of one side to its spill partitions: its key, its input
 * position SEQ (and LINE, for messages) and its packed fields. */
static void
spill_row(struct sa_parts *parts, const struct key *k, uint64_t seq,
    uintmax_t line, const struct sa_buf *packed)
{
	struct sa_spill_rec sr;

	memset(&sr, 0, sizeof(sr));
	sr.fp = k->fp;
	sr.a = seq;
	sr.b = k->null | (uint64_t)line << 1;
	sr.p = k->text.s;
	sr.plen = k->text.len;
	sr.q = packed->s;
	sr.qlen = packed->len;
	sa_parts_write(parts, &sr);
}

/* Hash join: RIGHT in memory, spilling to partitions past the budget. */
static void
hash_join(struct sa_input *rin, struct sa_input *lin, enum sa_format ofmt)
{
	struct table t;
	struct sa_record rec;
	struct sa_fields fs = { 0 };
	struct sa_buf packed = { 0 };
	struct key k = { 0, { 0, 0 }, { 0 } };
	struct sa_parts *rp = NULL, *lp = NULL;
	struct sa_spill_rec sr;
	struct rrec *r;
	enum sa_format rfmt, lfmt;
	uint64_t rseq = 0, lseq = 0;
	int first = 1, st;
	size_t i;

	table_init(&t, budget);
	/* A TSV header is taken now: the reader is gone after the last row. */
	if ((rfmt = sa_input_format(rin)) == SA_FMT_TSV)
		schema_of(rin, NULL, &rschema, &nrschema);
	while (sa_input_next(rin, &rec) == SA_OK) {
		if (first) {
			schema_of(rin, rec.root, &rschema, &nrschema);
			first = 0;
		}
		key_of(rec.root, rkeys, &k);
		sa_fields_of(&fs, rec.root);
		sa_buf_reset(&packed);
		sa_fields_pack(&packed, fs.f, fs.n);
		rseq++;
		if (rp == NULL && table_add(&t, &k, rseq, rec.line, packed.s,
		    packed.len))
			continue;
		if (rp == NULL) {
			/* Past the budget: what is in memory goes first. */
			rp = sa_parts_new(0);
			for (r = t.first; r != NULL; r = r->onext) {
				memset(&sr, 0, sizeof(sr));
				if (!r->nullkey)
					sr.fp = sa_fp_bytes(r->data, r->klen);
				sr.a = r->rseq;
				sr.b = r->nullkey | (uint64_t)r->line << 1;
				sr.p = r->data;
				sr.plen = r->klen;
				sr.q = r->data + r->klen;
				sr.qlen = r->flen;
				sa_parts_write(rp, &sr);
			}
			table_free(&t);
		}
		if (k.null && (type == INNER || type == LEFT))
			continue;
		spill_row(rp, &k, rseq, rec.line, &packed);
	}
	if (first)
		schema_of(rin, NULL, &rschema, &nrschema);
	if (rin->status != 0 && rin->status > lin->status)
		lin->status = rin->status;

	if ((lfmt = sa_input_format(lin)) == SA_FMT_TSV)
		schema_of(lin, NULL, &lschema, &nlschema);
	if (ofmt == SA_FMT_UNKNOWN)
		ofmt = output_format(lfmt, rfmt);
	first = 1;
	if (unique_left && rp == NULL) {
		size_t used = sa_arena_used(t.a) + sa_fptab_bytes(t.idx);

		lseen = sa_fptab_new(0, budget > used + (1 << 20) ?
		    budget - used : 1 << 20);
	}
	while ((st = sa_input_next(lin, &rec)) == SA_OK || first) {
		if (first) {
			schema_of(lin, st == SA_OK ? rec.root : NULL,
			    &lschema, &nlschema);
			for (i = 0; i < nlschema; i++)
				nameset_add(&lnames, lschema[i],
				    strlen(lschema[i]));
			open_sink(ofmt, lfmt == SA_FMT_TSV &&
			    rfmt == SA_FMT_TSV);
			first = 0;
			if (st != SA_OK)
				break;
		}
		key_of(rec.root, lkeys, &k);
		sa_fields_of(&fs, rec.root);
		lseq++;
		if (rp == NULL) {
			probe(&t, &k, &fs, lseq, rec.file, rec.line);
			continue;
		}
		if (lp == NULL)
			lp = sa_parts_new(0);
		sa_buf_reset(&packed);
		sa_fields_pack(&packed, fs.f, fs.n);
		spill_row(lp, &k, lseq, rec.line, &packed);
	}
	if (rp == NULL) {
		check_left_keys();
		table_rest(&t);
		table_free(&t);
	} else {
		FILE *outs[SA_SPILL_PARTS];
		struct sa_merge *m;
		struct sa_spill_rec o;

		sa_fptab_free(lseen);
		lseen = NULL;
		for (i = 0; i < SA_SPILL_PARTS; i++) {
			FILE *lf = lp != NULL ? lp->f[i] : NULL;

			outs[i] = NULL;
			if (rp->f[i] == NULL && lf == NULL)
				continue;
			outs[i] = sa_spill_file();
			join_files(rp->f[i], lf, 1, outs[i]);
		}
		sa_parts_free(rp);
		sa_parts_free(lp);
		m = sa_merge_new(outs, SA_SPILL_PARTS);
		while (sa_merge_next(m, &o))
			sa_sink_put(sink, o.p, o.plen);
		sa_merge_free(m);
		for (i = 0; i < SA_SPILL_PARTS; i++)
			if (outs[i] != NULL)
				fclose(outs[i]);
	}
	sa_fptab_free(lseen);
	sa_fields_free(&fs);
	sa_buf_free(&packed);
	sa_buf_free(&k.text);
}

/* Merge join. */

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
	int c;

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

static void
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
		if (lok && L.k.null) {
			if (type == LEFT || type == FULL) {
				left_gen++;
				sa_fields_of(&lf, L.rec.root);
				emit(&lf, NULL, 0, 0);
			}
			lok = side_next(&L);
			continue;
		}
		c = !lok ? 1 : ng == 0 ? -1 : key_cmp(L.k.text.s,
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

/* Is PATH there to be read?  Asked without opening it: a FIFO opened
 * and closed here would lose its writer. */
static void
can_open(const char *path)
{
	struct stat st;

	if (strcmp(path, "-") == 0)
		return;
	if (stat(path, &st) != 0 || access(path, R_OK) != 0)
		sa_die(EX_NOINPUT, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		sa_die(EX_NOINPUT, "%s: %s", path, strerror(EISDIR));
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "suffix", required_argument, NULL, OPT_SUFFIX },
		{ "validate", required_argument, NULL, OPT_VALIDATE },
		{ "max-fanout", required_argument, NULL, OPT_MAX_FANOUT },
		{ "memory", required_argument, NULL, 'm' },
		{ "sorted", no_argument, NULL, OPT_SORTED },
		{ "tsv", no_argument, NULL, 't' },
		{ "ndjson", no_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'j' },
		SA_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static char *lfiles[1];
	struct sa_input rin, lin;
	enum sa_format ofmt = SA_FMT_UNKNOWN;
	size_t memory = 256 << 20;
	int c, sorted = 0;

	sa_setprog(argv[0]);
	sa_out_init();
	while ((c = getopt_long(argc, argv, "hk:m:tj", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			parse_keys(optarg);
			break;
		case OPT_TYPE:
			if (strcmp(optarg, "inner") == 0)
				type = INNER;
			else if (strcmp(optarg, "left") == 0)
				type = LEFT;
			else if (strcmp(optarg, "right") == 0)
				type = RIGHT;
			else if (strcmp(optarg, "full") == 0)
				type = FULL;
			else
				sa_usage_error("--type: expected inner, left, "
				    "right or full, not '%s'", optarg);
			break;
		case OPT_SUFFIX:
			suffix = optarg;
			break;
		case OPT_VALIDATE:
			validate = optarg;
			if (strcmp(optarg, "1:1") == 0)
				unique_left = unique_right = 1;
			else if (strcmp(optarg, "1:m") == 0)
				unique_left = 1;
			else if (strcmp(optarg, "m:1") == 0)
				unique_right = 1;
			else if (strcmp(optarg, "m:m") != 0)
				sa_usage_error("--validate: expected 1:1, 1:m, "
				    "m:1 or m:m, not '%s'", optarg);
			break;
		case OPT_MAX_FANOUT:
			max_fanout = sa_parse_int("--max-fanout", optarg, 1,
			    INT64_MAX);
			break;
		case 'm':
			memory = sa_parse_size("-m", optarg, 1 << 20);
			break;
		case OPT_SORTED:
			sorted = 1;
			break;
		case 't':
			ofmt = SA_FMT_TSV;
			break;
		case 'j':
			ofmt = SA_FMT_JSON;
			break;
		default:
			if (!sa_common_option(c, optarg, usage))
				sa_usage_error(NULL);
		}
	}
	if (nkeys == 0)
		sa_usage_error("a key is required (-k KEY)");
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > 2)
		sa_usage_error(argc < 1 ? "RIGHT is missing" :
		    "too many operands");
	rname = argv[0];
	lname = argc > 1 ? argv[1] : "-";
	if (strcmp(rname, "-") == 0 && strcmp(lname, "-") == 0)
		sa_usage_error("RIGHT and LEFT cannot both be stdin");
	if (strcmp(lname, "-") == 0)
		lname = "stdin";
	if (strcmp(rname, "-") == 0)
		rname = "stdin";
	budget = memory - (memory / 2 < (16 << 20) ? memory / 2 : 16 << 20);

	lfiles[0] = argc > 1 ? argv[1] : "-";
	/* Without one side the join is wrong, not short: nothing is
	 * written. */
	can_open(argv[0]);
	can_open(lfiles[0]);
	sa_input_init(&rin, 1, argv);
	sa_input_init(&lin, 1, lfiles);
	if (sorted)
		sorted_join(&rin, &lin, ofmt);
	else
		hash_join(&rin, &lin, ofmt);
	sa_input_close(&rin);
	sa_input_close(&lin);
	sa_sink_finish(sink);
	return rin.status > lin.status ? rin.status : lin.status;
}
