/* fingerprint.c: XXH3-128 fingerprints, the partition function and shards.
 *
 * Every keyed stage (dedup and join spills, --shard) partitions by the
 * same fingerprint, so that the pieces of one key always meet in the same
 * partition, and the records of one key in the same shard.
 *
 * The bits of a fingerprint have one use each: the tables index by the
 * low half (its low bits pick a subtable, its top bits a slot), spill
 * partitions take six bits of the high half a level from its top (levels
 * 0 to 3: bits 63 to 34; a level 4 needs 64^4 times the budget), and
 * shards take the low 32 bits of the high half.  So within one shard the
 * records still spread evenly over the spill partitions and the slots. */
#define XXH_INLINE_ALL
#include <xxhash.h>
#include <errno.h>
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

/* For the hash tables of column names: short strings, on the hot path. */
size_t
sa_name_hash(const void *p, size_t n)
{
	return (size_t)XXH3_64bits(p, n);
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

unsigned
sa_shard_of(struct sa_fp fp, unsigned n)
{
	return (unsigned)(((fp.hi & 0xffffffffu) * (uint64_t)n) >> 32);
}

int
sa_shard_keep(const struct sa_shard *sh, struct sa_fp fp)
{
	return sh->n == 0 || sa_shard_of(fp, sh->n) == sh->i - 1;
}

void
sa_shard_parse(struct sa_shard *sh, const char *opt, const char *arg)
{
	unsigned long i, n;
	char *end;

	/* As GNU split -n K/N: both decimal, 1 <= K <= N. */
	if (*arg < '0' || *arg > '9')
		goto bad;
	errno = 0;
	i = strtoul(arg, &end, 10);
	if (errno || *end != '/' || end[1] < '0' || end[1] > '9')
		goto bad;
	n = strtoul(end + 1, &end, 10);
	if (errno || *end != '\0')
		goto bad;
	if (n == 0 || n > 1u << 20 || i == 0 || i > n)
		sa_usage_error("%s: %s: I must be from 1 to N, and N from 1 to "
		    "%u", opt, arg, 1u << 20);
	sh->i = (unsigned)i;
	sh->n = (unsigned)n;
	return;
bad:
	sa_usage_error("%s: expected I/N (e.g. 2/4), not '%s'", opt, arg);
}
