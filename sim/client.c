/*
 * client.c - hush-sim's client for a hushd it runs: start and stop the
 * process, REST requests with the admin token, the signing key to pin, a
 * verified publication.  Errors are returned (hush_err), never fatal: the
 * program decides (util.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim.h"

extern char **environ;

/* The hushd started last and not stopped yet (sim_server_abandon). */
static pid_t running_hushd = 0;
static char running_dir[256];

void sim_buf_free(sim_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static size_t on_data(char *d, size_t size, size_t nmemb, void *ud)
{
    sim_buf *b = ud;
    size_t n = size * nmemb;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            return 0; /* curl then fails the transfer */
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

long sim_request(sim_http *h, const char *method, const char *path, const char *body,
                 size_t len, bool admin, sim_buf *out, hush_err *err)
{
    char url[512], auth[300];
    snprintf(url, sizeof url, "%s%s", h->base, path);
    out->n = 0;
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
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
    if (rc != CURLE_OK || out->p == NULL) {
        hush_err_set(err, HUSH_EIO, "%s %s: %s", method, path,
                     rc != CURLE_OK ? curl_easy_strerror(rc) : "out of memory");
        return -1;
    }
    return status;
}

static int free_port(uint16_t *port, hush_err *err)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    int rc = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
                     getsockname(s, (struct sockaddr *)&a, &l) == 0
                 ? 0
                 : hush_err_set(err, HUSH_EIO, "no free port: %s", strerror(errno));
    if (s >= 0) {
        close(s);
    }
    *port = ntohs(a.sin_port);
    return rc;
}

/* Runs hushd in s->dir with its output in hushd.log. */
static int spawn_hushd(sim_server *s, const char *hushd, const char *const *extra,
                       const char *log, hush_err *err)
{
    char port[16];
    snprintf(port, sizeof port, "%u", s->port);
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
    /* hushd runs in its directory: a relative path to it is resolved first */
    char *abs = realpath(hushd, NULL);
    char *cwd = getcwd(NULL, 0);
    int rc = abs == NULL ? hush_err_set(err, HUSH_EIO, "no hushd at %s", hushd)
             : cwd == NULL || chdir(s->dir) != 0
                 ? hush_err_set(err, HUSH_EIO, "chdir %s", s->dir)
                 : posix_spawn(&s->pid, abs, &fa, NULL, (char *const *)argv, environ);
    free(abs);
    if (cwd != NULL && chdir(cwd) != 0 && rc == 0) {
        rc = hush_err_set(err, HUSH_EIO, "chdir back to %s", cwd);
    }
    free(cwd);
    posix_spawn_file_actions_destroy(&fa);
    if (rc > 0) {
        return hush_err_set(err, HUSH_EIO, "cannot start %s: %s", hushd, strerror(rc));
    }
    return rc;
}

/* Waits for /healthz (hushd is up), or its exit. */
static int wait_up(sim_server *s, sim_http *h, const char *log, hush_err *err)
{
    sim_buf b = {0};
    int rc = 0;
    for (int i = 0;; i++) {
        int status = 0;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            rc = hush_err_set(err, HUSH_EIO, "hushd exited; see %s", log);
            break;
        }
        char url[200];
        snprintf(url, sizeof url, "%s/healthz", h->base);
        curl_easy_reset(h->c);
        curl_easy_setopt(h->c, CURLOPT_URL, url);
        curl_easy_setopt(h->c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(h->c, CURLOPT_WRITEDATA, &b);
        if (curl_easy_perform(h->c) == CURLE_OK) {
            break;
        }
        if (i > 400) {
            rc = hush_err_set(err, HUSH_ETIMEOUT, "hushd did not come up; see %s", log);
            break;
        }
        usleep(25000);
    }
    sim_buf_free(&b);
    return rc;
}

int sim_server_start(sim_server *s, const char *hushd, const char *out_dir,
                     const char *const *extra, sim_http *h, hush_err *err)
{
    snprintf(s->dir, sizeof s->dir, "%s/hushd-XXXXXX", out_dir);
    if (mkdtemp(s->dir) == NULL) {
        return hush_err_set(err, HUSH_EIO, "mkdtemp in %s: %s", out_dir, strerror(errno));
    }
    char log[300];
    snprintf(log, sizeof log, "%s/hushd.log", s->dir);
    int rc = free_port(&s->port, err);
    if (rc == 0) {
        rc = spawn_hushd(s, hushd, extra, log, err);
    }
    if (rc != 0) {
        return rc;
    }
    running_hushd = s->pid;
    snprintf(running_dir, sizeof running_dir, "%s", s->dir);
    snprintf(h->base, sizeof h->base, "http://127.0.0.1:%u", s->port);
    if ((rc = wait_up(s, h, log, err)) != 0) {
        return rc;
    }
    char tok[300];
    snprintf(tok, sizeof tok, "%s/var/admin-token", s->dir);
    FILE *f = fopen(tok, "r");
    if (f == NULL || fgets(h->token, sizeof h->token, f) == NULL) {
        rc = hush_err_set(err, HUSH_EIO, "cannot read %s", tok);
    }
    if (f != NULL) {
        fclose(f);
    }
    h->token[strcspn(h->token, "\r\n")] = '\0';
    return rc;
}

void sim_server_stop(sim_server *s)
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

void sim_server_abandon(void)
{
    if (running_hushd > 0) {
        kill(running_hushd, SIGTERM);
        waitpid(running_hushd, NULL, 0);
        fprintf(stderr, "hush-sim: hushd's directory, with its log, is kept: %s\n",
                running_dir);
        running_hushd = 0;
    }
}

int sim_signing_key(sim_http *h, uint8_t pk[32], hush_err *err)
{
    sim_buf b = {0};
    long status = sim_request(h, "GET", "/v1/keys", NULL, 0, false, &b, err);
    json_t *keys = status == 200 ? json_loads(b.p, 0, NULL) : NULL;
    const char *k64 = json_string_value(json_object_get(keys, "signing_key"));
    size_t klen = 0;
    int rc = status >= 0 &&
                     (k64 == NULL ||
                      hush_b64_decode(k64, strlen(k64), pk, 32, &klen) != 0 || klen != 32)
                 ? hush_err_set(err, HUSH_EINVAL, "GET /v1/keys: no signing key")
             : status < 0 ? HUSH_EIO
                          : 0;
    json_decref(keys);
    sim_buf_free(&b);
    return rc;
}

int sim_fetch_publication(sim_http *h, const char *path, const uint8_t pk[32],
                          bool device, sim_buf *body, char **sig, hush_publication **out,
                          hush_err *err)
{
    long status = sim_request(h, "GET", path, NULL, 0, false, body, err);
    if (status != 200) {
        return status < 0
                   ? HUSH_EIO
                   : hush_err_set(err, HUSH_EIO, "GET %s: %ld %s", path, status, body->p);
    }
    /* curl_easy_header is 7.83+: the Hush-Signature value */
    struct curl_header *hd = NULL;
    if (curl_easy_header(h->c, HUSH_SIGNATURE_HEADER, 0, CURLH_HEADER, -1, &hd) !=
        CURLHE_OK) {
        return hush_err_set(err, HUSH_ESIGNATURE, "GET %s: no %s header", path,
                            HUSH_SIGNATURE_HEADER);
    }
    int rc = hush_publication_verify(body->p, body->n, hd->value, pk, err);
    if (rc == 0 && sig != NULL && (*sig = strdup(hd->value)) == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        rc = hush_publication_parse_flags(body->p, body->n,
                                          device ? HUSH_PUBLICATION_DEVICE : 0, out, err);
    }
    return rc;
}
