/*
 * util.c - what every layer of the collector may use and that belongs to
 * none: the two clocks, making directories, the error log on stderr.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

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

int hush__mkdir_p(const char *path, mode_t mode, hush_err *err)
{
    char buf[HUSH_PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        return hush_err_set(err, HUSH_EINVAL, "bad directory path \"%s\"", path);
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, mode) != 0 && errno != EEXIST) {
                return hush_err_set(err, HUSH_EIO, "cannot create directory %s: %s", buf,
                                    strerror(errno));
            }
            buf[i] = c;
        }
    }
    return 0;
}

void hush__log(hush_collector *h, const char *level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* one write per line, so that threads' lines do not interleave; under
     * systemd (JOURNAL_STREAM set) a "<N>" prefix gives the journal the
     * line's priority, so that journalctl -p err finds the errors */
    const char *prio = "";
    if (getenv("JOURNAL_STREAM") != NULL) {
        prio = strcmp(level, "error") == 0     ? "<3>"
               : strcmp(level, "warning") == 0 ? "<4>"
                                               : "<6>";
    }
    char line[1100];
    int n = snprintf(line, sizeof line, "%shushd: %s: %s\n", prio, level, msg);
    (void)h;
    if (n > 0) {
        fwrite(line, 1, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1, stderr);
        fflush(stderr);
    }
}

/* ---- periodic threads ---- */

static void *ticker_main(void *arg)
{
    hush__ticker *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += t->interval;
        pthread_cond_timedwait(&t->cond, &t->lock, &ts);
        if (t->stop) {
            break;
        }
        pthread_mutex_unlock(&t->lock);
        t->fn(t->ctx);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int hush__ticker_start(hush__ticker *t, unsigned interval, void (*fn)(void *ctx),
                       void *ctx, const char *what, hush_err *err)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&t->lock, NULL);
    t->stop = false;
    t->interval = interval;
    t->fn = fn;
    t->ctx = ctx;
    int rc = pthread_create(&t->thread, NULL, ticker_main, t);
    if (rc != 0) {
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
        return hush_err_set(err, HUSH_EIO, "cannot start the %s thread: %s", what,
                            strerror(rc));
    }
    t->started = true;
    return 0;
}

void hush__ticker_stop(hush__ticker *t)
{
    if (!t->started) {
        return;
    }
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    t->started = false;
}
