/*
 * test_tokens.c - the device's anonymous tokens: asking for them against
 * the signed keys document, checking the issuer's proof (an issuer with
 * another key is caught), the wallet on disk, spending one per report of a
 * campaign that requires them, and failing closed on a damaged wallet.
 * The issuer's side is played with hush_token.h's functions, as hushd does.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "device_fixture.h"
#include "device_internal.h"
#include "hush_json.h"

static const uint8_t MASTER[32] = {42};
#define EPOCH 2900

/* The signed keys document of EPOCH, valid until `until`. */
static void keys_doc(fx_pub *p, const fx_keys *k, int64_t until)
{
    uint8_t sk[32], pk[32];
    cr_assert_eq(hush_token_epoch_key(MASTER, EPOCH, sk, pk, NULL), 0);
    char *b64 = hush_b64_encode(pk, 32), body[512];
    int n =
        snprintf(body, sizeof body,
                 "{\"suite\":\"VOPRF(ristretto255, SHA-512)\",\"epoch_seconds\":604800,"
                 "\"current_epoch\":%d,\"keys\":[{\"epoch\":%d,\"public_key\":\"%s\","
                 "\"not_before\":0,\"valid_until\":%lld}],\"tokens_per_day\":16,"
                 "\"attestation\":\"hmac\"}",
                 EPOCH, EPOCH, b64, (long long)until);
    hush_free(b64);
    fx_pub_sign(p, k, body, (size_t)n);
}

/* The issuer: evaluates the request's blinded elements under `master`'s
 * key of EPOCH (the answer's public key is the pinned one either way). */
static char *issue(const char *req, const uint8_t master[32])
{
    uint8_t sk[32], pk[32], pinned_sk[32], pinned_pk[32], proof[64];
    cr_assert_eq(hush_token_epoch_key(master, EPOCH, sk, pk, NULL), 0);
    cr_assert_eq(hush_token_epoch_key(MASTER, EPOCH, pinned_sk, pinned_pk, NULL), 0);
    json_t *doc = json_loads(req, 0, NULL), *bl = json_object_get(doc, "blinded");
    cr_assert(json_is_object(json_object_get(doc, "attestation")));
    size_t n = json_array_size(bl);
    uint8_t *b = malloc(32 * n), *ev = malloc(32 * n);
    for (size_t i = 0; i < n; i++) {
        size_t got = 0;
        const char *s = json_string_value(json_array_get(bl, i));
        cr_assert_eq(hush_b64_decode(s, strlen(s), b + 32 * i, 32, &got), 0);
    }
    cr_assert_eq(hush_voprf_blind_evaluate(sk, pk, b, n, NULL, ev, proof, NULL), 0);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char *e = hush_b64_encode(ev + 32 * i, 32);
        json_array_append_new(arr, json_string(e));
        hush_free(e);
    }
    char *pkb = hush_b64_encode(pinned_pk, 32), *pb = hush_b64_encode(proof, 64);
    json_t *ans = json_pack("{s:i, s:s, s:o, s:s}", "epoch", EPOCH, "public_key", pkb,
                            "evaluated", arr, "proof", pb);
    char *out = json_dumps(ans, JSON_COMPACT);
    hush_free(pkb);
    hush_free(pb);
    json_decref(ans);
    json_decref(doc);
    free(b);
    free(ev);
    return out;
}

struct world {
    fx_keys k;
    fx_pub keys, poll;
    char *dir;
    int64_t now;
    hush_agent *a;
};

static void setup(struct world *w)
{
    fx_keys_make(&w->k, 3);
    w->now = (int64_t)EPOCH * 604800 + 1000;
    keys_doc(&w->keys, &w->k, w->now + 86400);
    /* a poll that requires tokens */
    char *seal = hush_b64_encode(w->k.seal_pk, 32), body[1024];
    int n =
        snprintf(body, sizeof body,
                 "{\"campaign\":\"emoji\",\"round\":1,\"kind\":\"poll\",\"name\":\"E\","
                 "\"mechanism\":{\"name\":\"grr\",\"domain\":3,\"epsilon\":1},"
                 "\"budget\":{\"reports_per_device_per_day\":5,"
                 "\"epsilon_per_device_per_day\":5},\"min_reports\":0,"
                 "\"candidates\":[{\"id\":\"a\",\"text\":\"red heart\"},"
                 "{\"id\":\"b\",\"text\":\"fire\"},{\"id\":\"c\",\"text\":\"rocket\"}],"
                 "\"sealing_key\":\"%s\",\"require_tokens\":true}",
                 seal);
    hush_free(seal);
    fx_pub_sign(&w->poll, &w->k, body, (size_t)n);
    w->dir = fx_tmpdir();
    hush_agent_config cfg = fx_config(w->dir, &w->k, &w->now, NULL);
    hush_err err = {0};
    cr_assert_eq(hush_agent_open(&cfg, &w->a, &err), 0, "%s", err.msg);
}

static void teardown(struct world *w)
{
    hush_agent_close(w->a);
    fx_pub_free(&w->keys);
    fx_pub_free(&w->poll);
    fx_rmdir(w->dir);
}

static uint32_t get(struct world *w, uint32_t n, const uint8_t master[32], int *rc)
{
    char *req = NULL;
    size_t len = 0;
    hush_err err = {0};
    cr_assert_eq(
        hush_agent_tokens_request(w->a, w->keys.body, w->keys.len, w->keys.signature,
                                  "{\"id\":\"d\",\"mac\":\"00\"}", n, &req, &len, &err),
        0, "%s", err.msg);
    char *ans = issue(req, master);
    uint32_t added = 0;
    *rc = hush_agent_tokens_accept(w->a, ans, strlen(ans), &added, &err);
    hush_free(req);
    free(ans);
    return added;
}

Test(tokens, a_device_gets_tokens_and_spends_one_a_report)
{
    struct world w;
    setup(&w);
    int rc = 0;
    cr_assert_eq(get(&w, 3, MASTER, &rc), 3);
    cr_assert_eq(rc, 0);
    uint32_t n = 0;
    cr_assert_eq(hush_agent_tokens_count(w.a, &n, NULL), 0);
    cr_assert_eq(n, 3);
    hush_campaign *c = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_agent_accept_campaign(w.a, "emoji", w.poll.body, w.poll.len,
                                            w.poll.signature, &c, &err),
                 0, "%s", err.msg);
    char *batch = NULL;
    size_t len = 0;
    cr_assert_eq(hush_agent_make_poll_batch(w.a, c, "fire", 4, NULL, &batch, &len, &err),
                 0, "%s", err.msg);
    json_t *doc = json_loads(batch, 0, NULL);
    hush_token *t = NULL;
    size_t nt = 0;
    cr_assert_eq(hush_tokens_from_json(json_object_get(doc, "tokens"), 10, &t, &nt, NULL),
                 0);
    cr_assert_eq(nt, 1, "one token for one report");
    /* the token is the issuer's: its direct evaluation agrees */
    uint8_t sk[32], pk[32], input[HUSH_TOKEN_INPUT_BYTES], want[64];
    cr_assert_eq(hush_token_epoch_key(MASTER, EPOCH, sk, pk, NULL), 0);
    hush_token_input(t[0].epoch, t[0].nonce, input);
    cr_assert_eq(hush_voprf_evaluate(sk, input, sizeof input, want, NULL), 0);
    cr_assert(memcmp(want, t[0].authenticator, 64) == 0);
    cr_assert_eq(hush_agent_tokens_count(w.a, &n, NULL), 0);
    cr_assert_eq(n, 2, "spent: gone from the wallet");
    hush_free(t);
    json_decref(doc);
    hush_free(batch);
    /* tokens that expired are not spent, and without one there is no report */
    w.now += 2 * 86400;
    cr_assert_eq(hush_agent_tokens_count(w.a, &n, NULL), 0);
    cr_assert_eq(n, 0);
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_make_poll_batch(w.a, c, "fire", 4, NULL, &batch, &len, &err),
                 HUSH_EBUDGET);
    cr_assert(strstr(err.msg, "token") != NULL, "%s", err.msg);
    hush_campaign_free(c);
    teardown(&w);
}

Test(tokens, an_issuer_with_another_key_is_caught)
{
    struct world w;
    setup(&w);
    uint8_t other[32] = {7};
    int rc = 0;
    cr_assert_eq(get(&w, 2, other, &rc), 0);
    cr_assert_eq(rc, HUSH_ESIGNATURE, "a tagging issuer: %d", rc);
    uint32_t n = 9;
    cr_assert_eq(hush_agent_tokens_count(w.a, &n, NULL), 0);
    cr_assert_eq(n, 0, "nothing saved");
    /* an answer with no request waiting */
    uint32_t added = 0;
    cr_assert_eq(hush_agent_tokens_accept(w.a, "{}", 2, &added, NULL), HUSH_ESTATE);
    /* a keys document not signed by the pinned key */
    fx_keys other_keys;
    fx_keys_make(&other_keys, 9);
    fx_pub forged;
    keys_doc(&forged, &other_keys, w.now + 86400);
    char *req = NULL;
    size_t len = 0;
    cr_assert_eq(hush_agent_tokens_request(w.a, forged.body, forged.len, forged.signature,
                                           "{}", 1, &req, &len, NULL),
                 HUSH_ESIGNATURE);
    fx_pub_free(&forged);
    teardown(&w);
}

Test(tokens, a_damaged_wallet_spends_nothing)
{
    struct world w;
    setup(&w);
    int rc = 0;
    cr_assert_eq(get(&w, 2, MASTER, &rc), 2);
    char path[512];
    snprintf(path, sizeof path, "%s/tokens", w.dir);
    size_t len = 0;
    char *text = fx_read(path, &len);
    cr_assert_not_null(text);
    text[40] ^= 1; /* a flipped bit: the checksum catches it */
    FILE *f = fopen(path, "wb");
    fwrite(text, 1, len, f);
    fclose(f);
    free(text);
    uint32_t n = 0;
    hush_err err = {0};
    cr_assert_eq(hush_agent_tokens_count(w.a, &n, &err), HUSH_ECORRUPT);
    hush_campaign *c = NULL;
    cr_assert_eq(hush_agent_accept_campaign(w.a, "emoji", w.poll.body, w.poll.len,
                                            w.poll.signature, &c, NULL),
                 0);
    char *batch = NULL;
    cr_assert_neq(hush_agent_make_poll_batch(w.a, c, "fire", 4, NULL, &batch, &len, NULL),
                  0);
    hush_campaign_free(c);
    teardown(&w);
}

Test(tokens, a_wallet_line_with_an_overlong_field_is_damage)
{
    /* 66 hex digits of nonce where 64 belong: refused, not copied */
    char text[600];
    int n = snprintf(text, sizeof text, "hush-tokens 1\ntoken 1 2 %0*d %0*d\n", 66, 0,
                     128, 0);
    uint64_t sum = XXH3_64bits(text, (size_t)n);
    n += snprintf(text + n, sizeof text - (size_t)n, "checksum %016llx\n",
                  (unsigned long long)sum);
    void *w = NULL;
    size_t count = 0;
    cr_assert_eq(hush__wallet_parse(text, (size_t)n, &w, &count, NULL), HUSH_ECORRUPT);
    cr_assert_null(w);
}
