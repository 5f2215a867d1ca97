/*
 * load-row.c: reading the input, and each row encoded as COPY text.
 *
 * A record is read in two steps: pack() makes of it an item that needs
 * nothing shared (its fields' names, type classes and COPY text), and
 * take() turns the item into LD.ROW, naming its columns and checking it
 * against them.  With --threads, workers pack the records of a chunk
 * and the main thread takes the items in input order; on one thread the
 * two steps follow each other.
 */
#include <stdlib.h>
#include <string.h>

#include "load.h"

static int
in_table(const char *key, size_t len)
{
	char *name = pg_name("column", key, len, 0);
	int found = find_tcol(name) >= 0;

	free(name);
	return found;
}

static enum ld_type
type_of(const struct sa_val *v, int tsv)
{
	switch (v->type) {
	case SA_TRUE:
	case SA_FALSE:
		return LD_BOOL;
	case SA_NUMBER:
		return ld_number(v->str, v->len);
	case SA_STRING:
		return tsv ? ld_tsv(v->str, v->len) : ld_string(v->str, v->len);
	case SA_OBJECT:
	case SA_ARRAY:
		return LD_JSONB;
	}
	return LD_NONE;
}

static uint32_t
file_index(const char *name)
{
	if (ld.nfiles == 0 || strcmp(ld.files[ld.nfiles - 1], name) != 0) {
		ld.files = xrealloc(ld.files, (ld.nfiles + 1) *
		    sizeof(*ld.files));
		ld.files[ld.nfiles++] = xstrdup(name);
	}
	return ld.nfiles - 1;
}

/*
 * An upsert sorts the staged rows by key so that the last row of a key
 * wins, unless every key is known to appear once; a table that
 * replace-keys makes gets its primary key after its rows if so.  8 bytes
 * of each key's fingerprint are kept for that, up to KEYSET_MAX slots
 * (64 MiB).
 */
#define KEYSET_MAX (1 << 23)

/* Each thread's own. */
static __thread struct sa_buf kb, scratch, text, meta;

/* The 8 bytes note_key() keeps of the key of ROOT (never 0), or 0 if
 * that key cannot be told apart from others that way. */
static uint64_t
key_hash(const struct sa_val *root)
{
	const struct sa_val *v;
	const char *ks;
	size_t i, klen;

	sa_buf_reset(&kb);
	for (i = 0; i < ld.opt.nkeys; i++) {
		v = sa_get(root, ld.opt.keys[i], strlen(ld.opt.keys[i]));
		if (v == NULL || !sa_val_text(v, &scratch, &ks, &klen) ||
		    (klen == 2 && memcmp(ks, "-0", 2) == 0))
			return 0;
		sa_buf_add(&kb, ks, klen);
		sa_buf_addc(&kb, '\0');
	}
	return sa_fp_bytes(kb.s, kb.len).lo | 1;
}

/* Keeps key hash H, or gives up if it was there or is 0. */
static void
note_key(uint64_t h)
{
	uint64_t *old;
	size_t i, k;

	if (ld.dup_keys)
		return;
	if (h == 0)
		goto give_up;
	if ((ld.nkeys_seen + 1) * 2 > ld.keycap) {
		if (ld.keycap == KEYSET_MAX)
			goto give_up;
		old = ld.keyset;
		k = ld.keycap;
		ld.keycap = ld.keycap ? ld.keycap * 2 : 1 << 12;
		ld.keyset = xcalloc(ld.keycap, sizeof(*ld.keyset));
		ld.nkeys_seen = 0;
		for (i = 0; i < k; i++)
			if (old[i] != 0) {
				size_t j = old[i] & (ld.keycap - 1);

				while (ld.keyset[j] != 0)
					j = (j + 1) & (ld.keycap - 1);
				ld.keyset[j] = old[i];
				ld.nkeys_seen++;
			}
		free(old);
	}
	for (k = h & (ld.keycap - 1); ld.keyset[k] != 0;
	    k = (k + 1) & (ld.keycap - 1))
		if (ld.keyset[k] == h)
			goto give_up;
	ld.keyset[k] = h;
	ld.nkeys_seen++;
	return;
give_up:
	ld.dup_keys = 1;
	free(ld.keyset);
	ld.keyset = NULL;
}

/*
 * What pack() makes of a record for take(): this header; the row as
 * LD.ROW holds it, but for its file and line and the column index of
 * each field; then, for each field of the record in order, a struct
 * field, its name and a NUL (unless it is the name of the previous
 * item's field at that place, in the same chunk), and with --no-evolve
 * the start of its JSON.
 */
struct item {
	uint64_t line;		/* in its chunk; in its file on one thread */
	uint64_t keyhash;	/* --mode upsert: key_hash() */
	uint32_t size;		/* of the whole item */
	uint32_t row;		/* bytes of the row */
	uint32_t json;		/* where the record's JSON is in the row */
	uint32_t nfields;
	int32_t key;		/* the first -k key missing or null, or -1 */
	int32_t key_null;	/* it is null */
	int32_t scope;		/* replace-keys: the same of the scope key */
	int32_t scope_null;
	uint32_t scopelen;	/* the bytes of its COPY line, at the end */
	uint32_t unused;	/* (the size stays a multiple of 8) */
};

enum {
	F_SAME = 1,		/* the name is the previous item's */
	F_BADNAME = 2		/* the name is empty */
};
/* A name or value with a NUL character, which PostgreSQL cannot store,
 * never gets here: with sa_copy_text set the readers refuse its record. */

struct field {
	uint32_t keylen;
	unsigned char type;	/* of its value (enum ld_type), LD_NONE if null */
	unsigned char flags;
	unsigned char textlen;	/* --no-evolve: bytes of JSON (at most 41) */
};

/* Appends the text of value V, not escaped (see load.h). */
static void
raw_value(struct sa_buf *b, const struct sa_val *v)
{
	switch (v->type) {
	case SA_FALSE: sa_buf_add(b, "false", 5); break;
	case SA_TRUE: sa_buf_add(b, "true", 4); break;
	case SA_NUMBER:
	case SA_STRING: sa_buf_add(b, v->str, v->len); break;
	default: sa_json_append(b, v);
	}
}

/* A worker's: where the names of the previous item's fields are in its
 * chunk's buffer. */
static __thread size_t *names;
static __thread uint32_t *namelens;
static __thread size_t nnames, namecap;
#define IN_META ((size_t)1 << 63)	/* (an offset in META, for now) */

/* Appends record REC, read from TSV if TSV, to B as an item; CHAIN says
 * that B is a chunk's, whose items may share names with the one before.
 * Touches nothing shared: runs in the workers. */
static void
pack(struct sa_buf *b, const struct sa_record *rec, int tsv, int chain)
{
	struct item it = { .line = rec->line, .key = -1, .scope = -1 };
	struct field f;
	const struct sa_val *m, *kv;
	size_t off = b->len, row, at, i, prev = chain && off > 0 ? nnames : 0;
	uint32_t len, whole = RECORD;

	if (rec->root->len > namecap) {
		namecap = rec->root->len * 2;
		names = xrealloc(names, namecap * sizeof(*names));
		namelens = xrealloc(namelens, namecap * sizeof(*namelens));
	}
	sa_buf_grow(b, sizeof(it) + 16);
	b->len += sizeof(it);
	row = b->len;
	b->len += 16;
	sa_buf_reset(&meta);
	for (m = rec->root->child; m != NULL; m = m->next, it.nfields++) {
		memset(&f, 0, sizeof(f));
		f.keylen = m->keylen;
		if (it.nfields < prev && namelens[it.nfields] == m->keylen &&
		    memcmp(b->s + names[it.nfields], m->key, m->keylen) == 0)
			f.flags = F_SAME;
		if (m->keylen == 0)
			f.flags |= F_BADNAME;
		f.type = m->type == SA_NULL ? LD_NONE : type_of(m, tsv);
		sa_buf_reset(&text);
		if (f.type != LD_NONE) {
			at = b->len;
			sa_buf_grow(b, 8);
			b->len += 8;
			raw_value(b, m);
			len = b->len - at - 8;
			memcpy(b->s + at + 4, &len, 4);
			if (ld.opt.no_evolve) {
				sa_json_append(&text, m);
				f.textlen = text.len > 41 ? 41 : text.len;
			}
		}
		sa_buf_add(&meta, &f, sizeof(f));
		if (!(f.flags & F_SAME)) {
			names[it.nfields] = meta.len | IN_META;
			namelens[it.nfields] = m->keylen;
			sa_buf_add(&meta, m->key, m->keylen);
			sa_buf_addc(&meta, '\0');
		}
		if (f.textlen > 0)
			sa_buf_add(&meta, text.s, f.textlen);
	}
	for (i = 0; i < ld.opt.nkeys && it.key < 0; i++) {
		kv = sa_get(rec->root, ld.opt.keys[i], strlen(ld.opt.keys[i]));
		if (kv == NULL || kv->type == SA_NULL) {
			it.key = i;
			it.key_null = kv != NULL;
		}
	}
	if (it.key < 0 && ld.note_keys)
		it.keyhash = key_hash(rec->root);
	if (sa_rejects_enabled()) {
		/* The record as JSON, for the rejects. */
		sa_buf_grow(b, 8);
		memcpy(b->s + b->len, &whole, 4);
		b->len += 8;
		it.json = b->len - row;
		sa_json_append(b, rec->root);
		len = b->len - row - it.json;
		memcpy(b->s + row + it.json - 4, &len, 4);
	}
	it.row = b->len - row;
	len = it.row - 4;
	memcpy(b->s + row, &len, 4);
	for (i = 0; i < it.nfields; i++)
		if (names[i] & IN_META)
			names[i] = (names[i] & ~IN_META) + b->len;
	nnames = it.nfields;
	if (meta.len > 0)	/* a record of no field has none */
		sa_buf_add(b, meta.s, meta.len);
	if (ld.opt.mode == REPLACE_KEYS) {
		at = b->len;
		it.scope = scope_key(rec->root, ld.scope.cols, b, &scratch,
		    &it.scope_null);
		it.scopelen = b->len - at;
	}
	it.size = b->len - off;
	memcpy(b->s + off, &it, sizeof(it));
}

/* The main thread's: the fields of the item being taken, their names
 * (those of the item before, for names it shares) and JSON. */
static struct taken {
	struct field f;
	const char *key, *text;
} *tf;
static size_t tfcap;

/* Reads the fields of the item at P (header IT) into TF. */
static void
take_fields(const char *p, const struct item *it)
{
	const char *q = p + sizeof(*it) + it->row;
	size_t pos;

	if (it->nfields > tfcap) {
		tfcap = it->nfields * 2;
		tf = xrealloc(tf, tfcap * sizeof(*tf));
	}
	for (pos = 0; pos < it->nfields; pos++) {
		memcpy(&tf[pos].f, q, sizeof(tf[pos].f));
		q += sizeof(tf[pos].f);
		if (!(tf[pos].f.flags & F_SAME)) {
			tf[pos].key = q;
			q += tf[pos].f.keylen + 1;
		}
		tf[pos].text = q;
		q += tf[pos].f.textlen;
	}
}

/* The item at P into ROW, for a record of FILE at BASE lines more than
 * the item says; returns 0 if it was rejected. */
static int
take(const char *file, uintmax_t base, const char *p)
{
	struct item it;
	const struct field *f;
	const char *key, *json;
	uint32_t fi, len, jlen, *tmp;
	uint64_t line;
	size_t i, pos, at = 16;
	enum ld_type t;
	int ci;
	unsigned h;

	memcpy(&it, p, sizeof(it));
	take_fields(p, &it);
	line = base + it.line;
	sa_buf_reset(&ld.row);
	sa_buf_add(&ld.row, p + sizeof(it), it.row);
	fi = file_index(file);
	memcpy(ld.row.s + 4, &fi, 4);
	memcpy(ld.row.s + 8, &line, 8);
	json = ld.row.s + it.json;
	jlen = it.json > 0 ? it.row - it.json : 0;
	ld.nrf = 0;
	if (it.nfields > ld.seqcap) {
		ld.seqcap = it.nfields * 2;
		ld.seq = xrealloc(ld.seq, ld.seqcap * sizeof(*ld.seq));
		ld.prev = xrealloc(ld.prev, ld.seqcap * sizeof(*ld.prev));
	}
	if (it.nfields > ld.rfcap) {
		ld.rfcap = it.nfields * 2;
		ld.rf = xrealloc(ld.rf, ld.rfcap * sizeof(*ld.rf));
	}
	for (pos = 0; pos < it.nfields; pos++) {
		f = &tf[pos].f;
		key = tf[pos].key;
		/* Rows usually repeat the previous row's fields. */
		if (pos < ld.nprev && ((f->flags & F_SAME) ||
		    (ld.cols[ld.prev[pos]].keylen == f->keylen &&
		    memcmp(ld.cols[ld.prev[pos]].key, key, f->keylen) == 0)))
			ci = ld.prev[pos];
		else {
			if (f->flags & F_BADNAME) {
				sa_reject(file, line, json, jlen, NULL,
				    "a field name is empty or holds a NUL "
				    "character");
				goto bad;
			}
			h = hash(key, f->keylen);
			ci = find_column(key, f->keylen, h);
			if (ci < 0) {
				if (ld.opt.no_evolve && ld.table_exists &&
				    !in_table(key, f->keylen)) {
					sa_reject(file, line, json, jlen, NULL,
					    "field \"%s\" is not a column of "
					    "%s (--no-evolve)", key,
					    ld.shown.s);
					goto bad;
				}
				ci = new_column(key, f->keylen, h);
			}
		}
		ld.seq[pos] = ci;
		/* Text holds anything: the type of the value is moot. */
		t = f->type == LD_NONE ? LD_NONE :
		    ld.cols[ci].data == LD_TEXT ? LD_TEXT : f->type;
		ld.rf[ld.nrf].col = ci;
		ld.rf[ld.nrf++].type = t;
		if (t == LD_NONE)
			continue;
		if (ld.opt.no_evolve && ld.cols[ci].intable &&
		    ld_join(ld.cols[ci].table, t) != ld.cols[ci].table) {
			sa_reject(file, line, json, jlen, NULL,
			    "%.*s%s does not fit column \"%s\" (%s) of %s "
			    "(--no-evolve)", f->textlen > 40 ? 40 :
			    (int)f->textlen, tf[pos].text,
			    f->textlen > 40 ? "..." : "", ld.cols[ci].name,
			    ld.cols[ci].tabletype, ld.shown.s);
			goto bad;
		}
		memcpy(ld.row.s + at, &ci, 4);
		memcpy(&len, ld.row.s + at + 4, 4);
		at += 8 + len;
	}
	if (it.key >= 0) {
		sa_reject(file, line, json, jlen, NULL, "key \"%s\" is %s",
		    ld.opt.keys[it.key], it.key_null ? "null" : "missing");
		goto bad;
	}
	if (ld.opt.mode == REPLACE_KEYS && !scope_take(file, line, json, jlen,
	    it.scope, it.scope_null, p + it.size - it.scopelen, it.scopelen))
		goto bad;
	for (i = 0; i < ld.nrf; i++) {
		ld.cols[ld.rf[i].col].used = 1;
		ld.cols[ld.rf[i].col].data = ld_join(ld.cols[ld.rf[i].col].data,
		    ld.rf[i].type);
	}
	ld.rows_loaded++;
	if (ld.note_keys)
		note_key(it.keyhash);
	tmp = ld.prev, ld.prev = ld.seq, ld.seq = tmp;
	ld.nprev = pos;
	return 1;
bad:
	ld.nprev = 0;
	return 0;
}

/* Encodes record REC into ROW, on one thread; returns 0 if it was
 * rejected. */
static int
encode(const struct sa_record *rec)
{
	static struct sa_buf item;

	sa_buf_reset(&item);
	pack(&item, rec, sa_input_format(&ld.in) == SA_FMT_TSV, 0);
	return take(rec->file, 0, item.s);
}

/* In a worker: record REC of chunk C as an item.  The file being read
 * stays open, and its format known, until its last chunk is taken. */
static void
record(void *w, struct sa_chunk *c, const struct sa_record *rec)
{
	(void)w;
	pack(sa_chunk_buf(c, 0), rec,
	    sa_reader_format(ld.in.r) == SA_FMT_TSV, 1);
}

/* In the main thread: the items of a chunk, in input order. */
static void
take_items(int tag, const char *s, size_t len)
{
	const char *file = sa_reader_name(ld.in.r);
	/* Read once: take_row() may read the --scope stream with threads of
	 * its own, whose chunks have their own base. */
	uintmax_t base = sa_chunk_base();
	struct item it;

	(void)tag;
	for (; len > 0; s += it.size, len -= it.size) {
		memcpy(&it, s, sizeof(it));
		if (take(file, base, s))
			take_row();
	}
}

static void
worker_free(void *w)
{
	(void)w;
	sa_buf_free(&kb);
	sa_buf_free(&scratch);
	sa_buf_free(&text);
	sa_buf_free(&meta);
	free(names);
	free(namelens);
	names = NULL;
	namelens = NULL;
	nnames = namecap = 0;
}

static const struct sa_chunk_ops ops = {
	NULL, worker_free, record, take_items
};

/* --threads 1, and input that is not line-delimited. */
static void
one_thread(struct sa_input *in, void *arg)
{
	struct sa_record rec;

	(void)arg;
	while (sa_input_next(in, &rec) == SA_OK)
		if (encode(&rec))
			take_row();
}

/* Reads the input with THREADS threads, handing each good row to
 * take_row() in input order. */
void
read_rows(unsigned threads)
{
	/* Set before the workers start, which read it. */
	ld.note_keys = ld.opt.mode == UPSERT || (ld.opt.mode == REPLACE_KEYS &&
	    !ld.table_exists && ld.opt.nkeys > 0);
	sa_chunks_run(&ld.in, threads, &ops, one_thread, NULL);
}

/* A file that could not be opened means nothing is loaded. */
void
check_input(void)
{
	sa_input_close(&ld.in);
	if (ld.in.status != 0)
		sa_die(ld.in.status, "nothing was loaded");
}
