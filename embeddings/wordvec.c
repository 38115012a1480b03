/*
 * wordvec.c - pretrained word-vector tables in the common text format
 * (word2vec text output, GloVe, fastText .vec): parsing, lookup, checksum.
 *
 * Invariants: every row has exactly `dim` finite floats; words are stored
 * normalized (hush_text_normalize) and unique; the hash index maps each
 * word to its row; the checksum covers dim, the words in order and the
 * float bits, so collector and device can verify they hold the same table.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#include "embed_internal.h"

#define WORDVEC_MAX_WORDS (1u << 24)

void hush_wordvec_free(hush_wordvec *w)
{
    if (w == NULL || __atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL) != 0) {
        return;
    }
    hush_free(w->words);
    hush_free(w->word_off);
    hush_free(w->vec);
    hush_free(w->slot);
    hush_free(w->q);
    hush_free(w->scale);
    hush_free(w->weight);
    hush_free(w->common);
    hush_free(w);
}

hush_wordvec *hush_wordvec_ref(const hush_wordvec *w)
{
    hush_wordvec *m = (hush_wordvec *)w; /* the count is the only mutable field */
    __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
    return m;
}

uint32_t hush_wordvec_dim(const hush_wordvec *w)
{
    return w->dim;
}

size_t hush_wordvec_words(const hush_wordvec *w)
{
    return w->n;
}

void hush_wordvec_checksum(const hush_wordvec *w, char hex[17])
{
    snprintf(hex, 17, "%016llx", (unsigned long long)w->checksum);
}

static uint64_t compute_checksum(const hush_wordvec *w)
{
    XXH3_state_t *st = XXH3_createState();
    if (st == NULL) {
        return 0;
    }
    XXH3_64bits_reset(st);
    uint8_t b[8];
    hush_store_le32(b, w->dim);
    XXH3_64bits_update(st, b, 4);
    hush_store_le64(b, w->n);
    XXH3_64bits_update(st, b, 8);
    for (size_t i = 0; i < w->n; i++) {
        const char *word = w->words + w->word_off[i];
        size_t len = strlen(word);
        hush_store_le32(b, (uint32_t)len);
        XXH3_64bits_update(st, b, 4);
        XXH3_64bits_update(st, word, len);
        for (uint32_t d = 0; d < w->dim; d++) {
            uint32_t bits;
            memcpy(&bits, &w->vec[i * w->dim + d], 4);
            hush_store_le32(b, bits);
            XXH3_64bits_update(st, b, 4);
        }
    }
    uint64_t sum = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return sum;
}

size_t hush__wordvec_find(const hush_wordvec *w, const char *word, size_t len)
{
    size_t mask = w->slots - 1;
    for (size_t s = XXH3_64bits(word, len) & mask;; s = (s + 1) & mask) {
        uint32_t v = w->slot[s];
        if (v == 0) {
            return SIZE_MAX;
        }
        const char *cand = w->words + w->word_off[v - 1];
        if (strncmp(cand, word, len) == 0 && cand[len] == '\0') {
            return v - 1;
        }
    }
}

/* Inserts row i; returns false if the word is already present. */
static bool index_insert(hush_wordvec *w, size_t i)
{
    const char *word = w->words + w->word_off[i];
    size_t len = strlen(word);
    size_t mask = w->slots - 1;
    for (size_t s = XXH3_64bits(word, len) & mask;; s = (s + 1) & mask) {
        if (w->slot[s] == 0) {
            w->slot[s] = (uint32_t)(i + 1);
            return true;
        }
        if (strcmp(w->words + w->word_off[w->slot[s] - 1], word) == 0) {
            return false;
        }
    }
}

static int build_index(hush_wordvec *w)
{
    w->slots = 16;
    while (w->slots < 2 * w->n + 1) {
        w->slots <<= 1;
    }
    w->slot = hush_calloc(w->slots, sizeof *w->slot);
    return w->slot != NULL ? 0 : HUSH_ENOMEM;
}

int hush__wordvec_index(hush_wordvec *w)
{
    if (build_index(w) != 0) {
        return HUSH_ENOMEM;
    }
    for (size_t i = 0; i < w->n; i++) {
        if (!index_insert(w, i)) {
            return HUSH_EINVAL;
        }
    }
    return 0;
}

/* Splits off the next space-separated field of [*p, end). */
static bool next_field(const char **p, const char *end, const char **f, size_t *flen)
{
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t')) {
        s++;
    }
    const char *e = s;
    while (e < end && *e != ' ' && *e != '\t') {
        e++;
    }
    *p = e;
    *f = s;
    *flen = (size_t)(e - s);
    return e > s;
}

/* Parses one float field in the C locale (the caller set it). */
static bool parse_float(const char *f, size_t flen, float *out)
{
    char tmp[64];
    if (flen == 0 || flen >= sizeof tmp) {
        return false;
    }
    memcpy(tmp, f, flen);
    tmp[flen] = '\0';
    char *end = NULL;
    errno = 0;
    float v = strtof(tmp, &end);
    if (*end != '\0' || !isfinite(v)) {
        return false;
    }
    *out = v;
    return true;
}

int hush_wordvec_parse(const char *text, size_t len, hush_wordvec **out, hush_err *err)
{
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (c_locale == (locale_t)0) {
        return hush_err_set(err, HUSH_ENOMEM, "cannot create the C locale");
    }
    locale_t old = uselocale(c_locale);
    hush_wordvec *w = hush_calloc(1, sizeof *w);
    float *row = NULL;
    if (w != NULL) {
        w->refs = 1;
    }
    size_t words_cap = 0, rows_cap = 0, wbytes = 0;
    int rc = 0;
    if (w == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory parsing word vectors");
        goto out;
    }
    const char *p = text, *end = text + len;
    size_t line_no = 0;
    uint64_t header_words = 0;
    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl != NULL ? nl : end;
        const char *line = p;
        p = nl != NULL ? nl + 1 : end;
        line_no++;
        if (le > line && le[-1] == '\r') {
            le--;
        }
        const char *q = line, *f;
        size_t flen;
        if (!next_field(&q, le, &f, &flen)) {
            continue; /* blank line */
        }
        /* the optional header "<words> <dim>" */
        if (line_no == 1) {
            const char *q2 = q, *f2;
            size_t f2len;
            char a[24] = {0}, b[24] = {0};
            if (next_field(&q2, le, &f2, &f2len) && flen < sizeof a && f2len < sizeof b) {
                const char *q3 = q2, *f3;
                size_t f3len;
                memcpy(a, f, flen);
                memcpy(b, f2, f2len);
                uint64_t hw, hd;
                if (!next_field(&q3, le, &f3, &f3len) &&
                    hush_parse_u64(a, 0, UINT64_MAX, "words", &hw, NULL) == 0 &&
                    hush_parse_u64(b, 1, HUSH_EMBED_DIM_MAX, "dim", &hd, NULL) == 0) {
                    header_words = hw;
                    w->dim = (uint32_t)hd;
                    continue;
                }
            }
        }
        if (w->dim == 0) {
            /* dimension from the first row: count its fields */
            const char *q2 = q, *f2;
            size_t f2len;
            uint32_t dim = 0;
            while (next_field(&q2, le, &f2, &f2len)) {
                dim++;
            }
            if (dim == 0 || dim > HUSH_EMBED_DIM_MAX) {
                rc = hush_err_set(err, HUSH_EINVAL,
                                  "word vectors line %zu: %u values (need 1 to %u)",
                                  line_no, dim, HUSH_EMBED_DIM_MAX);
                break;
            }
            w->dim = dim;
        }
        if (row == NULL) {
            row = hush_malloc(w->dim * sizeof *row);
            if (row == NULL) {
                rc = hush_err_set(err, HUSH_ENOMEM, "out of memory parsing word vectors");
                break;
            }
        }
        uint32_t d = 0;
        const char *vf;
        size_t vflen;
        while (next_field(&q, le, &vf, &vflen)) {
            if (d == w->dim || !parse_float(vf, vflen, &row[d])) {
                rc = hush_err_set(err, HUSH_EINVAL,
                                  "word vectors line %zu: %s (need %u finite numbers)",
                                  line_no, d == w->dim ? "too many values" : "bad number",
                                  w->dim);
                break;
            }
            d++;
        }
        if (rc != 0) {
            break;
        }
        if (d != w->dim) {
            rc = hush_err_set(err, HUSH_EINVAL,
                              "word vectors line %zu: %u values, need %u", line_no, d,
                              w->dim);
            break;
        }
        char *norm = NULL;
        size_t nlen = 0;
        if ((rc = hush_text_normalize(f, flen, &norm, &nlen, err)) != 0) {
            break;
        }
        if (nlen == 0 || memchr(norm, ' ', nlen) != NULL) {
            hush_free(norm); /* not a single word after normalization */
            continue;
        }
        if (w->n == WORDVEC_MAX_WORDS) {
            hush_free(norm);
            rc = hush_err_set(err, HUSH_ETOOBIG, "word vectors: more than %u words",
                              WORDVEC_MAX_WORDS);
            break;
        }
        /* grow the word store, the offsets and the rows */
        if (wbytes + nlen + 1 > words_cap) {
            size_t cap = words_cap ? words_cap * 2 : 4096;
            while (cap < wbytes + nlen + 1) {
                cap *= 2;
            }
            char *nw = hush_realloc(w->words, cap);
            if (nw == NULL) {
                hush_free(norm);
                rc = hush_err_set(err, HUSH_ENOMEM, "out of memory parsing word vectors");
                break;
            }
            w->words = nw;
            words_cap = cap;
        }
        if (w->n == rows_cap) {
            size_t cap = rows_cap ? rows_cap * 2 : 256;
            size_t *no = hush_realloc(w->word_off, cap * sizeof *no);
            if (no != NULL) {
                w->word_off = no;
            }
            float *nv =
                no != NULL ? hush_realloc(w->vec, cap * w->dim * sizeof *nv) : NULL;
            if (nv == NULL) {
                hush_free(norm);
                rc = hush_err_set(err, HUSH_ENOMEM, "out of memory parsing word vectors");
                break;
            }
            w->vec = nv;
            rows_cap = cap;
        }
        memcpy(w->words + wbytes, norm, nlen + 1);
        hush_free(norm);
        w->word_off[w->n] = wbytes;
        memcpy(w->vec + w->n * w->dim, row, w->dim * sizeof *row);
        wbytes += nlen + 1;
        w->n++;
    }
    if (rc == 0 && w->n == 0) {
        rc = hush_err_set(err, HUSH_EINVAL, "word vectors: no words");
    }
    if (rc == 0 && header_words != 0 && header_words < w->n) {
        rc = hush_err_set(err, HUSH_EINVAL,
                          "word vectors: header promises %llu words, found more",
                          (unsigned long long)header_words);
    }
    if (rc == 0 && build_index(w) != 0) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory indexing word vectors");
    }
    if (rc == 0) {
        /* drop repeated words (the first wins) by compacting in place */
        size_t kept = 0;
        size_t n = w->n;
        for (size_t i = 0; i < n; i++) {
            w->word_off[kept] = w->word_off[i];
            memmove(w->vec + kept * w->dim, w->vec + i * w->dim, w->dim * sizeof *w->vec);
            w->n = kept + 1;
            if (index_insert(w, kept)) {
                kept++;
            }
        }
        w->n = kept;
        w->checksum = compute_checksum(w);
    }
out:
    hush_free(row);
    uselocale(old);
    freelocale(c_locale);
    if (rc != 0) {
        hush_wordvec_free(w);
        return rc;
    }
    *out = w;
    return 0;
}
