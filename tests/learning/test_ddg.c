/*
 * test_ddg.c - the distributed discrete Gaussian: its privacy bound
 * against the exact Rényi divergence of sums of discrete Gaussians, its
 * accounting against the Gaussian mechanism's, and encode / sum / decode
 * against the clipped sum with the noise the plan promises.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hush_secagg.h"
#include "secagg_internal.h"

/* The exact D_alpha(S || S + delta), S a sum of n N_Z(0, s^2), by
 * convolving the pmf (log-sum-exp over the support). */
static double exact_rdp(uint32_t n, double s, int delta, double alpha)
{
    int L = (int)(12 * s + 6), w = 2 * L + 1;
    double *p = calloc((size_t)w, sizeof *p), z = 0;
    for (int x = -L; x <= L; x++) {
        z += p[x + L] = exp(-(double)x * x / (2 * s * s));
    }
    for (int i = 0; i < w; i++) {
        p[i] /= z;
    }
    int len = w;
    double *P = malloc((size_t)len * sizeof *P);
    memcpy(P, p, (size_t)w * sizeof *P);
    for (uint32_t r = 1; r < n; r++) {
        double *Q = calloc((size_t)(len + w - 1), sizeof *Q);
        for (int i = 0; i < len; i++) {
            for (int j = 0; j < w; j++) {
                Q[i + j] += P[i] * p[j];
            }
        }
        free(P);
        P = Q;
        len += w - 1;
    }
    double m = -INFINITY, acc = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = delta; i < len; i++) {
            if (P[i] < 1e-300 || P[i - delta] < 1e-300) {
                continue;
            }
            double t = alpha * log(P[i]) + (1 - alpha) * log(P[i - delta]);
            if (pass == 0) {
                m = t > m ? t : m;
            } else {
                acc += exp(t - m);
            }
        }
    }
    free(p);
    free(P);
    cr_assert_gt(acc, 0, "the support overlaps");
    return (m + log(acc)) / (alpha - 1);
}

Test(ddg, the_bound_holds_for_exact_sums_and_needs_its_tau_term)
{
    const double sigmas[] = {0.4, 0.5, 0.7, 1.0, 2.0};
    const int deltas[] = {1, 2, 3};
    const double alphas[] = {1.5, 2, 4, 8};
    int tau_needed = 0;
    for (uint32_t n = 2; n <= 5; n++) {
        for (size_t a = 0; a < 5; a++) {
            for (size_t b = 0; b < 3; b++) {
                for (size_t c = 0; c < 4; c++) {
                    double s = sigmas[a], al = alphas[c];
                    int d = deltas[b];
                    double exact = exact_rdp(n, s, d, al);
                    double bound = hush__ddg_rdp_at(al, d, n, s, 1);
                    double gauss = al * d * d / (2.0 * n * s * s);
                    cr_assert_leq(exact, bound + 1e-9,
                                  "n %u sigma %g delta %d alpha %g: exact %g > bound %g",
                                  n, s, d, al, exact, bound);
                    tau_needed += exact > gauss + 1e-6;
                }
            }
        }
    }
    cr_assert_gt(tau_needed, 5,
                 "a sum of discrete Gaussians is not one: the Gaussian term alone is "
                 "exceeded (%d cases)",
                 tau_needed);
}

Test(ddg, with_a_negligible_tau_the_accounting_is_the_gaussian_mechanisms)
{
    uint8_t seed[32] = {1};
    hush_ddg g;
    hush_err err = {0};
    cr_assert_eq(hush_ddg_plan(10000, 1.0, 100, 150, 20, 1.2, seed, &g, &err), 0, "%s",
                 err.msg);
    cr_log_info("gamma %g delta2 %g sigma %u padded %u", g.gamma, g.delta2, g.sigma,
                g.padded);
    cr_assert_eq(g.padded, 16384);
    /* sigma >= z delta2 / sqrt(n_min): the total noise is at least z times
     * the sensitivity */
    cr_assert_geq(g.sigma * sqrt(100.0), 1.2 * g.delta2);
    double eps = 0, gauss = 0;
    cr_assert_eq(hush_ddg_epsilon(&g, 10, 1e-5, &eps, &err), 0);
    /* the plain Gaussian mechanism (sampling rate 1) at the realized noise */
    double z_real = g.sigma * sqrt(100.0) / g.delta2;
    cr_assert_eq(hush_rdp_epsilon(1.0, z_real, 10, 1e-5, &gauss, NULL, &err), 0);
    cr_assert_float_eq(eps, gauss, 1e-6 * gauss, "ddg %g vs Gaussian %g", eps, gauss);
    double eps20 = 0;
    cr_assert_eq(hush_ddg_epsilon(&g, 20, 1e-5, &eps20, &err), 0);
    cr_assert_gt(eps20, eps);
}

/* n devices encode updates; their sum mod 2^bits decodes to the clipped
 * sum plus noise of the planned variance. */
Test(ddg, decoding_the_sum_gives_the_clipped_sum_and_the_planned_noise)
{
    enum { N = 40, D = 200, REPS = 20 };
    uint8_t seed[32];
    memset(seed, 7, sizeof seed);
    hush_ddg g;
    hush_err err = {0};
    cr_assert_eq(hush_ddg_plan(D, 1.0, 30, N, 16, 1.0, seed, &g, &err), 0, "%s", err.msg);
    hush_rng *rng = NULL;
    cr_assert_eq(hush_rng_new_seeded_u64(42, &rng), 0);
    float upd[N][D];
    double truth[D] = {0};
    for (int i = 0; i < N; i++) {
        double norm = 0;
        for (int j = 0; j < D; j++) {
            upd[i][j] = (float)(hush_rng_unit(rng) - 0.5);
            norm += upd[i][j] * upd[i][j];
        }
        norm = sqrt(norm);
        double scale = (i % 3 == 0 ? 3.0 : 0.5) / norm; /* some above the clip */
        double clipped = 0;
        for (int j = 0; j < D; j++) {
            upd[i][j] = (float)(upd[i][j] * scale);
            clipped += (double)upd[i][j] * upd[i][j];
        }
        double c = sqrt(clipped) > 1.0 ? 1.0 / sqrt(clipped) : 1.0;
        for (int j = 0; j < D; j++) {
            truth[j] += upd[i][j] * c;
        }
    }
    double sum_e = 0, sum_e2 = 0;
    uint32_t *enc = malloc(g.padded * sizeof *enc), *tot = malloc(g.padded * sizeof *tot);
    double out[D];
    for (int r = 0; r < REPS; r++) {
        memset(tot, 0, g.padded * sizeof *tot);
        for (int i = 0; i < N; i++) {
            cr_assert_eq(hush_ddg_encode(&g, upd[i], rng, enc, &err), 0, "%s", err.msg);
            for (uint32_t j = 0; j < g.padded; j++) {
                tot[j] += enc[j];
            }
        }
        cr_assert_eq(hush_ddg_decode(&g, tot, out, &err), 0);
        for (int j = 0; j < D; j++) {
            double e = out[j] - truth[j];
            sum_e += e;
            sum_e2 += e * e;
        }
    }
    double m = (double)REPS * D, mean = sum_e / m, var = sum_e2 / m - mean * mean;
    /* per coordinate: N devices' noise sigma^2 and rounding (at most 1/4)
     * lattice units, times gamma^2 */
    double lo = N * (double)g.sigma * g.sigma * g.gamma * g.gamma;
    double hi = N * ((double)g.sigma * g.sigma + 0.25) * g.gamma * g.gamma;
    double slack = 5 * sqrt(2.0 / m); /* the sample variance's relative sd */
    cr_log_info("var %g expected [%g, %g] mean %g", var, lo, hi, mean);
    cr_assert(var > lo * (1 - slack) && var < hi * (1 + slack), "variance %g vs [%g, %g]",
              var, lo, hi);
    cr_assert_lt(fabs(mean), 5 * sqrt(hi / m), "unbiased: mean error %g", mean);
    free(enc);
    free(tot);
    hush_rng_free(rng);
}

Test(ddg, aligned_updates_at_the_clip_do_not_wrap_around)
{
    enum { N = 500, D = 64 };
    uint8_t seed[32] = {3};
    hush_ddg g;
    hush_err err = {0};
    cr_assert_eq(hush_ddg_plan(D, 2.0, 300, N, 16, 0.8, seed, &g, &err), 0, "%s",
                 err.msg);
    hush_rng *rng = NULL;
    cr_assert_eq(hush_rng_new_seeded_u64(9, &rng), 0);
    float u[D] = {0};
    u[5] = 2.0f; /* every device: the whole norm on one coordinate */
    uint32_t *enc = malloc(g.padded * sizeof *enc), *tot = calloc(g.padded, sizeof *tot);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(hush_ddg_encode(&g, u, rng, enc, &err), 0);
        for (uint32_t j = 0; j < g.padded; j++) {
            tot[j] += enc[j];
        }
    }
    double out[D];
    cr_assert_eq(hush_ddg_decode(&g, tot, out, &err), 0);
    double noise_sd = sqrt((double)N) * g.sigma * g.gamma;
    cr_assert_lt(fabs(out[5] - 2.0 * N), 6 * noise_sd + N * g.gamma, "%g vs %d", out[5],
                 2 * N);
    for (int j = 0; j < D; j++) {
        if (j != 5) {
            cr_assert_lt(fabs(out[j]), 6 * noise_sd + N * g.gamma);
        }
    }
    cr_assert_eq(hush_ddg_plan(D, 2.0, 300, 40000, 16, 0.8, seed, &g, &err), HUSH_EINVAL,
                 "16 bits cannot hold 40,000 updates");
    free(enc);
    free(tot);
    hush_rng_free(rng);
}
