/*
 * fuzz.h: what the libFuzzer harnesses share: the input as a file
 * descriptor for the readers, and checks that crash with a message.
 */
#ifndef SA_FUZZ_H
#define SA_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sa.h"

/* A broken invariant is a crash, so that libFuzzer keeps the input. */
#define FUZZ_CHECK(cond, what) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, what); \
		abort();						\
	}								\
} while (0)

/* Returns a memory file holding the N bytes at P, read from the start.
 * SLOT names one of two files kept open for the whole run. */
static inline int
fuzz_fd(int slot, const void *p, size_t n)
{
	static int fds[2] = { -1, -1 };
	int fd = fds[slot];

	if (fd < 0 && (fd = fds[slot] = memfd_create("fuzz", 0)) < 0) {
		perror("memfd_create");
		abort();
	}
	if (ftruncate(fd, 0) < 0 || (n > 0 && pwrite(fd, p, n, 0) !=
	    (ssize_t)n) || lseek(fd, 0, SEEK_SET) < 0) {
		perror("fuzz input");
		abort();
	}
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
