/*
 * test_publication.c - parsing and verifying campaign publications.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "hush_protocol.h"

static const char poll[] =
    "{\"campaign\":\"emoji\",\"round\":1,\"kind\":\"poll\",\"name\":\"E\","
    "\"mechanism\":{\"name\":\"grr\",\"domain\":3,\"epsilon\":4.0},"
    "\"budget\":{\"reports_per_device_per_day\":1,\"epsilon_per_device_per_day\":4.0},"
    "\"min_reports\":10,\"candidates\":[{\"id\":\"a\",\"text\":\"red heart\"},"
    "{\"id\":\"b\",\"text\":\"fire\"},{\"id\":\"c\",\"text\":\"rocket\"}]}";

Test(publication, parses_a_poll)
{
    hush_publication *p = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_publication_parse(poll, sizeof poll - 1, &p, &err), 0, "%s",
                 err.msg);
    cr_assert_str_eq(p->campaign, "emoji");
    cr_assert_eq(p->kind, HUSH_CAMPAIGN_POLL);
    cr_assert_eq(p->n_candidates, 3);
    cr_assert_str_eq(p->candidate_texts[2], "rocket");
    cr_assert_eq(p->params.mechanism, HUSH_LDP_GRR);
    cr_assert_eq(p->reports_per_device_per_day, 1);
    hush_publication_free(p);
}

static void refused(const char *from, const char *to, const char *fragment)
{
    char doc[2048];
    const char *at = strstr(poll, from);
    cr_assert_not_null(at, "test bug: %s", from);
    snprintf(doc, sizeof doc, "%.*s%s%s", (int)(at - poll), poll, to, at + strlen(from));
    hush_publication *p = NULL;
    hush_err err = {0};
    cr_assert_neq(hush_publication_parse(doc, strlen(doc), &p, &err), 0, "accepted: %s",
                  doc);
    cr_assert_null(p);
    cr_assert(strstr(err.msg, fragment) != NULL, "\"%s\" lacks \"%s\"", err.msg,
              fragment);
}

Test(publication, bad_documents_are_refused)
{
    refused("\"kind\":\"poll\"", "\"kind\":\"vote\"", "kind");
    refused("\"domain\":3", "\"domain\":4", "domain is 4");
    refused("\"epsilon\":4.0}", "\"epsilon\":-4.0}", "epsilon");
    refused("\"reports_per_device_per_day\":1", "\"reports_per_device_per_day\":0",
            "budget");
    refused("\"epsilon_per_device_per_day\":4.0", "\"epsilon_per_device_per_day\":1.0",
            "budget");
    refused("{\"id\":\"b\"", "{\"id\":\"a\"", "repeats");
    refused("{\"id\":\"b\"", "{\"id\":\"none\"", "reserved");
    refused("\"round\":1", "\"round\":0", "round");
    refused("\"min_reports\":10", "\"min_reports\":-1", "min_reports");
    hush_publication *p = NULL;
    cr_assert_eq(hush_publication_parse("{", 1, &p, NULL), HUSH_EINVAL);
}

Test(publication, signatures)
{
    cr_assert_geq(sodium_init(), 0);
    uint8_t pk[32], sk[64], other_pk[32], other_sk[64], sig[64];
    crypto_sign_keypair(pk, sk);
    crypto_sign_keypair(other_pk, other_sk);
    crypto_sign_detached(sig, NULL, (const uint8_t *)poll, sizeof poll - 1, sk);
    char *b64 = hush_b64_encode(sig, sizeof sig);
    cr_assert_eq(hush_publication_verify(poll, sizeof poll - 1, b64, pk, NULL), 0);
    hush_err err = {0};
    cr_assert_eq(hush_publication_verify(poll, sizeof poll - 1, b64, other_pk, &err),
                 HUSH_ESIGNATURE, "wrong key");
    cr_assert_eq(hush_publication_verify(poll, sizeof poll - 2, b64, pk, NULL),
                 HUSH_ESIGNATURE, "a changed body");
    cr_assert_eq(hush_publication_verify(poll, sizeof poll - 1, NULL, pk, NULL),
                 HUSH_ESIGNATURE, "no signature");
    cr_assert_eq(hush_publication_verify(poll, sizeof poll - 1, "AAAA", pk, NULL),
                 HUSH_ESIGNATURE, "a short signature");
    hush_free(b64);
}
