/*
 * test_wire.c - reports, parameters and batches in JSON; sealing.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdlib.h>

#include "hush_protocol.h"

static const hush_ldp_params all[] = {
    {.mechanism = HUSH_LDP_GRR, .domain = 20, .epsilon = 2.0},
    {.mechanism = HUSH_LDP_OUE, .domain = 20, .epsilon = 2.0},
    {.mechanism = HUSH_LDP_OLH, .domain = 20, .epsilon = 2.0},
    {.mechanism = HUSH_LDP_HR, .domain = 20, .epsilon = 2.0},
    {.mechanism = HUSH_LDP_CMS,
     .domain = 20,
     .epsilon = 2.0,
     .sketch_rows = 8,
     .sketch_cols = 20,
     .hash_seed = UINT64_C(18446744073709551557)},
    {.mechanism = HUSH_LDP_HCMS,
     .domain = 20,
     .epsilon = 2.0,
     .sketch_rows = 8,
     .sketch_cols = 16,
     .hash_seed = 5},
};

Test(wire, reports_and_params_round_trip)
{
    cr_assert_geq(sodium_init(), 0);
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
        hush_ldp *m = NULL;
        hush_rng *rng = NULL;
        cr_assert_eq(hush_ldp_new(&all[k], &m, NULL), 0);
        cr_assert_eq(hush_rng_new_seeded_u64(k, &rng), 0);
        json_t *pj = hush_wire_params_to_json(hush_ldp_get_params(m));
        hush_ldp_params back;
        cr_assert_eq(hush_wire_params_from_json(pj, &back, NULL), 0);
        hush_ldp *m2 = NULL;
        cr_assert_eq(hush_ldp_new(&back, &m2, NULL), 0);
        cr_assert_eq(memcmp(hush_ldp_get_params(m), hush_ldp_get_params(m2),
                            sizeof(hush_ldp_params)),
                     0, "%s parameters survive JSON",
                     hush_ldp_mechanism_name(all[k].mechanism));
        json_decref(pj);
        size_t rs = hush_ldp_report_size(m);
        uint8_t *r = malloc(rs), *r2 = malloc(rs);
        for (int i = 0; i < 100; i++) {
            cr_assert_eq(hush_ldp_encode(m, (uint32_t)(i % 20), rng, r, rs, NULL), 0);
            json_t *j = hush_wire_report_to_json(m, r);
            cr_assert_not_null(j);
            hush_err err = {0};
            cr_assert_eq(hush_wire_report_from_json(m, j, r2, &err), 0, "%s", err.msg);
            cr_assert_arr_eq(r, r2, rs);
            json_decref(j);
        }
        free(r);
        free(r2);
        hush_rng_free(rng);
        hush_ldp_free(m);
        hush_ldp_free(m2);
    }
}

Test(wire, bad_reports_are_named)
{
    hush_ldp *m = NULL;
    cr_assert_eq(hush_ldp_new(&all[2], &m, NULL), 0); /* olh */
    uint8_t r[8];
    hush_err err = {0};
    json_t *bad[] = {json_integer(3),
                     json_pack("[i]", 1),
                     json_pack("[i, i]", 1, 1000),
                     json_pack("[i, s]", 1, "x"),
                     json_pack("[i, i]", -1, 0),
                     json_pack("[I, i]", (json_int_t)1 << 40, 0)};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hush_err_clear(&err);
        cr_assert_neq(hush_wire_report_from_json(m, bad[i], r, &err), 0, "case %zu", i);
        cr_assert(err.msg[0] != '\0');
        json_decref(bad[i]);
    }
    hush_ldp_free(m);
}

Test(wire, batches)
{
    hush_ldp *m = NULL;
    cr_assert_eq(hush_ldp_new(&all[0], &m, NULL), 0);
    uint8_t reports[3 * 4], id[HUSH_BATCH_ID_BYTES] = {1, 2, 3};
    for (int i = 0; i < 3; i++) {
        hush_store_le32(reports + 4 * i, (uint32_t)(i * 7));
    }
    json_t *doc = hush_batch_build(m, "camp-1", 2, id, reports, 3);
    hush_batch_header hdr;
    cr_assert_eq(hush_batch_read_header(doc, &hdr, NULL), 0);
    cr_assert_str_eq(hdr.campaign, "camp-1");
    cr_assert_eq(hdr.round, 2);
    cr_assert_arr_eq(hdr.batch_id, id, sizeof id);
    uint8_t *out = NULL;
    size_t n = 0, bad = 0;
    cr_assert_eq(hush_batch_decode_reports(m, hdr.reports, &out, &n, &bad, NULL), 0);
    cr_assert_eq(n, 3);
    cr_assert_arr_eq(out, reports, sizeof reports);
    hush_free(out);
    json_array_set_new((json_t *)hdr.reports, 1, json_integer(20));
    hush_err err = {0};
    cr_assert_eq(hush_batch_decode_reports(m, hdr.reports, &out, &n, &bad, &err),
                 HUSH_ERANGE);
    cr_assert_eq(bad, 1);
    cr_assert(strstr(err.msg, "report 1") != NULL, "%s", err.msg);
    const char *bad_docs[] = {
        "[]",
        "{\"campaign\":\"a b\",\"round\":1,\"batch_id\":\"AAAAAAAAAAAAAAAAAAAAAA==\","
        "\"reports\":[1]}",
        "{\"campaign\":\"a\",\"round\":0,\"batch_id\":\"AAAAAAAAAAAAAAAAAAAAAA==\","
        "\"reports\":[1]}",
        "{\"campaign\":\"a\",\"round\":1,\"batch_id\":\"AAAA\",\"reports\":[1]}",
        "{\"campaign\":\"a\",\"round\":1,\"batch_id\":\"AAAAAAAAAAAAAAAAAAAAAA==\","
        "\"reports\":[]}",
        "{\"campaign\":\"a\",\"round\":1,\"batch_id\":\"AAAAAAAAAAAAAAAAAAAAAA==\","
        "\"reports\":[1],\"ip\":\"10.0.0.1\"}",
    };
    for (size_t i = 0; i < sizeof bad_docs / sizeof bad_docs[0]; i++) {
        json_t *d = json_loads(bad_docs[i], 0, NULL);
        cr_assert_not_null(d);
        cr_assert_eq(hush_batch_read_header(d, &hdr, NULL), HUSH_EINVAL, "case %zu", i);
        json_decref(d);
    }
    json_decref(doc);
    hush_ldp_free(m);
}

Test(wire, seal_and_unseal)
{
    cr_assert_geq(sodium_init(), 0);
    uint8_t pk[32], sk[32];
    crypto_box_keypair(pk, sk);
    const char msg[] = "{\"campaign\":\"c\"}";
    char *sealed = NULL;
    cr_assert_eq(hush_seal((const uint8_t *)msg, sizeof msg - 1, pk, &sealed, NULL), 0);
    json_t *doc = json_loads(sealed, 0, NULL);
    const char *b64 = json_string_value(json_object_get(doc, "sealed"));
    uint8_t *plain = NULL;
    size_t plen = 0;
    cr_assert_eq(hush_unseal(b64, strlen(b64), pk, sk, &plain, &plen, NULL), 0);
    cr_assert_eq(plen, sizeof msg - 1);
    cr_assert_arr_eq(plain, msg, plen);
    hush_free(plain);
    /* another key pair cannot open it; a truncation cannot either */
    uint8_t pk2[32], sk2[32];
    crypto_box_keypair(pk2, sk2);
    cr_assert_eq(hush_unseal(b64, strlen(b64), pk2, sk2, &plain, &plen, NULL),
                 HUSH_ESIGNATURE);
    cr_assert_eq(hush_unseal(b64, 40, pk, sk, &plain, &plen, NULL), HUSH_ESIGNATURE);
    cr_assert_eq(hush_unseal("!!", 2, pk, sk, &plain, &plen, NULL), HUSH_ESIGNATURE);
    json_decref(doc);
    hush_free(sealed);
}
