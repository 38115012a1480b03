/*
 * test_campaigns.c - creating, listing, viewing, ending and archiving
 * campaigns through the domain (no HTTP), on an in-memory store: what is
 * refused comes back as a code and the API's reason, and changes nothing.
 */
#include <criterion/criterion.h>

#include "collector_fixture.h"

TestSuite(campaigns, .init = fixture_init, .fini = fixture_fini);

static const char poll_spec[] =
    "{\"id\":\"colours\",\"name\":\"Colours\",\"kind\":\"poll\","
    "\"candidates\":[\"red\",\"green\",\"blue\"],\"epsilon\":2,\"min_reports\":0}";

/* Creates from spec text: the return code, the failure in *f. */
static int create(const char *spec, hush__fail *f)
{
    json_t *req = fixture_json(spec), *out = NULL;
    int rc = hush__campaign_create(fixture_h, req, &out, f);
    cr_assert(rc == 0 ? out != NULL : out == NULL);
    json_decref(req);
    json_decref(out);
    return rc;
}

Test(campaigns, a_poll_is_created_listed_and_viewed)
{
    hush__campaign *c = fixture_campaign(fixture_h, poll_spec);
    cr_assert_str_eq(c->id, "colours");
    char *list = NULL;
    hush__fail f = {0};
    cr_assert_eq(hush__campaigns_list(fixture_h, false, &list, &f), 0);
    json_t *doc = fixture_json(list);
    cr_assert_eq(json_array_size(json_object_get(doc, "campaigns")), 1, "%s", list);
    json_decref(doc);
    hush_free(list);
    char *body = NULL, sig[128];
    size_t len = 0;
    cr_assert_eq(hush__campaign_view(fixture_h, c, false, &body, &len, sig, &f), 0);
    cr_assert_eq(strlen(body), len);
    cr_assert_gt(strlen(sig), 40, "the publication is signed");
    hush_free(body);
}

Test(campaigns, a_refusal_names_its_reason_and_changes_nothing)
{
    static const struct {
        const char *spec;
        int code;
        const char *reason;
    } cases[] = {
        {"{\"name\":\"x\",\"kind\":\"poll\",\"candidates\":[\"a\"],\"epsilon\":0}",
         HUSH_EINVAL, "invalid_epsilon"},
        {"{\"name\":\"x\",\"kind\":\"vote\",\"candidates\":[\"a\"],\"epsilon\":1}",
         HUSH_EINVAL, "invalid_kind"},
        {"{\"name\":\"x\",\"kind\":\"poll\",\"candidates\":[\"a\"],\"epsilon\":1,"
         "\"colour\":1}",
         HUSH_EINVAL, "malformed"},
        {"{\"name\":\"x\",\"kind\":\"poll\",\"candidates\":[],\"epsilon\":1}",
         HUSH_EINVAL, "invalid_candidates"},
        {"{\"name\":\"x\",\"kind\":\"poll\",\"candidates\":[\"a\"],\"epsilon\":1,"
         "\"refine\":{}}",
         HUSH_EINVAL, "malformed"},
        {"{\"name\":\"x\",\"kind\":\"poll\",\"candidates\":[\"a\"],\"epsilon\":1,"
         "\"budget\":{\"reports_per_device_per_day\":2,\"epsilon_per_device_per_day\":9}"
         "}",
         HUSH_EINVAL, "invalid_budget"},
        {"{\"id\":\"bad id\",\"name\":\"x\",\"kind\":\"poll\",\"candidates\":[\"a\"],"
         "\"epsilon\":1}",
         HUSH_EINVAL, "invalid_id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hush__fail f = {0};
        cr_assert_eq(create(cases[i].spec, &f), cases[i].code, "case %zu", i);
        cr_assert_eq(f.err.code, cases[i].code);
        cr_assert_str_eq(f.reason, cases[i].reason, "case %zu: %s", i, f.err.msg);
        cr_assert_gt(strlen(f.err.msg), 10, "a message a person can act on");
    }
    cr_assert_eq(fixture_h->n_campaigns, 0, "no refused spec left a campaign");
    fixture_campaign(fixture_h, poll_spec);
    hush__fail f = {0};
    cr_assert_eq(create(poll_spec, &f), HUSH_EEXIST);
    cr_assert_str_eq(f.reason, "exists");
    cr_assert_eq(fixture_h->n_campaigns, 1);
}

Test(campaigns, ending_and_archiving_in_that_order)
{
    hush__campaign *c = fixture_campaign(fixture_h, poll_spec);
    hush__compaction cr = {0};
    hush__fail f = {0};
    int64_t when = 0;
    cr_assert_eq(hush__campaign_archive(fixture_h, c, &when, &cr, &f), HUSH_ESTATE);
    cr_assert_str_eq(f.reason, "campaign_active");
    hush_err err = {0};
    cr_assert_eq(hush__campaign_end(fixture_h, c, &err), 0, "%s", err.msg);
    cr_assert(hush__campaign_ended(c, hush__wall()));
    cr_assert_eq(hush__campaign_end(fixture_h, c, &err), HUSH_ESTATE, "ending twice");
    /* devices no longer get it; analysts still do */
    char *body = NULL, sig[128];
    size_t len = 0;
    f = (hush__fail){0};
    cr_assert_eq(hush__campaign_view(fixture_h, c, true, &body, &len, sig, &f),
                 HUSH_ESTATE);
    cr_assert_str_eq(f.reason, "campaign_ended");
    cr_assert_eq(hush__campaign_view(fixture_h, c, false, &body, &len, sig, &f), 0);
    hush_free(body);
    f = (hush__fail){0};
    cr_assert_eq(hush__campaign_archive(fixture_h, c, &when, &cr, &f), 0, "%s",
                 f.err.msg);
    cr_assert_gt(when, 0);
    f = (hush__fail){0};
    cr_assert_eq(hush__campaign_archive(fixture_h, c, &when, &cr, &f), HUSH_ESTATE);
    cr_assert_str_eq(f.reason, "campaign_archived");
}

/* (called under the store's lock, which hushd never holds while taking the
 * campaigns lock; one thread here, so the order cannot deadlock) */
static int install_row_again(void *ctx, const hush__campaign_row *row, hush_err *err)
{
    int *rc = ctx;
    *rc = hush__campaign_from_row(fixture_h, row, err);
    return 0;
}

/* On a shared store a node's poller may read the row of a campaign this
 * node is creating and install it first: the second install is refused,
 * never a second campaign with the same id. */
Test(campaigns, a_campaign_is_installed_once_whoever_comes_second)
{
    fixture_campaign(fixture_h, poll_spec);
    cr_assert_eq(fixture_h->n_campaigns, 1);
    int rc = 0;
    hush_err err = {0};
    cr_assert_eq(fixture_h->store->ops->campaigns_each(fixture_h->store,
                                                       install_row_again, &rc, &err),
                 0);
    cr_assert_eq(rc, HUSH_EEXIST, "%s", err.msg);
    cr_assert_eq(fixture_h->n_campaigns, 1, "still one campaign with that id");
}
