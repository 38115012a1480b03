/*
 * secagg_wire.c - the stage documents of secure aggregation
 * (hush_protocol.h): one parser and one writer for every stage, strict
 * about shapes and sizes (no unknown stage, no missing or extra-long
 * field, base64 of exactly the right length).
 */
#include <stdio.h>
#include <string.h>

#include "hush_json.h"
#include "hush_protocol.h"

static const char *const stage_names[] = {NULL,        "keys",   "list",
                                          "boxes",     "masked", "survivors",
                                          "signature", "unmask", "reveals"};

static int bad(hush_err *err, const char *what)
{
    return hush_err_set(err, HUSH_EINVAL, "secagg document: %s", what);
}

void hush_secagg_msg_free(hush_secagg_msg *m)
{
    if (m == NULL) {
        return;
    }
    hush_free(m->list);
    hush_free(m->boxes);
    hush_free(m->y);
    hush_free(m->indices);
    hush_free(m->sigs);
    hush_free(m->reveals);
    hush_free(m);
}

/* ---- reading ---- */

/* A base64 string field of exactly `want` bytes. */
static bool blob(const json_t *obj, const char *name, uint8_t *out, size_t want)
{
    const json_t *v = json_object_get(obj, name);
    size_t got = 0;
    return json_is_string(v) &&
           hush_b64_decode(json_string_value(v), json_string_length(v), out, want,
                           &got) == 0 &&
           got == want;
}

static bool index_of(const json_t *obj, const char *name, uint32_t *out)
{
    const json_t *v = json_object_get(obj, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) >= HUSH_SECAGG_MAX_DEVICES) {
        return false;
    }
    *out = (uint32_t)json_integer_value(v);
    return true;
}

static bool keys_of(const json_t *o, hush_secagg_keys *k)
{
    return json_is_object(o) && json_object_size(o) == 3 &&
           blob(o, "enc_pk", k->enc_pk, 32) && blob(o, "mask_pk", k->mask_pk, 32) &&
           blob(o, "sign_pk", k->sign_pk, 32);
}

/* An array field of at most `max` elements: its size, or -1. */
static long array_of(const json_t *obj, const char *name, size_t max, const json_t **arr)
{
    *arr = json_object_get(obj, name);
    return json_is_array(*arr) && json_array_size(*arr) <= max
               ? (long)json_array_size(*arr)
               : -1;
}

static int read_list(const json_t *doc, hush_secagg_msg *m, hush_err *err)
{
    const json_t *ps = json_object_get(doc, "params"), *arr = NULL;
    const char *names[7] = {"n", "k", "t", "q", "bits", "length", "round"};
    uint32_t *f[7] = {&m->params.n,    &m->params.k,      &m->params.t,    &m->params.q,
                      &m->params.bits, &m->params.length, &m->params.round};
    if (!json_is_object(ps) || json_object_size(ps) != 7 || json_object_size(doc) != 3) {
        return bad(err, "a list is {\"stage\", \"params\", \"keys\"}");
    }
    for (int i = 0; i < 7; i++) {
        const json_t *v = json_object_get(ps, names[i]);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > UINT32_MAX) {
            return bad(err, "params are seven unsigned 32-bit integers");
        }
        *f[i] = (uint32_t)json_integer_value(v);
    }
    hush_err local = {0};
    if (hush_secagg_params_check(&m->params, &local) != 0) {
        return bad(err, local.msg);
    }
    long n = array_of(doc, "keys", HUSH_SECAGG_MAX_DEVICES, &arr);
    if (n < 0 || (uint32_t)n != m->params.n) {
        return bad(err, "\"keys\" must hold params.n keys");
    }
    m->list = hush_calloc((size_t)n + 1, sizeof *m->list);
    if (m->list == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    for (long i = 0; i < n; i++) {
        if (!keys_of(json_array_get(arr, (size_t)i), &m->list[i])) {
            return bad(err,
                       "a key is {\"enc_pk\", \"mask_pk\", \"sign_pk\"}, 32 bytes each");
        }
    }
    return 0;
}

static int read_boxes(const json_t *doc, hush_secagg_msg *m, hush_err *err)
{
    const json_t *arr = NULL;
    long n = array_of(doc, "boxes", HUSH_SECAGG_MAX_DEVICES, &arr);
    if (n < 0 || json_object_size(doc) != 2) {
        return bad(err, "boxes are {\"stage\", \"boxes\": [...]}");
    }
    m->boxes = hush_calloc((size_t)n + 1, sizeof *m->boxes);
    if (m->boxes == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    for (long i = 0; i < n; i++) {
        const json_t *b = json_array_get(arr, (size_t)i);
        if (!json_is_object(b) || json_object_size(b) != 3 ||
            !index_of(b, "from", &m->boxes[i].from) ||
            !index_of(b, "to", &m->boxes[i].to) ||
            !blob(b, "box", m->boxes[i].box, HUSH_SECAGG_BOX_BYTES)) {
            return bad(err, "a box is {\"from\", \"to\", \"box\": base64 of 80 bytes}");
        }
    }
    m->n_boxes = (size_t)n;
    return 0;
}

static int read_masked(const json_t *doc, hush_secagg_msg *m, hush_err *err)
{
    const json_t *y = json_object_get(doc, "y");
    size_t cap = json_is_string(y) ? json_string_length(y) / 4 * 3 + 3 : 0, got = 0;
    if (json_object_size(doc) != 4 || !index_of(doc, "from", &m->from) || cap == 0 ||
        cap / 4 > HUSH_SECAGG_MAX_LENGTH + 1 ||
        !blob(doc, "commit", m->commit, HUSH_SECAGG_SESSION_BYTES)) {
        return bad(err, "masked is {\"stage\", \"from\", \"y\": base64 uint32s, "
                        "\"commit\": base64 of 32 bytes}");
    }
    uint8_t *raw = hush_malloc(cap);
    if (raw == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    int rc = hush_b64_decode(json_string_value(y), json_string_length(y), raw, cap, &got);
    if (rc != 0 || got == 0 || got % 4 != 0 || got / 4 > HUSH_SECAGG_MAX_LENGTH) {
        hush_free(raw);
        return bad(err, "\"y\" must be base64 of 1 to 2^24 little-endian uint32s");
    }
    m->length = (uint32_t)(got / 4);
    m->y = hush_malloc((size_t)m->length * sizeof *m->y);
    for (uint32_t i = 0; m->y != NULL && i < m->length; i++) {
        const uint8_t *b = raw + 4 * (size_t)i;
        m->y[i] = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                  (uint32_t)b[3] << 24;
    }
    hush_free(raw);
    return m->y != NULL ? 0 : hush_err_set(err, HUSH_ENOMEM, "out of memory");
}

static int read_indices(const json_t *doc, const char *name, hush_secagg_msg *m,
                        hush_err *err)
{
    const json_t *arr = NULL;
    long n = array_of(doc, name, HUSH_SECAGG_MAX_DEVICES, &arr);
    if (n < 0) {
        return bad(err, "an index list is an array of device indices");
    }
    m->indices = hush_calloc((size_t)n + 1, sizeof *m->indices);
    if (m->indices == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    for (long i = 0; i < n; i++) {
        const json_t *v = json_array_get(arr, (size_t)i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= HUSH_SECAGG_MAX_DEVICES) {
            return bad(err, "a device index is an integer in [0, 100000)");
        }
        m->indices[i] = (uint32_t)json_integer_value(v);
    }
    m->n_indices = (size_t)n;
    return 0;
}

static bool sig_of(const json_t *o, hush_secagg_sig *s)
{
    return json_is_object(o) && index_of(o, "from", &s->from) &&
           blob(o, "sig", s->sig, HUSH_SECAGG_SIG_BYTES);
}

static int read_unmask(const json_t *doc, hush_secagg_msg *m, hush_err *err)
{
    const json_t *arr = NULL;
    long n = array_of(doc, "sigs", HUSH_SECAGG_MAX_DEVICES, &arr);
    if (n < 0 || json_object_size(doc) != 3) {
        return bad(err, "unmask is {\"stage\", \"sigs\", \"dropped\"}");
    }
    m->sigs = hush_calloc((size_t)n + 1, sizeof *m->sigs);
    if (m->sigs == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    for (long i = 0; i < n; i++) {
        const json_t *o = json_array_get(arr, (size_t)i);
        if (json_object_size(o) != 2 || !sig_of(o, &m->sigs[i])) {
            return bad(err, "a signature is {\"from\", \"sig\": base64 of 64 bytes}");
        }
    }
    m->n_sigs = (size_t)n;
    return read_indices(doc, "dropped", m, err);
}

static int read_reveals(const json_t *doc, hush_secagg_msg *m, hush_err *err)
{
    const json_t *arr = NULL;
    long n = array_of(doc, "reveals", HUSH_SECAGG_MAX_DEVICES, &arr);
    if (n < 0 || json_object_size(doc) != 2) {
        return bad(err, "reveals are {\"stage\", \"reveals\": [...]}");
    }
    m->reveals = hush_calloc((size_t)n + 1, sizeof *m->reveals);
    if (m->reveals == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    for (long i = 0; i < n; i++) {
        const json_t *o = json_array_get(arr, (size_t)i);
        const char *kind = json_string_value(json_object_get(o, "kind"));
        hush_secagg_reveal *r = &m->reveals[i];
        r->kind = kind == NULL                ? 0
                  : strcmp(kind, "self") == 0 ? HUSH_SECAGG_SELF_SHARE
                  : strcmp(kind, "key") == 0  ? HUSH_SECAGG_KEY_SHARE
                                              : 0;
        if (!json_is_object(o) || json_object_size(o) != 4 || r->kind == 0 ||
            !index_of(o, "from", &r->from) || !index_of(o, "about", &r->about) ||
            !blob(o, "share", r->share, HUSH_SECAGG_SHARE_BYTES)) {
            return bad(err,
                       "a reveal is {\"from\", \"about\", \"kind\": \"self\"|\"key\", "
                       "\"share\": base64 of 32 bytes}");
        }
    }
    m->n_reveals = (size_t)n;
    return 0;
}

static int read_stage(const json_t *doc, hush_secagg_msg *m, hush_err *err)
{
    switch (m->stage) {
    case HUSH_SECAGG_KEYS:
        return json_object_size(doc) == 4 && blob(doc, "enc_pk", m->keys.enc_pk, 32) &&
                       blob(doc, "mask_pk", m->keys.mask_pk, 32) &&
                       blob(doc, "sign_pk", m->keys.sign_pk, 32)
                   ? 0
                   : bad(err,
                         "keys are {\"stage\", \"enc_pk\", \"mask_pk\", \"sign_pk\"}");
    case HUSH_SECAGG_LIST:
        return read_list(doc, m, err);
    case HUSH_SECAGG_BOXES:
        return read_boxes(doc, m, err);
    case HUSH_SECAGG_MASKED:
        return read_masked(doc, m, err);
    case HUSH_SECAGG_SURVIVORS:
        return json_object_size(doc) == 2 ? read_indices(doc, "survivors", m, err)
                                          : bad(err, "{\"stage\", \"survivors\"}");
    case HUSH_SECAGG_SIGNATURE:
        m->sigs = hush_calloc(1, sizeof *m->sigs);
        if (m->sigs == NULL) {
            return hush_err_set(err, HUSH_ENOMEM, "out of memory");
        }
        m->n_sigs = 1;
        if (json_object_size(doc) != 3 || !sig_of(doc, &m->sigs[0])) {
            return bad(err, "a signature is {\"stage\", \"from\", \"sig\"}");
        }
        m->from = m->sigs[0].from;
        return 0;
    case HUSH_SECAGG_UNMASK:
        return read_unmask(doc, m, err);
    case HUSH_SECAGG_REVEALS:
        return read_reveals(doc, m, err);
    }
    return bad(err, "unknown stage");
}

int hush_secagg_msg_parse(const char *body, size_t len, hush_secagg_msg **out,
                          hush_err *err)
{
    *out = NULL;
    int jcode = 0;
    json_error_t jerr;
    json_t *doc = hush__json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr, &jcode);
    if (doc == NULL) {
        return jcode == HUSH_ENOMEM ? hush_err_set(err, HUSH_ENOMEM, "out of memory")
                                    : bad(err, "not JSON");
    }
    hush_secagg_msg *m = hush_calloc(1, sizeof *m);
    const char *stage = json_string_value(json_object_get(doc, "stage"));
    int rc = m != NULL ? 0 : hush_err_set(err, HUSH_ENOMEM, "out of memory");
    for (int i = 1; rc == 0 && stage != NULL && i <= HUSH_SECAGG_REVEALS; i++) {
        if (strcmp(stage, stage_names[i]) == 0) {
            m->stage = (hush_secagg_stage)i;
        }
    }
    if (rc == 0 && (!json_is_object(doc) || m->stage == 0)) {
        rc =
            bad(err, "\"stage\" must name a stage (keys, list, boxes, masked, survivors, "
                     "signature, unmask, reveals)");
    }
    if (rc == 0) {
        rc = read_stage(doc, m, err);
    }
    json_decref(doc);
    if (rc != 0) {
        hush_secagg_msg_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* ---- writing ---- */

/* obj[name] = base64 of bin (false: out of memory) */
static bool put_blob(json_t *obj, const char *name, const uint8_t *bin, size_t len)
{
    char *b = hush_b64_encode(bin, len);
    bool ok = b != NULL && json_object_set_new(obj, name, json_string(b)) == 0;
    hush_free(b);
    return ok;
}

static json_t *keys_json(const hush_secagg_keys *k)
{
    json_t *o = json_object();
    if (o != NULL && (!put_blob(o, "enc_pk", k->enc_pk, 32) ||
                      !put_blob(o, "mask_pk", k->mask_pk, 32) ||
                      !put_blob(o, "sign_pk", k->sign_pk, 32))) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static json_t *indices_json(const uint32_t *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        if (json_array_append_new(a, json_integer(v[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

static json_t *sig_json(const hush_secagg_sig *s)
{
    json_t *o = json_pack("{s:I}", "from", (json_int_t)s->from);
    if (o != NULL && !put_blob(o, "sig", s->sig, HUSH_SECAGG_SIG_BYTES)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static bool write_list(json_t *doc, const hush_secagg_msg *m)
{
    const hush_secagg_params *p = &m->params;
    json_t *keys = json_array();
    for (uint32_t i = 0; keys != NULL && i < p->n; i++) {
        if (json_array_append_new(keys, keys_json(&m->list[i])) != 0) {
            json_decref(keys);
            keys = NULL;
        }
    }
    return keys != NULL &&
           json_object_set_new(
               doc, "params",
               json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "n", (json_int_t)p->n,
                         "k", (json_int_t)p->k, "t", (json_int_t)p->t, "q",
                         (json_int_t)p->q, "bits", (json_int_t)p->bits, "length",
                         (json_int_t)p->length, "round", (json_int_t)p->round)) == 0 &&
           json_object_set_new(doc, "keys", keys) == 0;
}

static bool write_boxes(json_t *doc, const hush_secagg_msg *m)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < m->n_boxes; i++) {
        json_t *b = json_pack("{s:I, s:I}", "from", (json_int_t)m->boxes[i].from, "to",
                              (json_int_t)m->boxes[i].to);
        if (b == NULL || !put_blob(b, "box", m->boxes[i].box, HUSH_SECAGG_BOX_BYTES) ||
            json_array_append_new(arr, b) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr != NULL && json_object_set_new(doc, "boxes", arr) == 0;
}

static bool write_masked(json_t *doc, const hush_secagg_msg *m)
{
    uint8_t *raw = hush_malloc((size_t)m->length * 4 + 1);
    for (uint32_t i = 0; raw != NULL && i < m->length; i++) {
        for (int b = 0; b < 4; b++) {
            raw[4 * (size_t)i + b] = (uint8_t)(m->y[i] >> (8 * b));
        }
    }
    bool ok = raw != NULL &&
              json_object_set_new(doc, "from", json_integer((json_int_t)m->from)) == 0 &&
              put_blob(doc, "y", raw, (size_t)m->length * 4) &&
              put_blob(doc, "commit", m->commit, HUSH_SECAGG_SESSION_BYTES);
    hush_free(raw);
    return ok;
}

static bool write_unmask(json_t *doc, const hush_secagg_msg *m)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < m->n_sigs; i++) {
        if (json_array_append_new(arr, sig_json(&m->sigs[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr != NULL && json_object_set_new(doc, "sigs", arr) == 0 &&
           json_object_set_new(doc, "dropped", indices_json(m->indices, m->n_indices)) ==
               0;
}

static bool write_reveals(json_t *doc, const hush_secagg_msg *m)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < m->n_reveals; i++) {
        const hush_secagg_reveal *r = &m->reveals[i];
        json_t *o = json_pack("{s:I, s:I, s:s}", "from", (json_int_t)r->from, "about",
                              (json_int_t)r->about, "kind",
                              r->kind == HUSH_SECAGG_SELF_SHARE ? "self" : "key");
        if (o == NULL || !put_blob(o, "share", r->share, HUSH_SECAGG_SHARE_BYTES) ||
            json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr != NULL && json_object_set_new(doc, "reveals", arr) == 0;
}

static bool write_stage(json_t *doc, const hush_secagg_msg *m)
{
    switch (m->stage) {
    case HUSH_SECAGG_KEYS:
        return put_blob(doc, "enc_pk", m->keys.enc_pk, 32) &&
               put_blob(doc, "mask_pk", m->keys.mask_pk, 32) &&
               put_blob(doc, "sign_pk", m->keys.sign_pk, 32);
    case HUSH_SECAGG_LIST:
        return write_list(doc, m);
    case HUSH_SECAGG_BOXES:
        return write_boxes(doc, m);
    case HUSH_SECAGG_MASKED:
        return write_masked(doc, m);
    case HUSH_SECAGG_SURVIVORS:
        return json_object_set_new(doc, "survivors",
                                   indices_json(m->indices, m->n_indices)) == 0;
    case HUSH_SECAGG_SIGNATURE:
        return m->n_sigs == 1 &&
               json_object_set_new(doc, "from",
                                   json_integer((json_int_t)m->sigs[0].from)) == 0 &&
               put_blob(doc, "sig", m->sigs[0].sig, HUSH_SECAGG_SIG_BYTES);
    case HUSH_SECAGG_UNMASK:
        return write_unmask(doc, m);
    case HUSH_SECAGG_REVEALS:
        return write_reveals(doc, m);
    }
    return false;
}

char *hush_secagg_msg_json(const hush_secagg_msg *m)
{
    if (m->stage < HUSH_SECAGG_KEYS || m->stage > HUSH_SECAGG_REVEALS) {
        return NULL;
    }
    json_t *doc = json_pack("{s:s}", "stage", stage_names[m->stage]);
    char *text =
        doc != NULL && write_stage(doc, m) ? hush_json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}
