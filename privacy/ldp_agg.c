/*
 * ldp_agg.c - aggregate states: creation, all-or-nothing adds, merges, and
 * the versioned serialization used for checkpoints and multi-node sums.
 *
 * A state is the mechanism's parameters, a report count and a vector of int64
 * sums.  Format (all little-endian):
 *
 *   off  size  field
 *     0     8  magic "HUSHLDPA"
 *     8     4  format version (1)
 *    12     4  mechanism id
 *    16     4  domain d
 *    20     4  OLH g
 *    24     4  sketch rows k
 *    28     4  sketch cols m
 *    32     8  epsilon (IEEE-754 binary64 bits)
 *    40     8  hash seed
 *    48     8  report count n
 *    56     8  number of sums
 *    64   8*S  sums (two's-complement int64)
 *   end     8  XXH3-64 of every byte before it
 *
 * Parsing rejects short input, a bad magic or checksum, parameters that do not
 * build a valid mechanism, a sum count that does not match them, and sums
 * that break the mechanism's invariants (a crafted state must not be able to
 * make estimates lie about how many reports stand behind them).
 */
#include <xxhash.h>

#include "privacy_internal.h"

#define AGG_MAGIC "HUSHLDPA"
#define AGG_VERSION 1u
#define AGG_HEADER 64u
#define AGG_TRAILER 8u

int hush_ldp_agg_new(const hush_ldp *mech, hush_ldp_agg **out, hush_err *err)
{
    hush_ldp_agg *agg = hush_malloc(sizeof *agg);
    int64_t *cells = hush_calloc(mech->n_cells, sizeof *cells);
    if (agg == NULL || cells == NULL) {
        hush_free(agg);
        hush_free(cells);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for a state of %zu sums",
                            mech->n_cells);
    }
    agg->mech = *mech;
    agg->n_reports = 0;
    agg->cells = cells;
    *out = agg;
    return 0;
}

void hush_ldp_agg_free(hush_ldp_agg *agg)
{
    if (agg != NULL) {
        hush_free(agg->cells);
        hush_free(agg);
    }
}

const hush_ldp *hush_ldp_agg_mechanism(const hush_ldp_agg *agg)
{
    return &agg->mech;
}

uint64_t hush_ldp_agg_count(const hush_ldp_agg *agg)
{
    return agg->n_reports;
}

void hush_ldp_agg_reset(hush_ldp_agg *agg)
{
    agg->n_reports = 0;
    memset(agg->cells, 0, agg->mech.n_cells * sizeof *agg->cells);
}

int hush_ldp_agg_add(hush_ldp_agg *agg, const uint8_t *reports, size_t len,
                     size_t *bad_index, hush_err *err)
{
    const hush_ldp *m = &agg->mech;
    size_t rs = m->report_size;
    if (len % rs != 0 || (len > 0 && reports == NULL)) {
        if (bad_index != NULL) {
            *bad_index = len / rs;
        }
        return hush_err_set(err, HUSH_EINVAL,
                            "%zu bytes is not a whole number of %zu-byte %s reports", len,
                            rs, hush_ldp_mechanism_name(m->params.mechanism));
    }
    size_t n = len / rs;
    if (agg->n_reports > (uint64_t)INT64_MAX - n) {
        return hush_err_set(err, HUSH_EOVERFLOW,
                            "state cannot hold more than 2^63 reports");
    }
    size_t bad = m->ops->scan(m, reports, n);
    if (bad < n) {
        if (bad_index != NULL) {
            *bad_index = bad;
        }
        int rc = m->ops->check(m, reports + bad * rs, err);
        return rc != 0 ? rc
                       : hush_err_set(err, HUSH_EINVAL, "report %zu is invalid", bad);
    }
    m->ops->add(agg, reports, n);
    agg->n_reports += n;
    return 0;
}

static bool same_params(const hush_ldp_params *a, const hush_ldp_params *b)
{
    return a->mechanism == b->mechanism && a->domain == b->domain &&
           hush_double_bits(a->epsilon) == hush_double_bits(b->epsilon) &&
           a->olh_g == b->olh_g && a->sketch_rows == b->sketch_rows &&
           a->sketch_cols == b->sketch_cols && a->hash_seed == b->hash_seed;
}

int hush_ldp_agg_merge(hush_ldp_agg *agg, const hush_ldp_agg *other, hush_err *err)
{
    if (!same_params(&agg->mech.params, &other->mech.params)) {
        return hush_err_set(err, HUSH_EMISMATCH,
                            "cannot merge states of different parameters (%s and %s)",
                            hush_ldp_mechanism_name(agg->mech.params.mechanism),
                            hush_ldp_mechanism_name(other->mech.params.mechanism));
    }
    if (agg->n_reports > (uint64_t)INT64_MAX - other->n_reports) {
        return hush_err_set(err, HUSH_EOVERFLOW,
                            "merged state would exceed 2^63 reports");
    }
    /* Every |sum| is bounded by its report count (check_state enforces it for
     * parsed states), so the element-wise sums cannot overflow either. */
    for (size_t i = 0; i < agg->mech.n_cells; i++) {
        agg->cells[i] += other->cells[i];
    }
    agg->n_reports += other->n_reports;
    return 0;
}

bool hush_ldp_agg_equal(const hush_ldp_agg *a, const hush_ldp_agg *b)
{
    return same_params(&a->mech.params, &b->mech.params) &&
           a->n_reports == b->n_reports &&
           memcmp(a->cells, b->cells, a->mech.n_cells * sizeof *a->cells) == 0;
}

int hush_ldp_agg_serialize(const hush_ldp_agg *agg, uint8_t **out, size_t *out_len,
                           hush_err *err)
{
    const hush_ldp *m = &agg->mech;
    size_t body;
    size_t total;
    if (!hush_size_mul(m->n_cells, 8, &body) ||
        !hush_size_add(body, AGG_HEADER + AGG_TRAILER, &total)) {
        return hush_err_set(err, HUSH_EOVERFLOW, "state too large to serialize");
    }
    uint8_t *buf = hush_malloc(total);
    if (buf == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory serializing %zu bytes",
                            total);
    }
    memcpy(buf, AGG_MAGIC, 8);
    hush_store_le32(buf + 8, AGG_VERSION);
    hush_store_le32(buf + 12, (uint32_t)m->params.mechanism);
    hush_store_le32(buf + 16, m->params.domain);
    hush_store_le32(buf + 20, m->params.olh_g);
    hush_store_le32(buf + 24, m->params.sketch_rows);
    hush_store_le32(buf + 28, m->params.sketch_cols);
    hush_store_le64(buf + 32, hush_double_bits(m->params.epsilon));
    hush_store_le64(buf + 40, m->params.hash_seed);
    hush_store_le64(buf + 48, agg->n_reports);
    hush_store_le64(buf + 56, (uint64_t)m->n_cells);
    uint8_t *p = buf + AGG_HEADER;
    for (size_t i = 0; i < m->n_cells; i++, p += 8) {
        hush_store_le64(p, (uint64_t)agg->cells[i]);
    }
    hush_store_le64(p, XXH3_64bits(buf, total - AGG_TRAILER));
    *out = buf;
    *out_len = total;
    return 0;
}

int hush_ldp_agg_deserialize(const uint8_t *buf, size_t len, const hush_ldp *expect,
                             hush_ldp_agg **out, hush_err *err)
{
    hush_ldp_agg *agg = NULL;
    hush_ldp *mech = NULL;
    int rc = 0;
    if (buf == NULL || len < AGG_HEADER + AGG_TRAILER) {
        return hush_err_set(err, HUSH_ECORRUPT,
                            "state is truncated (%zu bytes, need >= %u)",
                            buf != NULL ? len : 0, AGG_HEADER + AGG_TRAILER);
    }
    if (memcmp(buf, AGG_MAGIC, 8) != 0) {
        return hush_err_set(err, HUSH_ECORRUPT, "not a hush LDP state (bad magic)");
    }
    uint32_t version = hush_load_le32(buf + 8);
    if (version != AGG_VERSION) {
        return hush_err_set(err, HUSH_EVERSION,
                            "state format version %u is not supported "
                            "(this build reads %u)",
                            version, AGG_VERSION);
    }
    uint64_t sum = hush_load_le64(buf + len - AGG_TRAILER);
    if (XXH3_64bits(buf, len - AGG_TRAILER) != sum) {
        return hush_err_set(err, HUSH_ECORRUPT, "state checksum mismatch (corrupt data)");
    }
    hush_ldp_params params = {
        .mechanism = (hush_ldp_mechanism)hush_load_le32(buf + 12),
        .domain = hush_load_le32(buf + 16),
        .olh_g = hush_load_le32(buf + 20),
        .sketch_rows = hush_load_le32(buf + 24),
        .sketch_cols = hush_load_le32(buf + 28),
        .epsilon = hush_bits_double(hush_load_le64(buf + 32)),
        .hash_seed = hush_load_le64(buf + 40),
    };
    hush_err local = {0};
    if (hush_ldp_new(&params, &mech, &local) != 0) {
        rc = local.code == HUSH_ENOMEM ? HUSH_ENOMEM : HUSH_ECORRUPT;
        hush_err_set(err, rc, "state parameters are invalid: %s", local.msg);
        goto out;
    }
    /* Defaults are filled in when a state is created, so a state's stored
     * parameters already equal their normalised form. */
    if (!same_params(&params, &mech->params)) {
        rc = hush_err_set(err, HUSH_ECORRUPT, "state parameters are not normalised");
        goto out;
    }
    if (expect != NULL && !same_params(&mech->params, &expect->params)) {
        rc = hush_err_set(err, HUSH_EMISMATCH,
                          "state parameters differ from the expected %s mechanism",
                          hush_ldp_mechanism_name(expect->params.mechanism));
        goto out;
    }
    uint64_t n_reports = hush_load_le64(buf + 48);
    uint64_t n_cells = hush_load_le64(buf + 56);
    if (n_cells != mech->n_cells || (len - AGG_HEADER - AGG_TRAILER) / 8 != n_cells ||
        (len - AGG_HEADER - AGG_TRAILER) % 8 != 0) {
        rc = hush_err_set(err, HUSH_ECORRUPT,
                          "state holds %llu sums in %zu bytes; its parameters need %zu",
                          (unsigned long long)n_cells, len, mech->n_cells);
        goto out;
    }
    if (n_reports > (uint64_t)INT64_MAX) {
        rc = hush_err_set(err, HUSH_ECORRUPT, "state report count %llu is out of range",
                          (unsigned long long)n_reports);
        goto out;
    }
    rc = hush_ldp_agg_new(mech, &agg, err);
    if (rc != 0) {
        goto out;
    }
    agg->n_reports = n_reports;
    const uint8_t *p = buf + AGG_HEADER;
    for (size_t i = 0; i < mech->n_cells; i++, p += 8) {
        agg->cells[i] = (int64_t)hush_load_le64(p);
    }
    rc = mech->ops->check_state(agg, err);
    if (rc != 0) {
        goto out;
    }
    *out = agg;
    agg = NULL;
out:
    hush_ldp_agg_free(agg);
    hush_ldp_free(mech);
    return rc;
}

int hush__check_sign_sums(const int64_t *cells, size_t n_cells, uint64_t n_reports,
                          const char *name, hush_err *err)
{
    uint64_t abs_total = 0;
    uint64_t parity = 0;
    for (size_t i = 0; i < n_cells; i++) {
        int64_t c = cells[i];
        uint64_t a = c < 0 ? (uint64_t)0 - (uint64_t)c : (uint64_t)c;
        if (a > n_reports || abs_total > n_reports - a) {
            return hush_err_set(err, HUSH_ECORRUPT,
                                "%s sums exceed the state's %llu reports", name,
                                (unsigned long long)n_reports);
        }
        abs_total += a;
        parity ^= a & 1u;
    }
    if (parity != (n_reports & 1u)) {
        return hush_err_set(err, HUSH_ECORRUPT,
                            "%s sums do not have the parity of %llu reports", name,
                            (unsigned long long)n_reports);
    }
    return 0;
}

int hush__check_count_range(const hush_ldp_agg *agg, hush_err *err)
{
    for (size_t i = 0; i < agg->mech.n_cells; i++) {
        if (agg->cells[i] < 0 || agg->cells[i] > (int64_t)agg->n_reports) {
            return hush_err_set(err, HUSH_ECORRUPT,
                                "%s count %zu exceeds the state's %llu reports",
                                hush_ldp_mechanism_name(agg->mech.params.mechanism), i,
                                (unsigned long long)agg->n_reports);
        }
    }
    return 0;
}
