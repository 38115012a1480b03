/*
 * sim.h - what hush-sim's simulations share (tools/sim/common.c) and the
 * federated learning simulation (tools/sim/fl.c).
 */
#ifndef HUSH_SIM_H
#define HUSH_SIM_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hush_common.h"

/* Prints "hush-sim: ..." and exits 1, stopping a hushd it started. */
void die(const char *fmt, ...) HUSH_PRINTF(1, 2) __attribute__((noreturn));
double now_s(void);

typedef struct texts {
    char **v;
    size_t n, cap;
} texts;
void texts_push(texts *t, const char *s, size_t len);
void texts_free(texts *t);

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;
size_t on_data(char *d, size_t size, size_t nmemb, void *ud);

typedef struct http {
    CURL *c;
    char base[128];
    char token[256];
} http;
/* One request; returns the status; *out holds the body (reset first). */
long request(http *h, const char *method, const char *path, const char *body, size_t len,
             bool admin, buf *out);

typedef struct server {
    pid_t pid;
    char dir[256];
    uint16_t port;
} server;
uint16_t free_port(void);
/* Starts hushd in a new directory under out_dir on a free loopback port,
 * with `extra` flags (NULL-terminated); fills h's base URL and token. */
void server_start(server *s, const char *hushd, const char *out_dir,
                  const char *const *extra, http *h);
void server_stop(server *s);

/* hush-sim fl: the federated learning simulation (tools/sim/fl.c). */
int sim_fl_main(int argc, char **argv, const char *hushd);

#endif
