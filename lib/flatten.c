/* flatten.c: nested objects to columns named by their joined keys. */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "flatten.h"

void
sa_row_init(struct sa_row *row)
{
	memset(row, 0, sizeof(*row));
	row->arena = sa_arena_new();
}

void
sa_row_reset(struct sa_row *row)
{
	row->n = 0;
	row->narrays = 0;
	row->error[0] = '\0';
	if (++row->gen == 0) {
		/* The stamps wrapped: clear them once. */
		if (row->stamp != NULL)
			memset(row->stamp, 0, row->hcap * sizeof(*row->stamp));
		row->gen = 1;
	}
	sa_arena_reset(row->arena);
}

void
sa_row_free(struct sa_row *row)
{
	free(row->cols);
	free(row->hash);
	free(row->stamp);
	free(row->arrays);
	free(row->array_names);
	sa_arena_free(row->arena);
	memset(row, 0, sizeof(*row));
}

static void
rehash(struct sa_row *row)
{
	size_t i, j, mask;

	free(row->hash);
	free(row->stamp);
	row->hcap = row->hcap ? row->hcap * 2 : 64;
	row->hash = xcalloc(row->hcap, sizeof(*row->hash));
	row->stamp = xcalloc(row->hcap, sizeof(*row->stamp));
	if (row->gen == 0)
		row->gen = 1;
	mask = row->hcap - 1;
	for (i = 0; i < row->n; i++) {
		j = sa_name_hash(row->cols[i].name, row->cols[i].namelen) & mask;
		while (row->stamp[j] == row->gen)
			j = (j + 1) & mask;
		row->stamp[j] = row->gen;
		row->hash[j] = i + 1;
	}
}

/* Returns the slot of NAME: taken (stamp == gen) if the name is there. */
static size_t
slot(const struct sa_row *row, const char *name, size_t len)
{
	size_t mask = row->hcap - 1, j = sa_name_hash(name, len) & mask;
	const struct sa_col *c;

	while (row->stamp[j] == row->gen) {
		c = &row->cols[row->hash[j] - 1];
		if (c->namelen == len && memcmp(c->name, name, len) == 0)
			break;
		j = (j + 1) & mask;
	}
	return j;
}

long
sa_row_find(const struct sa_row *row, const char *name, size_t len)
{
	size_t j;

	if (row->hcap == 0)
		return -1;
	j = slot(row, name, len);
	return row->stamp[j] == row->gen ? (long)row->hash[j] - 1 : -1;
}

void
sa_val_path(struct sa_buf *b, const struct sa_val *v)
{
	const struct sa_val *chain[64], *p;
	size_t n = 0, i;

	for (p = v; p != NULL && p->parent != NULL && n < 64; p = p->parent)
		chain[n++] = p;
	while (n-- > 0) {
		p = chain[n];
		if (p->parent->type == SA_ARRAY) {
			const struct sa_val *e;

			for (i = 0, e = p->parent->child; e != p; e = e->next)
				i++;
			sa_buf_grow(b, 24);
			b->len += snprintf(b->s + b->len, 24, "[%zu]", i);
		} else {
			if (b->len > 0)
				sa_buf_addc(b, '.');
			sa_buf_add(b, p->key, p->keylen);
		}
	}
	if (b->len == 0)
		sa_buf_adds(b, "(record)");
}

static int
same(const struct sa_val *a, const struct sa_val *b)
{
	int ta = a == NULL ? SA_NULL : a->type;
	int tb = b == NULL ? SA_NULL : b->type;

	if (ta == SA_NULL || tb == SA_NULL)
		return ta == tb;
	return sa_val_equal(a, b);
}

/* Is column NAME left out: matched by --drop, or by none of --columns? */
static int
dropped(const struct sa_flat_opts *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->ndrop; i++)
		if (fnmatch(o->drop[i], name, 0) == 0)
			return 1;
	for (i = 0; i < o->nkeep; i++)
		if (fnmatch(o->keep[i], name, 0) == 0)
			return 0;
	return o->nkeep > 0;
}

int
sa_row_add(struct sa_row *row, const struct sa_flat_opts *o, const char *name,
    size_t len, const struct sa_val *v)
{
	struct sa_col *c;
	char *copy;
	size_t j;

	if (row->n * 2 >= row->hcap)
		rehash(row);
	j = slot(row, name, len);
	if (row->stamp[j] == row->gen) {
		struct sa_buf a = { 0 }, b = { 0 };
		const struct sa_val *old = row->cols[row->hash[j] - 1].v;

		if (same(old, v))
			return 1;
		if (old != NULL)
			sa_val_path(&a, old);
		if (v != NULL)
			sa_val_path(&b, v);
		snprintf(row->error, sizeof(row->error),
		    "%s and %s both make column \"%.*s\" with different values",
		    a.s ? a.s : "a key", b.s ? b.s : "a key", (int)len, name);
		sa_buf_free(&a);
		sa_buf_free(&b);
		return 0;
	}
	copy = sa_arena_alloc(row->arena, len + 1);
	memcpy(copy, name, len);
	copy[len] = '\0';
	if (o != NULL && (o->ndrop > 0 || o->nkeep > 0) && dropped(o, copy))
		return 1;
	if (row->n == row->cap) {
		row->cap = row->cap ? row->cap * 2 : 32;
		row->cols = xrealloc(row->cols, row->cap * sizeof(*c));
	}
	c = &row->cols[row->n++];
	c->name = copy;
	c->namelen = len;
	c->v = v;
	row->stamp[j] = row->gen;
	row->hash[j] = row->n;
	return 1;
}

int
sa_is_object_array(const struct sa_val *v)
{
	const struct sa_val *e;

	if (v->type != SA_ARRAY)
		return 0;
	for (e = v->child; e != NULL; e = e->next)
		if (e->type == SA_OBJECT)
			return 1;
	return 0;
}

static void
remember_array(struct sa_row *row, const struct sa_val *v, const char *name,
    size_t len)
{
	char *copy = sa_arena_alloc(row->arena, len + 1);

	memcpy(copy, name, len);
	copy[len] = '\0';
	if (row->narrays == row->arrays_cap) {
		row->arrays_cap = row->arrays_cap ? row->arrays_cap * 2 : 8;
		row->arrays = xrealloc(row->arrays,
		    row->arrays_cap * sizeof(*row->arrays));
		row->array_names = xrealloc(row->array_names,
		    row->arrays_cap * sizeof(*row->array_names));
	}
	row->arrays[row->narrays] = v;
	row->array_names[row->narrays++] = copy;
}

static int
flatten(const struct sa_flat_opts *o, struct sa_row *row,
    const struct sa_val *obj, struct sa_buf *name, int depth)
{
	const struct sa_val *m;
	size_t plen = name->len;
	int ok = 1;

	for (m = obj->child; m != NULL && ok; m = m->next) {
		name->len = plen;
		if (plen > 0)
			sa_buf_add(name, o->sep, o->seplen);
		sa_buf_add(name, m->key, m->keylen);
		if (m->type == SA_OBJECT && m->len > 0 &&
		    (o->max_depth == 0 || depth < o->max_depth))
			ok = flatten(o, row, m, name, depth + 1);
		else if (m->type == SA_OBJECT && m->len == 0)
			continue;	/* {} has no columns to give */
		else if (o->split && sa_is_object_array(m))
			remember_array(row, m, name->s, name->len);
		else if (o->split && m->type == SA_ARRAY && m->len == 0)
			continue;	/* no rows to give, and no type */
		else
			ok = sa_row_add(row, o, name->s, name->len, m);
	}
	name->len = plen;
	return ok;
}

static __thread struct sa_buf name;	/* one per worker thread */

int
sa_flatten(const struct sa_flat_opts *o, struct sa_row *row,
    const struct sa_val *obj, const char *prefix, size_t plen, int depth)
{
	sa_buf_reset(&name);
	sa_buf_add(&name, prefix, plen);
	return flatten(o, row, obj, &name, depth);
}

void
sa_flatten_thread_done(void)
{
	sa_buf_free(&name);
}
