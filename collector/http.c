/*
 * http.c - the REST API on libmicrohttpd: routing, bodies, responses, the
 * access log.
 *
 * The access handler is called several times per request (STYLE.md): the
 * first call allocates the request context and refuses an oversize
 * Content-Length with 413 at once; body calls append to a capped buffer;
 * the final call parses and answers.  A report batch instead suspends its
 * connection and goes to the writer thread; once its commit is done the
 * connection is resumed, the handler runs again, and answers from the
 * item.  Nothing here reads or logs the client's address.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "collector_internal.h"

/* A batch whose counting costs at least this many (report, value) steps is
 * counted in its HTTP thread (about a millisecond of work and up). */
#define DELTA_MIN_WORK (UINT64_C(1) << 22)

/* How much of a body past --max-body-bytes is read and dropped before the
 * 413 is sent and the connection closed. */
#define DISCARD_MAX (1u << 20)

typedef struct request {
    bool started; /* the handler has seen the request's first call */
    bool bad_uri; /* NUL or invalid percent-encoding in the raw URI */
    enum hush__route route;
    const char *method;
    double t0;
    char *body;
    size_t len, cap;
    bool too_big;
    uint64_t discarded; /* bytes past the cap, read and dropped */
    hush__item *item;
    int status;
    size_t bytes;
} request;

double hush__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t hush__wall(void)
{
    return (int64_t)time(NULL);
}

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

/* Queues a response whose body is malloc'd (freed by libmicrohttpd). */
static enum MHD_Result respond(struct MHD_Connection *conn, request *req, int status,
                               char *body, size_t len, const char *content_type,
                               const char *hname, const char *hvalue)
{
    if (body == NULL) {
        status = 500;
        body = hush__error_json("internal", "out of memory", &len);
        content_type = "application/json";
        hname = NULL;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(len, body, hush_free);
    if (resp == NULL) {
        hush_free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (hname != NULL) {
        MHD_add_response_header(resp, hname, hvalue);
    }
    req->status = status;
    req->bytes = len;
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result respond_error(struct MHD_Connection *conn, request *req,
                                     int status, const char *code, const char *message)
{
    size_t len = 0;
    char *body = hush__error_json(code, message, &len);
    return respond(conn, req, status, body, len, "application/json", NULL, NULL);
}

static enum MHD_Result respond_copy(struct MHD_Connection *conn, request *req, int status,
                                    const char *text, const char *content_type)
{
    size_t len = strlen(text);
    char *copy = hush_malloc(len + 1);
    if (copy != NULL) {
        memcpy(copy, text, len + 1);
    }
    return respond(conn, req, status, copy, len, content_type, NULL, NULL);
}

static enum MHD_Result respond_json_doc(struct MHD_Connection *conn, request *req,
                                        int status, json_t *doc)
{
    char *body =
        doc != NULL ? hush_json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(doc);
    return respond(conn, req, status, body, body != NULL ? strlen(body) : 0,
                   "application/json", NULL, NULL);
}

/* ---- the request deadline ----
 *
 * libmicrohttpd's connection timeout counts idle time only, so a client that
 * trickles a header byte every few seconds keeps its connection forever,
 * and a few thousand such clients lock everyone else out.  Every open
 * connection is therefore registered here (NOTIFY_CONNECTION) with the time
 * its current request began; a reaper thread shuts down the socket of any
 * request whose head and body are not complete within --request-timeout
 * (libmicrohttpd then sees the end of the stream and closes the connection
 * itself).  A request stops counting once it is complete (its answer may
 * take as long as its work takes) and the clock restarts for the next
 * request on the connection.  The registry holds the socket, never the
 * client's address.  libmicrohttpd reports a connection closed before it
 * closes the socket, and the registry's lock is held around the shutdown,
 * so a socket number is never used after it could be reused. */
struct hush__conn {
    struct hush__conn *prev, *next; /* under conn_lock */
    int fd;
    int64_t since_ms; /* when the current request began (atomic) */
    bool busy;        /* the request is complete: being answered (atomic) */
    bool reaped;      /* under conn_lock */
};

static int64_t now_ms(void)
{
    return (int64_t)(hush__now() * 1e3);
}

static struct hush__conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

/* Marks the connection's request complete (busy) or a new one begun; on
 * every request, so lock-free: the reaper reads both atomically. */
static void conn_mark(hush_collector *h, struct MHD_Connection *conn, bool busy)
{
    (void)h;
    struct hush__conn *c = conn_of(conn);
    if (c != NULL) {
        __atomic_store_n(&c->since_ms, now_ms(), __ATOMIC_RELAXED);
        __atomic_store_n(&c->busy, busy, __ATOMIC_RELEASE);
    }
}

static void conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
    hush_collector *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct hush__conn *c = hush_calloc(1, sizeof *c);
        if (c == NULL || ci == NULL) {
            hush_free(c);
            *socket_context = NULL; /* not registered: no deadline */
            return;
        }
        c->fd = ci->connect_fd;
        c->since_ms = now_ms();
        pthread_mutex_lock(&h->conn_lock);
        c->next = h->conns;
        if (h->conns != NULL) {
            h->conns->prev = c;
        }
        h->conns = c;
        pthread_mutex_unlock(&h->conn_lock);
        *socket_context = c;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context != NULL) {
        struct hush__conn *c = *socket_context;
        pthread_mutex_lock(&h->conn_lock);
        if (c->prev != NULL) {
            c->prev->next = c->next;
        } else {
            h->conns = c->next;
        }
        if (c->next != NULL) {
            c->next->prev = c->prev;
        }
        pthread_mutex_unlock(&h->conn_lock);
        hush_free(c);
        *socket_context = NULL;
    }
}

/* The request deadline's thread, which also flushes the access log. */
static void *reaper_main(void *arg)
{
    hush_collector *h = arg;
    pthread_mutex_lock(&h->conn_lock);
    while (!h->reaper_stop) {
        double now = hush__now();
        int64_t deadline_ms = now_ms() - (int64_t)h->cfg.request_timeout_s * 1000;
        for (struct hush__conn *c = h->conns; c != NULL; c = c->next) {
            if (!__atomic_load_n(&c->busy, __ATOMIC_ACQUIRE) && !c->reaped &&
                __atomic_load_n(&c->since_ms, __ATOMIC_RELAXED) < deadline_ms) {
                shutdown(c->fd, SHUT_RDWR);
                c->reaped = true;
                __atomic_add_fetch(&h->metrics.requests_timed_out, 1, __ATOMIC_RELAXED);
            }
        }
        /* and the access log is written out at least every second, busy or
         * idle (a request's line is otherwise flushed by the next one) */
        pthread_mutex_unlock(&h->conn_lock);
        pthread_mutex_lock(&h->log_lock);
        if (h->access_log != NULL && now - h->log_flushed >= 1.0) {
            fflush(h->access_log);
            h->log_flushed = now;
        }
        pthread_mutex_unlock(&h->log_lock);
        pthread_mutex_lock(&h->conn_lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&h->reaper_cond, &h->conn_lock, &until);
    }
    pthread_mutex_unlock(&h->conn_lock);
    return NULL;
}

/* ---- routing ---- */

static enum hush__route route_of(const char *method, const char *url, char *id,
                                 size_t id_cap)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    id[0] = '\0';
    if (strcmp(url, "/healthz") == 0) {
        return get ? ROUTE_HEALTHZ : ROUTE_OTHER;
    }
    if (strcmp(url, "/readyz") == 0) {
        return get ? ROUTE_READYZ : ROUTE_OTHER;
    }
    if (strcmp(url, "/v1/store/compact") == 0) {
        return post ? ROUTE_COMPACT : ROUTE_OTHER;
    }
    if (strcmp(url, "/metrics") == 0) {
        return get ? ROUTE_METRICS : ROUTE_OTHER;
    }
    if (strcmp(url, "/v1/keys") == 0) {
        return get ? ROUTE_KEYS : ROUTE_OTHER;
    }
    if (strcmp(url, "/v1/keys/rotate") == 0) {
        return post ? ROUTE_KEYS_ROTATE : ROUTE_OTHER;
    }
    if (strcmp(url, "/v1/reports") == 0) {
        return post ? ROUTE_REPORTS : ROUTE_OTHER;
    }
    if (strcmp(url, "/v1/campaigns") == 0) {
        return get ? ROUTE_CAMPAIGNS_LIST : post ? ROUTE_CAMPAIGNS_CREATE : ROUTE_OTHER;
    }
    if (strcmp(url, "/v1/models") == 0) {
        return get ? ROUTE_MODELS_LIST : post ? ROUTE_MODELS_CREATE : ROUTE_OTHER;
    }
    static const char mprefix[] = "/v1/models/";
    if (strncmp(url, mprefix, sizeof mprefix - 1) == 0) {
        const char *rest = url + sizeof mprefix - 1;
        const char *slash = strchr(rest, '/');
        size_t n = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
        if (n == 0 || n >= id_cap) {
            return ROUTE_OTHER;
        }
        memcpy(id, rest, n);
        id[n] = '\0';
        if (slash == NULL) {
            return get ? ROUTE_MODEL_GET : ROUTE_OTHER;
        }
        if (strcmp(slash, "/updates") == 0) {
            return post ? ROUTE_MODEL_UPDATES : ROUTE_OTHER;
        }
        if (strcmp(slash, "/privacy") == 0) {
            return get ? ROUTE_MODEL_PRIVACY : ROUTE_OTHER;
        }
        if (strcmp(slash, "/rounds") == 0) {
            return get ? ROUTE_MODEL_ROUNDS : post ? ROUTE_MODEL_CLOSE : ROUTE_OTHER;
        }
        return ROUTE_OTHER;
    }
    static const char prefix[] = "/v1/campaigns/";
    if (strncmp(url, prefix, sizeof prefix - 1) == 0) {
        const char *rest = url + sizeof prefix - 1;
        const char *slash = strchr(rest, '/');
        size_t n = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
        if (n == 0 || n >= id_cap) {
            return ROUTE_OTHER;
        }
        memcpy(id, rest, n);
        id[n] = '\0';
        if (slash == NULL) {
            return get ? ROUTE_CAMPAIGN_GET : ROUTE_OTHER;
        }
        if (strcmp(slash, "/estimates") == 0) {
            return get ? ROUTE_ESTIMATES : ROUTE_OTHER;
        }
        if (strcmp(slash, "/rounds") == 0) {
            return get ? ROUTE_ROUNDS_LIST : post ? ROUTE_ROUNDS_CLOSE : ROUTE_OTHER;
        }
        if (strcmp(slash, "/end") == 0) {
            return post ? ROUTE_CAMPAIGN_END : ROUTE_OTHER;
        }
        if (strcmp(slash, "/archive") == 0) {
            return post ? ROUTE_CAMPAIGN_ARCHIVE : ROUTE_OTHER;
        }
    }
    return ROUTE_OTHER;
}

/* Known path, wrong method: 405 with Allow (the methods the same path is
 * routed for); any other path: 404. */
static enum MHD_Result not_routed(struct MHD_Connection *conn, request *req,
                                  const char *url)
{
    char id[HUSH_CAMPAIGN_ID_MAX + 2];
    bool get = route_of("GET", url, id, sizeof id) != ROUTE_OTHER;
    bool post = route_of("POST", url, id, sizeof id) != ROUTE_OTHER;
    const char *allow = get && post ? "GET, POST" : get ? "GET" : post ? "POST" : NULL;
    if (allow == NULL) {
        return respond_error(conn, req, 404, "not_found", "no such route");
    }
    size_t len = 0;
    char msg[64];
    snprintf(msg, sizeof msg, "this route allows %s", allow);
    char *body = hush__error_json("method_not_allowed", msg, &len);
    return respond(conn, req, 405, body, len, "application/json", MHD_HTTP_HEADER_ALLOW,
                   allow);
}

/* ---- reports ---- */

static enum MHD_Result reject(hush_collector *h, struct MHD_Connection *conn,
                              request *req, int status, enum hush__reject why, uint64_t n,
                              const char *code, const char *message)
{
    hush__metrics_reject(&h->metrics, why, n);
    return respond_error(conn, req, status, code, message);
}

static enum MHD_Result post_reports(hush_collector *h, struct MHD_Connection *conn,
                                    request *req)
{
    json_error_t jerr;
    hush_err err = {0};
    json_t *doc = json_loadb(req->body != NULL ? req->body : "", req->len,
                             JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        char msg[256];
        snprintf(msg, sizeof msg, "the batch is not JSON: %s", jerr.text);
        return reject(h, conn, req, 400, REJECT_MALFORMED, 0, "malformed", msg);
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
            return reject(h, conn, req, 400, REJECT_SEALED, 0, "sealed",
                          err.msg[0]
                              ? err.msg
                              : "a sealed batch is {\"sealed\": base64} and nothing "
                                "else");
        }
        json_decref(doc);
        doc = json_loadb((const char *)plain, plen, JSON_REJECT_DUPLICATES, &jerr);
        hush_free(plain);
        if (doc == NULL) {
            return reject(h, conn, req, 400, REJECT_MALFORMED, 0, "malformed",
                          "the sealed batch does not hold JSON");
        }
    }
    hush_batch_header hdr;
    if (hush_batch_read_header(doc, &hdr, &err) != 0) {
        json_decref(doc);
        return reject(h, conn, req, 400, REJECT_MALFORMED, 0, "malformed", err.msg);
    }
    uint64_t n = json_array_size(hdr.reports);
    hush__campaign *c = hush__campaign_find(h, hdr.campaign);
    if (c == NULL) {
        char msg[128];
        snprintf(msg, sizeof msg, "no campaign \"%s\"", hdr.campaign);
        json_decref(doc);
        return reject(h, conn, req, 404, REJECT_UNKNOWN_CAMPAIGN, n, "unknown_campaign",
                      msg);
    }
    if (hush__campaign_ended(c, hush__wall())) {
        json_decref(doc);
        hush__campaign_reject(c, REJECT_ENDED, n);
        return reject(h, conn, req, 409, REJECT_ENDED, n, "campaign_ended",
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
        return reject(h, conn, req, 409, REJECT_ROUND, n, "round_closed", msg);
    }
    hush__item *item = hush_calloc(1, sizeof *item);
    size_t bad = 0;
    if (item == NULL) {
        json_decref(doc);
        hush__round_put(round);
        return respond_error(conn, req, 500, "internal", "out of memory");
    }
    item->round = round; /* the item holds the reference from here on */
    if (hush_batch_decode_reports(round->mech, hdr.reports, &item->reports,
                                  &item->n_reports, &bad, &err) != 0) {
        json_decref(doc);
        hush__item_free(item);
        hush__campaign_reject(c, REJECT_INVALID, n);
        return reject(h, conn, req, err.code == HUSH_ENOMEM ? 500 : 400, REJECT_INVALID,
                      n, "invalid_report", err.msg);
    }
    memcpy(item->batch_id, hdr.batch_id, sizeof item->batch_id);
    json_decref(doc);
    /* the support counting of a large OLH or OUE batch is done by a counter
     * thread (several run at once), neither in this HTTP thread (its other
     * connections would wait) nor in the writer (every campaign would) */
    const hush_ldp_params *mp = hush_ldp_get_params(round->mech);
    bool heavy = (mp->mechanism == HUSH_LDP_OLH || mp->mechanism == HUSH_LDP_OUE) &&
                 (uint64_t)item->n_reports * mp->domain >= DELTA_MIN_WORK;
    item->conn = conn;
    item->campaign = c;
    req->item = item;
    MHD_suspend_connection(conn);
    if (heavy) {
        hush__count_enqueue(h, item);
    } else {
        hush__enqueue(h, item);
    }
    return MHD_YES;
}

static enum MHD_Result reports_done(hush_collector *h, struct MHD_Connection *conn,
                                    request *req)
{
    hush__item *it = req->item;
    (void)h;
    if (it->status == 200) {
        char *body = hush_malloc(96);
        if (body != NULL) {
            snprintf(body, 96, "{\"accepted\":%zu,\"duplicate\":%s}",
                     it->duplicate ? (size_t)0 : it->n_reports,
                     it->duplicate ? "true" : "false");
        }
        return respond(conn, req, 200, body, body != NULL ? strlen(body) : 0,
                       "application/json", NULL, NULL);
    }
    if (it->status == 409) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "round %u of %s closed while the batch waited; fetch the current round",
                 it->round->round, it->campaign->id);
        return respond_error(conn, req, 409, "round_closed", msg);
    }
    return respond_error(
        conn, req, it->status, it->status == 503 ? "unavailable" : "internal",
        it->status == 503 ? "the store could not commit; retry with the same "
                            "batch_id"
                          : "internal error");
}

/* ---- the handler ---- */

/* The media type is application/json, in any case, with or without
 * parameters ("application/json; charset=utf-8"); "application/jsonx" is
 * not. */
static bool is_json(struct MHD_Connection *conn)
{
    const char *ct =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0) {
        return false;
    }
    const char *rest = ct + 16;
    while (*rest == ' ' || *rest == '\t') {
        rest++;
    }
    return *rest == '\0' || *rest == ';';
}

/* How many Authorization and Content-Type headers a request has, in one
 * pass over its headers. */
struct header_count {
    unsigned auth, type;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    struct header_count *c = cls;
    (void)kind;
    (void)value;
    c->auth += strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0;
    c->type += strcasecmp(key, MHD_HTTP_HEADER_CONTENT_TYPE) == 0;
    return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version,
                               const char *upload_data, size_t *upload_data_size,
                               void **req_cls)
{
    hush_collector *h = cls;
    (void)version;
    request *req = *req_cls;
    char id[HUSH_CAMPAIGN_ID_MAX + 2];
    if (req == NULL || !req->started) {
        if (req == NULL) { /* (uri_seen allocates it; not when it failed) */
            return MHD_NO;
        }
        req->started = true;
        req->method = strcmp(method, "GET") == 0    ? "GET"
                      : strcmp(method, "POST") == 0 ? "POST"
                      : strcmp(method, "HEAD") == 0 ? "HEAD"
                                                    : "OTHER";
        req->route = route_of(method, url, id, sizeof id);
        if (req->bad_uri) {
            req->route = ROUTE_OTHER;
            return respond_error(conn, req, 400, "bad_request",
                                 "the path or query holds a NUL byte (%00) or an invalid "
                                 "percent-encoding");
        }
        /* which of two credentials or two types would count is anyone's
         * guess: neither */
        struct header_count hc = {0, 0};
        MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &hc);
        if (hc.auth > 1 || hc.type > 1) {
            return respond_error(conn, req, 400, "bad_request",
                                 "more than one Authorization or Content-Type header");
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        uint64_t declared;
        if (cl != NULL &&
            hush_parse_u64(cl, 0, UINT64_MAX, "length", &declared, NULL) == 0 &&
            declared > h->cfg.max_body_bytes) {
            hush__metrics_reject(&h->metrics, REJECT_TOO_LARGE, 0);
            return respond_error(conn, req, 413, "too_large",
                                 "the request body exceeds the collector's limit");
        }
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->too_big) {
            /* past the cap: the rest is discarded, up to DISCARD_MAX more
             * bytes, so that a body a little too large still ends and its
             * client reads a clean 413; then the 413 is sent at once and
             * the connection closed (a chunked body may never end) */
            req->discarded += n;
            if (req->discarded > DISCARD_MAX && req->status == 0) {
                return respond_error(conn, req, 413, "too_large",
                                     "the request body exceeds the collector's limit");
            }
            return MHD_YES;
        }
        if (req->len + n > h->cfg.max_body_bytes) {
            req->too_big = true;
            req->discarded = req->len + n - h->cfg.max_body_bytes;
            hush__metrics_reject(&h->metrics, REJECT_TOO_LARGE, 0);
            hush_free(req->body);
            req->body = NULL;
            req->len = req->cap = 0;
            return MHD_YES;
        }
        if (req->len + n + 1 > req->cap) {
            size_t cap = req->cap ? req->cap : 4096;
            while (cap < req->len + n + 1) {
                cap *= 2;
            }
            char *grown = hush_realloc(req->body, cap);
            if (grown == NULL) {
                req->too_big = true;
                return respond_error(conn, req, 503, "unavailable",
                                     "out of memory receiving the request");
            }
            req->body = grown;
            req->cap = cap;
        }
        memcpy(req->body + req->len, upload_data, n);
        req->len += n;
        req->body[req->len] = '\0';
        return MHD_YES;
    }
    if (req->item != NULL) {
        return reports_done(h, conn, req);
    }
    conn_mark(h, conn, true); /* the request is complete: no deadline now */
    if (req->too_big) {
        return req->status != 0 ? MHD_YES /* answered when the discard ran out */
                                : respond_error(conn, req, 413, "too_large",
                                                "the request body exceeds the "
                                                "collector's limit");
    }
    route_of(method, url, id, sizeof id);
    switch (req->route) {
    case ROUTE_HEALTHZ: {
        static const char ok[] = "{\"status\":\"ok\"}";
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            sizeof ok - 1, (void *)ok, MHD_RESPMEM_PERSISTENT);
        if (resp == NULL) {
            return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        req->status = 200;
        req->bytes = sizeof ok - 1;
        enum MHD_Result r = MHD_queue_response(conn, 200, resp);
        MHD_destroy_response(resp);
        return r;
    }
    case ROUTE_READYZ: {
        /* liveness is /healthz; ready means the store takes writes: the
         * last commit worked and a write lock can be taken now */
        hush_err rerr = {0};
        if (hush__store_probe(h, &rerr) != 0) {
            return respond_error(conn, req, 503, "unavailable", rerr.msg);
        }
        static const char ready[] = "{\"status\":\"ready\"}";
        return respond_copy(conn, req, 200, ready, "application/json");
    }
    case ROUTE_METRICS: {
        size_t len = 0;
        char *text = hush__metrics_render(h, &len);
        return respond(conn, req, 200, text, len, "text/plain; version=0.0.4", NULL,
                       NULL);
    }
    case ROUTE_KEYS: {
        pthread_rwlock_rdlock(&h->campaigns_lock); /* a rotation swaps keys_json */
        enum MHD_Result r =
            respond_copy(conn, req, 200, h->keys_json, "application/json");
        pthread_rwlock_unlock(&h->campaigns_lock);
        return r;
    }
    case ROUTE_KEYS_ROTATE: {
        if (!hush__admin_ok(h,
                            MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_AUTHORIZATION))) {
            return respond_error(conn, req, 401, "unauthorized",
                                 "rotating the signing key needs the admin bearer token");
        }
        json_t *out = NULL;
        hush_err kerr = {0};
        if (hush__keys_rotate(h, &out, &kerr) != 0) {
            hush__log(h, "error", "key rotation failed: %s", kerr.msg);
            return respond_error(conn, req, 500, "internal", kerr.msg);
        }
        hush__log(h, "info",
                  "signing key rotated; the continuity document is in GET /v1/keys");
        return respond_json_doc(conn, req, 200, out);
    }
    case ROUTE_CAMPAIGNS_LIST: {
        const char *state =
            MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "state");
        if (state != NULL && strcmp(state, "all") != 0 && strcmp(state, "active") != 0) {
            return respond_error(conn, req, 400, "invalid_state",
                                 "state must be \"active\" (the default) or \"all\"");
        }
        int64_t now = hush__wall();
        if (state != NULL && strcmp(state, "all") == 0) {
            pthread_rwlock_rdlock(&h->campaigns_lock);
            char *all = hush__campaigns_list_json(h, true, now, NULL);
            pthread_rwlock_unlock(&h->campaigns_lock);
            return all != NULL
                       ? respond(conn, req, 200, all, strlen(all), "application/json",
                                 NULL, NULL)
                       : respond_error(conn, req, 500, "internal", "out of memory");
        }
        if (now >= __atomic_load_n(&h->list_valid_until, __ATOMIC_ACQUIRE)) {
            /* a scheduled end passed: the cached list is stale */
            pthread_rwlock_wrlock(&h->campaigns_lock);
            if (hush__campaigns_list_rebuild(h) != 0) {
                pthread_rwlock_unlock(&h->campaigns_lock);
                return respond_error(conn, req, 500, "internal", "out of memory");
            }
            pthread_rwlock_unlock(&h->campaigns_lock);
        }
        pthread_rwlock_rdlock(&h->campaigns_lock);
        enum MHD_Result r =
            respond_copy(conn, req, 200, h->list_json, "application/json");
        pthread_rwlock_unlock(&h->campaigns_lock);
        return r;
    }
    case ROUTE_CAMPAIGN_ARCHIVE: {
        if (!hush__admin_ok(h,
                            MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_AUTHORIZATION))) {
            return respond_error(conn, req, 401, "unauthorized",
                                 "archiving a campaign needs the admin bearer token");
        }
        hush__campaign *c = hush__campaign_find(h, id);
        if (c == NULL) {
            return respond_error(conn, req, 404, "unknown_campaign", "no such campaign");
        }
        int64_t now = hush__wall();
        if (!hush__campaign_ended(c, now)) {
            return respond_error(conn, req, 409, "campaign_active",
                                 "end the campaign before archiving it");
        }
        if (__atomic_load_n(&c->archived_at, __ATOMIC_ACQUIRE) != 0) {
            return respond_error(conn, req, 409, "campaign_archived",
                                 "the campaign is archived already");
        }
        hush__compaction cr = {0};
        hush_err aerr = {0};
        if (hush__store_archive_campaign(h, c, now, &cr, &aerr) != 0) {
            hush__log(h, "error", "archiving %s failed: %s", c->id, aerr.msg);
            return respond_error(conn, req, 503, "unavailable", aerr.msg);
        }
        hush__log(h, "info",
                  "campaign %s archived: %lld batches deleted, %lld bytes freed", c->id,
                  (long long)cr.batches, (long long)cr.bytes);
        return respond_json_doc(
            conn, req, 200,
            json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "campaign", c->id, "state",
                      "archived", "archived_at", (json_int_t)now, "batches_deleted",
                      (json_int_t)cr.batches, "reports_deleted", (json_int_t)cr.reports,
                      "bytes_freed", (json_int_t)cr.bytes));
    }
    case ROUTE_CAMPAIGN_END: {
        if (!hush__admin_ok(h,
                            MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_AUTHORIZATION))) {
            return respond_error(conn, req, 401, "unauthorized",
                                 "ending a campaign needs the admin bearer token");
        }
        hush__campaign *c = hush__campaign_find(h, id);
        if (c == NULL) {
            return respond_error(conn, req, 404, "unknown_campaign", "no such campaign");
        }
        hush_err eerr = {0};
        if (hush__campaign_end(h, c, &eerr) != 0) {
            return respond_error(
                conn, req, eerr.code == HUSH_ESTATE ? 409 : 503,
                eerr.code == HUSH_ESTATE ? "campaign_ended" : "unavailable", eerr.msg);
        }
        hush__log(h, "info", "campaign %s ended", c->id);
        return respond_json_doc(
            conn, req, 200,
            json_pack("{s:s, s:s, s:I}", "campaign", c->id, "state", "ended", "ended_at",
                      (json_int_t)__atomic_load_n(&c->ended_at, __ATOMIC_ACQUIRE)));
    }
    case ROUTE_CAMPAIGNS_CREATE: {
        const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_AUTHORIZATION);
        if (!hush__admin_ok(h, auth)) {
            return respond_error(conn, req, 401, "unauthorized",
                                 "creating a campaign needs the admin bearer token");
        }
        if (!is_json(conn)) {
            return respond_error(conn, req, 415, "unsupported_media_type",
                                 "send Content-Type: application/json");
        }
        json_t *resp = NULL;
        int status = 500;
        hush__campaign_create(h, req->body != NULL ? req->body : "", req->len, &resp,
                              &status);
        return respond_json_doc(conn, req, status, resp);
    }
    case ROUTE_CAMPAIGN_GET: {
        hush__campaign *c = hush__campaign_find(h, id);
        if (c == NULL) {
            return respond_error(conn, req, 404, "unknown_campaign", "no such campaign");
        }
        const char *view =
            MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "view");
        bool device = view != NULL && strcmp(view, "device") == 0;
        if (view != NULL && !device && strcmp(view, "full") != 0) {
            return respond_error(conn, req, 400, "invalid_view",
                                 "view must be \"full\" or \"device\"");
        }
        if (device && hush__campaign_ended(c, hush__wall())) {
            /* devices stop here; analysts still read the full view */
            return respond_error(conn, req, 410, "campaign_ended",
                                 "the campaign has ended: it takes no more reports");
        }
        hush__round *r = hush__round_get(h, c);
        device = device && r->dev_body != NULL; /* polls: one view */
        const char *src = device ? r->dev_body : r->pub_body;
        size_t len = device ? r->dev_len : r->pub_len;
        char *body = hush_malloc(len + 1);
        char sig[128];
        pthread_mutex_lock(&r->lock); /* a key rotation swaps signatures */
        snprintf(sig, sizeof sig, "%s", device ? r->dev_signature : r->signature);
        pthread_mutex_unlock(&r->lock);
        if (body != NULL) {
            memcpy(body, src, len + 1);
        }
        hush__round_put(r);
        return respond(conn, req, 200, body, len, "application/json",
                       HUSH_SIGNATURE_HEADER, sig);
    }
    case ROUTE_ESTIMATES: {
        hush__campaign *c = hush__campaign_find(h, id);
        if (c == NULL) {
            return respond_error(conn, req, 404, "unknown_campaign", "no such campaign");
        }
        if (h->cfg.estimates_admin_only &&
            !hush__admin_ok(h,
                            MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_AUTHORIZATION))) {
            return respond_error(
                conn, req, 401, "unauthorized",
                "estimates need the admin bearer token on this collector");
        }
        int status = 500;
        size_t len = 0;
        char *body = hush__estimates_json(
            h, c, MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "round"),
            MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "top"), &status,
            &len);
        return respond(conn, req, status, body, len, "application/json", NULL, NULL);
    }
    case ROUTE_ROUNDS_LIST: {
        hush__campaign *c = hush__campaign_find(h, id);
        if (c == NULL) {
            return respond_error(conn, req, 404, "unknown_campaign", "no such campaign");
        }
        int status = 500;
        size_t len = 0;
        char *body = hush__rounds_json(h, c, &status, &len);
        return respond(conn, req, status, body, len, "application/json", NULL, NULL);
    }
    case ROUTE_ROUNDS_CLOSE: {
        if (!hush__admin_ok(h,
                            MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_AUTHORIZATION))) {
            return respond_error(conn, req, 401, "unauthorized",
                                 "closing a round needs the admin bearer token");
        }
        hush__campaign *c = hush__campaign_find(h, id);
        if (c == NULL) {
            return respond_error(conn, req, 404, "unknown_campaign", "no such campaign");
        }
        if (req->len > 0 && !is_json(conn)) {
            return respond_error(conn, req, 415, "unsupported_media_type",
                                 "send Content-Type: application/json");
        }
        json_t *resp = NULL;
        int status = 500;
        hush__round_close(h, c, req->body != NULL ? req->body : "", req->len, &resp,
                          &status);
        return respond_json_doc(conn, req, status, resp);
    }
    case ROUTE_COMPACT: {
        if (!hush__admin_ok(h,
                            MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_AUTHORIZATION))) {
            return respond_error(conn, req, 401, "unauthorized",
                                 "compacting the store needs the admin bearer token");
        }
        hush__compaction cr = {0};
        hush_err cerr = {0};
        if (hush__store_compact(h, &cr, &cerr) != 0) {
            hush__log(h, "error", "compaction failed: %s", cerr.msg);
            return respond_error(conn, req, 503, "unavailable", cerr.msg);
        }
        hush__log(h, "info",
                  "compaction: %lld batches of %lld closed rounds deleted, %lld bytes "
                  "freed",
                  (long long)cr.batches, (long long)cr.rounds, (long long)cr.bytes);
        return respond_json_doc(
            conn, req, 200,
            json_pack("{s:I, s:I, s:I, s:I, s:I}", "rounds", (json_int_t)cr.rounds,
                      "batches_deleted", (json_int_t)cr.batches, "reports_deleted",
                      (json_int_t)cr.reports, "bytes_freed", (json_int_t)cr.bytes,
                      "file_bytes", (json_int_t)cr.file_bytes));
    }
    case ROUTE_MODELS_LIST:
        return respond_json_doc(conn, req, 200, hush__tasks_list(h));
    case ROUTE_MODELS_CREATE: {
        if (!hush__admin_ok(h,
                            MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_AUTHORIZATION))) {
            return respond_error(conn, req, 401, "unauthorized",
                                 "creating a model task needs the admin bearer token");
        }
        if (!is_json(conn)) {
            return respond_error(conn, req, 415, "unsupported_media_type",
                                 "send Content-Type: application/json");
        }
        json_t *resp = NULL;
        int status = 500;
        hush__task_create(h, req->body != NULL ? req->body : "", req->len, &resp,
                          &status);
        return respond_json_doc(conn, req, status, resp);
    }
    case ROUTE_MODEL_CLOSE: {
        if (!hush__admin_ok(h,
                            MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_AUTHORIZATION))) {
            return respond_error(conn, req, 401, "unauthorized",
                                 "closing a model round needs the admin bearer token");
        }
        hush__task *t = hush__task_find(h, id);
        if (t == NULL) {
            return respond_error(conn, req, 404, "unknown_model", "no such model task");
        }
        json_t *resp = NULL;
        int status = 500;
        hush__task_close_now(h, t, &resp, &status);
        return respond_json_doc(conn, req, status, resp);
    }
    case ROUTE_MODEL_GET:
    case ROUTE_MODEL_UPDATES:
    case ROUTE_MODEL_PRIVACY:
    case ROUTE_MODEL_ROUNDS: {
        hush__task *t = hush__task_find(h, id);
        if (t == NULL) {
            return respond_error(conn, req, 404, "unknown_model", "no such model task");
        }
        if (req->route == ROUTE_MODEL_PRIVACY) {
            return respond_json_doc(conn, req, 200, hush__task_privacy(t));
        }
        if (req->route == ROUTE_MODEL_ROUNDS) {
            json_t *arr = NULL;
            hush_err err = {0};
            if (hush__store_model_rounds(h, id, &arr, &err) != 0) {
                return respond_error(conn, req, 503, "unavailable", err.msg);
            }
            return respond_json_doc(conn, req, 200,
                                    json_pack("{s:s, s:o}", "model", id, "rounds", arr));
        }
        if (req->route == ROUTE_MODEL_GET) {
            char *sig = NULL;
            size_t len = 0;
            char *body = hush__task_publication(t, &sig, &len);
            char hdr[128];
            snprintf(hdr, sizeof hdr, "%s", sig != NULL ? sig : "");
            hush_free(sig);
            return respond(conn, req, 200, body, len, "application/json",
                           HUSH_SIGNATURE_HEADER, hdr);
        }
        if (!is_json(conn)) {
            return respond_error(conn, req, 415, "unsupported_media_type",
                                 "send Content-Type: application/json");
        }
        json_t *resp = NULL;
        int status = 500;
        hush__task_update(h, t, req->body != NULL ? req->body : "", req->len, &resp,
                          &status);
        return respond_json_doc(conn, req, status, resp);
    }
    case ROUTE_REPORTS:
        if (!is_json(conn)) {
            hush__metrics_reject(&h->metrics, REJECT_MALFORMED, 0);
            return respond_error(conn, req, 415, "unsupported_media_type",
                                 "send Content-Type: application/json");
        }
        return post_reports(h, conn, req);
    default:
        return not_routed(conn, req, url);
    }
}

/* The raw request target, before libmicrohttpd decodes it (a decoded %00
 * would cut the path short, so that "/v1/reports%00x" routed as
 * "/v1/reports"): a NUL or a '%' not followed by two hex digits anywhere in
 * it makes the request a 400.  Its return value is the request's context. */
static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    request *req = hush_calloc(1, sizeof *req);
    if (req == NULL) {
        return NULL;
    }
    req->t0 = hush__now();
    for (const char *p = uri; *p != '\0'; p++) {
        if (*p != '%') {
            continue;
        }
        if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2]) ||
            (p[1] == '0' && p[2] == '0')) {
            req->bad_uri = true;
            break;
        }
        p += 2;
    }
    return req;
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    hush_collector *h = cls;
    request *req = *req_cls;
    if (req == NULL) {
        conn_mark(h, conn, false);
        return;
    }
    int status = req->status != 0 ? req->status : 499; /* 499: closed before an answer */
    hush__metrics_request(&h->metrics, req->route, status);
    if (h->access_log != NULL) {
        double ms = (hush__now() - req->t0) * 1e3;
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        char ts[32];
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        pthread_mutex_lock(&h->log_lock);
        fprintf(h->access_log, "%s %s %s %d %.3fms %zuB%s\n", ts, req->method,
                hush__route_name(req->route), status, ms, req->bytes,
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
        /* a file log is buffered: written out at most a second late */
        double now_s = hush__now();
        if (now_s - h->log_flushed > 1.0) {
            fflush(h->access_log);
            h->log_flushed = now_s;
        }
        pthread_mutex_unlock(&h->log_lock);
    }
    hush__item_free(req->item);
    hush_free(req->body);
    hush_free(req);
    *req_cls = NULL;
    conn_mark(h, conn, false); /* the next request's clock starts */
}

int hush__http_start(hush_collector *h, hush_err *err)
{
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
    struct sockaddr *addr;
    memset(&v4, 0, sizeof v4);
    memset(&v6, 0, sizeof v6);
    if (strchr(h->cfg.listen, ':') != NULL) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(h->cfg.port);
        if (inet_pton(AF_INET6, h->cfg.listen, &v6.sin6_addr) != 1) {
            return hush_err_set(err, HUSH_EINVAL, "listen address \"%s\" is not IPv6",
                                h->cfg.listen);
        }
        addr = (struct sockaddr *)&v6;
    } else {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(h->cfg.port);
        if (inet_pton(AF_INET, h->cfg.listen, &v4.sin_addr) != 1) {
            return hush_err_set(err, HUSH_EINVAL, "listen address \"%s\" is not IPv4",
                                h->cfg.listen);
        }
        addr = (struct sockaddr *)&v4;
    }
    unsigned threads = h->cfg.threads;
    if (threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 0 ? (unsigned)cores : 1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
                     (addr == (struct sockaddr *)&v6 ? MHD_USE_IPv6 : 0);
    h->mhd = MHD_start_daemon(
        flags, h->cfg.port, NULL, NULL, handler, h, MHD_OPTION_SOCK_ADDR, addr,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
        h->cfg.connection_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        h->cfg.connection_timeout_s, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024,
        MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_URI_LOG_CALLBACK, uri_seen,
        h, MHD_OPTION_NOTIFY_CONNECTION, conn_notify, h,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->cfg.connections_per_client,
        MHD_OPTION_END);
    if (h->mhd == NULL) {
        return hush_err_set(err, HUSH_EIO, "cannot listen on %s:%u (address in use?)",
                            h->cfg.listen, h->cfg.port);
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info != NULL ? info->port : h->cfg.port;
    h->reaper_stop = false;
    if (pthread_create(&h->reaper, NULL, reaper_main, h) != 0) {
        MHD_stop_daemon(h->mhd);
        h->mhd = NULL;
        return hush_err_set(err, HUSH_ENOMEM, "cannot start the request-deadline thread");
    }
    h->reaper_started = true;
    return 0;
}

void hush__http_stop(hush_collector *h)
{
    if (h->reaper_started) {
        pthread_mutex_lock(&h->conn_lock);
        h->reaper_stop = true;
        pthread_cond_signal(&h->reaper_cond);
        pthread_mutex_unlock(&h->conn_lock);
        pthread_join(h->reaper, NULL);
        h->reaper_started = false;
    }
    if (h->mhd != NULL) {
        MHD_stop_daemon(h->mhd);
        h->mhd = NULL;
    }
}
