/*
 * fuzz-json.c: the JSON record reader and the flattener on any bytes.
 *
 * The input is read as a stream (NDJSON, concatenated or pretty JSON, a
 * top-level array); every record is written back as JSON and must read
 * back equal, then flattened twice (as sa-explode does, and with --split,
 * a depth limit and --drop) and written as an NDJSON line and a COPY row.
 */
#include <string.h>

#include "flatten.h"
#define FUZZ_CATCH_EXIT
#include "fuzz.h"

static char *drop[] = { "*_x*" };
static const struct sa_flat_opts plain = { "_", 1, 0, NULL, 0, 0, NULL, 0 };
static const struct sa_flat_opts split = { ".", 1, 2, drop, 1, 1, NULL, 0 };

static struct sa_arena *arena;
static struct sa_buf out, scratch;
static struct sa_row row;

/* OUT read back as JSON, or NULL for the known case below. */
static struct sa_val *
read_back(void)
{
	struct sa_val *v;
	char *err;

	v = sa_json_parse(arena, out.s, out.len, &err);
	FUZZ_CHECK(v != NULL, "JSON written by sa does not read back");
	return v;
}

/* A record written as JSON reads back as an equal value. */
static void
round_trip(const struct sa_val *rec)
{
	struct sa_fp a, b;
	struct sa_val *v;

	sa_buf_reset(&out);
	sa_json_append(&out, rec);
	if ((v = read_back()) == NULL)
		return;
	FUZZ_CHECK(sa_val_equal(rec, v), "a record changed on its way back");
	a = sa_fp_value(rec, &scratch);
	b = sa_fp_value(v, &scratch);
	FUZZ_CHECK(a.lo == b.lo && a.hi == b.hi,
	    "equal records have different fingerprints");
}

/* The row as an NDJSON line (an object with a member per column) and
 * as a COPY row (one line, a TAB between columns). */
static void
write_row(const struct sa_row *r)
{
	struct sa_val *o;
	size_t i, tabs;

	sa_buf_reset(&out);
	sa_write_ndjson(&out, r->cols, r->n);
	FUZZ_CHECK(out.len > 0 && out.s[out.len - 1] == '\n' &&
	    memchr(out.s, '\n', out.len - 1) == NULL,
	    "an NDJSON row is not one line");
	if ((o = read_back()) == NULL)
		return;
	FUZZ_CHECK(o->type == SA_OBJECT && o->len == r->n,
	    "an NDJSON row does not read back with its columns");

	sa_buf_reset(&out);
	for (i = 0; i < r->n; i++) {
		if (i > 0)
			sa_buf_addc(&out, '\t');
		sa_copy_field(&out, r->cols[i].v);
	}
	for (i = tabs = 0; i < out.len; i++) {
		FUZZ_CHECK(out.s[i] != '\n' && out.s[i] != '\r',
		    "a COPY row has a raw line end");
		tabs += out.s[i] == '\t';
	}
	FUZZ_CHECK(r->n == 0 || tabs == r->n - 1,
	    "a COPY row has a TAB inside a field");
}

static void
flatten(const struct sa_flat_opts *fo, const struct sa_val *rec)
{
	size_t i;

	sa_row_reset(&row);
	if (!sa_flatten(fo, &row, rec, "", 0, 1)) {
		FUZZ_CHECK(row.error[0] != '\0', "a flattening failed silently");
		return;
	}
	write_row(&row);
	for (i = 0; i < row.narrays; i++)
		FUZZ_CHECK(sa_is_object_array(row.arrays[i]),
		    "--split kept an array without objects");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sa_reader *r;
	struct sa_record rec;
	uintmax_t lines = 1, last = 0;
	size_t i, len;
	int st;

	if (arena == NULL) {
		arena = sa_arena_new();
		sa_row_init(&row);
	}
	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	r = sa_reader_fdopen(fuzz_fd(0, data, size), "fuzz");
	if (!FUZZ_TRY()) {
		sa_reader_close(r);
		return 0;
	}
	if (sa_reader_format(r) != SA_FMT_JSON) {
		FUZZ_DONE();
		/* fuzz-tsv has the rest. */
		sa_reader_close(r);
		return 0;
	}
	while ((st = sa_reader_next(r, &rec)) != SA_EOF) {
		FUZZ_CHECK(rec.line >= 1 && rec.line <= lines,
		    "a record's line is not in the input");
		FUZZ_CHECK(rec.line >= last, "records come out of order");
		last = rec.line;
		sa_arena_reset(arena);
		if (st == SA_BAD) {
			FUZZ_CHECK(*sa_reader_error(r) != '\0',
			    "a bad record without a reason");
			sa_reader_raw(r, &len);
			continue;
		}
		FUZZ_CHECK(st == SA_OK && rec.root != NULL &&
		    rec.root->type == SA_OBJECT, "a record is not an object");
		round_trip(rec.root);
		flatten(&plain, rec.root);
		flatten(&split, rec.root);
	}
	FUZZ_DONE();
	FUZZ_CHECK(sa_reader_bytes(r) == size, "the input was not all read");
	sa_reader_close(r);
	return 0;
}
