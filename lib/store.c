/* store.c: spill streams that share one temporary file, so that a join
 * or a dedup holds one descriptor for its partitions however many.  A
 * stream is used by one thread at a time; the slots and the list of
 * streams are shared, under a lock (sa-join's partitions are joined by
 * several threads). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sa.h"
#include "spill.h"

/* The file is cut in slots of SLOT bytes; a stream is a list of slots.
 * The slots of a closed stream are reused, so that the file is as large
 * as the most the streams ever held at once. */
#define SLOT (1 << 16)
/* Each stream's stdio buffer: a join has 64 partitions a side open at
 * once, so that many of these count against its budget. */
#define IOBUF (1 << 15)

static struct {
	int fd;
	off_t end;		/* bytes of slots handed out */
	off_t *free;		/* slots of closed streams */
	size_t nfree, capfree;
	struct stream *open;	/* the streams not closed yet */
} store = { -1, 0, NULL, 0, 0, NULL };
static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;

struct stream {
	struct stream *prev, *next;	/* in store.open */
	off_t *slot;		/* offsets of its slots in the file, in order */
	size_t nslot;
	off_t len, pos;
	char *iobuf;		/* its stdio buffer (setvbuf would take 8 KiB) */
};

static off_t
slot_new(void)
{
	off_t at;

	pthread_mutex_lock(&store_lock);
	if (store.nfree > 0)
		at = store.free[--store.nfree];
	else {
		store.end += SLOT;
		at = store.end - SLOT;
	}
	pthread_mutex_unlock(&store_lock);
	return at;
}

/* Streams only grow at their end: spill files are written, then read. */
static ssize_t
stream_write(void *cookie, const char *buf, size_t n)
{
	struct stream *s = cookie;
	size_t done = 0, k;
	ssize_t w;

	if (s->pos != s->len) {
		errno = EINVAL;
		return 0;
	}
	while (done < n) {
		if (s->len == (off_t)s->nslot * SLOT) {
			s->slot = xrealloc(s->slot,
			    (s->nslot + 1) * sizeof(*s->slot));
			s->slot[s->nslot++] = slot_new();
		}
		k = SLOT - s->len % SLOT;
		if (k > n - done)
			k = n - done;
		w = pwrite(store.fd, buf + done, k,
		    s->slot[s->len / SLOT] + s->len % SLOT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += w;
		s->len += w;
	}
	s->pos = s->len;
	return done;
}

static ssize_t
stream_read(void *cookie, char *buf, size_t n)
{
	struct stream *s = cookie;
	size_t k = SLOT - s->pos % SLOT;
	ssize_t r;

	if (s->pos >= s->len)
		return 0;
	if (k > n)
		k = n;
	if ((off_t)k > s->len - s->pos)
		k = s->len - s->pos;
	do
		r = pread(store.fd, buf, k, s->slot[s->pos / SLOT] +
		    s->pos % SLOT);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		errno = EIO;
		r = -1;
	}
	if (r > 0)
		s->pos += r;
	return r;
}

static int
stream_seek(void *cookie, off64_t *off, int whence)
{
	struct stream *s = cookie;
	off64_t to = *off;

	if (whence == SEEK_CUR)
		to += s->pos;
	else if (whence == SEEK_END)
		to += s->len;
	if (to < 0 || to > s->len) {
		errno = EINVAL;
		return -1;
	}
	s->pos = *off = to;
	return 0;
}

static int
stream_close(void *cookie)
{
	struct stream *s = cookie;
	off_t *grown = NULL;
	size_t cap = 0;

	/* The free list grows outside the lock: nothing under it ends the
	 * program while another thread waits for it. */
	pthread_mutex_lock(&store_lock);
	while (store.nfree + s->nslot > store.capfree) {
		cap = store.nfree + s->nslot + store.capfree;
		pthread_mutex_unlock(&store_lock);
		free(grown);
		grown = xmalloc(cap * sizeof(*grown));
		pthread_mutex_lock(&store_lock);
		if (store.nfree + s->nslot <= cap && cap > store.capfree) {
			if (store.nfree > 0)
				memcpy(grown, store.free,
				    store.nfree * sizeof(*store.free));
			free(store.free);
			store.free = grown;
			store.capfree = cap;
			grown = NULL;
		}
	}
	if (s->nslot > 0)
		memcpy(store.free + store.nfree, s->slot,
		    s->nslot * sizeof(*s->slot));
	store.nfree += s->nslot;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		store.open = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&store_lock);
	free(grown);
	free(s->slot);
	free(s->iobuf);
	free(s);
	return 0;
}

FILE *
sa_spill_stream(void)
{
	static const cookie_io_functions_t io = { stream_read, stream_write,
		stream_seek, stream_close };
	struct stream *s = xcalloc(1, sizeof(*s));
	FILE *f;
	int fd;

	if ((f = fopencookie(s, "w+", io)) == NULL)
		sa_die_errno(EX_OSERR, "fopencookie");
	pthread_mutex_lock(&store_lock);
	if (store.fd < 0) {
		/* Made outside the lock, which nothing may hold when it ends
		 * the program. */
		pthread_mutex_unlock(&store_lock);
		fd = sa_tmpfd();
		pthread_mutex_lock(&store_lock);
		if (store.fd < 0)
			store.fd = fd;
		else
			close(fd);
	}
	if ((s->next = store.open) != NULL)
		s->next->prev = s;
	store.open = s;
	pthread_mutex_unlock(&store_lock);
	/* A buffer of our own: given none, glibc's is 8 KiB whatever the
	 * size asked, and the streams go in that many bytes a system call. */
	s->iobuf = xmalloc(IOBUF);
	setvbuf(f, s->iobuf, _IOFBF, IOBUF);
	return f;
}
