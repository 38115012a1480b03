/*
 * test_rounds.c - closing a synthetic campaign's round through the domain:
 * what cannot be closed says why and leaves the round open; a close keeps
 * the voted samples, publishes the next round and records the history.
 */
#include <criterion/criterion.h>
#include <stdio.h>

#include "collector_fixture.h"

TestSuite(rounds, .init = fixture_init, .fini = fixture_fini);

static const char synthetic_spec[] =
    "{\"id\":\"s\",\"name\":\"S\",\"kind\":\"synthetic\",\"epsilon\":8,"
    "\"mechanism\":\"grr\",\"min_reports\":10,"
    "\"candidates\":[\"the meeting moved to friday afternoon\","
    "\"your parcel is waiting at the depot\",\"lunch on the terrace today\","
    "\"the quarterly report is attached\"],"
    "\"refine\":{\"keep\":1,\"population\":4,\"generator\":\"builtin\",\"seed\":\"7\"}}";

static int close_round(hush__campaign *c, const char *req_text, hush__fail *f)
{
    json_t *req = req_text != NULL ? fixture_json(req_text) : NULL, *out = NULL;
    int rc = hush__round_close(fixture_h, c, req, &out, f);
    cr_assert(rc == 0 ? out != NULL : out == NULL);
    json_decref(req);
    json_decref(out);
    return rc;
}

static void post_votes(int tag, const char *reports)
{
    uint8_t raw[16];
    memset(raw, (uint8_t)tag, sizeof raw);
    char *b64 = hush_b64_encode(raw, sizeof raw);
    char b[1024];
    snprintf(b, sizeof b,
             "{\"campaign\":\"s\",\"round\":1,\"batch_id\":\"%s\",\"reports\":%s}", b64,
             reports);
    hush_free(b64);
    hush__fail f = {0};
    cr_assert_eq(fixture_post(fixture_h, b, NULL, &f), 200, "%s", f.err.msg);
}

Test(rounds, a_round_without_enough_reports_stays_open)
{
    hush__campaign *c = fixture_campaign(fixture_h, synthetic_spec);
    hush__fail f = {0};
    cr_assert_eq(close_round(c, NULL, &f), HUSH_ESTATE);
    cr_assert_str_eq(f.reason, "too_few_reports");
    cr_assert_eq(c->cur->round, 1);
}

Test(rounds, a_request_that_names_another_round_or_bad_metrics_is_refused)
{
    hush__campaign *c = fixture_campaign(fixture_h, synthetic_spec);
    hush__fail f = {0};
    cr_assert_eq(close_round(c, "{\"round\":2}", &f), HUSH_ESTATE);
    cr_assert_str_eq(f.reason, "round_mismatch");
    f = (hush__fail){0};
    cr_assert_eq(close_round(c, "{\"metrics\":[1]}", &f), HUSH_EINVAL);
    cr_assert_str_eq(f.reason, "invalid_metrics");
    f = (hush__fail){0};
    cr_assert_eq(close_round(c, "{\"keep\":0}", &f), HUSH_EINVAL);
    cr_assert_str_eq(f.reason, "invalid_policy");
    f = (hush__fail){0};
    cr_assert_eq(close_round(c, "{\"auto\":{\"reports\":5}}", &f), HUSH_EINVAL,
                 "\"auto\" belongs to the campaign's spec, not a close request");
    cr_assert_eq(c->cur->round, 1);
}

Test(rounds, a_close_keeps_the_voted_sample_and_opens_the_next_round)
{
    hush__campaign *c = fixture_campaign(fixture_h, synthetic_spec);
    /* candidate 1 gets almost every vote (GRR at epsilon 8 keeps ~99.9%) */
    post_votes(1, "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,0]");
    hush__fail f = {0};
    cr_assert_eq(close_round(c, "{\"metrics\":{\"note\":\"test\"}}", &f), 0, "%s: %s",
                 f.reason, f.err.msg);
    cr_assert_eq(c->cur->round, 2);
    const hush_publication *pub = c->cur->pub;
    cr_assert_eq(pub->n_candidates, 4);
    bool kept = false;
    for (size_t i = 0; i < pub->n_candidates; i++) {
        kept = kept || strcmp(pub->candidate_texts[i],
                              "your parcel is waiting at the depot") == 0;
    }
    cr_assert(kept, "the sample the votes chose is in round 2");
    char *hist = NULL;
    size_t len = 0;
    cr_assert_eq(hush__rounds_json(fixture_h, c, &hist, &len, &f), 0);
    json_t *doc = fixture_json(hist);
    json_t *r1 = json_array_get(json_object_get(doc, "rounds"), 0);
    cr_assert_eq(json_integer_value(json_object_get(r1, "n_reports")), 20);
    cr_assert_eq(json_integer_value(json_object_get(r1, "kept")), 1);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(r1, "metrics"), "note")),
        "test");
    json_decref(doc);
    hush_free(hist);
    /* round 1's estimates are frozen; round 1's batches are refused now */
    char *frozen = NULL;
    hush__est_state st;
    cr_assert_eq(hush__estimates(fixture_h, c, 1, 0, &frozen, &len, &st, &f), 0);
    cr_assert(st.round == 1 && st.version == HUSH__EST_FROZEN,
              "a closed round is frozen");
    hush_free(frozen);
}

Test(rounds, a_poll_has_no_rounds_to_close)
{
    hush__campaign *c = fixture_campaign(
        fixture_h,
        "{\"id\":\"p\",\"name\":\"P\",\"kind\":\"poll\",\"candidates\":[\"a\",\"b\"],"
        "\"epsilon\":1,\"min_reports\":0}");
    hush__fail f = {0};
    cr_assert_eq(close_round(c, NULL, &f), HUSH_ESTATE);
    cr_assert_str_eq(f.reason, "not_synthetic");
}
