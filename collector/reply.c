/*
 * reply.c - answering a request: the body and its headers handed to
 * libmicrohttpd (freed with hush_free), error documents, a domain failure
 * as a status and an error document through the one table from HUSH_E…
 * codes to HTTP statuses, query arguments, the admin check.  The handlers
 * (api_*.c) and the server (http.c) both answer through here.
 */
#include <stdio.h>

#include "api.h"
#include "negotiate.h"

/* The one table: what each failure code is over HTTP. */
static const struct {
    int code, status;
    const char *name; /* "code" of the error document when the domain names none */
} status_table[] = {
    {HUSH_EINVAL, 400, "invalid"},
    {HUSH_ERANGE, 400, "invalid"},
    {HUSH_EOVERFLOW, 400, "invalid"},
    {HUSH_EVERSION, 400, "unsupported_version"},
    {HUSH_EUNSUPPORTED, 400, "unsupported"},
    {HUSH_ENOTFOUND, 404, "not_found"},
    {HUSH_EEXIST, 409, "exists"},
    {HUSH_ESTATE, 409, "conflict"},
    {HUSH_EMISMATCH, 409, "mismatch"},
    {HUSH_ESTALE, 409, "stale"},
    {HUSH_EBUDGET, 409, "budget"},
    {HUSH_ETOOBIG, 413, "too_large"},
    {HUSH_EPERM, 403, "forbidden"},
    {HUSH_ELIMIT, 429, "rate_limited"},
    {HUSH_ENOMEM, 500, "internal"},
    {HUSH_EINTERNAL, 500, "internal"},
    {HUSH_ECORRUPT, 500, "internal"},
    {HUSH_ESIGNATURE, 500, "internal"},
    {HUSH_EUPSTREAM, 502, "upstream_failed"},
    {HUSH_EIO, 503, "unavailable"},
    {HUSH_ETIMEOUT, 504, "timeout"},
};

static size_t status_index(int code)
{
    for (size_t i = 0; i < sizeof status_table / sizeof status_table[0]; i++) {
        if (status_table[i].code == code) {
            return i;
        }
    }
    return SIZE_MAX;
}

int hush__status_of(int code)
{
    size_t i = status_index(code);
    return i != SIZE_MAX ? status_table[i].status : 500;
}

/* The error document {"error":{"code","message"}} (hush_free). */
char *hush__error_json(const char *code, const char *message, size_t *len)
{
    json_t *doc = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    char *s = doc != NULL ? hush_json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (s == NULL) {
        static const char oom[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        s = hush_malloc(sizeof oom);
        if (s != NULL) {
            memcpy(s, oom, sizeof oom);
        }
    }
    *len = s != NULL ? strlen(s) : 0;
    return s;
}

/* The CORS headers of an answer to a page of another origin: only for the
 * routes anyone may GET, only for an Origin of --cors-origin. */
static void add_cors(hush__req *rq, struct MHD_Response *resp)
{
    const char *allowed = rq->h->cfg.cors_origin;
    if (allowed[0] == '\0' || !hush__route_public_get(rq->route)) {
        return;
    }
    const char *origin = hush__header(rq, "Origin");
    if (!hush__origin_allowed(allowed, origin)) {
        return;
    }
    bool any = strcmp(allowed, "*") == 0;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", any ? "*" : origin);
    if (!any) { /* one Vary that names every header the answer depends on */
        const char *vary = MHD_get_response_header(resp, MHD_HTTP_HEADER_VARY);
        char both[128];
        snprintf(both, sizeof both, "%s%sOrigin", vary != NULL ? vary : "",
                 vary != NULL ? ", " : "");
        if (vary != NULL) {
            MHD_del_response_header(resp, MHD_HTTP_HEADER_VARY, vary);
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, both);
    }
    MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                            "ETag, Hush-Signature");
}

/* Queues resp (consumed) with its type, extra headers and CORS. */
static enum MHD_Result queue(hush__req *rq, int status, struct MHD_Response *resp,
                             size_t len, const char *content_type,
                             const hush__header_kv *headers, size_t n_headers)
{
    if (content_type != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    }
    for (size_t i = 0; i < n_headers; i++) {
        if (headers[i].name != NULL && headers[i].value != NULL) {
            MHD_add_response_header(resp, headers[i].name, headers[i].value);
        }
    }
    add_cors(rq, resp);
    rq->status = status;
    rq->bytes = len;
    enum MHD_Result r = MHD_queue_response(rq->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return r;
}

enum MHD_Result hush__reply_headers(hush__req *rq, int status, char *body, size_t len,
                                    const char *content_type,
                                    const hush__header_kv *headers, size_t n_headers)
{
    if (body == NULL) {
        status = 500;
        body = hush__error_json("internal", "out of memory", &len);
        content_type = "application/json";
        n_headers = 0;
    }
    struct MHD_Response *resp =
        body != NULL
            ? MHD_create_response_from_buffer_with_free_callback(len, body, hush_free)
            : NULL;
    if (resp == NULL) {
        hush_free(body);
        return MHD_NO;
    }
    return queue(rq, status, resp, len, content_type, headers, n_headers);
}

enum MHD_Result hush__reply_static(hush__req *rq, int status, const void *data,
                                   size_t len, const char *content_type,
                                   const hush__header_kv *headers, size_t n_headers)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)(uintptr_t)data, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        return MHD_NO;
    }
    return queue(rq, status, resp, len, content_type, headers, n_headers);
}

enum MHD_Result hush__reply(hush__req *rq, int status, char *body, size_t len,
                            const char *content_type, const char *hname,
                            const char *hvalue)
{
    hush__header_kv h = {hname, hvalue};
    return hush__reply_headers(rq, status, body, len, content_type, &h, hname != NULL);
}

enum MHD_Result hush__reply_error(hush__req *rq, int status, const char *code,
                                  const char *message)
{
    size_t len = 0;
    char *body = hush__error_json(code, message, &len);
    return hush__reply(rq, status, body, len, "application/json", NULL, NULL);
}

enum MHD_Result hush__reply_fail(hush__req *rq, const hush__fail *f)
{
    int code = f->err.code != 0 ? f->err.code : HUSH_EINTERNAL;
    size_t i = status_index(code);
    const char *name = f->reason != NULL ? f->reason
                       : i != SIZE_MAX   ? status_table[i].name
                                         : "internal";
    return hush__reply_error(rq, hush__status_of(code), name,
                             f->err.msg[0] ? f->err.msg : hush_strerror(code));
}

enum MHD_Result hush__reply_copy(hush__req *rq, int status, const char *text,
                                 const char *content_type)
{
    size_t len = strlen(text);
    char *copy = hush_malloc(len + 1);
    if (copy != NULL) {
        memcpy(copy, text, len + 1);
    }
    return hush__reply(rq, status, copy, len, content_type, NULL, NULL);
}

enum MHD_Result hush__reply_json(hush__req *rq, int status, json_t *doc)
{
    char *body =
        doc != NULL ? hush_json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(doc);
    return hush__reply(rq, status, body, body != NULL ? strlen(body) : 0,
                       "application/json", NULL, NULL);
}

const char *hush__query(hush__req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *hush__header(hush__req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

bool hush__req_admin(hush__req *rq)
{
    return hush__admin_ok(rq->h,
                          MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_AUTHORIZATION));
}

enum MHD_Result hush__reply_outcome(hush__req *rq, int rc, int status, json_t *doc,
                                    const hush__fail *f)
{
    if (rc != 0) {
        json_decref(doc);
        return hush__reply_fail(rq, f);
    }
    return hush__reply_json(rq, status, doc);
}
