/*
 * device_fixture.c - see device_fixture.h.
 */
#include "device_fixture.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hush_embed.h"
#include "hush_protocol.h"

void fx_keys_make(fx_keys *k, uint8_t seed)
{
    uint8_t s[32];
    memset(s, seed, sizeof s);
    crypto_sign_seed_keypair(k->sign_pk, k->sign_sk, s);
    s[0] ^= 0x5a;
    crypto_box_seed_keypair(k->seal_pk, k->seal_sk, s);
}

void fx_pub_sign(fx_pub *p, const fx_keys *k, const char *body, size_t len)
{
    p->body = malloc(len + 1);
    cr_assert_not_null(p->body);
    memcpy(p->body, body, len);
    p->body[len] = '\0';
    p->len = len;
    uint8_t sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const uint8_t *)body, len, k->sign_sk);
    char *b64 = hush_b64_encode(sig, sizeof sig);
    cr_assert_not_null(b64);
    p->signature = strdup(b64);
    hush_free(b64);
    json_t *doc = json_loadb(body, len, 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "campaign"));
    if (id == NULL) {
        id = json_string_value(json_object_get(doc, "model"));
    }
    snprintf(p->id, sizeof p->id, "%s", id != NULL ? id : "");
    json_decref(doc);
}

void fx_pub_free(fx_pub *p)
{
    free(p->body);
    free(p->signature);
    memset(p, 0, sizeof *p);
}

static char *seal_b64(const fx_keys *k)
{
    char *b = hush_b64_encode(k->seal_pk, sizeof k->seal_pk);
    char *s = strdup(b);
    hush_free(b);
    return s;
}

void fx_poll(fx_pub *p, const fx_keys *k, const char *mechanism, int per_day,
             double eps_per_day)
{
    char *seal = seal_b64(k);
    char body[2048];
    int n = snprintf(
        body, sizeof body,
        "{\"campaign\":\"emoji\",\"round\":1,\"kind\":\"poll\",\"name\":\"Emoji\","
        "\"mechanism\":%s,\"budget\":{\"reports_per_device_per_day\":%d,"
        "\"epsilon_per_device_per_day\":%.17g},\"min_reports\":0,"
        "\"candidates\":[{\"id\":\"a\",\"text\":\"red heart\"},"
        "{\"id\":\"b\",\"text\":\"fire\"},{\"id\":\"c\",\"text\":\"rocket\"}],"
        "\"sealing_key\":\"%s\"}",
        mechanism, per_day, eps_per_day, seal);
    cr_assert(n > 0 && (size_t)n < sizeof body);
    free(seal);
    fx_pub_sign(p, k, body, (size_t)n);
}

const char *const fx_synthetic_texts[4] = {
    "Lunch meeting moved to Thursday at noon in the small room",
    "Your invoice for October is attached, payment due in thirty days",
    "The package you ordered has shipped and will arrive on Monday",
    "Reminder: quarterly security training must be completed this week",
};

void fx_synthetic(fx_pub *p, const fx_keys *k, double epsilon, double threshold,
                  int per_day, double eps_per_day, bool device_view)
{
    static const char desc[] =
        "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":64,\"seed\":7}";
    hush_embedder *e = NULL;
    hush_matrix *m = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_embedder_new(desc, sizeof desc - 1, NULL, 0, NULL, &e, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(hush_matrix_new(HUSH_MATRIX_I8, 4, 64, &m, &err), 0);
    float v[64];
    for (uint32_t i = 0; i < 4; i++) {
        cr_assert_eq(hush_embed_text(e, fx_synthetic_texts[i],
                                     strlen(fx_synthetic_texts[i]), v, 64, &err),
                     0, "%s", err.msg);
        cr_assert_eq(hush_matrix_set_row(m, i, v, 64, &err), 0);
    }
    char *b64 = NULL, *full = NULL;
    cr_assert_eq(hush_matrix_to_base64(m, &b64, &err), 0);
    cr_assert_eq(hush_embedder_describe(e, &full, &err), 0);
    char *seal = seal_b64(k);
    json_t *pub =
        json_pack("{s:s, s:i, s:s, s:s, s:{s:s, s:i, s:f}, s:{s:i, s:f}, s:i, s:s}",
                  "campaign", "mail", "round", 1, "kind", "synthetic", "name", "Mail",
                  "mechanism", "name", "grr", "domain", 5, "epsilon", epsilon, "budget",
                  "reports_per_device_per_day", per_day, "epsilon_per_device_per_day",
                  eps_per_day, "min_reports", 0, "sealing_key", seal);
    cr_assert_not_null(pub);
    if (device_view) {
        json_object_set_new(pub, "candidate_count", json_integer(4));
    } else {
        json_t *cands = json_array();
        for (int i = 0; i < 4; i++) {
            char id[16];
            snprintf(id, sizeof id, "s%d", i);
            json_array_append_new(
                cands, json_pack("{s:s, s:s}", "id", id, "text", fx_synthetic_texts[i]));
        }
        json_object_set_new(pub, "candidates", cands);
    }
    json_object_set_new(pub, "match_threshold", json_real(threshold));
    json_object_set_new(pub, "no_match_id", json_string("none"));
    json_object_set_new(pub, "embedder", json_loads(full, 0, NULL));
    json_object_set_new(pub, "matrix", json_string(b64));
    char *body = json_dumps(pub, JSON_COMPACT);
    cr_assert_not_null(body);
    fx_pub_sign(p, k, body, strlen(body));
    free(body);
    free(seal);
    json_decref(pub);
    hush_free(b64);
    hush_free(full);
    hush_matrix_free(m);
    hush_embedder_free(e);
}

char *fx_tmpdir(void)
{
    const char *base = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
    size_t cap = strlen(base) + 32;
    char *path = malloc(cap);
    cr_assert_not_null(path);
    snprintf(path, cap, "%s/hush-device-XXXXXX", base);
    cr_assert_not_null(mkdtemp(path));
    return path;
}

void fx_rmdir(char *path)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    cr_assert_eq(system(cmd), 0);
    free(path);
}

int64_t fx_clock(void *ctx)
{
    return *(const int64_t *)ctx;
}

hush_agent_config fx_config(const char *dir, const fx_keys *k, int64_t *now,
                            const uint8_t *seed)
{
    hush_agent_config c = {
        .state_dir = dir, .clock = fx_clock, .clock_ctx = now, .rng_seed = seed};
    memcpy(c.collector_key, k->sign_pk, 32);
    return c;
}

char *fx_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = (n + 4096 + 1) * 2;
            char *g = realloc(buf, cap);
            cr_assert_not_null(g);
            buf = g;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096) {
            break;
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL) {
        *len = n;
    }
    return buf;
}
