/* load-row.c: reading the input, and each row encoded as COPY text. */
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

/* Does V hold a NUL character, which PostgreSQL cannot store in text? */
static int
has_nul(const struct sa_val *v)
{
	const struct sa_val *e;

	if (v->key != NULL && memchr(v->key, '\0', v->keylen) != NULL)
		return 1;
	if (v->type == SA_STRING)
		return memchr(v->str, '\0', v->len) != NULL;
	if (v->type == SA_OBJECT || v->type == SA_ARRAY)
		for (e = v->child; e != NULL; e = e->next)
			if (has_nul(e))
				return 1;
	return 0;
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

static void
put32(struct sa_buf *b, uint32_t v)
{
	sa_buf_add(b, &v, sizeof(v));
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
 * wins, unless every key is known to appear once: 8 bytes of each key's
 * fingerprint are kept for that, up to KEYSET_MAX slots (64 MiB).
 */
#define KEYSET_MAX (1 << 23)

static void
note_key(const struct sa_val *root)
{
	static struct sa_buf kb, scratch;
	const struct sa_val *v;
	const char *ks;
	size_t i, klen, k;
	uint64_t h, *old;
	struct sa_fp fp;

	if (ld.dup_keys)
		return;
	sa_buf_reset(&kb);
	for (i = 0; i < ld.opt.nkeys; i++) {
		v = sa_get(root, ld.opt.keys[i], strlen(ld.opt.keys[i]));
		if (v == NULL || !sa_val_text(v, &scratch, &ks, &klen) ||
		    (klen == 2 && memcmp(ks, "-0", 2) == 0))
			goto give_up;
		sa_buf_add(&kb, ks, klen);
		sa_buf_addc(&kb, '\0');
	}
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
	fp = sa_fp_bytes(kb.s, kb.len);
	h = fp.lo | 1;
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

/* Encodes record REC into ROW; returns 0 if it was rejected. */
static int
encode(struct sa_record *rec)
{
	static struct sa_buf text;
	const struct sa_val *m, *kv;
	uint32_t len, *tmp;
	uint64_t line = rec->line;
	size_t i, pos;
	int tsv = sa_input_format(&ld.in) == SA_FMT_TSV, ci;
	enum ld_type t;
	unsigned h;

	sa_buf_reset(&ld.row);
	put32(&ld.row, 0);
	put32(&ld.row, file_index(rec->file));
	sa_buf_add(&ld.row, &line, sizeof(line));
	ld.nrf = 0;
	if (rec->root->len > ld.seqcap) {
		ld.seqcap = rec->root->len * 2;
		ld.seq = xrealloc(ld.seq, ld.seqcap * sizeof(*ld.seq));
		ld.prev = xrealloc(ld.prev, ld.seqcap * sizeof(*ld.prev));
	}
	if (rec->root->len > ld.rfcap) {
		ld.rfcap = rec->root->len * 2;
		ld.rf = xrealloc(ld.rf, ld.rfcap * sizeof(*ld.rf));
	}
	for (m = rec->root->child, pos = 0; m != NULL; m = m->next, pos++) {
		/* Rows usually repeat the previous row's fields. */
		if (pos < ld.nprev &&
		    ld.cols[ld.prev[pos]].keylen == m->keylen &&
		    memcmp(ld.cols[ld.prev[pos]].key, m->key, m->keylen) == 0)
			ci = ld.prev[pos];
		else {
			if (m->keylen == 0 ||
			    memchr(m->key, '\0', m->keylen) != NULL) {
				sa_reject(rec->file, rec->line, NULL, 0,
				    rec->root, "a field name is empty or holds "
				    "a NUL character");
				goto bad;
			}
			h = hash(m->key, m->keylen);
			ci = find_column(m->key, m->keylen, h);
			if (ci < 0) {
				if (ld.opt.no_evolve && ld.table_exists &&
				    !in_table(m->key, m->keylen)) {
					sa_reject(rec->file, rec->line, NULL, 0,
					    rec->root, "field \"%s\" is not a "
					    "column of %s (--no-evolve)",
					    m->key, ld.shown.s);
					goto bad;
				}
				ci = new_column(m->key, m->keylen, h);
			}
		}
		ld.seq[pos] = ci;
		/* Text holds anything: no need to look at the value. */
		t = m->type == SA_NULL ? LD_NONE : ld.cols[ci].data == LD_TEXT ?
		    LD_TEXT : type_of(m, tsv);
		ld.rf[ld.nrf].col = ci;
		ld.rf[ld.nrf++].type = t;
		if (t == LD_NONE)
			continue;
		if ((m->type == SA_STRING || m->type == SA_OBJECT ||
		    m->type == SA_ARRAY) && has_nul(m)) {
			sa_reject(rec->file, rec->line, NULL, 0, rec->root,
			    "field \"%s\" holds a NUL character, which "
			    "PostgreSQL cannot store", m->key);
			goto bad;
		}
		if (ld.opt.no_evolve && ld.cols[ci].intable &&
		    ld_join(ld.cols[ci].table, t) != ld.cols[ci].table) {
			sa_buf_reset(&text);
			sa_json_append(&text, m);
			sa_reject(rec->file, rec->line, NULL, 0, rec->root,
			    "%.*s%s does not fit column \"%s\" (%s) of %s "
			    "(--no-evolve)", text.len > 40 ? 40 :
			    (int)text.len, text.s, text.len > 40 ? "..." : "",
			    ld.cols[ci].name, ld.cols[ci].tabletype,
			    ld.shown.s);
			goto bad;
		}
		sa_buf_grow(&ld.row, 8);
		memcpy(ld.row.s + ld.row.len, &ci, 4);
		ld.row.len += 8;
		len = ld.row.len;
		if (m->type == SA_OBJECT || m->type == SA_ARRAY) {
			/* As sa_copy_field does, without a buffer per value. */
			sa_buf_reset(&text);
			sa_json_append(&text, m);
			sa_copy_escape(&ld.row, text.s, text.len);
		} else
			sa_copy_field(&ld.row, m);
		len = ld.row.len - len;
		memcpy(ld.row.s + ld.row.len - len - 4, &len, 4);
	}
	for (i = 0; i < ld.opt.nkeys; i++) {
		kv = sa_get(rec->root, ld.opt.keys[i], strlen(ld.opt.keys[i]));
		if (kv == NULL || kv->type == SA_NULL) {
			sa_reject(rec->file, rec->line, NULL, 0, rec->root,
			    "key \"%s\" is %s", ld.opt.keys[i],
			    kv ? "null" : "missing");
			goto bad;
		}
	}
	if (!scope_row(rec))
		goto bad;
	for (i = 0; i < ld.nrf; i++) {
		ld.cols[ld.rf[i].col].used = 1;
		ld.cols[ld.rf[i].col].data = ld_join(ld.cols[ld.rf[i].col].data,
		    ld.rf[i].type);
	}
	if (sa_rejects_enabled()) {
		/* The record as JSON, for the rejects if the server refuses
		 * the row. */
		uint32_t whole = RECORD;

		sa_buf_grow(&ld.row, 8);
		memcpy(ld.row.s + ld.row.len, &whole, 4);
		ld.row.len += 8;
		len = ld.row.len;
		sa_json_append(&ld.row, rec->root);
		len = ld.row.len - len;
		memcpy(ld.row.s + ld.row.len - len - 4, &len, 4);
	}
	len = ld.row.len - 4;
	memcpy(ld.row.s, &len, 4);
	ld.rows_loaded++;
	if (ld.opt.mode == UPSERT)
		note_key(rec->root);
	tmp = ld.prev, ld.prev = ld.seq, ld.seq = tmp;
	ld.nprev = pos;
	return 1;
bad:
	ld.nprev = 0;
	return 0;
}

/* Reads the next good row into ROW; returns 0 at the end of the input. */
int
next_row(void)
{
	struct sa_record rec;

	while (sa_input_next(&ld.in, &rec) == SA_OK)
		if (encode(&rec))
			return 1;
	return 0;
}

/* A file that could not be opened means nothing is loaded. */
void
check_input(void)
{
	sa_input_close(&ld.in);
	if (ld.in.status != 0)
		sa_die(ld.in.status, "nothing was loaded");
}
