/* tmp.c: temporary files under $TMPDIR, unlinked as soon as they exist. */
#include <stdlib.h>
#include <unistd.h>

#include "sa.h"

int
sa_tmpfd(void)
{
	const char *dir = getenv("TMPDIR");
	struct sa_buf path = { 0 };
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	sa_buf_adds(&path, dir);
	sa_buf_adds(&path, "/sa-XXXXXX");
	fd = mkstemp(path.s);
	if (fd < 0)
		sa_die_errno(EX_CANTCREAT, "cannot create a temporary file in %s",
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
