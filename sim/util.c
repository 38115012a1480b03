/*
 * util.c - hush-sim's own failure policy and small helpers: a failure is
 * fatal (a simulation that went wrong has nothing to report), said on
 * stderr, and never leaves a hushd running.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

void sim_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hush-sim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    sim_server_abandon();
    exit(1);
}

double sim_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void sim_sleep(double seconds)
{
    struct timespec ts = {.tv_sec = (time_t)seconds,
                          .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}

void sim_texts_push(sim_texts *t, const char *s, size_t len)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        char **v = realloc(t->v, cap * sizeof *v);
        if (v == NULL) {
            sim_die("out of memory");
        }
        t->v = v;
        t->cap = cap;
    }
    char *c = malloc(len + 1);
    if (c == NULL) {
        sim_die("out of memory");
    }
    memcpy(c, s, len);
    c[len] = '\0';
    t->v[t->n++] = c;
}

void sim_texts_free(sim_texts *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i]);
    }
    free(t->v);
    memset(t, 0, sizeof *t);
}

long sim_call(sim_http *h, const char *method, const char *path, const char *body,
              size_t len, bool admin, sim_buf *out)
{
    hush_err err = {0};
    long status = sim_request(h, method, path, body, len, admin, out, &err);
    if (status < 0) {
        sim_die("%s", err.msg);
    }
    return status;
}

void sim_start(sim_server *s, const char *hushd, const char *out_dir,
               const char *const *extra, sim_http *h)
{
    hush_err err = {0};
    if (sim_server_start(s, hushd, out_dir, extra, h, &err) != 0) {
        sim_die("%s", err.msg);
    }
}

void sim_pin_key(sim_http *h, uint8_t pk[32])
{
    hush_err err = {0};
    if (sim_signing_key(h, pk, &err) != 0) {
        sim_die("%s", err.msg);
    }
}

hush_publication *sim_fetch(sim_http *h, const char *path, const uint8_t pk[32],
                            bool device, sim_buf *body, char **sig)
{
    hush_err err = {0};
    hush_publication *p = NULL;
    if (sim_fetch_publication(h, path, pk, device, body, sig, &p, &err) != 0) {
        sim_die("%s", err.msg);
    }
    return p;
}
