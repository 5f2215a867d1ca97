/* spill.c: fingerprint tables, hash partitions in temporary files and
 * k-way merges (the output sinks are in sink.c). */
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sa.h"
#include "spill.h"

/* Fingerprint tables. */

#define NSUB 256

struct sub {
	unsigned char *slots;
	size_t size, count;
};

struct sa_fptab {
	size_t slot, payload, budget, bytes, count;
	struct sub sub[NSUB];
};

struct sa_fptab *
sa_fptab_new(size_t payload, size_t budget)
{
	struct sa_fptab *t = xcalloc(1, sizeof(*t));

	t->payload = payload;
	t->slot = 16 + ((payload + 7) & ~(size_t)7);
	t->budget = budget;
	return t;
}

/* The all-zero fingerprint marks an empty slot; a real one that happens
 * to be zero is moved aside. */
static struct sa_fp
normal(struct sa_fp fp)
{
	if (fp.lo == 0 && fp.hi == 0)
		fp.hi = 1;
	return fp;
}

static unsigned char *
probe(const struct sa_fptab *t, const struct sub *s, struct sa_fp fp)
{
	size_t i = (size_t)(((unsigned __int128)(fp.lo >> 8) * s->size) >>
	    56);
	uint64_t *k;

	for (;;) {
		k = (uint64_t *)(s->slots + i * t->slot);
		if ((k[0] == fp.lo && k[1] == fp.hi) || (k[0] == 0 && k[1] == 0))
			return (unsigned char *)k;
		if (++i == s->size)
			i = 0;
	}
}

static int
grow(struct sa_fptab *t, struct sub *s)
{
	size_t size = s->size ? s->size + s->size / 2 : 16, i;
	struct sub n = { NULL, size, s->count };
	unsigned char *old, *to;
	uint64_t *k;
	struct sa_fp fp;

	if (t->budget && t->bytes + size * t->slot > t->budget)
		return 0;
	n.slots = xcalloc(size, t->slot);
	for (i = 0; i < s->size; i++) {
		old = s->slots + i * t->slot;
		k = (uint64_t *)old;
		if (k[0] == 0 && k[1] == 0)
			continue;
		fp.lo = k[0];
		fp.hi = k[1];
		to = probe(t, &n, fp);
		memcpy(to, old, t->slot);
	}
	t->bytes += size * t->slot - s->size * t->slot;
	free(s->slots);
	*s = n;
	return 1;
}

void *
sa_fptab_get(struct sa_fptab *t, struct sa_fp fp, int *isnew)
{
	struct sub *s;
	unsigned char *p;
	uint64_t *k;

	fp = normal(fp);
	s = &t->sub[fp.lo & (NSUB - 1)];
	if (s->size > 0) {
		p = probe(t, s, fp);
		k = (uint64_t *)p;
		if (k[0] != 0 || k[1] != 0) {
			*isnew = 0;
			return p + 16;
		}
	}
	if ((s->count + 1) * 5 > s->size * 4) {
		if (!grow(t, s))
			return NULL;
	}
	p = probe(t, s, fp);
	k = (uint64_t *)p;
	k[0] = fp.lo;
	k[1] = fp.hi;
	s->count++;
	t->count++;
	*isnew = 1;
	return p + 16;
}

void *
sa_fptab_find(struct sa_fptab *t, struct sa_fp fp)
{
	struct sub *s;
	unsigned char *p;
	uint64_t *k;

	fp = normal(fp);
	s = &t->sub[fp.lo & (NSUB - 1)];
	if (s->size == 0)
		return NULL;
	p = probe(t, s, fp);
	k = (uint64_t *)p;
	return k[0] == 0 && k[1] == 0 ? NULL : p + 16;
}

size_t
sa_fptab_count(const struct sa_fptab *t)
{
	return t->count;
}

size_t
sa_fptab_bytes(const struct sa_fptab *t)
{
	return t->bytes;
}

void
sa_fptab_each(struct sa_fptab *t,
    void (*fn)(struct sa_fp, void *payload, void *arg), void *arg)
{
	size_t i, j;
	uint64_t *k;
	struct sa_fp fp;

	for (i = 0; i < NSUB; i++)
		for (j = 0; j < t->sub[i].size; j++) {
			k = (uint64_t *)(t->sub[i].slots + j * t->slot);
			if (k[0] == 0 && k[1] == 0)
				continue;
			fp.lo = k[0];
			fp.hi = k[1];
			fn(fp, k + 2, arg);
		}
}

void
sa_fptab_free(struct sa_fptab *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < NSUB; i++)
		free(t->sub[i].slots);
	free(t);
}

/* Spill records. */

struct head {
	uint64_t lo, hi, a, b;
	uint32_t plen, qlen;
};

void
sa_spill_write_error(void)
{
	sa_die_errno(EX_IOERR, "%s: cannot write a temporary file",
	    sa_tmpdir());
}

FILE *
sa_spill_file(void)
{
	return sa_tmpfile_buffered();
}

void
sa_spill_write(FILE *f, const struct sa_spill_rec *r)
{
	struct head h;

	if (r->plen > UINT32_MAX || r->qlen > UINT32_MAX)
		sa_die(EX_DATAERR, "a record is larger than 4 GB");
	h.lo = r->fp.lo;
	h.hi = r->fp.hi;
	h.a = r->a;
	h.b = r->b;
	h.plen = r->plen;
	h.qlen = r->qlen;
	if (fwrite(&h, sizeof(h), 1, f) != 1 ||
	    (r->plen && fwrite(r->p, r->plen, 1, f) != 1) ||
	    (r->qlen && fwrite(r->q, r->qlen, 1, f) != 1))
		sa_spill_write_error();
}

int
sa_spill_read(FILE *f, struct sa_spill_rec *r, struct sa_buf *buf)
{
	struct head h;
	size_t n;

	if (fread(&h, sizeof(h), 1, f) != 1) {
		if (ferror(f))
			sa_die_errno(EX_IOERR, "cannot read a temporary file");
		return 0;
	}
	n = (size_t)h.plen + h.qlen;
	sa_buf_reset(buf);
	sa_buf_grow(buf, n);
	if (n > 0 && fread(buf->s, n, 1, f) != 1)
		sa_die_errno(EX_IOERR, "cannot read a temporary file");
	buf->len = n;
	buf->s[n] = '\0';
	r->fp.lo = h.lo;
	r->fp.hi = h.hi;
	r->a = h.a;
	r->b = h.b;
	r->p = buf->s;
	r->plen = h.plen;
	r->q = buf->s + h.plen;
	r->qlen = h.qlen;
	return 1;
}

void
sa_spill_rewind(FILE *f)
{
	if (fflush(f) != 0 || ferror(f))
		sa_spill_write_error();
	rewind(f);
}

/* The bytes a spill scan reads at a time, unless a record is larger. */
#define SCAN_BLOCK ((size_t)1 << 20)

void
sa_spill_scan_begin(struct sa_spill_scan *m, FILE *f, int fd)
{
	struct stat st;

	if (fflush(f) != 0 || ferror(f))
		sa_spill_write_error();
	if (fstat(fd, &st) != 0)
		sa_die_errno(EX_IOERR, "cannot read a temporary file");
	memset(m, 0, sizeof(*m));
	m->fd = fd;
	m->size = st.st_size;
}

/* The N bytes at offset OFF of the file, read with the block after them
 * unless they are in the buffer already. */
static const char *
scan_at(struct sa_spill_scan *m, uint64_t off, size_t n)
{
	size_t keep = 0, want;

	if (off + n > m->size)
		sa_die(EX_IOERR, "a temporary file was cut short");
	if (off >= m->start && off + n <= m->start + m->buf.len)
		return m->buf.s + (off - m->start);
	if (off >= m->start && off < m->start + m->buf.len) {
		keep = m->start + m->buf.len - off;
		memmove(m->buf.s, m->buf.s + (off - m->start), keep);
	}
	m->start = off;
	want = n > SCAN_BLOCK ? n : SCAN_BLOCK;
	if (want > m->size - off)
		want = m->size - off;
	sa_buf_grow(&m->buf, want);
	sa_tmp_pread(m->fd, m->buf.s + keep, want - keep, (off_t)(off + keep));
	m->buf.len = want;
	return m->buf.s;
}

int
sa_spill_scan_next(struct sa_spill_scan *m, struct sa_spill_rec *r)
{
	struct head h;
	const char *s;

	if (m->at >= m->size)
		return 0;
	memcpy(&h, scan_at(m, m->at, sizeof(h)), sizeof(h));
	s = scan_at(m, m->at, sizeof(h) + (size_t)h.plen + h.qlen);
	s += sizeof(h);
	m->at += sizeof(h) + (uint64_t)h.plen + h.qlen;
	r->fp.lo = h.lo;
	r->fp.hi = h.hi;
	r->a = h.a;
	r->b = h.b;
	r->p = s;
	r->plen = h.plen;
	r->q = s + h.plen;
	r->qlen = h.qlen;
	return 1;
}

void
sa_spill_scan_end(struct sa_spill_scan *m)
{
	sa_buf_free(&m->buf);
}

/* Hash partitions. */

unsigned
sa_spill_part(struct sa_fp fp, unsigned level, unsigned nparts)
{
	unsigned sh = 8 * (level > SA_SPILL_MAXLEVEL ? SA_SPILL_MAXLEVEL :
	    level);

	if (sh > 0)
		fp.hi = fp.hi << sh | fp.lo >> (64 - sh);
	return sa_partition(fp, nparts);
}

struct sa_parts *
sa_parts_new(unsigned level)
{
	struct sa_parts *p = xcalloc(1, sizeof(*p));

	p->n = SA_SPILL_PARTS;
	p->level = level;
	p->f = xcalloc(p->n, sizeof(*p->f));
	p->count = xcalloc(p->n, sizeof(*p->count));
	return p;
}

void
sa_parts_write(struct sa_parts *p, const struct sa_spill_rec *r)
{
	unsigned i = sa_spill_part(r->fp, p->level, p->n);

	/* Files are made when first needed: most small spills touch few. */
	if (p->f[i] == NULL)
		p->f[i] = sa_spill_stream();
	sa_spill_write(p->f[i], r);
	p->count[i]++;
}

void
sa_parts_free(struct sa_parts *p)
{
	unsigned i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		if (p->f[i] != NULL)
			fclose(p->f[i]);
	free(p->f);
	free(p->count);
	free(p);
}

/* Merges. */

struct source {
	FILE *f;
	struct sa_spill_rec rec;
	struct sa_buf buf;
};

struct sa_merge {
	struct source *src;
	size_t *heap, n, nsrc;
	int started;
};

static int
before(const struct sa_merge *m, size_t x, size_t y)
{
	const struct sa_spill_rec *a = &m->src[x].rec, *b = &m->src[y].rec;

	if (a->a != b->a)
		return a->a < b->a;
	if (a->b != b->b)
		return a->b < b->b;
	return x < y;
}

static void
sift_down(struct sa_merge *m, size_t i)
{
	size_t l, s, t;

	for (;;) {
		l = 2 * i + 1;
		s = i;
		if (l < m->n && before(m, m->heap[l], m->heap[s]))
			s = l;
		if (l + 1 < m->n && before(m, m->heap[l + 1], m->heap[s]))
			s = l + 1;
		if (s == i)
			return;
		t = m->heap[i];
		m->heap[i] = m->heap[s];
		m->heap[s] = t;
		i = s;
	}
}

struct sa_merge *
sa_merge_new(FILE **f, size_t n)
{
	struct sa_merge *m = xcalloc(1, sizeof(*m));
	size_t i;

	m->src = xcalloc(n ? n : 1, sizeof(*m->src));
	m->heap = xcalloc(n ? n : 1, sizeof(*m->heap));
	m->nsrc = n;
	for (i = 0; i < n; i++) {
		if (f[i] == NULL)
			continue;
		m->src[i].f = f[i];
		sa_spill_rewind(f[i]);
		if (sa_spill_read(f[i], &m->src[i].rec, &m->src[i].buf))
			m->heap[m->n++] = i;
	}
	for (i = m->n; i-- > 0;)
		sift_down(m, i);
	return m;
}

int
sa_merge_next(struct sa_merge *m, struct sa_spill_rec *rec)
{
	struct source *s;
	size_t top;

	/* The record handed out last time is replaced only now, so that its
	 * bytes stay valid until this call. */
	if (m->started && m->n > 0) {
		top = m->heap[0];
		s = &m->src[top];
		if (!sa_spill_read(s->f, &s->rec, &s->buf))
			m->heap[0] = m->heap[--m->n];
		sift_down(m, 0);
	}
	m->started = 1;
	if (m->n == 0)
		return 0;
	*rec = m->src[m->heap[0]].rec;
	return 1;
}

void
sa_merge_free(struct sa_merge *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nsrc; i++)
		sa_buf_free(&m->src[i].buf);
	free(m->src);
	free(m->heap);
	free(m);
}

/* Fields. */

void
sa_fields_add(struct sa_fields *fs, const char *name, size_t namelen,
    int type, const char *s, size_t len)
{
	struct sa_field *f;

	if (fs->n == fs->cap) {
		fs->cap = fs->cap ? fs->cap * 2 : 32;
		fs->f = xrealloc(fs->f, fs->cap * sizeof(*fs->f));
	}
	f = &fs->f[fs->n++];
	f->name = name;
	f->namelen = namelen;
	f->type = type;
	f->s = s;
	f->len = len;
}

void
sa_fields_of(struct sa_fields *fs, const struct sa_val *o)
{
	sa_fields_of_some(fs, o, NULL);
}

void
sa_fields_of_some(struct sa_fields *fs, const struct sa_val *o,
    int (*keep)(const char *name, size_t len))
{
	const struct sa_val *m;
	size_t i, off;

	fs->n = 0;
	sa_buf_reset(&fs->json);
	for (m = o->child; m != NULL; m = m->next) {
		if (keep != NULL && !keep(m->key, m->keylen))
			continue;
		if (m->type == SA_OBJECT || m->type == SA_ARRAY) {
			off = fs->json.len;
			sa_json_append(&fs->json, m);
			/* An offset for now: the buffer may still move. */
			sa_fields_add(fs, m->key, m->keylen, m->type,
			    (const char *)(uintptr_t)off, fs->json.len - off);
		} else
			sa_fields_add(fs, m->key, m->keylen, m->type, m->str,
			    m->len);
	}
	for (i = 0; i < fs->n; i++)
		if (fs->f[i].type == SA_OBJECT || fs->f[i].type == SA_ARRAY)
			fs->f[i].s = fs->json.s + (uintptr_t)fs->f[i].s;
}

static void
put32(struct sa_buf *b, size_t n)
{
	uint32_t v = n;

	sa_buf_add(b, &v, 4);
}

/* Column names are interned, so that packed records carry a number for
 * each name instead of its bytes: a hashed right side is half the size. */
static struct { char *s; size_t len; } *names;
static size_t nnames, capnames;
static uint32_t *nameidx;	/* open addressing: name number + 1, or 0 */
static size_t nameidxsize;

static uint32_t
intern(const char *s, size_t len)
{
	size_t i, j;
	uint32_t id;

	if (nameidxsize > 0)
		for (i = sa_fp_bytes(s, len).lo & (nameidxsize - 1);
		    nameidx[i] != 0; i = (i + 1) & (nameidxsize - 1)) {
			id = nameidx[i] - 1;
			if (names[id].len == len &&
			    memcmp(names[id].s, s, len) == 0)
				return id;
		}
	if (nnames == capnames) {
		capnames = capnames ? capnames * 2 : 64;
		names = xrealloc(names, capnames * sizeof(*names));
	}
	names[nnames].s = xstrndup(s, len);
	names[nnames].len = len;
	if ((nnames + 1) * 2 > nameidxsize) {
		free(nameidx);
		nameidxsize = nameidxsize ? nameidxsize * 2 : 128;
		nameidx = xcalloc(nameidxsize, sizeof(*nameidx));
		for (j = 0; j < nnames; j++) {
			for (i = sa_fp_bytes(names[j].s, names[j].len).lo &
			    (nameidxsize - 1); nameidx[i] != 0;
			    i = (i + 1) & (nameidxsize - 1))
				;
			nameidx[i] = j + 1;
		}
	}
	for (i = sa_fp_bytes(s, len).lo & (nameidxsize - 1); nameidx[i] != 0;
	    i = (i + 1) & (nameidxsize - 1))
		;
	nameidx[i] = nnames + 1;
	return nnames++;
}

void
sa_fields_pack(struct sa_buf *b, const struct sa_field *f, size_t n)
{
	size_t i;

	put32(b, n);
	for (i = 0; i < n; i++) {
		put32(b, intern(f[i].name, f[i].namelen));
		sa_buf_addc(b, f[i].type);
		put32(b, f[i].len);
		if (f[i].len)
			sa_buf_add(b, f[i].s, f[i].len);
	}
}

static size_t
get32(const char **p)
{
	uint32_t v;

	memcpy(&v, *p, 4);
	*p += 4;
	return v;
}

void
sa_fields_unpack(struct sa_fields *fs, const char *p, size_t len)
{
	size_t n, id, vl;
	int type;

	(void)len;
	fs->n = 0;
	n = get32(&p);
	while (n-- > 0) {
		id = get32(&p);
		type = (unsigned char)*p++;
		vl = get32(&p);
		sa_fields_add(fs, names[id].s, names[id].len, type, p, vl);
		p += vl;
	}
}

void
sa_fields_pack_named(struct sa_buf *b, const struct sa_field *f, size_t n)
{
	size_t i;

	put32(b, n);
	for (i = 0; i < n; i++) {
		put32(b, f[i].namelen);
		sa_buf_add(b, f[i].name, f[i].namelen);
		sa_buf_addc(b, (char)f[i].type);
		put32(b, f[i].len);
		if (f[i].len > 0)
			sa_buf_add(b, f[i].s, f[i].len);
	}
}

const char *
sa_fields_unpack_named(struct sa_fields *fs, const char *p)
{
	size_t n, namelen, vl;
	const char *name;
	int type;

	fs->n = 0;
	n = get32(&p);
	while (n-- > 0) {
		namelen = get32(&p);
		name = p;
		p += namelen;
		type = (unsigned char)*p++;
		vl = get32(&p);
		sa_fields_add(fs, name, namelen, type, p, vl);
		p += vl;
	}
	return p;
}

void
sa_fields_free(struct sa_fields *fs)
{
	free(fs->f);
	sa_buf_free(&fs->json);
	memset(fs, 0, sizeof(*fs));
}
