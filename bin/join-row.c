/* join-row.c: the columns of each side, the names of the output columns
 * (suffixed on a clash) and the output rows. */
#include <stdlib.h>
#include <string.h>

#include "join.h"

struct sa_sink *sink;
char **lschema, **rschema;
size_t nlschema, nrschema;

__thread FILE *emit_to;	/* spill file of output rows, or NULL */
/* What emit() makes is each thread's own: workers of --threads emit too. */
static __thread struct sa_buf line;
__thread struct sa_buf *emit_rows;	/* a worker's rows go here */
__thread uint32_t emit_nrows;

/* Names: a small set of strings, for the left columns. */

int
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

void
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

struct nameset lnames;	/* of the left schema */

/* The current left record: bumped whenever its fields change, so that
 * what emit() made of them can be reused for its other matches. */
__thread uint64_t left_gen;
static __thread uint64_t cached_gen = UINT64_MAX;
static __thread int lf_extra;	/* it has columns beyond the left schema */
static __thread struct sa_buf prefix;	/* its JSON, without the closing brace */

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

/* Right column names with the suffix, kept for the run (each thread's). */
static __thread struct suffixed { char *from, *to; size_t len; } *cache;
static __thread size_t ncache;

static const char *
suffixed(const char *s, size_t len, size_t *outlen)
{
	size_t i, n = ncache, sl = strlen(suffix), tlen;
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
	ncache = n + 1;
	*outlen = tlen;
	return t;
}

/* Output rows. */

static __thread struct sa_fields row;

/* Frees what emit() and key_of() kept for the calling thread. */
void
join_thread_done(void)
{
	size_t i;

	for (i = 0; i < ncache; i++) {
		free(cache[i].from);
		free(cache[i].to);
	}
	free(cache);
	cache = NULL;
	ncache = 0;
	sa_buf_free(&line);
	sa_buf_free(&prefix);
	sa_fields_free(&row);
	cached_gen = UINT64_MAX;
	key_thread_done();
	probe_thread_done();
	sa_sink_thread_done();
}

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
void
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
	if (emit_rows != NULL) {
		/* A worker's: the main thread counts and writes it. */
		sa_buf_add(emit_rows, line.s, line.len);
		emit_nrows++;
		return;
	}
	if (emit_to == NULL) {
		sa_stats.out++;
		sa_sink_put(sink, line.s, line.len);
		return;
	}
	/* Counted when the grace join writes it. */
	rec.p = line.s;
	rec.plen = line.len;
	sa_spill_write(emit_to, &rec);
}

/* Schemas. */

void
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
void
open_sink(enum sa_format ofmt, int both_tsv)
{
	char **cols;
	size_t i, n = 0, len;
	const char *name;

	right_schema_cut();
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
enum sa_format
output_format(enum sa_format lfmt, enum sa_format rfmt)
{
	if (lfmt == SA_FMT_UNKNOWN)
		lfmt = rfmt;
	return lfmt == SA_FMT_TSV ? SA_FMT_TSV : SA_FMT_JSON;
}
