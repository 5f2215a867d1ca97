/* join-key.c: the key of a record, its description in messages, and the
 * checks on keys (--validate, --max-fanout). */
#include <stdlib.h>
#include <string.h>

#include "join.h"

static __thread struct sa_val **vals;	/* each thread's: workers read keys */

void
key_of(const struct sa_val *o, char **names, struct key *k)
{
	size_t i;

	if (vals == NULL)
		vals = xcalloc(nkeys, sizeof(*vals));
	for (i = 0; i < nkeys; i++)
		vals[i] = sa_get_path(o, names[i]);
	k->null = !sa_fp_key(vals, nkeys, &k->text, &k->fp);
	if (k->null) {
		k->fp.lo = k->fp.hi = 0;
		sa_buf_reset(&k->text);
	}
}

void
key_thread_done(void)
{
	free(vals);
	vals = NULL;
}

/* --shard: whether key K is in the shard.  A null or missing key never
 * matches, so its record goes to shard 1: in an outer join its row then
 * comes out of exactly one shard. */
int
key_in_shard(const struct key *k)
{
	if (shard.n == 0)
		return 1;
	return k->null ? shard.i == 1 : sa_shard_keep(&shard, k->fp);
}

/* Describes key text P (as made by sa_fp_key) for messages. */
const char *
key_desc(const char *p, size_t len)
{
	static __thread struct sa_buf b;
	const char *end = p + len;
	size_t i, n;

	sa_buf_reset(&b);
	for (i = 0; i < nkeys && p + sizeof(n) <= end; i++) {
		memcpy(&n, p, sizeof(n));
		p += sizeof(n);
		if (i > 0)
			sa_buf_addc(&b, ',');
		sa_buf_adds(&b, lkeys[i]);
		sa_buf_addc(&b, '=');
		sa_json_string_lossy(&b, p, n);
		p += n;
	}
	return b.s != NULL ? b.s : "";
}

void
not_unique(const char *file, uintmax_t line, const char *key, size_t klen,
    const char *side)
{
	/* A partition's thread leaves stdout to the main thread. */
	if (sa_die_hook == NULL)
		sa_out_flush();
	sa_die(EX_DATAERR, "%s:%ju: key %s is not unique in %s "
	    "(--validate %s)", file, line, key_desc(key, klen), side,
	    validate);
}

void
check_fanout(struct bucket *b, const char *file, uintmax_t line,
    const char *key, size_t klen)
{
	if (max_fanout > 0 && b->nleft * b->nright > max_fanout) {
		if (sa_die_hook == NULL)
			sa_out_flush();
		sa_die(EX_DATAERR, "%s:%ju: key %s would produce more than %llu "
		    "rows (--max-fanout)", file, line, key_desc(key, klen),
		    max_fanout);
	}
}

int
is_right_key(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < nkeys; i++)
		if (strlen(rkeys[i]) == len && memcmp(rkeys[i], s, len) == 0)
			return 1;
	return 0;
}

int
is_left_key(const char *s, size_t len, size_t *which)
{
	size_t i;

	for (i = 0; i < nkeys; i++)
		if (strlen(lkeys[i]) == len && memcmp(lkeys[i], s, len) == 0) {
			*which = i;
			return 1;
		}
	return 0;
}
