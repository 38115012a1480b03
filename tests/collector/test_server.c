/*
 * test_server.c - the collector in-process: handlers, validation and the
 * store, through real HTTP on loopback (libcurl), with restarts.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hush_collector.h"

struct reply {
    long status;
    char body[65536];
    size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *userdata)
{
    struct reply *r = userdata;
    size_t take = size * n;
    if (r->len + take >= sizeof r->body) {
        take = sizeof r->body - 1 - r->len;
    }
    memcpy(r->body + r->len, p, take);
    r->len += take;
    r->body[r->len] = '\0';
    return size * n;
}

static struct reply call(uint16_t port, const char *method, const char *path,
                         const char *body, const char *token)
{
    struct reply r = {0};
    char url[256], auth[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    CURL *c = curl_easy_init();
    cr_assert_not_null(c);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    cr_assert_eq(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

static hush_collector *start(const char *dir)
{
    hush_collector_config cfg;
    hush_collector_config_defaults(&cfg);
    cfg.port = 0;
    snprintf(cfg.store, sizeof cfg.store, "sqlite:%s/hush.db", dir);
    snprintf(cfg.key_dir, sizeof cfg.key_dir, "%s/keys", dir);
    snprintf(cfg.admin_token_file, sizeof cfg.admin_token_file, "%s/token", dir);
    cfg.access_log[0] = '\0';
    cfg.checkpoint_interval_s = 3600; /* only the shutdown checkpoint */
    hush_collector *h = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_collector_start(&cfg, &h, &err), 0, "%s", err.msg);
    return h;
}

static void read_token(const char *dir, char *token, size_t cap)
{
    char path[512];
    snprintf(path, sizeof path, "%s/token", dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(token, (int)cap, f));
    token[strcspn(token, "\n")] = '\0';
    fclose(f);
}

static json_int_t n_reports(uint16_t port, const char *cid)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/campaigns/%s/estimates", cid);
    struct reply r = call(port, "GET", path, NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *doc = json_loads(r.body, 0, NULL);
    json_int_t n = json_integer_value(json_object_get(doc, "n_reports"));
    json_decref(doc);
    return n;
}

static void batch(uint16_t port, int i, const char *reports, long want)
{
    char body[512];
    snprintf(
        body, sizeof body,
        "{\"campaign\":\"t\",\"round\":1,\"batch_id\":\"%020dAA==\",\"reports\":[%s]}", i,
        reports);
    struct reply r = call(port, "POST", "/v1/reports", body, NULL);
    cr_assert_eq(r.status, want, "batch %d: %s", i, r.body);
}

Test(server, ingest_restart_and_checkpoints)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char dir[] = "/tmp/hush-server-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    hush_collector *h = start(dir);
    uint16_t port = hush_collector_port(h);
    char token[256];
    read_token(dir, token, sizeof token);
    struct reply r = call(port, "POST", "/v1/campaigns",
                          "{\"id\":\"t\",\"name\":\"t\",\"kind\":\"poll\",\"candidates\":"
                          "[\"a\",\"b\",\"c\"],\"epsilon\":1,\"mechanism\":\"grr\","
                          "\"min_reports\":0}",
                          token);
    cr_assert_eq(r.status, 201, "%s", r.body);
    for (int i = 0; i < 20; i++) {
        batch(port, i, "0,1,2,1", 200);
    }
    batch(port, 3, "0,1,2,1", 200); /* a duplicate: acknowledged, not counted */
    batch(port, 99, "0,3", 400);    /* out of range: refused whole */
    cr_assert_eq(n_reports(port, "t"), 80);
    hush_collector_stop(h); /* checkpoints */
    h = start(dir);
    port = hush_collector_port(h);
    cr_assert_eq(n_reports(port, "t"), 80, "the checkpoint restores the aggregate");
    for (int i = 20; i < 30; i++) {
        batch(port, i, "2", 200);
    }
    cr_assert_eq(n_reports(port, "t"), 90);
    hush_collector_stop(h);
    h = start(dir);
    port = hush_collector_port(h);
    cr_assert_eq(n_reports(port, "t"), 90, "checkpoint plus replayed batches");
    batch(port, 25, "2", 200);
    cr_assert_eq(n_reports(port, "t"), 90, "dedup survives restarts");
    /* the keys persist: the publication verifies with the same key */
    r = call(port, "GET", "/v1/keys", NULL, NULL);
    cr_assert_eq(r.status, 200);
    hush_collector_stop(h);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    curl_global_cleanup();
}

Test(server, start_fails_cleanly)
{
    char dir[] = "/tmp/hush-server-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[600];
    /* a key file of the wrong size is an error, never replaced */
    snprintf(path, sizeof path, "%s/keys", dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/keys/signing.key", dir);
    FILE *f = fopen(path, "w");
    fputs("short", f);
    fclose(f);
    hush_collector_config cfg;
    hush_collector_config_defaults(&cfg);
    cfg.port = 0;
    snprintf(cfg.store, sizeof cfg.store, "sqlite:%s/hush.db", dir);
    snprintf(cfg.key_dir, sizeof cfg.key_dir, "%s/keys", dir);
    snprintf(cfg.admin_token_file, sizeof cfg.admin_token_file, "%s/token", dir);
    cfg.access_log[0] = '\0';
    hush_collector *h = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_collector_start(&cfg, &h, &err), HUSH_ECORRUPT);
    cr_assert(strstr(err.msg, "signing.key") != NULL, "%s", err.msg);
    cr_assert_null(h);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    cr_assert_eq(system(path), 0);
}
