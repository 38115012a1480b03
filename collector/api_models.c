/*
 * api_models.c - the federated-learning routes: model tasks, their signed
 * publications, device updates, rounds and privacy accounting.
 */
#include <stdio.h>

#include "api.h"
#include "csv.h"
#include "negotiate.h"

enum MHD_Result hush__api_models_list(hush__req *rq)
{
    return hush__reply_json(rq, 200, hush__tasks_list(rq->h));
}

enum MHD_Result hush__api_models_create(hush__req *rq)
{
    json_t *out = NULL;
    hush__fail f = {0};
    int rc = hush__task_create(rq->h, rq->doc, &out, &f);
    return hush__reply_outcome(rq, rc, 201, out, &f);
}

enum MHD_Result hush__api_model_get(hush__req *rq)
{
    char *sig = NULL;
    size_t len = 0;
    char *body = hush__task_publication(rq->task, &sig, &len);
    char hdr[128];
    snprintf(hdr, sizeof hdr, "%s", sig != NULL ? sig : "");
    hush_free(sig);
    return hush__reply(rq, 200, body, len, "application/json", HUSH_SIGNATURE_HEADER,
                       hdr);
}

enum MHD_Result hush__api_model_updates(hush__req *rq)
{
    json_t *out = NULL;
    hush__fail f = {0};
    int rc =
        hush__task_update(rq->h, rq->task, rq->body.data != NULL ? rq->body.data : "",
                          rq->body.len, &out, &f);
    return hush__reply_outcome(rq, rc, 200, out, &f);
}

enum MHD_Result hush__api_model_privacy(hush__req *rq)
{
    return hush__reply_json(rq, 200, hush__task_privacy(rq->task));
}

enum MHD_Result hush__api_model_rounds(hush__req *rq)
{
    enum hush__format fmt;
    if (!hush__choose_format(hush__query(rq, "format"), hush__header(rq, "Accept"),
                             &fmt)) {
        return hush__reply_error(rq, 400, "invalid_format", "format must be json or csv");
    }
    json_t *out = NULL;
    hush__fail f = {0};
    int rc = hush__task_rounds(rq->h, rq->task, &out, &f);
    if (rc != 0 || fmt == HUSH__FORMAT_JSON) {
        return hush__reply_outcome(rq, rc, 200, out, &f);
    }
    static const char *const leads[] = {"model", NULL};
    size_t len = 0;
    char *csv = hush__csv_table(out, "rounds", leads, NULL, &len);
    json_decref(out);
    return hush__reply(rq, 200, csv, len, HUSH__CSV_TYPE, NULL, NULL);
}

enum MHD_Result hush__api_model_close(hush__req *rq)
{
    json_t *out = NULL;
    hush__fail f = {0};
    int rc = hush__task_close_now(rq->h, rq->task, &out, &f);
    return hush__reply_outcome(rq, rc, 201, out, &f);
}

enum MHD_Result hush__api_model_metrics(hush__req *rq)
{
    json_t *out = NULL;
    hush__fail f = {0};
    int rc = hush__task_round_metrics(rq->h, rq->task, rq->doc, &out, &f);
    return hush__reply_outcome(rq, rc, 200, out, &f);
}

/* Secure aggregation: GET answers the attempt's status, or with
 * ?session=S&index=I that device's stage document; POST takes a device's
 * stage document (its keys without a session; later ones with ?session=S
 * and the Hush-Secagg-Token its keys got). */
enum MHD_Result hush__api_model_secagg_get(hush__req *rq)
{
    char *body = NULL;
    json_t *status = NULL;
    hush__fail f = {0};
    int rc = hush__task_secagg_get(rq->h, rq->task, hush__query(rq, "session"),
                                   hush__query(rq, "index"), &body, &status, &f);
    if (rc != 0) {
        return hush__reply_fail(rq, &f);
    }
    if (status != NULL) {
        return hush__reply_json(rq, 200, status);
    }
    return hush__reply(rq, 200, body, strlen(body), "application/json", NULL, NULL);
}

enum MHD_Result hush__api_model_secagg_post(hush__req *rq)
{
    json_t *out = NULL;
    hush__fail f = {0};
    const char *session = hush__query(rq, "session");
    int rc = hush__task_secagg_post(
        rq->h, rq->task, session, hush__header(rq, HUSH_SECAGG_TOKEN_HEADER),
        rq->body.data != NULL ? rq->body.data : "", rq->body.len, &out, &f);
    return hush__reply_outcome(rq, rc, session == NULL ? 201 : 200, out, &f);
}
