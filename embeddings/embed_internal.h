/*
 * embed_internal.h - what the files of embeddings/ share: UTF-8 helpers, the
 * feature extractor, the deterministic logarithm, and the structures behind
 * the opaque handles.
 */
#ifndef HUSH_EMBED_INTERNAL_H
#define HUSH_EMBED_INTERNAL_H

#include "hush_embed.h"

#define HUSH_REPLACEMENT 0xFFFDu

/* Decodes one code point from s[0 .. len) (len >= 1); *used = bytes taken
 * (>= 1).  Invalid sequences decode as U+FFFD. */
uint32_t hush__utf8_decode(const uint8_t *s, size_t len, size_t *used);
/* Encodes a code point (valid, not a surrogate); returns its length. */
size_t hush__utf8_encode(uint32_t cp, uint8_t out[4]);
/* Letters, digits, combining marks. */
bool hush__is_word_cp(uint32_t cp);

/* ln(x) for x >= 1 with IEEE +, -, *, / only (no libm), so that it gives the
 * same bits on every platform. */
double hush__det_log(double x);

/* Hashed n-gram feature configuration (one part of a description). */
typedef struct hush__ngram_config {
    uint64_t seed;
    uint32_t word_min, word_max; /* 0, 0 = no word n-grams */
    uint32_t char_min, char_max; /* 0, 0 = no char n-grams */
} hush__ngram_config;

/* A growable list of feature hashes, tagged by group (bit 0 of the stored
 * value is cleared and used for the group: 0 word, 1 char). */
typedef struct hush__features {
    uint64_t *h;
    size_t n, cap;
} hush__features;

void hush__features_dispose(hush__features *f);

/* Appends the features of normalized text `norm` (`len` bytes, tokens
 * separated by single spaces). */
int hush__extract_features(const hush__ngram_config *cfg, const char *norm, size_t len,
                           hush__features *f);
/* Appends the char n-grams of one token (used by the word-vector fallback). */
int hush__extract_char_ngrams(const hush__ngram_config *cfg, const char *tok, size_t len,
                              hush__features *f);

#define HUSH__GROUP_WORD 0u
#define HUSH__GROUP_CHAR 1u

/* Sorts the features ascending, so that equal ones are adjacent (0 or
 * HUSH_ENOMEM). */
int hush__features_sort(hush__features *f);

/* Sublinear term frequency 1 + ln(tf): a table below 256, the deterministic
 * logarithm above. */
extern const double hush__sublinear_table[256];
static inline double hush__sublinear(uint64_t tf)
{
    return tf < 256 ? hush__sublinear_table[tf] : 1.0 + hush__det_log((double)tf);
}

/* Feature hashing: bucket and sign of a feature hash. */
static inline uint32_t hush__bucket(uint64_t h, uint32_t dim)
{
    uint64_t hi = (h >> 32) * dim;
    uint64_t lo = ((h & 0xffffffffu) * dim) >> 32;
    return (uint32_t)((hi + lo) >> 32);
}
static inline double hush__sign(uint64_t h)
{
    return (h >> 1) & 1u ? -1.0 : 1.0;
}

/* IDF model (parsed model file). */
typedef struct hush__idf {
    size_t n;
    uint64_t *hash; /* sorted */
    float *weight;
    float default_weight;
    uint64_t config_fingerprint;
    char checksum[17];
} hush__idf;

int hush__idf_parse(const uint8_t *buf, size_t len, hush__idf *out, hush_err *err);
void hush__idf_dispose(hush__idf *idf);
float hush__idf_lookup(const hush__idf *idf, uint64_t h);

/* Copies the embedder's n-gram configuration; returns false unless it is a
 * hashed-ngram embedder. */
bool hush__embedder_ngram(const hush_embedder *e, hush__ngram_config *out);

/* Fingerprint of a feature configuration (what an IDF model was built for). */
uint64_t hush__ngram_fingerprint(const hush__ngram_config *cfg);

/* Word-vector table: float rows parsed from text (hush_wordvec_parse), or
 * a SIF table (hush_wordvec_read): int8 rows with a scale, a SIF weight per
 * word and the common component.  Immutable once built and shared by
 * reference count (embedders hold a reference instead of a copy). */
struct hush_wordvec {
    uint32_t dim;
    size_t n;
    char *words;      /* all words, NUL-separated */
    size_t *word_off; /* offset of word i in `words` */
    float *vec;       /* n x dim (text tables), NULL for SIF tables */
    size_t slots;     /* hash index: power of two > 2n */
    uint32_t *slot;   /* word index + 1, 0 = empty */
    uint64_t checksum;
    /* SIF tables only */
    bool sif;
    int8_t *q;     /* n x dim */
    float *scale;  /* n: value = scale * q */
    float *weight; /* n: a / (a + p(w)) */
    float *common; /* dim: the common component, unit length */
    float a, unk_weight, unk_norm;
    uint64_t vocab;
    size_t refs; /* atomically updated */
};

/* Row index of a (normalized) word, or SIZE_MAX. */
size_t hush__wordvec_find(const hush_wordvec *w, const char *word, size_t len);
/* Builds the hash index of w->n words (0 or HUSH_ENOMEM; HUSH_EINVAL if a
 * word repeats). */
int hush__wordvec_index(hush_wordvec *w);

#endif /* HUSH_EMBED_INTERNAL_H */
