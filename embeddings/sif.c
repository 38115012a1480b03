/*
 * sif.c - SIF tables: word vectors quantized to int8, each word with its
 * smooth-inverse-frequency weight, and the common component that the "sif"
 * embedder removes (Arora, Liang & Ma 2017, "A simple but tough-to-beat
 * baseline for sentence embeddings").  Building a table from vectors in
 * frequency order, reading it back, loading a file, and word neighbours.
 *
 * File format (little-endian):
 *   0   8     magic "HUSHSIF1"
 *   8   4     version (1)
 *   12  4     dim
 *   16  4     words n
 *   20  4     reserved (0)
 *   24  8     vocabulary size V the frequencies were estimated over
 *   32  4     a (float)
 *   36  4     weight of an unknown word (float)
 *   40  4     norm of an unknown word's vector (float)
 *   44  4     reserved (0)
 *   48  4 dim the common component (float, unit length)
 *   ..  4 n   SIF weights (float)
 *   ..  4 n   scales (float)
 *   ..  n dim int8 rows
 *   ..        n words: length (1 byte), bytes (normalized, one token each)
 *   end 8     XXH3-64 of everything before: the table's checksum
 *
 * Invariants of a table read back: every number finite, weights in (0, 1],
 * scales >= 0, the common component of unit length, words normalized,
 * non-empty and distinct.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "embed_internal.h"

#define SIF_MAGIC "HUSHSIF1"
#define SIF_HEADER 48u
#define SIF_MAX_WORDS (1u << 24)
#define WORDVEC_FILE_MAX ((size_t)2 << 30)
/* Word vectors have coordinates of order 1 (GloVe's are below 10); a scale
 * this large (coordinates up to 127e6) is a damaged table, and refusing it
 * keeps every sum far from overflow. */
#define SIF_SCALE_MAX 1e6f

static void put_f32(uint8_t *p, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    hush_store_le32(p, bits);
}

static float get_f32(const uint8_t *p)
{
    uint32_t bits = hush_load_le32(p);
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int hush_sif_table_build(const hush_wordvec *ordered, size_t max_words, uint64_t vocab,
                         double a, uint8_t **out, size_t *out_len, hush_err *err)
{
    if (ordered == NULL || ordered->vec == NULL) {
        return hush_err_set(err, HUSH_EINVAL,
                            "a SIF table is built from a text word-vector table");
    }
    if (!(a > 0.0 && a < 1.0)) {
        return hush_err_set(err, HUSH_ERANGE, "SIF parameter a = %g is not in (0, 1)", a);
    }
    if (max_words == 0) {
        return hush_err_set(err, HUSH_ERANGE, "a SIF table needs at least one word");
    }
    size_t n = ordered->n < max_words ? ordered->n : max_words;
    uint32_t dim = ordered->dim;
    uint64_t v_size = vocab > ordered->n ? vocab : ordered->n;
    if (n > SIF_MAX_WORDS || v_size > (UINT64_C(1) << 40)) {
        return hush_err_set(err, HUSH_ETOOBIG, "SIF table: too many words");
    }
    size_t words_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(ordered->words + ordered->word_off[i]);
        if (l > 255) {
            return hush_err_set(err, HUSH_EINVAL,
                                "SIF table: word %zu is longer than 255 bytes", i + 1);
        }
        words_bytes += 1 + l;
    }
    size_t len = SIF_HEADER + 4 * (size_t)dim + 8 * n + n * (size_t)dim + words_bytes + 8;
    uint8_t *buf = hush_calloc(len, 1);
    double *norms = hush_malloc(n * sizeof *norms);
    double *common = hush_calloc(dim, sizeof *common);
    if (buf == NULL || norms == NULL || common == NULL) {
        hush_free(buf);
        hush_free(norms);
        hush_free(common);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory building a SIF table");
    }
    /* the harmonic number H_V: the Zipf normalization */
    double h = 0.0;
    for (uint64_t k = v_size; k >= 1; k--) {
        h += 1.0 / (double)k; /* smallest terms first */
    }
    uint8_t *wp = buf + SIF_HEADER + 4 * (size_t)dim;
    uint8_t *sp = wp + 4 * n;
    int8_t *qp = (int8_t *)(sp + 4 * n);
    uint8_t *tp = (uint8_t *)qp + n * (size_t)dim;
    for (size_t i = 0; i < n; i++) {
        const float *v = ordered->vec + i * dim;
        double p = 1.0 / ((double)(i + 1) * h);
        double alpha = a / (a + p);
        float m = 0.0f; /* (refused above SIF_SCALE_MAX * 127 when read back) */
        for (uint32_t d = 0; d < dim; d++) {
            m = fabsf(v[d]) > m ? fabsf(v[d]) : m;
        }
        float scale = m / 127.0f;
        double ss = 0.0;
        for (uint32_t d = 0; d < dim; d++) {
            long q = scale > 0.0f ? lrintf(v[d] / scale) : 0;
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            qp[i * dim + d] = (int8_t)q;
            double x = (double)scale * (double)q;
            ss += x * x;
            common[d] += p * alpha * x;
        }
        norms[i] = sqrt(ss);
        put_f32(wp + 4 * i, (float)alpha);
        put_f32(sp + 4 * i, scale);
        const char *word = ordered->words + ordered->word_off[i];
        size_t l = strlen(word);
        *tp++ = (uint8_t)l;
        memcpy(tp, word, l);
        tp += l;
    }
    double cs = 0.0;
    for (uint32_t d = 0; d < dim; d++) {
        cs += common[d] * common[d];
    }
    int rc = 0;
    if (!(cs > 0.0)) {
        rc = hush_err_set(err, HUSH_EINVAL, "SIF table: the vectors sum to zero");
    } else {
        double inv = 1.0 / sqrt(cs);
        for (uint32_t d = 0; d < dim; d++) {
            put_f32(buf + SIF_HEADER + 4 * d, (float)(common[d] * inv));
        }
        qsort(norms, n, sizeof *norms, cmp_double);
        double median = n % 2 ? norms[n / 2] : 0.5 * (norms[n / 2 - 1] + norms[n / 2]);
        double p_rare = 1.0 / ((double)v_size * h);
        memcpy(buf, SIF_MAGIC, 8);
        hush_store_le32(buf + 8, 1);
        hush_store_le32(buf + 12, dim);
        hush_store_le32(buf + 16, (uint32_t)n);
        hush_store_le64(buf + 24, v_size);
        put_f32(buf + 32, (float)a);
        put_f32(buf + 36, (float)(a / (a + p_rare)));
        put_f32(buf + 40, (float)median);
        hush_store_le64(buf + len - 8, XXH3_64bits(buf, len - 8));
    }
    hush_free(norms);
    hush_free(common);
    if (rc != 0) {
        hush_free(buf);
        return rc;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

static int corrupt(hush_err *err, const char *what)
{
    return hush_err_set(err, HUSH_ECORRUPT, "SIF table: %s", what);
}

int hush_wordvec_read(const uint8_t *buf, size_t len, hush_wordvec **out, hush_err *err)
{
    if (len < SIF_HEADER + 8 || memcmp(buf, SIF_MAGIC, 8) != 0) {
        return corrupt(err, "not a SIF table (bad magic or too short)");
    }
    if (hush_load_le32(buf + 8) != 1) {
        return hush_err_set(err, HUSH_EVERSION, "SIF table version %u is not supported",
                            hush_load_le32(buf + 8));
    }
    uint32_t dim = hush_load_le32(buf + 12);
    uint32_t n = hush_load_le32(buf + 16);
    uint64_t vocab = hush_load_le64(buf + 24);
    if (dim == 0 || dim > HUSH_EMBED_DIM_MAX || n == 0) {
        return corrupt(err, "dimension or word count out of range");
    }
    if (n > SIF_MAX_WORDS) {
        return hush_err_set(err, HUSH_ETOOBIG, "SIF table: %u words (at most %u)", n,
                            SIF_MAX_WORDS);
    }
    if (hush_load_le32(buf + 20) != 0 || hush_load_le32(buf + 44) != 0 || vocab < n) {
        return corrupt(err, "bad header");
    }
    size_t fixed = SIF_HEADER + 4 * (size_t)dim + 8 * (size_t)n + (size_t)n * dim;
    if (len < fixed + 8 + 2 * (size_t)n) {
        return corrupt(err, "truncated");
    }
    if (XXH3_64bits(buf, len - 8) != hush_load_le64(buf + len - 8)) {
        return corrupt(err, "checksum mismatch (damaged or truncated file)");
    }
    float a = get_f32(buf + 32), unk_w = get_f32(buf + 36), unk_n = get_f32(buf + 40);
    if (!(a > 0.0f && a < 1.0f) || !(unk_w > 0.0f && unk_w <= 1.0f) ||
        !(unk_n >= 0.0f && unk_n <= 127.0f * SIF_SCALE_MAX * 64.0f)) {
        return corrupt(err, "bad parameters");
    }
    hush_wordvec *w = hush_calloc(1, sizeof *w);
    if (w == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory reading a SIF table");
    }
    w->refs = 1;
    w->sif = true;
    w->dim = dim;
    w->n = n;
    w->a = a;
    w->unk_weight = unk_w;
    w->unk_norm = unk_n;
    w->vocab = vocab;
    size_t words_bytes = len - 8 - fixed; /* lengths + bytes; the blob adds NULs */
    w->common = hush_malloc(dim * sizeof *w->common);
    w->weight = hush_malloc(n * sizeof *w->weight);
    w->scale = hush_malloc(n * sizeof *w->scale);
    w->q = hush_malloc((size_t)n * dim);
    w->words = hush_malloc(words_bytes);
    w->word_off = hush_malloc(n * sizeof *w->word_off);
    int rc = 0;
    char *norm = NULL;
    if (w->common == NULL || w->weight == NULL || w->scale == NULL || w->q == NULL ||
        w->words == NULL || w->word_off == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory reading a SIF table");
        goto out;
    }
    double cs = 0.0;
    for (uint32_t d = 0; d < dim; d++) {
        w->common[d] = get_f32(buf + SIF_HEADER + 4 * d);
        if (!isfinite(w->common[d])) {
            rc = corrupt(err, "common component is not finite");
            goto out;
        }
        cs += (double)w->common[d] * w->common[d];
    }
    if (fabs(cs - 1.0) > 1e-3) {
        rc = corrupt(err, "common component is not of unit length");
        goto out;
    }
    const uint8_t *wp = buf + SIF_HEADER + 4 * (size_t)dim, *sp = wp + 4 * (size_t)n;
    for (uint32_t i = 0; i < n; i++) {
        w->weight[i] = get_f32(wp + 4 * (size_t)i);
        w->scale[i] = get_f32(sp + 4 * (size_t)i);
        if (!(w->weight[i] > 0.0f && w->weight[i] <= 1.0f) ||
            !(w->scale[i] >= 0.0f && w->scale[i] <= SIF_SCALE_MAX)) {
            rc = corrupt(err, "bad weight or scale");
            goto out;
        }
    }
    memcpy(w->q, sp + 4 * (size_t)n, (size_t)n * dim);
    const uint8_t *tp = buf + fixed, *tend = buf + len - 8;
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t l = tp < tend ? *tp : 0;
        if (tp >= tend || l == 0 || l > (size_t)(tend - tp - 1)) {
            rc = corrupt(err, "word list truncated or has an empty word");
            goto out;
        }
        size_t nlen = 0;
        if ((rc = hush_text_normalize((const char *)tp + 1, l, &norm, &nlen, err)) != 0) {
            goto out;
        }
        if (nlen != l || memcmp(norm, tp + 1, l) != 0) {
            rc = corrupt(err, "a word is not in normalized form");
            goto out;
        }
        hush_free(norm);
        norm = NULL;
        w->word_off[i] = off;
        memcpy(w->words + off, tp + 1, l);
        w->words[off + l] = '\0';
        off += l + 1;
        tp += 1 + l;
    }
    if (tp != tend) {
        rc = corrupt(err, "trailing bytes after the word list");
        goto out;
    }
    if ((rc = hush__wordvec_index(w)) != 0) {
        rc = rc == HUSH_ENOMEM ? hush_err_set(err, rc, "out of memory indexing words")
                               : corrupt(err, "a word repeats");
        goto out;
    }
    w->checksum = hush_load_le64(buf + len - 8);
out:
    hush_free(norm);
    if (rc != 0) {
        hush_wordvec_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int hush_wordvec_load(const char *path, hush_wordvec **out, hush_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return hush_err_set(err, HUSH_EIO, "cannot open %s: %s", path, strerror(errno));
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    /* a regular file is read in one buffer of its size (no regrowth: the
     * peak memory of loading is the file plus the table, which matters on
     * a phone); anything else grows as it reads */
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uint64_t)st.st_size < WORDVEC_FILE_MAX) {
        cap = (size_t)st.st_size + 1;
        buf = hush_malloc(cap);
        if (buf == NULL) {
            fclose(f);
            return hush_err_set(err, HUSH_ENOMEM, "out of memory reading %s", path);
        }
    }
    for (;;) {
        if (len == cap) {
            if (cap >= WORDVEC_FILE_MAX) {
                rc = hush_err_set(err, HUSH_ETOOBIG, "%s is larger than 2 GiB", path);
                break;
            }
            size_t ncap = cap ? cap * 2 : (size_t)1 << 20;
            uint8_t *nb = hush_realloc(buf, ncap);
            if (nb == NULL) {
                rc = hush_err_set(err, HUSH_ENOMEM, "out of memory reading %s", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                rc = hush_err_set(err, HUSH_EIO, "cannot read %s", path);
            }
            break;
        }
    }
    fclose(f);
    if (rc == 0) {
        rc = len >= 8 && memcmp(buf, SIF_MAGIC, 8) == 0
                 ? hush_wordvec_read(buf, len, out, err)
                 : hush_wordvec_parse((const char *)buf, len, out, err);
    }
    hush_free(buf);
    return rc;
}

bool hush_wordvec_is_sif(const hush_wordvec *w)
{
    return w->sif;
}

long hush_wordvec_lookup(const hush_wordvec *w, const char *word, size_t len)
{
    size_t r = hush__wordvec_find(w, word, len);
    return r == SIZE_MAX ? -1 : (long)r;
}

const char *hush_wordvec_word(const hush_wordvec *w, size_t i)
{
    return i < w->n ? w->words + w->word_off[i] : NULL;
}

/* Row i as doubles (dequantized for SIF tables). */
static void row_values(const hush_wordvec *w, size_t i, double *out)
{
    for (uint32_t d = 0; d < w->dim; d++) {
        out[d] = w->sif ? (double)w->scale[i] * (double)w->q[i * w->dim + d]
                        : (double)w->vec[i * w->dim + d];
    }
}

int hush_wordvec_neighbours(const hush_wordvec *w, size_t row, size_t first, size_t limit,
                            size_t k, uint32_t *out, size_t *n_out, hush_err *err)
{
    *n_out = 0;
    if (row >= w->n) {
        return hush_err_set(err, HUSH_ERANGE, "row %zu is beyond the table's %zu words",
                            row, w->n);
    }
    limit = limit < w->n ? limit : w->n;
    double *x = hush_malloc(2 * w->dim * sizeof *x);
    double *best = hush_malloc((k ? k : 1) * sizeof *best);
    if (x == NULL || best == NULL) {
        hush_free(x);
        hush_free(best);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory finding neighbours");
    }
    double *y = x + w->dim;
    const int8_t *qx = w->sif ? w->q + row * w->dim : NULL;
    double xx = 0.0;
    if (w->sif) {
        /* integer dot products: the scales cancel in the cosine */
        int32_t ixx = 0;
        for (uint32_t d = 0; d < w->dim; d++) {
            ixx += (int32_t)qx[d] * qx[d];
        }
        xx = (double)ixx;
    } else {
        row_values(w, row, x);
        for (uint32_t d = 0; d < w->dim; d++) {
            xx += x[d] * x[d];
        }
    }
    size_t have = 0;
    for (size_t j = first; j < limit && k > 0 && xx > 0.0; j++) {
        if (j == row) {
            continue;
        }
        double xy = 0.0, yy = 0.0;
        if (w->sif) {
            const int8_t *qy = w->q + j * w->dim;
            int32_t ixy = 0, iyy = 0;
            for (uint32_t d = 0; d < w->dim; d++) {
                ixy += (int32_t)qx[d] * qy[d];
                iyy += (int32_t)qy[d] * qy[d];
            }
            xy = (double)ixy;
            yy = (double)iyy;
        } else {
            row_values(w, j, y);
            for (uint32_t d = 0; d < w->dim; d++) {
                xy += x[d] * y[d];
                yy += y[d] * y[d];
            }
        }
        if (yy == 0.0) {
            continue;
        }
        double c = xy / sqrt(xx * yy);
        if (have == k && c <= best[k - 1]) {
            continue;
        }
        size_t pos = have < k ? have++ : k - 1;
        while (pos > 0 && best[pos - 1] < c) {
            best[pos] = best[pos - 1];
            out[pos] = out[pos - 1];
            pos--;
        }
        best[pos] = c;
        out[pos] = (uint32_t)j;
    }
    *n_out = have;
    hush_free(x);
    hush_free(best);
    return 0;
}

int hush_sif_table_recommon(const uint8_t *table, size_t len, const char *const *texts,
                            const size_t *lens, size_t n, uint8_t **out, size_t *out_len,
                            hush_err *err)
{
    hush_wordvec *w = NULL;
    int rc = hush_wordvec_read(table, len, &w, err);
    if (rc != 0) {
        return rc;
    }
    uint32_t dim = w->dim;
    double *m = hush_calloc((size_t)dim * dim, sizeof *m);
    double *v = hush_malloc(3 * (size_t)dim * sizeof *v);
    uint8_t *buf = hush_malloc(len);
    if (m == NULL || v == NULL || buf == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory re-fitting a SIF table");
        goto out;
    }
    size_t used = 0;
    for (size_t t = 0; t < n && rc == 0; t++) {
        char *norm = NULL;
        size_t nlen = 0;
        if ((rc = hush_text_normalize(texts[t], lens[t], &norm, &nlen, err)) != 0) {
            break;
        }
        /* the text's SIF sum over its known words, before any removal */
        memset(v, 0, dim * sizeof *v);
        for (size_t i = 0; i < nlen;) {
            size_t j = i;
            while (j < nlen && norm[j] != ' ') {
                j++;
            }
            size_t r = hush__wordvec_find(w, norm + i, j - i);
            if (r != SIZE_MAX) {
                for (uint32_t d = 0; d < dim; d++) {
                    v[d] += (double)w->weight[r] *
                            ((double)w->scale[r] * (double)w->q[r * dim + d]);
                }
            }
            i = j + 1;
        }
        hush_free(norm);
        double ss = 0;
        for (uint32_t d = 0; d < dim; d++) {
            ss += v[d] * v[d];
        }
        if (ss == 0) {
            continue;
        }
        double inv = 1.0 / sqrt(ss);
        for (uint32_t a = 0; a < dim; a++) {
            for (uint32_t b = 0; b < dim; b++) {
                m[(size_t)a * dim + b] += (v[a] * inv) * (v[b] * inv);
            }
        }
        used++;
    }
    if (rc == 0 && used == 0) {
        rc = hush_err_set(err, HUSH_EINVAL,
                          "no text of the corpus has a word of the table");
    }
    if (rc != 0) {
        goto out;
    }
    /* the first principal component (uncentered, as in Arora et al.):
     * power iteration from the table's own component, a fixed number of
     * steps, the sign of the start kept */
    double *x = v + dim, *y = v + 2 * (size_t)dim;
    for (uint32_t d = 0; d < dim; d++) {
        x[d] = (double)w->common[d];
    }
    for (int it = 0; it < 300; it++) {
        double ss = 0;
        for (uint32_t a = 0; a < dim; a++) {
            double s = 0;
            for (uint32_t b = 0; b < dim; b++) {
                s += m[(size_t)a * dim + b] * x[b];
            }
            y[a] = s;
            ss += s * s;
        }
        double inv = 1.0 / sqrt(ss);
        for (uint32_t d = 0; d < dim; d++) {
            x[d] = y[d] * inv;
        }
    }
    double dot = 0;
    for (uint32_t d = 0; d < dim; d++) {
        dot += x[d] * (double)w->common[d];
    }
    memcpy(buf, table, len);
    for (uint32_t d = 0; d < dim; d++) {
        put_f32(buf + SIF_HEADER + 4 * d, (float)(dot < 0 ? -x[d] : x[d]));
    }
    hush_store_le64(buf + len - 8, XXH3_64bits(buf, len - 8));
    *out = buf;
    *out_len = len;
    buf = NULL;
out:
    hush_free(buf);
    hush_free(m);
    hush_free(v);
    hush_wordvec_free(w);
    return rc;
}
