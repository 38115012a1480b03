/*
 * api_ops.c - the operator's routes: liveness and readiness, the signing
 * keys and their rotation, store compaction (the metrics page is
 * api_metrics.c).
 */
#include <stdio.h>

#include "api.h"

enum MHD_Result hush__api_healthz(hush__req *rq)
{
    return hush__reply_copy(rq, 200, "{\"status\":\"ok\"}", "application/json");
}

/* Liveness is /healthz; ready means the store takes writes: the last
 * commit worked and a write lock can be taken now. */
enum MHD_Result hush__api_readyz(hush__req *rq)
{
    hush_err err = {0};
    if (hush__ready(rq->h, &err) != 0) {
        return hush__reply_error(rq, 503, "unavailable", err.msg);
    }
    return hush__reply_copy(rq, 200, "{\"status\":\"ready\"}", "application/json");
}

enum MHD_Result hush__api_keys(hush__req *rq)
{
    hush_collector *h = rq->h;
    pthread_rwlock_rdlock(&h->campaigns_lock); /* a rotation swaps keys_json */
    enum MHD_Result r = hush__reply_copy(rq, 200, h->keys_json, "application/json");
    pthread_rwlock_unlock(&h->campaigns_lock);
    return r;
}

enum MHD_Result hush__api_keys_rotate(hush__req *rq)
{
    json_t *out = NULL;
    hush_err err = {0};
    if (hush__keys_rotate(rq->h, &out, &err) != 0) {
        hush__log(rq->h, "error", "key rotation failed: %s", err.msg);
        return hush__reply_error(rq, 500, "internal", err.msg);
    }
    hush__log(rq->h, "info",
              "signing key rotated; the continuity document is in GET /v1/keys");
    return hush__reply_json(rq, 200, out);
}

enum MHD_Result hush__api_compact(hush__req *rq)
{
    hush__compaction cr = {0};
    hush_err err = {0};
    if (hush__compact(rq->h, &cr, &err) != 0) {
        hush__log(rq->h, "error", "compaction failed: %s", err.msg);
        return hush__reply_error(rq, 503, "unavailable", err.msg);
    }
    hush__log(rq->h, "info",
              "compaction: %lld batches of %lld closed rounds deleted, %lld bytes freed",
              (long long)cr.batches, (long long)cr.rounds, (long long)cr.bytes);
    return hush__reply_json(
        rq, 200,
        json_pack("{s:I, s:I, s:I, s:I, s:I}", "rounds", (json_int_t)cr.rounds,
                  "batches_deleted", (json_int_t)cr.batches, "reports_deleted",
                  (json_int_t)cr.reports, "bytes_freed", (json_int_t)cr.bytes,
                  "file_bytes", (json_int_t)cr.file_bytes));
}
