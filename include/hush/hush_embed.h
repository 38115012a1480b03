/*
 * hush_embed.h - text to vectors that the collector and every device compute
 * alike, matrices of such vectors, nearest-neighbour matching, and the email
 * text a device would embed.
 *
 * An embedder is described by a small JSON document that the collector
 * publishes with each round, for example
 *
 *   {"kind":"hashed-ngram","version":1,"dim":256,"seed":7,
 *    "word_ngrams":[1,1],"char_ngrams":[3,5],"weights":{"word":1,"char":1}}
 *
 * and a device rebuilds exactly the same embedder from it: same text in, same
 * vector out, on any platform, with no network and no model download.  The
 * arithmetic is IEEE-754 double with only +, -, *, / and sqrt (no libm
 * transcendental functions, whose last bit differs between platforms), in a
 * fixed order, so vectors agree to the last bit wherever the compiler does
 * not contract a*b+c (the build uses -std=c11, which keeps FP contraction
 * off).  Golden vectors in tests/vectors pin this.
 *
 * Kinds:
 *   hashed-ngram  normalized words, word n-grams and character n-grams,
 *                 feature-hashed (XXH3) into dim signed buckets, sublinear
 *                 term frequency, optional IDF weights (a model file),
 *                 groups weighted, L2-normalized.
 *   word-vectors  the weighted mean of pretrained word vectors (a table in
 *                 the word2vec/GloVe/fastText text format), falling back to
 *                 hashed character n-grams for unknown words, L2-normalized.
 *   sif           smooth-inverse-frequency sentence embedding (Arora et al.
 *                 2017) over a SIF table (int8 GloVe vectors with weights
 *                 a/(a + p(w)) and a common component, which is projected
 *                 out): topic, not length.  The embedder for synthetic
 *                 campaigns; docs/embeddings.md.
 *
 * Ownership: _new functions return objects freed with the matching _free
 * (NULL accepted).  Buffers returned as `**out` are new and freed with
 * hush_free.  Thread safety: an embedder, a word-vector table and a matrix
 * are immutable after creation (matrices after they are filled) and may be
 * shared by threads; nothing here keeps global state.
 */
#ifndef HUSH_EMBED_H
#define HUSH_EMBED_H

#include "hush_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Texts longer than this are refused with HUSH_ETOOBIG. */
#define HUSH_EMBED_TEXT_MAX (4u << 20)
#define HUSH_EMBED_DIM_MIN 8u
#define HUSH_EMBED_DIM_MAX 4096u
/* Model descriptions are small; longer ones are refused. */
#define HUSH_EMBED_DESC_MAX 65536u

/* ------------------------------------------------------------------------ */
/* Text normalization                                                       */
/* ------------------------------------------------------------------------ */

/**
 * Normalizes UTF-8 text the way every embedder sees it: invalid UTF-8
 * sequences become U+FFFD (never read past the buffer); letters are
 * lower-cased (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic);
 * apostrophes inside words are dropped ("don't" -> "dont"); every run of
 * characters that are neither letters nor digits (whitespace, punctuation,
 * symbols, U+FFFD) becomes one space; no leading or trailing space.
 * *out is new (hush_free), NUL-terminated, *out_len its length.
 * Returns 0, HUSH_ETOOBIG (len > HUSH_EMBED_TEXT_MAX) or HUSH_ENOMEM.
 */
HUSH_API int hush_text_normalize(const char *text, size_t len, char **out,
                                 size_t *out_len, hush_err *err) HUSH_WARN_UNUSED;

/* ------------------------------------------------------------------------ */
/* Embedders                                                                */
/* ------------------------------------------------------------------------ */

typedef struct hush_embedder hush_embedder;
typedef struct hush_wordvec hush_wordvec;

/**
 * Builds an embedder from its JSON description (`len` bytes, not necessarily
 * NUL-terminated).  `idf_model` (a file written by hush_idf_build, `idf_len`
 * bytes) is required when the description names one, and must match its
 * checksum; `vectors` is required for kind "word-vectors" and must match the
 * description's checksum.  Unknown kinds, versions or fields, and bad values,
 * are refused with HUSH_EINVAL/HUSH_EVERSION/HUSH_ERANGE/HUSH_EMISMATCH and
 * a message naming them.  *out is new (hush_embedder_free).  The embedder
 * copies what it needs: the model buffer and the table may be freed after.
 */
HUSH_API int hush_embedder_new(const char *desc, size_t len, const uint8_t *idf_model,
                               size_t idf_len, const hush_wordvec *vectors,
                               hush_embedder **out, hush_err *err) HUSH_WARN_UNUSED;

/** The built-in default: hashed-ngram, words, char 3-5-grams (each group
 * normalized, weighted 1:1), sublinear TF, with the given dimension and seed.
 * (Word bigrams cost accuracy at these dimensions: more features than
 * buckets; see docs/benchmarks.md.)  *out is new. */
HUSH_API int hush_embedder_new_default(uint32_t dim, uint64_t seed, hush_embedder **out,
                                       hush_err *err) HUSH_WARN_UNUSED;

/**
 * Checks a description's form -- kind, version, fields, ranges -- without
 * the IDF model or word-vector table it names, and gives its canonical form
 * (as hush_embedder_describe writes it; *out new, hush_free) and its
 * dimension.  What a document that carries a description (a campaign, a
 * model task) is validated with; whoever embeds still needs the resources.
 */
HUSH_API int hush_embedder_canonical(const char *desc, size_t len, char **out,
                                     uint32_t *dim, hush_err *err) HUSH_WARN_UNUSED;

/** A "sif" embedder over SIF table `table` (its checksum and size named in
 * the description), unknown words hashed under `fallback_seed` with
 * character 3-5-grams.  *out is new. */
HUSH_API int hush_embedder_new_sif(const hush_wordvec *table, uint64_t fallback_seed,
                                   hush_embedder **out, hush_err *err) HUSH_WARN_UNUSED;

/** Frees an embedder.  NULL does nothing. */
HUSH_API void hush_embedder_free(hush_embedder *e);

/** Output dimension. */
HUSH_API uint32_t hush_embedder_dim(const hush_embedder *e);

/**
 * The canonical JSON description (fields in a fixed order, defaults
 * explicit): what the collector publishes.  Building an embedder from it
 * gives an identical embedder.  *out is new (hush_free).
 */
HUSH_API int hush_embedder_describe(const hush_embedder *e, char **out,
                                    hush_err *err) HUSH_WARN_UNUSED;

/**
 * Embeds UTF-8 `text` (`len` bytes) into `out` (capacity `out_cap` >= dim
 * floats), an L2-normalized vector.  Returns 0; HUSH_EINVAL if the text has
 * no letters or digits (nothing to embed: `out` is zeroed); HUSH_ETOOBIG;
 * HUSH_ENOMEM.  Thread-safe.
 */
HUSH_API int hush_embed_text(const hush_embedder *e, const char *text, size_t len,
                             float *out, size_t out_cap, hush_err *err) HUSH_WARN_UNUSED;

/* ---- IDF model files ---- */

/**
 * Builds an IDF model from a corpus of `n_docs` texts: for every feature of
 * the description's feature set that occurs in at least `min_df` documents,
 * idf = ln((1 + N)/(1 + df)) + 1 (computed here, once, and stored as float
 * bits so devices need no logarithm).  The corpus must be public data: the
 * model ships to devices.  `desc` is a hashed-ngram description without an
 * "idf" field.  *out is the model file (new, hush_free); its checksum goes
 * into the description's "idf" field (hush_idf_checksum).
 */
HUSH_API int hush_idf_build(const char *desc, size_t desc_len, const char *const *docs,
                            const size_t *doc_lens, size_t n_docs, uint32_t min_df,
                            uint8_t **out, size_t *out_len,
                            hush_err *err) HUSH_WARN_UNUSED;

/** The checksum that identifies a model file (16 hex digits, NUL-terminated,
 * in `hex` of capacity >= 17). */
HUSH_API void hush_idf_checksum(const uint8_t *model, size_t len, char hex[17]);

/* ---- pretrained word vectors ---- */

/**
 * Parses a word-vector table in the common text format: optionally a header
 * line "<words> <dim>", then one line per word, "word v1 v2 ... vD"
 * (word2vec text, GloVe, fastText .vec).  Words are normalized like text
 * (hush_text_normalize); a word that normalizes to nothing, or repeats, is
 * skipped (the first wins).  Every line must have the same dimension; numbers
 * are parsed in the C locale whatever the process locale.  *out is new
 * (hush_wordvec_free).  Errors name the line.
 */
HUSH_API int hush_wordvec_parse(const char *text, size_t len, hush_wordvec **out,
                                hush_err *err) HUSH_WARN_UNUSED;

/** Releases a table (a reference: the last one frees it).  NULL does
 * nothing. */
HUSH_API void hush_wordvec_free(hush_wordvec *w);

/** Takes another reference to an (immutable) table, released by
 * hush_wordvec_free: embedders and agents share one table this way.
 * Thread-safe. */
HUSH_API hush_wordvec *hush_wordvec_ref(const hush_wordvec *w);

/** Dimension and word count of a table. */
HUSH_API uint32_t hush_wordvec_dim(const hush_wordvec *w);
HUSH_API size_t hush_wordvec_words(const hush_wordvec *w);

/** The table's checksum (16 hex digits), what a word-vectors description
 * names so that collector and device agree on the table. */
HUSH_API void hush_wordvec_checksum(const hush_wordvec *w, char hex[17]);

/* ---- SIF tables: word vectors for the "sif" embedder ---- */

/**
 * Builds a SIF table file from a word-vector table whose rows are in order
 * of decreasing corpus frequency (GloVe's are): the first `max_words` words
 * are kept, each with
 *   - the SIF weight a/(a + p(w)) of Arora, Liang & Ma (2017), where p(w)
 *     is the Zipf estimate 1/(r H_V) of the frequency of the word of rank r
 *     among `vocab` words (H_V the V-th harmonic number; vocab = 0 means the
 *     table's own size),
 *   - its vector quantized to int8 with a per-word scale (max|x|/127),
 * and the table's common component: the unit vector along
 * sum_w p(w) a/(a + p(w)) v_w over the kept words, the expected SIF vector of
 * a text drawn word by word from the same frequencies -- the direction that
 * every text shares and that SIF removes.  Unknown words embed as hashed
 * character n-grams scaled to the kept vectors' median norm, with the weight
 * of the rarest word.  `a` in (0, 1).  *out is the file (new, hush_free):
 * magic "HUSHSIF1"; its checksum is hush_wordvec_checksum of the table it
 * reads back as.
 */
HUSH_API int hush_sif_table_build(const hush_wordvec *ordered, size_t max_words,
                                  uint64_t vocab, double a, uint8_t **out,
                                  size_t *out_len, hush_err *err) HUSH_WARN_UNUSED;

/**
 * Reads a SIF table file (as written by hush_sif_table_build).  Truncated,
 * corrupt (checksum), inconsistent or oversized input is refused with
 * HUSH_ECORRUPT/HUSH_EVERSION/HUSH_ETOOBIG and a message.  *out is new
 * (hush_wordvec_free); its checksum is the file's trailing XXH3-64.
 */
HUSH_API int hush_wordvec_read(const uint8_t *buf, size_t len, hush_wordvec **out,
                               hush_err *err) HUSH_WARN_UNUSED;

/**
 * A copy of SIF table `table` whose common component is the first principal
 * component (uncentered) of the unit SIF sums of `n` public texts, as Arora
 * et al. remove it, instead of the frequency prior: the direction the texts
 * of this corpus share.  The corpus must be public (the table ships to
 * devices); its checksum changes, so campaigns name the new table.  *out is
 * the new file (hush_free).
 */
HUSH_API int hush_sif_table_recommon(const uint8_t *table, size_t len,
                                     const char *const *texts, const size_t *lens,
                                     size_t n, uint8_t **out, size_t *out_len,
                                     hush_err *err) HUSH_WARN_UNUSED;

/** Reads a word-vector file: a SIF table (by its magic) or the text format.
 * Files over 2 GiB are refused.  *out is new. */
HUSH_API int hush_wordvec_load(const char *path, hush_wordvec **out,
                               hush_err *err) HUSH_WARN_UNUSED;

/** Whether a table is a SIF table (what the "sif" embedder needs). */
HUSH_API bool hush_wordvec_is_sif(const hush_wordvec *w);

/** Row of a normalized word (`len` bytes), or -1.  The word i of a table,
 * NUL-terminated (borrowed). */
HUSH_API long hush_wordvec_lookup(const hush_wordvec *w, const char *word, size_t len);
HUSH_API const char *hush_wordvec_word(const hush_wordvec *w, size_t i);

/**
 * The k words most similar (cosine) to word `row` among rows
 * [first, limit) of the table, itself excluded, most similar first (ties:
 * lower row first); n_out <= k of them are written to `out`.  Exact search,
 * O(limit * dim).  Thread-safe.
 */
HUSH_API int hush_wordvec_neighbours(const hush_wordvec *w, size_t row, size_t first,
                                     size_t limit, size_t k, uint32_t *out, size_t *n_out,
                                     hush_err *err) HUSH_WARN_UNUSED;

/* ------------------------------------------------------------------------ */
/* Matrices                                                                 */
/* ------------------------------------------------------------------------ */

typedef enum hush_matrix_type {
    HUSH_MATRIX_F32 = 1, /* float32 rows */
    HUSH_MATRIX_I8 = 2,  /* int8 rows, each with a float32 scale */
} hush_matrix_type;

typedef struct hush_matrix hush_matrix;

/* Matrices larger than this many cells, or wider than this many columns,
 * are refused (1 GiB of float32). */
#define HUSH_MATRIX_CELLS_MAX (UINT64_C(1) << 28)
#define HUSH_MATRIX_COLS_MAX (1u << 16)

/** Creates a zeroed rows x cols matrix.  *out is new (hush_matrix_free). */
HUSH_API int hush_matrix_new(hush_matrix_type type, uint32_t rows, uint32_t cols,
                             hush_matrix **out, hush_err *err) HUSH_WARN_UNUSED;
/** Frees a matrix.  NULL does nothing. */
HUSH_API void hush_matrix_free(hush_matrix *m);

HUSH_API hush_matrix_type hush_matrix_get_type(const hush_matrix *m);
HUSH_API uint32_t hush_matrix_rows(const hush_matrix *m);
HUSH_API uint32_t hush_matrix_cols(const hush_matrix *m);

/** Row r of a float32 matrix (borrowed, valid while the matrix lives). */
HUSH_API float *hush_matrix_row_f32(hush_matrix *m, uint32_t r);
HUSH_API const float *hush_matrix_crow_f32(const hush_matrix *m, uint32_t r);
/** Row r of an int8 matrix and its scale (value = scale * int8). */
HUSH_API const int8_t *hush_matrix_row_i8(const hush_matrix *m, uint32_t r);
HUSH_API float hush_matrix_scale(const hush_matrix *m, uint32_t r);

/**
 * Sets row r from float values: copied for a float32 matrix; quantized for
 * an int8 matrix with scale = max|x|/127 and round-to-nearest, so every
 * value is off by at most scale/2.
 */
HUSH_API int hush_matrix_set_row(hush_matrix *m, uint32_t r, const float *values,
                                 size_t n, hush_err *err) HUSH_WARN_UNUSED;

/** Reads row r back as floats (dequantized for int8) into `out` (>= cols). */
HUSH_API void hush_matrix_get_row(const hush_matrix *m, uint32_t r, float *out);

/** A new int8 matrix quantizing every row of a float32 matrix. */
HUSH_API int hush_matrix_quantize(const hush_matrix *f32, hush_matrix **out,
                                  hush_err *err) HUSH_WARN_UNUSED;

/**
 * Serializes (magic "HUSHMAT1", version, type, rows, cols, scales, data,
 * XXH3 checksum; little-endian).  *out is new (hush_free).
 */
HUSH_API int hush_matrix_serialize(const hush_matrix *m, uint8_t **out, size_t *out_len,
                                   hush_err *err) HUSH_WARN_UNUSED;
/** Parses a serialized matrix; truncated, corrupt or oversized input is
 * refused with HUSH_ECORRUPT/HUSH_EVERSION/HUSH_ETOOBIG.  *out is new. */
HUSH_API int hush_matrix_deserialize(const uint8_t *buf, size_t len, hush_matrix **out,
                                     hush_err *err) HUSH_WARN_UNUSED;
/** The serialized form in base64 (RFC 4648, with padding), for JSON.  *out
 * is new, NUL-terminated. */
HUSH_API int hush_matrix_to_base64(const hush_matrix *m, char **out,
                                   hush_err *err) HUSH_WARN_UNUSED;
HUSH_API int hush_matrix_from_base64(const char *b64, size_t len, hush_matrix **out,
                                     hush_err *err) HUSH_WARN_UNUSED;
/** Writes / reads a matrix file (written atomically: temporary file, fsync,
 * rename). */
HUSH_API int hush_matrix_save(const hush_matrix *m, const char *path,
                              hush_err *err) HUSH_WARN_UNUSED;
HUSH_API int hush_matrix_load(const char *path, hush_matrix **out,
                              hush_err *err) HUSH_WARN_UNUSED;

/* ------------------------------------------------------------------------ */
/* Nearest neighbours                                                       */
/* ------------------------------------------------------------------------ */

typedef struct hush_match {
    uint32_t index;   /* candidate row, or HUSH_MATCH_NONE */
    float similarity; /* cosine similarity */
} hush_match;

#define HUSH_MATCH_NONE UINT32_MAX

/**
 * Exact nearest-neighbour search by cosine similarity: for each query row,
 * the k most similar candidate rows with similarity >= `threshold`, most
 * similar first (ties: lower index first); slots beyond what qualifies are
 * {HUSH_MATCH_NONE, 0}.  `out` holds queries x k entries.  Queries and
 * candidates must have the same number of columns and the same type (int8
 * with int8: integer dot products, the scales cancel in the cosine; float32
 * with float32).  Zero rows have similarity 0 with everything.  Thread-safe.
 */
HUSH_API int hush_nearest(const hush_matrix *candidates, const hush_matrix *queries,
                          size_t k, float threshold, hush_match *out, size_t out_len,
                          hush_err *err) HUSH_WARN_UNUSED;

/* ------------------------------------------------------------------------ */
/* Email                                                                    */
/* ------------------------------------------------------------------------ */

/**
 * Turns a raw RFC 822 message into the text a device would embed: the
 * subject, a blank line, then the body.  Headers other than Subject are
 * dropped; MIME multipart messages contribute their text/plain parts (their
 * text/html parts if there is no plain one); quoted-printable and base64
 * bodies and RFC 2047 encoded subjects are decoded; HTML tags, scripts and
 * styles are stripped and common entities decoded; quoted reply lines
 * ("> ..."), the "On ... wrote:" line before them, and signatures (from a
 * "-- " line on) are dropped.  Malformed messages yield what can be read;
 * the function fails only on HUSH_ETOOBIG (len > HUSH_EMBED_TEXT_MAX) or
 * HUSH_ENOMEM.  The result is valid UTF-8 (invalid bytes become U+FFFD).
 * *out is new (hush_free), NUL-terminated.
 */
HUSH_API int hush_email_to_text(const char *raw, size_t len, char **out, size_t *out_len,
                                hush_err *err) HUSH_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif /* HUSH_EMBED_H */
