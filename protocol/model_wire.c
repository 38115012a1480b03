/*
 * model_wire.c - the documents of federated learning: a model publication
 * (what a device trains from) and an update (what it sends back).
 *
 * Invariant: a publication that parses is usable as is: its model, its
 * training settings and its privacy settings are all in range, and its
 * labels are as many as the model's classes.
 */
#include <math.h>
#include <stdlib.h>

#include "hush_json.h"
#include "protocol_internal.h"

void hush_model_pub_free(hush_model_pub *p)
{
    if (p == NULL) {
        return;
    }
    /* the labels first: their number is the model's */
    size_t n = p->global != NULL ? hush_model_get_spec(p->global)->classes : 0;
    for (size_t i = 0; p->labels != NULL && i < n; i++) {
        hush_free(p->labels[i]);
    }
    hush_free(p->labels);
    hush_model_free(p->global);
    hush_free(p->embedder);
    hush_free(p);
}

static int bad(hush_err *err, const char *what)
{
    return hush_err_set(err, HUSH_EINVAL, "model publication: %s", what);
}

static bool number_in(const json_t *v, double lo, double hi, double *out)
{
    if (!json_is_number(v)) {
        return false;
    }
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) {
        return false;
    }
    *out = x;
    return true;
}

/* "secagg": the round's secure aggregation and distributed DP; the plan is
 * computed here from its inputs and must be the one published. */
static int read_secagg(const json_t *doc, hush_model_pub *p, hush_err *err)
{
    const char *agg = json_string_value(json_object_get(doc, "aggregation"));
    const json_t *sa = json_object_get(doc, "secagg");
    if (json_object_get(doc, "aggregation") != NULL &&
        (agg == NULL || (strcmp(agg, "plain") != 0 && strcmp(agg, "secagg") != 0))) {
        return bad(err, "\"aggregation\" is plain or secagg");
    }
    p->secagg = agg != NULL && strcmp(agg, "secagg") == 0;
    if (!p->secagg) {
        return sa == NULL ? 0
                          : bad(err, "\"secagg\" without \"aggregation\": \"secagg\"");
    }
    double v[7];
    static const char *const names[] = {
        "min_devices",      "max_devices", "max_participations", "bits",
        "noise_multiplier", "delta",       "stage_seconds"};
    static const double
        lo[] = {2, 3, 1, 8, 1e-3, 1e-300, 1e-3},
        hi[] = {HUSH_SECAGG_MAX_DEVICES, HUSH_SECAGG_MAX_DEVICES, 1e6, 32, 1e4, 0.5, 1e6};
    for (int i = 0; i < 7; i++) {
        if (!number_in(json_object_get(sa, names[i]), lo[i], hi[i], &v[i]) ||
            (i < 4 && v[i] != floor(v[i]))) {
            return hush_err_set(err, HUSH_EINVAL,
                                "model publication: \"secagg\".%s must be a number in "
                                "[%g, %g]",
                                names[i], lo[i], hi[i]);
        }
    }
    if (!number_in(json_object_get(sa, "dropout"), 0, 0.9, &p->sa.dropout) ||
        !number_in(json_object_get(sa, "dishonest"), 0, 0.5, &p->sa.dishonest)) {
        return bad(err, "\"secagg\" needs dropout in [0, 0.9] and dishonest in [0, 0.5]");
    }
    p->sa.min_devices = (uint32_t)v[0];
    p->sa.max_devices = (uint32_t)v[1];
    p->sa.max_participations = (uint32_t)v[2];
    p->sa.noise_multiplier = v[4];
    p->sa.delta = v[5];
    p->sa.stage_seconds = v[6];
    const json_t *ddg = json_object_get(sa, "ddg");
    uint8_t seed[32];
    size_t got = 0;
    const json_t *sv = json_object_get(ddg, "seed");
    if (!json_is_string(sv) ||
        hush_b64_decode(json_string_value(sv), json_string_length(sv), seed, sizeof seed,
                        &got) != 0 ||
        got != sizeof seed) {
        return bad(err, "\"secagg\".ddg.seed must be 32 bytes in base64");
    }
    int rc =
        hush_ddg_plan((uint32_t)hush_model_pub_update_size(p), p->clip, p->sa.min_devices,
                      p->sa.max_devices, (uint32_t)v[3], v[4], seed, &p->sa.plan, err);
    if (rc != 0) {
        return rc;
    }
    double gamma = json_number_value(json_object_get(ddg, "gamma")),
           sigma = json_number_value(json_object_get(ddg, "sigma"));
    if (!(fabs(gamma - p->sa.plan.gamma) <= 1e-9 * p->sa.plan.gamma) ||
        sigma != p->sa.plan.sigma) {
        return bad(err, "the published distributed-DP plan is not the one its inputs "
                        "give");
    }
    return 0;
}

/* "ditto_lambda": a number in [0, 1e6], or 1 to 8 increasing ones for
 * each device to choose from (absent: 0.1). */
static int read_lambdas(const json_t *lam, hush_model_pub *p, hush_err *err)
{
    p->ditto_lambdas[0] = p->ditto_lambda = 0.1;
    p->n_ditto_lambdas = 1;
    if (lam == NULL) {
        return 0;
    }
    size_t n = json_is_array(lam) ? json_array_size(lam) : 1;
    bool ok = n >= 1 && n <= 8;
    for (size_t i = 0; ok && i < n; i++) {
        const json_t *v = json_is_array(lam) ? json_array_get(lam, i) : lam;
        ok = number_in(v, 0, 1e6, &p->ditto_lambdas[i]) &&
             (i == 0 || p->ditto_lambdas[i] > p->ditto_lambdas[i - 1]);
    }
    if (!ok) {
        return bad(err, "\"ditto_lambda\" is a number in [0, 1e6] or 1 to 8 increasing "
                        "ones");
    }
    p->n_ditto_lambdas = n;
    p->ditto_lambda = p->ditto_lambdas[0];
    return 0;
}

/* "upload": how the device sends its update (absent: float32). */
static int read_upload(const json_t *doc, hush_model_pub *p, hush_err *err)
{
    const json_t *up = json_object_get(doc, "upload");
    if (up == NULL) {
        return 0;
    }
    const char *enc = json_string_value(json_object_get(up, "encoding"));
    if (enc != NULL && strcmp(enc, "float32") == 0 && json_object_size(up) == 1) {
        return 0;
    }
    double shift = -1;
    if (enc == NULL || strcmp(enc, "lattice") != 0 || json_object_size(up) != 3 ||
        !number_in(json_object_get(up, "shift"), 0, HUSH_LATTICE_SHIFT_MAX, &shift) ||
        shift != floor(shift) ||
        !number_in(json_object_get(up, "step"), 1e-300, 1e300, &p->upload.step)) {
        return bad(err, "\"upload\" is {\"encoding\": \"float32\"} or {\"encoding\": "
                        "\"lattice\", \"shift\": 0 to 16, \"step\": a positive number}");
    }
    p->upload.lattice = true;
    p->upload.shift = (uint32_t)shift;
    return 0;
}

int hush_model_pub_parse(const char *body, size_t len, hush_model_pub **out,
                         hush_err *err)
{
    json_error_t jerr;
    int jcode = HUSH_EINVAL;
    json_t *doc = hush__json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr, &jcode);
    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        return hush_err_set(err, jcode, "model publication is not a JSON object%s%s",
                            doc == NULL ? ": " : "", doc == NULL ? jerr.text : "");
    }
    hush_model_pub *p = hush_calloc(1, sizeof *p);
    int rc = 0;
    if (p == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory for a model publication");
        goto out;
    }
    const char *id = json_string_value(json_object_get(doc, "model"));
    const json_t *round = json_object_get(doc, "round");
    if (id == NULL || !hush__valid_id(id)) {
        rc = bad(err, "\"model\" must be an id of 1 to 64 letters, digits, '-' or '_'");
        goto out;
    }
    snprintf(p->model, sizeof p->model, "%s", id);
    if (!json_is_integer(round) || json_integer_value(round) < 1 ||
        json_integer_value(round) > (json_int_t)UINT32_MAX) {
        rc = bad(err, "\"round\" must be a positive integer");
        goto out;
    }
    p->round = (uint32_t)json_integer_value(round);
    const json_t *w = json_object_get(doc, "weights");
    if (!json_is_string(w)) {
        rc = bad(err, "\"weights\" must be the model in base64");
        goto out;
    }
    if ((rc = hush_model_from_base64(json_string_value(w), json_string_length(w),
                                     &p->global, err)) != 0) {
        goto out;
    }
    const hush_model_spec *spec = hush_model_get_spec(p->global);
    /* the architecture, stated again, must be the weights' */
    const json_t *arch = json_object_get(doc, "architecture");
    hush_model_kind kind;
    if (hush_model_kind_parse(json_string_value(json_object_get(arch, "kind")), &kind,
                              NULL) != 0 ||
        kind != spec->kind ||
        json_integer_value(json_object_get(arch, "inputs")) != (json_int_t)spec->inputs ||
        json_integer_value(json_object_get(arch, "classes")) !=
            (json_int_t)spec->classes ||
        json_integer_value(json_object_get(arch, "hidden")) != (json_int_t)spec->hidden) {
        rc = bad(err, "\"architecture\" does not describe the weights");
        goto out;
    }
    const json_t *labels = json_object_get(doc, "labels");
    if (json_array_size(labels) != spec->classes) {
        rc = bad(err, "\"labels\" must name every class");
        goto out;
    }
    p->labels = hush_calloc(spec->classes, sizeof *p->labels);
    for (size_t i = 0; p->labels != NULL && i < spec->classes; i++) {
        const char *l = json_string_value(json_array_get(labels, i));
        if (l == NULL || strlen(l) == 0 || strlen(l) > 128) {
            rc = bad(err, "every label is a string of 1 to 128 bytes");
            goto out;
        }
        if ((p->labels[i] = hush_strdup(l)) == NULL) {
            break;
        }
    }
    const json_t *emb = json_object_get(doc, "embedder");
    char *desc = json_is_object(emb)
                     ? hush_json_dumps(emb, JSON_COMPACT | JSON_REAL_PRECISION(17))
                     : NULL;
    uint32_t edim = 0;
    if (desc == NULL ||
        hush_embedder_canonical(desc, strlen(desc), &p->embedder, &edim, err) != 0) {
        hush_free(desc);
        rc = err != NULL && err->code != 0 ? err->code
                                           : bad(err, "\"embedder\" is missing");
        goto out;
    }
    hush_free(desc);
    bool dims_ok = edim == spec->inputs;
    if (!dims_ok) {
        rc = bad(err, "the embedder's dimension is not the model's input size");
        goto out;
    }
    double x = 0;
    if (!number_in(json_object_get(doc, "clip_norm"), 1e-9, 1e9, &p->clip)) {
        rc = bad(err, "\"clip_norm\" must be a positive number");
        goto out;
    }
    p->adaptive = json_is_true(json_object_get(doc, "adaptive_clipping"));
    if (!number_in(json_object_get(doc, "sampling_rate"), 1e-9, 1, &p->sampling_rate)) {
        rc = bad(err, "\"sampling_rate\" must be in (0, 1]");
        goto out;
    }
    const json_t *local = json_object_get(doc, "local");
    if (!number_in(json_object_get(local, "epochs"), 1, 1000, &x)) {
        rc = bad(err, "\"local\" needs epochs (1 to 1000), batch and lr");
        goto out;
    }
    p->local.epochs = (uint32_t)x;
    if (!number_in(json_object_get(local, "batch"), 1, 65536, &x)) {
        rc = bad(err, "\"local\" needs epochs, batch (1 to 65536) and lr");
        goto out;
    }
    p->local.batch = (uint32_t)x;
    if (!number_in(json_object_get(local, "lr"), 1e-9, 100, &x)) {
        rc = bad(err, "\"local\" needs epochs, batch and lr (0 to 100]");
        goto out;
    }
    p->local.lr = (float)x;
    const json_t *state = json_object_get(doc, "state");
    const char *st = json_string_value(state);
    p->open = state == NULL || (st != NULL && strcmp(st, "running") == 0);
    if (state != NULL && !p->open &&
        (st == NULL ||
         (strcmp(st, "finished") != 0 && strcmp(st, "budget_exhausted") != 0))) {
        rc = bad(err, "\"state\" is running, finished or budget_exhausted");
        goto out;
    }
    const char *pers = json_string_value(json_object_get(doc, "personalization"));
    if (pers == NULL || strcmp(pers, "none") == 0) {
        p->personalization = HUSH_PERSONAL_NONE;
    } else if (strcmp(pers, "fedper") == 0) {
        p->personalization = HUSH_PERSONAL_FEDPER;
    } else if (strcmp(pers, "ditto") == 0) {
        p->personalization = HUSH_PERSONAL_DITTO;
    } else {
        rc = bad(err, "\"personalization\" is none, fedper or ditto");
        goto out;
    }
    if (p->personalization == HUSH_PERSONAL_FEDPER &&
        hush_model_head_offset(p->global) == 0) {
        rc = bad(err, "fedper needs a model with a body (an MLP)");
        goto out;
    }
    if ((rc = read_lambdas(json_object_get(doc, "ditto_lambda"), p, err)) != 0) {
        goto out;
    }
    const json_t *ln = json_object_get(doc, "local_noise_multiplier");
    if (ln != NULL && !number_in(ln, 0, 1e6, &p->local_noise)) {
        rc = bad(err, "\"local_noise_multiplier\" must be a number in [0, 1e6]");
        goto out;
    }
    const json_t *upd =
        json_object_get(json_object_get(doc, "budget"), "updates_per_device_per_day");
    p->updates_per_device_per_day = 1;
    if (upd != NULL) {
        if (!number_in(upd, 1, 10000, &x) || x != floor(x)) {
            rc = bad(err, "\"budget\".updates_per_device_per_day must be 1 to 10000");
            goto out;
        }
        p->updates_per_device_per_day = (uint32_t)x;
    }
    if ((rc = read_secagg(doc, p, err)) != 0 || (rc = read_upload(doc, p, err)) != 0) {
        goto out;
    }
    if (p->labels == NULL || p->labels[spec->classes - 1] == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory for a model publication");
    }
out:
    json_decref(doc);
    if (rc != 0) {
        hush_model_pub_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

size_t hush_model_pub_update_size(const hush_model_pub *p)
{
    return p->personalization == HUSH_PERSONAL_FEDPER ? hush_model_head_offset(p->global)
                                                      : hush_model_size(p->global);
}

char *hush_model_update_build(const char *model, uint32_t round,
                              const uint8_t batch_id[HUSH_BATCH_ID_BYTES],
                              const float *update, size_t n, bool unclipped)
{
    char *vec = hush_vec_to_base64(update, n);
    char *id = hush_b64_encode(batch_id, HUSH_BATCH_ID_BYTES);
    json_t *doc = vec != NULL && id != NULL
                      ? json_pack("{s:s, s:I, s:s, s:s, s:b}", "model", model, "round",
                                  (json_int_t)round, "batch_id", id, "update", vec,
                                  "unclipped", unclipped)
                      : NULL;
    /* hush_json_dumps allocates with hush's allocator: the text is the answer */
    char *out = doc != NULL ? hush_json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    hush_free(vec);
    hush_free(id);
    return out;
}

char *hush_model_update_build_lattice(const char *model, uint32_t round,
                                      const uint8_t batch_id[HUSH_BATCH_ID_BYTES],
                                      const int32_t *k, size_t n, uint32_t shift,
                                      bool unclipped)
{
    uint8_t *packed = NULL;
    size_t plen = 0;
    if (hush_lattice_pack(k, n, &packed, &plen, NULL) != 0) {
        return NULL;
    }
    char *vec = hush_b64_encode(packed, plen);
    char *id = hush_b64_encode(batch_id, HUSH_BATCH_ID_BYTES);
    json_t *doc =
        vec != NULL && id != NULL
            ? json_pack("{s:s, s:I, s:s, s:s, s:I, s:s, s:b}", "model", model, "round",
                        (json_int_t)round, "batch_id", id, "encoding", "lattice", "shift",
                        (json_int_t)shift, "update", vec, "unclipped", unclipped)
            : NULL;
    char *out = doc != NULL ? hush_json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    hush_free(packed);
    hush_free(vec);
    hush_free(id);
    return out;
}

/* "update" as Rice-coded lattice integers (base64) into out->lattice. */
static int read_lattice(const json_t *vec, const json_t *shift, size_t n,
                        hush_model_update *out, hush_err *err)
{
    double s = -1;
    if (!number_in(shift, 0, HUSH_LATTICE_SHIFT_MAX, &s) || s != floor(s)) {
        return hush_err_set(err, HUSH_EINVAL,
                            "lattice integers need a \"shift\" of 0 to %u",
                            HUSH_LATTICE_SHIFT_MAX);
    }
    size_t cap = json_string_length(vec) / 4 * 3 + 3, got = 0;
    uint8_t *bytes = hush_malloc(cap);
    out->lattice = hush_malloc(n * sizeof *out->lattice + 1);
    int rc = 0;
    if (bytes == NULL || out->lattice == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory for an update");
    } else if (hush_b64_decode(json_string_value(vec), json_string_length(vec), bytes,
                               cap, &got) != 0) {
        rc = hush_err_set(err, HUSH_EINVAL, "the update is not base64");
    } else {
        rc = hush_lattice_unpack(bytes, got, n, out->lattice, err);
    }
    hush_free(bytes);
    out->shift = (uint32_t)s;
    return rc;
}

int hush_model_update_parse(const char *body, size_t len, size_t n,
                            hush_model_update *out, hush_err *err)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    int jcode = HUSH_EINVAL;
    json_t *doc = hush__json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr, &jcode);
    int rc = 0;
    if (doc == NULL || !json_is_object(doc)) {
        rc = hush_err_set(err, jcode, "the update is not a JSON object%s%s",
                          doc == NULL ? ": " : "", doc == NULL ? jerr.text : "");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        if (strcmp(key, "model") != 0 && strcmp(key, "round") != 0 &&
            strcmp(key, "batch_id") != 0 && strcmp(key, "update") != 0 &&
            strcmp(key, "unclipped") != 0 && strcmp(key, "encoding") != 0 &&
            strcmp(key, "shift") != 0) {
            rc =
                hush_err_set(err, HUSH_EINVAL, "unknown field \"%s\" in the update", key);
            goto out;
        }
    }
    const char *model = json_string_value(json_object_get(doc, "model"));
    const json_t *round = json_object_get(doc, "round");
    const json_t *id = json_object_get(doc, "batch_id");
    const json_t *vec = json_object_get(doc, "update");
    const json_t *unclipped = json_object_get(doc, "unclipped");
    const json_t *encoding = json_object_get(doc, "encoding");
    const char *enc = json_string_value(encoding);
    size_t got = 0;
    if (model == NULL || !hush__valid_id(model) || !json_is_integer(round) ||
        json_integer_value(round) < 1 ||
        json_integer_value(round) > (json_int_t)UINT32_MAX || !json_is_string(id) ||
        hush_b64_decode(json_string_value(id), json_string_length(id), out->batch_id,
                        sizeof out->batch_id, &got) != 0 ||
        got != HUSH_BATCH_ID_BYTES || !json_is_string(vec) ||
        (unclipped != NULL && !json_is_boolean(unclipped)) ||
        (encoding != NULL &&
         (enc == NULL || (strcmp(enc, "float32") != 0 && strcmp(enc, "lattice") != 0))) ||
        ((enc == NULL || strcmp(enc, "lattice") != 0) &&
         json_object_get(doc, "shift") != NULL)) {
        rc = hush_err_set(
            err, HUSH_EINVAL,
            "an update is {\"model\": id, \"round\": n, \"batch_id\": 16 bytes "
            "base64, \"update\": base64 float32, \"unclipped\": bool}, or with "
            "\"encoding\": \"lattice\" and \"shift\", the update as lattice "
            "integers");
        goto out;
    }
    snprintf(out->model, sizeof out->model, "%s", model);
    out->round = (uint32_t)json_integer_value(round);
    out->unclipped = json_is_true(unclipped);
    out->n = n;
    if (enc != NULL && strcmp(enc, "lattice") == 0) {
        rc = read_lattice(vec, json_object_get(doc, "shift"), n, out, err);
        goto out;
    }
    out->update = hush_malloc(n * sizeof *out->update + 1);
    if (out->update == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory for an update");
        goto out;
    }
    out->n = n;
    rc = hush_vec_from_base64(json_string_value(vec), json_string_length(vec),
                              out->update, n, err);
out:
    json_decref(doc);
    if (rc != 0) {
        hush_free(out->update);
        hush_free(out->lattice);
        out->update = NULL;
        out->lattice = NULL;
    }
    return rc;
}
