/*
 * test_ingest.c - report batches through the domain: accepted, committed
 * by the writer and counted, or refused under a named reason and counted
 * as refused; duplicates acknowledged once; estimates as the counts say.
 */
#include <criterion/criterion.h>
#include <stdio.h>

#include "collector_fixture.h"

TestSuite(ingest, .init = fixture_init, .fini = fixture_fini);

/* GRR on 3 candidates (+ nothing else: a poll), no minimum. */
static const char poll_spec[] =
    "{\"id\":\"p\",\"name\":\"P\",\"kind\":\"poll\",\"candidates\":[\"a\",\"b\",\"c\"],"
    "\"epsilon\":4,\"mechanism\":\"grr\",\"min_reports\":0}";

/* A batch of GRR reports with batch id number `tag`. */
static void batch(char *out, size_t cap, const char *campaign, unsigned round, int tag,
                  const char *reports)
{
    uint8_t raw[16];
    memset(raw, (uint8_t)tag, sizeof raw);
    char *b64 = hush_b64_encode(raw, sizeof raw);
    snprintf(out, cap,
             "{\"campaign\":\"%s\",\"round\":%u,\"batch_id\":\"%s\",\"reports\":%s}",
             campaign, round, b64, reports);
    hush_free(b64);
}

Test(ingest, a_batch_is_counted_once)
{
    hush__campaign *c = fixture_campaign(fixture_h, poll_spec);
    char b[512];
    batch(b, sizeof b, "p", 1, 1, "[0,0,1]");
    bool dup = true;
    hush__fail f = {0};
    cr_assert_eq(fixture_post(fixture_h, b, &dup, &f), 200, "%s", f.err.msg);
    cr_assert(!dup);
    cr_assert_eq(fixture_post(fixture_h, b, &dup, &f), 200);
    cr_assert(dup, "the same batch id again: acknowledged, not counted");
    cr_assert_eq(c->reports_accepted, 3);
    cr_assert_eq(c->batches_rejected[REJECT_DUPLICATE], 1);
    char *body = NULL;
    size_t len = 0;
    hush__est_state st, now;
    cr_assert_eq(hush__estimates(fixture_h, c, 0, 0, &body, &len, &st, &f), 0, "%s",
                 f.err.msg);
    json_t *doc = fixture_json(body);
    cr_assert_eq(json_integer_value(json_object_get(doc, "n_reports")), 3);
    cr_assert_eq(json_array_size(json_object_get(doc, "items")), 3);
    json_decref(doc);
    hush_free(body);
    /* the state the ETag names: unchanged by a duplicate, moved by a batch */
    hush__estimates_state(fixture_h, c, 0, &now);
    cr_assert(now.round == 1 && st.round == 1 && now.version == st.version);
    batch(b, sizeof b, "p", 1, 2, "[1]");
    cr_assert_eq(fixture_post(fixture_h, b, &dup, &f), 200, "%s", f.err.msg);
    hush__estimates_state(fixture_h, c, 0, &now);
    cr_assert_neq(now.version, st.version, "a counted batch changes the version");
    hush__estimates_state(fixture_h, c, 2, &now);
    cr_assert_eq(now.round, 0, "a round not open yet has no state");
}

Test(ingest, refusals_are_named_and_counted)
{
    hush__campaign *c = fixture_campaign(fixture_h, poll_spec);
    char b[512];
    hush__fail f = {0};
    batch(b, sizeof b, "nope", 1, 2, "[0]");
    cr_assert_eq(fixture_post(fixture_h, b, NULL, &f), -HUSH_ENOTFOUND);
    cr_assert_str_eq(f.reason, "unknown_campaign");
    cr_assert_eq(fixture_h->metrics.batches_rejected[REJECT_UNKNOWN_CAMPAIGN], 1);
    f = (hush__fail){0};
    batch(b, sizeof b, "p", 2, 3, "[0]");
    cr_assert_eq(fixture_post(fixture_h, b, NULL, &f), -HUSH_ESTATE);
    cr_assert_str_eq(f.reason, "round_closed");
    cr_assert_eq(c->batches_rejected[REJECT_ROUND], 1);
    f = (hush__fail){0};
    batch(b, sizeof b, "p", 1, 4, "[7]");
    cr_assert_eq(fixture_post(fixture_h, b, NULL, &f), -HUSH_EINVAL);
    cr_assert_str_eq(f.reason, "invalid_report");
    cr_assert_eq(c->batches_rejected[REJECT_INVALID], 1);
    f = (hush__fail){0};
    cr_assert_eq(fixture_post(fixture_h, "{\"campaign\":\"p\"}", NULL, &f), -HUSH_EINVAL);
    cr_assert_str_eq(f.reason, "malformed");
    f = (hush__fail){0};
    cr_assert_eq(fixture_post(fixture_h, "{\"sealed\":\"bm90IHNlYWxlZA==\"}", NULL, &f),
                 -HUSH_EINVAL);
    cr_assert_str_eq(f.reason, "sealed");
    cr_assert_eq(c->reports_accepted, 0, "nothing refused was counted");
}

Test(ingest, estimates_of_rounds_that_do_not_exist_and_tops_too_large)
{
    hush__campaign *c = fixture_campaign(fixture_h, poll_spec);
    char *body = NULL;
    size_t len = 0;
    hush__fail f = {0};
    hush__est_state st;
    cr_assert_eq(hush__estimates(fixture_h, c, 5, 0, &body, &len, &st, &f),
                 HUSH_ENOTFOUND);
    cr_assert_str_eq(f.reason, "unknown_round");
    f = (hush__fail){0};
    cr_assert_eq(hush__estimates(fixture_h, c, 0, 4, &body, &len, &st, &f), HUSH_EINVAL);
    cr_assert_str_eq(f.reason, "invalid_top");
    cr_assert_null(body);
}

Test(ingest, an_ended_campaign_takes_no_reports)
{
    hush__campaign *c = fixture_campaign(fixture_h, poll_spec);
    hush_err err = {0};
    cr_assert_eq(hush__campaign_end(fixture_h, c, &err), 0);
    char b[512];
    batch(b, sizeof b, "p", 1, 5, "[0]");
    hush__fail f = {0};
    cr_assert_eq(fixture_post(fixture_h, b, NULL, &f), -HUSH_ESTATE);
    cr_assert_str_eq(f.reason, "campaign_ended");
    cr_assert_eq(c->batches_rejected[REJECT_ENDED], 1);
}
