/* buf.c: growable byte buffers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa.h"

void
sa_buf_grow(struct sa_buf *b, size_t more)
{
	size_t need = b->len + more + 1;

	if (need <= b->cap)
		return;
	if (b->cap == 0)
		b->cap = 256;
	while (b->cap < need)
		b->cap *= 2;
	b->s = xrealloc(b->s, b->cap);
}

void
sa_buf_add(struct sa_buf *b, const void *p, size_t n)
{
	sa_buf_grow(b, n);
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
sa_buf_adds(struct sa_buf *b, const char *s)
{
	sa_buf_add(b, s, strlen(s));
}

void
sa_buf_vprintf(struct sa_buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	sa_buf_grow(b, n > 0 ? (size_t)n : 0);
	if (n <= 0) {
		b->s[b->len] = '\0';
		return;
	}
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void
sa_buf_free(struct sa_buf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}
