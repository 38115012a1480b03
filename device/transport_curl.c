/*
 * transport_curl.c - the optional HTTP transport (libcurl) for apps that do
 * not bring their own: GET publications and keys, POST batches, with
 * timeouts, retries, exponential back-off and jitter.
 *
 * A retried POST sends exactly the same bytes, so a batch keeps its
 * batch_id: the collector counts it once, and the agent, which charged the
 * ledger when it made the batch, never charges it again.  Responses are
 * capped (16 MiB) so a hostile server cannot exhaust memory.
 */
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "device_internal.h"
#include "hush_buf.h"
#include "hush_transport.h"

#define RESPONSE_MAX HUSH_PUBLICATION_DEVICE_MAX

struct hush_transport {
    char *base;
    hush_transport_options opt;
    hush_rng *rng; /* jitter */
};

/* A response body: a hush__buf capped at RESPONSE_MAX (past it, the
 * transfer stops and the answer is HUSH_ETOOBIG). */
typedef struct buffer {
    hush__buf body;
    CURL *easy; /* for the announced length */
} buffer;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    buffer *b = userdata;
    size_t n = size * nmemb;
    if (b->body.cap == 0) {
        /* a publication is megabytes: size the buffer once from the
         * announced length rather than doubling (which peaks at 1.5x) */
        curl_off_t announced = -1;
        if (curl_easy_getinfo(b->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &announced) ==
                CURLE_OK &&
            announced > 0 && announced <= (curl_off_t)RESPONSE_MAX) {
            (void)hush__buf_reserve(&b->body, (size_t)announced);
        }
    }
    /* 0 aborts the transfer: too big, or out of memory */
    return hush__buf_add(&b->body, data, n) == 0 ? n : 0;
}

typedef struct headers {
    char *signature;
} headers;

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    headers *h = userdata;
    size_t n = size * nmemb;
    static const char name[] = HUSH_SIGNATURE_HEADER ":";
    if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0 &&
        h->signature == NULL) {
        const char *v = data + sizeof name - 1;
        const char *end = data + n;
        while (v < end && (*v == ' ' || *v == '\t')) {
            v++;
        }
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) {
            end--;
        }
        h->signature = hush_malloc((size_t)(end - v) + 1);
        if (h->signature != NULL) {
            memcpy(h->signature, v, (size_t)(end - v));
            h->signature[end - v] = '\0';
        }
    }
    return n;
}

int hush_transport_new(const char *base_url, const hush_transport_options *options,
                       hush_transport **out, hush_err *err)
{
    if (base_url == NULL ||
        (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0)) {
        return hush_err_set(err, HUSH_EINVAL,
                            "the collector URL must start with http:// or "
                            "https://");
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        return hush_err_set(err, HUSH_EIO, "libcurl failed to initialise");
    }
    hush_transport *t = hush_calloc(1, sizeof *t);
    if (t == NULL) {
        curl_global_cleanup();
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for a transport");
    }
    if ((t->base = hush_strdup(base_url)) == NULL || hush_rng_new_system(&t->rng) != 0) {
        hush_transport_free(t);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for a transport");
    }
    size_t n = strlen(t->base);
    while (n > 0 && t->base[n - 1] == '/') {
        t->base[--n] = '\0';
    }
    if (options != NULL) {
        t->opt = *options;
    }
    if (t->opt.connect_timeout_ms <= 0) {
        t->opt.connect_timeout_ms = 5000;
    }
    if (t->opt.timeout_ms <= 0) {
        t->opt.timeout_ms = 30000;
    }
    if (t->opt.retries == 0) {
        t->opt.retries = 4;
    }
    if (t->opt.backoff_ms <= 0) {
        t->opt.backoff_ms = 200;
    }
    *out = t;
    return 0;
}

void hush_transport_free(hush_transport *t)
{
    if (t != NULL) {
        hush_free(t->base);
        hush_rng_free(t->rng);
        hush_free(t);
        curl_global_cleanup(); /* pairs with hush_transport_new's init */
    }
}

/* Sleeps the back-off for attempt k (0-based): backoff * 2^k, times a
 * uniform factor in [0.5, 1.5) so that many devices do not retry in step. */
static void back_off(hush_transport *t, unsigned k)
{
    double ms = (double)t->opt.backoff_ms * (double)(1u << (k < 16 ? k : 16));
    ms *= 0.5 + hush_rng_unit(t->rng);
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                          .tv_nsec = (long)fmod(ms, 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int perform(hush_transport *t, const char *path, const char *header,
                   const char *body, size_t len, long *status, char **resp,
                   size_t *resp_len, char **signature, hush_err *err)
{
    size_t ulen = strlen(t->base) + strlen(path) + 1;
    char *url = hush_malloc(ulen);
    if (url == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    snprintf(url, ulen, "%s%s", t->base, path);
    int rc = HUSH_EIO;
    char last[CURL_ERROR_SIZE] = "";
    for (unsigned attempt = 0; attempt <= t->opt.retries; attempt++) {
        if (attempt > 0) {
            back_off(t, attempt - 1);
        }
        CURL *c = curl_easy_init();
        if (c == NULL) {
            rc = hush_err_set(err, HUSH_ENOMEM, "out of memory (curl)");
            break;
        }
        buffer b = {.easy = c};
        hush__buf_init(&b.body, RESPONSE_MAX);
        headers h = {0};
        struct curl_slist *hl = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, t->opt.connect_timeout_ms);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, t->opt.timeout_ms);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
        curl_easy_setopt(c, CURLOPT_USERAGENT,
                         "libhush-device/" HUSH_DEVICE_VERSION_STRING);
        if (header != NULL) {
            hl = curl_slist_append(hl, header);
        }
        if (body != NULL) {
            hl = curl_slist_append(hl, "Content-Type: application/json");
        }
        if (hl != NULL) {
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
        }
        if (body != NULL) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        }
        CURLcode cc = curl_easy_perform(c);
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_slist_free_all(hl);
        curl_easy_cleanup(c);
        if (hush__buf_error(&b.body) == HUSH_ETOOBIG) {
            hush_free(h.signature);
            rc = hush_err_set(err, HUSH_ETOOBIG, "the response from %s exceeds %u bytes",
                              url, RESPONSE_MAX);
            break;
        }
        if (cc == CURLE_OK && code < 500) {
            *status = code;
            size_t n = 0;
            *resp = hush__buf_take(&b.body, &n);
            if (resp_len != NULL) {
                *resp_len = n;
            }
            if (signature != NULL) {
                *signature = h.signature;
            } else {
                hush_free(h.signature);
            }
            rc = *resp != NULL ? 0 : hush_err_set(err, HUSH_ENOMEM, "out of memory");
            break;
        }
        snprintf(last, sizeof last, "%s",
                 cc != CURLE_OK ? (errbuf[0] ? errbuf : curl_easy_strerror(cc))
                                : "a 5xx status");
        hush__buf_free(&b.body);
        hush_free(h.signature);
    }
    if (rc == HUSH_EIO) {
        hush_err_set(err, HUSH_EIO, "%s: %s after %u attempts", url, last,
                     t->opt.retries + 1);
    }
    hush_free(url);
    return rc;
}

int hush_transport_get(hush_transport *t, const char *path, long *status, char **body,
                       size_t *len, char **signature, hush_err *err)
{
    if (signature != NULL) {
        *signature = NULL;
    }
    return perform(t, path, NULL, NULL, 0, status, body, len, signature, err);
}

int hush_transport_post(hush_transport *t, const char *path, const char *body, size_t len,
                        long *status, char **response, hush_err *err)
{
    return perform(t, path, NULL, body, len, status, response, NULL, NULL, err);
}

int hush_transport_post_header(hush_transport *t, const char *path, const char *header,
                               const char *body, size_t len, long *status,
                               char **response, hush_err *err)
{
    if (header != NULL && (strchr(header, '\r') != NULL || strchr(header, '\n') != NULL ||
                           strchr(header, ':') == NULL)) {
        return hush_err_set(err, HUSH_EINVAL, "a header is one \"Name: value\" line");
    }
    return perform(t, path, header, body, len, status, response, NULL, NULL, err);
}

static void sleep_s(double s)
{
    if (s > 0) {
        struct timespec ts = {.tv_sec = (time_t)s,
                              .tv_nsec = (long)((s - floor(s)) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int hush_fl_secagg_step(hush_fl_secagg *s, hush_transport *t, hush_err *err)
{
    hush_secagg_request req;
    int rc = hush_fl_secagg_next(s, &req, err);
    long status = 0;
    char *body = NULL;
    size_t len = 0;
    char header[128];
    if (rc == 0 && req.post) {
        snprintf(header, sizeof header, HUSH_SECAGG_TOKEN_HEADER ": %s",
                 req.token != NULL ? req.token : "");
        rc = hush_transport_post_header(t, req.path, req.token != NULL ? header : NULL,
                                        req.body, req.len, &status, &body, err);
        len = body != NULL ? strlen(body) : 0;
    } else if (rc == 0) {
        rc = hush_transport_get(t, req.path, &status, &body, &len, NULL, err);
    }
    if (rc == 0) {
        rc = hush_fl_secagg_handle(s, status, body, len, err);
    }
    hush_free(body);
    return rc;
}

int hush_fl_secagg_run(hush_fl_secagg *s, hush_transport *t, double timeout_s,
                       hush_err *err)
{
    double deadline = now_s() + (timeout_s > 0 ? timeout_s : 600);
    hush_secagg_request req;
    while (hush_fl_secagg_next(s, &req, NULL) == 0) {
        if (now_s() + req.wait > deadline) {
            return hush_err_set(err, HUSH_ETIMEOUT,
                                "secure aggregation did not finish within %.0f s",
                                timeout_s);
        }
        sleep_s(req.wait);
        int rc = hush_fl_secagg_step(s, t, err);
        if (rc != 0) {
            return rc;
        }
    }
    return hush_fl_secagg_state(s) == HUSH_FL_SECAGG_DONE
               ? 0
               : hush_err_set(err, HUSH_ESTATE, "the session aborted");
}
