/* parse.c: one JSON text into values that keep numbers as written; its
 * strings must be UTF-8, as the reader has them. */
#include <stdio.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "sa.h"

struct build {
	struct sa_arena *a;
	struct sa_val *root, *cur;
	const char *key;
	size_t keylen;
	int depth;
};

static int
add(struct build *b, struct sa_val *v)
{
	if (b->cur == NULL)
		b->root = v;
	else if (b->cur->type == SA_OBJECT)
		sa_val_add(b->cur, v, b->key, b->keylen);
	else
		sa_val_add(b->cur, v, NULL, 0);
	if (v->type == SA_OBJECT || v->type == SA_ARRAY) {
		b->cur = v;
		/* As deep as the reader allows, so that what walks the tree
		 * later by recursion stays within its stack. */
		if (++b->depth > SA_MAX_DEPTH)
			return 0;
	}
	return 1;
}

static int
on_null(void *ud)
{
	struct build *b = ud;

	return add(b, sa_val_new(b->a, SA_NULL, NULL, 0));
}

static int
on_boolean(void *ud, int t)
{
	struct build *b = ud;

	return add(b, sa_val_new(b->a, t ? SA_TRUE : SA_FALSE, NULL, 0));
}

static int
on_number(void *ud, const char *s, size_t len)
{
	struct build *b = ud;

	return add(b, sa_val_new(b->a, SA_NUMBER, s, len));
}

static int
on_string(void *ud, const unsigned char *s, size_t len)
{
	struct build *b = ud;

	return add(b, sa_val_new(b->a, SA_STRING, (const char *)s, len));
}

static int
on_start_map(void *ud)
{
	struct build *b = ud;

	return add(b, sa_val_new(b->a, SA_OBJECT, NULL, 0));
}

static int
on_key(void *ud, const unsigned char *s, size_t len)
{
	struct build *b = ud;
	char *k = sa_arena_alloc(b->a, len + 1);

	memcpy(k, s, len);
	k[len] = '\0';
	b->key = k;
	b->keylen = len;
	return 1;
}

static int
on_end(void *ud)
{
	struct build *b = ud;

	b->cur = b->cur->parent;
	b->depth--;
	return 1;
}

static int
on_start_array(void *ud)
{
	struct build *b = ud;

	return add(b, sa_val_new(b->a, SA_ARRAY, NULL, 0));
}

static const yajl_callbacks callbacks = {
	on_null, on_boolean, NULL, NULL, on_number, on_string,
	on_start_map, on_key, on_end, on_start_array, on_end
};

/*
 * What yajl takes that JSON (RFC 8259) does not, in a text it parsed
 * without error: a form feed or vertical tab as whitespace, and an
 * unterminated string after the value (yajl_complete_parse takes it for
 * one still to come).  Returns the message, or NULL.  Raw control bytes
 * inside strings and backslashes outside them are errors yajl catches.
 */
static const char *
not_json(const char *s, size_t len)
{
	const char *end = s + len;
	int in = 0;

	for (; s < end; s++)
		if (*s == '"')
			in = !in;
		else if (*s == '\\' && in)
			s++;
		else if (*s == '\f' || *s == '\v')
			return "lexical error: a form feed or vertical tab is "
			    "not JSON whitespace";
	return in ? "trailing garbage: the text ends inside a string" : NULL;
}

struct sa_val *
sa_json_parse(struct sa_arena *a, const char *s, size_t len, char **err)
{
	struct build b = { a, NULL, NULL, NULL, 0, 0 };
	yajl_handle h = yajl_alloc(&callbacks, NULL, &b);
	yajl_status st;
	static char msg[256];
	unsigned char *e;
	const char *why;
	size_t off;

	st = yajl_parse(h, (const unsigned char *)s, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (st != yajl_status_ok || b.root == NULL) {
		e = yajl_get_error(h, 0, (const unsigned char *)s, len);
		if (st == yajl_status_client_canceled)
			snprintf(msg, sizeof(msg), "nested deeper than %d "
			    "levels", SA_MAX_DEPTH);
		else
			snprintf(msg, sizeof(msg), "%s", b.root == NULL &&
			    st == yajl_status_ok ? "no JSON value" : (char *)e);
		msg[strcspn(msg, "\n")] = '\0';
		yajl_free_error(h, e);
		yajl_free(h);
		*err = msg;
		return NULL;
	}
	yajl_free(h);
	/* yajl lets through strings that are not UTF-8 (overlong forms,
	 * surrogates) and turns half a surrogate pair into '?' or worse. */
	if ((why = not_json(s, len)) != NULL)
		snprintf(msg, sizeof(msg), "%s", why);
	else if ((off = sa_utf8_valid_len(s, len)) < len)
		snprintf(msg, sizeof(msg), "invalid UTF-8 at byte %zu", off + 1);
	else if ((off = sa_json_half_surrogate(s, len)) != 0)
		snprintf(msg, sizeof(msg), "a \\u escape is half of a "
		    "surrogate pair at byte %zu", off);
	else
		return b.root;
	*err = msg;
	return NULL;
}

