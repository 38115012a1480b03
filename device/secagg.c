/*
 * secagg.c - a device's secure-aggregation session (hush_device.h),
 * sans I/O: it says which request to make next and reads the answer.
 *
 *   keys      POST /v1/models/{id}/secagg           -> session, index, token
 *   list      GET  ...?session=S&index=I (polled)   -> the key list
 *   boxes     POST ...?session=S  (token)            the shares for neighbours
 *   inbox     GET  (polled)                          -> the shares for this device
 *   masked    POST (token)                           the masked update: the
 *                                                    ledger is charged first
 *   survivors GET  (polled)                          -> the survivor list
 *   signature POST (token)
 *   unmask    GET  (polled)                          -> signatures, the dropped
 *   reveals   POST (token)                           done
 * A GET that answers the stage before the one awaited means "not yet": the
 * session waits (a back-off from 0.1 s doubling to 2 s) and asks again.  A
 * later stage than awaited, a refused document or an attempt that ended
 * aborts the session: this device is no longer part of the sum.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "device_internal.h"
#include "hush_json.h"

enum step {
    ST_KEYS,
    ST_LIST,
    ST_BOXES,
    ST_INBOX,
    ST_MASKED,
    ST_SURVIVORS,
    ST_SIGNATURE,
    ST_UNMASK,
    ST_REVEALS,
    ST_DONE,
    ST_ABORTED,
};

struct hush_fl_secagg {
    hush_agent *agent;
    char model[HUSH_MODEL_ID_MAX + 1];
    char key[HUSH__LEDGER_KEY_MAX + 1];
    uint32_t round, padded, bits, max_participations;
    double eps, wait;
    hush_secagg_client *client;
    hush_secagg_keys keys;
    uint32_t *input;
    enum step step;
    char session[48];
    char token[64];
    uint32_t index;
    char *doc; /* the document the next POST carries */
    char reason[HUSH_ERR_MSG_MAX + 1];
};

void hush_fl_secagg_free(hush_fl_secagg *s)
{
    if (s == NULL) {
        return;
    }
    hush_secagg_client_free(s->client);
    if (s->input != NULL) {
        sodium_memzero(s->input, (size_t)s->padded * sizeof *s->input);
    }
    hush_free(s->input);
    hush_free(s->doc);
    sodium_memzero(s->token, sizeof s->token);
    hush_free(s);
}

int hush__fl_secagg_new(hush_agent *a, const hush_model_pub *pub, const char *key,
                        double eps, uint32_t *input, hush_fl_secagg **out, hush_err *err)
{
    hush_fl_secagg *s = hush_calloc(1, sizeof *s);
    if (s == NULL) {
        sodium_memzero(input, (size_t)pub->sa.plan.padded * sizeof *input);
        hush_free(input);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    s->agent = a;
    s->input = input;
    s->padded = pub->sa.plan.padded;
    s->bits = pub->sa.plan.bits;
    s->round = pub->round;
    s->max_participations = pub->sa.max_participations;
    s->eps = eps;
    snprintf(s->model, sizeof s->model, "%s", pub->model);
    snprintf(s->key, sizeof s->key, "%s", key);
    /* this device's policy: the list holds at least min_devices, the
     * parameters tolerate the publication's dishonest fraction, and no
     * survivor list shorter than min_devices is signed */
    hush_secagg_policy policy = {.min_devices = pub->sa.min_devices,
                                 .min_threshold = 2,
                                 .max_dishonest = pub->sa.dishonest,
                                 .min_survivors = pub->sa.min_devices};
    int rc = hush_secagg_client_new(&policy, &s->client, &s->keys, err);
    hush_secagg_msg m = {.stage = HUSH_SECAGG_KEYS, .keys = s->keys};
    if (rc == 0 && (s->doc = hush_secagg_msg_json(&m)) == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    if (rc != 0) {
        hush_fl_secagg_free(s);
        return rc;
    }
    s->step = ST_KEYS;
    *out = s;
    return 0;
}

int hush_fl_secagg_state(const hush_fl_secagg *s)
{
    return s->step == ST_DONE      ? HUSH_FL_SECAGG_DONE
           : s->step == ST_ABORTED ? HUSH_FL_SECAGG_ABORTED
                                   : HUSH_FL_SECAGG_RUNNING;
}

static int abort_session(hush_fl_secagg *s, hush_err *err, const char *why)
{
    s->step = ST_ABORTED;
    size_t n = strnlen(why, sizeof s->reason - 1);
    memcpy(s->reason, why, n);
    s->reason[n] = '\0';
    hush_free(s->doc);
    s->doc = NULL;
    return hush_err_set(err, HUSH_ESTATE, "model %s round %u: %s", s->model, s->round,
                        s->reason);
}

int hush_fl_secagg_next(hush_fl_secagg *s, hush_secagg_request *req, hush_err *err)
{
    memset(req, 0, sizeof *req);
    if (s->step == ST_DONE || s->step == ST_ABORTED) {
        return hush_err_set(err, HUSH_ESTATE, "the session is %s%s%s",
                            s->step == ST_DONE ? "done" : "aborted",
                            s->reason[0] ? ": " : "", s->reason);
    }
    bool post = s->step == ST_KEYS || s->step == ST_BOXES || s->step == ST_MASKED ||
                s->step == ST_SIGNATURE || s->step == ST_REVEALS;
    req->post = post;
    req->wait = s->wait;
    if (s->step == ST_KEYS) {
        snprintf(req->path, sizeof req->path, "/v1/models/%s/secagg", s->model);
    } else if (post) {
        snprintf(req->path, sizeof req->path, "/v1/models/%s/secagg?session=%s", s->model,
                 s->session);
        req->token = s->token;
    } else {
        snprintf(req->path, sizeof req->path, "/v1/models/%s/secagg?session=%s&index=%u",
                 s->model, s->session, s->index);
    }
    if (post) {
        req->body = s->doc;
        req->len = strlen(s->doc);
    }
    return 0;
}

/* An error document (len bytes, not NUL-terminated): its code into `code`
 * ("" if none) and "code: message" into `why`. */
static void read_error(const char *body, size_t len, char *code, size_t ccap, char *why,
                       size_t wcap)
{
    json_t *doc = json_loadb(body != NULL ? body : "", body != NULL ? len : 0, 0, NULL);
    const json_t *e = json_object_get(doc, "error");
    const char *c = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    snprintf(code, ccap, "%s", c != NULL ? c : "");
    snprintf(why, wcap, "%s%s%s", c != NULL ? c : "an error", msg != NULL ? ": " : "",
             msg != NULL ? msg : "");
    json_decref(doc);
}

/* The polling back-off: 0.1 s, doubled up to 2 s. */
static void back_off(hush_fl_secagg *s)
{
    s->wait = s->wait < 0.1 ? 0.1 : s->wait < 2 ? 2 * s->wait : 2;
}

/* The next document to post, made from `m` (rendered, then freed). */
static int next_doc(hush_fl_secagg *s, const hush_secagg_msg *m, enum step step,
                    hush_err *err)
{
    hush_free(s->doc);
    s->doc = hush_secagg_msg_json(m);
    if (s->doc == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    s->step = step;
    s->wait = 0;
    return 0;
}

/* The keys' answer: the session, this device's index and its token. */
static int keys_answer(hush_fl_secagg *s, const char *body, size_t len, hush_err *err)
{
    json_t *doc = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
    const char *session = json_string_value(json_object_get(doc, "session"));
    const char *token = json_string_value(json_object_get(doc, "token"));
    json_t *index = json_object_get(doc, "index");
    int rc = 0;
    if (session == NULL || token == NULL || !json_is_integer(index) ||
        strlen(session) >= sizeof s->session || strlen(token) >= sizeof s->token ||
        strspn(session, "0123456789abcdef.") != strlen(session) ||
        /* it goes back in a header: base64 only */
        strspn(token,
               "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") !=
            strlen(token) ||
        json_integer_value(index) < 0 ||
        json_integer_value(index) >= HUSH_SECAGG_MAX_DEVICES) {
        rc = abort_session(s, err, "the collector's answer to the keys is malformed");
    } else {
        snprintf(s->session, sizeof s->session, "%s", session);
        snprintf(s->token, sizeof s->token, "%s", token);
        s->index = (uint32_t)json_integer_value(index);
        s->step = ST_LIST;
        s->wait = 0;
    }
    json_decref(doc);
    return rc;
}

/* The ledger charged for this participation, under its lock, with the
 * checks made again (another process may have spent the budget since). */
static int charge(hush_fl_secagg *s, hush_err *err)
{
    hush_agent *a = s->agent;
    int rc = hush__ledger_lock(&a->ledger, hush__agent_now(a), err);
    if (rc != 0) {
        return rc;
    }
    const hush__ledger_round *r = hush__ledger_round_find(&a->ledger, s->key);
    if (r != NULL && r->sent == s->round) {
        rc = hush_err_set(err, HUSH_EBUDGET, "this device already sent for round %u",
                          s->round);
    } else if (r != NULL && r->count >= s->max_participations) {
        rc = hush_err_set(err, HUSH_EBUDGET, "this device took part in %u rounds already",
                          r->count);
    } else {
        rc = hush__ledger_charge(&a->ledger, s->key, s->eps, 1, s->round, err);
    }
    hush__ledger_unlock(&a->ledger);
    return rc;
}

/* The inbox: the masked update (charged before it exists outside). */
static int on_inbox(hush_fl_secagg *s, const hush_secagg_msg *m, hush_err *err)
{
    uint32_t *y = NULL;
    hush_secagg_msg out = {.stage = HUSH_SECAGG_MASKED, .from = s->index};
    int rc = hush_secagg_client_mask(s->client, m->boxes, m->n_boxes, s->input, &y,
                                     out.commit, err);
    if (rc == 0 && (rc = charge(s, err)) != 0) {
        hush_free(y);
        return abort_session(s, err, err->msg);
    }
    if (rc == 0) {
        out.y = y;
        out.length = s->padded;
        rc = next_doc(s, &out, ST_MASKED, err);
        sodium_memzero(s->input, (size_t)s->padded * sizeof *s->input);
    }
    hush_free(y);
    return rc;
}

/* A stage document fetched at step `s->step`: the protocol's next move. */
static int on_document(hush_fl_secagg *s, const hush_secagg_msg *m, hush_err *err)
{
    /* what each GET step awaits, and what the stage before it serves */
    static const hush_secagg_stage awaits[] = {[ST_LIST] = HUSH_SECAGG_LIST,
                                               [ST_INBOX] = HUSH_SECAGG_BOXES,
                                               [ST_SURVIVORS] = HUSH_SECAGG_SURVIVORS,
                                               [ST_UNMASK] = HUSH_SECAGG_UNMASK};
    static const hush_secagg_stage before[] = {[ST_INBOX] = HUSH_SECAGG_LIST,
                                               [ST_SURVIVORS] = HUSH_SECAGG_BOXES,
                                               [ST_UNMASK] = HUSH_SECAGG_SURVIVORS};
    if (s->step != ST_LIST && m->stage == before[s->step]) {
        back_off(s);
        return 0; /* not yet */
    }
    if (m->stage != awaits[s->step]) {
        return abort_session(s, err, "the attempt moved on without this device");
    }
    hush_err local = {0};
    int rc = 0;
    hush_secagg_box *boxes = NULL;
    size_t nb = 0;
    hush_secagg_sig sig = {.from = s->index};
    hush_secagg_reveal *rev = NULL;
    size_t nr = 0;
    switch (s->step) {
    case ST_LIST:
        /* the round's vectors are this device's encoded update: a list
         * with another length, modulus or round is not this round's */
        rc = m->params.length != s->padded || m->params.bits != s->bits ||
                     m->params.round != s->round
                 ? hush_err_set(&local, HUSH_ESTATE,
                                "the key list's parameters (length %u, %u bits, round "
                                "%u) are not the publication's (%u, %u, %u)",
                                m->params.length, m->params.bits, m->params.round,
                                s->padded, s->bits, s->round)
                 : hush_secagg_client_share(s->client, &m->params, m->list, &boxes, &nb,
                                            &local);
        if (rc == 0 && hush_secagg_client_index(s->client) != s->index) {
            rc = hush_err_set(&local, HUSH_ESTATE,
                              "the key list puts this device elsewhere than the "
                              "collector said");
        }
        rc = rc != 0 ? rc
                     : next_doc(s,
                                &(hush_secagg_msg){.stage = HUSH_SECAGG_BOXES,
                                                   .boxes = boxes,
                                                   .n_boxes = nb},
                                ST_BOXES, &local);
        break;
    case ST_INBOX:
        rc = on_inbox(s, m, &local);
        break;
    case ST_SURVIVORS:
        rc =
            hush_secagg_client_sign(s->client, m->indices, m->n_indices, sig.sig, &local);
        rc = rc != 0 ? rc
                     : next_doc(s,
                                &(hush_secagg_msg){.stage = HUSH_SECAGG_SIGNATURE,
                                                   .from = s->index,
                                                   .sigs = &sig,
                                                   .n_sigs = 1},
                                ST_SIGNATURE, &local);
        break;
    default: /* ST_UNMASK */
        rc = hush_secagg_client_unmask(s->client, m->sigs, m->n_sigs, m->indices,
                                       m->n_indices, &rev, &nr, &local);
        rc = rc != 0 ? rc
                     : next_doc(s,
                                &(hush_secagg_msg){.stage = HUSH_SECAGG_REVEALS,
                                                   .reveals = rev,
                                                   .n_reveals = nr},
                                ST_REVEALS, &local);
        if (rev != NULL) {
            sodium_memzero(rev, nr * sizeof *rev);
        }
        break;
    }
    hush_free(boxes);
    hush_free(rev);
    if (rc != 0 && s->step != ST_ABORTED) {
        abort_session(s, err, local.msg);
    } else if (rc != 0) {
        hush_err_set(err, HUSH_ESTATE, "%s", local.msg);
    }
    return rc != 0 ? HUSH_ESTATE : 0;
}

int hush_fl_secagg_handle(hush_fl_secagg *s, long status, const char *body, size_t len,
                          hush_err *err)
{
    if (s->step == ST_DONE || s->step == ST_ABORTED) {
        return hush_err_set(err, HUSH_ESTATE, "the session is over");
    }
    bool posted = s->step == ST_KEYS || s->step == ST_BOXES || s->step == ST_MASKED ||
                  s->step == ST_SIGNATURE || s->step == ST_REVEALS;
    if (status != (s->step == ST_KEYS ? 201 : 200)) {
        char code[32], why[HUSH_ERR_MSG_MAX + 1], msg[HUSH_ERR_MSG_MAX + 32];
        read_error(body, len, code, sizeof code, why, sizeof why);
        if (status == 409 && s->step == ST_LIST && strcmp(code, "secagg_stage") == 0) {
            back_off(s);
            return 0; /* the collector still takes keys */
        }
        snprintf(msg, sizeof msg, "the collector answered %s", why);
        return abort_session(s, err, msg);
    }
    if (posted) {
        static const enum step after[] = {[ST_KEYS] = ST_LIST,
                                          [ST_BOXES] = ST_INBOX,
                                          [ST_MASKED] = ST_SURVIVORS,
                                          [ST_SIGNATURE] = ST_UNMASK,
                                          [ST_REVEALS] = ST_DONE};
        if (s->step == ST_KEYS) {
            return keys_answer(s, body, len, err);
        }
        s->step = after[s->step];
        s->wait = 0;
        if (s->step == ST_DONE) {
            hush_free(s->doc);
            s->doc = NULL;
        }
        return 0;
    }
    hush_secagg_msg *m = NULL;
    hush_err local = {0};
    if (hush_secagg_msg_parse(body != NULL ? body : "", body != NULL ? len : 0, &m,
                              &local) != 0) {
        return abort_session(s, err, local.msg);
    }
    int rc = on_document(s, m, err);
    hush_secagg_msg_free(m);
    return rc;
}
