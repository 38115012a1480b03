/*
 * alloc_fail.c - the failing, counting test allocator (see alloc_fail.h).
 */
#include <criterion/criterion.h>
#include <execinfo.h>
#include <stdlib.h>
#include <unistd.h>

#include "alloc_fail.h"
#include "hush_common.h"

static long fail_at_n;
static long calls;
static long live;

/* HUSH_ALLOC_TRACE=N in the environment prints the stack of the Nth
 * allocation when a sweep fails it (to find the call that did not report
 * HUSH_ENOMEM). */
static void trace(void)
{
    const char *want = getenv("HUSH_ALLOC_TRACE");
    if (want != NULL && strtol(want, NULL, 10) == calls) {
        void *frames[32];
        int n = backtrace(frames, 32);
        backtrace_symbols_fd(frames, n, STDERR_FILENO);
    }
}

static void *fail_malloc(size_t n)
{
    calls++;
    if (fail_at_n != 0 && calls == fail_at_n) {
        trace();
        return NULL;
    }
    void *p = malloc(n);
    if (p != NULL) {
        live++;
    }
    return p;
}

static void *fail_realloc(void *p, size_t n)
{
    calls++;
    if (fail_at_n != 0 && calls == fail_at_n) {
        trace();
        return NULL;
    }
    void *q = realloc(p, n);
    if (q != NULL && p == NULL) {
        live++;
    }
    return q;
}

static void fail_free(void *p)
{
    if (p != NULL) {
        live--;
    }
    free(p);
}

void alloc_fail_install(long fail_at)
{
    fail_at_n = fail_at;
    calls = 0;
    live = 0;
    hush_set_allocator(fail_malloc, fail_realloc, fail_free);
}

void alloc_fail_uninstall(void)
{
    hush_set_allocator(NULL, NULL, NULL);
}

long alloc_fail_calls(void)
{
    return calls;
}

long alloc_fail_live(void)
{
    return live;
}

long alloc_fail_sweep(int (*op)(void *ctx), void (*cleanup)(void *ctx), void *ctx)
{
    for (long k = 1;; k++) {
        alloc_fail_install(k);
        int rc = op(ctx);
        long made = alloc_fail_calls();
        cleanup(ctx);
        long leaked = alloc_fail_live();
        alloc_fail_uninstall();
        cr_assert_eq(leaked, 0, "failing allocation %ld of %ld leaked %ld blocks", k,
                     made, leaked);
        if (made < k) {
            cr_assert_eq(rc, 0, "run without failures returned %d", rc);
            return made;
        }
        cr_assert_eq(rc, HUSH_ENOMEM,
                     "failing allocation %ld returned %d, not HUSH_ENOMEM", k, rc);
    }
}
