/*
 * privacy_internal.h - what the files of privacy/ share and nobody else sees:
 * the mechanism instance, the aggregate state, and the per-mechanism
 * operations table that ldp.c dispatches through.
 *
 * Every aggregate state is a vector of int64 sums plus a report count, so
 * merging is element-wise addition and serialization is generic; each
 * mechanism file says what its sums mean.
 */
#ifndef HUSH_PRIVACY_INTERNAL_H
#define HUSH_PRIVACY_INTERNAL_H

#include "hush_privacy.h"

typedef struct hush__ldp_ops hush__ldp_ops;

struct hush_ldp {
    hush_ldp_params params; /* defaults filled in */
    const hush__ldp_ops *ops;
    size_t report_size; /* bytes */
    unsigned report_bits;
    size_t n_cells; /* int64 sums in the aggregate state */
    /* Probabilities the encoder actually realises (threshold / 2^64), so the
     * estimator is unbiased for the implemented mechanism, not the nominal. */
    double p, q;
    uint64_t t_main;  /* the mechanism's main Bernoulli threshold */
    uint64_t t_other; /* a second threshold (OUE: the q bits) */
    double c_eps;     /* HR/HCMS: 1/(2p-1); CMS: 1/(1-2r) */
    uint32_t g;       /* OLH hash range */
    uint32_t hr_k;    /* HR: Hadamard order K (power of two >= d) */
    unsigned hr_log2k;
    uint32_t sk_rows, sk_cols;
    unsigned sk_log2cols; /* HCMS */
};

struct hush_ldp_agg {
    hush_ldp mech; /* a copy: states outlive the instance they came from */
    uint64_t n_reports;
    int64_t *cells;
};

struct hush__ldp_ops {
    hush_ldp_mechanism id;
    /* Validates mechanism-specific parameters and fills in the derived fields
     * of `m` (params.domain and params.epsilon are already checked). */
    int (*init)(hush_ldp *m, hush_err *err);
    /* Encodes `value` (already checked < d, or any key for sketches). */
    void (*encode)(const hush_ldp *m, uint64_t value, hush_rng *rng, uint8_t *report);
    /* Returns 0 if the report is valid, else an error with a message. */
    int (*check)(const hush_ldp *m, const uint8_t *report, hush_err *err);
    /* Index of the first invalid report among `n`, or n if all are valid. */
    size_t (*scan)(const hush_ldp *m, const uint8_t *reports, size_t n);
    /* Adds `n` reports already checked. */
    void (*add)(hush_ldp_agg *agg, const uint8_t *reports, size_t n);
    /* Checks the invariants of deserialized sums (0 or HUSH_ECORRUPT). */
    int (*check_state)(const hush_ldp_agg *agg, hush_err *err);
    /* Raw unbiased counts of items 0 .. d-1; may allocate scratch. */
    int (*estimate)(const hush_ldp_agg *agg, double *counts, hush_err *err);
    /* Sketches only: counts for arbitrary keys. */
    int (*estimate_keys)(const hush_ldp_agg *agg, const uint64_t *keys, size_t n,
                         double *counts, hush_err *err);
    /* Sketches only: the debiased per-row table the estimators look items up
     * in (new, hush_free), or NULL when out of memory. */
    double *(*sketch_table)(const hush_ldp_agg *agg);
    /* Variance of the count estimate (see hush_privacy.h). */
    double (*variance)(const hush_ldp *m, double n, double count, double others_sum_sq);
};

extern const hush__ldp_ops hush__ldp_grr_ops;
extern const hush__ldp_ops hush__ldp_oue_ops;
extern const hush__ldp_ops hush__ldp_olh_ops;
extern const hush__ldp_ops hush__ldp_hr_ops;
extern const hush__ldp_ops hush__ldp_cms_ops;
extern const hush__ldp_ops hush__ldp_hcms_ops;

/* Variance of the "pure" estimator (C - nq)/(p - q) (Wang et al. 2017, eq. 2):
 * n q(1-q)/(p-q)^2 + c (1-p-q)/(p-q). */
double hush__pure_variance(double p, double q, double n, double count);

/* The estimator and variance of the "pure" protocols (GRR, OUE, OLH), whose
 * sums are support counts: c^ = (C - n q)/(p - q). */
int hush__pure_estimate(const hush_ldp_agg *agg, double *counts, hush_err *err);
double hush__pure_variance_op(const hush_ldp *m, double n, double count,
                              double others_sum_sq);

/* Checks that every sum is a count in [0, n] (HUSH_ECORRUPT otherwise). */
int hush__check_count_range(const hush_ldp_agg *agg, hush_err *err);

/* Checks sums to which every report added +1 or -1 once: their absolute
 * values add up to at most n and their total has n's parity (HUSH_ECORRUPT
 * otherwise).  Used by HR and HCMS states. */
int hush__check_sign_sums(const int64_t *cells, size_t n_cells, uint64_t n_reports,
                          const char *name, hush_err *err);

/* In-place unnormalised fast Walsh-Hadamard transform of x[0 .. n), n a
 * power of two: x <- H_n x with H_n[i][j] = (-1)^popcount(i & j). */
void hush__fwht(double *x, size_t n);

/* Sketch row hash: column of item `key` in row `row`, in [0, cols). */
uint32_t hush__sketch_column(uint64_t seed, uint32_t row, uint64_t key, uint32_t cols);

/* Fills in sketch defaults and checks k and m (HCMS: m a power of two). */
int hush__sketch_init(hush_ldp *m, bool power_of_two_cols, hush_err *err);

/* The sketch estimators (for every item 0..d-1, or for given keys). */
int hush__sketch_estimate(const hush_ldp_agg *agg, double *counts, hush_err *err);
int hush__sketch_estimate_keys(const hush_ldp_agg *agg, const uint64_t *keys, size_t n,
                               double *counts, hush_err *err);

/* Sum over rows of table[row * cols + column(row, key)] for every key 0..d-1
 * (or the given keys), used by both sketch estimators. */
int hush__sketch_lookup(const hush_ldp *m, const double *table, const uint64_t *keys,
                        size_t n_keys, double *sums, hush_err *err);

/* Reads bit i of a little-endian bit string. */
static inline unsigned hush__bit(const uint8_t *bits, size_t i)
{
    return (bits[i >> 3] >> (i & 7)) & 1u;
}

/* Number of bits to write values 0 .. n-1 (at least 1). */
static inline unsigned hush__bits_for(uint64_t n)
{
    unsigned b = 1;
    while (b < 64 && (n - 1) >> b != 0) {
        b++;
    }
    return b;
}

/* floor(h * range / 2^64) without 128-bit arithmetic, so loops vectorize:
 * exact, since h*range = hi*range*2^32 + lo*range. */
static inline uint32_t hush__reduce(uint64_t h, uint32_t range)
{
    uint64_t hi = (h >> 32) * range;
    uint64_t lo = ((h & 0xffffffffu) * range) >> 32;
    return (uint32_t)((hi + lo) >> 32);
}

/* Checks that the padding bits above `nbits` in a bit string are zero. */
static inline bool hush__padding_clear(const uint8_t *bits, size_t nbits)
{
    unsigned used = (unsigned)(nbits & 7);
    return used == 0 || (bits[nbits >> 3] >> used) == 0;
}

/* binom.c: P[Bin(n, q) >= k]; the smallest k whose tail is <= level; the
 * Clopper-Pearson interval of a binomial proportion (c successes of n) at
 * confidence 1 - alpha. */
double hush__binom_upper(uint64_t n, double q, uint64_t k);
/* shuffle.c, for tests: one divergence of the reduction given c clones;
 * delta over blocks of `step` values of c (0: the default), and with
 * q_one_end the Q side read at one end of each block only (the reference
 * code's typo); *q_side (may be NULL) gets the Q side's delta alone. */
double hush__shuffle_divergence(uint64_t c, double eps, double eps0, bool q_side);
double hush__shuffle_delta_blocks(uint64_t n, double eps0, double eps, bool upper,
                                  uint64_t step, bool q_one_end, double *q_side);
uint64_t hush__binom_critical(uint64_t n, double q, double level);
void hush__clopper_pearson(uint64_t n, uint64_t c, double alpha, double *lo, double *hi);

#endif /* HUSH_PRIVACY_INTERNAL_H */
