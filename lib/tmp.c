/* tmp.c: temporary files under $TMPDIR, unlinked as soon as they exist. */
#include <stdlib.h>
#include <unistd.h>

#include "sa.h"

const char *
sa_tmpdir(void)
{
	const char *dir = getenv("TMPDIR");

	return dir == NULL || *dir == '\0' ? "/tmp" : dir;
}

int
sa_tmpfd(void)
{
	const char *dir = sa_tmpdir();
	struct sa_buf path = { 0 };
	int fd;

	sa_no_sigxfsz();
	sa_buf_adds(&path, dir);
	sa_buf_adds(&path, "/sa-XXXXXX");
	/* mkstemp: mode 0600 and O_EXCL, so a planted name is never used. */
	fd = mkstemp(path.s);
	if (fd < 0)
		sa_die_errno(EX_CANTCREAT, "%s: cannot create a temporary file",
		    dir);
	/* Unlinked at once: nothing is left behind on any exit path. */
	unlink(path.s);
	sa_buf_free(&path);
	return fd;
}

FILE *
sa_tmpfile(void)
{
	FILE *f = fdopen(sa_tmpfd(), "w+");

	if (f == NULL)
		sa_die_errno(EX_OSERR, "fdopen");
	return f;
}
