/*
 * wire.c - mechanism parameters, reports and batches in JSON; base64;
 * sealed batches.
 *
 * Invariant: a report decoded here has passed hush_ldp_check_report, so what
 * the collector adds to a state is always in range for its mechanism.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "protocol_internal.h"

char *hush_b64_encode(const uint8_t *bin, size_t len)
{
    size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *out = hush_malloc(cap);
    if (out != NULL) {
        sodium_bin2base64(out, cap, bin, len, sodium_base64_VARIANT_ORIGINAL);
    }
    return out;
}

int hush_b64_decode(const char *b64, size_t len, uint8_t *out, size_t cap,
                    size_t *out_len)
{
    const char *end = NULL;
    if (sodium_base642bin(out, cap, b64, len, NULL, out_len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != b64 + len) {
        return HUSH_EINVAL;
    }
    return 0;
}

/* ---- parameters ---- */

json_t *hush_wire_params_to_json(const hush_ldp_params *p)
{
    json_t *o =
        json_pack("{s:s, s:I, s:f}", "name", hush_ldp_mechanism_name(p->mechanism),
                  "domain", (json_int_t)p->domain, "epsilon", p->epsilon);
    if (o == NULL) {
        return NULL;
    }
    int bad = 0;
    if (p->mechanism == HUSH_LDP_OLH) {
        bad |= json_object_set_new(o, "olh_g", json_integer(p->olh_g));
    }
    if (p->mechanism == HUSH_LDP_CMS || p->mechanism == HUSH_LDP_HCMS) {
        char seed[24];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->hash_seed);
        bad |= json_object_set_new(o, "sketch_rows", json_integer(p->sketch_rows));
        bad |= json_object_set_new(o, "sketch_cols", json_integer(p->sketch_cols));
        bad |= json_object_set_new(o, "hash_seed", json_string(seed));
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* An optional field absent is 0 (the mechanism's default); present, it
 * must be at least 1: an explicit 0 is a mistake, not a request for the
 * default. */
static int get_u32(const json_t *o, const char *key, bool required, uint32_t *out,
                   hush_err *err)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL && !required) {
        *out = 0;
        return 0;
    }
    json_int_t min = required ? 0 : 1;
    if (!json_is_integer(v) || json_integer_value(v) < min ||
        json_integer_value(v) > (json_int_t)UINT32_MAX) {
        return hush_err_set(err, HUSH_EINVAL,
                            "mechanism.%s must be an integer in [%d, 2^32)%s", key,
                            (int)min, required ? "" : " (leave it out for the default)");
    }
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

int hush_wire_params_from_json(const json_t *o, hush_ldp_params *out, hush_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(o)) {
        return hush_err_set(err, HUSH_EINVAL, "mechanism must be an object");
    }
    const char *name = json_string_value(json_object_get(o, "name"));
    int rc = hush_ldp_mechanism_parse(name, &out->mechanism, err);
    if (rc != 0) {
        return rc;
    }
    const json_t *eps = json_object_get(o, "epsilon");
    if (!json_is_number(eps)) {
        return hush_err_set(err, HUSH_EINVAL, "mechanism.epsilon must be a number");
    }
    out->epsilon = json_number_value(eps);
    if ((rc = get_u32(o, "domain", true, &out->domain, err)) != 0 ||
        (rc = get_u32(o, "olh_g", false, &out->olh_g, err)) != 0 ||
        (rc = get_u32(o, "sketch_rows", false, &out->sketch_rows, err)) != 0 ||
        (rc = get_u32(o, "sketch_cols", false, &out->sketch_cols, err)) != 0) {
        return rc;
    }
    const json_t *seed = json_object_get(o, "hash_seed");
    if (seed != NULL &&
        (!json_is_string(seed) ||
         hush_parse_u64(json_string_value(seed), 0, UINT64_MAX, "mechanism.hash_seed",
                        &out->hash_seed, err) != 0)) {
        return hush_err_set(
            err, HUSH_EINVAL,
            "mechanism.hash_seed must be a decimal string of a 64-bit number");
    }
    return 0;
}

/* ---- reports ---- */

static json_t *b64_json(const uint8_t *bin, size_t len)
{
    char *s = hush_b64_encode(bin, len);
    json_t *j = s != NULL ? json_string(s) : NULL;
    hush_free(s);
    return j;
}

json_t *hush_wire_report_to_json(const hush_ldp *m, const uint8_t *report)
{
    const hush_ldp_params *p = hush_ldp_get_params(m);
    size_t rs = hush_ldp_report_size(m);
    switch (p->mechanism) {
    case HUSH_LDP_GRR:
    case HUSH_LDP_HR:
        return json_integer(hush_load_le32(report));
    case HUSH_LDP_OLH:
    case HUSH_LDP_HCMS:
        return json_pack("[I, I]", (json_int_t)hush_load_le32(report),
                         (json_int_t)hush_load_le32(report + 4));
    case HUSH_LDP_OUE:
        return b64_json(report, rs);
    case HUSH_LDP_CMS: {
        json_t *bits = b64_json(report + 4, rs - 4);
        return bits != NULL
                   ? json_pack("[I, o]", (json_int_t)hush_load_le32(report), bits)
                   : NULL;
    }
    default:
        return NULL;
    }
}

static bool u32_of(const json_t *v, uint32_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > (json_int_t)UINT32_MAX) {
        return false;
    }
    *out = (uint32_t)json_integer_value(v);
    return true;
}

static bool bits_of(const json_t *v, uint8_t *out, size_t len)
{
    size_t got = 0;
    return json_is_string(v) &&
           hush_b64_decode(json_string_value(v), json_string_length(v), out, len, &got) ==
               0 &&
           got == len;
}

int hush_wire_report_from_json(const hush_ldp *m, const json_t *v, uint8_t *report,
                               hush_err *err)
{
    const hush_ldp_params *p = hush_ldp_get_params(m);
    size_t rs = hush_ldp_report_size(m);
    uint32_t a = 0, b = 0;
    bool ok = false;
    const char *shape = "";
    switch (p->mechanism) {
    case HUSH_LDP_GRR:
    case HUSH_LDP_HR:
        ok = u32_of(v, &a);
        hush_store_le32(report, a);
        shape = "an integer";
        break;
    case HUSH_LDP_OLH:
    case HUSH_LDP_HCMS:
        ok = json_is_array(v) && json_array_size(v) == 2 &&
             u32_of(json_array_get(v, 0), &a) && u32_of(json_array_get(v, 1), &b);
        hush_store_le32(report, a);
        hush_store_le32(report + 4, b);
        shape = "[integer, integer]";
        break;
    case HUSH_LDP_OUE:
        ok = bits_of(v, report, rs);
        shape = "base64 of the bit vector";
        break;
    case HUSH_LDP_CMS:
        ok = json_is_array(v) && json_array_size(v) == 2 &&
             u32_of(json_array_get(v, 0), &a) &&
             bits_of(json_array_get(v, 1), report + 4, rs - 4);
        hush_store_le32(report, a);
        shape = "[row, base64 of the bit vector]";
        break;
    default:
        break;
    }
    if (!ok) {
        return hush_err_set(err, HUSH_EINVAL, "a %s report must be %s",
                            hush_ldp_mechanism_name(p->mechanism), shape);
    }
    return hush_ldp_check_report(m, report, rs, err);
}

/* ---- batches ---- */

bool hush__valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > HUSH_CAMPAIGN_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_')) {
            return false;
        }
    }
    return true;
}

int hush_batch_read_header(const json_t *doc, hush_batch_header *out, hush_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(doc)) {
        return hush_err_set(err, HUSH_EINVAL, "a batch must be a JSON object");
    }
    const char *campaign = json_string_value(json_object_get(doc, "campaign"));
    if (campaign == NULL || !hush__valid_id(campaign)) {
        return hush_err_set(
            err, HUSH_EINVAL,
            "\"campaign\" must be an id of 1 to %d letters, digits, '-' or '_'",
            HUSH_CAMPAIGN_ID_MAX);
    }
    memcpy(out->campaign, campaign, strlen(campaign) + 1);
    const json_t *round = json_object_get(doc, "round");
    if (!json_is_integer(round) || json_integer_value(round) < 1 ||
        json_integer_value(round) > (json_int_t)UINT32_MAX) {
        return hush_err_set(err, HUSH_EINVAL, "\"round\" must be a positive integer");
    }
    out->round = (uint32_t)json_integer_value(round);
    const json_t *id = json_object_get(doc, "batch_id");
    size_t got = 0;
    if (!json_is_string(id) ||
        hush_b64_decode(json_string_value(id), json_string_length(id), out->batch_id,
                        sizeof out->batch_id, &got) != 0 ||
        got != HUSH_BATCH_ID_BYTES) {
        return hush_err_set(err, HUSH_EINVAL, "\"batch_id\" must be %d bytes in base64",
                            HUSH_BATCH_ID_BYTES);
    }
    const json_t *reports = json_object_get(doc, "reports");
    if (!json_is_array(reports) || json_array_size(reports) == 0 ||
        json_array_size(reports) > HUSH_BATCH_MAX_REPORTS) {
        return hush_err_set(err, HUSH_EINVAL,
                            "\"reports\" must be an array of 1 to %d reports",
                            HUSH_BATCH_MAX_REPORTS);
    }
    out->reports = reports;
    out->tokens = json_object_get(doc, "tokens");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)doc, key, val)
    {
        (void)val;
        if (strcmp(key, "campaign") != 0 && strcmp(key, "round") != 0 &&
            strcmp(key, "batch_id") != 0 && strcmp(key, "reports") != 0 &&
            strcmp(key, "tokens") != 0) {
            return hush_err_set(err, HUSH_EINVAL, "unknown batch field \"%s\"", key);
        }
    }
    return 0;
}

int hush_batch_decode_reports(const hush_ldp *m, const json_t *reports, uint8_t **out,
                              size_t *n, size_t *bad_index, hush_err *err)
{
    size_t count = json_array_size(reports);
    size_t rs = hush_ldp_report_size(m);
    uint8_t *buf = hush_malloc(count * rs);
    if (buf == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory decoding %zu reports",
                            count);
    }
    for (size_t i = 0; i < count; i++) {
        hush_err local = {0};
        int rc = hush_wire_report_from_json(m, json_array_get(reports, i), buf + i * rs,
                                            &local);
        if (rc != 0) {
            hush_free(buf);
            if (bad_index != NULL) {
                *bad_index = i;
            }
            return hush_err_set(err, rc, "report %zu: %s", i, local.msg);
        }
    }
    *out = buf;
    *n = count;
    return 0;
}

json_t *hush_batch_build(const hush_ldp *m, const char *campaign, uint32_t round,
                         const uint8_t batch_id[HUSH_BATCH_ID_BYTES],
                         const uint8_t *reports, size_t n)
{
    json_t *arr = json_array();
    size_t rs = hush_ldp_report_size(m);
    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *r = hush_wire_report_to_json(m, reports + i * rs);
        if (r == NULL || json_array_append_new(arr, r) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    json_t *id = b64_json(batch_id, HUSH_BATCH_ID_BYTES);
    if (arr == NULL || id == NULL) {
        json_decref(arr);
        json_decref(id);
        return NULL;
    }
    return json_pack("{s:s, s:I, s:o, s:o}", "campaign", campaign, "round",
                     (json_int_t)round, "batch_id", id, "reports", arr);
}

/* ---- sealing ---- */

int hush_seal(const uint8_t *msg, size_t len, const uint8_t public_key[32], char **out,
              hush_err *err)
{
    size_t clen;
    if (!hush_size_add(len, crypto_box_SEALBYTES, &clen)) {
        return hush_err_set(err, HUSH_EOVERFLOW, "message too large to seal");
    }
    uint8_t *c = hush_malloc(clen);
    if (c == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory sealing %zu bytes", len);
    }
    if (crypto_box_seal(c, msg, len, public_key) != 0) {
        hush_free(c);
        return hush_err_set(err, HUSH_EINVAL, "crypto_box_seal failed (bad public key?)");
    }
    char *b64 = hush_b64_encode(c, clen);
    hush_free(c);
    if (b64 == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory sealing");
    }
    json_t *doc = json_pack("{s:s}", "sealed", b64);
    hush_free(b64);
    *out = doc != NULL ? hush_json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return *out != NULL ? 0 : hush_err_set(err, HUSH_ENOMEM, "out of memory sealing");
}

int hush_unseal(const char *b64, size_t b64_len, const uint8_t public_key[32],
                const uint8_t secret_key[32], uint8_t **out, size_t *out_len,
                hush_err *err)
{
    size_t cap = b64_len / 4 * 3 + 3;
    uint8_t *c = hush_malloc(cap ? cap : 1);
    if (c == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory opening a sealed batch");
    }
    size_t clen = 0;
    if (hush_b64_decode(b64, b64_len, c, cap, &clen) != 0 ||
        clen < crypto_box_SEALBYTES) {
        hush_free(c);
        return hush_err_set(err, HUSH_ESIGNATURE,
                            "\"sealed\" is not valid sealed base64");
    }
    uint8_t *m = hush_malloc(clen - crypto_box_SEALBYTES + 1);
    if (m == NULL) {
        hush_free(c);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory opening a sealed batch");
    }
    if (crypto_box_seal_open(m, c, clen, public_key, secret_key) != 0) {
        hush_free(c);
        hush_free(m);
        return hush_err_set(err, HUSH_ESIGNATURE,
                            "sealed batch does not open with the collector's key "
                            "(tampered, truncated, or sealed to another key)");
    }
    hush_free(c);
    m[clen - crypto_box_SEALBYTES] = '\0';
    *out = m;
    *out_len = clen - crypto_box_SEALBYTES;
    return 0;
}
