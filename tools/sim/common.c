/*
 * common.c - what hush-sim's simulations share: failing loudly (and never
 * leaving a hushd behind), growable text lists, a small HTTP client with
 * the admin token, and starting and stopping a real hushd.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

extern char **environ;

/* The hushd this process started, so that no failure leaves it running. */
static pid_t running_hushd = 0;
static char running_dir[256];

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hush-sim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (running_hushd > 0) {
        kill(running_hushd, SIGTERM);
        waitpid(running_hushd, NULL, 0);
        fprintf(stderr, "hush-sim: hushd's directory, with its log, is kept: %s\n",
                running_dir);
    }
    exit(1);
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void texts_push(texts *t, const char *s, size_t len)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->v = realloc(t->v, t->cap * sizeof *t->v);
        if (t->v == NULL) {
            die("out of memory");
        }
    }
    char *c = malloc(len + 1);
    if (c == NULL) {
        die("out of memory");
    }
    memcpy(c, s, len);
    c[len] = '\0';
    t->v[t->n++] = c;
}

void texts_free(texts *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i]);
    }
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* ---- HTTP ------------------------------------------------------------------ */

size_t on_data(char *d, size_t size, size_t nmemb, void *ud)
{
    buf *b = ud;
    size_t n = size * nmemb;
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL) {
            return 0;
        }
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* One request; returns the status; *out holds the body (reset first). */
long request(http *h, const char *method, const char *path, const char *body, size_t len,
             bool admin, buf *out)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", h->base, path);
    out->n = 0;
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[300];
    if (admin) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", h->token);
        hdr = curl_slist_append(hdr, auth);
    }
    curl_easy_reset(h->c);
    curl_easy_setopt(h->c, CURLOPT_URL, url);
    curl_easy_setopt(h->c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h->c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h->c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h->c, CURLOPT_TIMEOUT, 600L);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h->c, CURLOPT_POST, 1L);
        curl_easy_setopt(h->c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        curl_easy_setopt(h->c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode rc = curl_easy_perform(h->c);
    long status = 0;
    curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    if (out->p == NULL) {
        on_data("", 0, 0, out);
    }
    if (rc != CURLE_OK) {
        die("%s %s: %s", method, path, curl_easy_strerror(rc));
    }
    return status;
}

/* ---- hushd ------------------------------------------------------------- */

uint16_t free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &l) != 0) {
        die("no free port: %s", strerror(errno));
    }
    close(s);
    return ntohs(a.sin_port);
}

void server_start(server *s, const char *hushd, const char *out_dir,
                  const char *const *extra, http *h)
{
    snprintf(s->dir, sizeof s->dir, "%s/hushd-XXXXXX", out_dir);
    if (mkdtemp(s->dir) == NULL) {
        die("mkdtemp in %s: %s", out_dir, strerror(errno));
    }
    s->port = free_port();
    char port[16], log[300];
    snprintf(port, sizeof port, "%u", s->port);
    snprintf(log, sizeof log, "%s/hushd.log", s->dir);
    const char *argv[40] = {hushd, "--port", port,     "--access-log",
                            "off", "--sync", "normal", NULL};
    size_t a = 7;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && a < 38; i++) {
        argv[a++] = extra[i];
    }
    argv[a] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *cwd = getcwd(NULL, 0);
    if (chdir(s->dir) != 0) {
        die("chdir %s", s->dir);
    }
    int rc = posix_spawn(&s->pid, hushd, &fa, NULL, (char *const *)argv, environ);
    if (chdir(cwd) != 0) {
        die("chdir back");
    }
    free(cwd);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        die("cannot start %s: %s", hushd, strerror(rc));
    }
    running_hushd = s->pid;
    snprintf(running_dir, sizeof running_dir, "%s", s->dir);
    snprintf(h->base, sizeof h->base, "http://127.0.0.1:%u", s->port);
    buf b = {0};
    for (int i = 0;; i++) {
        int status = 0;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            die("hushd exited; see %s", log);
        }
        curl_easy_reset(h->c);
        char url[200];
        snprintf(url, sizeof url, "%s/healthz", h->base);
        curl_easy_setopt(h->c, CURLOPT_URL, url);
        curl_easy_setopt(h->c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(h->c, CURLOPT_WRITEDATA, &b);
        if (curl_easy_perform(h->c) == CURLE_OK) {
            break;
        }
        if (i > 400) {
            die("hushd did not come up; see %s", log);
        }
        usleep(25000);
    }
    free(b.p);
    char tok[300];
    snprintf(tok, sizeof tok, "%s/var/admin-token", s->dir);
    FILE *f = fopen(tok, "r");
    if (f == NULL || fgets(h->token, sizeof h->token, f) == NULL) {
        die("cannot read %s", tok);
    }
    fclose(f);
    h->token[strcspn(h->token, "\r\n")] = '\0';
}

void server_stop(server *s)
{
    kill(s->pid, SIGTERM);
    int status;
    waitpid(s->pid, &status, 0);
    running_hushd = 0;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "hush-sim: could not remove %s\n", s->dir);
    }
}
