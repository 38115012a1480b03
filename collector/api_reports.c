/*
 * api_reports.c - POST /v1/reports: a batch of randomized reports, parsed
 * here, accepted by the domain (ingest.c: opened if sealed, checked against
 * its campaign's open round, decoded) and handed to the writer thread,
 * which commits it and counts it; the connection waits, suspended, for the
 * commit, and is answered when the writer resumes it.
 */
#include <stdio.h>

#include "api.h"
#include "hush_json.h"

/* The writer is done with the item: the handler runs again and answers
 * (hush__api_reports_done). */
static void resume(hush__item *item)
{
    hush_collector *h = item->owner;
    MHD_resume_connection(item->waiter);
    __atomic_sub_fetch(&h->waiting, 1, __ATOMIC_SEQ_CST);
}

enum MHD_Result hush__api_reports(hush__req *rq)
{
    hush_collector *h = rq->h;
    json_error_t jerr;
    int jcode = 0;
    json_t *doc = hush__json_loadb(rq->body.data != NULL ? rq->body.data : "",
                                   rq->body.len, JSON_REJECT_DUPLICATES, &jerr, &jcode);
    if (doc == NULL && jcode == HUSH_ENOMEM) {
        return hush__reply_error(rq, 500, "internal", "out of memory");
    }
    if (doc == NULL) {
        char msg[256];
        snprintf(msg, sizeof msg, "the batch is not JSON: %s", jerr.text);
        hush__metrics_reject(&h->metrics, REJECT_MALFORMED, 0);
        return hush__reply_error(rq, 400, "malformed", msg);
    }
    /* counted before looking at draining, so that a graceful stop either
     * waits for this batch or this batch sees the stop */
    __atomic_add_fetch(&h->waiting, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&h->draining, __ATOMIC_SEQ_CST)) {
        __atomic_sub_fetch(&h->waiting, 1, __ATOMIC_SEQ_CST);
        json_decref(doc);
        return hush__reply_error(
            rq, 503, "unavailable",
            "the collector is stopping; retry with the same batch_id");
    }
    hush__item *item = NULL;
    hush__fail f = {0};
    int rc = hush__batch_accept(h, doc, &item, &f);
    json_decref(doc);
    if (rc != 0) {
        __atomic_sub_fetch(&h->waiting, 1, __ATOMIC_SEQ_CST);
        return hush__reply_fail(rq, &f);
    }
    item->answer = resume;
    item->owner = h;
    item->waiter = rq->conn;
    rq->item = item;
    MHD_suspend_connection(rq->conn);
    hush__batch_submit(h, item);
    return MHD_YES;
}

enum MHD_Result hush__api_reports_done(hush__req *rq)
{
    hush__item *it = rq->item;
    if (it->status == 200) {
        char *body = hush_malloc(96);
        if (body != NULL) {
            snprintf(body, 96, "{\"accepted\":%zu,\"duplicate\":%s}",
                     it->duplicate ? (size_t)0 : it->n_reports,
                     it->duplicate ? "true" : "false");
        }
        return hush__reply(rq, 200, body, body != NULL ? strlen(body) : 0,
                           "application/json", NULL, NULL);
    }
    if (it->status == 409) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "round %u of %s closed while the batch waited; fetch the current round",
                 it->round->round, it->campaign->id);
        return hush__reply_error(rq, 409, "round_closed", msg);
    }
    return hush__reply_error(
        rq, it->status, it->status == 503 ? "unavailable" : "internal",
        it->status == 503 ? "the store could not commit; retry with the same "
                            "batch_id"
                          : "internal error");
}
