/*
 * http.c - hushd's HTTP server on libmicrohttpd: the request's life from
 * its first byte to its access-log line, routing by the table of
 * routes.h, the checks a route's flags ask for.  What each route does is
 * in its handler (api_*.c); how an answer is made, and the one table from
 * HUSH_E… codes to HTTP statuses, is reply.c.
 *
 * The access handler is called several times per request (STYLE.md): the
 * first call matches the route and refuses an oversize Content-Length with
 * 413 at once; body calls append to a capped buffer; the final call makes
 * the route's checks and runs its handler.  A report batch instead suspends
 * its connection and goes to the writer thread; once its commit is done
 * the connection is resumed, the handler runs again, and answers from the
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

#include "api.h"
#include "hush_json.h"
#include "negotiate.h"

/* How much of a body past --max-body-bytes is read and dropped before the
 * 413 is sent and the connection closed. */
#define DISCARD_MAX (1u << 20)

/* The server's own state. */
struct hush__http {
    struct MHD_Daemon *mhd;
    /* open connections and the thread that enforces the request deadline */
    pthread_mutex_t conn_lock;
    struct hush__conn *conns;
    pthread_t reaper;
    bool reaper_started, reaper_stop;
    pthread_cond_t reaper_cond;
};

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
        pthread_mutex_lock(&h->http->conn_lock);
        c->next = h->http->conns;
        if (h->http->conns != NULL) {
            h->http->conns->prev = c;
        }
        h->http->conns = c;
        pthread_mutex_unlock(&h->http->conn_lock);
        *socket_context = c;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context != NULL) {
        struct hush__conn *c = *socket_context;
        pthread_mutex_lock(&h->http->conn_lock);
        if (c->prev != NULL) {
            c->prev->next = c->next;
        } else {
            h->http->conns = c->next;
        }
        if (c->next != NULL) {
            c->next->prev = c->prev;
        }
        pthread_mutex_unlock(&h->http->conn_lock);
        hush_free(c);
        *socket_context = NULL;
    }
}

/* The request deadline's thread, which also flushes the access log. */
static void *reaper_main(void *arg)
{
    hush_collector *h = arg;
    pthread_mutex_lock(&h->http->conn_lock);
    while (!h->http->reaper_stop) {
        double now = hush__now();
        int64_t deadline_ms = now_ms() - (int64_t)h->cfg.request_timeout_s * 1000;
        for (struct hush__conn *c = h->http->conns; c != NULL; c = c->next) {
            if (!__atomic_load_n(&c->busy, __ATOMIC_ACQUIRE) && !c->reaped &&
                __atomic_load_n(&c->since_ms, __ATOMIC_RELAXED) < deadline_ms) {
                shutdown(c->fd, SHUT_RDWR);
                c->reaped = true;
                __atomic_add_fetch(&h->metrics.requests_timed_out, 1, __ATOMIC_RELAXED);
            }
        }
        /* and the access log is written out at least every second, busy or
         * idle (a request's line is otherwise flushed by the next one) */
        pthread_mutex_unlock(&h->http->conn_lock);
        pthread_mutex_lock(&h->log_lock);
        if (h->access_log != NULL && now - h->log_flushed >= 1.0) {
            fflush(h->access_log);
            h->log_flushed = now;
        }
        pthread_mutex_unlock(&h->log_lock);
        pthread_mutex_lock(&h->http->conn_lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&h->http->reaper_cond, &h->http->conn_lock, &until);
    }
    pthread_mutex_unlock(&h->http->conn_lock);
    return NULL;
}

/* ---- routing ---- */

typedef enum MHD_Result (*handler_fn)(hush__req *rq);

static const struct route {
    const char *method, *path;
    unsigned flags;
    const char *admin_what;
    handler_fn handler;
} routes[] = {
#define ROUTE_ROW(name, method, path, flags, what) \
    {#method, path, flags, what, hush__api_##name},
    HUSH__ROUTES(ROUTE_ROW)
#undef ROUTE_ROW
};
_Static_assert(sizeof routes / sizeof routes[0] == ROUTE_OTHER, "one row per route");

/* Each pattern split once at its {id} slot: the part before it (all of
 * it when there is none) and the part after; matching a request is then
 * two memcmp and a strchr per candidate route. */
static struct pattern {
    size_t head_len;  /* bytes before "{id}", or the whole length */
    const char *tail; /* after "{id}", or NULL: no slot */
    size_t tail_len;
    bool post;
} patterns[ROUTE_OTHER];
static pthread_once_t patterns_once = PTHREAD_ONCE_INIT;

static void patterns_init(void)
{
    static const char slot[] = "{id}";
    for (size_t r = 0; r < ROUTE_OTHER; r++) {
        const char *p = routes[r].path, *brace = strstr(p, slot);
        patterns[r].head_len = brace != NULL ? (size_t)(brace - p) : strlen(p);
        patterns[r].tail = brace != NULL ? brace + sizeof slot - 1 : NULL;
        patterns[r].tail_len = brace != NULL ? strlen(patterns[r].tail) : 0;
        patterns[r].post = strcmp(routes[r].method, "POST") == 0;
    }
}

/* Whether url (of length len) matches route r; a {id} segment is copied
 * into id (at most id_cap - 1 bytes, else no match). */
static bool path_match(size_t r, const char *url, size_t len, char *id, size_t id_cap)
{
    const struct pattern *pt = &patterns[r];
    if (len < pt->head_len || memcmp(routes[r].path, url, pt->head_len) != 0) {
        return false;
    }
    if (pt->tail == NULL) {
        return len == pt->head_len;
    }
    const char *seg = url + pt->head_len, *end = strchr(seg, '/');
    size_t n = end != NULL ? (size_t)(end - seg) : len - pt->head_len;
    if (n == 0 || n >= id_cap || len - pt->head_len - n != pt->tail_len ||
        memcmp(seg + n, pt->tail, pt->tail_len) != 0) {
        return false; /* no id, too long an id, or not the rest of the pattern */
    }
    memcpy(id, seg, n);
    id[n] = '\0';
    return true;
}

/* The route of (method, url); HEAD is GET. */
static enum hush__route route_of(const char *method, const char *url, char *id,
                                 size_t id_cap)
{
    pthread_once(&patterns_once, patterns_init);
    bool post = strcmp(method, "POST") == 0;
    if (!post && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        id[0] = '\0';
        return ROUTE_OTHER;
    }
    size_t len = strlen(url);
    for (size_t r = 0; r < ROUTE_OTHER; r++) {
        if (patterns[r].post == post && path_match(r, url, len, id, id_cap)) {
            return (enum hush__route)r;
        }
    }
    id[0] = '\0';
    return ROUTE_OTHER;
}

/* OPTIONS on a path anyone may GET: 204 with Allow, and for an Origin of
 * --cors-origin the CORS preflight answer (GET and HEAD, with the two
 * request headers a dashboard sends; no credentials). */
static enum MHD_Result preflight(hush__req *rq, enum hush__route get)
{
    const char *allowed = rq->h->cfg.cors_origin, *origin = hush__header(rq, "Origin");
    bool cors = hush__route_public_get(get) && hush__origin_allowed(allowed, origin);
    bool any = strcmp(allowed, "*") == 0;
    hush__header_kv hs[] = {
        {MHD_HTTP_HEADER_ALLOW, "GET, HEAD, OPTIONS"},
        {"Access-Control-Allow-Origin", cors ? (any ? "*" : origin) : NULL},
        {MHD_HTTP_HEADER_VARY, cors && !any ? "Origin" : NULL},
        {"Access-Control-Allow-Methods", cors ? "GET, HEAD" : NULL},
        {"Access-Control-Allow-Headers", cors ? "Accept, If-None-Match" : NULL},
        {"Access-Control-Max-Age", cors ? "600" : NULL},
    };
    return hush__reply_static(rq, 204, "", 0, NULL, hs, sizeof hs / sizeof hs[0]);
}

/* Known path, wrong method: 405 with Allow (the methods the same path is
 * routed for); OPTIONS on a GET path: its preflight; any other path: 404. */
static enum MHD_Result not_routed(hush__req *rq, const char *url)
{
    char id[HUSH_CAMPAIGN_ID_MAX + 2];
    enum hush__route get_route = route_of("GET", url, id, sizeof id);
    bool get = get_route != ROUTE_OTHER;
    bool post = route_of("POST", url, id, sizeof id) != ROUTE_OTHER;
    if (get && strcmp(rq->method, "OPTIONS") == 0) {
        return preflight(rq, get_route);
    }
    const char *allow = get && post ? "GET, POST" : get ? "GET" : post ? "POST" : NULL;
    if (allow == NULL) {
        return hush__reply_error(rq, 404, "not_found", "no such route");
    }
    size_t len = 0;
    char msg[64];
    snprintf(msg, sizeof msg, "this route allows %s", allow);
    char *body = hush__error_json("method_not_allowed", msg, &len);
    return hush__reply(rq, 405, body, len, "application/json", MHD_HTTP_HEADER_ALLOW,
                       allow);
}

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

/* The checks a route's flags ask for (routes.h), in their order, then its
 * handler. */
static enum MHD_Result dispatch(hush__req *rq)
{
    const struct route *r = &routes[rq->route];
    if ((r->flags & ROUTE_ADMIN) != 0 && !hush__req_admin(rq)) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s needs the admin bearer token", r->admin_what);
        return hush__reply_error(rq, 401, "unauthorized", msg);
    }
    if ((r->flags & ROUTE_CAMPAIGN) != 0 &&
        (rq->campaign = hush__campaign_find(rq->h, rq->id)) == NULL) {
        return hush__reply_error(rq, 404, "unknown_campaign", "no such campaign");
    }
    if ((r->flags & ROUTE_MODEL) != 0 &&
        (rq->task = hush__task_find(rq->h, rq->id)) == NULL) {
        return hush__reply_error(rq, 404, "unknown_model", "no such model task");
    }
    bool has_body = rq->body.len > 0;
    if (((r->flags & ROUTE_JSON) != 0 ||
         ((r->flags & ROUTE_JSON_OPT) != 0 && has_body)) &&
        !is_json(rq->conn)) {
        if (rq->route == ROUTE_reports) {
            hush__metrics_reject(&rq->h->metrics, REJECT_MALFORMED, 0);
        }
        return hush__reply_error(rq, 415, "unsupported_media_type",
                                 "send Content-Type: application/json");
    }
    if ((r->flags & ROUTE_OBJECT) != 0 &&
        ((r->flags & ROUTE_JSON_OPT) == 0 || has_body)) {
        json_error_t jerr;
        int code = 0;
        rq->doc = hush__json_loadb(rq->body.data != NULL ? rq->body.data : "",
                                   rq->body.len, JSON_REJECT_DUPLICATES, &jerr, &code);
        if (rq->doc == NULL && code == HUSH_ENOMEM) {
            return hush__reply_error(rq, 500, "internal", "out of memory");
        }
        if (rq->doc == NULL || !json_is_object(rq->doc)) {
            char msg[256];
            snprintf(msg, sizeof msg, "the request is not a JSON object%s%s",
                     rq->doc == NULL ? ": " : "", rq->doc == NULL ? jerr.text : "");
            return hush__reply_error(rq, 400, "malformed", msg);
        }
    }
    return r->handler(rq);
}

/* ---- the request ---- */

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

/* The request's first call: its route, and what can be refused before
 * its body is read. */
static enum MHD_Result request_begins(hush__req *rq, const char *url, const char *method)
{
    rq->started = true;
    rq->method = strcmp(method, "GET") == 0       ? "GET"
                 : strcmp(method, "POST") == 0    ? "POST"
                 : strcmp(method, "HEAD") == 0    ? "HEAD"
                 : strcmp(method, "OPTIONS") == 0 ? "OPTIONS"
                                                  : "OTHER";
    rq->route = route_of(method, url, rq->id, sizeof rq->id);
    hush__buf_init(&rq->body, rq->h->cfg.max_body_bytes);
    if (rq->bad_uri) {
        rq->route = ROUTE_OTHER;
        return hush__reply_error(rq, 400, "bad_request",
                                 "the path or query holds a NUL byte (%00) or an invalid "
                                 "percent-encoding");
    }
    /* which of two credentials or two types would count is anyone's guess:
     * neither */
    struct header_count hc = {0, 0};
    MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, count_header, &hc);
    if (hc.auth > 1 || hc.type > 1) {
        return hush__reply_error(rq, 400, "bad_request",
                                 "more than one Authorization or Content-Type header");
    }
    const char *cl = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t declared;
    if (cl != NULL && hush_parse_u64(cl, 0, UINT64_MAX, "length", &declared, NULL) == 0 &&
        declared > rq->h->cfg.max_body_bytes) {
        hush__metrics_reject(&rq->h->metrics, REJECT_TOO_LARGE, 0);
        return hush__reply_error(rq, 413, "too_large",
                                 "the request body exceeds the collector's limit");
    }
    return MHD_YES;
}

/* A piece of the body.  Past the cap the rest is discarded, up to
 * DISCARD_MAX more bytes, so that a body a little too large still ends and
 * its client reads a clean 413; then the 413 is sent at once and the
 * connection closed (a chunked body may never end). */
static enum MHD_Result body_piece(hush__req *rq, const char *data, size_t n)
{
    if (rq->too_big) {
        rq->discarded += n;
        if (rq->discarded > DISCARD_MAX && rq->status == 0) {
            return hush__reply_error(rq, 413, "too_large",
                                     "the request body exceeds the collector's limit");
        }
        return MHD_YES;
    }
    size_t before = rq->body.len;
    int rc = hush__buf_add(&rq->body, data, n); /* on failure the buffer frees itself */
    if (rc == HUSH_ETOOBIG) {
        rq->too_big = true;
        rq->discarded = before + n - rq->h->cfg.max_body_bytes;
        hush__metrics_reject(&rq->h->metrics, REJECT_TOO_LARGE, 0);
        return MHD_YES;
    }
    if (rc != 0) {
        rq->too_big = true;
        return hush__reply_error(rq, 503, "unavailable",
                                 "out of memory receiving the request");
    }
    return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version,
                               const char *upload_data, size_t *upload_data_size,
                               void **req_cls)
{
    hush_collector *h = cls;
    (void)version;
    hush__req *rq = *req_cls;
    if (rq == NULL) { /* (uri_seen allocates it; not when it failed) */
        return MHD_NO;
    }
    if (!rq->started) {
        rq->h = h;
        rq->conn = conn;
        return request_begins(rq, url, method);
    }
    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return body_piece(rq, upload_data, n);
    }
    if (rq->item != NULL) {
        return hush__api_reports_done(rq);
    }
    conn_mark(h, conn, true); /* the request is complete: no deadline now */
    if (rq->too_big) {
        return rq->status != 0 ? MHD_YES /* answered when the discard ran out */
                               : hush__reply_error(rq, 413, "too_large",
                                                   "the request body exceeds the "
                                                   "collector's limit");
    }
    if (rq->route == ROUTE_OTHER) {
        return not_routed(rq, url);
    }
    return dispatch(rq);
}

/* The raw request target, before libmicrohttpd decodes it (a decoded %00
 * would cut the path short, so that "/v1/reports%00x" routed as
 * "/v1/reports"): a NUL or a '%' not followed by two hex digits anywhere in
 * it makes the request a 400.  Its return value is the request's context. */
static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    hush__req *req = hush_calloc(1, sizeof *req);
    if (req == NULL) {
        return NULL;
    }
    req->t0 = hush__now();
    req->route = ROUTE_OTHER;
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
    hush__req *req = *req_cls;
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
    hush__buf_free(&req->body);
    json_decref(req->doc);
    hush_free(req);
    *req_cls = NULL;
    conn_mark(h, conn, false); /* the next request's clock starts */
}

int hush__http_start(hush_collector *h, hush_err *err)
{
    h->http = hush_calloc(1, sizeof *h->http);
    if (h->http == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory starting the server");
    }
    pthread_mutex_init(&h->http->conn_lock, NULL);
    pthread_cond_init(&h->http->reaper_cond, NULL);
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
    h->http->mhd = MHD_start_daemon(
        flags, h->cfg.port, NULL, NULL, handler, h, MHD_OPTION_SOCK_ADDR, addr,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
        h->cfg.connection_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        h->cfg.connection_timeout_s, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024,
        MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_URI_LOG_CALLBACK, uri_seen,
        h, MHD_OPTION_NOTIFY_CONNECTION, conn_notify, h,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->cfg.connections_per_client,
        MHD_OPTION_END);
    if (h->http->mhd == NULL) {
        return hush_err_set(err, HUSH_EIO, "cannot listen on %s:%u (address in use?)",
                            h->cfg.listen, h->cfg.port);
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->http->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info != NULL ? info->port : h->cfg.port;
    h->http->reaper_stop = false;
    if (pthread_create(&h->http->reaper, NULL, reaper_main, h) != 0) {
        MHD_stop_daemon(h->http->mhd);
        h->http->mhd = NULL;
        return hush_err_set(err, HUSH_ENOMEM, "cannot start the request-deadline thread");
    }
    h->http->reaper_started = true;
    return 0;
}

void hush__http_stop(hush_collector *h)
{
    if (h->http == NULL) {
        return;
    }
    if (h->http->reaper_started) {
        pthread_mutex_lock(&h->http->conn_lock);
        h->http->reaper_stop = true;
        pthread_cond_signal(&h->http->reaper_cond);
        pthread_mutex_unlock(&h->http->conn_lock);
        pthread_join(h->http->reaper, NULL);
        h->http->reaper_started = false;
    }
    if (h->http->mhd != NULL) {
        MHD_stop_daemon(h->http->mhd);
        h->http->mhd = NULL;
    }
    pthread_mutex_destroy(&h->http->conn_lock);
    pthread_cond_destroy(&h->http->reaper_cond);
    hush_free(h->http);
    h->http = NULL;
}

bool hush__http_quiesce(hush_collector *h)
{
    if (h->http == NULL || h->http->mhd == NULL) {
        return false;
    }
    MHD_quiesce_daemon(h->http->mhd);
    return true;
}

unsigned hush__http_connections(hush_collector *h)
{
    const union MHD_DaemonInfo *info =
        h->http != NULL && h->http->mhd != NULL
            ? MHD_get_daemon_info(h->http->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS)
            : NULL;
    return info != NULL ? info->num_connections : 0;
}
