/*
 * dgauss.c - exact sampling of the discrete Gaussian, the noise of central
 * DP aggregation (DP-FedAvg).
 *
 * Why not a floating-point Gaussian: textbook samplers (Box-Muller, polar,
 * ziggurat) produce doubles whose low bits and gaps depend on the value
 * drawn, so x + noise can reveal x through which doubles are reachable at
 * all (Mironov 2012 for Laplace; Jin et al. 2022, "Are we there yet?
 * Timing and floating-point attacks on differential privacy systems", for
 * Gaussian samplers).  Instead hush works on an integer lattice: values are
 * truncated to a grid of step gamma before they are summed (truncation
 * toward zero never raises a norm, so the L2 sensitivity in grid units
 * stays S / gamma), the noise is an integer drawn from the discrete
 * Gaussian N_Z(0, sigma^2) with sigma = z S / gamma, and only the final
 * lattice point is scaled back by gamma.  The output is a deterministic
 * function of an integer whose distribution is exactly the intended one.
 *
 * The sampler is Canonne, Kamath and Steinke 2020 ("The Discrete Gaussian
 * for Differential Privacy", Algorithms 1-3): a discrete Laplace proposal
 * with scale t = floor(sigma) + 1 and rejection with probability
 * exp(-(|y| - sigma^2/t)^2 / (2 sigma^2)); every Bernoulli(exp(-x)) is
 * built from Bernoulli(n/d) draws on integers (here 128-bit, for sigma up
 * to 2^20), so no step rounds.  The discrete Gaussian with the same sigma
 * satisfies the same concentrated-DP bound as the continuous one (CKS 2020,
 * Thm 4), which the RDP accountant (rdp.c) uses.
 */
#include "privacy_internal.h"

__extension__ typedef unsigned __int128 u128;

/* Uniform in [0, d), d >= 1, by rejection on the bit length of d. */
static u128 uniform128(hush_rng *rng, u128 d)
{
    if (d <= 1) {
        return 0;
    }
    unsigned bits = 0;
    for (u128 x = d - 1; x != 0; x >>= 1) {
        bits++;
    }
    u128 mask = bits >= 128 ? ~(u128)0 : (((u128)1 << bits) - 1);
    for (;;) {
        u128 r = ((u128)hush_rng_u64(rng) << 64) | hush_rng_u64(rng);
        r &= mask;
        if (r < d) {
            return r;
        }
    }
}

/* Bernoulli(n / d), 0 <= n <= d. */
static bool bern(hush_rng *rng, u128 n, u128 d)
{
    return uniform128(rng, d) < n;
}

/* Bernoulli(exp(-n/d)) for n/d in [0, 1] (CKS Algorithm 1, first part). */
static bool bern_exp_le1(hush_rng *rng, u128 n, u128 d)
{
    u128 k = 1;
    while (bern(rng, n, d * k)) {
        k++;
    }
    return (k & 1) != 0;
}

/* Bernoulli(exp(-n/d)) for any n/d >= 0. */
static bool bern_exp(hush_rng *rng, u128 n, u128 d)
{
    while (n > d) {
        if (!bern_exp_le1(rng, 1, 1)) {
            return false;
        }
        n -= d;
    }
    return bern_exp_le1(rng, n, d);
}

/* Discrete Laplace with scale t (CKS Algorithm 2): P(y) ~ exp(-|y| / t). */
static int64_t dlaplace(hush_rng *rng, uint64_t t)
{
    for (;;) {
        uint64_t u = hush_rng_uniform(rng, t);
        if (!bern_exp(rng, u, t)) {
            continue;
        }
        uint64_t v = 0;
        while (bern_exp(rng, 1, 1)) {
            v++;
        }
        uint64_t x = u + t * v;
        bool negative = (hush_rng_u64(rng) & 1) != 0;
        if (negative && x == 0) {
            continue;
        }
        return negative ? -(int64_t)x : (int64_t)x;
    }
}

int64_t hush_discrete_gaussian(hush_rng *rng, uint32_t sigma)
{
    if (sigma == 0) {
        return 0;
    }
    if (sigma > (1u << 20)) {
        sigma = 1u << 20; /* keeps every product within 128 bits */
    }
    uint64_t t = (uint64_t)sigma + 1;
    u128 s2 = (u128)sigma * sigma;
    for (;;) {
        int64_t y = dlaplace(rng, t);
        u128 ay = (u128)(y < 0 ? -(uint64_t)y : (uint64_t)y);
        /* (|y| - s2/t)^2 / (2 s2) = (|y| t - s2)^2 / (2 s2 t^2) */
        u128 a = ay * t, diff = a > s2 ? a - s2 : s2 - a;
        u128 num = diff * diff, den = 2 * s2 * (u128)t * t;
        if (bern_exp(rng, num, den)) {
            return y;
        }
    }
}
