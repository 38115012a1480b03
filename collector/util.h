/*
 * util.h - the collector's shared helpers: clocks, directories, the log.
 * Every layer may include this; it includes only the public header.
 */
#ifndef HUSH_COLLECTOR_UTIL_H
#define HUSH_COLLECTOR_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hush_collector.h"

/* A time in seconds (CLOCK_MONOTONIC) and wall-clock seconds since 1970. */
double hush__now(void);
int64_t hush__wall(void);

/* mkdir -p with `mode` for each directory made. */
int hush__mkdir_p(const char *path, mode_t mode, hush_err *err);

/* A line on stderr (journald): "hushd: <level>: <message>".  Errors are
 * never only in the access log. */
void hush__log(hush_collector *h, const char *level, const char *fmt, ...)
    HUSH_PRINTF(3, 4);

/* A thread that calls fn(ctx) every `interval` seconds until stopped (the
 * automatic rounds, the poller of a node among several). */
typedef struct hush__ticker {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop, started;
    unsigned interval;
    void (*fn)(void *ctx);
    void *ctx;
} hush__ticker;

int hush__ticker_start(hush__ticker *t, unsigned interval, void (*fn)(void *ctx),
                       void *ctx, const char *what, hush_err *err);
/* Stops and joins it (waits for a call in progress); a ticker never
 * started is left alone. */
void hush__ticker_stop(hush__ticker *t);

#endif
