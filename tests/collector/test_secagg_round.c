/*
 * test_secagg_round.c - the collector's secure-aggregation round engine:
 * devices (hush_secagg_client) talk to it only through stage documents;
 * stages end when everyone expected has posted or at their deadline; the
 * sum is exact over the survivors; a round that cannot finish fails and
 * releases nothing.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "secagg_round.h"

enum { LEN = 16 };

struct dev {
    hush_secagg_client *c;
    uint8_t token[HUSH__SA_TOKEN_BYTES];
    hush_secagg_keys keys;
    uint32_t index;
    uint32_t x[LEN];
};

static hush__sa_post last_post; /* what the last post_msg answered */

static int post_msg(hush__sa_round *r, const hush_secagg_msg *m, uint8_t *token,
                    double now, hush__fail *f)
{
    char *doc = hush_secagg_msg_json(m);
    cr_assert_not_null(doc);
    hush__sa_post io = {0}; /* no token: all zero, as without the header */
    if (token != NULL && m->stage != HUSH_SECAGG_KEYS) {
        memcpy(io.token, token, sizeof io.token);
    }
    int rc = hush__sa_round_post(r, doc, strlen(doc), &io, now, f);
    if (rc == 0 && token != NULL && m->stage == HUSH_SECAGG_KEYS) {
        memcpy(token, io.token, sizeof io.token);
    }
    last_post = io;
    hush_free(doc);
    return rc;
}

static hush_secagg_msg *get_msg(hush__sa_round *r, uint32_t index, double now)
{
    char *doc = NULL;
    hush__fail f = {0};
    cr_assert_eq(hush__sa_round_get(r, index, now, &doc, &f), 0, "%s", f.err.msg);
    hush_secagg_msg *m = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_secagg_msg_parse(doc, strlen(doc), &m, &err), 0, "%s", err.msg);
    hush_free(doc);
    return m;
}

/* n devices through the keys stage (all post). */
static hush__sa_round *start(struct dev *d, uint32_t n, double *now)
{
    hush__sa_config cfg = {.min_devices = 5,
                           .max_devices = n,
                           .dropout = 0.2,
                           .dishonest = 0.0,
                           .bits = 32,
                           .length = LEN,
                           .round = 1,
                           .stage_seconds = 10};
    hush__sa_round *r = NULL;
    hush__fail f = {0};
    cr_assert_eq(hush__sa_round_new(&cfg, *now, &r, &f), 0, "%s", f.err.msg);
    for (uint32_t i = 0; i < n; i++) {
        cr_assert_eq(hush_secagg_client_new(NULL, &d[i].c, &d[i].keys, &f.err), 0);
        hush_secagg_msg m = {.stage = HUSH_SECAGG_KEYS, .keys = d[i].keys};
        cr_assert_eq(post_msg(r, &m, d[i].token, *now, &f), 0, "%s", f.err.msg);
    }
    cr_assert_eq(hush__sa_round_stage(r, *now), HUSH__SA_SHARES, "every device came");
    return r;
}

/* The remaining stages; devices in `silent_at` (stage number 2 masked, 3
 * sign, 4 unmask; 0 never) stop there. */
static void finish(hush__sa_round *r, struct dev *d, uint32_t n, const int *silent_at,
                   double *now, uint32_t *truth)
{
    hush__fail f = {0};
    hush_secagg_msg *list = get_msg(r, 0, *now);
    for (uint32_t i = 0; i < n; i++) {
        hush_secagg_box *b = NULL;
        size_t nb = 0;
        cr_assert_eq(
            hush_secagg_client_share(d[i].c, &list->params, list->list, &b, &nb, &f.err),
            0);
        d[i].index = hush_secagg_client_index(d[i].c);
        hush_secagg_msg m = {.stage = HUSH_SECAGG_BOXES, .boxes = b, .n_boxes = nb};
        cr_assert_eq(post_msg(r, &m, d[i].token, *now, &f), 0, "%s", f.err.msg);
        hush_free(b);
    }
    hush_secagg_msg_free(list);
    cr_assert_eq(hush__sa_round_stage(r, *now), HUSH__SA_MASKED);
    for (uint32_t i = 0; i < n; i++) {
        if (silent_at[i] == 2) {
            continue;
        }
        hush_secagg_msg *in = get_msg(r, d[i].index, *now);
        uint32_t *y = NULL;
        hush_secagg_msg m = {
            .stage = HUSH_SECAGG_MASKED, .from = d[i].index, .length = LEN};
        for (int j = 0; j < LEN; j++) {
            d[i].x[j] = i * 100 + (uint32_t)j;
            truth[j] += d[i].x[j];
        }
        cr_assert_eq(hush_secagg_client_mask(d[i].c, in->boxes, in->n_boxes, d[i].x, &y,
                                             m.commit, &f.err),
                     0, "%s", f.err.msg);
        m.y = y;
        cr_assert_eq(post_msg(r, &m, d[i].token, *now, &f), 0, "%s", f.err.msg);
        hush_free(y);
        hush_secagg_msg_free(in);
    }
    if (hush__sa_round_stage(r, *now) == HUSH__SA_MASKED) {
        *now += 11; /* the silent ones are waited for until the deadline */
    }
    cr_assert_eq(hush__sa_round_stage(r, *now), HUSH__SA_SIGN);
    hush_secagg_msg *surv = get_msg(r, 0, *now);
    for (uint32_t i = 0; i < n; i++) {
        if (silent_at[i] == 2 || silent_at[i] == 3) {
            continue;
        }
        hush_secagg_sig sig = {.from = d[i].index};
        cr_assert_eq(hush_secagg_client_sign(d[i].c, surv->indices, surv->n_indices,
                                             sig.sig, &f.err),
                     0, "%s", f.err.msg);
        hush_secagg_msg m = {.stage = HUSH_SECAGG_SIGNATURE, .sigs = &sig, .n_sigs = 1};
        cr_assert_eq(post_msg(r, &m, d[i].token, *now, &f), 0, "%s", f.err.msg);
    }
    hush_secagg_msg_free(surv);
    if (hush__sa_round_stage(r, *now) == HUSH__SA_SIGN) {
        *now += 11;
    }
    cr_assert_eq(hush__sa_round_stage(r, *now), HUSH__SA_UNMASK);
    hush_secagg_msg *req = get_msg(r, 0, *now);
    for (uint32_t i = 0; i < n; i++) {
        if (silent_at[i] >= 2) {
            continue;
        }
        hush_secagg_reveal *rv = NULL;
        size_t nr = 0;
        cr_assert_eq(hush_secagg_client_unmask(d[i].c, req->sigs, req->n_sigs,
                                               req->indices, req->n_indices, &rv, &nr,
                                               &f.err),
                     0, "%s", f.err.msg);
        hush_secagg_msg m = {
            .stage = HUSH_SECAGG_REVEALS, .reveals = rv, .n_reveals = nr};
        cr_assert_eq(post_msg(r, &m, d[i].token, *now, &f), 0, "%s", f.err.msg);
        hush_free(rv);
    }
    hush_secagg_msg_free(req);
    if (hush__sa_round_stage(r, *now) == HUSH__SA_UNMASK) {
        *now += 11;
    }
}

Test(secagg_round, a_round_through_documents_gives_the_exact_sum_of_the_survivors)
{
    enum { N = 14 };
    struct dev d[N];
    double now = 1000;
    hush__sa_round *r = start(d, N, &now);
    int silent[N] = {0};
    silent[3] = 2; /* two never send a masked vector */
    silent[9] = 2;
    silent[5] = 4; /* one signs and then reveals nothing */
    uint32_t truth[LEN] = {0};
    finish(r, d, N, silent, &now, truth);
    cr_assert_eq(hush__sa_round_stage(r, now), HUSH__SA_DONE, "%s",
                 hush__sa_round_reason(r));
    uint32_t len = 0, surv = 0;
    const uint32_t *sum = hush__sa_round_sum(r, &len, &surv);
    cr_assert_eq(len, LEN);
    cr_assert_eq(surv, N - 2);
    cr_assert_eq(memcmp(sum, truth, sizeof truth), 0);
    /* a posted document once the round is over */
    hush__fail f = {0};
    hush_secagg_msg m = {.stage = HUSH_SECAGG_KEYS, .keys = d[0].keys};
    cr_assert_eq(post_msg(r, &m, d[0].token, now, &f), HUSH_ESTATE);
    for (int i = 0; i < N; i++) {
        hush_secagg_client_free(d[i].c);
    }
    hush__sa_round_free(r);
}

Test(secagg_round, too_few_devices_by_the_deadline_fail_the_round)
{
    hush__sa_config cfg = {.min_devices = 5,
                           .max_devices = 20,
                           .dropout = 0.2,
                           .bits = 32,
                           .length = LEN,
                           .round = 1,
                           .stage_seconds = 10,
                           .wait_for_keys = true};
    hush__sa_round *r = NULL;
    hush__fail f = {0};
    cr_assert_eq(hush__sa_round_new(&cfg, -20, &r, &f), 0);
    /* two deadlines pass with nobody: the stage waits on (no one to fail) */
    cr_assert_eq(hush__sa_round_stage(r, -5), HUSH__SA_KEYS);
    cr_assert_eq(hush__sa_round_stage(r, 0.5), HUSH__SA_KEYS);
    struct dev d[4];
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(hush_secagg_client_new(NULL, &d[i].c, &d[i].keys, &f.err), 0);
        hush_secagg_msg m = {.stage = HUSH_SECAGG_KEYS, .keys = d[i].keys};
        cr_assert_eq(post_msg(r, &m, d[i].token, 1, &f), 0);
    }
    /* the same keys twice: the device's retry, the same place in the list
     * and a new token (the old one no longer speaks for it) */
    uint8_t old[HUSH__SA_TOKEN_BYTES];
    memcpy(old, d[0].token, sizeof old);
    hush_secagg_msg again = {.stage = HUSH_SECAGG_KEYS, .keys = d[0].keys};
    cr_assert_eq(post_msg(r, &again, d[0].token, 1, &f), 0);
    cr_assert(last_post.duplicate);
    cr_assert_eq(last_post.index, 0);
    cr_assert_neq(memcmp(old, d[0].token, sizeof old), 0);
    cr_assert_eq(hush__sa_round_stage(r, 4.9), HUSH__SA_KEYS, "still collecting");
    cr_assert_eq(hush__sa_round_stage(r, 5.5), HUSH__SA_FAILED);
    cr_assert(strstr(hush__sa_round_reason(r), "4 devices") != NULL, "%s",
              hush__sa_round_reason(r));
    /* a retry that nobody comes back to fails at its deadline */
    hush__sa_round *retry = NULL;
    cfg.wait_for_keys = false;
    cr_assert_eq(hush__sa_round_new(&cfg, 0, &retry, &f), 0);
    cr_assert_eq(hush__sa_round_stage(retry, 10.5), HUSH__SA_FAILED);
    cr_assert(strstr(hush__sa_round_reason(retry), "0 devices") != NULL, "%s",
              hush__sa_round_reason(retry));
    hush__sa_round_free(retry);
    char *body = NULL;
    f = (hush__fail){0};
    cr_assert_eq(hush__sa_round_get(r, 0, 11, &body, &f), HUSH_ESTATE);
    uint32_t len = 1, surv = 0;
    cr_assert_null(hush__sa_round_sum(r, &len, &surv), "nothing released");
    for (int i = 0; i < 4; i++) {
        hush_secagg_client_free(d[i].c);
    }
    hush__sa_round_free(r);
}

Test(secagg_round, documents_of_another_stage_or_malformed_are_refused)
{
    enum { N = 14 };
    struct dev d[N];
    double now = 0;
    hush__sa_round *r = start(d, N, &now);
    hush__fail f = {0};
    hush_secagg_msg k = {.stage = HUSH_SECAGG_KEYS, .keys = d[0].keys};
    cr_assert_eq(post_msg(r, &k, d[0].token, now, &f), HUSH_ESTATE,
                 "keys after the list is fixed");
    cr_assert_str_eq(f.reason, "secagg_stage");
    f = (hush__fail){0};
    hush__sa_post io = {0};
    memcpy(io.token, d[0].token, sizeof io.token);
    cr_assert_eq(hush__sa_round_post(r, "{\"stage\":", 9, &io, now, &f), HUSH_EINVAL);
    cr_assert_str_eq(f.reason, "invalid_document");
    f = (hush__fail){0};
    /* boxes claiming to be from another device than their neighbours say */
    hush_secagg_box fake[2] = {{.from = 0, .to = 1}, {.from = 0, .to = 2}};
    hush_secagg_msg b = {.stage = HUSH_SECAGG_BOXES, .boxes = fake, .n_boxes = 2};
    cr_assert_eq(post_msg(r, &b, d[0].token, now, &f), HUSH_EINVAL);
    cr_assert_str_eq(f.reason, "secagg_refused");
    /* device 1's real boxes, posted with device 2's token: nobody speaks for
     * another device (its index in the list is its place among the keys) */
    f = (hush__fail){0};
    hush_secagg_msg *list = get_msg(r, 0, now);
    hush_secagg_box *real = NULL;
    size_t n_real = 0;
    cr_assert_eq(hush_secagg_client_share(d[1].c, &list->params, list->list, &real,
                                          &n_real, &f.err),
                 0);
    hush_secagg_msg rb = {.stage = HUSH_SECAGG_BOXES, .boxes = real, .n_boxes = n_real};
    cr_assert_eq(post_msg(r, &rb, d[2].token, now, &f), HUSH_EINVAL);
    cr_assert(strstr(f.err.msg, "token") != NULL, "%s", f.err.msg);
    f = (hush__fail){0};
    cr_assert_eq(post_msg(r, &rb, NULL, now, &f), HUSH_EINVAL, "no token at all");
    f = (hush__fail){0};
    cr_assert_eq(post_msg(r, &rb, d[1].token, now, &f), 0, "its own token: %s",
                 f.err.msg);
    cr_assert(!last_post.duplicate);
    cr_assert_eq(last_post.index, 1);
    /* its retry is answered the same way and counted once */
    cr_assert_eq(post_msg(r, &rb, d[1].token, now, &f), 0, "a retry: %s", f.err.msg);
    cr_assert(last_post.duplicate);
    hush_free(real);
    hush_secagg_msg_free(list);
    for (int i = 0; i < N; i++) {
        hush_secagg_client_free(d[i].c);
    }
    hush__sa_round_free(r);
}
