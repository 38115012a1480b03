/*
 * lattice.c - a DP update as integers on the server's lattice, and their
 * compact encoding (hush_learning.h).
 *
 * Why: the server keeps an update only as integers on its lattice (step
 * gamma = z S / L, fedavg.c), so the float32 a device sends carries bits
 * the server throws away.  Sending the integers themselves gives the same
 * sum (shift 0) in a third to a fifth of the bytes; a coarser lattice
 * (shift s, randomized rounding) trades a little variance, far below the
 * DP noise's, for fewer still.
 *
 * The encoding: zigzag integers (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...) as
 * Rice codes with the parameter that makes the stream shortest.  Clipped
 * updates are roughly Gaussian or heavier-tailed around 0, for which a
 * Rice code is within a fraction of a bit of the entropy, and it needs no
 * table and no state between updates.
 */
#include <math.h>
#include <string.h>

#include "learning_internal.h"

#define LATTICE_VERSION 1
#define RICE_MAX_Q 31 /* a quotient of 31 or more escapes to 32 raw bits */
#define RICE_MAX_R 31
#define HEADER 6

int hush_lattice_quantize(const float *u, size_t n, double clip, double gamma,
                          uint32_t shift, hush_rng *rng, int32_t *k, hush_err *err)
{
    if (!(gamma > 0) || !(clip > 0) || shift > HUSH_LATTICE_SHIFT_MAX) {
        return hush_err_set(err, HUSH_ERANGE,
                            "a lattice needs a positive step and clip and a shift of 0 "
                            "to %u",
                            HUSH_LATTICE_SHIFT_MAX);
    }
    double step = gamma * (double)(1u << shift), scale = 1.0;
    if (shift > 0) {
        /* clip to S - step sqrt(n): a draw moves each coordinate by less
         * than one step, so the rounded update stays within S */
        double margin = clip - step * sqrt((double)n), norm = hush_l2_norm(u, n);
        if (!(margin > 0)) {
            return hush_err_set(err, HUSH_ERANGE,
                                "a lattice shift of %u is too coarse for this clip and "
                                "%zu coordinates",
                                shift, n);
        }
        scale = norm > margin ? margin / norm : 1.0;
    }
    const double inv = 1.0 / step;
    for (size_t i = 0; i < n; i++) {
        double x = shift == 0 ? (double)u[i] * inv : (double)u[i] * scale * inv;
        if (!(fabs(x) < 2147483647.0)) {
            return hush_err_set(err, HUSH_ERANGE,
                                "coordinate %zu is beyond the lattice's range", i);
        }
        if (shift == 0) {
            k[i] = (int32_t)(int64_t)x; /* toward zero: the server's own rounding */
        } else {
            double f = floor(x);
            k[i] = (int32_t)f + (hush_rng_unit(rng) < x - f ? 1 : 0);
        }
    }
    return 0;
}

static uint32_t zigzag(int32_t v)
{
    return ((uint32_t)v << 1) ^ (uint32_t) - (int32_t)((uint32_t)v >> 31);
}

static int32_t unzigzag(uint32_t z)
{
    return (int32_t)((z >> 1) ^ -(z & 1u));
}

/* The bits of the Rice code of every z with parameter r. */
static uint64_t rice_bits(const int32_t *k, size_t n, uint32_t r)
{
    uint64_t bits = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t q = zigzag(k[i]) >> r;
        bits += q < RICE_MAX_Q ? (uint64_t)q + 1 + r : RICE_MAX_Q + 32;
    }
    return bits;
}

typedef struct bitw {
    uint8_t *p;
    size_t pos; /* in bits */
} bitw;

static void put(bitw *w, uint32_t v, uint32_t nbits)
{
    for (uint32_t b = 0; b < nbits; b++, w->pos++) {
        if ((v >> b) & 1u) {
            w->p[w->pos >> 3] |= (uint8_t)(1u << (w->pos & 7));
        }
    }
}

int hush_lattice_pack(const int32_t *k, size_t n, uint8_t **out, size_t *len,
                      hush_err *err)
{
    if (n > UINT32_MAX) {
        return hush_err_set(err, HUSH_ERANGE, "too many integers to pack");
    }
    /* the shortest r: the cost is convex in r, so walk down from the
     * mean's magnitude and up, keeping the best */
    double mean = 0;
    for (size_t i = 0; i < n; i++) {
        mean += zigzag(k[i]);
    }
    mean = n > 0 ? mean / (double)n : 0;
    uint32_t r = mean >= 2 ? (uint32_t)floor(log2(mean)) : 0;
    r = r > RICE_MAX_R ? RICE_MAX_R : r;
    uint64_t best = rice_bits(k, n, r);
    for (int dir = -1; dir <= 1; dir += 2) {
        for (uint32_t c = r + (uint32_t)dir; c <= RICE_MAX_R; c += (uint32_t)dir) {
            uint64_t b = rice_bits(k, n, c);
            if (b >= best) {
                break;
            }
            best = b;
            r = c;
        }
    }
    size_t bytes = HEADER + (size_t)((best + 7) / 8);
    uint8_t *p = hush_calloc(bytes, 1);
    if (p == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory packing an update");
    }
    p[0] = LATTICE_VERSION;
    p[1] = (uint8_t)r;
    hush_store_le32(p + 2, (uint32_t)n);
    bitw w = {p + HEADER, 0};
    for (size_t i = 0; i < n; i++) {
        uint32_t z = zigzag(k[i]), q = z >> r;
        if (q < RICE_MAX_Q) {
            put(&w, (1u << q) - 1, q + 1); /* q ones, then a zero */
            put(&w, z, r);                 /* the low r bits */
        } else {
            put(&w, (1u << RICE_MAX_Q) - 1, RICE_MAX_Q);
            put(&w, z, 32);
        }
    }
    *out = p;
    *len = bytes;
    return 0;
}

typedef struct bitr {
    const uint8_t *p;
    size_t pos, end; /* in bits */
} bitr;

static int get(bitr *b, uint32_t nbits, uint32_t *v)
{
    if (b->end - b->pos < nbits) {
        return -1;
    }
    uint32_t x = 0;
    for (uint32_t i = 0; i < nbits; i++, b->pos++) {
        x |= (uint32_t)((b->p[b->pos >> 3] >> (b->pos & 7)) & 1u) << i;
    }
    *v = x;
    return 0;
}

int hush_lattice_unpack(const uint8_t *in, size_t len, size_t n, int32_t *k,
                        hush_err *err)
{
    if (len < HEADER || in[0] != LATTICE_VERSION || in[1] > RICE_MAX_R ||
        hush_load_le32(in + 2) != n || (len - HEADER) > SIZE_MAX / 8) {
        return hush_err_set(err, HUSH_EINVAL,
                            "lattice integers need version %u, a Rice parameter of at "
                            "most %u and a count of %zu",
                            LATTICE_VERSION, RICE_MAX_R, n);
    }
    uint32_t r = in[1];
    bitr b = {in + HEADER, 0, (len - HEADER) * 8};
    for (size_t i = 0; i < n; i++) {
        uint32_t q = 0, bit = 1, z = 0;
        while (q < RICE_MAX_Q) {
            if (get(&b, 1, &bit) != 0) {
                return hush_err_set(err, HUSH_EINVAL, "lattice integers end early");
            }
            if (bit == 0) {
                break;
            }
            q++;
        }
        if (q < RICE_MAX_Q) {
            uint32_t low = 0;
            if (get(&b, r, &low) != 0 || (r > 0 && ((uint64_t)q << r) > UINT32_MAX)) {
                return hush_err_set(err, HUSH_EINVAL, "lattice integers end early");
            }
            z = (uint32_t)((uint64_t)q << r) | low;
        } else if (get(&b, 32, &z) != 0) {
            return hush_err_set(err, HUSH_EINVAL, "lattice integers end early");
        } else if ((z >> r) < RICE_MAX_Q) {
            return hush_err_set(err, HUSH_EINVAL,
                                "lattice integers escape a value a short code holds");
        }
        k[i] = unzigzag(z);
    }
    /* nothing after the last code but zero padding within its byte */
    if ((b.end - b.pos) >= 8) {
        return hush_err_set(err, HUSH_EINVAL, "lattice integers have trailing bytes");
    }
    uint32_t pad = 0;
    if (get(&b, (uint32_t)(b.end - b.pos), &pad) != 0 || pad != 0) {
        return hush_err_set(err, HUSH_EINVAL, "lattice integers have non-zero padding");
    }
    return 0;
}
