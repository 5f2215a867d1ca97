/* fingerprint.c: XXH3-128 fingerprints and the partition function.
 *
 * Every keyed stage (dedup and join spills now, --shard later) partitions
 * by sa_partition() of the same fingerprint, so that the pieces of one
 * key always meet in the same partition. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "sa.h"

struct sa_fp
sa_fp_bytes(const void *p, size_t n)
{
	XXH128_hash_t h = XXH3_128bits(p, n);
	struct sa_fp fp = { h.low64, h.high64 };

	return fp;
}

struct sa_fp
sa_fp_value(const struct sa_val *v, struct sa_buf *scratch)
{
	sa_buf_reset(scratch);
	sa_json_canonical(scratch, v);
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
