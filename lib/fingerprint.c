/* fingerprint.c: XXH3-128 fingerprints and the partition function.
 *
 * Every keyed stage (dedup and join spills now, --shard later) partitions
 * by sa_partition() of the same fingerprint, so that the pieces of one
 * key always meet in the same partition. */
#define XXH_INLINE_ALL
#include <xxhash.h>
#include <stdlib.h>
#include <string.h>

#include "sa.h"

struct sa_fp
sa_fp_bytes(const void *p, size_t n)
{
	XXH128_hash_t h = XXH3_128bits(p, n);
	struct sa_fp fp = { h.low64, h.high64 };

	return fp;
}

static int
cmp_key(const struct sa_val *x, const struct sa_val *y)
{
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);

	if (c != 0)
		return c;
	return (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

static int
cmp_member(const void *a, const void *b)
{
	return cmp_key(*(const struct sa_val *const *)a,
	    *(const struct sa_val *const *)b);
}

/* Appends V to B as tagged, length-prefixed bytes, members sorted by
 * name: the same bytes for equal values, whatever their key order, and
 * cheaper to make than canonical JSON (nothing to escape). */
static void
encode(struct sa_buf *b, const struct sa_val *v)
{
	const struct sa_val *m, *small[16], **sorted;
	size_t i, j, n;

	sa_buf_addc(b, v->type);
	switch (v->type) {
	case SA_NUMBER:
	case SA_STRING:
		sa_buf_add(b, &v->len, sizeof(v->len));
		sa_buf_add(b, v->str, v->len);
		break;
	case SA_ARRAY:
		sa_buf_add(b, &v->len, sizeof(v->len));
		for (m = v->child; m != NULL; m = m->next)
			encode(b, m);
		break;
	case SA_OBJECT:
		n = v->len;
		sorted = n <= 16 ? small : xmalloc(n * sizeof(*sorted));
		for (i = 0, m = v->child; m != NULL; m = m->next) {
			/* Insertion sort for small objects, qsort beyond. */
			for (j = i++; n <= 16 && j > 0 &&
			    cmp_key(sorted[j - 1], m) > 0; j--)
				sorted[j] = sorted[j - 1];
			sorted[n <= 16 ? j : i - 1] = m;
		}
		if (n > 16)
			qsort(sorted, n, sizeof(*sorted), cmp_member);
		sa_buf_add(b, &n, sizeof(n));
		for (i = 0; i < n; i++) {
			sa_buf_add(b, &sorted[i]->keylen,
			    sizeof(sorted[i]->keylen));
			sa_buf_add(b, sorted[i]->key, sorted[i]->keylen);
			encode(b, sorted[i]);
		}
		if (sorted != small)
			free(sorted);
		break;
	}
}

struct sa_fp
sa_fp_value(const struct sa_val *v, struct sa_buf *scratch)
{
	sa_buf_reset(scratch);
	encode(scratch, v);
	return sa_fp_bytes(scratch->s, scratch->len);
}

int
sa_fp_key(struct sa_val *const *vals, size_t n, struct sa_buf *scratch,
    struct sa_fp *fp)
{
	struct sa_buf one = { 0 };
	const char *s;
	size_t i, len;
	int ok = 1;

	sa_buf_reset(scratch);
	for (i = 0; i < n && ok; i++) {
		if (!sa_val_text(vals[i], &one, &s, &len)) {
			ok = 0;
			break;
		}
		/* Length-prefixed, so that ("a","bc") and ("ab","c") differ. */
		sa_buf_add(scratch, &len, sizeof(len));
		sa_buf_add(scratch, s, len);
	}
	sa_buf_free(&one);
	if (ok)
		*fp = sa_fp_bytes(scratch->s, scratch->len);
	return ok;
}

unsigned
sa_partition(struct sa_fp fp, unsigned nparts)
{
	/* The high half, so that tables indexed by the low half stay
	 * independent of the partition. */
	return (unsigned)(((unsigned __int128)fp.hi * nparts) >> 64);
}
