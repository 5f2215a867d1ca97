/* sink.c: the output sinks of sa-dedup and sa-join: rows written as
 * NDJSON or as COPY text, with a header once every column is known (the
 * rows spooled, encoded, until then). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sa.h"
#include "spill.h"

struct name {
	const char *s;
	size_t len, idx;
};

struct sa_sink {
	enum sa_format fmt;
	int deferred;
	FILE *spool;
	char **cols;
	size_t ncols, capcols;
	struct name *map;	/* open addressing over column names */
	size_t mapsize;
};

/* A thread's scratch for formatting rows: sa-dedup formats in workers. */
static __thread const struct sa_field **row;
static __thread size_t rowcap;
static __thread struct sa_fields fs;

static long
name_find(const struct sa_sink *k, const char *s, size_t len)
{
	size_t i;

	if (k->mapsize == 0)
		return -1;
	for (i = sa_name_hash(s, len) & (k->mapsize - 1); k->map[i].s != NULL;
	    i = (i + 1) & (k->mapsize - 1))
		if (k->map[i].len == len && memcmp(k->map[i].s, s, len) == 0)
			return (long)k->map[i].idx;
	return -1;
}

static void
name_insert(struct sa_sink *k, const char *s, size_t len, size_t idx)
{
	size_t i;

	for (i = sa_name_hash(s, len) & (k->mapsize - 1); k->map[i].s != NULL;
	    i = (i + 1) & (k->mapsize - 1))
		;
	k->map[i].s = s;
	k->map[i].len = len;
	k->map[i].idx = idx;
}

/* Adds column S unless it is there; returns its index. */
static size_t
add_column(struct sa_sink *k, const char *s, size_t len)
{
	long j = name_find(k, s, len);
	size_t i, old;
	struct name *map;

	if (j >= 0)
		return (size_t)j;
	if (k->ncols == k->capcols) {
		k->capcols = k->capcols ? 2 * k->capcols : 32;
		k->cols = xrealloc(k->cols, k->capcols * sizeof(*k->cols));
	}
	k->cols[k->ncols] = xstrndup(s, len);
	if ((k->ncols + 1) * 2 > k->mapsize) {
		old = k->mapsize;
		map = k->map;
		k->mapsize = old ? old * 2 : 64;
		k->map = xcalloc(k->mapsize, sizeof(*k->map));
		for (i = 0; i < old; i++)
			if (map[i].s != NULL)
				name_insert(k, map[i].s, map[i].len,
				    map[i].idx);
		free(map);
	}
	name_insert(k, k->cols[k->ncols], len, k->ncols);
	return k->ncols++;
}

struct sa_sink *
sa_sink_new(enum sa_format fmt, const char *const *cols, size_t ncols)
{
	struct sa_sink *k = xcalloc(1, sizeof(*k));
	size_t i;

	k->fmt = fmt == SA_FMT_TSV ? SA_FMT_TSV : SA_FMT_JSON;
	sa_copy_text |= k->fmt == SA_FMT_TSV;
	if (k->fmt == SA_FMT_TSV && cols == NULL) {
		k->deferred = 1;
		k->spool = sa_spill_file();
	} else if (k->fmt == SA_FMT_TSV) {
		for (i = 0; i < ncols; i++)
			add_column(k, cols[i], strlen(cols[i]));
		sa_write_tsv_header(&sa_out, (const char *const *)k->cols,
		    k->ncols);
		sa_out_line_done();
	}
	return k;
}

static void
json_field(struct sa_buf *b, const struct sa_field *f)
{
	switch (f->type) {
	case SA_NULL: sa_buf_add(b, "null", 4); break;
	case SA_FALSE: sa_buf_add(b, "false", 5); break;
	case SA_TRUE: sa_buf_add(b, "true", 4); break;
	case SA_STRING: sa_json_string(b, f->s, f->len); break;
	default: sa_buf_add(b, f->s, f->len); break;
	}
}

static void
tsv_field(struct sa_buf *b, const struct sa_field *f)
{
	switch (f == NULL ? SA_NULL : f->type) {
	case SA_NULL: sa_buf_add(b, "\\N", 2); break;
	case SA_FALSE: sa_buf_add(b, "false", 5); break;
	case SA_TRUE: sa_buf_add(b, "true", 4); break;
	case SA_NUMBER: sa_buf_add(b, f->s, f->len); break;
	default: sa_copy_escape(b, f->s, f->len); break;
	}
}

/*
 * A deferred sink's rows, in the spool: the row's length (32 bits, itself
 * included), then its fields with their names (sa_fields_pack_named).
 * Made in any thread; read back without parsing JSON.
 */
static void
encode_row(struct sa_buf *b, const struct sa_field *f, size_t n)
{
	size_t start = b->len;
	uint32_t len = 0;

	sa_buf_add(b, &len, sizeof(len));
	sa_fields_pack_named(b, f, n);
	len = (uint32_t)(b->len - start);
	memcpy(b->s + start, &len, sizeof(len));
}

void
sa_sink_format(struct sa_sink *k, struct sa_buf *b, const struct sa_field *f,
    size_t n)
{
	size_t i;
	long j;

	if (k->deferred) {
		encode_row(b, f, n);
		return;
	}
	if (k->fmt == SA_FMT_JSON) {
		sa_buf_addc(b, '{');
		for (i = 0; i < n; i++) {
			if (i > 0)
				sa_buf_addc(b, ',');
			sa_json_string(b, f[i].name, f[i].namelen);
			sa_buf_addc(b, ':');
			json_field(b, &f[i]);
		}
		sa_buf_add(b, "}\n", 2);
		return;
	}
	if (rowcap < k->ncols) {
		rowcap = k->ncols;
		row = xrealloc(row, rowcap * sizeof(*row));
	}
	for (i = 0; i < k->ncols; i++)
		row[i] = NULL;
	for (i = 0; i < n; i++) {
		/* Fields usually come in the columns' order. */
		if (i < k->ncols && f[i].namelen == strlen(k->cols[i]) &&
		    memcmp(f[i].name, k->cols[i], f[i].namelen) == 0)
			j = (long)i;
		else
			j = name_find(k, f[i].name, f[i].namelen);
		if (j >= 0 && row[j] == NULL)
			row[j] = &f[i];
	}
	for (i = 0; i < k->ncols; i++) {
		if (i > 0)
			sa_buf_addc(b, '\t');
		tsv_field(b, row[i]);
	}
	sa_buf_addc(b, '\n');
}

void
sa_sink_format_val(struct sa_sink *k, struct sa_buf *b,
    const struct sa_val *o)
{
	if (k->fmt == SA_FMT_JSON) {
		sa_json_append(b, o);
		sa_buf_addc(b, '\n');
		return;
	}
	sa_fields_of(&fs, o);
	sa_sink_format(k, b, fs.f, fs.n);
}

void
sa_sink_thread_done(void)
{
	free(row);
	row = NULL;
	rowcap = 0;
	sa_fields_free(&fs);
}

int
sa_sink_json(const struct sa_sink *k)
{
	return k->fmt == SA_FMT_JSON;
}

void
sa_field_json(struct sa_buf *b, const struct sa_field *f)
{
	sa_json_string(b, f->name, f->namelen);
	sa_buf_addc(b, ':');
	json_field(b, f);
}

void
sa_sink_put(struct sa_sink *k, const char *line, size_t len)
{
	const char *p, *end = line + len;
	uint32_t rowlen;
	size_t i;

	if (k->deferred) {
		/* The columns, in the order they first appear. */
		for (p = line; p < end; p += rowlen) {
			memcpy(&rowlen, p, sizeof(rowlen));
			sa_fields_unpack_named(&fs, p + sizeof(rowlen));
			for (i = 0; i < fs.n; i++)
				add_column(k, fs.f[i].name, fs.f[i].namelen);
		}
		if (fwrite(line, 1, len, k->spool) != len)
			sa_spill_write_error();
		return;
	}
	sa_buf_add(&sa_out, line, len);
	sa_out_line_done();
}

int
sa_sink_spools(const struct sa_sink *k)
{
	return k->deferred;
}

/* Reads the next row of spool F into B; returns 0 at its end. */
static int
read_row(FILE *f, struct sa_buf *b)
{
	uint32_t len;

	if (fread(&len, sizeof(len), 1, f) != 1) {
		if (ferror(f))
			sa_die_errno(EX_IOERR, "temporary file");
		return 0;
	}
	sa_buf_reset(b);
	sa_buf_grow(b, len);
	memcpy(b->s, &len, sizeof(len));
	if (fread(b->s + sizeof(len), 1, len - sizeof(len), f) !=
	    len - sizeof(len))
		sa_die(EX_IOERR, "temporary file: cut short");
	b->len = len;
	return 1;
}

void
sa_sink_finish(struct sa_sink *k)
{
	struct sa_buf b = { 0 };

	if (k->deferred) {
		/* The spool holds what was read before the sink was made, too:
		 * a NUL there is refused by sa_copy_escape(). */
		sa_copy_text = 0;
		sa_spill_rewind(k->spool);
		k->deferred = 0;
		if (k->ncols > 0) {
			sa_write_tsv_header(&sa_out,
			    (const char *const *)k->cols, k->ncols);
			sa_out_line_done();
		}
		while (read_row(k->spool, &b)) {
			sa_fields_unpack_named(&fs, b.s + sizeof(uint32_t));
			sa_sink_format(k, &sa_out, fs.f, fs.n);
			sa_out_line_done();
		}
		sa_buf_free(&b);
		fclose(k->spool);
		k->spool = NULL;
	}
	sa_out_flush();
}
