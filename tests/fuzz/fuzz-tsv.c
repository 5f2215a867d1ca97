/*
 * fuzz-tsv.c: the TSV (COPY text) reader on any bytes.
 *
 * Every row has one value per header column, text or NULL; written back
 * as a COPY row under a plain header and read again, it gives the same
 * values: escaping and unescaping agree.
 */
#include <string.h>

#define FUZZ_CATCH_EXIT
#include "fuzz.h"

static struct sa_buf text;

/* Reads TEXT back and compares its one row with O. */
static void
read_back(const struct sa_val *o)
{
	struct sa_reader *r = sa_reader_fdopen(fuzz_fd(1, text.s, text.len),
	    "again");
	struct sa_record rec;
	const struct sa_val *a, *b;

	FUZZ_CHECK(sa_reader_next(r, &rec) == SA_OK,
	    "a row written as COPY text does not read back");
	for (a = o->child, b = rec.root->child; a != NULL && b != NULL;
	    a = a->next, b = b->next)
		FUZZ_CHECK(a->type == b->type && a->len == b->len &&
		    (a->type == SA_NULL || memcmp(a->str, b->str, a->len) == 0),
		    "a value changed on its way back");
	FUZZ_CHECK(a == NULL && b == NULL, "a row read back with other columns");
	FUZZ_CHECK(sa_reader_next(r, &rec) == SA_EOF,
	    "a row read back as more than one");
	sa_reader_close(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sa_reader *r;
	struct sa_record rec;
	const char *const *cols;
	const struct sa_val *v;
	size_t ncols, i;
	int st;

	r = sa_reader_fdopen(fuzz_fd(0, data, size), "fuzz");
	if (!FUZZ_TRY()) {
		sa_reader_close(r);
		return 0;
	}
	if (sa_reader_format(r) != SA_FMT_TSV) {
		FUZZ_DONE();
		/* fuzz-json has the rest. */
		sa_reader_close(r);
		return 0;
	}
	cols = sa_reader_columns(r, &ncols);
	sa_buf_reset(&text);
	if (cols != NULL)
		sa_write_tsv_header(&text, cols, ncols);
	for (i = 0; i < text.len; i++)
		FUZZ_CHECK(text.s[i] != '\n' || i == text.len - 1,
		    "a header written back is not one line");
	while ((st = sa_reader_next(r, &rec)) != SA_EOF) {
		if (st == SA_BAD) {
			FUZZ_CHECK(*sa_reader_error(r) != '\0',
			    "a bad row without a reason");
			continue;
		}
		FUZZ_CHECK(rec.root->type == SA_OBJECT &&
		    rec.root->len == ncols, "a row without a value per column");
		/* The same row under a header that reads as TSV. */
		sa_buf_reset(&text);
		for (i = 0; i < ncols; i++)
			sa_buf_adds(&text, i > 0 ? "\tc" : "c");
		sa_buf_addc(&text, '\n');
		for (v = rec.root->child; v != NULL; v = v->next) {
			FUZZ_CHECK(v->type == SA_STRING || v->type == SA_NULL,
			    "a TSV value that is neither text nor NULL");
			if (v != rec.root->child)
				sa_buf_addc(&text, '\t');
			sa_copy_field(&text, v);
		}
		sa_buf_addc(&text, '\n');
		read_back(rec.root);
	}
	FUZZ_DONE();
	sa_reader_close(r);
	return 0;
}
