/*
 * bgwrite.c: a thread that writes one buffer of lines while its caller
 * fills the other, for output made after the input is read (the rows of
 * a -t spool): reading and writing then overlap.
 *
 * Meanwhile the signals that end a run are the writer's, as they are the
 * main thread's otherwise (sa(7)): the writer finishes the line under way
 * before the abort line.  A run that ends otherwise (exit) lets the
 * writer finish its buffer first.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "sa.h"

struct sa_bgwrite {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fd;
	struct sa_buf bufs[2];
	struct sa_buf *full;	/* being written, or NULL */
	int done;		/* no more buffers come */
	int err;		/* errno of a write that failed, or 0 */
	sigset_t mask;		/* the caller's signal mask before */
};

/* The writer at work, for the exit hook (the main thread's). */
static struct sa_bgwrite *active;

/* At exit while a writer works: its buffer goes out whole before the
 * abort line, and it stops. */
static void
stop_at_exit(int status, void *arg)
{
	struct sa_bgwrite *w = active;

	(void)status;
	(void)arg;
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	while (w->full != NULL)
		pthread_cond_wait(&w->cond, &w->lock);
	w->done = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	active = NULL;
}

static void *
writer(void *arg)
{
	struct sa_bgwrite *w = arg;
	struct sa_buf *b;
	int err = 0;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->full == NULL && !w->done)
			pthread_cond_wait(&w->cond, &w->lock);
		if ((b = w->full) == NULL)
			break;
		pthread_mutex_unlock(&w->lock);
		if (err == 0 && sa_write_lines(w->fd, b->s, b->len) != 0)
			err = errno;
		b->len = 0;
		pthread_mutex_lock(&w->lock);
		w->err = err;
		w->full = NULL;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct sa_bgwrite *
sa_bgwrite_start(int fd, struct sa_buf **b)
{
	static int hooked;
	struct sa_bgwrite *w = xcalloc(1, sizeof(*w));
	sigset_t ends;
	int e;

	if (!hooked) {
		on_exit(stop_at_exit, NULL);
		hooked = 1;
	}
	w->fd = fd;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if ((e = pthread_create(&w->thread, NULL, writer, w)) != 0) {
		errno = e;
		sa_die_errno(EX_OSERR, "cannot start a thread");
	}
	/* The writer takes the signals that end a run, not this thread. */
	sigemptyset(&ends);
	sigaddset(&ends, SIGINT);
	sigaddset(&ends, SIGTERM);
	sigaddset(&ends, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &ends, &w->mask);
	active = w;
	*b = &w->bufs[0];
	return w;
}

int
sa_bgwrite_put(struct sa_bgwrite *w, struct sa_buf **b)
{
	int err;

	pthread_mutex_lock(&w->lock);
	while (w->full != NULL)
		pthread_cond_wait(&w->cond, &w->lock);
	err = w->err;
	if (err == 0 && (*b)->len > 0) {
		w->full = *b;
		pthread_cond_broadcast(&w->cond);
		*b = *b == &w->bufs[0] ? &w->bufs[1] : &w->bufs[0];
	}
	pthread_mutex_unlock(&w->lock);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

int
sa_bgwrite_add(struct sa_bgwrite *w, struct sa_buf **b, const char *p,
    size_t len)
{
	sa_buf_add(*b, p, len);
	return (*b)->len >= SA_BGWRITE_BLOCK ? sa_bgwrite_put(w, b) : 0;
}

int
sa_bgwrite_end(struct sa_bgwrite *w, struct sa_buf *b)
{
	int err = sa_bgwrite_put(w, &b) == 0 ? 0 : errno;

	pthread_mutex_lock(&w->lock);
	w->done = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	active = NULL;
	pthread_sigmask(SIG_SETMASK, &w->mask, NULL);
	if (err == 0)
		err = w->err;
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	sa_buf_free(&w->bufs[0]);
	sa_buf_free(&w->bufs[1]);
	free(w);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}
