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

#ifdef FUZZ_CATCH_EXIT
#include <setjmp.h>
/*
 * Some inputs end the tools by design: an abort line (sa(7)) stops a
 * reader with the status it carries, and a NUL in a string cannot be
 * written as COPY text (65).  Between FUZZ_TRY and FUZZ_DONE such an
 * exit returns to the harness instead (linked with -Wl,--wrap=exit).
 */
static jmp_buf fuzz_refused;
static int fuzz_running;
void __real_exit(int) __attribute__((noreturn));
void __wrap_exit(int) __attribute__((noreturn));
void
__wrap_exit(int status)
{
	if (!fuzz_running)
		__real_exit(status);
	fuzz_running = 0;
	FUZZ_CHECK(status > 0 && status < 256, "an exit with status 0");
	longjmp(fuzz_refused, 1);
}
#define FUZZ_TRY() (setjmp(fuzz_refused) == 0 ? (fuzz_running = 1) : 0)
#define FUZZ_DONE() (fuzz_running = 0)
#endif

#endif
