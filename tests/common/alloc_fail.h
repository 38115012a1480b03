/*
 * alloc_fail.h - a hush allocator for tests that fails the Nth allocation and
 * counts live blocks, so a test can run an operation once per allocation it
 * makes, check that each failure returns HUSH_ENOMEM, and that nothing leaks
 * (jansson's chaos tests, curl's torture mode).
 */
#ifndef HUSH_TEST_ALLOC_FAIL_H
#define HUSH_TEST_ALLOC_FAIL_H

/* Installs the allocator; the fail_at-th allocation from now on (1-based)
 * returns NULL, 0 means none does.  Resets the counters. */
void alloc_fail_install(long fail_at);
/* Restores the C library's allocator. */
void alloc_fail_uninstall(void);
/* Allocations attempted since install. */
long alloc_fail_calls(void);
/* Blocks allocated and not yet freed since install. */
long alloc_fail_live(void);

/*
 * Runs `op(ctx)` with the 1st, 2nd, ... allocation failing until a run
 * completes without reaching its failure point.  Each failing run must return
 * HUSH_ENOMEM; after `cleanup(ctx)` no block may be live.  Returns the number
 * of allocations the successful run made.
 */
long alloc_fail_sweep(int (*op)(void *ctx), void (*cleanup)(void *ctx), void *ctx);

#endif
