/*
 * publication.c - parsing, validating and verifying a campaign publication,
 * the signed document a device takes part in a round from.
 *
 * Invariant: a publication that parses is usable as is: its parameters
 * build a mechanism, its domain matches its candidates (plus "none" for
 * synthetic campaigns), its budget allows at least one report, and a
 * synthetic campaign's embedder builds and its matrix has one int8 row per
 * candidate of the embedder's dimension.  The device never has to re-check.
 */
#include <math.h>
#include <sodium.h>
#include <stdlib.h>

#include "hush_json.h"
#include "hush_protocol.h"

#define CANDIDATE_ID_MAX 128
#define MAX_CANDIDATES 1000000
#define MAX_REPORTS_PER_DAY 10000

void hush_publication_free(hush_publication *p)
{
    if (p == NULL) {
        return;
    }
    for (size_t i = 0; i < p->n_candidates; i++) {
        if (p->candidate_ids != NULL) {
            hush_free(p->candidate_ids[i]);
        }
        if (p->candidate_texts != NULL) {
            hush_free(p->candidate_texts[i]);
        }
    }
    hush_free(p->candidate_ids);
    hush_free(p->candidate_texts);
    hush_free(p->embedder);
    hush_matrix_free(p->matrix);
    hush_free(p);
}

int hush_publication_verify(const char *body, size_t len, const char *signature_b64,
                            const uint8_t public_key[32], hush_err *err)
{
    uint8_t sig[crypto_sign_BYTES];
    size_t got = 0;
    if (signature_b64 == NULL) {
        return hush_err_set(err, HUSH_ESIGNATURE, "the publication is not signed (no %s)",
                            HUSH_SIGNATURE_HEADER);
    }
    if (hush_b64_decode(signature_b64, strlen(signature_b64), sig, sizeof sig, &got) !=
            0 ||
        got != sizeof sig) {
        return hush_err_set(err, HUSH_ESIGNATURE,
                            "the signature is not %d bytes of base64", crypto_sign_BYTES);
    }
    if (crypto_sign_verify_detached(sig, (const unsigned char *)body, len, public_key) !=
        0) {
        return hush_err_set(err, HUSH_ESIGNATURE,
                            "the publication's signature does not verify with the pinned "
                            "collector key");
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int bad(hush_err *err, const char *what)
{
    return hush_err_set(err, HUSH_EINVAL, "publication: %s", what);
}

static int parse_candidates(const json_t *arr, hush_publication *p, bool keep_texts,
                            hush_err *err)
{
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n == 0 || n > MAX_CANDIDATES) {
        return bad(err, "\"candidates\" must be an array of 1 to 1000000 candidates");
    }
    p->candidate_ids = hush_calloc(n, sizeof(char *));
    p->candidate_texts = keep_texts ? hush_calloc(n, sizeof(char *)) : NULL;
    if (p->candidate_ids == NULL || (keep_texts && p->candidate_texts == NULL)) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for %zu candidates", n);
    }
    p->n_candidates = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(arr, i);
        const json_t *id = json_object_get(c, "id");
        const json_t *text = json_object_get(c, "text");
        if (!json_is_string(id) || json_string_length(id) == 0 ||
            json_string_length(id) > CANDIDATE_ID_MAX || !json_is_string(text)) {
            return hush_err_set(
                err, HUSH_EINVAL,
                "publication: candidate %zu needs a string \"id\" (1 to %d "
                "bytes) and a string \"text\"",
                i, CANDIDATE_ID_MAX);
        }
        if (strcmp(json_string_value(id), HUSH_NO_MATCH_ID) == 0) {
            return hush_err_set(err, HUSH_EINVAL,
                                "publication: candidate id \"%s\" is reserved",
                                HUSH_NO_MATCH_ID);
        }
        p->candidate_ids[i] = hush_strdup(json_string_value(id));
        if (keep_texts) {
            p->candidate_texts[i] = hush_strdup(json_string_value(text));
        }
        if (p->candidate_ids[i] == NULL ||
            (keep_texts && p->candidate_texts[i] == NULL)) {
            return hush_err_set(err, HUSH_ENOMEM, "out of memory for candidates");
        }
    }
    /* ids are unique */
    char **sorted = hush_malloc(n * sizeof *sorted);
    if (sorted == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for candidates");
    }
    memcpy(sorted, p->candidate_ids, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_str);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++) {
        if (strcmp(sorted[i - 1], sorted[i]) == 0) {
            rc = hush_err_set(err, HUSH_EINVAL,
                              "publication: candidate id \"%s\" repeats", sorted[i]);
        }
    }
    hush_free(sorted);
    return rc;
}

static int parse_synthetic(json_t *doc, hush_publication *p, hush_err *err)
{
    const json_t *thr = json_object_get(doc, "match_threshold");
    if (!json_is_number(thr) || !(json_number_value(thr) >= -1.0) ||
        !(json_number_value(thr) <= 1.0)) {
        return bad(err, "\"match_threshold\" must be a number in [-1, 1]");
    }
    p->match_threshold = json_number_value(thr);
    const char *none = json_string_value(json_object_get(doc, "no_match_id"));
    if (none == NULL || strcmp(none, HUSH_NO_MATCH_ID) != 0) {
        return bad(err, "\"no_match_id\" must be \"none\"");
    }
    const json_t *emb = json_object_get(doc, "embedder");
    if (!json_is_object(emb)) {
        return bad(err, "\"embedder\" must be an embedder description");
    }
    char *desc = hush_json_dumps(emb, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (desc == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    /* the form only: the device checks the table it names when it embeds */
    uint32_t dim = 0;
    int rc = hush_embedder_canonical(desc, strlen(desc), &p->embedder, &dim, err);
    hush_free(desc);
    if (rc != 0) {
        return rc;
    }
    const json_t *mat = json_object_get(doc, "matrix");
    if (!json_is_string(mat)) {
        return bad(err, "\"matrix\" must be the candidates' int8 matrix in base64");
    }
    rc = hush_matrix_from_base64(json_string_value(mat), json_string_length(mat),
                                 &p->matrix, err);
    json_object_del(doc, "matrix"); /* decoded: free the base64 early */
    if (rc != 0) {
        return rc;
    }
    if (hush_matrix_get_type(p->matrix) != HUSH_MATRIX_I8 ||
        hush_matrix_rows(p->matrix) != p->n_candidates ||
        hush_matrix_cols(p->matrix) != dim) {
        return hush_err_set(
            err, HUSH_EINVAL,
            "publication: the matrix must be int8, one row per candidate (%zu) "
            "and one column per embedder dimension (%u)",
            p->n_candidates, dim);
    }
    return 0;
}

int hush_publication_parse(const char *body, size_t len, hush_publication **out,
                           hush_err *err)
{
    return hush_publication_parse_flags(body, len, 0, out, err);
}

int hush_publication_parse_flags(const char *body, size_t len, unsigned flags,
                                 hush_publication **out, hush_err *err)
{
    json_error_t jerr;
    int jcode = 0;
    json_t *doc = hush__json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr, &jcode);
    if (doc == NULL) {
        return hush_err_set(err, jcode, "publication is not JSON: %s", jerr.text);
    }
    hush_publication *p = hush_calloc(1, sizeof *p);
    int rc = 0;
    if (p == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory for a publication");
        goto out;
    }
    const char *campaign = json_string_value(json_object_get(doc, "campaign"));
    const json_t *round = json_object_get(doc, "round");
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    if (campaign == NULL || strlen(campaign) == 0 ||
        strlen(campaign) > HUSH_CAMPAIGN_ID_MAX) {
        rc = bad(err, "\"campaign\" must be a campaign id");
        goto out;
    }
    memcpy(p->campaign, campaign, strlen(campaign) + 1);
    if (!json_is_integer(round) || json_integer_value(round) < 1 ||
        json_integer_value(round) > (json_int_t)UINT32_MAX) {
        rc = bad(err, "\"round\" must be a positive integer");
        goto out;
    }
    p->round = (uint32_t)json_integer_value(round);
    if (kind != NULL && strcmp(kind, "poll") == 0) {
        p->kind = HUSH_CAMPAIGN_POLL;
    } else if (kind != NULL && strcmp(kind, "synthetic") == 0) {
        p->kind = HUSH_CAMPAIGN_SYNTHETIC;
    } else {
        rc = bad(err, "\"kind\" must be \"poll\" or \"synthetic\"");
        goto out;
    }
    if ((rc = hush_wire_params_from_json(json_object_get(doc, "mechanism"), &p->params,
                                         err)) != 0) {
        goto out;
    }
    hush_ldp *m = NULL;
    if ((rc = hush_ldp_new(&p->params, &m, err)) != 0) {
        goto out;
    }
    p->params = *hush_ldp_get_params(m);
    hush_ldp_free(m);
    const json_t *budget = json_object_get(doc, "budget");
    const json_t *rpd = json_object_get(budget, "reports_per_device_per_day");
    const json_t *epd = json_object_get(budget, "epsilon_per_device_per_day");
    if (!json_is_integer(rpd) || json_integer_value(rpd) < 1 ||
        json_integer_value(rpd) > MAX_REPORTS_PER_DAY || !json_is_number(epd) ||
        !(json_number_value(epd) >= p->params.epsilon) ||
        !isfinite(json_number_value(epd))) {
        rc = hush_err_set(
            err, HUSH_EINVAL,
            "publication: \"budget\" needs reports_per_device_per_day in [1, %d] "
            "and epsilon_per_device_per_day >= the report epsilon %g",
            MAX_REPORTS_PER_DAY, p->params.epsilon);
        goto out;
    }
    p->reports_per_device_per_day = (uint32_t)json_integer_value(rpd);
    p->epsilon_per_device_per_day = json_number_value(epd);
    const json_t *minr = json_object_get(doc, "min_reports");
    if (!json_is_integer(minr) || json_integer_value(minr) < 0) {
        rc = bad(err, "\"min_reports\" must be a non-negative integer");
        goto out;
    }
    p->min_reports = (uint64_t)json_integer_value(minr);
    const char *kind_s = json_string_value(json_object_get(doc, "kind"));
    bool keep_texts = !(flags & HUSH_PUBLICATION_DEVICE) ||
                      (kind_s != NULL && strcmp(kind_s, "poll") == 0);
    const json_t *count = json_object_get(doc, "candidate_count");
    if (count != NULL) {
        /* the device view of a synthetic campaign: rows of the matrix only */
        if (p->kind != HUSH_CAMPAIGN_SYNTHETIC ||
            json_object_get(doc, "candidates") != NULL || !json_is_integer(count) ||
            json_integer_value(count) < 1 || json_integer_value(count) > MAX_CANDIDATES) {
            rc = bad(err, "\"candidate_count\" (1 to 1000000) replaces \"candidates\" "
                          "only in the device view of a synthetic campaign");
            goto out;
        }
        p->n_candidates = (size_t)json_integer_value(count);
    } else if ((rc = parse_candidates(json_object_get(doc, "candidates"), p, keep_texts,
                                      err)) != 0) {
        goto out;
    }
    json_object_del(doc, "candidates"); /* copied: free its objects early */
    size_t want = p->n_candidates + (p->kind == HUSH_CAMPAIGN_SYNTHETIC ? 1 : 0);
    if (p->params.domain != want) {
        rc = hush_err_set(
            err, HUSH_EINVAL,
            "publication: the mechanism's domain is %u, the candidates need %zu",
            p->params.domain, want);
        goto out;
    }
    const json_t *seal = json_object_get(doc, "sealing_key");
    if (seal != NULL) {
        size_t got = 0;
        if (!json_is_string(seal) ||
            hush_b64_decode(json_string_value(seal), json_string_length(seal),
                            p->sealing_key, sizeof p->sealing_key, &got) != 0 ||
            got != sizeof p->sealing_key) {
            rc = bad(err, "\"sealing_key\" must be 32 bytes of base64");
            goto out;
        }
        p->has_sealing_key = true;
    }
    const json_t *tokens = json_object_get(doc, "require_tokens");
    if (tokens != NULL && !json_is_boolean(tokens)) {
        rc = bad(err, "\"require_tokens\" must be true or false");
        goto out;
    }
    p->require_tokens = json_is_true(tokens);
    if (p->kind == HUSH_CAMPAIGN_SYNTHETIC) {
        rc = parse_synthetic(doc, p, err);
    }
out:
    json_decref(doc);
    if (rc != 0) {
        hush_publication_free(p);
        return rc;
    }
    *out = p;
    return 0;
}
