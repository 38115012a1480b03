/*
 * hush_transport.h - libhush-device-curl, the optional HTTP transport of the
 * device agent (libcurl): fetches keys and campaign publications and posts
 * report batches, with timeouts, retries, and exponential back-off with
 * jitter.  Apps with their own networking stack do not need it: the agent
 * (hush_device.h) only consumes and produces bodies.
 *
 * Ownership and errors as in hush_device.h.  A transport is used by one
 * thread at a time.  hush_transport_new initialises libcurl
 * (curl_global_init, reference-counted by libcurl) and hush_transport_free
 * releases it: create the first transport before the app starts threads of
 * its own that use libcurl, as libcurl asks.
 */
#ifndef HUSH_TRANSPORT_H
#define HUSH_TRANSPORT_H

#include "hush_common.h"
#include "hush_device.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hush_transport hush_transport;

typedef struct hush_transport_options {
    long connect_timeout_ms; /* 0 = 5000 */
    long timeout_ms;         /* whole request; 0 = 30000 */
    unsigned retries;        /* extra attempts on network errors and 5xx; 0 = 4 */
    long backoff_ms; /* first back-off, doubled each time, +- 50% jitter; 0 = 200 */
} hush_transport_options;

/** A transport to one collector (base URL like "http://127.0.0.1:8080").
 * `options` may be NULL.  *out is new (hush_transport_free). */
HUSH_API int hush_transport_new(const char *base_url,
                                const hush_transport_options *options,
                                hush_transport **out, hush_err *err) HUSH_WARN_UNUSED;
HUSH_API void hush_transport_free(hush_transport *t);

/**
 * GET `path`: *body (new) and its length; *signature (new, or NULL) is the
 * Hush-Signature header; *status the HTTP status.  Retries network errors
 * and 5xx with exponential back-off and jitter.  Returns 0 once a response
 * arrived (any status), or HUSH_EIO after the last attempt.
 */
HUSH_API int hush_transport_get(hush_transport *t, const char *path, long *status,
                                char **body, size_t *len, char **signature,
                                hush_err *err) HUSH_WARN_UNUSED;

/**
 * POST a JSON body to `path`, with the same retries: the body is sent again
 * unchanged (same batch_id, so the collector counts it once, and the device
 * is not charged again).  *status and *response (new) as above.
 */
HUSH_API int hush_transport_post(hush_transport *t, const char *path, const char *body,
                                 size_t len, long *status, char **response,
                                 hush_err *err) HUSH_WARN_UNUSED;

/**
 * POST as hush_transport_post, with one more request header ("Name:
 * value", or NULL).
 */
HUSH_API int hush_transport_post_header(hush_transport *t, const char *path,
                                        const char *header, const char *body, size_t len,
                                        long *status, char **response,
                                        hush_err *err) HUSH_WARN_UNUSED;

/**
 * Makes a secure-aggregation session's next request now (ignoring the
 * wait it asks for: the caller's to honour) and hands it the answer.
 * Returns as hush_fl_secagg_handle; HUSH_ESTATE when the session is over,
 * HUSH_EIO when the collector cannot be reached.
 */
HUSH_API int hush_fl_secagg_step(hush_fl_secagg *s, hush_transport *t,
                                 hush_err *err) HUSH_WARN_UNUSED;

/**
 * Runs a secure-aggregation session (hush_agent_secagg_begin) to its end
 * over this transport: each request the session asks for, after the wait
 * it asks for.  Returns 0 when this device's part is done, HUSH_ESTATE if
 * the session aborted (the reason in err), HUSH_ETIMEOUT after timeout_s
 * (0: 600), HUSH_EIO when the collector cannot be reached.
 */
HUSH_API int hush_fl_secagg_run(hush_fl_secagg *s, hush_transport *t, double timeout_s,
                                hush_err *err) HUSH_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif /* HUSH_TRANSPORT_H */
