/*
 * features.c - hashed word and character n-gram features of normalized text,
 * and the deterministic logarithm the weights use.
 *
 * A word n-gram is n consecutive tokens; in normalized text they are one
 * contiguous substring (tokens are separated by single spaces), hashed as
 * is with XXH3-64 under seed + n.  A character n-gram is n consecutive code
 * points of "<token>" (fastText's boundary markers), hashed under
 * seed + 64 + n.  Bit 0 of every stored hash is replaced by the feature's
 * group (word or char), so the two groups never share a feature.
 */
#include <xxhash.h>

#include "embed_internal.h"

#define LN2 0.6931471805599453094

double hush__det_log(double x)
{
    /* x = m 2^k, m in [1, 2): halving is exact. */
    double k = 0.0;
    while (x >= 2.0) {
        x *= 0.5;
        k += 1.0;
    }
    /* ln m = 2 atanh(s), s = (m-1)/(m+1) < 1/3: 30 terms reach far below
     * one ulp, and a fixed count keeps the operation sequence fixed. */
    double s = (x - 1.0) / (x + 1.0);
    double s2 = s * s;
    double term = s;
    double sum = 0.0;
    for (int i = 0; i < 30; i++) {
        sum += term / (2.0 * i + 1.0);
        term *= s2;
    }
    return k * LN2 + 2.0 * sum;
}

void hush__features_dispose(hush__features *f)
{
    hush_free(f->h);
    f->h = NULL;
    f->n = f->cap = 0;
}

static int push(hush__features *f, uint64_t h, unsigned group)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 256;
        uint64_t *nh = hush_realloc(f->h, cap * sizeof *nh);
        if (nh == NULL) {
            return HUSH_ENOMEM;
        }
        f->h = nh;
        f->cap = cap;
    }
    f->h[f->n++] = (h & ~UINT64_C(1)) | group;
    return 0;
}

int hush__extract_char_ngrams(const hush__ngram_config *cfg, const char *tok, size_t len,
                              hush__features *f)
{
    if (cfg->char_max == 0 || len == 0) {
        return 0;
    }
    /* "<" token ">" and the byte offset of each of its code points */
    size_t blen = len + 2;
    char *buf = hush_malloc(blen);
    size_t *off = hush_malloc((blen + 1) * sizeof *off);
    int rc = 0;
    if (buf == NULL || off == NULL) {
        rc = HUSH_ENOMEM;
        goto out;
    }
    buf[0] = '<';
    memcpy(buf + 1, tok, len);
    buf[blen - 1] = '>';
    size_t ncp = 0;
    for (size_t i = 0; i < blen;) {
        size_t used;
        hush__utf8_decode((const uint8_t *)buf + i, blen - i, &used);
        off[ncp++] = i;
        i += used;
    }
    off[ncp] = blen;
    for (uint32_t n = cfg->char_min; n <= cfg->char_max && rc == 0; n++) {
        for (size_t i = 0; i + n <= ncp; i++) {
            uint64_t h = XXH3_64bits_withSeed(buf + off[i], off[i + n] - off[i],
                                              cfg->seed + 64 + n);
            if ((rc = push(f, h, HUSH__GROUP_CHAR)) != 0) {
                break;
            }
        }
    }
out:
    hush_free(buf);
    hush_free(off);
    return rc;
}

int hush__extract_features(const hush__ngram_config *cfg, const char *norm, size_t len,
                           hush__features *f)
{
    /* token boundaries */
    size_t ntok = 0;
    for (size_t i = 0; i < len; i++) {
        ntok += (i == 0 || norm[i - 1] == ' ') && norm[i] != ' ';
    }
    if (ntok == 0) {
        return 0;
    }
    size_t *start = hush_malloc(ntok * sizeof *start);
    size_t *end = hush_malloc(ntok * sizeof *end);
    int rc = 0;
    if (start == NULL || end == NULL) {
        rc = HUSH_ENOMEM;
        goto out;
    }
    size_t t = 0;
    for (size_t i = 0; i < len; i++) {
        if ((i == 0 || norm[i - 1] == ' ') && norm[i] != ' ') {
            start[t] = i;
        }
        if (norm[i] != ' ' && (i + 1 == len || norm[i + 1] == ' ')) {
            end[t++] = i + 1;
        }
    }
    for (uint32_t n = cfg->word_min; n != 0 && n <= cfg->word_max && rc == 0; n++) {
        for (size_t i = 0; i + n <= ntok; i++) {
            uint64_t h = XXH3_64bits_withSeed(norm + start[i], end[i + n - 1] - start[i],
                                              cfg->seed + n);
            if ((rc = push(f, h, HUSH__GROUP_WORD)) != 0) {
                break;
            }
        }
    }
    for (size_t i = 0; i < ntok && rc == 0; i++) {
        rc = hush__extract_char_ngrams(cfg, norm + start[i], end[i] - start[i], f);
    }
out:
    hush_free(start);
    hush_free(end);
    return rc;
}

/* LSD radix sort, eight passes of eight bits: the same ascending order as a
 * comparison sort (so the same floating-point sums downstream), in linear
 * time.  Passes whose byte is constant across the input are skipped. */
int hush__features_sort(hush__features *f)
{
    size_t n = f->n;
    if (n < 2) {
        return 0;
    }
    uint64_t *tmp = hush_malloc(n * sizeof *tmp);
    if (tmp == NULL) {
        return HUSH_ENOMEM;
    }
    uint64_t *src = f->h, *dst = tmp;
    for (unsigned shift = 0; shift < 64; shift += 8) {
        size_t count[256] = {0};
        for (size_t i = 0; i < n; i++) {
            count[(src[i] >> shift) & 0xffu]++;
        }
        if (count[(src[0] >> shift) & 0xffu] == n) {
            continue;
        }
        size_t pos = 0;
        for (unsigned b = 0; b < 256; b++) {
            size_t c = count[b];
            count[b] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++) {
            dst[count[(src[i] >> shift) & 0xffu]++] = src[i];
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != f->h) {
        memcpy(f->h, src, n * sizeof *src);
    }
    hush_free(tmp);
    return 0;
}
