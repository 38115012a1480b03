/*
 * collector_fixture.c - see collector_fixture.h.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "collector_fixture.h"

hush_collector *fixture_start(char *dir)
{
    snprintf(dir, 64, "/tmp/hush-domain-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    hush_collector_config cfg;
    hush_collector_config_defaults(&cfg);
    cfg.port = 0;
    snprintf(cfg.store, sizeof cfg.store, "sqlite::memory:");
    snprintf(cfg.key_dir, sizeof cfg.key_dir, "%s/keys", dir);
    snprintf(cfg.admin_token_file, sizeof cfg.admin_token_file, "%s/token", dir);
    cfg.access_log[0] = '\0';
    cfg.checkpoint_interval_s = 3600;
    hush_collector *h = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_collector_start(&cfg, &h, &err), 0, "%s", err.msg);
    return h;
}

void fixture_stop(hush_collector *h, const char *dir)
{
    hush_collector_stop(h);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

hush_collector *fixture_h;
static char fixture_dir[64];

void fixture_init(void)
{
    fixture_h = fixture_start(fixture_dir);
}

void fixture_fini(void)
{
    fixture_stop(fixture_h, fixture_dir);
    fixture_h = NULL;
}

json_t *fixture_json(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    cr_assert_not_null(v, "%s: %s", text, jerr.text);
    return v;
}

hush__campaign *fixture_campaign(hush_collector *h, const char *spec)
{
    json_t *req = fixture_json(spec), *out = NULL;
    hush__fail f = {0};
    cr_assert_eq(hush__campaign_create(h, req, &out, &f), 0, "%s: %s", f.reason,
                 f.err.msg);
    hush__campaign *c =
        hush__campaign_find(h, json_string_value(json_object_get(out, "id")));
    cr_assert_not_null(c);
    json_decref(req);
    json_decref(out);
    return c;
}

/* The writer's answer, waited for. */
static pthread_mutex_t answer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t answer_cond = PTHREAD_COND_INITIALIZER;

static void answered(hush__item *item)
{
    pthread_mutex_lock(&answer_lock);
    *(bool *)item->waiter = true;
    pthread_cond_broadcast(&answer_cond);
    pthread_mutex_unlock(&answer_lock);
}

int fixture_post(hush_collector *h, const char *batch_json, bool *duplicate,
                 hush__fail *f)
{
    json_t *doc = fixture_json(batch_json);
    hush__item *item = NULL;
    int rc = hush__batch_accept(h, doc, &item, f);
    json_decref(doc);
    if (rc != 0) {
        cr_assert_null(item);
        return -rc;
    }
    bool done = false;
    item->answer = answered;
    item->waiter = &done;
    hush__batch_submit(h, item);
    pthread_mutex_lock(&answer_lock);
    while (!done) {
        pthread_cond_wait(&answer_cond, &answer_lock);
    }
    pthread_mutex_unlock(&answer_lock);
    int status = item->status;
    if (duplicate != NULL) {
        *duplicate = item->duplicate;
    }
    hush__item_free(item);
    return status;
}
