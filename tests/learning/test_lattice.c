/*
 * test_lattice.c - DP updates as lattice integers: the server's sum is
 * bit-identical at shift 0, coarser lattices are unbiased and never leave
 * the clip, the Rice encoding round-trips at close to the entropy, and
 * every malformed stream is refused.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "hush_learning.h"

static hush_rng *seeded(uint64_t s)
{
    hush_rng *r = NULL;
    cr_assert_eq(hush_rng_new_seeded_u64(s, &r), 0);
    return r;
}

/* A standard normal variate (Box-Muller). */
static double normal(hush_rng *rng)
{
    return sqrt(-2 * log(1 - hush_rng_unit(rng))) * cos(2 * M_PI * hush_rng_unit(rng));
}

/* n coordinates of a random update clipped to `clip`. */
static void update(hush_rng *rng, float *u, size_t n, double clip)
{
    for (size_t i = 0; i < n; i++) {
        u[i] = (float)normal(rng);
    }
    (void)hush_clip_l2(u, n, clip);
}

Test(lattice, the_servers_sum_is_bit_identical_at_shift_0)
{
    enum { N = 1000, UPDATES = 50 };
    static float u[UPDATES][N], mean_f[N], mean_l[N];
    static int32_t k[N];
    hush_rng *rng = seeded(1);
    for (int j = 0; j < UPDATES; j++) {
        update(rng, u[j], N, j % 2 ? 2.0 : 0.7); /* at the clip and inside it */
    }
    hush_fedavg_config cfg = {
        .dim = N, .clip = 2.0, .noise_multiplier = 0.9, .expected_clients = 40};
    hush_fedavg *a = NULL, *b = NULL;
    cr_assert_eq(hush_fedavg_new(&cfg, &a, NULL), 0);
    cr_assert_eq(hush_fedavg_new(&cfg, &b, NULL), 0);
    double gamma = hush_fedavg_lattice_step(0.9, 2.0, N);
    cr_assert_gt(gamma, 0);
    for (int j = 0; j < UPDATES; j++) {
        cr_assert_eq(hush_fedavg_add(a, u[j], j % 3 == 0, NULL), 0);
        cr_assert_eq(hush_lattice_quantize(u[j], N, 2.0, gamma, 0, NULL, k, NULL), 0);
        cr_assert_eq(hush_fedavg_add_lattice(b, k, 0, j % 3 == 0, NULL), 0);
    }
    hush_rng *na = seeded(9), *nb = seeded(9);
    double sa = 0, sb = 0;
    cr_assert_eq(hush_fedavg_finish(a, na, mean_f, &sa, NULL), 0);
    cr_assert_eq(hush_fedavg_finish(b, nb, mean_l, &sb, NULL), 0);
    cr_assert_eq(memcmp(mean_f, mean_l, sizeof mean_f), 0, "the same sum, bit for bit");
    cr_assert_eq(sa, sb);
    hush_fedavg_free(a);
    hush_fedavg_free(b);
    hush_rng_free(na);
    hush_rng_free(nb);
    hush_rng_free(rng);
}

/* At shift s every draw stays within the clip, and the mean of many draws
 * is the (margin-clipped) update: each coordinate's draw has variance at
 * most step^2 / 4, so the mean of T draws is within 6 step / (2 sqrt T). */
Test(lattice, coarser_lattices_are_unbiased_and_stay_within_the_clip)
{
    enum { N = 64, T = 4000 };
    static float u[N];
    static int32_t k[N];
    static double sum[N];
    hush_rng *rng = seeded(2);
    update(rng, u, N, 1.0); /* at the clip: the margin clip applies */
    double gamma = hush_fedavg_lattice_step(1.0, 1.0, N), clip = 1.0;
    for (uint32_t s = 1; s <= 6; s += 5) {
        double step = gamma * (1u << s);
        double margin = clip - step * sqrt((double)N);
        memset(sum, 0, sizeof sum);
        for (int t = 0; t < T; t++) {
            cr_assert_eq(hush_lattice_quantize(u, N, clip, gamma, s, rng, k, NULL), 0);
            double norm2 = 0;
            for (size_t i = 0; i < N; i++) {
                norm2 += (k[i] * step) * (k[i] * step);
                sum[i] += k[i] * step;
            }
            cr_assert_leq(sqrt(norm2), clip, "a draw left the clip");
        }
        double scale = margin / hush_l2_norm(u, N);
        for (size_t i = 0; i < N; i++) {
            cr_assert(fabs(sum[i] / T - u[i] * scale) < 6 * step / (2 * sqrt(T)),
                      "shift %u coordinate %zu: %g vs %g", s, i, sum[i] / T,
                      u[i] * scale);
        }
    }
    /* a shift too coarse for the clip is refused */
    hush_err err = {0};
    cr_assert_eq(hush_lattice_quantize(u, N, clip, gamma, 16, rng, k, &err), HUSH_ERANGE);
    hush_rng_free(rng);
}

/* Rice codes of a discretized Gaussian of std sigma: within 0.6 bit of
 * its entropy log2(sigma sqrt(2 pi e)) per integer, plus the header. */
Test(lattice, rice_codes_round_trip_near_the_entropy)
{
    enum { N = 20000 };
    static int32_t k[N], back[N];
    hush_rng *rng = seeded(3);
    static const double sigmas[] = {3, 100, 5000};
    for (size_t j = 0; j < 3; j++) {
        for (size_t i = 0; i < N; i++) {
            k[i] = (int32_t)lround(sigmas[j] * normal(rng));
        }
        uint8_t *p = NULL;
        size_t len = 0;
        cr_assert_eq(hush_lattice_pack(k, N, &p, &len, NULL), 0);
        double bits = (double)(len - 6) * 8 / N;
        double h = log2(sigmas[j] * sqrt(2 * M_PI * M_E));
        cr_assert_leq(bits, h + 0.6, "sigma %g: %.3f bits vs entropy %.3f", sigmas[j],
                      bits, h);
        cr_assert_eq(hush_lattice_unpack(p, len, N, back, NULL), 0);
        cr_assert_eq(memcmp(k, back, sizeof k), 0);
        hush_free(p);
    }
    /* the extremes and escapes */
    int32_t edge[] = {0, INT32_MIN, INT32_MAX, -1, 1, 0, 0, 0, 0, 0, 0, 0, 7};
    size_t n = sizeof edge / sizeof edge[0];
    uint8_t *p = NULL;
    size_t len = 0;
    cr_assert_eq(hush_lattice_pack(edge, n, &p, &len, NULL), 0);
    int32_t out[sizeof edge / sizeof edge[0]];
    cr_assert_eq(hush_lattice_unpack(p, len, n, out, NULL), 0);
    cr_assert_eq(memcmp(edge, out, sizeof edge), 0);
    hush_free(p);
    /* nothing */
    cr_assert_eq(hush_lattice_pack(edge, 0, &p, &len, NULL), 0);
    cr_assert_eq(len, 6);
    cr_assert_eq(hush_lattice_unpack(p, len, 0, out, NULL), 0);
    hush_free(p);
    hush_rng_free(rng);
}

Test(lattice, malformed_streams_are_refused)
{
    int32_t k[5] = {3, -2, 40, 0, 1}, out[5];
    uint8_t *p = NULL;
    size_t len = 0;
    cr_assert_eq(hush_lattice_pack(k, 5, &p, &len, NULL), 0);
    uint8_t buf[64];
    cr_assert_lt(len + 1, sizeof buf);
    hush_err err = {0};
    /* another count, version, Rice parameter */
    cr_assert_eq(hush_lattice_unpack(p, len, 4, out, &err), HUSH_EINVAL);
    memcpy(buf, p, len);
    buf[0] = 2;
    cr_assert_eq(hush_lattice_unpack(buf, len, 5, out, NULL), HUSH_EINVAL);
    memcpy(buf, p, len);
    buf[1] = 32;
    cr_assert_eq(hush_lattice_unpack(buf, len, 5, out, NULL), HUSH_EINVAL);
    /* truncated, and a trailing byte */
    cr_assert_eq(hush_lattice_unpack(p, len - 1, 5, out, NULL), HUSH_EINVAL);
    memcpy(buf, p, len);
    buf[len] = 0;
    hush_err_clear(&err);
    cr_assert_eq(hush_lattice_unpack(buf, len + 1, 5, out, &err), HUSH_EINVAL);
    cr_assert(strstr(err.msg, "trailing") != NULL, "%s", err.msg);
    /* a set padding bit (if the last byte has padding) */
    memcpy(buf, p, len);
    buf[len - 1] |= 0x80;
    if (memcmp(buf, p, len) != 0) {
        cr_assert_eq(hush_lattice_unpack(buf, len, 5, out, NULL), HUSH_EINVAL);
    }
    /* an escape holding a value a short code would have held: version,
     * r = 0, count 1, 31 ones, then 32 bits of 5 */
    uint8_t esc[6 + 8] = {1, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0};
    esc[6 + 3] = 0x7f | (uint8_t)((5u & 1u) << 7); /* bit 31: the first of 5's bits */
    esc[6 + 4] = (uint8_t)(5u >> 1);
    hush_err_clear(&err);
    cr_assert_eq(hush_lattice_unpack(esc, sizeof esc, 1, out, &err), HUSH_EINVAL);
    cr_assert(strstr(err.msg, "escape a value") != NULL, "%s", err.msg);
    /* the same escape of a value that needs it is read */
    esc[1] = 0;        /* r = 0: 5 >> 0 = 5 < 31 still; use r = 0 and z = 40 */
    esc[6 + 3] = 0x7f; /* bit 31: 40's lowest bit, 0 */
    esc[6 + 4] = (uint8_t)(40u >> 1);
    cr_assert_eq(hush_lattice_unpack(esc, sizeof esc, 1, out, NULL), 0);
    cr_assert_eq(out[0], 20); /* zigzag 40 */
    hush_free(p);
}

Test(lattice, the_aggregator_refuses_what_breaks_its_sensitivity)
{
    enum { N = 16 };
    hush_fedavg_config cfg = {
        .dim = N, .clip = 1.0, .noise_multiplier = 1.0, .expected_clients = 4};
    hush_fedavg *a = NULL;
    cr_assert_eq(hush_fedavg_new(&cfg, &a, NULL), 0);
    double gamma = hush_fedavg_lattice_step(1.0, 1.0, N);
    int32_t k[N] = {0};
    k[0] = (int32_t)ceil(1.0 / gamma) + 1; /* one coordinate past the clip */
    hush_err err = {0};
    cr_assert_eq(hush_fedavg_add_lattice(a, k, 0, true, &err), HUSH_ERANGE);
    cr_assert(strstr(err.msg, "exceeds the clip") != NULL, "%s", err.msg);
    k[0] = (int32_t)floor(1.0 / gamma / 2); /* inside at shift 0, outside at 1 << 2 */
    cr_assert_eq(hush_fedavg_add_lattice(a, k, 2, true, NULL), HUSH_ERANGE);
    cr_assert_eq(hush_fedavg_add_lattice(a, k, 17, true, NULL), HUSH_ERANGE);
    cr_assert_eq(hush_fedavg_count(a), 0, "nothing refused was added");
    cr_assert_eq(hush_fedavg_add_lattice(a, k, 0, true, NULL), 0);
    cr_assert_eq(hush_fedavg_count(a), 1);
    hush_fedavg_free(a);
    /* no DP, no lattice */
    cfg.noise_multiplier = 0;
    cr_assert_eq(hush_fedavg_new(&cfg, &a, NULL), 0);
    cr_assert_eq(hush_fedavg_add_lattice(a, k, 0, true, NULL), HUSH_EINVAL);
    cr_assert_eq(hush_fedavg_lattice_step(0, 1.0, N), 0);
    hush_fedavg_free(a);
}
