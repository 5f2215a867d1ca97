/* reader.h: the insides of a reader, shared by reader.c (buffer, format
 * detection, the interface), read-json.c, read-tsv.c and utf8.c.  Not
 * for the tools: they use the interface in sa.h. */
#ifndef SA_READER_H
#define SA_READER_H

#include <yajl/yajl_parse.h>

#include "sa.h"

#define BUFSIZE (256 * 1024)
#define GEN_SIZE (256 * 1024)	/* arena bytes before a new one is started */
#define RAW_MAX (1 << 20)	/* input text kept for --rejects */

struct pending {
	struct sa_val *root;	/* NULL for a syntax error */
	uintmax_t line;
	uint64_t seq;
	char *error;		/* for a bad record */
	char *raw;
	size_t rawlen;
};

struct gen {
	struct sa_arena *a;
	uint64_t maxseq;
};

struct sa_reader {
	int fd, own_fd;
	char *name;
	char *buf;
	size_t bufsize, pos, end;
	int eof;
	int lastc;		/* 1 + the last byte read, 0 before any: a
				 * last line without LF is ended with one */
	uintmax_t line;		/* complete lines consumed */
	uintmax_t bytes;
	enum sa_format fmt;

	/* JSON */
	yajl_handle h;
	int depth;		/* nesting, a top-level array included */
	int rdepth;		/* depth at which records start: 0, or 1 in [...] */
	int in_array;
	struct sa_val *cur, *rec;
	char *key;
	size_t keylen;
	uintmax_t recline;
	char cancel[128];	/* why a callback stopped the parse */
	size_t bad;		/* 1 + offset in the chunk of text that is not
				 * UTF-8, or of half a surrogate pair */
	const char *badwhy;
	int utf8cut;		/* the last chunk ended inside a character */
	int escaped;		/* the chunk fed has escapes or non-ASCII */
	int maybe_nul;		/* ... and may have a \u0000 (sa_copy_text) */
	int recnul;		/* the record in flight holds a NUL (\u0000) */
	int fed;		/* the parser has been given a value's bytes */
	struct sa_buf raw;	/* text of the lines of the record in flight */
	int line_start;		/* the next byte fed starts a line */

	struct pending *q;
	size_t qhead, qlen, qcap;
	struct gen *gens;
	size_t ngens, gencap;
	uint64_t seq;
	struct sa_arena **free_arenas;	/* recycled arenas */
	size_t nfree;

	/* what the last SA_BAD was about */
	char *error;
	char *errraw;
	size_t errrawlen;

	/* a chunk of line-delimited input, read by a worker (chunks.c) */
	int chunked;		/* the buffer is borrowed, and all there is */
	int last;		/* the chunk ends the file */
	int dirty;		/* a record runs on past the chunk's end */
	int aborted;		/* the chunk stops at an abort line */
	uintmax_t abort_line;
	struct sa_buf abort_text;

	/* TSV */
	char **cols;
	size_t ncols;
	struct sa_arena *tsv;
	struct sa_buf field;
};

/* reader.c */
/* Reads more input into the buffer; 0 at the end.  Read errors exit 74. */
int reader_fill(struct sa_reader *);
/* At an abort line (sa(7)), stops the run with the status it carries:
 * reader_check_abort() at the read position, which starts a line,
 * reader_aborted() given the text after its mark. */
void reader_check_abort(struct sa_reader *);
void reader_aborted(struct sa_reader *, uintmax_t line, const char *text,
    size_t len);
/* Dies as reader_aborted() does, for the file NAME. */
void reader_abort_die(const char *name, uintmax_t line, const char *text,
    size_t len) __attribute__((noreturn));

/* read-json.c */
void json_start(struct sa_reader *);
int json_next(struct sa_reader *, struct sa_record *rec);

/* read-tsv.c */
void tsv_header(struct sa_reader *);
int tsv_next(struct sa_reader *, struct sa_record *rec);

/* utf8.c */
size_t utf8_valid_len(const char *s, size_t n, int *cut);
int utf8_valid(const char *s, size_t n);
int text_plain(const char *s, size_t n);
size_t find_control(const char *s, size_t n);
size_t find_lone_surrogate(const char *p, size_t n);

#endif
