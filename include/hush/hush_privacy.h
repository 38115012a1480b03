/*
 * hush_privacy.h - local differential privacy (LDP) frequency oracles and the
 * randomness they draw from.
 *
 * A frequency oracle has two halves.  The device half encodes one value from
 * a domain {0, ..., d-1} into a randomized report that is epsilon-LDP: for any
 * two inputs v, v' and any report r, P[r | v] <= e^epsilon * P[r | v'].  The
 * collector half keeps an aggregate state that reports are added to; states
 * merge (all states are integer sums), serialize to a versioned little-endian
 * format, and yield unbiased count estimates with standard errors.  Both
 * halves of a mechanism live in one source file so they cannot drift apart.
 *
 * Mechanisms (n reports, c = true count of the item, e = e^epsilon):
 *
 *   GRR   generalized randomized response (k-RR).  Report: the value itself,
 *         kept with p = e/(e+d-1), else uniform over the other d-1 values.
 *   OUE   optimized unary encoding.  Report: d bits; the value's bit is 1 with
 *         p = 1/2, every other bit 1 with q = 1/(e+1).
 *   OLH   optimized local hashing.  Report: a fresh 32-bit xxHash seed s and
 *         GRR over [g] of h_s(v), g = round(e) + 1; q = 1/g.
 *   HR    Hadamard response, one bit: a uniform column l of the K x K
 *         Hadamard matrix (K = next power of two >= d) and the sign H[v][l],
 *         kept with p = e/(e+1).  Estimation: one fast Walsh-Hadamard
 *         transform, O(n + K log K).
 *   CMS   Apple's Count Mean Sketch: a random row j of k hash rows and an
 *         m-bit +/-1 vector with +1 at h_j(v), each bit flipped with
 *         probability 1/(1+e^(epsilon/2)).
 *   HCMS  Apple's Hadamard Count Mean Sketch: row j, column l (m a power of
 *         two) and one bit, the l-th Hadamard coefficient of e_{h_j(v)},
 *         flipped with probability 1/(1+e).
 *
 * Estimators and variances (Wang, Blocki, Li, Jha, "Locally Differentially
 * Private Protocols for Frequency Estimation", USENIX Security 2017, eq. 2 and
 * sections 4-5; Apple Differential Privacy Team, "Learning with Privacy at
 * Scale", 2017, for CMS/HCMS):
 *
 *   GRR, OUE, OLH ("pure" protocols with support probabilities p and q):
 *     c^ = (C - n q) / (p - q), C = reports supporting the item,
 *     Var c^ = n q(1-q)/(p-q)^2 + c (1-p-q)/(p-q).
 *   HR:  c^ = c_e * (H S)[v], S[l] = sum of the signs reported for column l,
 *     c_e = (e+1)/(e-1);  Var c^ = n c_e^2 - c.
 *   CMS: c^ = m/(m-1) * ((1/k) sum_j M[j, h_j(v)] - n/m), with
 *     Var c^ = (m/(m-1))^2 n e^(eps/2)/(e^(eps/2)-1)^2 + C,
 *     C = 1/(m-1) * sum_{v' != v} [c' + c'(c'-1)/k]   (hash collisions).
 *   HCMS: same estimator after inverting the Hadamard transform per row;
 *     Var c^ = (m/(m-1))^2 (n c_e^2 - c) - (n-c)/(m-1)^2
 *              + 1/((m-1)k) * sum_{v' != v} c'(c'-1).
 *   The sketch variances average over the random hash family; they are
 *   derived in docs/privacy.md (Pan 2024, arXiv 2406.03785, reports errors in
 *   the expressions of Apple's paper) and checked by simulation in the tests
 *   and by bench/ldp.
 *
 * Randomness: every draw goes through a hush_rng, backed by libsodium's
 * randombytes_buf in production and by a seeded ChaCha20 stream (the stream
 * of randombytes_buf_deterministic) in tests and simulations.  Bernoulli(p)
 * draws compare a 64-bit uniform against a 64-bit threshold; every threshold
 * is rounded toward more privacy, so floating-point error can never push a
 * probability ratio above e^epsilon.
 *
 * Ownership: functions named _new return objects the caller frees with the
 * matching _free; _free(NULL) does nothing.  Thread safety: a hush_ldp is
 * immutable after hush_ldp_new and may be shared by any number of threads; a
 * hush_rng or hush_ldp_agg must be used by one thread at a time.
 */
#ifndef HUSH_PRIVACY_H
#define HUSH_PRIVACY_H

#include "hush_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Randomness                                                               */
/* ------------------------------------------------------------------------ */

typedef struct hush_rng hush_rng;

/** Size of a seed for hush_rng_new_seeded. */
#define HUSH_RNG_SEED_BYTES 32

/**
 * Creates a generator that draws from the operating system through
 * libsodium's randombytes_buf (buffered).  This is the only generator
 * production code may use.  Do not share one across fork().
 * Returns 0, HUSH_ENOMEM, or HUSH_EIO if libsodium cannot be initialised.
 * On success *out is new (hush_rng_free).
 */
HUSH_API int hush_rng_new_system(hush_rng **out) HUSH_WARN_UNUSED;

/**
 * Creates a deterministic generator: the ChaCha20 stream keyed by `seed`,
 * whose first bytes equal randombytes_buf_deterministic(seed).  For tests and
 * simulations only.  Returns 0 or HUSH_ENOMEM; *out is new.
 */
HUSH_API int hush_rng_new_seeded(const uint8_t seed[HUSH_RNG_SEED_BYTES],
                                 hush_rng **out) HUSH_WARN_UNUSED;

/** Same, with the seed given as a number (little-endian in the first 8 bytes). */
HUSH_API int hush_rng_new_seeded_u64(uint64_t seed, hush_rng **out) HUSH_WARN_UNUSED;

/** Frees a generator and wipes its buffered state.  NULL does nothing. */
HUSH_API void hush_rng_free(hush_rng *rng);

/** Fills `buf` with `len` uniform bytes. */
HUSH_API void hush_rng_bytes(hush_rng *rng, void *buf, size_t len);

/** A uniform 64-bit integer. */
HUSH_API uint64_t hush_rng_u64(hush_rng *rng);

/** A uniform integer in [0, bound), bound >= 1, without modulo bias
 * (Lemire's multiply-and-reject method). */
HUSH_API uint64_t hush_rng_uniform(hush_rng *rng, uint64_t bound);

/** A uniform double in [0, 1) with 53 random bits. */
HUSH_API double hush_rng_unit(hush_rng *rng);

/** True with probability exactly threshold / 2^64. */
HUSH_API bool hush_rng_bernoulli(hush_rng *rng, uint64_t threshold);

/**
 * Writes `nbits` independent Bernoulli(threshold / 2^64) draws into `bits`
 * (bit i is bits[i / 8] >> (i % 8) & 1; unused high bits of the last byte are
 * cleared).  Equivalent to nbits calls of hush_rng_bernoulli, but compares one
 * random byte at a time and draws more bytes only on a tie, so it needs about
 * one byte of randomness per bit.
 */
HUSH_API void hush_rng_bernoulli_bits(hush_rng *rng, uint64_t threshold, uint8_t *bits,
                                      size_t nbits);

/**
 * The 64-bit threshold for probability p in [0, 1).  `round_up` selects the
 * rounding direction; mechanisms round toward more privacy.  The result is
 * additionally moved by a relative 2^-40 in that direction so that the
 * rounding error of exp() cannot cross the bound.
 */
HUSH_API uint64_t hush_prob_threshold(double p, bool round_up);

/** The probability a threshold stands for: threshold / 2^64. */
HUSH_API double hush_threshold_prob(uint64_t threshold);

/** The standard normal quantile Phi^-1(p), p in (0, 1); NaN outside. */
HUSH_API double hush_normal_quantile(double p);

/* ------------------------------------------------------------------------ */
/* Frequency oracles                                                        */
/* ------------------------------------------------------------------------ */

typedef enum hush_ldp_mechanism {
    HUSH_LDP_AUTO = 0, /* only for hush_ldp_recommend / configuration */
    HUSH_LDP_GRR = 1,
    HUSH_LDP_OUE = 2,
    HUSH_LDP_OLH = 3,
    HUSH_LDP_HR = 4,
    HUSH_LDP_CMS = 5,
    HUSH_LDP_HCMS = 6,
} hush_ldp_mechanism;

#define HUSH_LDP_MECHANISM_COUNT 6

/* Limits every mechanism enforces. */
#define HUSH_LDP_EPSILON_MAX 30.0 /* larger values are not privacy */
/* Smaller values are refused too: at epsilon 1e-3 one report already
 * carries a 1/(p - q) > 1000-fold weight, and 0, subnormal or NaN epsilons
 * (which used to pass as "> 0") made estimates of 1e11 from one report. */
#define HUSH_LDP_EPSILON_MIN 1e-3
#define HUSH_LDP_DOMAIN_MAX (1u << 26)       /* values are uint32 indices < d */
#define HUSH_LDP_OUE_DOMAIN_MAX (1u << 20)   /* OUE reports are d bits */
#define HUSH_LDP_SKETCH_CELLS_MAX (1u << 27) /* k * m */
#define HUSH_LDP_SKETCH_ROWS_DEFAULT 256u
#define HUSH_LDP_SKETCH_COLS_DEFAULT 1024u
/* hush_ldp_recommend never picks OLH above this domain size: OLH support
 * counting costs d hash evaluations per report. */
#define HUSH_LDP_OLH_AUTO_DOMAIN_MAX 4096u

/** Lower-case name of a mechanism ("grr", ...; "auto"), or NULL if unknown. */
HUSH_API const char *hush_ldp_mechanism_name(hush_ldp_mechanism mech);

/** Parses a mechanism name ("auto", "grr", "oue", "olh", "hr", "cms", "hcms").
 * Returns 0 or HUSH_EINVAL with a message. */
HUSH_API int hush_ldp_mechanism_parse(const char *name, hush_ldp_mechanism *out,
                                      hush_err *err) HUSH_WARN_UNUSED;

/** What a mechanism instance is built from.  Zero-initialise, then set. */
typedef struct hush_ldp_params {
    hush_ldp_mechanism mechanism;
    uint32_t domain; /* d >= 2: values are 0 .. d-1 */
    double epsilon;  /* per report, in [HUSH_LDP_EPSILON_MIN, HUSH_LDP_EPSILON_MAX] */
    uint32_t olh_g;  /* OLH hash range; 0 = round(e^epsilon) + 1 */
    uint32_t sketch_rows; /* CMS/HCMS k; 0 = HUSH_LDP_SKETCH_ROWS_DEFAULT */
    uint32_t sketch_cols; /* CMS/HCMS m (HCMS: power of two); 0 = default */
    uint64_t hash_seed;   /* CMS/HCMS hash family; published with the campaign */
} hush_ldp_params;

/** An immutable, validated mechanism instance. */
typedef struct hush_ldp hush_ldp;

/**
 * Validates `params`, fills in defaults, and derives the mechanism's
 * probabilities and thresholds.  Returns 0, HUSH_EINVAL/HUSH_ERANGE (message
 * names the bad parameter and value) or HUSH_ENOMEM.  *out is new
 * (hush_ldp_free).
 */
HUSH_API int hush_ldp_new(const hush_ldp_params *params, hush_ldp **out,
                          hush_err *err) HUSH_WARN_UNUSED;

/** Frees an instance.  NULL does nothing. */
HUSH_API void hush_ldp_free(hush_ldp *mech);

/** The parameters with every default filled in (borrowed, lives as long as
 * the instance). */
HUSH_API const hush_ldp_params *hush_ldp_get_params(const hush_ldp *mech);

/** Bytes of one encoded report (fixed per instance; the binary encoding is
 * documented in docs/privacy.md). */
HUSH_API size_t hush_ldp_report_size(const hush_ldp *mech);

/** Information bits of one report (what the wire must carry at least). */
HUSH_API unsigned hush_ldp_report_bits(const hush_ldp *mech);

/**
 * Device half: encodes `value` (< d) into one randomized report of
 * hush_ldp_report_size bytes, written to `report` (capacity `report_cap`).
 * Returns 0, HUSH_ERANGE if value >= d, or HUSH_EINVAL if the buffer is too
 * small.  Thread-safe for distinct rngs.
 */
HUSH_API int hush_ldp_encode(const hush_ldp *mech, uint32_t value, hush_rng *rng,
                             uint8_t *report, size_t report_cap,
                             hush_err *err) HUSH_WARN_UNUSED;

/**
 * Sketches only (CMS, HCMS): encodes an arbitrary item identified by a 64-bit
 * key (hush_ldp_item_key of its bytes), so that devices may report values
 * outside any candidate list.  encode(v) == encode_key(v) for v < d.
 * Returns HUSH_EUNSUPPORTED for the other mechanisms.
 */
HUSH_API int hush_ldp_encode_key(const hush_ldp *mech, uint64_t key, hush_rng *rng,
                                 uint8_t *report, size_t report_cap,
                                 hush_err *err) HUSH_WARN_UNUSED;

/** The sketch key of an item given by its bytes (XXH3 64-bit, seed 0). */
HUSH_API uint64_t hush_ldp_item_key(const void *bytes, size_t len);

/**
 * Checks that one report is well formed and in range for the instance.
 * Returns 0 or HUSH_ERANGE/HUSH_EINVAL with a message saying what is wrong.
 */
HUSH_API int hush_ldp_check_report(const hush_ldp *mech, const uint8_t *report,
                                   size_t report_len, hush_err *err) HUSH_WARN_UNUSED;

/**
 * Var of the count estimate for an item whose true count is `count` among `n`
 * reports (the formulas above).  `others_sum_sq` = sum over the other items
 * of their true count squared; only the sketches use it (pass 0 otherwise).
 */
HUSH_API double hush_ldp_variance(const hush_ldp *mech, double n, double count,
                                  double others_sum_sq);

/* ---- the collector half: aggregate states ---- */

typedef struct hush_ldp_agg hush_ldp_agg;

/** One item's estimate. */
typedef struct hush_ldp_estimate {
    double count;     /* unbiased estimate of how many reports hold the item
                         (sketches: unbiased on average over hash families) */
    double std_error; /* sqrt of the variance formula, true count plugged in
                         as the estimate clamped to [0, n] */
    double ci_low;    /* 95% confidence interval.  GRR/OUE/OLH/HR: exact
                         (Clopper-Pearson on the item's support count,
                         mapped to the count) while either side has at most
                         2,000 supports, else count -/+ 1.96 std_error;
                         intersected with [0, n].  Sketches: count -/+ 1.96
                         std_error. */
    double ci_high;
    double frequency; /* count / n (0 when n = 0) */
    bool significant; /* default (z <= 0), GRR/OUE/OLH/HR: the support count
                         C has P[Bin(n, q) >= C] <= 0.05 / d, so the chance
                         that any absent item is flagged is at most 5%;
                         sketches: always false (no family-wise claim: see
                         hush_ldp_has_significance).  z > 0: count >
                         z sigma0, a per-item test with no family-wise claim */
} hush_ldp_estimate;

/**
 * True if the mechanism's estimates carry the family-wise significance
 * flag (GRR, OUE, OLH, HR: their null is exactly binomial).  The sketches
 * (CMS, HCMS) do not: with one published hash seed, items that collide with
 * heavy hitters are inflated in every round, and the collector does not
 * know the counts needed to bound that, so no family-wise claim is made.
 */
HUSH_API bool hush_ldp_has_significance(const hush_ldp *mech);

/** Creates an empty state for `mech` (copied; the instance may be freed
 * afterwards).  Returns 0 or HUSH_ENOMEM; *out is new (hush_ldp_agg_free). */
HUSH_API int hush_ldp_agg_new(const hush_ldp *mech, hush_ldp_agg **out,
                              hush_err *err) HUSH_WARN_UNUSED;

/** Frees a state.  NULL does nothing. */
HUSH_API void hush_ldp_agg_free(hush_ldp_agg *agg);

/** The state's mechanism instance (borrowed, lives as long as the state). */
HUSH_API const hush_ldp *hush_ldp_agg_mechanism(const hush_ldp_agg *agg);

/** How many reports the state holds. */
HUSH_API uint64_t hush_ldp_agg_count(const hush_ldp_agg *agg);

/**
 * Adds `n_reports` reports stored back to back (n_reports *
 * hush_ldp_report_size bytes in `reports`, `len` bytes in all).  All or
 * nothing: every report is checked first; if any is malformed the state is
 * unchanged, *bad_index (if not NULL) is the first bad report's index, and
 * HUSH_ERANGE/HUSH_EINVAL is returned with a message.  OLH counts each
 * report's support here (d hash evaluations per report), so its state stays a
 * d-vector of sums.
 */
HUSH_API int hush_ldp_agg_add(hush_ldp_agg *agg, const uint8_t *reports, size_t len,
                              size_t *bad_index, hush_err *err) HUSH_WARN_UNUSED;

/** Adds another state of the same parameters into `agg` (HUSH_EMISMATCH
 * otherwise; `agg` unchanged on any error). */
HUSH_API int hush_ldp_agg_merge(hush_ldp_agg *agg, const hush_ldp_agg *other,
                                hush_err *err) HUSH_WARN_UNUSED;

/** Resets the state to empty. */
HUSH_API void hush_ldp_agg_reset(hush_ldp_agg *agg);

/** True if both states have the same parameters and the same sums. */
HUSH_API bool hush_ldp_agg_equal(const hush_ldp_agg *a, const hush_ldp_agg *b);

/**
 * Serializes the state (magic, version, parameters, sums, XXH3 checksum; all
 * little-endian).  *out is new (hush_free), *out_len its length.
 * Returns 0, HUSH_ENOMEM or HUSH_EOVERFLOW.
 */
HUSH_API int hush_ldp_agg_serialize(const hush_ldp_agg *agg, uint8_t **out,
                                    size_t *out_len, hush_err *err) HUSH_WARN_UNUSED;

/**
 * Parses a serialized state.  If `expect` is not NULL the state's parameters
 * must equal its parameters (HUSH_EMISMATCH).  Truncated, corrupt (checksum)
 * or inconsistent input returns HUSH_ECORRUPT, an unknown version
 * HUSH_EVERSION.  *out is new (hush_ldp_agg_free).
 */
HUSH_API int hush_ldp_agg_deserialize(const uint8_t *buf, size_t len,
                                      const hush_ldp *expect, hush_ldp_agg **out,
                                      hush_err *err) HUSH_WARN_UNUSED;

/**
 * Estimates every item 0 .. d-1 into `out` (capacity `out_len` >= d).
 * `z` <= 0 selects the family-wise test (see hush_ldp_estimate.significant:
 * across all d items the chance of flagging any absent item is at most 5%,
 * by the exact binomial null); z > 0 a per-item z test.  Returns 0,
 * HUSH_EINVAL or HUSH_ENOMEM.
 */
HUSH_API int hush_ldp_agg_estimate(const hush_ldp_agg *agg, double z,
                                   hush_ldp_estimate *out, size_t out_len,
                                   hush_err *err) HUSH_WARN_UNUSED;

/**
 * Only the raw unbiased counts of items 0 .. d-1 (capacity `out_len` >= d).
 * The cheapest form; what estimate_s in bench/ldp measures.
 */
HUSH_API int hush_ldp_agg_estimate_counts(const hush_ldp_agg *agg, double *counts,
                                          size_t out_len, hush_err *err) HUSH_WARN_UNUSED;

/**
 * Sketches only: estimates arbitrary items given by their keys.  The
 * collision term of the standard error is estimated from items 0 .. d-1.
 */
HUSH_API int hush_ldp_agg_estimate_keys(const hush_ldp_agg *agg, const uint64_t *keys,
                                        size_t n_keys, double z, hush_ldp_estimate *out,
                                        hush_err *err) HUSH_WARN_UNUSED;

/* ---- planning ---- */

/**
 * Picks the mechanism with the lowest count variance (at count 0) for a
 * domain of `domain` values at `epsilon`, among those whose report fits in
 * `max_report_bits` (0 = no limit) and whose aggregation cost suits d (OLH
 * only up to HUSH_LDP_OLH_AUTO_DOMAIN_MAX; OUE's d-bit reports only when the
 * bit budget allows).  Fills `out` ready for hush_ldp_new.  Returns 0, or
 * HUSH_EINVAL/HUSH_ERANGE for bad arguments, HUSH_ENOTFOUND if no mechanism
 * fits the bit budget.
 */
HUSH_API int hush_ldp_recommend(uint32_t domain, double epsilon, unsigned max_report_bits,
                                hush_ldp_params *out, hush_err *err) HUSH_WARN_UNUSED;

/* ------------------------------------------------------------------------ */
/* Central DP: the discrete Gaussian and the RDP accountant                 */
/* ------------------------------------------------------------------------ */

/**
 * The orthonormal Walsh-Hadamard transform in place: x <- H x / sqrt(n),
 * n a power of two (HUSH_EINVAL otherwise).  Its own inverse; what the
 * distributed discrete Gaussian rotates updates with (hush_secagg.h).
 */
HUSH_API int hush_hadamard(double *x, size_t n);

/**
 * One draw of the discrete Gaussian N_Z(0, sigma^2) over the integers,
 * sigma a positive integer of at most 2^20 (larger values are clamped).
 * Exact: integer arithmetic on uniform bits only (Canonne, Kamath, Steinke
 * 2020), so it leaks nothing through floating-point rounding; scale the
 * integer by a lattice step afterwards (docs/privacy.md).
 */
HUSH_API int64_t hush_discrete_gaussian(hush_rng *rng, uint32_t sigma);

/**
 * Rényi DP at order alpha (> 1) of one step of the Poisson-subsampled
 * Gaussian mechanism with sampling rate q and noise multiplier z
 * (Mironov, Talwar, Zhang 2019); NAN for arguments out of range.
 */
HUSH_API double hush_rdp_sampled_gaussian(double q, double z, double alpha);

/** The orders the accountant minimizes over (static array; its length). */
HUSH_API size_t hush_rdp_default_orders(const double **orders);

/**
 * (epsilon, delta) after `steps` steps: the minimum over the default orders
 * of the improved conversion (Balle et al. 2020).  *best_order (optional)
 * gets the minimizing order.  Returns 0 or HUSH_ERANGE.
 */
HUSH_API int hush_rdp_epsilon(double q, double z, uint64_t steps, double delta,
                              double *epsilon, double *best_order,
                              hush_err *err) HUSH_WARN_UNUSED;

/** The smallest noise multiplier (to 1e-6 relative) whose epsilon after
 * `steps` steps is at most `target`.  Returns 0 or HUSH_ERANGE. */
HUSH_API int hush_rdp_noise_for_epsilon(double q, uint64_t steps, double delta,
                                        double target, double *z,
                                        hush_err *err) HUSH_WARN_UNUSED;

/* ---- amplification by shuffling ---- */

/**
 * The central (eps, delta) of n reports, each eps0-LDP, shuffled
 * uniformly so that nothing says who sent which (Feldman, McMillan, Talwar
 * 2021), under the assumption that whoever shuffles does not collude with
 * whoever reads the reports.
 *
 * hush_shuffle_closed_form: their Theorem 3.1's bound, valid only for
 * eps0 <= log(n / (16 log(4 / delta))); NAN outside that regime (it claims
 * nothing there).
 *
 * hush_shuffle_numerical: the smallest eps whose delta, computed from the
 * same reduction numerically (privacy/shuffle.c), is at most `delta`: an
 * upper bound on the true eps (`upper`), or a lower bound on it.  Returns
 * eps0 when no amplification can be shown, NAN for arguments out of
 * range (n < 2, eps0 <= 0, delta not in (0, 1)).  About 0.2 s per bound at
 * n = 10^5 and up to a second at 10^6 on one core (each is ~40 delta
 * evaluations).
 *
 * hush_shuffle_delta: the delta of that reduction at eps (an upper or a
 * lower bound), 1 for arguments out of range.
 */
HUSH_API double hush_shuffle_closed_form(uint64_t n, double eps0, double delta);
HUSH_API double hush_shuffle_numerical(uint64_t n, double eps0, double delta, bool upper);
HUSH_API double hush_shuffle_delta(uint64_t n, double eps0, double eps, bool upper);

#ifdef __cplusplus
}
#endif
#endif /* HUSH_PRIVACY_H */
