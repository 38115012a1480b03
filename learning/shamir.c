/*
 * shamir.c - Shamir secret sharing of 32-byte secrets over the prime field
 * GF(2^127 - 1), in constant time.
 *
 * A secret is two field elements; each is the constant term of its own
 * random polynomial of degree t - 1, and a share is both polynomials'
 * values at the receiver's x (its key-list index + 1).  Any t shares give
 * the secret (Lagrange at 0); t - 1 give no information about it.
 *
 * Arithmetic on secrets never branches on or indexes by secret data: a
 * product is four 64x64 multiplications folded twice with p = 2^127 - 1
 * (2^127 = 1 mod p), and the final conditional subtraction is a mask.  The
 * x coordinates are public.  Polynomial coefficients are wiped with
 * sodium_memzero.
 */
#include <sodium.h>
#include <string.h>

#include "hush_common.h"
#include "secagg_internal.h"

#define P127 ((((hush__fe)1) << 127) - 1)

/* s < 2^128 reduced to [0, p) without branches. */
static hush__fe reduce(hush__fe s)
{
    s = (s & P127) + (s >> 127);              /* < 2^127 + 1 */
    hush__fe d = s - P127;                    /* top bit set iff s < p */
    hush__fe keep = (hush__fe)0 - (d >> 127); /* all ones iff s < p */
    return (s & keep) | (d & ~keep);
}

hush__fe hush__fe_add(hush__fe a, hush__fe b)
{
    return reduce(a + b);
}

hush__fe hush__fe_sub(hush__fe a, hush__fe b)
{
    return reduce(a + (P127 - b));
}

hush__fe hush__fe_mul(hush__fe a, hush__fe b)
{
    uint64_t a0 = (uint64_t)a, a1 = (uint64_t)(a >> 64);
    uint64_t b0 = (uint64_t)b, b1 = (uint64_t)(b >> 64);
    hush__fe lo = (hush__fe)a0 * b0;
    hush__fe mid = (hush__fe)a0 * b1 + (hush__fe)a1 * b0; /* < 2^128: a1, b1 < 2^63 */
    hush__fe hi = (hush__fe)a1 * b1;
    /* the 254-bit product in four limbs */
    uint64_t r0 = (uint64_t)lo;
    hush__fe t1 = (lo >> 64) + (uint64_t)mid;
    uint64_t r1 = (uint64_t)t1;
    hush__fe t2 = (t1 >> 64) + (mid >> 64) + (uint64_t)hi;
    uint64_t r2 = (uint64_t)t2;
    uint64_t r3 = (uint64_t)(hi >> 64) + (uint64_t)(t2 >> 64);
    /* product = L + H 2^127 = L + H (mod p) */
    hush__fe low = ((hush__fe)(r1 & 0x7fffffffffffffffULL) << 64) | r0;
    hush__fe high = ((hush__fe)r3 << 65) | ((hush__fe)r2 << 1) | (r1 >> 63);
    return reduce(low + high);
}

hush__fe hush__fe_inv(hush__fe a)
{
    /* a^(p-2): p - 2 = 2^127 - 3, every bit set but bit 1 -- the same
     * squarings and multiplications for every a */
    hush__fe r = 1;
    for (int bit = 126; bit >= 0; bit--) {
        r = hush__fe_mul(r, r);
        if (bit != 1) {
            r = hush__fe_mul(r, a);
        }
    }
    return r;
}

void hush__fe_store(uint8_t out[16], hush__fe a)
{
    for (int i = 0; i < 16; i++) {
        out[i] = (uint8_t)(a >> (8 * i));
    }
}

int hush__fe_load(const uint8_t in[16], hush__fe *out)
{
    hush__fe a = 0;
    for (int i = 15; i >= 0; i--) {
        a = (a << 8) | in[i];
    }
    *out = a;
    return a < P127 ? 0 : HUSH_EINVAL;
}

/* A uniform element (127 random bits; the one value = p maps to 0, a bias
 * of 2^-127). */
static hush__fe fe_random(void)
{
    uint8_t b[16];
    randombytes_buf(b, sizeof b);
    b[15] &= 0x7f;
    hush__fe a = 0;
    hush__fe_load(b, &a);
    sodium_memzero(b, sizeof b);
    return reduce(a);
}

void hush__secret_random(uint8_t out[HUSH__SECRET_BYTES])
{
    hush__fe a = fe_random(), b = fe_random();
    hush__fe_store(out, a);
    hush__fe_store(out + 16, b);
    sodium_memzero(&a, sizeof a);
    sodium_memzero(&b, sizeof b);
}

int hush__shamir_split(const uint8_t secret[HUSH__SECRET_BYTES], uint32_t t,
                       const uint32_t *xs, size_t m, uint8_t *out, hush_err *err)
{
    if (t < 1 || t > m || t > HUSH_SECAGG_MAX_DEVICES) {
        return hush_err_set(err, HUSH_EINVAL, "shamir: t must be in [1, %zu]", m);
    }
    hush__fe *coef = hush_malloc(2 * (size_t)t * sizeof *coef);
    if (coef == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (int half = 0; half < 2 && rc == 0; half++) {
        hush__fe *c = coef + (size_t)half * t;
        /* no test on the secret (it would branch on it): a half is < p by
         * construction (hush__secret_random); reduce() keeps it in the field */
        hush__fe raw = 0;
        for (int i = 15; i >= 0; i--) {
            raw = (raw << 8) | secret[16 * half + i];
        }
        c[0] = reduce(raw);
        sodium_memzero(&raw, sizeof raw);
        for (uint32_t j = 1; j < t; j++) {
            c[j] = fe_random();
        }
    }
    for (size_t i = 0; rc == 0 && i < m; i++) {
        if (xs[i] == 0) {
            rc = hush_err_set(err, HUSH_EINVAL, "shamir: x = 0 would reveal the secret");
            break;
        }
        for (int half = 0; half < 2; half++) {
            const hush__fe *c = coef + (size_t)half * t;
            hush__fe y = 0, x = xs[i];
            for (uint32_t j = t; j-- > 0;) { /* Horner */
                y = hush__fe_add(hush__fe_mul(y, x), c[j]);
            }
            hush__fe_store(out + i * HUSH_SECAGG_SHARE_BYTES + 16 * half, y);
        }
    }
    sodium_memzero(coef, 2 * (size_t)t * sizeof *coef);
    hush_free(coef);
    return rc;
}

int hush__shamir_join(const uint32_t *xs, const uint8_t *shares, uint32_t t,
                      uint8_t secret[HUSH__SECRET_BYTES], hush_err *err)
{
    hush__fe acc[2] = {0, 0};
    for (uint32_t i = 0; i < t; i++) {
        /* the Lagrange coefficient at 0: prod_{j != i} x_j / (x_j - x_i) */
        hush__fe num = 1, den = 1;
        for (uint32_t j = 0; j < t; j++) {
            if (j == i) {
                continue;
            }
            if (xs[j] == xs[i] || xs[i] == 0) {
                return hush_err_set(err, HUSH_EINVAL,
                                    "shamir: shares need distinct non-zero x");
            }
            num = hush__fe_mul(num, xs[j]);
            den = hush__fe_mul(den, hush__fe_sub(xs[j], xs[i]));
        }
        hush__fe lambda = hush__fe_mul(num, hush__fe_inv(den));
        for (int half = 0; half < 2; half++) {
            hush__fe y;
            if (hush__fe_load(shares + (size_t)i * HUSH_SECAGG_SHARE_BYTES + 16 * half,
                              &y) != 0) {
                sodium_memzero(acc, sizeof acc);
                return hush_err_set(err, HUSH_EINVAL, "shamir: a share is not < p");
            }
            acc[half] = hush__fe_add(acc[half], hush__fe_mul(y, lambda));
        }
    }
    hush__fe_store(secret, acc[0]);
    hush__fe_store(secret + 16, acc[1]);
    sodium_memzero(acc, sizeof acc);
    return 0;
}
