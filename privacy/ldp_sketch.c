/*
 * ldp_sketch.c - the hash family and the lookup both Apple sketches (CMS,
 * HCMS) share.
 *
 * Row j hashes an item key with XXH3-64 under seed (hash_seed + j * phi),
 * phi the 64-bit golden ratio, and maps the hash to a column with
 * floor(h * m / 2^64).  The key is hashed as 8 little-endian bytes, which
 * takes XXH3's short-input path, so the estimation loop over all d items
 * vectorizes.  Estimation visits items in blocks so the block's sums stay in
 * L1 while every row's table streams past.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "privacy_internal.h"

#define ROW_SEED_STEP UINT64_C(0x9E3779B97F4A7C15)
#define LOOKUP_BLOCK 2048

/* Keys are hashed as their 8 little-endian bytes on every platform; the
 * callers below keep them in that byte order in memory (a no-op on
 * little-endian machines), and hashing straight from an array is the form
 * GCC vectorizes. */
static inline uint64_t to_le64(uint64_t key)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap64(key);
#else
    return key;
#endif
}

static inline uint32_t column_le(uint64_t row_seed, const uint64_t *key_le, uint32_t cols)
{
    return hush__reduce(XXH3_64bits_withSeed(key_le, sizeof *key_le, row_seed), cols);
}

uint32_t hush__sketch_column(uint64_t seed, uint32_t row, uint64_t key, uint32_t cols)
{
    uint64_t key_le = to_le64(key);
    return column_le(seed + row * ROW_SEED_STEP, &key_le, cols);
}

/* Two passes per row: the hashes of a block (vectorized), then the table
 * lookups (a gather from a row that sits in L1). */
HUSH_TARGET_CLONES
static void block_columns(uint32_t *restrict idx, const uint64_t *restrict keys_le,
                          size_t count, uint64_t row_seed, uint32_t cols)
{
    for (size_t i = 0; i < count; i++) {
        idx[i] = column_le(row_seed, keys_le + i, cols);
    }
}

HUSH_TARGET_CLONES
static void gather_add(double *restrict sums, const uint32_t *restrict idx, size_t count,
                       const double *restrict row_table)
{
    for (size_t i = 0; i < count; i++) {
        sums[i] += row_table[idx[i]];
    }
}

int hush__sketch_lookup(const hush_ldp *m, const double *table, const uint64_t *keys,
                        size_t n_keys, double *sums, hush_err *err)
{
    (void)err;
    uint32_t rows = m->sk_rows;
    uint32_t cols = m->sk_cols;
    uint64_t seed = m->params.hash_seed;
    uint64_t block_keys[LOOKUP_BLOCK];
    uint32_t idx[LOOKUP_BLOCK];
    for (size_t start = 0; start < n_keys; start += LOOKUP_BLOCK) {
        size_t count = n_keys - start < LOOKUP_BLOCK ? n_keys - start : LOOKUP_BLOCK;
        for (size_t i = 0; i < count; i++) {
            block_keys[i] = to_le64(keys != NULL ? keys[start + i] : start + i);
        }
        memset(sums + start, 0, count * sizeof *sums);
        for (uint32_t j = 0; j < rows; j++) {
            block_columns(idx, block_keys, count, seed + j * ROW_SEED_STEP, cols);
            gather_add(sums + start, idx, count, table + (size_t)j * cols);
        }
    }
    return 0;
}

/* Both sketches estimate alike once their debiased table is built:
 * c^(x) = m/(m-1) (sum_j table[j][h_j(x)] - n/m). */
static int sketch_estimate(const hush_ldp_agg *agg, const uint64_t *keys, size_t n_keys,
                           double *counts, hush_err *err)
{
    const hush_ldp *m = &agg->mech;
    double *table = m->ops->sketch_table(agg);
    if (table == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for a %u x %u sketch",
                            m->sk_rows, m->sk_cols);
    }
    int rc = hush__sketch_lookup(m, table, keys, n_keys, counts, err);
    double mm = m->sk_cols;
    double n = (double)agg->n_reports;
    for (size_t i = 0; rc == 0 && i < n_keys; i++) {
        counts[i] = mm / (mm - 1.0) * (counts[i] - n / mm);
    }
    hush_free(table);
    return rc;
}

int hush__sketch_estimate(const hush_ldp_agg *agg, double *counts, hush_err *err)
{
    return sketch_estimate(agg, NULL, agg->mech.params.domain, counts, err);
}

int hush__sketch_estimate_keys(const hush_ldp_agg *agg, const uint64_t *keys, size_t n,
                               double *counts, hush_err *err)
{
    return sketch_estimate(agg, keys, n, counts, err);
}

int hush__sketch_init(hush_ldp *m, bool power_of_two_cols, hush_err *err)
{
    if (m->params.sketch_rows == 0) {
        m->params.sketch_rows = HUSH_LDP_SKETCH_ROWS_DEFAULT;
    }
    if (m->params.sketch_cols == 0) {
        m->params.sketch_cols = HUSH_LDP_SKETCH_COLS_DEFAULT;
    }
    uint32_t k = m->params.sketch_rows;
    uint32_t cols = m->params.sketch_cols;
    const char *name = hush_ldp_mechanism_name(m->params.mechanism);
    if (cols < 2 || (power_of_two_cols && (cols & (cols - 1)) != 0)) {
        return hush_err_set(err, HUSH_ERANGE, "%s sketch_cols must be %s>= 2 (got %u)",
                            name, power_of_two_cols ? "a power of two " : "", cols);
    }
    if ((uint64_t)k * cols > HUSH_LDP_SKETCH_CELLS_MAX) {
        return hush_err_set(err, HUSH_ERANGE,
                            "%s sketch_rows * sketch_cols must be <= %u (got %u * %u)",
                            name, HUSH_LDP_SKETCH_CELLS_MAX, k, cols);
    }
    m->sk_rows = k;
    m->sk_cols = cols;
    m->sk_log2cols = 0;
    while ((1u << m->sk_log2cols) < cols) {
        m->sk_log2cols++;
    }
    return 0;
}
