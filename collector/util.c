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
