/* arena.c: storage for the values of records in flight.
 *
 * Blocks are handed out in order and recycled when the arena is reset;
 * big requests get a block of their own that is freed on reset. */
#include <stdlib.h>
#include <string.h>

#include "sa.h"

#define BLOCK (64 * 1024)

struct block {
	struct block *next;
	size_t size, used;
	char data[];
};

struct sa_arena {
	struct block *all;	/* every block in use, newest first */
	struct block *cur;	/* the block small requests come from */
	struct block *spare;	/* recycled standard blocks */
	size_t used;
};

struct sa_arena *
sa_arena_new(void)
{
	return xcalloc(1, sizeof(struct sa_arena));
}

size_t
sa_arena_used(const struct sa_arena *a)
{
	return a->used;
}

void *
sa_arena_alloc(struct sa_arena *a, size_t n)
{
	struct block *b = a->cur;
	void *p;

	n = (n + 15) & ~(size_t)15;
	a->used += n;
	if (b != NULL && b->size - b->used >= n) {
		p = b->data + b->used;
		b->used += n;
		return p;
	}
	if (n > BLOCK / 4) {
		b = xmalloc(sizeof(*b) + n);
		b->size = n;
	} else if (a->spare != NULL) {
		b = a->spare;
		a->spare = b->next;
	} else {
		b = xmalloc(sizeof(*b) + BLOCK);
		b->size = BLOCK;
	}
	b->used = n;
	b->next = a->all;
	a->all = b;
	if (b->size == BLOCK)
		a->cur = b;
	return b->data;
}

void
sa_arena_reset(struct sa_arena *a)
{
	struct block *b, *next;

	for (b = a->all; b != NULL; b = next) {
		next = b->next;
		if (b->size == BLOCK) {
			b->next = a->spare;
			a->spare = b;
		} else
			free(b);
	}
	a->all = a->cur = NULL;
	a->used = 0;
}

void
sa_arena_free(struct sa_arena *a)
{
	struct block *b, *next;

	if (a == NULL)
		return;
	sa_arena_reset(a);
	for (b = a->spare; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(a);
}

struct sa_val *
sa_val_new(struct sa_arena *a, int type, const char *s, size_t len)
{
	struct sa_val *v = sa_arena_alloc(a, sizeof(*v));

	memset(v, 0, sizeof(*v));
	v->type = type;
	if (s != NULL) {
		char *p = sa_arena_alloc(a, len + 1);

		memcpy(p, s, len);
		p[len] = '\0';
		v->str = p;
		v->len = len;
	}
	return v;
}

void
sa_val_add(struct sa_val *parent, struct sa_val *child, const char *key,
    size_t keylen)
{
	child->parent = parent;
	child->key = key;
	child->keylen = keylen;
	if (parent->last != NULL)
		parent->last->next = child;
	else
		parent->child = child;
	parent->last = child;
	parent->len++;
}
