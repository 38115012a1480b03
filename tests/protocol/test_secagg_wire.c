/*
 * test_secagg_wire.c - secure aggregation's stage documents: a whole round
 * whose every message crosses JSON gives the exact sum; malformed
 * documents are refused with a reason.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "hush_protocol.h"

/* m through its document and back (the original freed if owned). */
static hush_secagg_msg *wire(const hush_secagg_msg *m)
{
    char *text = hush_secagg_msg_json(m);
    cr_assert_not_null(text);
    hush_secagg_msg *back = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_secagg_msg_parse(text, strlen(text), &back, &err), 0, "%s: %s",
                 err.msg, text);
    cr_assert_eq(back->stage, m->stage);
    hush_free(text);
    return back;
}

Test(secagg_wire, a_round_over_json_gives_the_exact_sum)
{
    enum { N = 6, LEN = 5 };
    hush_err err = {0};
    hush_secagg_client *c[N];
    hush_secagg_keys keys[N];
    for (int i = 0; i < N; i++) {
        hush_secagg_keys k;
        cr_assert_eq(hush_secagg_client_new(NULL, &c[i], &k, &err), 0);
        hush_secagg_msg m = {.stage = HUSH_SECAGG_KEYS, .keys = k};
        hush_secagg_msg *b = wire(&m);
        keys[i] = b->keys;
        hush_secagg_msg_free(b);
    }
    hush_secagg_params p = {
        .n = N, .k = N - 1, .t = 3, .q = 4, .bits = 32, .length = LEN, .round = 9};
    hush_secagg_msg lm = {.stage = HUSH_SECAGG_LIST, .params = p, .list = keys};
    hush_secagg_msg *list = wire(&lm);
    hush_secagg_server *s = NULL;
    cr_assert_eq(hush_secagg_server_new(&list->params, list->list, &s, &err), 0);
    for (int i = 0; i < N; i++) {
        hush_secagg_box *b = NULL;
        size_t nb = 0;
        cr_assert_eq(
            hush_secagg_client_share(c[i], &list->params, list->list, &b, &nb, &err), 0,
            "%s", err.msg);
        hush_secagg_msg bm = {.stage = HUSH_SECAGG_BOXES, .boxes = b, .n_boxes = nb};
        hush_secagg_msg *back = wire(&bm);
        cr_assert_eq(hush_secagg_server_add_boxes(s, (uint32_t)i, back->boxes,
                                                  back->n_boxes, &err),
                     0, "%s", err.msg);
        hush_secagg_msg_free(back);
        hush_free(b);
    }
    uint32_t truth[LEN] = {0};
    for (int i = 0; i < N; i++) {
        const hush_secagg_box *in = NULL;
        size_t n_in = 0;
        cr_assert_eq(hush_secagg_server_boxes_for(s, (uint32_t)i, &in, &n_in, &err), 0);
        hush_secagg_msg im = {
            .stage = HUSH_SECAGG_BOXES, .boxes = (hush_secagg_box *)in, .n_boxes = n_in};
        hush_secagg_msg *inbox = wire(&im);
        uint32_t x[LEN], *y = NULL;
        uint8_t commit[32];
        for (int j = 0; j < LEN; j++) {
            x[j] = (uint32_t)(i * 1000 + j * 7 + 0xfffffff0u);
            truth[j] += x[j];
        }
        cr_assert_eq(hush_secagg_client_mask(c[i], inbox->boxes, inbox->n_boxes, x, &y,
                                             commit, &err),
                     0, "%s", err.msg);
        hush_secagg_msg mm = {
            .stage = HUSH_SECAGG_MASKED, .from = (uint32_t)i, .y = y, .length = LEN};
        memcpy(mm.commit, commit, sizeof commit);
        hush_secagg_msg *masked = wire(&mm);
        cr_assert_eq(masked->length, LEN);
        cr_assert_eq(hush_secagg_server_add_masked(s, masked->from, masked->y,
                                                   masked->commit, &err),
                     0);
        hush_secagg_msg_free(masked);
        hush_secagg_msg_free(inbox);
        hush_free(y);
    }
    const uint32_t *surv = NULL;
    size_t ns = 0;
    cr_assert_eq(hush_secagg_server_survivors(s, &surv, &ns, &err), 0);
    hush_secagg_msg sm = {
        .stage = HUSH_SECAGG_SURVIVORS, .indices = (uint32_t *)surv, .n_indices = ns};
    hush_secagg_msg *sv = wire(&sm);
    for (int i = 0; i < N; i++) {
        hush_secagg_sig sig = {.from = (uint32_t)i};
        cr_assert_eq(
            hush_secagg_client_sign(c[i], sv->indices, sv->n_indices, sig.sig, &err), 0);
        hush_secagg_msg gm = {.stage = HUSH_SECAGG_SIGNATURE, .sigs = &sig, .n_sigs = 1};
        hush_secagg_msg *g = wire(&gm);
        cr_assert_eq(hush_secagg_server_add_sig(s, g->from, g->sigs[0].sig, &err), 0);
        hush_secagg_msg_free(g);
    }
    const hush_secagg_sig *sigs = NULL;
    const uint32_t *dropped = NULL;
    size_t n_sigs = 0, n_dropped = 0;
    cr_assert_eq(
        hush_secagg_server_unmask_request(s, &sigs, &n_sigs, &dropped, &n_dropped, &err),
        0);
    hush_secagg_msg um = {.stage = HUSH_SECAGG_UNMASK,
                          .sigs = (hush_secagg_sig *)sigs,
                          .n_sigs = n_sigs,
                          .indices = (uint32_t *)dropped,
                          .n_indices = n_dropped};
    hush_secagg_msg *req = wire(&um);
    for (int i = 0; i < N; i++) {
        hush_secagg_reveal *r = NULL;
        size_t nr = 0;
        cr_assert_eq(hush_secagg_client_unmask(c[i], req->sigs, req->n_sigs, req->indices,
                                               req->n_indices, &r, &nr, &err),
                     0, "%s", err.msg);
        hush_secagg_msg rm = {
            .stage = HUSH_SECAGG_REVEALS, .reveals = r, .n_reveals = nr};
        hush_secagg_msg *rv = wire(&rm);
        cr_assert_eq(hush_secagg_server_add_reveals(s, (uint32_t)i, rv->reveals,
                                                    rv->n_reveals, &err),
                     0, "%s", err.msg);
        hush_secagg_msg_free(rv);
        hush_free(r);
    }
    uint32_t sum[LEN];
    cr_assert_eq(hush_secagg_server_finish(s, sum, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(sum, truth, sizeof sum), 0);
    hush_secagg_msg_free(req);
    hush_secagg_msg_free(sv);
    hush_secagg_msg_free(list);
    hush_secagg_server_free(s);
    for (int i = 0; i < N; i++) {
        hush_secagg_client_free(c[i]);
    }
}

Test(secagg_wire, malformed_documents_are_refused_with_a_reason)
{
    static const struct {
        const char *doc, *reason;
    } cases[] = {
        {"[]", "\"stage\""},
        {"{\"stage\":\"nope\"}", "\"stage\""},
        {"{\"stage\":\"keys\",\"enc_pk\":\"AA==\",\"mask_pk\":\"AA==\",\"sign_pk\":\"AA=="
         "\"}",
         "keys are"},
        {"{\"stage\":\"survivors\",\"survivors\":[1,-2]}", "device index"},
        {"{\"stage\":\"survivors\",\"survivors\":[1],\"x\":1}", "survivors"},
        {"{\"stage\":\"masked\",\"from\":1,\"y\":\"AAAAAAA=\",\"commit\":"
         "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}",
         "\"y\""},
        {"{\"stage\":\"masked\",\"from\":1,\"from\":2,\"y\":\"AAAAAA==\"}", "not JSON"},
        {"{\"stage\":\"reveals\",\"reveals\":[{\"from\":0,\"about\":1,\"kind\":\"both\","
         "\"share\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}]}",
         "a reveal is"},
        {"{\"stage\":\"list\",\"params\":{\"n\":3,\"k\":2,\"t\":2,\"q\":2,\"bits\":32,"
         "\"length\":4,\"round\":1},\"keys\":[]}",
         "params.n"},
        {"{\"stage\":\"list\",\"params\":{\"n\":3,\"k\":2,\"t\":1,\"q\":2,\"bits\":32,"
         "\"length\":4,\"round\":1},\"keys\":[]}",
         "t must be"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hush_secagg_msg *m = NULL;
        hush_err err = {0};
        cr_assert_eq(hush_secagg_msg_parse(cases[i].doc, strlen(cases[i].doc), &m, &err),
                     HUSH_EINVAL, "accepted: %s", cases[i].doc);
        cr_assert(strstr(err.msg, cases[i].reason) != NULL, "%s: \"%s\" not in \"%s\"",
                  cases[i].doc, cases[i].reason, err.msg);
        cr_assert_null(m);
    }
}
