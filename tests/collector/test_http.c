/*
 * test_http.c - the HTTP layer's tables: every failure code has one
 * status; the /metrics page is whole or missing under any allocation
 * failure, never a truncated page served as 200.
 */
#include <criterion/criterion.h>

#include "api.h"
#include "common/alloc_fail.h"

Test(http, every_failure_code_has_one_status)
{
    static const struct {
        int code, status;
    } want[] = {{HUSH_EINVAL, 400}, {HUSH_ERANGE, 400},    {HUSH_ENOTFOUND, 404},
                {HUSH_EEXIST, 409}, {HUSH_ESTATE, 409},    {HUSH_ETOOBIG, 413},
                {HUSH_ENOMEM, 500}, {HUSH_EINTERNAL, 500}, {HUSH_EUPSTREAM, 502},
                {HUSH_EIO, 503},    {HUSH_ETIMEOUT, 504}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cr_assert_eq(hush__status_of(want[i].code), want[i].status, "code %d",
                     want[i].code);
    }
    int codes[] = {
#define CODE(name, value, text) value,
        HUSH_ERRNO_MAP(CODE)
#undef CODE
    };
    for (size_t i = 1; i < sizeof codes / sizeof codes[0]; i++) {
        int s = hush__status_of(codes[i]);
        cr_assert(s >= 400 && s <= 504, "%s -> %d", hush_strerror(codes[i]), s);
    }
    cr_assert_eq(hush__status_of(-999), 500, "an unknown code is the server's fault");
}

/* A collector object with its counters, and no threads (so that the
 * failing allocator sees only the page's allocations). */
struct page {
    hush_collector h;
    char *text;
    size_t len;
};

static int render(void *ctx)
{
    struct page *p = ctx;
    p->text = hush__metrics_render(&p->h, &p->len);
    return p->text != NULL ? 0 : HUSH_ENOMEM;
}

static void drop(void *ctx)
{
    struct page *p = ctx;
    if (p->text != NULL) {
        /* whole: the last family is there, and the length is the text's */
        cr_assert_eq(strlen(p->text), p->len);
        cr_assert(strstr(p->text, "hush_store_reconnects_total{store=\"sqlite\"} 0\n") !=
                  NULL);
    }
    hush_free(p->text);
    p->text = NULL;
}

Test(http, the_metrics_page_is_whole_or_an_error)
{
    static struct page p;
    memset(&p, 0, sizeof p);
    pthread_rwlock_init(&p.h.campaigns_lock, NULL);
    hush__metrics_init(&p.h.metrics);
    hush_err err = {0};
    cr_assert_eq(hush__store_sqlite_open(":memory:", false, &p.h.store, &err), 0, "%s",
                 err.msg);
    for (int i = 0; i < 50; i++) {
        hush__metrics_request(&p.h.metrics, (enum hush__route)(i % ROUTE_COUNT), 200);
    }
    long n = alloc_fail_sweep(render, drop, &p);
    cr_assert_gt(n, 1, "the page takes several allocations (%ld)", n);
    p.h.store->ops->close(p.h.store);
    hush__metrics_dispose(&p.h.metrics);
    pthread_rwlock_destroy(&p.h.campaigns_lock);
}
