/*
 * idf.c - IDF model files: built by the collector from a public corpus,
 * shipped to devices, named in the embedder description by checksum.
 *
 * Format (little-endian):
 *   off size field
 *     0    8 magic "HUSHIDF1"
 *     8    4 version (1)
 *    12    4 entries n
 *    16    8 fingerprint of the n-gram configuration it was built for
 *    24    8 documents N
 *    32    4 default weight (float bits), for features not in the table
 *    36    4 reserved (0)
 *    40 12*n entries: feature hash (8), weight (float bits, 4); hashes strictly
 *            increasing
 *   end    8 XXH3-64 of everything before; its hex is the model's checksum
 *
 * Weights are computed once at build time (idf = ln((1+N)/(1+df)) + 1, the
 * smoothed IDF) and stored as float bits: a device only looks them up.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#include "embed_internal.h"

#define IDF_MAGIC "HUSHIDF1"
#define IDF_HEADER 40u
#define IDF_ENTRY 12u
#define IDF_MAX_ENTRIES (1u << 26)

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void hush_idf_checksum(const uint8_t *model, size_t len, char hex[17])
{
    uint64_t sum = len >= 8 ? hush_load_le64(model + len - 8) : 0;
    snprintf(hex, 17, "%016llx", (unsigned long long)sum);
}

void hush__idf_dispose(hush__idf *idf)
{
    hush_free(idf->hash);
    hush_free(idf->weight);
    memset(idf, 0, sizeof *idf);
}

int hush__idf_parse(const uint8_t *buf, size_t len, hush__idf *out, hush_err *err)
{
    memset(out, 0, sizeof *out);
    if (len < IDF_HEADER + 8 || memcmp(buf, IDF_MAGIC, 8) != 0) {
        return hush_err_set(err, HUSH_ECORRUPT, "not a hush IDF model (%zu bytes)", len);
    }
    if (hush_load_le32(buf + 8) != 1) {
        return hush_err_set(err, HUSH_EVERSION, "IDF model version %u is not supported",
                            hush_load_le32(buf + 8));
    }
    uint32_t n = hush_load_le32(buf + 12);
    if (n > IDF_MAX_ENTRIES || len != IDF_HEADER + (size_t)n * IDF_ENTRY + 8) {
        return hush_err_set(err, HUSH_ECORRUPT,
                            "IDF model of %zu bytes cannot hold %u entries", len, n);
    }
    if (XXH3_64bits(buf, len - 8) != hush_load_le64(buf + len - 8)) {
        return hush_err_set(err, HUSH_ECORRUPT, "IDF model checksum mismatch");
    }
    out->hash = hush_malloc((n ? n : 1) * sizeof *out->hash);
    out->weight = hush_malloc((n ? n : 1) * sizeof *out->weight);
    if (out->hash == NULL || out->weight == NULL) {
        hush__idf_dispose(out);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory loading %u IDF entries", n);
    }
    out->n = n;
    out->config_fingerprint = hush_load_le64(buf + 16);
    out->default_weight = bits_float(hush_load_le32(buf + 32));
    const uint8_t *p = buf + IDF_HEADER;
    for (uint32_t i = 0; i < n; i++, p += IDF_ENTRY) {
        out->hash[i] = hush_load_le64(p);
        out->weight[i] = bits_float(hush_load_le32(p + 8));
        if ((i > 0 && out->hash[i] <= out->hash[i - 1]) || !(out->weight[i] >= 0.0f) ||
            !(out->weight[i] < 1e6f)) {
            hush__idf_dispose(out);
            return hush_err_set(err, HUSH_ECORRUPT, "IDF model entry %u is invalid", i);
        }
    }
    if (!(out->default_weight >= 0.0f) || !(out->default_weight < 1e6f)) {
        hush__idf_dispose(out);
        return hush_err_set(err, HUSH_ECORRUPT, "IDF model default weight is invalid");
    }
    hush_idf_checksum(buf, len, out->checksum);
    return 0;
}

float hush__idf_lookup(const hush__idf *idf, uint64_t h)
{
    size_t lo = 0, hi = idf->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (idf->hash[mid] < h) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < idf->n && idf->hash[lo] == h ? idf->weight[lo] : idf->default_weight;
}

/* ---- building ---- */

/* A sorted run-length list of (feature, document frequency). */
struct df_list {
    uint64_t *h;
    uint32_t *df;
    size_t n;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Merges the features in `pend` (one entry per document occurrence) into
 * `acc`.  Empties `pend`. */
static int merge_pending(struct df_list *acc, hush__features *pend)
{
    qsort(pend->h, pend->n, sizeof *pend->h, cmp_u64);
    size_t cap = acc->n + pend->n;
    uint64_t *h = hush_malloc((cap ? cap : 1) * sizeof *h);
    uint32_t *df = hush_malloc((cap ? cap : 1) * sizeof *df);
    if (h == NULL || df == NULL) {
        hush_free(h);
        hush_free(df);
        return HUSH_ENOMEM;
    }
    size_t i = 0, j = 0, o = 0;
    while (i < acc->n || j < pend->n) {
        uint64_t next = i < acc->n && (j >= pend->n || acc->h[i] <= pend->h[j])
                            ? acc->h[i]
                            : pend->h[j];
        uint32_t count = 0;
        while (i < acc->n && acc->h[i] == next) {
            count += acc->df[i++];
        }
        while (j < pend->n && pend->h[j] == next) {
            count++;
            j++;
        }
        h[o] = next;
        df[o++] = count;
    }
    hush_free(acc->h);
    hush_free(acc->df);
    acc->h = h;
    acc->df = df;
    acc->n = o;
    pend->n = 0;
    return 0;
}

int hush_idf_build(const char *desc, size_t desc_len, const char *const *docs,
                   const size_t *doc_lens, size_t n_docs, uint32_t min_df, uint8_t **out,
                   size_t *out_len, hush_err *err)
{
    hush_embedder *e = NULL;
    int rc = hush_embedder_new(desc, desc_len, NULL, 0, NULL, &e, err);
    if (rc != 0) {
        return rc;
    }
    hush__ngram_config cfg;
    bool hashed = hush__embedder_ngram(e, &cfg);
    hush_embedder_free(e);
    if (!hashed) {
        return hush_err_set(err, HUSH_EINVAL,
                            "IDF models are for hashed-ngram embedders");
    }
    struct df_list acc = {0};
    hush__features doc = {0}, pend = {0};
    uint8_t *buf = NULL;
    for (size_t d = 0; d < n_docs && rc == 0; d++) {
        char *norm = NULL;
        size_t nlen = 0;
        if ((rc = hush_text_normalize(docs[d], doc_lens[d], &norm, &nlen, err)) != 0) {
            break;
        }
        doc.n = 0;
        rc = hush__extract_features(&cfg, norm, nlen, &doc);
        hush_free(norm);
        if (rc != 0) {
            break;
        }
        if ((rc = hush__features_sort(&doc)) != 0) {
            break;
        }
        for (size_t i = 0; i < doc.n && rc == 0; i++) {
            if (i > 0 && doc.h[i] == doc.h[i - 1]) {
                continue; /* document frequency: once per document */
            }
            if (pend.n == pend.cap) {
                size_t cap = pend.cap ? pend.cap * 2 : 4096;
                uint64_t *nh = hush_realloc(pend.h, cap * sizeof *nh);
                if (nh == NULL) {
                    rc = HUSH_ENOMEM;
                    break;
                }
                pend.h = nh;
                pend.cap = cap;
            }
            pend.h[pend.n++] = doc.h[i];
        }
        if (rc == 0 && pend.n > (1u << 22)) {
            rc = merge_pending(&acc, &pend);
        }
    }
    if (rc == 0) {
        rc = merge_pending(&acc, &pend);
    }
    if (rc != 0) {
        rc = hush_err_set(err, rc, "out of memory building an IDF model");
        goto out;
    }
    size_t kept = 0;
    for (size_t i = 0; i < acc.n; i++) {
        kept += acc.df[i] >= min_df;
    }
    if (kept > IDF_MAX_ENTRIES) {
        rc = hush_err_set(err, HUSH_ETOOBIG, "IDF model would hold %zu features (max %u)",
                          kept, IDF_MAX_ENTRIES);
        goto out;
    }
    size_t len = IDF_HEADER + kept * IDF_ENTRY + 8;
    buf = hush_calloc(len, 1);
    if (buf == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory writing an IDF model");
        goto out;
    }
    double n1 = (double)n_docs + 1.0;
    memcpy(buf, IDF_MAGIC, 8);
    hush_store_le32(buf + 8, 1);
    hush_store_le32(buf + 12, (uint32_t)kept);
    hush_store_le64(buf + 16, hush__ngram_fingerprint(&cfg));
    hush_store_le64(buf + 24, n_docs);
    hush_store_le32(buf + 32, float_bits((float)(hush__det_log(n1) + 1.0)));
    uint8_t *p = buf + IDF_HEADER;
    for (size_t i = 0; i < acc.n; i++) {
        if (acc.df[i] < min_df) {
            continue;
        }
        hush_store_le64(p, acc.h[i]);
        hush_store_le32(p + 8,
                        float_bits((float)(hush__det_log(n1 / (1.0 + acc.df[i])) + 1.0)));
        p += IDF_ENTRY;
    }
    hush_store_le64(buf + len - 8, XXH3_64bits(buf, len - 8));
    *out = buf;
    *out_len = len;
    buf = NULL;
out:
    hush_free(buf);
    hush_free(acc.h);
    hush_free(acc.df);
    hush__features_dispose(&doc);
    hush__features_dispose(&pend);
    return rc;
}
