/* explode.h: what sa-explode.c and explode-sink.c share. */
#ifndef SA_EXPLODE_H
#define SA_EXPLODE_H

#include "flatten.h"
#include "sa.h"

/* Where rows go: stdout, or one file of a --split model. */
struct sink {
	char *path;		/* NULL for stdout */
	int fd;
	struct sa_buf own;
	struct sa_buf *buf;
	struct sa_row cols;	/* TSV: the columns, as rows show them */
	int spool, has_spool;	/* TSV: the rows, until the header is known */
	struct sa_buf spooled;	/* TSV: rows on their way to the spool */
	uint64_t spool_bytes;	/* TSV: written to the spool */
	struct run {		/* TSV: rows spooled under NCOLS columns */
		uint64_t end;	/* where they end in the spool */
		size_t ncols;
	} *runs;
	size_t nruns;
	int opened;
};

/* A row waiting for its record to be found good. */
struct pending {
	struct sa_row row;
	int sink;		/* index into sinks; 0 is stdout */
};

/* explode-sink.c */
extern int tsv;			/* -t */
extern const char *split_dir, *split_name;
extern struct sink out_sink;	/* sinks[0] without --split */
extern struct sink **sinks;
extern size_t nsinks;
void sink_names_init(void);
void sink_write(struct sink *);
void sink_open(struct sink *);
void sink_close(struct sink *);
struct sink *sink_at(int i);
int sink_for(const char *rel);
/* Frees what sink_for() kept for the calling thread. */
void sink_for_done(void);
/* -t at the end: the header, then the spooled rows of sink S. */
void tsv_finish(struct sink *s);
extern unsigned nthreads;	/* --threads */
/* The writer's end of the chunks (sa_chunk_ops.write). */
void take_rows(int tag, const char *p, size_t len);
/* In a worker: a good record's row into chunk C. */
void put_row(struct sa_chunk *c, const struct pending *p);

#endif
