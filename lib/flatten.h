/*
 * flatten.h: records to flat rows.
 *
 * A row is a list of columns (name, value) in order of first appearance,
 * with a hash of the names so that two paths that flatten to one name are
 * caught: equal values merge, different values are an error.  Column
 * names are copied into the row's arena; values point into the record,
 * which must outlive the row.  sa_row_reset() empties a row for reuse.
 */
#ifndef SA_FLATTEN_H
#define SA_FLATTEN_H

#include "sa.h"

struct sa_flat_opts {
	const char *sep;	/* between the keys of a nested name */
	size_t seplen;
	int max_depth;		/* 0: no limit; the record's fields are 1 */
	char **drop;		/* fnmatch(3) patterns of columns to leave out */
	size_t ndrop;
	int split;		/* leave arrays of objects out, for --split */
	char **keep;		/* if any, the patterns of the only columns kept */
	size_t nkeep;
};

struct sa_row {
	struct sa_col *cols;
	size_t n, cap;
	size_t *hash;		/* open addressing: column index + 1, or 0 */
	unsigned *stamp;	/* generation of each slot, to avoid clearing */
	unsigned gen;
	size_t hcap;
	struct sa_arena *arena;	/* names and made-up values (idx) */
	char error[512];
	/* --split: the arrays of objects met while flattening */
	const struct sa_val **arrays;
	char **array_names;
	size_t narrays, arrays_cap;
};

void sa_row_init(struct sa_row *);
void sa_row_reset(struct sa_row *);
void sa_row_free(struct sa_row *);
/* Adds column NAME; returns 0 and sets row->error if the name is taken by
 * a different value.  NAME is copied.  Columns matching --drop are left
 * out. */
int sa_row_add(struct sa_row *, const struct sa_flat_opts *,
    const char *name, size_t len, const struct sa_val *v);
/* Flattens the members of object O into ROW, each name prefixed with
 * PREFIX and the separator (no prefix if PLEN is 0).  DEPTH is the depth
 * of O's members.  Returns 0 and sets row->error on a collision. */
int sa_flatten(const struct sa_flat_opts *, struct sa_row *,
    const struct sa_val *o, const char *prefix, size_t plen, int depth);
/* Frees what sa_flatten() kept for the calling thread. */
void sa_flatten_thread_done(void);
/* True if V is an array with at least one object in it. */
int sa_is_object_array(const struct sa_val *v);
/* Appends the path of V from its record ("territories[2].id"). */
void sa_val_path(struct sa_buf *, const struct sa_val *v);
/* Looks NAME up among the row's columns, or returns -1. */
long sa_row_find(const struct sa_row *, const char *name, size_t len);

#endif
