/*
 * api_campaigns.c - the campaign routes: creating and listing campaigns,
 * their signed publications, estimates, rounds, ending and archiving.
 */
#include <stdio.h>

#include "api.h"
#include "csv.h"
#include "hush_json.h"
#include "negotiate.h"

enum MHD_Result hush__api_campaigns_list(hush__req *rq)
{
    const char *state = hush__query(rq, "state");
    if (state != NULL && strcmp(state, "all") != 0 && strcmp(state, "active") != 0) {
        return hush__reply_error(rq, 400, "invalid_state",
                                 "state must be \"active\" (the default) or \"all\"");
    }
    char *body = NULL;
    hush__fail f = {0};
    if (hush__campaigns_list(rq->h, state != NULL && strcmp(state, "all") == 0, &body,
                             &f) != 0) {
        return hush__reply_fail(rq, &f);
    }
    return hush__reply(rq, 200, body, strlen(body), "application/json", NULL, NULL);
}

enum MHD_Result hush__api_campaigns_create(hush__req *rq)
{
    json_t *out = NULL;
    hush__fail f = {0};
    int rc = hush__campaign_create(rq->h, rq->doc, &out, &f);
    return hush__reply_outcome(rq, rc, 201, out, &f);
}

enum MHD_Result hush__api_campaign_get(hush__req *rq)
{
    const char *view = hush__query(rq, "view");
    bool device = view != NULL && strcmp(view, "device") == 0;
    if (view != NULL && !device && strcmp(view, "full") != 0) {
        return hush__reply_error(rq, 400, "invalid_view",
                                 "view must be \"full\" or \"device\"");
    }
    char *body = NULL, sig[128];
    size_t len = 0;
    hush__fail f = {0};
    if (hush__campaign_view(rq->h, rq->campaign, device, &body, &len, sig, &f) != 0) {
        /* a device asking for an ended campaign: gone for good (410) */
        return f.err.code == HUSH_ESTATE ? hush__reply_error(rq, 410, f.reason, f.err.msg)
                                         : hush__reply_fail(rq, &f);
    }
    return hush__reply(rq, 200, body, len, "application/json", HUSH_SIGNATURE_HEADER,
                       sig);
}

/* The strong ETag of an estimates representation: the aggregate's state
 * (the collector's start, the campaign's creation, the round and its
 * version, or "frozen"), the cut and the format. */
static void estimates_tag(const hush__req *rq, const hush__est_state *st, uint64_t top,
                          enum hush__format fmt, char *out, size_t cap)
{
    char version[24] = "frozen";
    if (st->version != HUSH__EST_FROZEN) {
        snprintf(version, sizeof version, "%llu", (unsigned long long)st->version);
    }
    snprintf(out, cap, "\"%08x.%llx.%u.%s.%llu.%s\"", (unsigned)rq->h->boot_id,
             (unsigned long long)rq->campaign->created_at, (unsigned)st->round, version,
             (unsigned long long)top, fmt == HUSH__FORMAT_CSV ? "csv" : "json");
}

enum MHD_Result hush__api_estimates(hush__req *rq)
{
    hush_collector *h = rq->h;
    if (h->cfg.estimates_admin_only && !hush__req_admin(rq)) {
        return hush__reply_error(
            rq, 401, "unauthorized",
            "estimates need the admin bearer token on this collector");
    }
    const char *round_arg = hush__query(rq, "round"), *top_arg = hush__query(rq, "top");
    uint64_t round = 0, top = 0;
    hush_err err = {0};
    if (round_arg != NULL &&
        hush_parse_u64(round_arg, 1, UINT32_MAX, "round", &round, &err) != 0) {
        return hush__reply_error(rq, 400, "invalid_round", err.msg);
    }
    if (top_arg != NULL &&
        hush_parse_u64(top_arg, 1, UINT32_MAX, "top", &top, &err) != 0) {
        return hush__reply_error(rq, 400, "invalid_top", err.msg);
    }
    enum hush__format fmt;
    if (!hush__choose_format(hush__query(rq, "format"), hush__header(rq, "Accept"),
                             &fmt)) {
        return hush__reply_error(rq, 400, "invalid_format", "format must be json or csv");
    }
    /* the ETag names the aggregate's state, so a poll that finds it
     * unchanged costs no estimate at all */
    hush__est_state st;
    hush__estimates_state(h, rq->campaign, round, &st);
    char etag[128];
    estimates_tag(rq, &st, top, fmt, etag, sizeof etag);
    hush__header_kv hs[] = {{MHD_HTTP_HEADER_ETAG, etag},
                            {MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache"},
                            {MHD_HTTP_HEADER_VARY, "Accept"},
                            {"Hush-Withheld", NULL}};
    size_t nh = sizeof hs / sizeof hs[0];
    if (st.round != 0 && hush__etag_listed(hush__header(rq, "If-None-Match"), etag)) {
        return hush__reply_static(rq, 304, "", 0, NULL, hs, nh);
    }
    char *body = NULL;
    size_t len = 0;
    hush__fail f = {0};
    if (hush__estimates(h, rq->campaign, round, top, &body, &len, &st, &f) != 0) {
        return hush__reply_fail(rq, &f);
    }
    estimates_tag(rq, &st, top, fmt, etag, sizeof etag); /* the state computed at */
    if (fmt == HUSH__FORMAT_JSON) {
        return hush__reply_headers(rq, 200, body, len, "application/json", hs, nh);
    }
    static const char *const leads[] = {"campaign", "round",     "n_reports",
                                        "epsilon",  "mechanism", NULL};
    json_t *doc = hush__json_loadb(body, len, 0, NULL, NULL);
    hush_free(body);
    hs[3].value = json_is_true(json_object_get(doc, "withheld"))
                      ? json_string_value(json_object_get(doc, "reason"))
                      : NULL;
    char *csv = doc != NULL ? hush__csv_table(doc, "items", leads, NULL, &len) : NULL;
    enum MHD_Result r = hush__reply_headers(rq, 200, csv, len, HUSH__CSV_TYPE, hs, nh);
    json_decref(doc);
    return r;
}

/* A JSON body (consumed) as it is, or as CSV: the table under `rows`. */
static enum MHD_Result reply_table(hush__req *rq, enum hush__format fmt, char *body,
                                   size_t len, const char *rows, const char *const *leads,
                                   const char *const *whole)
{
    if (fmt == HUSH__FORMAT_JSON || body == NULL) {
        return hush__reply(rq, 200, body, len, "application/json", NULL, NULL);
    }
    json_t *doc = hush__json_loadb(body, len, 0, NULL, NULL);
    hush_free(body);
    char *csv = doc != NULL ? hush__csv_table(doc, rows, leads, whole, &len) : NULL;
    json_decref(doc);
    return hush__reply(rq, 200, csv, len, HUSH__CSV_TYPE, NULL, NULL);
}

enum MHD_Result hush__api_rounds_list(hush__req *rq)
{
    enum hush__format fmt;
    if (!hush__choose_format(hush__query(rq, "format"), hush__header(rq, "Accept"),
                             &fmt)) {
        return hush__reply_error(rq, 400, "invalid_format", "format must be json or csv");
    }
    char *body = NULL;
    size_t len = 0;
    hush__fail f = {0};
    if (hush__rounds_json(rq->h, rq->campaign, &body, &len, &f) != 0) {
        return hush__reply_fail(rq, &f);
    }
    static const char *const leads[] = {"campaign", NULL}, *const whole[] = {"lineage",
                                                                             NULL};
    return reply_table(rq, fmt, body, len, "rounds", leads, whole);
}

enum MHD_Result hush__api_rounds_close(hush__req *rq)
{
    json_t *out = NULL;
    hush__fail f = {0};
    int rc = hush__round_close(rq->h, rq->campaign, rq->doc, &out, &f);
    return hush__reply_outcome(rq, rc, 201, out, &f);
}

enum MHD_Result hush__api_campaign_end(hush__req *rq)
{
    hush__campaign *c = rq->campaign;
    hush_err err = {0};
    if (hush__campaign_end(rq->h, c, &err) != 0) {
        return hush__reply_error(
            rq, err.code == HUSH_ESTATE ? 409 : 503,
            err.code == HUSH_ESTATE ? "campaign_ended" : "unavailable", err.msg);
    }
    hush__log(rq->h, "info", "campaign %s ended", c->id);
    return hush__reply_json(
        rq, 200,
        json_pack("{s:s, s:s, s:I}", "campaign", c->id, "state", "ended", "ended_at",
                  (json_int_t)__atomic_load_n(&c->ended_at, __ATOMIC_ACQUIRE)));
}

enum MHD_Result hush__api_campaign_archive(hush__req *rq)
{
    hush__compaction cr = {0};
    hush__fail f = {0};
    int64_t when = 0;
    if (hush__campaign_archive(rq->h, rq->campaign, &when, &cr, &f) != 0) {
        return hush__reply_fail(rq, &f);
    }
    return hush__reply_json(
        rq, 200,
        json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "campaign", rq->campaign->id, "state",
                  "archived", "archived_at", (json_int_t)when, "batches_deleted",
                  (json_int_t)cr.batches, "reports_deleted", (json_int_t)cr.reports,
                  "bytes_freed", (json_int_t)cr.bytes));
}
