/*
 * fwht.c - the in-place fast Walsh-Hadamard transform that HR and HCMS
 * estimate with.
 *
 * x <- H_n x, H_n[i][j] = (-1)^popcount(i & j), unnormalised, n a power of
 * two: log2 n passes of n/2 butterflies, O(n log n).  The first passes (small
 * strides) run block by block so that a block stays in L1 while it goes
 * through all of them; only the large-stride passes stream the whole array.
 */
#include "privacy_internal.h"
#include <math.h>

#define FWHT_BLOCK 2048 /* doubles: 16 KiB, half of a small L1 */

HUSH_TARGET_CLONES
static void passes(double *x, size_t n, size_t h_from, size_t h_to)
{
    for (size_t h = h_from; h < h_to; h <<= 1) {
        for (size_t i = 0; i < n; i += h << 1) {
            for (size_t j = i; j < i + h; j++) {
                double a = x[j];
                double b = x[j + h];
                x[j] = a + b;
                x[j + h] = a - b;
            }
        }
    }
}

void hush__fwht(double *x, size_t n)
{
    size_t block = n < FWHT_BLOCK ? n : FWHT_BLOCK;
    for (size_t i = 0; i < n; i += block) {
        passes(x + i, block, 1, block);
    }
    passes(x, n, block, n);
}

int hush_hadamard(double *x, size_t n)
{
    if (n == 0 || (n & (n - 1)) != 0) {
        return HUSH_EINVAL;
    }
    hush__fwht(x, n);
    double scale = 1.0 / sqrt((double)n);
    for (size_t i = 0; i < n; i++) {
        x[i] *= scale;
    }
    return 0;
}
