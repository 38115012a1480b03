/*
 * api_ui.c - the dashboard and the API description: files built into
 * hushd (assets.h) served from memory, with a strong ETag each, gzip when
 * the client takes it, and the headers that keep the pages to themselves
 * (a Content-Security-Policy that allows only hushd's own scripts, styles
 * and API; no framing; no referrer).  The dashboard is a client of the
 * public REST API: it reads what anyone may GET, nothing more.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "assets.h"
#include "negotiate.h"

#define CSP                                                                           \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const hush__asset *hush__asset_find(const char *name)
{
    for (size_t i = 0; i < hush__n_assets; i++) {
        if (strcmp(hush__assets[i].name, name) == 0) {
            return &hush__assets[i];
        }
    }
    return NULL;
}

/* An asset, or 304 when If-None-Match names the representation chosen. */
static enum MHD_Result serve(hush__req *rq, const hush__asset *a)
{
    bool gz = a->gz != NULL && hush__accepts_gzip(hush__header(rq, "Accept-Encoding"));
    char etag[48];
    size_t n = strlen(a->etag);
    /* one strong tag per representation: the gzip bytes differ */
    snprintf(etag, sizeof etag, "%.*s%s", (int)(n - 1), a->etag, gz ? "-gz\"" : "\"");
    bool html = strncmp(a->type, "text/html", 9) == 0;
    hush__header_kv hs[] = {
        {MHD_HTTP_HEADER_ETAG, etag},
        {MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache"},
        {MHD_HTTP_HEADER_VARY, a->gz != NULL ? "Accept-Encoding" : NULL},
        {MHD_HTTP_HEADER_CONTENT_ENCODING, gz ? "gzip" : NULL},
        {"X-Content-Type-Options", "nosniff"},
        {"Content-Security-Policy", html ? CSP : NULL},
        {"Referrer-Policy", "no-referrer"},
        {"X-Frame-Options", html ? "DENY" : NULL},
    };
    size_t nh = sizeof hs / sizeof hs[0];
    if (hush__etag_listed(hush__header(rq, "If-None-Match"), etag)) {
        hs[3].value = NULL; /* a 304 has no body to encode */
        return hush__reply_static(rq, 304, "", 0, NULL, hs, nh);
    }
    return gz ? hush__reply_static(rq, 200, a->gz, a->gz_len, a->type, hs, nh)
              : hush__reply_static(rq, 200, a->data, a->len, a->type, hs, nh);
}

static enum MHD_Result ui_off(hush__req *rq)
{
    return hush__reply_error(rq, 404, "not_found",
                             "the dashboard is off on this collector (--ui off)");
}

static enum MHD_Result redirect(hush__req *rq, int status)
{
    hush__header_kv loc = {MHD_HTTP_HEADER_LOCATION, "/ui/"};
    return hush__reply_static(rq, status, "", 0, NULL, &loc, 1);
}

enum MHD_Result hush__api_root(hush__req *rq)
{
    return rq->h->cfg.ui_off ? hush__reply_error(rq, 404, "not_found", "no such route")
                             : redirect(rq, 302);
}

enum MHD_Result hush__api_ui_root(hush__req *rq)
{
    return rq->h->cfg.ui_off ? ui_off(rq) : redirect(rq, 301);
}

enum MHD_Result hush__api_ui_index(hush__req *rq)
{
    const hush__asset *a = hush__asset_find("ui/index.html");
    return rq->h->cfg.ui_off || a == NULL ? ui_off(rq) : serve(rq, a);
}

enum MHD_Result hush__api_ui_asset(hush__req *rq)
{
    if (rq->h->cfg.ui_off) {
        return ui_off(rq);
    }
    char name[sizeof rq->id + 4];
    snprintf(name, sizeof name, "ui/%s", rq->id);
    const hush__asset *a = hush__asset_find(name);
    return a != NULL
               ? serve(rq, a)
               : hush__reply_error(rq, 404, "not_found", "no such file in the dashboard");
}

enum MHD_Result hush__api_openapi(hush__req *rq)
{
    const hush__asset *a = hush__asset_find("openapi.yaml");
    return a != NULL
               ? serve(rq, a)
               : hush__reply_error(rq, 404, "not_found", "no API description built in");
}
