/* join-grace.c: the grace hash join, both sides in hash partitions that
 * are joined one by one (split again while too big, in blocks when one
 * key is too big) and merged back into input order. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "join.h"

/*
 * With threads, the partitions are joined side by side, each by one
 * thread with a table of its share of the budget.  A partition's error
 * (--validate, --max-fanout, a write) is kept, not reported: once one
 * has failed no thread starts another, and the error reported is that of
 * the first partition in order, the one a single thread stops at.  A
 * partition whose RIGHT outgrows a share is left to the main thread,
 * which joins it afterwards, in order, with the whole budget: split or in
 * blocks exactly as one thread would.
 */
struct pjob {
	FILE *rf, *lf, *out;
	int status;		/* of its error, or 0 */
	char *msg;
	int big;		/* its RIGHT outgrew a thread's share */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t idle;	/* a thread is done */
	struct pjob *jobs;
	size_t n, next;
	unsigned active;	/* threads still joining */
	int failed;
	size_t budget;		/* for each partition's table */
	char parked[64];	/* a thread waits after an error */
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0,
	0, 0, 0, 0, { 0 } };

static __thread struct pjob *running;
static __thread size_t me;	/* the thread's index in pool.parked */

/* The budget of a partition's table: a share of --memory when several
 * threads join partitions at once. */
static __thread size_t table_cap;

static size_t
cap(void)
{
	return table_cap != 0 ? table_cap : budget;
}

static struct sa_parts *
split_file(FILE *f, unsigned level)
{
	struct sa_parts *p = sa_parts_new(level);
	struct sa_spill_rec rec;
	struct sa_buf buf = { 0 };

	if (f != NULL) {
		sa_spill_rewind(f);
		while (sa_spill_read(f, &rec, &buf))
			sa_parts_write(p, &rec);
	}
	sa_buf_free(&buf);
	return p;
}

static void
split_join(FILE *rf, FILE *lf, unsigned level, FILE *out)
{
	struct sa_parts *rp = split_file(rf, level), *lp = split_file(lf,
	    level);
	FILE *outs[SA_SPILL_PARTS];
	struct sa_spill_rec rec;
	struct sa_merge *m;
	unsigned i;

	for (i = 0; i < rp->n; i++) {
		outs[i] = NULL;
		if (rp->f[i] == NULL && lp->f[i] == NULL)
			continue;
		outs[i] = sa_spill_stream();
		join_files(rp->f[i], lp->f[i], level + 1, outs[i]);
		if (rp->f[i] != NULL)
			fclose(rp->f[i]);
		if (lp->f[i] != NULL)
			fclose(lp->f[i]);
		rp->f[i] = lp->f[i] = NULL;
	}
	sa_parts_free(rp);
	sa_parts_free(lp);
	m = sa_merge_new(outs, SA_SPILL_PARTS);
	while (sa_merge_next(m, &rec))
		sa_spill_write(out, &rec);
	sa_merge_free(m);
	for (i = 0; i < SA_SPILL_PARTS; i++)
		if (outs[i] != NULL)
			fclose(outs[i]);
}

/* The key of a row read back from a spill partition. */
static void
key_of_spilled(struct key *k, const struct sa_spill_rec *rec)
{
	k->null = rec->b & NULLKEY;
	k->fp = rec->fp;
	sa_buf_reset(&k->text);
	sa_buf_add(&k->text, rec->p, rec->plen);
}

/* Joins the left rows of partition LF (or none if NULL) with table T,
 * then writes the right rows of T that matched none. */
static void
probe_file(struct table *t, FILE *lf)
{
	struct sa_spill_rec rec;
	struct sa_buf buf = { 0 };
	struct sa_fields lfs = { 0 };
	struct key k = { 0, { 0, 0 }, { 0 } };

	if (lf != NULL) {
		sa_spill_rewind(lf);
		while (sa_spill_read(lf, &rec, &buf)) {
			key_of_spilled(&k, &rec);
			sa_fields_unpack(&lfs, rec.q, rec.qlen);
			probe(t, &k, &lfs, rec.a, lname, rec.b >> 1);
		}
	}
	table_rest(t);
	sa_buf_free(&buf);
	sa_buf_free(&k.text);
	free(lfs.f);
}

/* The runs of a block join: once there are MAXRUNS, they are merged into
 * one, so that a hot key of any size holds that many buffers at most. */
#define MAXRUNS 16

/* Merges the N runs of block_join() into OUT and closes them.  A left
 * row that matched nothing in a block has a row of its own there (B is
 * 0): it is kept once, and only if no block matched it. */
static void
merge_runs(FILE **runs, size_t n, FILE *out)
{
	struct sa_merge *m = sa_merge_new(runs, n);
	struct sa_spill_rec rec, held;
	struct sa_buf hbuf = { 0 };
	int have = 0;
	size_t i;

	while (sa_merge_next(m, &rec)) {
		if (have && rec.a != held.a) {
			sa_spill_write(out, &held);
			have = 0;
		}
		if (rec.b == 0) {
			if (!have) {
				held = rec;
				sa_buf_reset(&hbuf);
				sa_buf_add(&hbuf, rec.p, rec.plen);
				held.p = hbuf.s;
				have = 1;
			}
			continue;
		}
		have = 0;
		sa_spill_write(out, &rec);
	}
	if (have)
		sa_spill_write(out, &held);
	sa_merge_free(m);
	for (i = 0; i < n; i++)
		fclose(runs[i]);
	sa_buf_free(&hbuf);
}

/* The right rows of each key in partition RF, for --max-fanout: a block
 * holds only part of a key's rows.  Few keys come here (those that
 * hashing could not split), so the table is not capped. */
static struct sa_fptab *
count_keys(FILE *rf)
{
	struct sa_fptab *c = sa_fptab_new(sizeof(uint64_t), 0);
	struct sa_spill_rec rec;
	struct sa_buf buf = { 0 };
	int isnew;

	sa_spill_rewind(rf);
	while (sa_spill_read(rf, &rec, &buf))
		if (!(rec.b & NULLKEY))
			++*(uint64_t *)sa_fptab_get(c, rec.fp, &isnew);
	sa_buf_free(&buf);
	return c;
}

static void
set_total(struct sa_fp fp, void *payload, void *counts)
{
	struct bucket *b = payload;

	b->nright = *(uint64_t *)sa_fptab_find(counts, fp);
}

/* Joins partition RF, too big for the budget with keys that hashing
 * cannot split (one hot key), in blocks: each block of right rows that
 * fits the budget meets every left row of LF, and the blocks' rows are
 * merged into OUT in (left, right) order. */
static void
block_join(FILE *rf, FILE *lf, FILE *out)
{
	struct sa_fptab *counts = max_fanout > 0 ? count_keys(rf) : NULL;
	FILE *runs[MAXRUNS], *saved = emit_to, *merged;
	struct table t;
	struct sa_spill_rec rec;
	struct sa_buf buf = { 0 };
	struct key k = { 0, { 0, 0 }, { 0 } };
	size_t nruns = 0;
	int more, pass = 0;

	sa_spill_rewind(rf);
	more = sa_spill_read(rf, &rec, &buf);
	while (more) {
		/* The row that did not fit the last block starts this one. */
		table_init(&t, cap());
		do {
			key_of_spilled(&k, &rec);
			if (!table_add(&t, &k, rec.a, rec.b >> 1, rec.q,
			    rec.qlen))
				break;
		} while ((more = sa_spill_read(rf, &rec, &buf)));
		if (counts != NULL)
			sa_fptab_each(t.idx, set_total, counts);
		/* Left keys are checked for --validate on the first pass. */
		if (unique_left && pass++ == 0)
			lseen = sa_fptab_new(0, 0);
		emit_to = runs[nruns++] = sa_spill_stream();
		probe_file(&t, lf);
		sa_fptab_free(lseen);
		lseen = NULL;
		table_free(&t);
		if (nruns == MAXRUNS) {
			merged = sa_spill_stream();
			merge_runs(runs, nruns, merged);
			runs[0] = merged;
			nruns = 1;
		}
	}
	merge_runs(runs, nruns, out);
	emit_to = saved;
	sa_fptab_free(counts);
	sa_buf_free(&buf);
	sa_buf_free(&k.text);
}

/* Grace hash join of one partition: right records in RF, left in LF
 * (either may be NULL); output rows go to OUT in (left, right) order. */
void
join_files(FILE *rf, FILE *lf, unsigned level, FILE *out)
{
	struct table t;
	struct sa_spill_rec rec;
	struct sa_buf buf = { 0 };
	struct key k = { 0, { 0, 0 }, { 0 } };
	struct sa_fp fp0 = { 0, 0 };
	FILE *saved = emit_to;
	int onekey = 1, n = 0;

	table_init(&t, cap());
	if (rf != NULL) {
		sa_spill_rewind(rf);
		while (sa_spill_read(rf, &rec, &buf)) {
			key_of_spilled(&k, &rec);
			if (n++ == 0)
				fp0 = rec.fp;
			onekey = onekey && !k.null && rec.fp.lo == fp0.lo &&
			    rec.fp.hi == fp0.hi;
			if (table_add(&t, &k, rec.a, rec.b >> 1, rec.q,
			    rec.qlen))
				continue;
			table_free(&t);
			sa_buf_free(&buf);
			sa_buf_free(&k.text);
			if (running != NULL) {
				/* Past a thread's share: the main thread
				 * joins it as one thread would, with the
				 * whole budget.  Nothing was written. */
				running->big = 1;
				return;
			}
			/* Hashing splits many keys, never one. */
			if (onekey || level > SA_SPILL_MAXLEVEL)
				block_join(rf, lf, out);
			else
				split_join(rf, lf, level, out);
			return;
		}
	}
	emit_to = out;
	if (unique_left)
		lseen = sa_fptab_new(0, 0);
	probe_file(&t, lf);
	sa_fptab_free(lseen);
	lseen = NULL;
	emit_to = saved;
	table_free(&t);
	sa_buf_free(&buf);
	sa_buf_free(&k.text);
}

/* Writes a row of one side to its spill partitions: its key, its input
 * position SEQ (and LINE, for messages) and its packed fields. */
void
spill_row(struct sa_parts *parts, const struct key *k, uint64_t seq,
    uintmax_t line, const struct sa_buf *packed)
{
	struct sa_spill_rec sr;

	memset(&sr, 0, sizeof(sr));
	sr.fp = k->fp;
	sr.a = seq;
	sr.b = k->null | (uint64_t)line << 1;
	sr.p = k->text.s;
	sr.plen = k->text.len;
	sr.q = packed->s;
	sr.qlen = packed->len;
	sa_parts_write(parts, &sr);
}

/* Writes the right records of table T to partitions RP, in input order. */
void
spill_table(struct table *t, struct sa_parts *rp)
{
	struct sa_spill_rec sr;
	struct rrec *r;

	for (r = t->first; r != NULL; r = r->onext) {
		memset(&sr, 0, sizeof(sr));
		if (!r->nullkey)
			sr.fp = sa_fp_bytes(r->data, r->klen);
		sr.a = r->rseq;
		sr.b = r->nullkey | (uint64_t)r->line << 1;
		sr.p = r->data;
		sr.plen = r->klen;
		sr.q = r->data + r->klen;
		sr.qlen = r->flen;
		sa_parts_write(rp, &sr);
	}
}

/* A partition joined: its spill slots go to the next partitions' rows,
 * whose writes then find their pages in memory. */
static void
close_inputs(struct pjob *j)
{
	if (j->rf != NULL)
		fclose(j->rf);
	if (j->lf != NULL)
		fclose(j->lf);
	j->rf = j->lf = NULL;
}

static void
thread_done(void)
{
	pthread_mutex_lock(&pool.lock);
	pool.active--;
	pthread_cond_signal(&pool.idle);
	pthread_mutex_unlock(&pool.lock);
}

/* An error in a partition (--validate, --max-fanout, a temporary file)
 * waits for the partitions before it.  The thread waits where it is, its
 * partition's memory still in reach, for the main thread to report the
 * error and exit. */
static void
catch_error(int status, const char *msg)
{
	running->status = status;
	running->msg = xstrdup(msg);
	pthread_mutex_lock(&pool.lock);
	pool.failed = 1;
	pool.parked[me] = 1;
	pthread_mutex_unlock(&pool.lock);
	thread_done();
	for (;;)
		pause();
}

static void *
partition_worker(void *arg)
{
	struct pjob *j;

	me = (size_t)(uintptr_t)arg;
	table_cap = pool.budget;
	sa_die_hook = catch_error;
	for (;;) {
		pthread_mutex_lock(&pool.lock);
		j = pool.failed || pool.next == pool.n ? NULL :
		    &pool.jobs[pool.next++];
		pthread_mutex_unlock(&pool.lock);
		if (j == NULL)
			break;
		running = j;
		join_files(j->rf, j->lf, 1, j->out);
		if (!j->big)
			close_inputs(j);
	}
	sa_die_hook = NULL;
	join_thread_done();
	thread_done();
	return NULL;
}

/* Joins the N partitions of JOBS on up to THREADS threads. */
static void
join_parallel(struct pjob *jobs, size_t n)
{
	pthread_t tids[64];
	sigset_t all, old;
	size_t i, nt = threads < n ? threads : n;
	int err;

	if (nt > 64)
		nt = 64;
	pool.jobs = jobs;
	pool.n = n;
	pool.next = 0;
	pool.failed = 0;
	pool.active = nt;
	pool.budget = budget / nt;
	memset(pool.parked, 0, sizeof(pool.parked));
	/* Signals are the main thread's: it writes the abort line. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < nt; i++)
		if ((err = pthread_create(&tids[i], NULL, partition_worker,
		    (void *)(uintptr_t)i)) != 0) {
			errno = err;
			sa_die_errno(EX_OSERR, "cannot start a thread");
		}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_mutex_lock(&pool.lock);
	while (pool.active > 0)
		pthread_cond_wait(&pool.idle, &pool.lock);
	pthread_mutex_unlock(&pool.lock);
	for (i = 0; i < nt; i++)
		if (!pool.parked[i])
			pthread_join(tids[i], NULL);
	/* In partition order: the first error, or a partition too big for
	 * a share, joined here as one thread joins it. */
	for (i = 0; i < n; i++) {
		if (jobs[i].status != 0)
			sa_die(jobs[i].status, "%s", jobs[i].msg);
		if (jobs[i].big)
			join_files(jobs[i].rf, jobs[i].lf, 1, jobs[i].out);
		close_inputs(&jobs[i]);
	}
}

/* Joins partitions RP of RIGHT with LP of LEFT (NULL if it had no rows),
 * one by one or side by side, and writes their rows merged back into
 * input order. */
void
grace_join(struct sa_parts *rp, struct sa_parts *lp)
{
	FILE *outs[SA_SPILL_PARTS];
	struct pjob jobs[SA_SPILL_PARTS];
	struct sa_merge *m;
	struct sa_spill_rec o;
	struct sa_buf *b = NULL;
	struct sa_bgwrite *bg = NULL;
	size_t i, n = 0;

	/* The jobs own the partitions' streams from here. */
	for (i = 0; i < SA_SPILL_PARTS; i++) {
		FILE *lf = lp != NULL ? lp->f[i] : NULL;

		outs[i] = NULL;
		if (lp != NULL)
			lp->f[i] = NULL;
		if (rp->f[i] == NULL && lf == NULL)
			continue;
		outs[i] = sa_spill_stream();
		jobs[n].rf = rp->f[i];
		rp->f[i] = NULL;
		jobs[n].lf = lf;
		jobs[n].out = outs[i];
		jobs[n].status = 0;
		jobs[n].msg = NULL;
		jobs[n].big = 0;
		n++;
	}
	if (threads > 1 && n > 1)
		join_parallel(jobs, n);
	else
		for (i = 0; i < n; i++) {
			join_files(jobs[i].rf, jobs[i].lf, 1, jobs[i].out);
			close_inputs(&jobs[i]);
		}
	sa_parts_free(rp);
	sa_parts_free(lp);
	/* With threads, one writes a buffer of the merged rows while this
	 * one merges the next (-t's own spool aside). */
	if (threads > 1 && !sa_sink_spools(sink)) {
		sa_out_flush();
		bg = sa_bgwrite_start(STDOUT_FILENO, &b);
	}
	m = sa_merge_new(outs, SA_SPILL_PARTS);
	while (sa_merge_next(m, &o)) {
		sa_stats.out++;
		if (bg == NULL)
			sa_sink_put(sink, o.p, o.plen);
		else if (sa_bgwrite_add(bg, &b, o.p, o.plen) != 0)
			sa_out_failed();
	}
	if (bg != NULL && sa_bgwrite_end(bg, b) != 0)
		sa_out_failed();
	sa_merge_free(m);
	for (i = 0; i < SA_SPILL_PARTS; i++)
		if (outs[i] != NULL)
			fclose(outs[i]);
}
