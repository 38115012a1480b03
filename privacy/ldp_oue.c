/*
 * ldp_oue.c - optimized unary encoding, device and collector halves.
 *
 * Device: a d-bit vector; the true value's bit is 1 with p = 1/2, every other
 * bit is 1 with q = 1/(e^eps + 1), independently (Wang et al. 2017, sec.
 * 4.3).  Two inputs differ in two bits, so the worst ratio is
 * (p/q)((1-q)/(1-p)) = (1-q)/q = e^eps; q's threshold is rounded up, which
 * only lowers it.
 * Report: ceil(d/8) bytes, bit i = byte[i/8] >> (i%8) & 1, padding bits zero.
 * State: d sums, cells[v] = reports with bit v set.
 * Estimate: c^ = (C(v) - n q)/(p - q); variance n q(1-q)/(p-q)^2 +
 * c(1-p-q)/(p-q), which is 4 n e^eps/(e^eps-1)^2 at c = 0.
 */
#include <math.h>

#include "privacy_internal.h"

static int oue_init(hush_ldp *m, hush_err *err)
{
    if (m->params.domain > HUSH_LDP_OUE_DOMAIN_MAX) {
        return hush_err_set(err, HUSH_ERANGE,
                            "oue reports are d bits: domain must be <= %u (got %u)",
                            HUSH_LDP_OUE_DOMAIN_MAX, m->params.domain);
    }
    m->t_main = UINT64_C(1) << 63; /* p = 1/2 exactly */
    m->t_other = hush_prob_threshold(1.0 / (exp(m->params.epsilon) + 1.0), true);
    m->p = 0.5;
    m->q = hush_threshold_prob(m->t_other);
    m->report_size = (m->params.domain + 7) / 8;
    m->report_bits = m->params.domain;
    m->n_cells = m->params.domain;
    return 0;
}

static void oue_encode(const hush_ldp *m, uint64_t value, hush_rng *rng, uint8_t *report)
{
    uint32_t v = (uint32_t)value;
    hush_rng_bernoulli_bits(rng, m->t_other, report, m->params.domain);
    report[v >> 3] &= (uint8_t) ~(1u << (v & 7));
    if (hush_rng_bernoulli(rng, m->t_main)) {
        report[v >> 3] |= (uint8_t)(1u << (v & 7));
    }
}

static int oue_check(const hush_ldp *m, const uint8_t *report, hush_err *err)
{
    if (!hush__padding_clear(report, m->params.domain)) {
        return hush_err_set(err, HUSH_ERANGE, "oue report sets bits beyond domain %u",
                            m->params.domain);
    }
    return 0;
}

static size_t oue_scan(const hush_ldp *m, const uint8_t *reports, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!hush__padding_clear(reports + i * m->report_size, m->params.domain)) {
            return i;
        }
    }
    return n;
}

/* Byte -> eight one-byte lanes holding its bits, for SWAR counting. */
static uint64_t spread[256];
static void init_spread(void)
{
    for (unsigned b = 0; b < 256; b++) {
        uint64_t w = 0;
        for (unsigned k = 0; k < 8; k++) {
            w |= (uint64_t)((b >> k) & 1u) << (8 * k);
        }
        spread[b] = w;
    }
}

/* Counts set bits column by column, eight columns per 64-bit addition: each
 * byte of the report becomes eight one-byte lanes (table `spread`) added
 * into a 64-bit accumulator.  A lane holds at most 255, so accumulators are
 * flushed into the int64 sums every 255 reports.  Columns are processed in
 * chunks whose accumulators fit in L1. */
#define OUE_CHUNK_BYTES 2048
#define OUE_LANE_MAX 255

static void flush_lanes(int64_t *cells, uint64_t *acc, size_t first_byte, size_t nbytes,
                        size_t d)
{
    for (size_t b = 0; b < nbytes; b++) {
        uint64_t w = acc[b];
        for (unsigned k = 0; k < 8; k++) {
            size_t v = 8 * (first_byte + b) + k;
            if (v < d) {
                cells[v] += (int64_t)((w >> (8 * k)) & 0xffu);
            }
        }
        acc[b] = 0;
    }
}

static void oue_add(hush_ldp_agg *agg, const uint8_t *reports, size_t n)
{
    static bool spread_ready; /* the table is a pure function of b: racing
                                 writers store identical values */
    if (!__atomic_load_n(&spread_ready, __ATOMIC_ACQUIRE)) {
        init_spread();
        __atomic_store_n(&spread_ready, true, __ATOMIC_RELEASE);
    }
    size_t d = agg->mech.params.domain;
    size_t rs = agg->mech.report_size;
    uint64_t acc[OUE_CHUNK_BYTES];
    for (size_t first = 0; first < rs; first += OUE_CHUNK_BYTES) {
        size_t nbytes = rs - first < OUE_CHUNK_BYTES ? rs - first : OUE_CHUNK_BYTES;
        memset(acc, 0, nbytes * sizeof acc[0]);
        unsigned in_lanes = 0;
        for (size_t i = 0; i < n; i++) {
            const uint8_t *r = reports + i * rs + first;
            for (size_t b = 0; b < nbytes; b++) {
                acc[b] += spread[r[b]];
            }
            if (++in_lanes == OUE_LANE_MAX) {
                flush_lanes(agg->cells, acc, first, nbytes, d);
                in_lanes = 0;
            }
        }
        flush_lanes(agg->cells, acc, first, nbytes, d);
    }
}

const hush__ldp_ops hush__ldp_oue_ops = {
    .id = HUSH_LDP_OUE,
    .init = oue_init,
    .encode = oue_encode,
    .check = oue_check,
    .scan = oue_scan,
    .add = oue_add,
    .check_state = hush__check_count_range,
    .estimate = hush__pure_estimate,
    .variance = hush__pure_variance_op,
};
