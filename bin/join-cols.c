/* join-cols.c: --right-columns, the right columns that are kept, and the
 * right records and schema cut down to them as they are read. */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "join.h"

static char **rcols;		/* the GLOBs, in the order given */
static size_t nrcols;		/* none: every right column is kept */
static struct nameset exact;	/* those that are plain names */
static char **globs;		/* the others, for fnmatch(3) */
static size_t nglobs;

/* --right-columns: ARG is a comma-separated list of GLOBs, added to those
 * of earlier uses of the option.  A GLOB without a pattern character is
 * a plain name, looked up by hash rather than matched one by one. */
void
right_columns_parse(const char *arg)
{
	size_t i = nrcols;

	sa_list_add("--right-columns", arg, ',', &rcols, &nrcols);
	for (; i < nrcols; i++) {
		if (strpbrk(rcols[i], "*?[\\") == NULL) {
			nameset_add(&exact, rcols[i], strlen(rcols[i]));
			continue;
		}
		globs = xrealloc(globs, (nglobs + 1) * sizeof(*globs));
		globs[nglobs++] = rcols[i];
	}
}

/* Whether the right column named by the LEN bytes at NAME is kept: every
 * column without --right-columns, the right keys always (they join and
 * fill the key of a right-only row).  Reads only what the options set,
 * so worker threads may ask at once. */
int
right_column_kept(const char *name, size_t len)
{
	char small[256], *s;
	size_t i;
	int kept = 0;

	if (nrcols == 0 || is_right_key(name, len) ||
	    nameset_has(&exact, name, len))
		return 1;
	/* A name holding a NUL is not the name fnmatch(3) would see. */
	if (nglobs == 0 || memchr(name, '\0', len) != NULL)
		return 0;
	s = len < sizeof(small) ? small : xmalloc(len + 1);
	memcpy(s, name, len);
	s[len] = '\0';
	for (i = 0; i < nglobs && !kept; i++)
		kept = fnmatch(globs[i], s, 0) == 0;
	if (s != small)
		free(s);
	return kept;
}

/* Sets FS to the kept columns of right record O: the others are dropped
 * here, before the record is packed, hashed or spilled. */
void
right_fields_of(struct sa_fields *fs, const struct sa_val *o)
{
	sa_fields_of_some(fs, o, nrcols > 0 ? right_column_kept : NULL);
}

/* Cuts the right schema (a TSV header, or the first record's names) down
 * to the kept columns; doing it again changes nothing. */
void
right_schema_cut(void)
{
	size_t i, n = 0;

	if (nrcols == 0)
		return;
	for (i = 0; i < nrschema; i++)
		if (right_column_kept(rschema[i], strlen(rschema[i])))
			rschema[n++] = rschema[i];
		else
			free(rschema[i]);
	nrschema = n;
	if (rschema != NULL)
		rschema[n] = NULL;
}
