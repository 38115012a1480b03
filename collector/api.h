/*
 * api.h - between hushd's HTTP server (http.c) and its API handlers
 * (api_*.c): the request as a handler sees it, the ways to answer it, the
 * one table from HUSH_E… codes to HTTP statuses, and one handler per
 * route of routes.h.
 *
 * A handler translates: it reads the request (path id, query, parsed
 * body), calls the domain, and answers with the domain's document or its
 * failure.  It holds no rules of its own beyond what the HTTP form needs
 * (which query values are allowed, which status a success has).  The
 * dispatcher has already made the checks the route's flags ask for
 * (routes.h), so a handler for a ROUTE_CAMPAIGN route finds rq->campaign
 * set.
 */
#ifndef HUSH_COLLECTOR_API_H
#define HUSH_COLLECTOR_API_H

#include <microhttpd.h>

#include "http.h"

typedef struct hush__req {
    /* for handlers */
    hush_collector *h;
    struct MHD_Connection *conn;
    enum hush__route route;
    char id[HUSH_CAMPAIGN_ID_MAX + 2]; /* the {id} segment, or "" */
    hush__campaign *campaign;          /* ROUTE_CAMPAIGN routes */
    hush__task *task;                  /* ROUTE_MODEL routes */
    hush__buf body;                    /* the request body (body.data may be NULL) */
    json_t *doc;                       /* ROUTE_OBJECT routes: the body, or NULL */
    hush__item *item;                  /* a report batch handed to the writer */
    /* the server's own */
    bool started, bad_uri, too_big;
    const char *method;
    double t0;
    uint64_t discarded;
    int status;
    size_t bytes;
} hush__req;

/* reply.c */
/* The HTTP status of a failure's code (the one table). */
int hush__status_of(int code);
/* The error document {"error":{"code","message"}} (new; hush_free), or
 * NULL: out of memory. */
char *hush__error_json(const char *code, const char *message, size_t *len);

/* Answers; each returns what libmicrohttpd's handler returns.  `body`
 * passed to hush__reply is owned by the reply (hush_free; NULL: a 500). */
enum MHD_Result hush__reply(hush__req *rq, int status, char *body, size_t len,
                            const char *content_type, const char *hname,
                            const char *hvalue);
/* The same with any number of extra headers (a NULL name or value is
 * skipped). */
typedef struct hush__header_kv {
    const char *name, *value;
} hush__header_kv;
enum MHD_Result hush__reply_headers(hush__req *rq, int status, char *body, size_t len,
                                    const char *content_type,
                                    const hush__header_kv *headers, size_t n_headers);
/* Bytes that outlive every response (an embedded asset; an empty 304). */
enum MHD_Result hush__reply_static(hush__req *rq, int status, const void *data,
                                   size_t len, const char *content_type,
                                   const hush__header_kv *headers, size_t n_headers);
enum MHD_Result hush__reply_copy(hush__req *rq, int status, const char *text,
                                 const char *content_type);
/* A document (consumed; NULL: a 500), as compact JSON. */
enum MHD_Result hush__reply_json(hush__req *rq, int status, json_t *doc);
enum MHD_Result hush__reply_error(hush__req *rq, int status, const char *code,
                                  const char *message);
/* A domain failure: status from its code, "code" from its reason. */
enum MHD_Result hush__reply_fail(hush__req *rq, const hush__fail *f);
/* A domain call's outcome: its document with `status` when rc is 0, else
 * its failure. */
enum MHD_Result hush__reply_outcome(hush__req *rq, int rc, int status, json_t *doc,
                                    const hush__fail *f);
/* A query argument, or NULL. */
const char *hush__query(hush__req *rq, const char *name);
/* A request header's value, or NULL. */
const char *hush__header(hush__req *rq, const char *name);
/* Whether the request carries the admin bearer token. */
bool hush__req_admin(hush__req *rq);

/* The /metrics page (new text, or NULL: out of memory). */
char *hush__metrics_render(hush_collector *h, size_t *len);

/* One handler per route (routes.h). */
#define HUSH__ROUTE_HANDLER(name, method, path, flags, what) \
    enum MHD_Result hush__api_##name(hush__req *rq);
HUSH__ROUTES(HUSH__ROUTE_HANDLER)
#undef HUSH__ROUTE_HANDLER
/* A report batch's answer, once the writer has committed it. */
enum MHD_Result hush__api_reports_done(hush__req *rq);

#endif
