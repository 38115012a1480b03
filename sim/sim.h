/*
 * sim.h - hush-sim, the simulator: a program of its own (not a library,
 * not a small tool).  It runs real hushd processes and simulated devices
 * (libhush-device) and measures what the system does:
 *
 *   hush-sim refine ...   the synthetic-data loop (refine.c)
 *   hush-sim fl ...       federated learning (fl.c)
 *
 * Its parts: a client for talking to a hushd it starts (client.c, which
 * returns errors and never exits), the metrics as pure functions
 * (metrics.c, tested in tests/sim/), and the program's own failure policy
 * (util.c: sim_die and the *_or_die wrappers, which stop the hushd it
 * started before exiting).
 */
#ifndef HUSH_SIM_H
#define HUSH_SIM_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hush_common.h"
#include "hush_protocol.h"

/* ---- client.c: a hushd and its REST API (errors, never exits) ---- */

/* A response body. */
typedef struct sim_buf {
    char *p; /* NUL-terminated (never NULL after a request) */
    size_t n, cap;
} sim_buf;
void sim_buf_free(sim_buf *b);

typedef struct sim_http {
    CURL *c;
    char base[128];
    char token[256]; /* the admin bearer token */
} sim_http;

/* One request: its HTTP status, the body in *out (reset first); -1 with
 * err when the request could not be made. */
long sim_request(sim_http *h, const char *method, const char *path, const char *body,
                 size_t len, bool admin, sim_buf *out, hush_err *err);

/* A hushd this process started. */
typedef struct sim_server {
    pid_t pid;
    char dir[256];
    uint16_t port;
} sim_server;

/* Starts hushd in a new directory under out_dir on a free loopback port,
 * with `extra` flags (NULL-terminated); fills h's base URL and token. */
int sim_server_start(sim_server *s, const char *hushd, const char *out_dir,
                     const char *const *extra, sim_http *h, hush_err *err);
/* Stops it and removes its directory. */
void sim_server_stop(sim_server *s);
/* Stops the hushd started last and not yet stopped, if any, keeping its
 * directory (its log); for a program that exits on an error. */
void sim_server_abandon(void);

/* GET /v1/keys: the signing key to pin. */
int sim_signing_key(sim_http *h, uint8_t pk[32], hush_err *err);
/* GET `path` (a campaign, ?view=device for the device view): verified with
 * pk and parsed (device: the device view's form); *sig (if not NULL) gets
 * a copy of the signature (free), *body the text. */
int sim_fetch_publication(sim_http *h, const char *path, const uint8_t pk[32],
                          bool device, sim_buf *body, char **sig, hush_publication **out,
                          hush_err *err);

/* ---- util.c: the program's own (these exit on failure) ---- */

/* Prints "hush-sim: ..." and exits 1, stopping a hushd it started. */
void sim_die(const char *fmt, ...) HUSH_PRINTF(1, 2) __attribute__((noreturn));
double sim_now(void);
void sim_sleep(double seconds);

typedef struct sim_texts {
    char **v;
    size_t n, cap;
} sim_texts;
void sim_texts_push(sim_texts *t, const char *s, size_t len);
void sim_texts_free(sim_texts *t);

/* sim_request, sim_server_start, sim_signing_key, sim_fetch_publication,
 * dying with the error. */
long sim_call(sim_http *h, const char *method, const char *path, const char *body,
              size_t len, bool admin, sim_buf *out);
void sim_start(sim_server *s, const char *hushd, const char *out_dir,
               const char *const *extra, sim_http *h);
void sim_pin_key(sim_http *h, uint8_t pk[32]);
hush_publication *sim_fetch(sim_http *h, const char *path, const uint8_t pk[32],
                            bool device, sim_buf *body, char **sig);

/* The two simulations. */
int sim_refine_main(int argc, char **argv, const char *hushd);
int sim_fl_main(int argc, char **argv, const char *hushd);

#endif
