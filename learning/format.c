/*
 * format.c - the model file: "HUSHMDL1", u32 version (1), u32 kind,
 * u32 inputs, u32 classes, u32 hidden, the parameters as little-endian
 * float32, then the XXH3-64 of every byte before it, little-endian.
 */
#include <math.h>
#include <sodium.h>
#include <xxhash.h>

#include "learning_internal.h"

#define MAGIC "HUSHMDL1"
#define HEADER 28

int hush_model_serialize(const hush_model *m, uint8_t **out, size_t *len, hush_err *err)
{
    size_t total = HEADER + m->n * 4 + 8;
    uint8_t *b = hush_malloc(total);
    if (b == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory serializing a model");
    }
    memcpy(b, MAGIC, 8);
    hush_store_le32(b + 8, 1);
    hush_store_le32(b + 12, (uint32_t)m->spec.kind);
    hush_store_le32(b + 16, m->spec.inputs);
    hush_store_le32(b + 20, m->spec.classes);
    hush_store_le32(b + 24, m->spec.hidden);
    for (size_t i = 0; i < m->n; i++) {
        uint32_t u;
        memcpy(&u, &m->p[i], 4);
        hush_store_le32(b + HEADER + 4 * i, u);
    }
    hush_store_le64(b + total - 8, XXH3_64bits(b, total - 8));
    *out = b;
    *len = total;
    return 0;
}

int hush_model_deserialize(const uint8_t *b, size_t len, hush_model **out, hush_err *err)
{
    if (len < HEADER + 8 || memcmp(b, MAGIC, 8) != 0) {
        return hush_err_set(err, HUSH_ECORRUPT, "not a hush model (magic or length)");
    }
    if (hush_load_le32(b + 8) != 1) {
        return hush_err_set(err, HUSH_EVERSION,
                            "model format version %u is not supported",
                            hush_load_le32(b + 8));
    }
    hush_model_spec spec = {.kind = (hush_model_kind)hush_load_le32(b + 12),
                            .inputs = hush_load_le32(b + 16),
                            .classes = hush_load_le32(b + 20),
                            .hidden = hush_load_le32(b + 24)};
    int rc = hush_model_spec_check(&spec, err);
    if (rc != 0) {
        return rc;
    }
    hush_model *m = NULL;
    if ((rc = hush__model_alloc(&spec, &m, err)) != 0) {
        return rc;
    }
    if (len != HEADER + m->n * 4 + 8) {
        size_t n = m->n;
        hush_model_free(m);
        return hush_err_set(err, HUSH_ECORRUPT,
                            "a model of %zu parameters is %zu bytes, not %zu", n,
                            HEADER + n * 4 + 8, len);
    }
    if (XXH3_64bits(b, len - 8) != hush_load_le64(b + len - 8)) {
        hush_model_free(m);
        return hush_err_set(err, HUSH_ECORRUPT, "model checksum mismatch");
    }
    for (size_t i = 0; i < m->n; i++) {
        uint32_t u = hush_load_le32(b + HEADER + 4 * i);
        memcpy(&m->p[i], &u, 4);
        if (!isfinite(m->p[i])) {
            hush_model_free(m);
            return hush_err_set(err, HUSH_ECORRUPT, "model parameter %zu is not finite",
                                i);
        }
    }
    *out = m;
    return 0;
}

int hush_model_to_base64(const hush_model *m, char **out, hush_err *err)
{
    uint8_t *b = NULL;
    size_t len = 0;
    int rc = hush_model_serialize(m, &b, &len, err);
    if (rc != 0) {
        return rc;
    }
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    *out = hush_malloc(cap);
    if (*out == NULL) {
        hush_free(b);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory encoding a model");
    }
    sodium_bin2base64(*out, cap, b, len, sodium_base64_VARIANT_ORIGINAL);
    hush_free(b);
    return 0;
}

int hush_model_from_base64(const char *b64, size_t len, hush_model **out, hush_err *err)
{
    size_t cap = len / 4 * 3 + 3;
    uint8_t *b = hush_malloc(cap);
    if (b == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory decoding a model");
    }
    size_t got = 0;
    const char *end = NULL;
    int rc;
    if (sodium_base642bin(b, cap, b64, len, NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != b64 + len) {
        rc = hush_err_set(err, HUSH_EINVAL, "the model is not base64");
    } else {
        rc = hush_model_deserialize(b, got, out, err);
    }
    hush_free(b);
    return rc;
}
