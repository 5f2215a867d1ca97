/* shardfiles.c: the one-pass split, one output file per key shard, each appearing complete when the run succeeds. */
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa.h"

/* What a shard's buffer holds before it is written: with the largest N,
 * 256 buffers stay within 16 MB. */
#define FLUSH_AT (64 << 10)

struct shard_file {
	char *path;
	int fd;
	struct sa_buf buf;
};

struct sa_shard_files {
	unsigned n;
	struct shard_file *f;
};

struct sa_shard_files *
sa_shard_files_open(const char *dir, unsigned n, const char *ext,
    const struct sa_buf *header)
{
	struct sa_shard_files *s = xcalloc(1, sizeof(*s));
	struct sa_buf path = { 0 };
	struct stat st;
	char num[16];
	unsigned i;

	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		sa_die_errno(EX_CANTCREAT, "%s", dir);
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		sa_die(EX_CANTCREAT, "%s: not a directory", dir);
	s->n = n;
	s->f = xcalloc(n, sizeof(*s->f));
	for (i = 0; i < n; i++) {
		sa_buf_reset(&path);
		sa_buf_adds(&path, dir);
		snprintf(num, sizeof(num), "/%u.", i + 1);
		sa_buf_adds(&path, num);
		sa_buf_adds(&path, ext);
		s->f[i].path = xstrdup(path.s);
		/* Every file is made now, so that a shard without records
		 * still has its (empty) file once the run succeeds. */
		s->f[i].fd = sa_create_atomic(s->f[i].path, 0666);
		if (header != NULL)
			sa_buf_add(&s->f[i].buf, header->s, header->len);
	}
	sa_buf_free(&path);
	return s;
}

static void
write_out(struct shard_file *f)
{
	if (sa_write_lines(f->fd, f->buf.s, f->buf.len) != 0)
		sa_die_errno(EX_IOERR, "%s", f->path);
	f->buf.len = 0;
}

void
sa_shard_files_put(struct sa_shard_files *s, struct sa_fp fp,
    const char *line, size_t len)
{
	struct shard_file *f = &s->f[sa_shard_of(fp, s->n)];

	sa_buf_add(&f->buf, line, len);
	if (f->buf.len >= FLUSH_AT)
		write_out(f);
}

void
sa_shard_files_commit(struct sa_shard_files *s)
{
	unsigned i;

	for (i = 0; i < s->n; i++)
		write_out(&s->f[i]);
	for (i = 0; i < s->n; i++) {
		sa_commit(s->f[i].fd, s->f[i].path);
		free(s->f[i].path);
		sa_buf_free(&s->f[i].buf);
	}
	free(s->f);
	free(s);
}
