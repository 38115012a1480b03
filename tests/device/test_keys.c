/*
 * test_keys.c - following the collector's signing-key rotations: a chain of
 * continuity documents from the pinned key is followed and kept; a forged
 * document is refused and nothing is followed; a document from a key the
 * device does not trust is ignored.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "device_fixture.h"
#include "hush_device.h"
#include "hush_protocol.h"

/* One continuity entry from `from` to `to`; forge: the old signature is
 * made with the wrong key. */
static json_t *entry(const fx_keys *from, const fx_keys *to, bool forge)
{
    char *ob = hush_b64_encode(from->sign_pk, 32), *nb = hush_b64_encode(to->sign_pk, 32);
    char doc[256];
    snprintf(doc, sizeof doc,
             "{\"kind\":\"hush-key-continuity\",\"version\":1,\"old_key\":\"%s\","
             "\"new_key\":\"%s\",\"issued_at\":1}",
             ob, nb);
    uint8_t so[64], sn[64];
    crypto_sign_detached(so, NULL, (const uint8_t *)doc, strlen(doc),
                         forge ? to->sign_sk : from->sign_sk);
    crypto_sign_detached(sn, NULL, (const uint8_t *)doc, strlen(doc), to->sign_sk);
    char *sob = hush_b64_encode(so, 64), *snb = hush_b64_encode(sn, 64);
    json_t *e = json_pack("{s:s, s:s, s:s}", "document", doc, "old_signature", sob,
                          "new_signature", snb);
    hush_free(ob);
    hush_free(nb);
    hush_free(sob);
    hush_free(snb);
    return e;
}

static char *keys_doc(json_t *chain)
{
    json_t *d = json_pack("{s:s, s:o}", "signing_key", "x", "continuity", chain);
    char *s = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    return s;
}

Test(keys, rotations_are_followed_from_the_pinned_key_only)
{
    fx_keys k1, k2, k3, other, k4;
    fx_keys_make(&k1, 1);
    fx_keys_make(&k2, 2);
    fx_keys_make(&k3, 3);
    fx_keys_make(&other, 9);
    fx_keys_make(&k4, 4);
    char *dir = fx_tmpdir();
    int64_t now = 1800000000;
    uint8_t seed[32] = {7};
    hush_agent_config cfg = fx_config(dir, &k1, &now, seed);
    hush_agent *a = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_agent_open(&cfg, &a, &err), 0, "%s", err.msg);
    /* a poll signed by k3: refused while only k1 is trusted */
    fx_pub p3;
    fx_poll(&p3, &k3, "{\"name\":\"grr\",\"domain\":3,\"epsilon\":1}", 3, 3.0);
    hush_campaign *c = NULL;
    int arc =
        hush_agent_accept_campaign(a, "emoji", p3.body, p3.len, p3.signature, &c, &err);
    cr_assert_eq(arc, HUSH_ESIGNATURE, "%d %s", arc, err.msg);
    /* a forged k1 -> other document refuses the call: nothing followed */
    json_t *chain = json_array();
    json_array_append_new(chain, entry(&k2, &k3, false)); /* listed out of order */
    json_array_append_new(chain, entry(&k1, &other, true));
    char *doc = keys_doc(chain);
    size_t added = 9;
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_follow_keys(a, doc, strlen(doc), &added, &err),
                 HUSH_ESIGNATURE);
    cr_assert(strstr(err.msg, "refused") != NULL, "%s", err.msg);
    free(doc);
    /* k1 -> k2 -> k3, and other -> k4 (not from a trusted key: ignored) */
    chain = json_array();
    json_array_append_new(chain, entry(&k2, &k3, false));
    json_array_append_new(chain, entry(&other, &k4, false));
    json_array_append_new(chain, entry(&k1, &k2, false));
    doc = keys_doc(chain);
    cr_assert_eq(hush_agent_follow_keys(a, doc, strlen(doc), &added, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(added, 2);
    cr_assert_eq(hush_agent_follow_keys(a, doc, strlen(doc), &added, &err), 0);
    cr_assert_eq(added, 0, "followed once");
    hush_err_clear(&err);
    arc = hush_agent_accept_campaign(a, "emoji", p3.body, p3.len, p3.signature, &c, &err);
    cr_assert_eq(arc, 0, "%d %s", arc, err.msg);
    hush_campaign_free(c);
    c = NULL;
    /* kept for the next run; k4 never trusted */
    hush_agent_close(a);
    cr_assert_eq(hush_agent_open(&cfg, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(
        hush_agent_accept_campaign(a, "emoji", p3.body, p3.len, p3.signature, &c, &err),
        0, "%s", err.msg);
    hush_campaign_free(c);
    c = NULL;
    fx_pub p4;
    fx_poll(&p4, &k4, "{\"name\":\"grr\",\"domain\":3,\"epsilon\":1}", 3, 3.0);
    cr_assert_eq(
        hush_agent_accept_campaign(a, "emoji", p4.body, p4.len, p4.signature, &c, &err),
        HUSH_ESIGNATURE);
    /* malformed */
    cr_assert_eq(hush_agent_follow_keys(a, "{\"continuity\":3}", 16, &added, &err),
                 HUSH_EINVAL);
    cr_assert_eq(hush_agent_follow_keys(a, "{\"continuity\":[{\"document\":\"{}\"}]}", 33,
                                        &added, &err),
                 HUSH_EINVAL);
    free(doc);
    fx_pub_free(&p3);
    fx_pub_free(&p4);
    hush_agent_close(a);
    fx_rmdir(dir);
}
