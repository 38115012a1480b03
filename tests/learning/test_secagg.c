/*
 * test_secagg.c - secure aggregation: the field and Shamir sharing, the
 * parameter finder and the graph, whole rounds with dropouts at every
 * stage (exact sum up to the tolerance, nothing released beyond it), and a
 * dishonest collector's every trick refused by the devices.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "hush_secagg.h"
#include "secagg_internal.h"

#define P127 ((((hush__fe)1) << 127) - 1)

static hush__fe rand_fe(void)
{
    uint8_t b[16];
    randombytes_buf(b, sizeof b);
    b[15] &= 0x7f;
    hush__fe a = 0;
    hush__fe_load(b, &a);
    return a % P127;
}

/* a * b mod p by doubling and adding (the slow reference) */
static hush__fe slow_mul(hush__fe a, hush__fe b)
{
    hush__fe r = 0;
    for (int i = 126; i >= 0; i--) {
        r = hush__fe_add(r, r);
        if ((b >> i) & 1) {
            r = hush__fe_add(r, a);
        }
    }
    return r;
}

Test(secagg, field_arithmetic_matches_a_slow_reference)
{
    cr_assert_eq(sodium_init() >= 0, 1);
    hush__fe edge[] = {0,
                       1,
                       2,
                       P127 - 1,
                       P127 - 2,
                       ((hush__fe)1) << 126,
                       (((hush__fe)1) << 64) - 1,
                       ((hush__fe)1) << 64};
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) {
        for (size_t j = 0; j < sizeof edge / sizeof *edge; j++) {
            cr_assert(hush__fe_mul(edge[i], edge[j]) == slow_mul(edge[i], edge[j]));
        }
    }
    for (int i = 0; i < 2000; i++) {
        hush__fe a = rand_fe(), b = rand_fe();
        cr_assert(hush__fe_mul(a, b) == slow_mul(a, b));
        cr_assert(hush__fe_add(hush__fe_sub(a, b), b) == a);
        if (a != 0) {
            cr_assert(hush__fe_mul(a, hush__fe_inv(a)) == 1);
        }
    }
    cr_assert(hush__fe_mul(P127 - 1, P127 - 1) == 1, "(-1)^2 = 1");
    uint8_t b[16];
    memset(b, 0xff, sizeof b);
    b[15] = 0x7f; /* = p: not an element */
    hush__fe x;
    cr_assert_eq(hush__fe_load(b, &x), HUSH_EINVAL);
}

Test(secagg, any_t_shares_give_the_secret_and_fewer_do_not)
{
    uint8_t secret[32], back[32], shares[10 * HUSH_SECAGG_SHARE_BYTES];
    uint32_t xs[10] = {3, 9, 17, 18, 40, 41, 77, 100, 1000, 99999};
    hush_err err = {0};
    for (int trial = 0; trial < 50; trial++) {
        hush__secret_random(secret);
        cr_assert_eq(hush__shamir_split(secret, 4, xs, 10, shares, &err), 0, "%s",
                     err.msg);
        /* a random 4 of the 10 */
        uint32_t pick[10];
        for (int i = 0; i < 10; i++) {
            pick[i] = (uint32_t)i;
        }
        for (int i = 9; i > 0; i--) {
            uint32_t j = randombytes_uniform((uint32_t)i + 1), tmp = pick[i];
            pick[i] = pick[j];
            pick[j] = tmp;
        }
        uint32_t sx[4];
        uint8_t ss[4 * HUSH_SECAGG_SHARE_BYTES];
        for (int i = 0; i < 4; i++) {
            sx[i] = xs[pick[i]];
            memcpy(ss + i * HUSH_SECAGG_SHARE_BYTES,
                   shares + pick[i] * HUSH_SECAGG_SHARE_BYTES, HUSH_SECAGG_SHARE_BYTES);
        }
        cr_assert_eq(hush__shamir_join(sx, ss, 4, back, &err), 0, "%s", err.msg);
        cr_assert_eq(memcmp(back, secret, 32), 0);
        /* three shares interpolate some other value */
        cr_assert_eq(hush__shamir_join(sx, ss, 3, back, &err), 0);
        cr_assert_neq(memcmp(back, secret, 32), 0);
    }
    uint32_t zero[2] = {0, 1};
    cr_assert_eq(hush__shamir_split(secret, 2, zero, 2, shares, &err), HUSH_EINVAL,
                 "x = 0 is the secret itself");
    uint32_t same[2] = {5, 5};
    cr_assert_eq(hush__shamir_join(same, shares, 2, back, &err), HUSH_EINVAL);
}

Test(secagg, the_mask_uses_the_whole_256_bit_key)
{
    /* a PRG seeded by a fold of the key (Flower's 32-bit seed) would give
     * the same mask to keys that agree on the folded bits */
    uint8_t a[32], b[32];
    randombytes_buf(a, sizeof a);
    memcpy(b, a, sizeof b);
    b[31] ^= 0x80;
    uint32_t ma[64] = {0}, mb[64] = {0}, buf[64];
    hush__sa_add_mask(ma, buf, 64, a, +1);
    hush__sa_add_mask(mb, buf, 64, b, +1);
    int same = 0;
    for (int i = 0; i < 64; i++) {
        same += ma[i] == mb[i];
    }
    cr_assert_lt(same, 3, "keys differing in their last bit give unrelated masks");
}

Test(secagg, the_parameter_finder_meets_its_bounds)
{
    hush_secagg_params p;
    hush_err err = {0};
    cr_assert_eq(hush_secagg_choose(1000, 0.33, 0.05, 40, 20, 32, 10000, &p, &err), 0,
                 "%s", err.msg);
    cr_log_info("n 1000, 33%% dropout, 5%% dishonest: k %u t %u q %u", p.k, p.t, p.q);
    cr_assert_eq(p.k, 72, "the degree Google's finder gives for these inputs");
    cr_assert(p.t == 23, "the smallest t within the bounds (Google's gives 24)");
    cr_assert_eq(p.q, (1000 + 50) / 2 + 1);
    /* small n: the complete graph */
    cr_assert_eq(hush_secagg_choose(20, 0.1, 0.0, 40, 20, 32, 10, &p, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(p.k, 19);
    /* more dropping out than a majority can survive */
    cr_assert_eq(hush_secagg_choose(1000, 0.6, 0.05, 40, 20, 32, 10, &p, &err),
                 HUSH_EINVAL);
}

Test(secagg, the_graph_is_regular_symmetric_and_the_same_for_everyone)
{
    hush_secagg_params p = {.n = 300, .k = 20, .t = 5, .q = 151, .bits = 32, .length = 4};
    uint8_t session[32];
    randombytes_buf(session, sizeof session);
    uint32_t *nb = malloc(300 * 20 * sizeof *nb);
    cr_assert_eq(hush__sa_graph(&p, session, nb), 0);
    for (uint32_t i = 0; i < 300; i++) {
        for (uint32_t j = 0; j < 20; j++) {
            uint32_t v = nb[i * 20 + j];
            cr_assert_neq(v, i);
            cr_assert(j == 0 || v > nb[i * 20 + j - 1], "ascending, no repeats");
            cr_assert_geq(hush__sa_find(nb + v * 20, 20, i), 0, "symmetric");
        }
    }
    uint32_t row[20];
    hush_err err = {0};
    cr_assert_eq(hush_secagg_neighbours(&p, session, 7, row, &err), 0);
    cr_assert_eq(memcmp(row, nb + 7 * 20, sizeof row), 0);
    free(nb);
}

/* ---- whole rounds ---- */

/* Who leaves when: a device in drop[s] sends nothing from stage s on
 * (1 shares, 2 masked vector, 3 signature, 4 reveals). */
struct round_plan {
    uint32_t n, k, t, q, length, bits;
    const uint8_t *drop; /* per device: the stage it drops at, 0 = never */
};

struct round_result {
    int rc;            /* the server's finish */
    uint32_t *sum;     /* the released sum */
    uint32_t *truth;   /* the survivors' (stage 2 senders') sum */
    int device_aborts; /* devices that refused something */
};

/* The device whose first revealed share is corrupted (-1: none). */
static int corrupt_from = -1;

static void run_round(const struct round_plan *rp, struct round_result *out)
{
    hush_err err = {0};
    uint32_t n = rp->n, len = rp->length;
    hush_secagg_params p = {.n = n,
                            .k = rp->k,
                            .t = rp->t,
                            .q = rp->q,
                            .bits = rp->bits,
                            .length = len,
                            .round = 7};
    hush_secagg_client **c = calloc(n, sizeof *c);
    hush_secagg_keys *keys = calloc(n, sizeof *keys);
    for (uint32_t i = 0; i < n; i++) {
        cr_assert_eq(hush_secagg_client_new(NULL, &c[i], &keys[i], &err), 0);
    }
    hush_secagg_server *s = NULL;
    cr_assert_eq(hush_secagg_server_new(&p, keys, &s, &err), 0, "%s", err.msg);
    memset(out, 0, sizeof *out);
    out->sum = calloc(len, sizeof *out->sum);
    out->truth = calloc(len, sizeof *out->truth);
    uint32_t top = rp->bits == 32 ? UINT32_MAX : (1u << rp->bits) - 1;
    for (uint32_t i = 0; i < n; i++) {
        if (rp->drop[i] == 1) {
            continue;
        }
        hush_secagg_box *boxes = NULL;
        size_t nb = 0;
        cr_assert_eq(hush_secagg_client_share(c[i], &p, keys, &boxes, &nb, &err), 0, "%s",
                     err.msg);
        cr_assert_eq(hush_secagg_server_add_boxes(s, i, boxes, nb, &err), 0, "%s",
                     err.msg);
        hush_free(boxes);
    }
    uint32_t *x = malloc(len * sizeof *x);
    uint8_t commit[32];
    for (uint32_t i = 0; i < n; i++) {
        if (rp->drop[i] == 1 || rp->drop[i] == 2) {
            continue;
        }
        const hush_secagg_box *in = NULL;
        size_t n_in = 0;
        cr_assert_eq(hush_secagg_server_boxes_for(s, i, &in, &n_in, &err), 0);
        for (uint32_t j = 0; j < len; j++) {
            x[j] = (i * 7919u + j * 104729u) & top;
        }
        uint32_t *y = NULL;
        if (hush_secagg_client_mask(c[i], in, n_in, x, &y, commit, &err) != 0) {
            out->device_aborts++;
            continue;
        }
        for (uint32_t j = 0; j < len; j++) {
            out->truth[j] = (out->truth[j] + x[j]) & top;
        }
        cr_assert_eq(hush_secagg_server_add_masked(s, i, y, commit, &err), 0, "%s",
                     err.msg);
        hush_free(y);
    }
    const uint32_t *surv = NULL;
    size_t n_surv = 0;
    cr_assert_eq(hush_secagg_server_survivors(s, &surv, &n_surv, &err), 0);
    for (size_t i = 0; i < n_surv; i++) {
        uint32_t u = surv[i];
        uint8_t sig[64];
        if (rp->drop[u] == 3) {
            continue;
        }
        if (hush_secagg_client_sign(c[u], surv, n_surv, sig, &err) != 0) {
            out->device_aborts++;
            continue;
        }
        cr_assert_eq(hush_secagg_server_add_sig(s, u, sig, &err), 0, "%s", err.msg);
    }
    const hush_secagg_sig *sigs = NULL;
    const uint32_t *dropped = NULL;
    size_t n_sigs = 0, n_dropped = 0;
    if (hush_secagg_server_unmask_request(s, &sigs, &n_sigs, &dropped, &n_dropped,
                                          &err) != 0) {
        out->rc = err.code;
    } else {
        for (size_t i = 0; i < n_surv; i++) {
            uint32_t u = surv[i];
            if (rp->drop[u] == 3 || rp->drop[u] == 4) {
                continue;
            }
            hush_secagg_reveal *r = NULL;
            size_t nr = 0;
            if (hush_secagg_client_unmask(c[u], sigs, n_sigs, dropped, n_dropped, &r, &nr,
                                          &err) != 0) {
                out->device_aborts++;
                continue;
            }
            if ((int)u == corrupt_from && nr > 0) {
                r[0].share[3] ^= 0x40; /* a device lying about one share */
            }
            cr_assert_eq(hush_secagg_server_add_reveals(s, u, r, nr, &err), 0, "%s",
                         err.msg);
            hush_free(r);
        }
        out->rc = hush_secagg_server_finish(s, out->sum, &err);
    }
    free(x);
    for (uint32_t i = 0; i < n; i++) {
        hush_secagg_client_free(c[i]);
    }
    hush_secagg_server_free(s);
    free(c);
    free(keys);
}

static void result_free(struct round_result *r)
{
    free(r->sum);
    free(r->truth);
}

Test(secagg, masks_cancel_exactly_without_dropouts)
{
    uint8_t drop[40] = {0};
    struct round_plan rp = {40, 10, 4, 21, 100, 32, drop};
    struct round_result r;
    run_round(&rp, &r);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(r.device_aborts, 0);
    cr_assert_eq(memcmp(r.sum, r.truth, 100 * sizeof *r.sum), 0, "the exact sum");
    result_free(&r);
    rp.bits = 16; /* mod 2^16 */
    run_round(&rp, &r);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(memcmp(r.sum, r.truth, 100 * sizeof *r.sum), 0);
    result_free(&r);
}

Test(secagg, dropouts_at_every_stage_up_to_the_tolerance_give_the_exact_sum)
{
    /* 60 devices, degree 20, threshold 6: a device keeps >= 6 of its 20
     * neighbours; 4 drop at each stage (16 in all, 27%) */
    uint8_t drop[60] = {0};
    for (int stage = 1; stage <= 4; stage++) {
        for (int j = 0; j < 4; j++) {
            drop[(stage * 13 + j * 5) % 60] = (uint8_t)stage;
        }
    }
    struct round_plan rp = {60, 20, 6, 31, 257, 32, drop};
    struct round_result r;
    run_round(&rp, &r);
    cr_assert_eq(r.rc, 0, "the round completes");
    cr_assert_eq(r.device_aborts, 0);
    cr_assert_eq(memcmp(r.sum, r.truth, 257 * sizeof *r.sum), 0,
                 "the exact sum of those who sent masked vectors");
    result_free(&r);
}

Test(secagg, beyond_the_tolerance_the_round_fails_and_releases_nothing)
{
    /* every device but device 0's neighbours drops before unmasking: too
     * few shares about device 0 */
    uint8_t drop[30] = {0};
    struct round_plan rp = {30, 29, 20, 16, 50, 32, drop};
    for (int i = 10; i < 30; i++) {
        drop[i] = 4; /* they sign, then reveal nothing */
    }
    struct round_result r;
    run_round(&rp, &r);
    cr_assert_eq(r.rc, HUSH_ESTATE, "too few shares: the round fails");
    uint32_t zero[50] = {0};
    cr_assert_eq(memcmp(r.sum, zero, sizeof zero), 0, "nothing released");
    result_free(&r);
    /* fewer than q sign: no unmask request at all */
    memset(drop, 0, sizeof drop);
    for (int i = 0; i < 15; i++) {
        drop[i] = 3;
    }
    run_round(&rp, &r);
    cr_assert_eq(r.rc, HUSH_ESTATE);
    result_free(&r);
}

Test(secagg, one_bad_share_is_left_out_when_more_than_t_were_revealed)
{
    uint8_t drop[20] = {0};
    struct round_plan rp = {20, 19, 5, 11, 64, 32, drop};
    struct round_result r;
    corrupt_from = 3;
    run_round(&rp, &r);
    cr_assert_eq(r.rc, 0, "19 shares about each device: the bad one is found");
    cr_assert_eq(memcmp(r.sum, r.truth, 64 * sizeof *r.sum), 0, "and the sum is exact");
    result_free(&r);
    /* only devices 0..5 reveal (t + 1): about device 0 there are exactly t
     * shares, device 3's bad one among them: the round fails, no sum */
    for (int i = 6; i < 20; i++) {
        drop[i] = 4;
    }
    corrupt_from = -1;
    run_round(&rp, &r);
    cr_assert_eq(r.rc, 0, "with honest shares the same plan recovers the sum");
    result_free(&r);
    corrupt_from = 3;
    run_round(&rp, &r);
    cr_assert_eq(r.rc, HUSH_ESTATE, "a wrong sum is never released");
    uint32_t zero[64] = {0};
    cr_assert_eq(memcmp(r.sum, zero, sizeof zero), 0);
    result_free(&r);
    corrupt_from = -1;
}

/* ---- a dishonest collector ---- */

/* n honest devices and their key list, at stage 1. */
struct honest {
    uint32_t n;
    hush_secagg_params p;
    hush_secagg_client **c;
    hush_secagg_keys *keys;
};

static void honest_init(struct honest *h, uint32_t n, uint32_t k, uint32_t t, uint32_t q)
{
    hush_err err = {0};
    h->n = n;
    h->p = (hush_secagg_params){
        .n = n, .k = k, .t = t, .q = q, .bits = 32, .length = 8, .round = 3};
    h->c = calloc(n, sizeof *h->c);
    h->keys = calloc(n, sizeof *h->keys);
    for (uint32_t i = 0; i < n; i++) {
        cr_assert_eq(hush_secagg_client_new(NULL, &h->c[i], &h->keys[i], &err), 0);
    }
}

static void honest_fini(struct honest *h)
{
    for (uint32_t i = 0; i < h->n; i++) {
        hush_secagg_client_free(h->c[i]);
    }
    free(h->c);
    free(h->keys);
}

static void assert_aborts(int rc, hush_err *err, const char *why)
{
    cr_assert_eq(rc, HUSH_ESTATE, "refused: %s", why);
    cr_assert(strstr(err->msg, why) != NULL, "\"%s\" in \"%s\"", why, err->msg);
    hush_err_clear(err); /* (an error keeps its first message) */
}

Test(secagg, a_key_list_without_the_device_or_with_it_twice_is_refused)
{
    struct honest h;
    honest_init(&h, 6, 5, 3, 4);
    hush_err err = {0};
    hush_secagg_box *b = NULL;
    size_t nb = 0;
    hush_secagg_keys list[6];
    memcpy(list, h.keys, sizeof list);
    list[2] = list[1]; /* device 2 left out, device 1 twice */
    assert_aborts(hush_secagg_client_share(h.c[2], &h.p, list, &b, &nb, &err), &err,
                  "not in the key list");
    assert_aborts(hush_secagg_client_share(h.c[1], &h.p, list, &b, &nb, &err), &err,
                  "twice");
    /* another device's encryption key copied into a slot: the collector
     * posing as a neighbour */
    memcpy(list, h.keys, sizeof list);
    memcpy(list[4].enc_pk, list[3].enc_pk, 32);
    assert_aborts(hush_secagg_client_share(h.c[0], &h.p, list, &b, &nb, &err), &err,
                  "appears twice");
    /* an aborted device stays aborted */
    cr_assert_eq(hush_secagg_client_share(h.c[0], &h.p, h.keys, &b, &nb, &err),
                 HUSH_ESTATE);
    honest_fini(&h);
}

Test(secagg, parameters_below_the_devices_policy_are_refused)
{
    hush_err err = {0};
    hush_secagg_policy pol = {
        .min_devices = 10, .min_threshold = 3, .max_dishonest = 0.2};
    hush_secagg_client *c = NULL;
    hush_secagg_keys keys[6];
    cr_assert_eq(hush_secagg_client_new(&pol, &c, &keys[0], &err), 0);
    for (int i = 1; i < 6; i++) {
        hush_secagg_client *o = NULL;
        cr_assert_eq(hush_secagg_client_new(NULL, &o, &keys[i], &err), 0);
        hush_secagg_client_free(o);
    }
    hush_secagg_params p = {.n = 6, .k = 5, .t = 3, .q = 4, .bits = 32, .length = 4};
    hush_secagg_box *b = NULL;
    size_t nb = 0;
    assert_aborts(hush_secagg_client_share(c, &p, keys, &b, &nb, &err), &err,
                  "below this device's policy");
    hush_secagg_client_free(c);
}

/* Stage 1 for every device; the collector's boxes for each in inbox. */
static void share_all(struct honest *h, hush_secagg_server **s)
{
    hush_err err = {0};
    cr_assert_eq(hush_secagg_server_new(&h->p, h->keys, s, &err), 0, "%s", err.msg);
    for (uint32_t i = 0; i < h->n; i++) {
        hush_secagg_box *b = NULL;
        size_t nb = 0;
        cr_assert_eq(hush_secagg_client_share(h->c[i], &h->p, h->keys, &b, &nb, &err), 0,
                     "%s", err.msg);
        cr_assert_eq(hush_secagg_server_add_boxes(*s, i, b, nb, &err), 0, "%s", err.msg);
        hush_free(b);
    }
}

static void mask_one(struct honest *h, hush_secagg_server *s, uint32_t i)
{
    hush_err err = {0};
    const hush_secagg_box *in = NULL;
    size_t n_in = 0;
    uint32_t x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, *y = NULL;
    uint8_t commit[32];
    cr_assert_eq(hush_secagg_server_boxes_for(s, i, &in, &n_in, &err), 0);
    cr_assert_eq(hush_secagg_client_mask(h->c[i], in, n_in, x, &y, commit, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(hush_secagg_server_add_masked(s, i, y, commit, &err), 0);
    hush_free(y);
}

Test(secagg, a_different_key_list_for_one_device_is_found_out)
{
    struct honest h;
    honest_init(&h, 8, 7, 4, 5);
    hush_err err = {0};
    hush_secagg_server *s = NULL;
    cr_assert_eq(hush_secagg_server_new(&h.p, h.keys, &s, &err), 0);
    /* device 0 is shown a list in which device 7's keys are the
     * collector's own */
    hush_secagg_keys forged[8];
    memcpy(forged, h.keys, sizeof forged);
    hush_secagg_client *fake = NULL;
    cr_assert_eq(hush_secagg_client_new(NULL, &fake, &forged[7], &err), 0);
    for (uint32_t i = 0; i < 8; i++) {
        hush_secagg_box *b = NULL;
        size_t nb = 0;
        cr_assert_eq(hush_secagg_client_share(h.c[i], &h.p, i == 0 ? forged : h.keys, &b,
                                              &nb, &err),
                     0);
        cr_assert_eq(hush_secagg_server_add_boxes(s, i, b, nb, &err), 0);
        hush_free(b);
    }
    const hush_secagg_box *in = NULL;
    size_t n_in = 0;
    uint32_t x[8] = {0}, *y = NULL;
    uint8_t commit[32];
    /* device 0's boxes were sealed in another session: nobody opens them,
     * and device 0 opens nobody's */
    cr_assert_eq(hush_secagg_server_boxes_for(s, 0, &in, &n_in, &err), 0);
    assert_aborts(hush_secagg_client_mask(h.c[0], in, n_in, x, &y, commit, &err), &err,
                  "does not open");
    cr_assert_eq(hush_secagg_server_boxes_for(s, 3, &in, &n_in, &err), 0);
    assert_aborts(hush_secagg_client_mask(h.c[3], in, n_in, x, &y, commit, &err), &err,
                  "does not open");
    hush_secagg_client_free(fake);
    hush_secagg_server_free(s);
    honest_fini(&h);
}

Test(secagg, survivor_lists_the_device_cannot_vouch_for_are_refused)
{
    struct honest h;
    honest_init(&h, 8, 7, 4, 5);
    hush_secagg_server *s = NULL;
    hush_err err = {0};
    /* device 6 never shares; the others mask */
    cr_assert_eq(hush_secagg_server_new(&h.p, h.keys, &s, &err), 0);
    for (uint32_t i = 0; i < 6; i++) {
        hush_secagg_box *b = NULL;
        size_t nb = 0;
        cr_assert_eq(hush_secagg_client_share(h.c[i], &h.p, h.keys, &b, &nb, &err), 0);
        cr_assert_eq(hush_secagg_server_add_boxes(s, i, b, nb, &err), 0);
        hush_free(b);
    }
    hush_secagg_box *b7 = NULL;
    size_t n7 = 0;
    cr_assert_eq(hush_secagg_client_share(h.c[7], &h.p, h.keys, &b7, &n7, &err), 0);
    cr_assert_eq(hush_secagg_server_add_boxes(s, 7, b7, n7, &err), 0);
    hush_free(b7);
    for (uint32_t i = 0; i < 8; i++) {
        if (i != 6) {
            mask_one(&h, s, i);
        }
    }
    uint8_t sig[64];
    uint32_t with_6[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    assert_aborts(hush_secagg_client_sign(h.c[0], with_6, 8, sig, &err), &err,
                  "never sent this device its shares");
    uint32_t without_self[6] = {2, 3, 4, 5, 7};
    assert_aborts(hush_secagg_client_sign(h.c[1], without_self, 5, sig, &err), &err,
                  "leaves out this device");
    uint32_t unsorted[7] = {2, 1, 3, 4, 5, 7};
    assert_aborts(hush_secagg_client_sign(h.c[2], unsorted, 6, sig, &err), &err,
                  "not ascending");
    uint32_t few[4] = {3, 4, 5, 7};
    assert_aborts(hush_secagg_client_sign(h.c[3], few, 4, sig, &err), &err,
                  "fewer survivors");
    hush_secagg_server_free(s);
    honest_fini(&h);
}

/* Under distributed DP a device's privacy counts on the noise of at least
 * n_min devices: a survivor list shorter than that is refused even when
 * it meets the quorum (the collector could otherwise release a sum with
 * too little noise in it). */
Test(secagg, a_survivor_list_below_the_devices_noise_floor_is_refused)
{
    struct honest h;
    honest_init(&h, 8, 7, 4, 5);
    hush_err err = {0};
    hush_secagg_policy strict = {.min_survivors = 7};
    hush_secagg_client_free(h.c[0]);
    cr_assert_eq(hush_secagg_client_new(&strict, &h.c[0], &h.keys[0], &err), 0);
    hush_secagg_server *s = NULL;
    cr_assert_eq(hush_secagg_server_new(&h.p, h.keys, &s, &err), 0);
    for (uint32_t i = 0; i < 8; i++) {
        hush_secagg_box *b = NULL;
        size_t nb = 0;
        cr_assert_eq(hush_secagg_client_share(h.c[i], &h.p, h.keys, &b, &nb, &err), 0,
                     "%s", err.msg);
        cr_assert_eq(hush_secagg_server_add_boxes(s, i, b, nb, &err), 0);
        hush_free(b);
    }
    for (uint32_t i = 0; i < 8; i++) {
        mask_one(&h, s, i);
    }
    uint8_t sig[64];
    uint32_t six[6] = {0, 1, 2, 3, 4, 5}; /* q = 5 is met; 7 are not */
    cr_assert_eq(hush_secagg_client_sign(h.c[1], six, 6, sig, &err), 0,
                 "the default policy signs it: %s", err.msg);
    assert_aborts(hush_secagg_client_sign(h.c[0], six, 6, sig, &err), &err,
                  "privacy counts on");
    hush_secagg_server_free(s);
    honest_fini(&h);
}

/* Every device through stage 3 on the honest survivor list; sigs out. */
static void sign_all(struct honest *h, hush_secagg_server **s, hush_secagg_sig *sigs)
{
    hush_err err = {0};
    share_all(h, s);
    for (uint32_t i = 0; i < h->n; i++) {
        mask_one(h, *s, i);
    }
    const uint32_t *surv = NULL;
    size_t ns = 0;
    cr_assert_eq(hush_secagg_server_survivors(*s, &surv, &ns, &err), 0);
    for (uint32_t i = 0; i < h->n; i++) {
        sigs[i].from = i;
        cr_assert_eq(hush_secagg_client_sign(h->c[i], surv, ns, sigs[i].sig, &err), 0,
                     "%s", err.msg);
        cr_assert_eq(hush_secagg_server_add_sig(*s, i, sigs[i].sig, &err), 0);
    }
}

Test(secagg, a_device_never_reveals_both_shares_of_a_neighbour)
{
    struct honest h;
    honest_init(&h, 8, 7, 4, 5);
    hush_secagg_server *s = NULL;
    hush_secagg_sig sigs[8];
    sign_all(&h, &s, sigs);
    hush_err err = {0};
    hush_secagg_reveal *r = NULL;
    size_t nr = 0;
    /* Flower's flaw: list a survivor as dropped too, and collect both of
     * its shares */
    uint32_t dropped[1] = {5};
    assert_aborts(hush_secagg_client_unmask(h.c[0], sigs, 8, dropped, 1, &r, &nr, &err),
                  &err, "alive and as dropped");
    /* an honest request: every neighbour survived, self-mask shares only */
    cr_assert_eq(hush_secagg_client_unmask(h.c[1], sigs, 8, NULL, 0, &r, &nr, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(nr, 7);
    for (size_t i = 0; i < nr; i++) {
        cr_assert_eq(r[i].kind, HUSH_SECAGG_SELF_SHARE);
    }
    hush_free(r);
    /* asked again, now with device 5 dropped: refused */
    assert_aborts(hush_secagg_client_unmask(h.c[1], sigs, 8, dropped, 1, &r, &nr, &err),
                  &err, "second unmask");
    hush_secagg_server_free(s);
    honest_fini(&h);
}

Test(secagg, too_few_or_foreign_signatures_are_refused)
{
    struct honest h;
    honest_init(&h, 8, 7, 4, 5);
    hush_secagg_server *s = NULL;
    hush_secagg_sig sigs[8];
    sign_all(&h, &s, sigs);
    hush_err err = {0};
    hush_secagg_reveal *r = NULL;
    size_t nr = 0;
    /* q = 5: four signatures are not enough */
    assert_aborts(hush_secagg_client_unmask(h.c[0], sigs, 4, NULL, 0, &r, &nr, &err),
                  &err, "fewer than q");
    /* five, but one signed by another key and two repeated */
    hush_secagg_sig bad[7];
    memcpy(bad, sigs, 5 * sizeof *sigs);
    bad[4].sig[0] ^= 1;
    bad[5] = sigs[1];
    bad[6] = sigs[2];
    assert_aborts(hush_secagg_client_unmask(h.c[1], bad, 7, NULL, 0, &r, &nr, &err), &err,
                  "fewer than q");
    /* signatures by keys outside the list (the collector's own) on the
     * right message do not count either */
    hush_secagg_sig forged[8];
    const uint32_t *surv = NULL;
    size_t ns = 0, len = 0;
    cr_assert_eq(hush_secagg_server_survivors(s, &surv, &ns, &err), 0);
    uint8_t session[32];
    hush_secagg_session(&h.p, h.keys, session);
    uint8_t *msg = hush__sa_survivors_message(session, surv, ns, &len);
    for (int i = 0; i < 8; i++) {
        uint8_t pk[32], sk[64];
        crypto_sign_keypair(pk, sk);
        forged[i].from = (uint32_t)i;
        crypto_sign_detached(forged[i].sig, NULL, msg, len, sk);
    }
    hush_free(msg);
    assert_aborts(hush_secagg_client_unmask(h.c[3], forged, 8, NULL, 0, &r, &nr, &err),
                  &err, "fewer than q");
    cr_assert_eq(hush_secagg_client_unmask(h.c[2], sigs, 8, NULL, 0, &r, &nr, &err), 0,
                 "the real ones still do: %s", err.msg);
    hush_free(r);
    hush_secagg_server_free(s);
    honest_fini(&h);
}
