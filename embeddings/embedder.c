/*
 * embedder.c - embedders: parsing and writing their JSON descriptions, and
 * turning text into vectors.
 *
 * Invariant: an embedder is fully determined by its canonical description
 * (plus the IDF model or word-vector table the description names by
 * checksum), and embedding uses only IEEE +, -, *, /, sqrt in a fixed order,
 * so the collector and every device compute the same vector.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#include "embed_internal.h"
#include "hush_json.h"

enum kind { KIND_HASHED = 1, KIND_WORDVEC = 2, KIND_SIF = 3 };

struct hush_embedder {
    enum kind kind;
    uint32_t dim;
    hush__ngram_config ngram; /* hashed-ngram features, or the fallback */
    double weight_word, weight_char;
    bool sublinear_tf;
    bool has_idf;
    hush__idf idf;
    hush_wordvec *vectors; /* word-vectors and sif: a reference */
    /* the table the description names (what describe writes) */
    uint64_t table_words;
    char table_sum[17];
    bool shape_only; /* hush_embedder_canonical: resources not loaded */
};

#define SEED_MAX ((UINT64_C(1) << 53) - 1)

void hush_embedder_free(hush_embedder *e)
{
    if (e != NULL) {
        hush__idf_dispose(&e->idf);
        hush_wordvec_free(e->vectors);
        hush_free(e);
    }
}

uint32_t hush_embedder_dim(const hush_embedder *e)
{
    return e->dim;
}

bool hush__embedder_ngram(const hush_embedder *e, hush__ngram_config *out)
{
    *out = e->ngram;
    return e->kind == KIND_HASHED;
}

uint64_t hush__ngram_fingerprint(const hush__ngram_config *cfg)
{
    uint8_t b[24];
    hush_store_le64(b, cfg->seed);
    hush_store_le32(b + 8, cfg->word_min);
    hush_store_le32(b + 12, cfg->word_max);
    hush_store_le32(b + 16, cfg->char_min);
    hush_store_le32(b + 20, cfg->char_max);
    return XXH3_64bits_withSeed(b, sizeof b, UINT64_C(0x68617368));
}

/* ---- description parsing ---- */

/* Every field of an object must be one of `allowed` (NULL-terminated). */
static int check_fields(json_t *obj, const char *what, const char *const *allowed,
                        hush_err *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        (void)val;
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL; i++) {
            ok = ok || strcmp(key, allowed[i]) == 0;
        }
        if (!ok) {
            return hush_err_set(err, HUSH_EINVAL, "%s: unknown field \"%s\"", what, key);
        }
    }
    return 0;
}

static int get_uint(json_t *obj, const char *key, uint64_t min, uint64_t max,
                    bool required, uint64_t dflt, uint64_t *out, hush_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        if (required) {
            return hush_err_set(err, HUSH_EINVAL, "model description: \"%s\" is missing",
                                key);
        }
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        return hush_err_set(err, HUSH_EINVAL,
                            "model description: \"%s\" must be a non-negative integer",
                            key);
    }
    uint64_t x = (uint64_t)json_integer_value(v);
    if (x < min || x > max) {
        return hush_err_set(
            err, HUSH_ERANGE,
            "model description: \"%s\" must be in [%llu, %llu] (got %llu)", key,
            (unsigned long long)min, (unsigned long long)max, (unsigned long long)x);
    }
    *out = x;
    return 0;
}

/* [a, b] with lo <= a <= b <= hi, or [] for none. */
static int get_range(json_t *obj, const char *key, uint32_t lo, uint32_t hi,
                     uint32_t dmin, uint32_t dmax, uint32_t *min_out, uint32_t *max_out,
                     hush_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        *min_out = dmin;
        *max_out = dmax;
        return 0;
    }
    if (json_is_array(v) && json_array_size(v) == 0) {
        *min_out = *max_out = 0;
        return 0;
    }
    json_t *a = json_array_get(v, 0);
    json_t *b = json_array_get(v, 1);
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(a) ||
        !json_is_integer(b)) {
        return hush_err_set(err, HUSH_EINVAL,
                            "model description: \"%s\" must be [min, max] or []", key);
    }
    json_int_t x = json_integer_value(a), y = json_integer_value(b);
    if (x < (json_int_t)lo || y > (json_int_t)hi || x > y) {
        return hush_err_set(
            err, HUSH_ERANGE,
            "model description: \"%s\" must satisfy %u <= min <= max <= %u "
            "(got [%lld, %lld])",
            key, lo, hi, (long long)x, (long long)y);
    }
    *min_out = (uint32_t)x;
    *max_out = (uint32_t)y;
    return 0;
}

static int get_hex(json_t *obj, const char *key, char out[17], hush_err *err)
{
    json_t *v = json_object_get(obj, key);
    const char *s = json_string_value(v);
    if (s == NULL || strlen(s) != 16 || strspn(s, "0123456789abcdef") != 16) {
        return hush_err_set(err, HUSH_EINVAL,
                            "model description: \"%s\" must be 16 lower-case hex digits",
                            key);
    }
    memcpy(out, s, 17);
    return 0;
}

static int parse_hashed(hush_embedder *e, json_t *root, const uint8_t *idf_model,
                        size_t idf_len, hush_err *err)
{
    static const char *const fields[] = {
        "kind",        "version", "dim",          "seed", "word_ngrams",
        "char_ngrams", "weights", "sublinear_tf", "idf",  NULL};
    uint64_t dim, seed;
    int rc;
    if ((rc = check_fields(root, "model description", fields, err)) != 0 ||
        (rc = get_uint(root, "dim", HUSH_EMBED_DIM_MIN, HUSH_EMBED_DIM_MAX, true, 0, &dim,
                       err)) != 0 ||
        (rc = get_uint(root, "seed", 0, SEED_MAX, true, 0, &seed, err)) != 0 ||
        (rc = get_range(root, "word_ngrams", 1, 5, 1, 1, &e->ngram.word_min,
                        &e->ngram.word_max, err)) != 0 ||
        (rc = get_range(root, "char_ngrams", 1, 10, 3, 5, &e->ngram.char_min,
                        &e->ngram.char_max, err)) != 0) {
        return rc;
    }
    e->dim = (uint32_t)dim;
    e->ngram.seed = seed;
    if (e->ngram.word_max == 0 && e->ngram.char_max == 0) {
        return hush_err_set(
            err, HUSH_EINVAL,
            "model description: word_ngrams and char_ngrams are both empty");
    }
    e->weight_word = e->weight_char = 1.0;
    json_t *w = json_object_get(root, "weights");
    if (w != NULL) {
        static const char *const wf[] = {"word", "char", NULL};
        if (!json_is_object(w) || (rc = check_fields(w, "weights", wf, err)) != 0) {
            return rc != 0
                       ? rc
                       : hush_err_set(err, HUSH_EINVAL,
                                      "model description: \"weights\" must be an object");
        }
        double *slots[2] = {&e->weight_word, &e->weight_char};
        for (int i = 0; i < 2; i++) {
            json_t *x = json_object_get(w, wf[i]);
            if (x == NULL) {
                continue;
            }
            if (!json_is_number(x) || !(json_number_value(x) >= 0.0) ||
                !(json_number_value(x) <= 1e6)) {
                return hush_err_set(
                    err, HUSH_ERANGE,
                    "model description: weights.%s must be a number in [0, "
                    "1e6]",
                    wf[i]);
            }
            *slots[i] = json_number_value(x);
        }
    }
    json_t *sub = json_object_get(root, "sublinear_tf");
    e->sublinear_tf = true;
    if (sub != NULL) {
        if (!json_is_boolean(sub)) {
            return hush_err_set(
                err, HUSH_EINVAL,
                "model description: \"sublinear_tf\" must be true or false");
        }
        e->sublinear_tf = json_is_true(sub);
    }
    json_t *idf = json_object_get(root, "idf");
    if (idf != NULL) {
        static const char *const idf_fields[] = {"checksum", NULL};
        char want[17];
        if (!json_is_object(idf) ||
            (rc = check_fields(idf, "idf", idf_fields, err)) != 0 ||
            (rc = get_hex(idf, "checksum", want, err)) != 0) {
            return rc != 0 ? rc
                           : hush_err_set(err, HUSH_EINVAL,
                                          "model description: \"idf\" must be an object");
        }
        if (e->shape_only) {
            snprintf(e->idf.checksum, sizeof e->idf.checksum, "%s", want);
            e->has_idf = true;
            return 0;
        }
        if (idf_model == NULL) {
            return hush_err_set(err, HUSH_EINVAL,
                                "model description names IDF model %s; none was given",
                                want);
        }
        if ((rc = hush__idf_parse(idf_model, idf_len, &e->idf, err)) != 0) {
            return rc;
        }
        e->has_idf = true;
        if (strcmp(e->idf.checksum, want) != 0) {
            return hush_err_set(err, HUSH_EMISMATCH,
                                "IDF model checksum is %s, the description names %s",
                                e->idf.checksum, want);
        }
        if (e->idf.config_fingerprint != hush__ngram_fingerprint(&e->ngram)) {
            return hush_err_set(
                err, HUSH_EMISMATCH,
                "the IDF model was built for other n-gram settings or seed");
        }
    }
    return 0;
}

static int parse_wordvec(hush_embedder *e, json_t *root, const hush_wordvec *vectors,
                         hush_err *err)
{
    static const char *const fields[] = {"kind",     "version",      "dim", "table",
                                         "fallback", "sublinear_tf", NULL};
    static const char *const sif_fields[] = {"kind",  "version",  "dim",
                                             "table", "fallback", NULL};
    uint64_t dim, words, seed;
    int rc;
    if ((rc = check_fields(root, "model description",
                           e->kind == KIND_SIF ? sif_fields : fields, err)) != 0 ||
        (rc = get_uint(root, "dim", 1, HUSH_EMBED_DIM_MAX, true, 0, &dim, err)) != 0) {
        return rc;
    }
    json_t *table = json_object_get(root, "table");
    static const char *const tf[] = {"words", "checksum", NULL};
    char want[17];
    if (!json_is_object(table)) {
        return hush_err_set(err, HUSH_EINVAL, "model description: \"table\" is missing");
    }
    if ((rc = check_fields(table, "table", tf, err)) != 0 ||
        (rc = get_uint(table, "words", 1, UINT32_MAX, true, 0, &words, err)) != 0 ||
        (rc = get_hex(table, "checksum", want, err)) != 0) {
        return rc;
    }
    json_t *fb = json_object_get(root, "fallback");
    static const char *const ff[] = {"seed", "char_ngrams", NULL};
    if (!json_is_object(fb)) {
        return hush_err_set(err, HUSH_EINVAL,
                            "model description: \"fallback\" is missing");
    }
    if ((rc = check_fields(fb, "fallback", ff, err)) != 0 ||
        (rc = get_uint(fb, "seed", 0, SEED_MAX, true, 0, &seed, err)) != 0 ||
        (rc = get_range(fb, "char_ngrams", 1, 10, 3, 5, &e->ngram.char_min,
                        &e->ngram.char_max, err)) != 0) {
        return rc;
    }
    e->ngram.seed = seed;
    e->dim = (uint32_t)dim;
    json_t *sub = json_object_get(root, "sublinear_tf");
    e->sublinear_tf = sub == NULL || json_is_true(sub);
    if (sub != NULL && !json_is_boolean(sub)) {
        return hush_err_set(err, HUSH_EINVAL,
                            "model description: \"sublinear_tf\" must be true or false");
    }
    e->table_words = words;
    snprintf(e->table_sum, sizeof e->table_sum, "%s", want);
    if (e->shape_only) {
        return 0;
    }
    if (vectors == NULL) {
        return hush_err_set(
            err, HUSH_EINVAL,
            "model description names word-vector table %s; none was given (hushd: "
            "--word-vectors; device agents: hush_agent_config.word_vectors)",
            want);
    }
    if ((e->kind == KIND_SIF) != vectors->sif) {
        return hush_err_set(err, HUSH_EMISMATCH,
                            e->kind == KIND_SIF
                                ? "a sif embedder needs a SIF table (hush_wordvec_read)"
                                : "a word-vectors embedder needs a text table, not a SIF "
                                  "table");
    }
    char have[17];
    hush_wordvec_checksum(vectors, have);
    if (strcmp(have, want) != 0 || vectors->n != words || vectors->dim != dim) {
        return hush_err_set(
            err, HUSH_EMISMATCH,
            "word-vector table is %s (%zu words, dim %u), the description "
            "names %s (%llu words, dim %llu)",
            have, vectors->n, vectors->dim, want, (unsigned long long)words,
            (unsigned long long)dim);
    }
    e->vectors = hush_wordvec_ref(vectors);
    return 0;
}

static int embedder_new(const char *desc, size_t len, const uint8_t *idf_model,
                        size_t idf_len, const hush_wordvec *vectors, bool shape_only,
                        hush_embedder **out, hush_err *err)
{
    if (desc == NULL || len > HUSH_EMBED_DESC_MAX) {
        return hush_err_set(err, HUSH_ETOOBIG, "model description longer than %u bytes",
                            HUSH_EMBED_DESC_MAX);
    }
    json_error_t jerr;
    int jcode = 0;
    json_t *root = hush__json_loadb(desc, len, JSON_REJECT_DUPLICATES, &jerr, &jcode);
    if (root == NULL) {
        return hush_err_set(err, jcode, "model description is not JSON: %s (line %d)",
                            jerr.text, jerr.line);
    }
    hush_embedder *e = hush_calloc(1, sizeof *e);
    int rc = 0;
    if (e == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory creating an embedder");
        goto out;
    }
    e->shape_only = shape_only;
    if (!json_is_object(root)) {
        rc = hush_err_set(err, HUSH_EINVAL, "model description must be a JSON object");
        goto out;
    }
    const char *kind = json_string_value(json_object_get(root, "kind"));
    json_t *version = json_object_get(root, "version");
    if (kind == NULL) {
        rc = hush_err_set(err, HUSH_EINVAL, "model description: \"kind\" is missing");
        goto out;
    }
    if (strcmp(kind, "hashed-ngram") == 0) {
        e->kind = KIND_HASHED;
    } else if (strcmp(kind, "word-vectors") == 0) {
        e->kind = KIND_WORDVEC;
    } else if (strcmp(kind, "sif") == 0) {
        e->kind = KIND_SIF;
    } else {
        rc = hush_err_set(err, HUSH_EINVAL,
                          "unknown embedder kind \"%s\" (this build knows hashed-ngram, "
                          "word-vectors and sif)",
                          kind);
        goto out;
    }
    if (!json_is_integer(version) || json_integer_value(version) != 1) {
        rc = hush_err_set(
            err, HUSH_EVERSION,
            "%s version %lld is not supported (this build knows version 1)", kind,
            json_is_integer(version) ? (long long)json_integer_value(version) : -1LL);
        goto out;
    }
    rc = e->kind == KIND_HASHED ? parse_hashed(e, root, idf_model, idf_len, err)
                                : parse_wordvec(e, root, vectors, err);
out:
    json_decref(root);
    if (rc != 0) {
        hush_embedder_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

int hush_embedder_new(const char *desc, size_t len, const uint8_t *idf_model,
                      size_t idf_len, const hush_wordvec *vectors, hush_embedder **out,
                      hush_err *err)
{
    return embedder_new(desc, len, idf_model, idf_len, vectors, false, out, err);
}

int hush_embedder_new_sif(const hush_wordvec *table, uint64_t fallback_seed,
                          hush_embedder **out, hush_err *err)
{
    char sum[17], desc[256];
    hush_wordvec_checksum(table, sum);
    snprintf(desc, sizeof desc,
             "{\"kind\":\"sif\",\"version\":1,\"dim\":%u,\"table\":{\"words\":%zu,"
             "\"checksum\":\"%s\"},\"fallback\":{\"seed\":%llu,\"char_ngrams\":[3,5]}}",
             table->dim, table->n, sum, (unsigned long long)fallback_seed);
    return hush_embedder_new(desc, strlen(desc), NULL, 0, table, out, err);
}

int hush_embedder_canonical(const char *desc, size_t len, char **out, uint32_t *dim,
                            hush_err *err)
{
    hush_embedder *e = NULL;
    int rc = embedder_new(desc, len, NULL, 0, NULL, true, &e, err);
    if (rc == 0) {
        *dim = e->dim;
        rc = hush_embedder_describe(e, out, err);
    }
    hush_embedder_free(e);
    return rc;
}

int hush_embedder_new_default(uint32_t dim, uint64_t seed, hush_embedder **out,
                              hush_err *err)
{
    char desc[256];
    int n = snprintf(desc, sizeof desc,
                     "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":%u,\"seed\":%llu}",
                     dim, (unsigned long long)seed);
    return hush_embedder_new(desc, (size_t)n, NULL, 0, NULL, out, err);
}

/* ---- description writing ---- */

static json_t *range_json(uint32_t a, uint32_t b)
{
    return a == 0 ? json_array() : json_pack("[i, i]", (json_int_t)a, (json_int_t)b);
}

int hush_embedder_describe(const hush_embedder *e, char **out, hush_err *err)
{
    json_t *root = json_object();
    int bad = root == NULL;
    if (e->kind == KIND_HASHED) {
        bad |= json_object_set_new(root, "kind", json_string("hashed-ngram"));
        bad |= json_object_set_new(root, "version", json_integer(1));
        bad |= json_object_set_new(root, "dim", json_integer(e->dim));
        bad |= json_object_set_new(root, "seed", json_integer((json_int_t)e->ngram.seed));
        bad |= json_object_set_new(root, "word_ngrams",
                                   range_json(e->ngram.word_min, e->ngram.word_max));
        bad |= json_object_set_new(root, "char_ngrams",
                                   range_json(e->ngram.char_min, e->ngram.char_max));
        bad |= json_object_set_new(
            root, "weights",
            json_pack("{s:f, s:f}", "word", e->weight_word, "char", e->weight_char));
        bad |= json_object_set_new(root, "sublinear_tf", json_boolean(e->sublinear_tf));
        if (e->has_idf) {
            bad |= json_object_set_new(root, "idf",
                                       json_pack("{s:s}", "checksum", e->idf.checksum));
        }
    } else {

        bad |= json_object_set_new(
            root, "kind", json_string(e->kind == KIND_SIF ? "sif" : "word-vectors"));
        bad |= json_object_set_new(root, "version", json_integer(1));
        bad |= json_object_set_new(root, "dim", json_integer(e->dim));
        bad |= json_object_set_new(root, "table",
                                   json_pack("{s:I, s:s}", "words",
                                             (json_int_t)e->table_words, "checksum",
                                             e->table_sum));
        bad |= json_object_set_new(
            root, "fallback",
            json_pack("{s:I, s:o}", "seed", (json_int_t)e->ngram.seed, "char_ngrams",
                      range_json(e->ngram.char_min, e->ngram.char_max)));
        if (e->kind == KIND_WORDVEC) {
            bad |=
                json_object_set_new(root, "sublinear_tf", json_boolean(e->sublinear_tf));
        }
    }
    *out =
        bad ? NULL : hush__json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17), NULL);
    json_decref(root);
    return *out != NULL
               ? 0
               : hush_err_set(err, HUSH_ENOMEM, "out of memory describing an embedder");
}

/* ---- embedding ---- */

static void normalize_into(double *v, uint32_t dim)
{
    double ss = 0.0;
    for (uint32_t i = 0; i < dim; i++) {
        ss += v[i] * v[i];
    }
    if (ss > 0.0) {
        double inv = 1.0 / sqrt(ss);
        for (uint32_t i = 0; i < dim; i++) {
            v[i] *= inv;
        }
    }
}

/* Term frequencies by open addressing; the distinct features are then
 * weighted in order of first occurrence in the text, which fixes the order
 * of the floating-point sums on every platform. */
static int embed_hashed(const hush_embedder *e, const char *norm, size_t len, double *acc,
                        hush_err *err)
{
    hush__features f = {0};
    int rc = hush__extract_features(&e->ngram, norm, len, &f);
    if (rc != 0) {
        hush__features_dispose(&f);
        return hush_err_set(err, rc, "out of memory extracting features");
    }
    /* count: open addressing over twice the features, then the distinct
     * features in order of first occurrence (a fixed order for the
     * floating-point sums, independent of the table's layout) */
    size_t slots = 64;
    while (slots < 2 * f.n) {
        slots <<= 1;
    }
    struct slot {
        uint64_t key;
        uint32_t tf;
    } *table = hush_calloc(slots, sizeof *table);
    uint32_t *order = hush_malloc((f.n ? f.n : 1) * sizeof *order);
    if (table == NULL || order == NULL) {
        hush_free(table);
        hush_free(order);
        hush__features_dispose(&f);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory counting features");
    }
    size_t mask = slots - 1, distinct = 0;
    for (size_t i = 0; i < f.n; i++) {
        uint64_t h = f.h[i];
        size_t s = (size_t)(h >> 17) & mask;
        while (table[s].tf != 0 && table[s].key != h) {
            s = (s + 1) & mask;
        }
        if (table[s].tf == 0) {
            table[s].key = h;
            order[distinct++] = (uint32_t)s;
        }
        table[s].tf++;
    }
    hush__features_dispose(&f);
    double *group[2] = {acc, acc + e->dim};
    for (size_t k = 0; k < distinct; k++) {
        const struct slot *sl = &table[order[k]];
        uint64_t h = sl->key;
        double w = e->sublinear_tf ? hush__sublinear(sl->tf) : (double)sl->tf;
        if (e->has_idf) {
            w *= (double)hush__idf_lookup(&e->idf, h);
        }
        group[h & 1u][hush__bucket(h, e->dim)] += hush__sign(h) * w;
    }
    hush_free(table);
    hush_free(order);
    normalize_into(group[0], e->dim);
    normalize_into(group[1], e->dim);
    for (uint32_t i = 0; i < e->dim; i++) {
        acc[i] = e->weight_word * group[0][i] + e->weight_char * group[1][i];
    }
    return 0;
}

/* The unit vector of an unknown word's hashed character n-grams. */
static int fallback_vector(const hush_embedder *e, const char *tok, size_t len,
                           hush__features *f, double *v, hush_err *err)
{
    f->n = 0;
    if (hush__extract_char_ngrams(&e->ngram, tok, len, f) != 0 ||
        hush__features_sort(f) != 0) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory extracting features");
    }
    memset(v, 0, e->dim * sizeof *v);
    for (size_t k = 0; k < f->n; k++) {
        v[hush__bucket(f->h[k], e->dim)] += hush__sign(f->h[k]);
    }
    normalize_into(v, e->dim);
    return 0;
}

struct token {
    uint64_t h;
    size_t start, len;
    const char *base;
};

static int cmp_token(const void *a, const void *b)
{
    const struct token *x = a, *y = b;
    if (x->h != y->h) {
        return x->h < y->h ? -1 : 1;
    }
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->base + x->start, y->base + y->start, n);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static int embed_wordvec(const hush_embedder *e, const char *norm, size_t len,
                         double *acc, hush_err *err)
{
    size_t ntok = 0;
    for (size_t i = 0; i < len; i++) {
        ntok += (i == 0 || norm[i - 1] == ' ') && norm[i] != ' ';
    }
    struct token *tok = hush_calloc(ntok ? ntok : 1, sizeof *tok);
    double *fallback = hush_malloc(e->dim * sizeof *fallback);
    hush__features f = {0};
    int rc = 0;
    if (tok == NULL || fallback == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory embedding %zu tokens", ntok);
        goto out;
    }
    size_t t = 0;
    for (size_t i = 0; i < len; i++) {
        if ((i == 0 || norm[i - 1] == ' ') && norm[i] != ' ') {
            size_t j = i;
            while (j < len && norm[j] != ' ') {
                j++;
            }
            tok[t] = (struct token){XXH3_64bits(norm + i, j - i), i, j - i, norm};
            t++;
        }
    }
    qsort(tok, ntok, sizeof *tok, cmp_token);
    for (size_t i = 0; i < ntok;) {
        size_t j = i + 1;
        while (j < ntok && cmp_token(&tok[i], &tok[j]) == 0) {
            j++;
        }
        double w = e->sublinear_tf ? hush__sublinear(j - i) : (double)(j - i);
        size_t row = hush__wordvec_find(e->vectors, norm + tok[i].start, tok[i].len);
        if (row != SIZE_MAX) {
            const float *v = e->vectors->vec + row * e->dim;
            for (uint32_t d = 0; d < e->dim; d++) {
                acc[d] += w * (double)v[d];
            }
        } else {
            /* an unknown word: its hashed character n-grams, as a unit
             * vector of the same dimension */
            if ((rc = fallback_vector(e, norm + tok[i].start, tok[i].len, &f, fallback,
                                      err)) != 0) {
                goto out;
            }
            for (uint32_t d = 0; d < e->dim; d++) {
                acc[d] += w * fallback[d];
            }
        }
        i = j;
    }
out:
    hush__features_dispose(&f);
    hush_free(tok);
    hush_free(fallback);
    return rc;
}

/* SIF: the sum over every word occurrence of a/(a + p(w)) v_w (unknown
 * words: their hashed character n-grams at the table's median norm and the
 * rarest word's weight), then the common component projected out.  The
 * mean's 1/n is left out: the vector is normalized afterwards. */
static int embed_sif(const hush_embedder *e, const char *norm, size_t len, double *acc,
                     hush_err *err)
{
    const hush_wordvec *w = e->vectors;
    double *fallback = hush_malloc(e->dim * sizeof *fallback);
    hush__features f = {0};
    int rc = 0;
    if (fallback == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory embedding");
    }
    for (size_t i = 0; i < len && rc == 0;) {
        size_t j = i;
        while (j < len && norm[j] != ' ') {
            j++;
        }
        size_t row = hush__wordvec_find(w, norm + i, j - i);
        if (row != SIZE_MAX) {
            double wt = (double)w->weight[row], sc = (double)w->scale[row];
            const int8_t *q = w->q + row * e->dim;
            for (uint32_t d = 0; d < e->dim; d++) {
                acc[d] += wt * (sc * (double)q[d]);
            }
        } else if ((rc = fallback_vector(e, norm + i, j - i, &f, fallback, err)) == 0) {
            double wt = (double)w->unk_weight * (double)w->unk_norm;
            for (uint32_t d = 0; d < e->dim; d++) {
                acc[d] += wt * fallback[d];
            }
        }
        i = j + 1;
    }
    if (rc == 0) {
        /* projected out twice (one pass leaves a rounding residue along the
         * component when the text lies almost along it); a text that is all
         * common component carries nothing: its vector is zero */
        double before = 0.0, after = 0.0;
        for (uint32_t d = 0; d < e->dim; d++) {
            before += acc[d] * acc[d];
        }
        for (int pass = 0; pass < 2; pass++) {
            double proj = 0.0;
            for (uint32_t d = 0; d < e->dim; d++) {
                proj += acc[d] * (double)w->common[d];
            }
            for (uint32_t d = 0; d < e->dim; d++) {
                acc[d] -= proj * (double)w->common[d];
            }
        }
        for (uint32_t d = 0; d < e->dim; d++) {
            after += acc[d] * acc[d];
        }
        if (after <= 1e-20 * before) {
            memset(acc, 0, e->dim * sizeof *acc);
        }
    }
    hush__features_dispose(&f);
    hush_free(fallback);
    return rc;
}

int hush_embed_text(const hush_embedder *e, const char *text, size_t len, float *out,
                    size_t out_cap, hush_err *err)
{
    if (out_cap < e->dim) {
        return hush_err_set(err, HUSH_EINVAL, "output holds %zu floats, dim is %u",
                            out_cap, e->dim);
    }
    memset(out, 0, e->dim * sizeof *out);
    char *norm = NULL;
    size_t nlen = 0;
    int rc = hush_text_normalize(text != NULL ? text : "", text != NULL ? len : 0, &norm,
                                 &nlen, err);
    if (rc != 0) {
        return rc;
    }
    if (nlen == 0) {
        hush_free(norm);
        return hush_err_set(err, HUSH_EINVAL, "text has no letters or digits to embed");
    }
    double *acc = hush_calloc(2 * (size_t)e->dim, sizeof *acc);
    if (acc == NULL) {
        hush_free(norm);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory embedding");
    }
    rc = e->kind == KIND_HASHED ? embed_hashed(e, norm, nlen, acc, err)
         : e->kind == KIND_SIF  ? embed_sif(e, norm, nlen, acc, err)
                                : embed_wordvec(e, norm, nlen, acc, err);
    if (rc == 0) {
        normalize_into(acc, e->dim);
        double ss = 0.0;
        for (uint32_t i = 0; i < e->dim; i++) {
            out[i] = (float)acc[i];
            ss += acc[i] * acc[i];
        }
        if (ss == 0.0) {
            rc =
                hush_err_set(err, HUSH_EINVAL, "text has no features this embedder uses");
        }
    }
    hush_free(acc);
    hush_free(norm);
    return rc;
}
