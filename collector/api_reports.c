/*
 * api_reports.c - POST /v1/reports: a batch of randomized reports, opened
 * if sealed, checked against its campaign's open round, and handed to the
 * writer thread (ingest.c), which commits it and counts it; the answer
 * waits for the commit.
 */
#include <stdio.h>

#include "api.h"
#include "hush_json.h"

/* A batch whose counting costs at least this many (report, value) steps is
 * counted by a counter thread (about a millisecond of work and up). */
#define DELTA_MIN_WORK (UINT64_C(1) << 22)

static enum MHD_Result reject(hush__req *rq, int status, enum hush__reject why,
                              uint64_t n, const char *code, const char *message)
{
    hush__metrics_reject(&rq->h->metrics, why, n);
    return hush__reply_error(rq, status, code, message);
}

/* The writer is done with the item: the handler runs again and answers
 * (hush__api_reports_done). */
static void resume(hush__item *item)
{
    MHD_resume_connection(item->waiter);
}

enum MHD_Result hush__api_reports(hush__req *rq)
{
    hush_collector *h = rq->h;
    json_error_t jerr;
    hush_err err = {0};
    int jcode = 0;
    json_t *doc = hush__json_loadb(rq->body.data != NULL ? rq->body.data : "",
                                   rq->body.len, JSON_REJECT_DUPLICATES, &jerr, &jcode);
    if (doc == NULL && jcode == HUSH_ENOMEM) {
        return hush__reply_error(rq, 500, "internal", "out of memory");
    }
    if (doc == NULL) {
        char msg[256];
        snprintf(msg, sizeof msg, "the batch is not JSON: %s", jerr.text);
        return reject(rq, 400, REJECT_MALFORMED, 0, "malformed", msg);
    }
    /* a sealed batch: open it and parse what is inside */
    const json_t *sealed = json_object_get(doc, "sealed");
    if (sealed != NULL) {
        uint8_t *plain = NULL;
        size_t plen = 0;
        if (!json_is_string(sealed) || json_object_size(doc) != 1 ||
            hush_unseal(json_string_value(sealed), json_string_length(sealed), h->seal_pk,
                        h->seal_sk, &plain, &plen, &err) != 0) {
            json_decref(doc);
            return reject(rq, 400, REJECT_SEALED, 0, "sealed",
                          err.msg[0]
                              ? err.msg
                              : "a sealed batch is {\"sealed\": base64} and nothing "
                                "else");
        }
        json_decref(doc);
        doc = json_loadb((const char *)plain, plen, JSON_REJECT_DUPLICATES, &jerr);
        hush_free(plain);
        if (doc == NULL) {
            return reject(rq, 400, REJECT_MALFORMED, 0, "malformed",
                          "the sealed batch does not hold JSON");
        }
    }
    hush_batch_header hdr;
    if (hush_batch_read_header(doc, &hdr, &err) != 0) {
        json_decref(doc);
        return reject(rq, 400, REJECT_MALFORMED, 0, "malformed", err.msg);
    }
    uint64_t n = json_array_size(hdr.reports);
    hush__campaign *c = hush__campaign_find(h, hdr.campaign);
    if (c == NULL) {
        char msg[128];
        snprintf(msg, sizeof msg, "no campaign \"%s\"", hdr.campaign);
        json_decref(doc);
        return reject(rq, 404, REJECT_UNKNOWN_CAMPAIGN, n, "unknown_campaign", msg);
    }
    if (hush__campaign_ended(c, hush__wall())) {
        json_decref(doc);
        hush__campaign_reject(c, REJECT_ENDED, n);
        return reject(rq, 409, REJECT_ENDED, n, "campaign_ended",
                      "the campaign has ended: it takes no more reports");
    }
    hush__round *round = hush__round_get(h, c);
    if (hdr.round != round->round) {
        char msg[160];
        snprintf(msg, sizeof msg, "round %u of %s is %s; the current round is %u",
                 hdr.round, c->id, hdr.round < round->round ? "closed" : "not open yet",
                 round->round);
        json_decref(doc);
        hush__round_put(round);
        hush__campaign_reject(c, REJECT_ROUND, n);
        return reject(rq, 409, REJECT_ROUND, n, "round_closed", msg);
    }
    hush__item *item = hush_calloc(1, sizeof *item);
    size_t bad = 0;
    if (item == NULL) {
        json_decref(doc);
        hush__round_put(round);
        return hush__reply_error(rq, 500, "internal", "out of memory");
    }
    item->round = round; /* the item holds the reference from here on */
    if (hush_batch_decode_reports(round->mech, hdr.reports, &item->reports,
                                  &item->n_reports, &bad, &err) != 0) {
        json_decref(doc);
        hush__item_free(item);
        hush__campaign_reject(c, REJECT_INVALID, n);
        return reject(rq, err.code == HUSH_ENOMEM ? 500 : 400, REJECT_INVALID, n,
                      "invalid_report", err.msg);
    }
    memcpy(item->batch_id, hdr.batch_id, sizeof item->batch_id);
    json_decref(doc);
    /* the support counting of a large OLH or OUE batch is done by a counter
     * thread (several run at once), neither in this HTTP thread (its other
     * connections would wait) nor in the writer (every campaign would) */
    const hush_ldp_params *mp = hush_ldp_get_params(round->mech);
    bool heavy = (mp->mechanism == HUSH_LDP_OLH || mp->mechanism == HUSH_LDP_OUE) &&
                 (uint64_t)item->n_reports * mp->domain >= DELTA_MIN_WORK;
    item->answer = resume;
    item->waiter = rq->conn;
    item->campaign = c;
    rq->item = item;
    MHD_suspend_connection(rq->conn);
    if (heavy) {
        hush__count_enqueue(h, item);
    } else {
        hush__enqueue(h, item);
    }
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
