/*
 * test_alloc.c - the agent's whole participation (open, add samples,
 * accept, make a batch, sealed) returns HUSH_ENOMEM when any of its
 * allocations fails, charges nothing then, and leaks nothing.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/alloc_fail.h"
#include "device_fixture.h"

struct ctx {
    hush_agent_config cfg;
    const fx_pub *pub;
    bool poll;
    hush_agent *a;
    hush_campaign *c;
    char *batch;
};

static void cleanup(void *p)
{
    struct ctx *x = p;
    hush_free(x->batch);
    hush_campaign_free(x->c);
    hush_agent_close(x->a);
    x->batch = NULL;
    x->c = NULL;
    x->a = NULL;
}

static int participate(void *p)
{
    struct ctx *x = p;
    static const char *const texts[] = {"lunch on friday?", "the invoice is attached",
                                        "your parcel shipped today"};
    int rc = hush_agent_open(&x->cfg, &x->a, NULL);
    for (size_t i = 0; rc == 0 && i < 3; i++) {
        rc = hush_agent_add_sample(x->a, texts[i], strlen(texts[i]), NULL);
    }
    if (rc == 0) {
        rc = hush_agent_accept_campaign(x->a, x->pub->id, x->pub->body, x->pub->len,
                                        x->pub->signature, &x->c, NULL);
    }
    size_t len = 0;
    hush_batch_options opt = {.seal = true, .max_reports = 1};
    if (rc == 0) {
        rc = x->poll
                 ? hush_agent_make_poll_batch(x->a, x->c, "fire", 4, &opt, &x->batch,
                                              &len, NULL)
                 : hush_agent_make_report_batch(x->a, x->c, &opt, &x->batch, &len, NULL);
    }
    return rc;
}

static void sweep(bool poll)
{
    fx_keys k;
    fx_keys_make(&k, 1);
    fx_pub p;
    if (poll) {
        fx_poll(&p, &k, "{\"name\":\"oue\",\"domain\":3,\"epsilon\":1}", 1, 1.0);
    } else {
        fx_synthetic(&p, &k, 1.0, 0.2, 1, 1.0, true);
    }
    char *dir = fx_tmpdir();
    int64_t now = 20000 * (int64_t)86400;
    struct ctx x = {.cfg = fx_config(dir, &k, &now, NULL), .pub = &p, .poll = poll};
    long made = alloc_fail_sweep(participate, cleanup, &x);
    cr_assert_gt(made, 10, "the sweep must cover the participation's allocations");
    /* only the last, complete run was charged: the campaign allows one
     * report a day, and it was made */
    hush_agent *a = NULL;
    cr_assert_eq(hush_agent_open(&x.cfg, &a, NULL), 0);
    double eps = 0;
    uint32_t n = 0;
    cr_assert_eq(hush_agent_spent_today(a, NULL, &eps, &n), 0);
    cr_assert_eq(n, 1, "failed runs charged nothing");
    hush_agent_close(a);
    fx_pub_free(&p);
    fx_rmdir(dir);
}

Test(device_alloc, synthetic_participation)
{
    sweep(false);
}

Test(device_alloc, poll_participation)
{
    sweep(true);
}
