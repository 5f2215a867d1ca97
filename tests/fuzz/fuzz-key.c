/*
 * fuzz-key.c: key extraction and fingerprints on any record and keys.
 *
 * The input's first line is a comma-separated list of -k paths, the rest
 * one JSON value.  Fingerprints must not depend on member order (the
 * value with every object's members reversed, and its canonical JSON
 * read back, have the same ones), a key is missing exactly when a path
 * finds nothing or null, and partitions are in range.
 */
#include <string.h>

#include "fuzz.h"

#define MAXKEYS 8

static struct sa_arena *arena;
static struct sa_buf scratch, text;

static int
has_duplicate_names(const struct sa_val *o)
{
	const struct sa_val *a, *b;

	for (a = o->child; a != NULL; a = a->next)
		for (b = a->next; b != NULL; b = b->next)
			if (a->keylen == b->keylen &&
			    memcmp(a->key, b->key, a->keylen) == 0)
				return 1;
	return 0;
}

/* A copy of V with the members of every object in reverse order, or
 * NULL if an object has a name twice (then order is part of the value). */
static struct sa_val *
reversed(const struct sa_val *v)
{
	const struct sa_val *k, *kids[64];
	struct sa_val *c = sa_val_new(arena, v->type, v->str, v->len), *e;
	size_t n = 0, i;

	if (v->type == SA_OBJECT && has_duplicate_names(v))
		return NULL;
	for (k = v->child; k != NULL; k = k->next) {
		if (n == 64)
			return NULL;
		kids[n++] = k;
	}
	for (i = 0; i < n; i++) {
		k = kids[v->type == SA_OBJECT ? n - 1 - i : i];
		if ((e = reversed(k)) == NULL)
			return NULL;
		sa_val_add(c, e, k->key, k->keylen);
	}
	return c;
}

static int
same(struct sa_fp a, struct sa_fp b)
{
	return a.lo == b.lo && a.hi == b.hi;
}

/* The key of record O under PATHS: 0 if a part is missing or null. */
static int
key(const struct sa_val *o, char **paths, size_t n, struct sa_fp *fp)
{
	struct sa_val *vals[MAXKEYS];
	size_t i;
	int found = 1, ok;

	for (i = 0; i < n; i++) {
		vals[i] = sa_get_path(o, paths[i]);
		found &= vals[i] != NULL && vals[i]->type != SA_NULL;
	}
	ok = sa_fp_key(vals, n, &scratch, fp);
	FUZZ_CHECK(ok == found, "a key is missing but has a fingerprint, "
	    "or the other way round");
	return ok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned nparts[] = { 1, 2, 3, 16, 255, 256, 65536,
		4294967295u };
	const char *nl = memchr(data, '\n', size);
	char *spec, *paths[MAXKEYS], *p;
	struct sa_val *v, *w;
	struct sa_fp f, g;
	size_t n = 0, i;
	char *err;
	int ok;

	if (nl == NULL)
		return 0;
	if (arena == NULL)
		arena = sa_arena_new();
	sa_arena_reset(arena);
	spec = xstrndup((const char *)data, nl - (const char *)data);
	for (p = spec; n < MAXKEYS && p != NULL; p = p ? p + 1 : NULL) {
		paths[n++] = p;
		if ((p = strchr(p, ',')) != NULL)
			*p = '\0';
	}
	nl++;
	v = sa_json_parse(arena, nl, size - (nl - (const char *)data), &err);
	if (v == NULL)
		goto out;

	f = sa_fp_value(v, &scratch);
	for (i = 0; i < sizeof(nparts) / sizeof(nparts[0]); i++)
		FUZZ_CHECK(sa_partition(f, nparts[i]) < nparts[i],
		    "a partition out of range");

	/* Its canonical JSON reads back as the same value. */
	sa_buf_reset(&text);
	sa_json_canonical(&text, v);
	w = sa_json_parse(arena, text.s, text.len, &err);
	FUZZ_CHECK(w != NULL, "canonical JSON does not read back");
	FUZZ_CHECK(sa_val_equal(v, w) && sa_val_equal(w, v),
	    "canonical JSON reads back as another value");
	FUZZ_CHECK(same(f, sa_fp_value(w, &scratch)),
	    "canonical JSON has another fingerprint");

	ok = key(v, paths, n, &f);
	if ((w = reversed(v)) != NULL) {
		FUZZ_CHECK(sa_val_equal(v, w),
		    "member order makes values unequal");
		FUZZ_CHECK(same(sa_fp_value(v, &scratch),
		    sa_fp_value(w, &scratch)),
		    "member order changes a fingerprint");
		FUZZ_CHECK(key(w, paths, n, &g) == ok && (!ok || same(f, g)),
		    "member order changes a key");
	}
out:
	free(spec);
	return 0;
}
