/*
 * ddg.c - the distributed discrete Gaussian (hush_secagg.h): a device's
 * update encoded as integers mod 2^bits with its share of the noise, the
 * collector's decoding of the unmasked sum, and the privacy it gives
 * (Kairouz, Liu, Steinke 2021).
 */
#include <math.h>
#include <string.h>

#include "hush_secagg.h"
#include "secagg_internal.h"

#define WRAP_FAILURE 1e-9 /* per coordinate: the sum leaves the modulus */
#define ROUNDING_TRIES 1000

static uint32_t pow2_at_least(uint32_t d)
{
    uint32_t p = 1;
    while (p < d) {
        p <<= 1;
    }
    return p;
}

/* The rounded vector's norm bound (KLS21, conditional randomized rounding):
 * ||round(y)||^2 <= ||y||^2 + d/4 + sqrt(2 ln(1/beta)) (||y|| + sqrt(d)/2)
 * with probability >= 1 - beta; here ||y|| <= clip / gamma. */
static double rounded_bound(double c_over_gamma, uint32_t d, double beta)
{
    double sd = sqrt((double)d);
    return sqrt(c_over_gamma * c_over_gamma + d / 4.0 +
                sqrt(2.0 * log(1.0 / beta)) * (c_over_gamma + sd / 2.0));
}

int hush_ddg_plan(uint32_t dim, double clip, uint32_t n_min, uint32_t n_max,
                  uint32_t bits, double z, const uint8_t seed[32], hush_ddg *out,
                  hush_err *err)
{
    if (dim < 1 || dim > HUSH_SECAGG_MAX_LENGTH / 2 || !(clip > 0) || n_min < 1 ||
        n_max < n_min || bits < 8 || bits > 32 || !(z > 0) || !isfinite(z)) {
        return hush_err_set(err, HUSH_EINVAL,
                            "ddg: dim in [1, 2^23], clip > 0, 1 <= n_min <= n_max, bits "
                            "in [8, 32], z > 0");
    }
    hush_ddg g = {.dim = dim,
                  .padded = pow2_at_least(dim),
                  .bits = bits,
                  .n_min = n_min,
                  .n_max = n_max,
                  .clip = clip,
                  .beta = exp(-0.5)};
    memcpy(g.seed, seed, sizeof g.seed);
    double d = g.padded;
    /* a coordinate of the sum, in lattice units, must stay below `half`:
     * n_max aligned rotated updates (each at most c/gamma * r), the noise's
     * tail (k sd; the sd is sigma sqrt(n_max), sigma = z delta2 / sqrt(n_min),
     * plus one for sigma's rounding up) and one unit of rounding per device
     * (in `half`).  delta2 grows with c/gamma, so c/gamma is shrunk until
     * the bound holds with the delta2 it implies. */
    double r = sqrt(2.0 * log(2.0 * d * n_max / WRAP_FAILURE) / d);
    double k = sqrt(2.0 * log(2.0 * d / WRAP_FAILURE));
    double spread = sqrt((double)n_max / n_min), half = ldexp(1.0, (int)bits - 1) - n_max;
    double c_over_gamma = half > 0 ? half / (n_max * r + k * z * spread) : 0;
    for (int it = 0; it < 60 && c_over_gamma > 0; it++) {
        double need =
            c_over_gamma * n_max * r +
            k * sqrt((double)n_max) *
                (z * rounded_bound(c_over_gamma, g.padded, g.beta) / sqrt((double)n_min) +
                 1.0);
        if (need <= half) {
            break;
        }
        c_over_gamma *= 0.99 * half / need;
    }
    if (!(c_over_gamma >= 1.0)) {
        return hush_err_set(err, HUSH_EINVAL,
                            "ddg: %u bits cannot hold the sum of %u updates; use more",
                            bits, n_max);
    }
    g.gamma = clip / c_over_gamma;
    g.delta2 = rounded_bound(c_over_gamma, g.padded, g.beta);
    double sigma = ceil(z * g.delta2 / sqrt((double)n_min));
    if (sigma > (double)(1u << 20)) {
        return hush_err_set(err, HUSH_EINVAL,
                            "ddg: the noise needs sigma %.0f lattice units, above the "
                            "sampler's 2^20: fewer bits",
                            sigma);
    }
    g.sigma = (uint32_t)sigma;
    *out = g;
    return 0;
}

/* The round's random signs, from its public seed. */
static int signs(const hush_ddg *g, double *x, hush_err *err)
{
    hush_rng *rng = NULL;
    if (hush_rng_new_seeded(g->seed, &rng) != 0) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < g->padded; i += 64) {
        uint64_t bitsv = hush_rng_u64(rng);
        for (uint32_t j = 0; j < 64 && i + j < g->padded; j++) {
            if ((bitsv >> j) & 1) {
                x[i + j] = -x[i + j];
            }
        }
    }
    hush_rng_free(rng);
    return 0;
}

int hush_ddg_encode(const hush_ddg *g, const float *update, hush_rng *rng, uint32_t *out,
                    hush_err *err)
{
    double *y = hush_calloc(g->padded, sizeof *y);
    int64_t *v = hush_malloc((size_t)g->padded * sizeof *v);
    if (y == NULL || v == NULL) {
        hush_free(y);
        hush_free(v);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    double norm = 0;
    for (uint32_t i = 0; i < g->dim; i++) {
        y[i] = isfinite(update[i]) ? update[i] : 0.0;
        norm += y[i] * y[i];
    }
    norm = sqrt(norm);
    double scale = (norm > g->clip ? g->clip / norm : 1.0) / g->gamma;
    int rc = signs(g, y, err);
    if (rc == 0) {
        hush_hadamard(y, g->padded);
    }
    for (uint32_t i = 0; i < g->padded; i++) {
        y[i] *= scale;
    }
    /* conditional randomized rounding: unbiased per coordinate, redrawn
     * until the norm bound the privacy analysis uses holds */
    int tries = 0;
    for (; rc == 0 && tries < ROUNDING_TRIES; tries++) {
        double sq = 0;
        for (uint32_t i = 0; i < g->padded; i++) {
            double f = floor(y[i]), frac = y[i] - f;
            v[i] = (int64_t)f + (hush_rng_unit(rng) < frac ? 1 : 0);
            sq += (double)v[i] * (double)v[i];
        }
        if (sq <= g->delta2 * g->delta2) {
            break;
        }
    }
    if (rc == 0 && tries == ROUNDING_TRIES) {
        rc = hush_err_set(err, HUSH_EINTERNAL, "ddg: the rounding bound never held");
    }
    uint32_t mask = g->bits == 32 ? UINT32_MAX : (1u << g->bits) - 1;
    for (uint32_t i = 0; rc == 0 && i < g->padded; i++) {
        int64_t noisy = v[i] + hush_discrete_gaussian(rng, g->sigma);
        out[i] = (uint32_t)((uint64_t)noisy & mask);
    }
    hush_free(y);
    hush_free(v);
    return rc;
}

int hush_ddg_decode(const hush_ddg *g, const uint32_t *sum, double *out, hush_err *err)
{
    double *y = hush_malloc((size_t)g->padded * sizeof *y);
    if (y == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    uint64_t mod = (uint64_t)1 << g->bits, half = mod / 2;
    for (uint32_t i = 0; i < g->padded; i++) {
        uint64_t v = sum[i] & (mod - 1);
        double centred = v >= half ? (double)v - (double)mod : (double)v;
        y[i] = centred * g->gamma;
    }
    hush_hadamard(y, g->padded); /* H is its own inverse, then the signs */
    int rc = signs(g, y, err);
    if (rc == 0) {
        memcpy(out, y, (size_t)g->dim * sizeof *out);
    }
    hush_free(y);
    return rc;
}

double hush__ddg_rdp_at(double alpha, double delta2, uint32_t n, double sigma, double d)
{
    if (!(alpha > 1) || !(sigma > 0) || n == 0) {
        return NAN;
    }
    double s2 = sigma * sigma, tau = 0;
    for (uint32_t k = 1; k < n; k++) {
        double term = exp(-2.0 * M_PI * M_PI * s2 * k / (k + 1.0));
        tau += term;
        if (term < 1e-300) {
            break; /* the terms only shrink further */
        }
    }
    tau *= 10.0;
    return alpha * delta2 * delta2 / (2.0 * n * s2) + tau * d;
}

double hush_ddg_rdp(const hush_ddg *g, double alpha)
{
    return hush__ddg_rdp_at(alpha, g->delta2, g->n_min, g->sigma, g->padded);
}

int hush_ddg_epsilon(const hush_ddg *g, uint64_t rounds, double delta, double *epsilon,
                     hush_err *err)
{
    if (!(delta > 0 && delta < 1) || rounds == 0) {
        return hush_err_set(err, HUSH_EINVAL, "ddg: delta in (0, 1), rounds >= 1");
    }
    const double *orders = NULL;
    size_t n = hush_rdp_default_orders(&orders);
    double best = INFINITY;
    for (size_t i = 0; i < n; i++) {
        double a = orders[i];
        double e = (double)rounds * hush_ddg_rdp(g, a) + log1p(-1.0 / a) -
                   (log(delta) + log(a)) / (a - 1);
        best = e < best ? e : best;
    }
    *epsilon = best > 0 ? best : 0;
    return isfinite(best) ? 0 : hush_err_set(err, HUSH_ERANGE, "ddg: no finite epsilon");
}

/* The plan at noise multiplier z and its epsilon over `rounds`. */
static int plan_at(uint32_t dim, double clip, uint32_t n_min, uint32_t n_max,
                   uint32_t bits, uint64_t rounds, double delta, double z,
                   const uint8_t seed[32], hush_ddg *g, double *eps, hush_err *err)
{
    int rc = hush_ddg_plan(dim, clip, n_min, n_max, bits, z, seed, g, err);
    return rc != 0 ? rc : hush_ddg_epsilon(g, rounds, delta, eps, err);
}

int hush_ddg_plan_for_epsilon(uint32_t dim, double clip, uint32_t n_min, uint32_t n_max,
                              uint32_t bits, uint64_t rounds, double delta, double target,
                              const uint8_t seed[32], hush_ddg *out, double *z,
                              hush_err *err)
{
    double eps = INFINITY, lo = 1e-3, hi = 1.0;
    if (!(target > 0 && target <= 1e4)) {
        return hush_err_set(err, HUSH_EINVAL, "ddg: target epsilon in (0, 1e4]");
    }
    int rc = 0;
    while ((rc = plan_at(dim, clip, n_min, n_max, bits, rounds, delta, hi, seed, out,
                         &eps, err)) == 0 &&
           eps > target && hi < 1e4) {
        hi *= 2;
    }
    if (rc != 0 || eps > target) {
        return rc != 0 ? rc
                       : hush_err_set(err, HUSH_ERANGE,
                                      "ddg: no noise multiplier up to 1e4 reaches "
                                      "epsilon %g over %llu participations",
                                      target, (unsigned long long)rounds);
    }
    for (int it = 0; it < 60; it++) { /* the smallest z that meets the target */
        double mid = 0.5 * (lo + hi);
        hush_err e2 = {0};
        if (plan_at(dim, clip, n_min, n_max, bits, rounds, delta, mid, seed, out, &eps,
                    &e2) == 0 &&
            eps > target) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    *z = hi;
    return plan_at(dim, clip, n_min, n_max, bits, rounds, delta, hi, seed, out, &eps,
                   err);
}
