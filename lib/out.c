/* out.c: buffered standard output that ends quietly on a closed pipe. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "sa.h"

struct sa_buf sa_out;
static int exiting;

static void
flush_at_exit(void)
{
	exiting = 1;
	sa_out_flush();
}

void
sa_out_init(void)
{
	/* EPIPE from write() is handled here rather than by SIGPIPE, so that
	 * the end is quiet and buffered work can be cleaned up. */
	signal(SIGPIPE, SIG_IGN);
	sa_buf_grow(&sa_out, 1 << 17);
	atexit(flush_at_exit);
}

void
sa_out_flush(void)
{
	size_t off = 0;
	ssize_t n;

	while (off < sa_out.len) {
		n = write(STDOUT_FILENO, sa_out.s + off, sa_out.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPIPE) {
			/* The reader is gone: a quiet end, but through exit(),
			 * so that --stats prints and the rejects are written. */
			sa_out.len = 0;
			if (!exiting)
				exit(EX_OK);
			return;
		}
		if (n < 0) {
			sa_out.len = 0;
			sa_die_errno(EX_IOERR, "write error");
		}
		off += n;
	}
	sa_out.len = 0;
}
