/*
 * rng.c - the hush_rng interface: buffered libsodium randomness in
 * production, a seeded ChaCha20 stream for tests and simulations.
 *
 * Invariants: `buf[pos .. HUSH_RNG_BUF)` holds unread random bytes; a refill
 * replaces the whole buffer.  The seeded stream is ChaCha20-IETF with the
 * nonce libsodium's randombytes_buf_deterministic uses, continued block after
 * block, so its first bytes equal randombytes_buf_deterministic(seed).
 * Buffers are wiped when the generator is freed.
 */
#include <math.h>
#include <sodium.h>

#include "privacy_internal.h"

__extension__ typedef unsigned __int128 u128;

#define HUSH_RNG_BUF 4096
#define CHACHA_BLOCK 64

struct hush_rng {
    bool seeded;
    uint32_t block; /* next ChaCha20 block of the seeded stream */
    size_t pos;
    uint8_t key[crypto_stream_chacha20_ietf_KEYBYTES];
    uint8_t buf[HUSH_RNG_BUF];
};

/* randombytes_buf_deterministic's nonce (libsodium randombytes.c). */
static const uint8_t drg_nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {
    'L', 'i', 'b', 's', 'o', 'd', 'i', 'u', 'm', 'D', 'R', 'G'};

static void refill(hush_rng *rng)
{
    if (!rng->seeded) {
        randombytes_buf(rng->buf, sizeof rng->buf);
    } else {
        uint32_t blocks = HUSH_RNG_BUF / CHACHA_BLOCK;
        if (rng->block > UINT32_MAX - blocks) {
            /* The 32-bit block counter would wrap (after 256 GiB): move to a
             * new key derived from the old one and start again at block 0. */
            uint8_t next[sizeof rng->key];
            crypto_generichash(next, sizeof next, rng->key, sizeof rng->key, NULL, 0);
            memcpy(rng->key, next, sizeof next);
            sodium_memzero(next, sizeof next);
            rng->block = 0;
        }
        memset(rng->buf, 0, sizeof rng->buf);
        crypto_stream_chacha20_ietf_xor_ic(rng->buf, rng->buf, sizeof rng->buf, drg_nonce,
                                           rng->block, rng->key);
        rng->block += blocks;
    }
    rng->pos = 0;
}

static int rng_alloc(hush_rng **out)
{
    if (sodium_init() < 0) {
        return HUSH_EIO;
    }
    hush_rng *rng = hush_calloc(1, sizeof *rng);
    if (rng == NULL) {
        return HUSH_ENOMEM;
    }
    rng->pos = HUSH_RNG_BUF; /* empty: the first draw refills */
    *out = rng;
    return 0;
}

int hush_rng_new_system(hush_rng **out)
{
    return rng_alloc(out);
}

int hush_rng_new_seeded(const uint8_t seed[HUSH_RNG_SEED_BYTES], hush_rng **out)
{
    hush_rng *rng = NULL;
    int rc = rng_alloc(&rng);
    if (rc != 0) {
        return rc;
    }
    rng->seeded = true;
    memcpy(rng->key, seed, sizeof rng->key);
    *out = rng;
    return 0;
}

int hush_rng_new_seeded_u64(uint64_t seed, hush_rng **out)
{
    uint8_t key[HUSH_RNG_SEED_BYTES] = {0};
    hush_store_le64(key, seed);
    return hush_rng_new_seeded(key, out);
}

void hush_rng_free(hush_rng *rng)
{
    if (rng != NULL) {
        sodium_memzero(rng, sizeof *rng);
        hush_free(rng);
    }
}

void hush_rng_bytes(hush_rng *rng, void *out, size_t len)
{
    uint8_t *dst = out;
    while (len > 0) {
        if (rng->pos == HUSH_RNG_BUF) {
            refill(rng);
        }
        size_t take = HUSH_RNG_BUF - rng->pos;
        if (take > len) {
            take = len;
        }
        memcpy(dst, rng->buf + rng->pos, take);
        rng->pos += take;
        dst += take;
        len -= take;
    }
}

static inline uint8_t next_byte(hush_rng *rng)
{
    if (rng->pos == HUSH_RNG_BUF) {
        refill(rng);
    }
    return rng->buf[rng->pos++];
}

uint64_t hush_rng_u64(hush_rng *rng)
{
    if (HUSH_RNG_BUF - rng->pos < 8) {
        uint8_t tmp[8];
        hush_rng_bytes(rng, tmp, sizeof tmp);
        return hush_load_le64(tmp);
    }
    uint64_t v = hush_load_le64(rng->buf + rng->pos);
    rng->pos += 8;
    return v;
}

uint64_t hush_rng_uniform(hush_rng *rng, uint64_t bound)
{
    /* Lemire, "Fast Random Integer Generation in an Interval" (2019): the high
     * word of x * bound is uniform once the low words below 2^64 mod bound are
     * rejected. */
    if (bound <= 1) {
        return 0;
    }
    u128 m = (u128)hush_rng_u64(rng) * bound;
    uint64_t low = (uint64_t)m;
    if (low < bound) {
        uint64_t reject_below = (0 - bound) % bound;
        while (low < reject_below) {
            m = (u128)hush_rng_u64(rng) * bound;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double hush_rng_unit(hush_rng *rng)
{
    return (double)(hush_rng_u64(rng) >> 11) * 0x1.0p-53;
}

/* Compares a uniform 64-bit number, drawn most significant byte first,
 * against `threshold`, drawing only as many bytes as it takes to decide.
 * `first` is the already drawn most significant byte. */
static inline bool bernoulli_from(hush_rng *rng, uint64_t threshold, uint8_t first)
{
    uint8_t t = (uint8_t)(threshold >> 56);
    if (first != t) {
        return first < t;
    }
    for (int shift = 48; shift >= 0; shift -= 8) {
        uint8_t b = next_byte(rng);
        t = (uint8_t)(threshold >> shift);
        if (b != t) {
            return b < t;
        }
    }
    return false; /* u == threshold: not below it */
}

bool hush_rng_bernoulli(hush_rng *rng, uint64_t threshold)
{
    return bernoulli_from(rng, threshold, next_byte(rng));
}

void hush_rng_bernoulli_bits(hush_rng *rng, uint64_t threshold, uint8_t *bits,
                             size_t nbits)
{
    uint8_t t = (uint8_t)(threshold >> 56);
    size_t nbytes = (nbits + 7) / 8;
    memset(bits, 0, nbytes);
    size_t i = 0;
    while (i < nbits) {
        if (rng->pos == HUSH_RNG_BUF) {
            refill(rng);
        }
        /* Take a run of first bytes straight from the buffer; a tie (one in
         * 256) is resolved with further bytes, which refills may supply. */
        size_t avail = HUSH_RNG_BUF - rng->pos;
        size_t run = nbits - i < avail ? nbits - i : avail;
        const uint8_t *src = rng->buf + rng->pos;
        size_t j = 0;
        for (; j < run; j++) {
            uint8_t b = src[j];
            if (b == t) {
                break;
            }
            bits[(i + j) >> 3] |= (uint8_t)((b < t) << ((i + j) & 7));
        }
        rng->pos += j;
        i += j;
        if (j < run) {
            rng->pos++; /* consume the tied byte */
            if (bernoulli_from(rng, threshold, t)) {
                bits[i >> 3] |= (uint8_t)(1u << (i & 7));
            }
            i++;
        }
    }
}

uint64_t hush_prob_threshold(double p, bool round_up)
{
    if (!(p > 0.0)) {
        return 0;
    }
    if (!(p < 1.0)) {
        return UINT64_MAX;
    }
    /* long double keeps 64 significant bits on x86-64, so the scaled value is
     * exact before the safety margin moves it by a relative 2^-40. */
    long double scaled = (long double)p * 0x1.0p64L;
    scaled *= round_up ? (1.0L + 0x1.0p-40L) : (1.0L - 0x1.0p-40L);
    scaled = round_up ? ceill(scaled) : floorl(scaled);
    if (scaled >= 0x1.0p64L) {
        return UINT64_MAX;
    }
    if (scaled < 1.0L) {
        return round_up ? 1 : 0;
    }
    return (uint64_t)scaled;
}

double hush_threshold_prob(uint64_t threshold)
{
    return (double)((long double)threshold * 0x1.0p-64L);
}

double hush_normal_quantile(double p)
{
    /* Acklam's rational approximation (relative error < 1.2e-9), refined by
     * one Halley step against erfc, which brings it to double precision. */
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                               2.445134137142996e+00, 3.754408661907416e+00};
    if (!(p > 0.0 && p < 1.0)) {
        return NAN;
    }
    double x;
    const double plow = 0.02425;
    if (p < plow) {
        double q = sqrt(-2.0 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    } else if (p <= 1.0 - plow) {
        double q = p - 0.5;
        double r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
    } else {
        double q = sqrt(-2.0 * log1p(-p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    }
    double e = 0.5 * erfc(-x / sqrt(2.0)) - p;
    double u = e * sqrt(2.0 * M_PI) * exp(x * x / 2.0);
    return x - u / (1.0 + x * u / 2.0);
}
