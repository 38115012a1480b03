/*
 * test_agent.c - the device agent: signatures, campaign documents, the
 * budget ledger (restarts, crashes, corruption), determinism, matching,
 * sealing, and that no local text ever leaves the agent's memory.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "device_fixture.h"
#include "device_internal.h"
#include <xxhash.h>

#define DAY 86400
#define T0 (20000 * (int64_t)DAY + 3600) /* some day, 01:00 UTC */

static const char grr3[] = "{\"name\":\"grr\",\"domain\":3,\"epsilon\":1}";

/* What most tests start from: the collector's keys (seed 1), a fresh state
 * directory, and the clock at T0 (tests move `now` forward). */
static fx_keys agent_keys;
static char *agent_dir;
static int64_t agent_now;

static void agent_setup(void)
{
    fx_keys_make(&agent_keys, 1);
    agent_dir = fx_tmpdir();
    agent_now = T0;
}

static void agent_teardown(void)
{
    fx_rmdir(agent_dir);
    agent_dir = NULL;
}

static hush_agent *open_ok(const hush_agent_config *cfg)
{
    hush_agent *a = NULL;
    hush_err err = {0};
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_open(cfg, &a, &err), 0, "open: %s", err.msg);
    return a;
}

static hush_campaign *accept_ok(hush_agent *a, const fx_pub *p)
{
    hush_campaign *c = NULL;
    hush_err err = {0};
    hush_err_clear(&err);
    cr_assert_eq(
        hush_agent_accept_campaign(a, p->id, p->body, p->len, p->signature, &c, &err), 0,
        "accept: %s", err.msg);
    return c;
}

/* One poll batch; returns the code, *out the batch (hush_free). */
static int poll_batch(hush_agent *a, const hush_campaign *c, const char *value, bool seal,
                      char **out, hush_err *err)
{
    size_t len = 0;
    hush_batch_options opt = {.seal = seal};
    *out = NULL;
    return hush_agent_make_poll_batch(a, c, value, strlen(value), &opt, out, &len, err);
}

static uint32_t spent_reports(const hush_agent *a, const char *campaign)
{
    double eps = 0;
    uint32_t n = 0;
    cr_assert_eq(hush_agent_spent_today(a, campaign, &eps, &n), 0);
    return n;
}

/* The single integer report of a GRR batch. */
static long grr_report(const char *batch)
{
    json_t *doc = json_loads(batch, 0, NULL);
    cr_assert_not_null(doc, "batch is JSON: %s", batch);
    json_t *r = json_object_get(doc, "reports");
    cr_assert_eq(json_array_size(r), 1, "%s", batch);
    long v = (long)json_integer_value(json_array_get(r, 0));
    json_decref(doc);
    return v;
}

Test(agent, version_and_open_errors, .init = agent_setup, .fini = agent_teardown)
{
    cr_assert_str_eq(hush_device_version(), HUSH_DEVICE_VERSION_STRING);
    hush_agent *a = NULL;
    hush_err err = {0};
    hush_agent_config cfg = fx_config(NULL, &agent_keys, &agent_now, NULL);
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_open(&cfg, &a, &err), HUSH_EINVAL);
    cr_assert(strstr(err.msg, "state directory") != NULL, "%s", err.msg);
    cfg = fx_config(agent_dir, &agent_keys, &agent_now, NULL);
    memset(cfg.collector_key, 0, 32);
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_open(&cfg, &a, &err), HUSH_EINVAL);
    cr_assert(strstr(err.msg, "signing key") != NULL, "%s", err.msg);
    cfg = fx_config(agent_dir, &agent_keys, &agent_now, NULL);
    cfg.max_epsilon_per_day = -1;
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_open(&cfg, &a, &err), HUSH_ERANGE);
    cfg.max_epsilon_per_day = NAN;
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_open(&cfg, &a, &err), HUSH_ERANGE);
    cfg = fx_config(agent_dir, &agent_keys, &agent_now, NULL);
    cfg.max_samples = 1u << 30;
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_open(&cfg, &a, &err), HUSH_ERANGE);
    /* a state "directory" that is a file */
    char file[1100];
    snprintf(file, sizeof file, "%s/plain", agent_dir);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fclose(f);
    cfg = fx_config(file, &agent_keys, &agent_now, NULL);
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_open(&cfg, &a, &err), HUSH_EIO, "%s", err.msg);
    cr_assert_null(a);
    hush_agent_close(NULL);
    hush_campaign_free(NULL);
}

Test(agent, signature_checks_reject_and_report_nothing)
{
    fx_keys k, other;
    fx_keys_make(&k, 1);
    fx_keys_make(&other, 2);
    char *dir = fx_tmpdir();
    int64_t now = T0;
    hush_agent_config cfg = fx_config(dir, &k, &now, NULL);
    hush_agent *a = open_ok(&cfg);
    char ledger[1100];
    snprintf(ledger, sizeof ledger, "%s/ledger", dir);
    char *before = fx_read(ledger, NULL);
    fx_pub p, forged;
    fx_poll(&p, &k, grr3, 3, 3.0);
    fx_poll(&forged, &other, grr3, 3, 3.0);
    hush_campaign *c = NULL;
    hush_err err = {0};
    /* tampered body: one byte of the name */
    char *t = strdup(p.body);
    *strstr(t, "Emoji") = 'e';
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_accept_campaign(a, "emoji", t, p.len, p.signature, &c, &err),
                 HUSH_ESIGNATURE);
    cr_assert_null(c);
    /* a body cut short, or with a byte more */
    hush_err_clear(&err);
    cr_assert_eq(
        hush_agent_accept_campaign(a, p.id, p.body, p.len - 1, p.signature, &c, &err),
        HUSH_ESIGNATURE);
    /* signed by another key */
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_accept_campaign(a, forged.id, forged.body, forged.len,
                                            forged.signature, &c, &err),
                 HUSH_ESIGNATURE);
    cr_assert(strstr(err.msg, "pinned") != NULL, "%s", err.msg);
    /* the right document with the wrong signature */
    hush_err_clear(&err);
    cr_assert_eq(
        hush_agent_accept_campaign(a, p.id, p.body, p.len, forged.signature, &c, &err),
        HUSH_ESIGNATURE);
    /* missing and malformed signatures */
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_accept_campaign(a, p.id, p.body, p.len, NULL, &c, &err),
                 HUSH_ESIGNATURE);
    cr_assert(strstr(err.msg, "not signed") != NULL, "%s", err.msg);
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_accept_campaign(a, p.id, p.body, p.len, "", &c, &err),
                 HUSH_ESIGNATURE);
    hush_err_clear(&err);
    cr_assert_eq(
        hush_agent_accept_campaign(a, p.id, p.body, p.len, "!!not base64!!", &c, &err),
        HUSH_ESIGNATURE);
    cr_assert_null(c);
    /* nothing was charged or written */
    cr_assert_eq(spent_reports(a, NULL), 0);
    char *after = fx_read(ledger, NULL);
    cr_assert_str_eq(before, after);
    /* and the genuine one is accepted */
    c = accept_ok(a, &p);
    cr_assert_str_eq(hush_campaign_id(c), "emoji");
    cr_assert_eq(hush_campaign_round(c), 1);
    cr_assert(hush_campaign_is_poll(c));
    cr_assert_float_eq(hush_campaign_epsilon(c), 1.0, 1e-12);
    hush_campaign_free(c);
    free(t);
    free(before);
    free(after);
    fx_pub_free(&p);
    fx_pub_free(&forged);
    hush_agent_close(a);
    fx_rmdir(dir);
}

/* A correctly signed but invalid document is refused for what it is. */
static void refused_doc(hush_agent *a, const fx_keys *k, const char *body,
                        const char *fragment)
{
    fx_pub p;
    fx_pub_sign(&p, k, body, strlen(body));
    hush_campaign *c = NULL;
    hush_err err = {0};
    int rc = hush_agent_accept_campaign(a, p.id[0] ? p.id : "x", p.body, p.len,
                                        p.signature, &c, &err);
    cr_assert(rc == HUSH_EINVAL || rc == HUSH_ERANGE || rc == HUSH_ECORRUPT,
              "rc %d for %s (%s)", rc, body, err.msg);
    cr_assert_null(c);
    cr_assert(strstr(err.msg, fragment) != NULL, "\"%s\" lacks \"%s\"", err.msg,
              fragment);
    fx_pub_free(&p);
}

Test(agent, bad_campaign_documents_are_refused, .init = agent_setup,
     .fini = agent_teardown)
{
    hush_agent_config cfg = fx_config(agent_dir, &agent_keys, &agent_now, NULL);
    hush_agent *a = open_ok(&cfg);
    fx_pub good;
    fx_poll(&good, &agent_keys, grr3, 3, 3.0);
    struct {
        const char *from, *to, *fragment;
    } cases[] = {
        {"\"kind\":\"poll\"", "\"kind\":\"survey\"", "kind"},
        {"\"domain\":3", "\"domain\":4", "domain is 4"},
        {"\"epsilon\":1}", "\"epsilon\":0}", "epsilon"},
        {"\"epsilon\":1}", "\"epsilon\":31}", "epsilon"},
        {"\"reports_per_device_per_day\":3", "\"reports_per_device_per_day\":0",
         "budget"},
        {"\"round\":1", "\"round\":\"1\"", "round"},
        {"{\"id\":\"b\"", "{\"id\":\"a\"", "repeats"},
        {"{\"id\":\"b\"", "{\"id\":\"none\"", "reserved"},
        {"\"sealing_key\":\"", "\"sealing_key\":\"AAAA", "sealing_key"},
        {"\"campaign\":\"emoji\"", "\"campaign\":\"\"", "campaign"},
        {"{\"campaign\"", "[{\"campaign\"", "JSON"},
        {"\"kind\":\"poll\"", "\"kind\":\"poll\",\"candidate_count\":3",
         "candidate_count"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *at = strstr(good.body, cases[i].from);
        cr_assert_not_null(at, "test bug: %s", cases[i].from);
        char doc[4096];
        snprintf(doc, sizeof doc, "%.*s%s%s", (int)(at - good.body), good.body,
                 cases[i].to, at + strlen(cases[i].from));
        refused_doc(a, &agent_keys, doc, cases[i].fragment);
    }
    refused_doc(a, &agent_keys, "", "JSON");
    refused_doc(a, &agent_keys, "{}", "campaign");
    /* a synthetic document whose matrix does not fit its candidates */
    fx_pub syn;
    fx_synthetic(&syn, &agent_keys, 1.0, 0.2, 1, 1.0, false);
    char *doc = strdup(syn.body);
    char *cc = strstr(doc, "\"domain\":5");
    cr_assert_not_null(cc);
    cc[9] = '4';
    refused_doc(a, &agent_keys, doc, "domain");
    free(doc);
    cr_assert_eq(spent_reports(a, NULL), 0);
    fx_pub_free(&syn);
    fx_pub_free(&good);
    hush_agent_close(a);
}

Test(agent, budget_holds_across_restarts_and_days, .init = agent_setup,
     .fini = agent_teardown)
{
    hush_agent_config cfg = fx_config(agent_dir, &agent_keys, &agent_now, NULL);
    fx_pub p;
    /* 3 reports a day by count, but epsilon 2.5 a day allows 2 of epsilon 1 */
    fx_poll(&p, &agent_keys, grr3, 3, 2.5);
    hush_err err = {0};
    char *b = NULL;
    for (int i = 0; i < 2; i++) {
        /* a restart between reports: a new agent on the same directory */
        hush_agent *a = open_ok(&cfg);
        hush_campaign *c = accept_ok(a, &p);
        hush_err_clear(&err);
        cr_assert_eq(poll_batch(a, c, "fire", false, &b, &err), 0, "%s", err.msg);
        hush_free(b);
        cr_assert_eq(spent_reports(a, "emoji"), (uint32_t)i + 1);
        hush_campaign_free(c);
        hush_agent_close(a);
    }
    hush_agent *a = open_ok(&cfg);
    hush_campaign *c = accept_ok(a, &p);
    uint32_t allowed = 99;
    const char *why = NULL;
    cr_assert_eq(hush_agent_reports_allowed(a, c, &allowed, &why), 0);
    cr_assert_eq(allowed, 0);
    cr_assert(strstr(why, "epsilon") != NULL, "%s", why);
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, c, "fire", false, &b, &err), HUSH_EBUDGET);
    cr_assert_null(b);
    cr_assert(strstr(err.msg, "campaign's epsilon per device per day") != NULL, "%s",
              err.msg);
    double eps = 0;
    uint32_t n = 0;
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_spent_today(a, NULL, &eps, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_float_eq(eps, 2.0, 1e-12);
    /* the next UTC day starts afresh */
    agent_now += DAY;
    cr_assert_eq(spent_reports(a, "emoji"), 0);
    cr_assert_eq(hush_agent_reports_allowed(a, c, &allowed, NULL), 0);
    cr_assert_eq(allowed, 2, "epsilon 2.5 a day allows two reports of epsilon 1");
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, c, "fire", false, &b, &err), 0, "%s", err.msg);
    hush_free(b);
    hush_campaign_free(c);
    hush_agent_close(a);
    /* the report count binds when epsilon does not */
    fx_pub q;
    fx_poll(&q, &agent_keys, grr3, 1, 10.0);
    a = open_ok(&cfg);
    c = accept_ok(a, &q);
    cr_assert_eq(spent_reports(a, "emoji"), 1);
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, c, "fire", false, &b, &err), HUSH_EBUDGET);
    cr_assert(strstr(err.msg, "campaign's reports per device per day") != NULL, "%s",
              err.msg);
    hush_campaign_free(c);
    hush_agent_close(a);
    fx_pub_free(&p);
    fx_pub_free(&q);
}

Test(agent, app_policy_caps_the_device, .init = agent_setup, .fini = agent_teardown)
{
    hush_agent_config cfg = fx_config(agent_dir, &agent_keys, &agent_now, NULL);
    cfg.max_reports_per_day = 1;
    fx_pub p;
    fx_poll(&p, &agent_keys, grr3, 100, 100.0);
    hush_agent *a = open_ok(&cfg);
    hush_campaign *c = accept_ok(a, &p);
    hush_err err = {0};
    char *b = NULL;
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, c, "fire", false, &b, &err), 0, "%s", err.msg);
    hush_free(b);
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, c, "fire", false, &b, &err), HUSH_EBUDGET);
    cr_assert(strstr(err.msg, "app's reports") != NULL, "%s", err.msg);
    hush_agent_close(a);
    cfg.max_reports_per_day = 0;
    cfg.max_epsilon_per_day = 1.5; /* one more report of epsilon 1 would exceed it */
    a = open_ok(&cfg);
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, c, "fire", false, &b, &err), HUSH_EBUDGET);
    cr_assert(strstr(err.msg, "app's epsilon") != NULL, "%s", err.msg);
    hush_campaign_free(c);
    hush_agent_close(a);
    fx_pub_free(&p);
}

/*
 * A crash between the ledger write and the send: the child makes a batch
 * (charged on disk before it is returned) and dies before sending it.  The
 * report is lost; the charge is not.
 */
Test(agent, crash_after_the_charge_keeps_the_charge, .init = agent_setup,
     .fini = agent_teardown)
{
    hush_agent_config cfg = fx_config(agent_dir, &agent_keys, &agent_now, NULL);
    fx_pub p;
    fx_poll(&p, &agent_keys, grr3, 2, 2.0);
    hush_agent_close(open_ok(&cfg)); /* the ledger exists */
    for (int crash = 0; crash < 2; crash++) {
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            hush_agent *a = NULL;
            hush_campaign *c = NULL;
            char *b = NULL;
            size_t len = 0;
            if (hush_agent_open(&cfg, &a, NULL) != 0 ||
                hush_agent_accept_campaign(a, p.id, p.body, p.len, p.signature, &c,
                                           NULL) != 0 ||
                hush_agent_make_poll_batch(a, c, "fire", 4, NULL, &b, &len, NULL) != 0) {
                _exit(1);
            }
            if (crash == 0) {
                raise(SIGKILL); /* killed before the send */
            }
            _exit(0); /* or exits without sending */
        }
        int status = 0;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(crash == 0 ? WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL
                             : WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child status %d", status);
        hush_agent *a = open_ok(&cfg);
        cr_assert_eq(spent_reports(a, "emoji"), (uint32_t)crash + 1,
                     "the charge survived");
        hush_agent_close(a);
    }
    /* both reports of the day are spent, though none was sent */
    hush_agent *a = open_ok(&cfg);
    hush_campaign *c = accept_ok(a, &p);
    char *b = NULL;
    hush_err err = {0};
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, c, "fire", false, &b, &err), HUSH_EBUDGET);
    hush_campaign_free(c);
    hush_agent_close(a);
    fx_pub_free(&p);
}

/* A crash while the ledger was being written leaves a torn temporary file:
 * it is ignored, and the last complete ledger stands. */
Test(agent, torn_temporary_ledger_is_ignored, .init = agent_setup, .fini = agent_teardown)
{
    hush_agent_config cfg = fx_config(agent_dir, &agent_keys, &agent_now, NULL);
    fx_pub p;
    fx_poll(&p, &agent_keys, grr3, 5, 5.0);
    hush_agent *a = open_ok(&cfg);
    hush_campaign *c = accept_ok(a, &p);
    hush_err err = {0};
    char *b = NULL;
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, c, "fire", false, &b, &err), 0, "%s", err.msg);
    hush_free(b);
    hush_agent_close(a);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s/ledger.tmp", agent_dir);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fputs("hush-ledger 1\nday 20000\ndevice 00000", f); /* cut mid-line */
    fclose(f);
    a = open_ok(&cfg);
    cr_assert_eq(spent_reports(a, "emoji"), 1);
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, c, "fire", false, &b, &err), 0, "%s", err.msg);
    hush_free(b);
    hush_agent_close(a);
    a = open_ok(&cfg);
    cr_assert_eq(spent_reports(a, "emoji"), 2);
    cr_assert_eq(access(tmp, F_OK), -1, "the temporary file was renamed over the ledger");
    hush_campaign_free(c);
    hush_agent_close(a);
    fx_pub_free(&p);
}

static void expect_fails_closed(const hush_agent_config *cfg, const char *fragment)
{
    hush_agent *a = NULL;
    hush_err err = {0};
    int rc = hush_agent_open(cfg, &a, &err);
    cr_assert_eq(rc, HUSH_ECORRUPT, "case \"%s\": rc %d, %s", fragment, rc, err.msg);
    cr_assert_null(a);
    cr_assert(strstr(err.msg, fragment) != NULL &&
                  strstr(err.msg, "fails closed") != NULL,
              "%s", err.msg);
}

Test(agent, corrupt_or_missing_ledger_fails_closed, .init = agent_setup,
     .fini = agent_teardown)
{
    hush_agent_config cfg = fx_config(agent_dir, &agent_keys, &agent_now, NULL);
    fx_pub p;
    fx_poll(&p, &agent_keys, grr3, 5, 5.0);
    hush_agent *a = open_ok(&cfg);
    hush_campaign *c = accept_ok(a, &p);
    hush_err err = {0};
    char *b = NULL;
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, c, "fire", false, &b, &err), 0, "%s", err.msg);
    hush_free(b);
    hush_campaign_free(c);
    hush_agent_close(a);
    char path[1100];
    snprintf(path, sizeof path, "%s/ledger", agent_dir);
    size_t len = 0;
    char *good = fx_read(path, &len);
    cr_assert_not_null(good);
    /* one changed digit: "campaign emoji <bits> 1" becomes "... 0" */
    char *bad = strdup(good);
    char *line = strstr(bad, "campaign emoji ");
    cr_assert_not_null(line);
    *strchr(line, '\n') = '\0';
    line[strlen(line) - 1] = '0';
    line[strlen(line)] = '\n';
    struct {
        const char *text;
        size_t len;
        const char *fragment;
    } cases[] = {
        {bad, len, "corrupt"},      {good, len / 2, "ledger"}, {"", 0, "ledger"},
        {"garbage\n", 8, "ledger"}, {good, len - 1, "ledger"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(cases[i].text, 1, cases[i].len, f), cases[i].len);
        fclose(f);
        expect_fails_closed(&cfg, cases[i].fragment);
    }
    /* lost: the directory had a ledger, so a missing one is not a new start */
    cr_assert_eq(unlink(path), 0);
    expect_fails_closed(&cfg, "missing");
    /* restoring the good ledger restores the agent */
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(good, 1, len, f), len);
    fclose(f);
    a = open_ok(&cfg);
    cr_assert_eq(spent_reports(a, "emoji"), 1);
    hush_agent_close(a);
    free(bad);
    free(good);
    fx_pub_free(&p);
}

static const char *const local_texts[] = {
    "my bank pin is 4921 and my dog is rex",
    "call mom at six about the lab test",
    "lunch with dana on the roof, she owes me ten",
    "the package you ordered has shipped and will arrive on monday",
};
#define N_LOCAL (sizeof local_texts / sizeof local_texts[0])

static void add_local(hush_agent *a)
{
    hush_err err = {0};
    for (size_t i = 0; i < N_LOCAL; i++) {
        hush_err_clear(&err);
        cr_assert_eq(
            hush_agent_add_sample(a, local_texts[i], strlen(local_texts[i]), &err), 0,
            "%s", err.msg);
    }
}

/* A synthetic batch from a fresh agent seeded with `seed_byte`. */
static char *seeded_batch(const fx_keys *k, const fx_pub *p, uint8_t seed_byte, bool seal)
{
    char *dir = fx_tmpdir();
    int64_t now = T0;
    uint8_t seed[32];
    memset(seed, seed_byte, sizeof seed);
    hush_agent_config cfg = fx_config(dir, k, &now, seed);
    hush_agent *a = open_ok(&cfg);
    add_local(a);
    hush_campaign *c = accept_ok(a, p);
    char *b = NULL;
    size_t len = 0;
    hush_err err = {0};
    hush_batch_options opt = {.seal = seal};
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_make_report_batch(a, c, &opt, &b, &len, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(strlen(b), len);
    hush_campaign_free(c);
    hush_agent_close(a);
    fx_rmdir(dir);
    return b;
}

Test(agent, seeded_batches_are_deterministic)
{
    fx_keys k;
    fx_keys_make(&k, 1);
    fx_pub full, dev;
    fx_synthetic(&full, &k, 2.0, 0.2, 3, 6.0, false);
    fx_synthetic(&dev, &k, 2.0, 0.2, 3, 6.0, true);
    char *x = seeded_batch(&k, &full, 7, false);
    char *y = seeded_batch(&k, &full, 7, false);
    char *z = seeded_batch(&k, &dev, 7, false);
    char *w = seeded_batch(&k, &full, 8, false);
    cr_assert_str_eq(x, y, "same seed, same batch");
    cr_assert_str_eq(x, z,
                     "the device view gives the same batch as the full publication");
    cr_assert_str_neq(x, w, "another seed, another batch");
    json_t *doc = json_loads(x, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(doc, "reports")), 3,
                 "as many reports as the campaign allows a day");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "campaign")), "mail");
    json_decref(doc);
    hush_free(x);
    hush_free(y);
    hush_free(z);
    hush_free(w);
    fx_pub_free(&full);
    fx_pub_free(&dev);
}

/* Every 8-byte window of every local text (each has a space or comma at
 * least every 8 bytes, so base64 and JSON syntax cannot contain one by
 * chance). */
static bool contains(const char *hay, size_t len, const char *needle, size_t n)
{
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(hay + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

static void assert_no_local_text(const char *what, const char *hay, size_t len)
{
    for (size_t i = 0; i < N_LOCAL; i++) {
        size_t n = strlen(local_texts[i]);
        for (size_t j = 0; j + 8 <= n; j++) {
            cr_assert(!contains(hay, len, local_texts[i] + j, 8),
                      "%s contains \"%.8s\" of a local text", what, local_texts[i] + j);
        }
    }
}

Test(agent, no_local_text_in_any_output, .init = agent_setup, .fini = agent_teardown)
{
    hush_agent_config cfg = fx_config(agent_dir, &agent_keys, &agent_now, NULL);
    hush_agent *a = open_ok(&cfg);
    add_local(a);
    fx_pub syn, poll, sketch;
    fx_synthetic(&syn, &agent_keys, 2.0, 0.2, 10, 20.0, true);
    fx_poll(&poll, &agent_keys, grr3, 10, 10.0);
    fx_poll(&sketch, &agent_keys,
            "{\"name\":\"cms\",\"domain\":3,\"epsilon\":2,\"sketch_rows\":4,"
            "\"sketch_cols\":32,\"hash_seed\":\"9\"}",
            10, 20.0);
    hush_campaign *cs = accept_ok(a, &syn), *cp = accept_ok(a, &poll),
                  *ck = accept_ok(a, &sketch);
    hush_err err = {0};
    for (int seal = 0; seal < 2; seal++) {
        char *b = NULL;
        size_t len = 0;
        hush_batch_options opt = {.seal = seal, .max_reports = 4};
        hush_err_clear(&err);
        cr_assert_eq(hush_agent_make_report_batch(a, cs, &opt, &b, &len, &err), 0, "%s",
                     err.msg);
        assert_no_local_text("a synthetic batch", b, len);
        hush_free(b);
        /* a poll value outside the candidates, reported by its key */
        hush_err_clear(&err);
        cr_assert_eq(poll_batch(a, ck, local_texts[1], seal, &b, &err), 0, "%s", err.msg);
        assert_no_local_text("a sketch poll batch", b, strlen(b));
        hush_free(b);
        /* refused values do not echo the value */
        hush_err_clear(&err);
        cr_assert_eq(poll_batch(a, cp, local_texts[0], seal, &b, &err), HUSH_ENOTFOUND);
        assert_no_local_text("an error message", err.msg, strlen(err.msg));
    }
    /* too long a sample: refused without quoting it */
    cfg.max_sample_bytes = 10;
    hush_agent_close(a);
    a = open_ok(&cfg);
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_add_sample(a, local_texts[0], strlen(local_texts[0]), &err),
                 HUSH_ETOOBIG);
    assert_no_local_text("an error message", err.msg, strlen(err.msg));
    /* and nothing on disk: every file of the state directory */
    const char *names[] = {"ledger", "agent-initialised", "ledger.tmp", "lock",
                           "device-secret"};
    for (size_t i = 0; i < 5; i++) {
        char path[1100];
        snprintf(path, sizeof path, "%s/%s", agent_dir, names[i]);
        size_t len = 0;
        char *text = fx_read(path, &len);
        if (text != NULL) {
            assert_no_local_text(names[i], text, len);
            free(text);
        }
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 4", agent_dir);
    cr_assert_eq(system(cmd), 0,
                 "the state directory holds the ledger, its marker, the lock and the "
                 "device secret only");
    hush_campaign_free(cs);
    hush_campaign_free(cp);
    hush_campaign_free(ck);
    hush_agent_close(a);
    fx_pub_free(&syn);
    fx_pub_free(&poll);
    fx_pub_free(&sketch);
}

/* With epsilon 20, GRR keeps the true value with probability
 * e^20 / (e^20 + 4) > 1 - 1e-8: the report shows the match. */
static long matched_vote(const char *text, double threshold)
{
    fx_keys k;
    fx_keys_make(&k, 1);
    fx_pub p;
    fx_synthetic(&p, &k, 20.0, threshold, 1, 20.0, true);
    char *dir = fx_tmpdir();
    int64_t now = T0;
    uint8_t seed[32] = {3};
    hush_agent_config cfg = fx_config(dir, &k, &now, seed);
    hush_agent *a = open_ok(&cfg);
    hush_err err = {0};
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_add_sample(a, text, strlen(text), &err), 0);
    hush_campaign *c = accept_ok(a, &p);
    char *b = NULL;
    size_t len = 0;
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_make_report_batch(a, c, NULL, &b, &len, &err), 0, "%s",
                 err.msg);
    long v = grr_report(b);
    hush_free(b);
    hush_campaign_free(c);
    hush_agent_close(a);
    fx_pub_free(&p);
    fx_rmdir(dir);
    return v;
}

Test(agent, synthetic_votes_go_to_the_nearest_candidate_or_none)
{
    for (long i = 0; i < 4; i++) {
        cr_assert_eq(matched_vote(fx_synthetic_texts[i], 0.2), i);
    }
    cr_assert_eq(matched_vote("the package you ordered has shipped", 0.2), 2,
                 "a near paraphrase matches its candidate");
    cr_assert_eq(matched_vote("zebra quokka xylophone", 0.5), 4,
                 "an unrelated text votes for \"none\" (the last item)");
}

Test(agent, poll_values_by_text_id_or_key, .init = agent_setup, .fini = agent_teardown)
{
    hush_agent_config cfg = fx_config(agent_dir, &agent_keys, &agent_now, NULL);
    hush_agent *a = open_ok(&cfg);
    fx_pub p, syn;
    fx_poll(&p, &agent_keys, "{\"name\":\"grr\",\"domain\":3,\"epsilon\":20}", 10, 200.0);
    fx_synthetic(&syn, &agent_keys, 1.0, 0.2, 1, 1.0, true);
    hush_campaign *c = accept_ok(a, &p), *cs = accept_ok(a, &syn);
    hush_err err = {0};
    char *b = NULL;
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, c, "fire", false, &b, &err), 0, "%s", err.msg);
    cr_assert_eq(grr_report(b), 1, "by text");
    hush_free(b);
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, c, "c", false, &b, &err), 0, "%s", err.msg);
    cr_assert_eq(grr_report(b), 2, "by id");
    hush_free(b);
    cr_assert_eq(spent_reports(a, "emoji"), 2);
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, c, "dragon", false, &b, &err), HUSH_ENOTFOUND);
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, c, "", false, &b, &err), HUSH_EINVAL);
    cr_assert_eq(spent_reports(a, "emoji"), 2, "refused values cost nothing");
    /* the wrong call for the campaign's kind, or no sample */
    size_t len = 0;
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_make_report_batch(a, c, NULL, &b, &len, &err), HUSH_ESTATE);
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, cs, "fire", false, &b, &err), HUSH_ESTATE);
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_make_report_batch(a, cs, NULL, &b, &len, &err), HUSH_ESTATE);
    cr_assert(strstr(err.msg, "no local sample") != NULL, "%s", err.msg);
    hush_campaign_free(c);
    hush_campaign_free(cs);
    hush_agent_close(a);
    fx_pub_free(&p);
    fx_pub_free(&syn);
}

Test(agent, sealed_batches_open_with_the_collectors_key)
{
    fx_keys k;
    fx_keys_make(&k, 1);
    fx_pub p;
    fx_synthetic(&p, &k, 2.0, 0.2, 2, 4.0, true);
    char *sealed = seeded_batch(&k, &p, 5, true);
    char *plain = seeded_batch(&k, &p, 5, false);
    json_t *doc = json_loads(sealed, 0, NULL);
    cr_assert_not_null(doc);
    cr_assert_eq(json_object_size(doc), 1);
    const char *b64 = json_string_value(json_object_get(doc, "sealed"));
    cr_assert_not_null(b64);
    uint8_t *open = NULL;
    size_t len = 0;
    hush_err err = {0};
    hush_err_clear(&err);
    cr_assert_eq(hush_unseal(b64, strlen(b64), k.seal_pk, k.seal_sk, &open, &len, &err),
                 0, "%s", err.msg);
    cr_assert_eq(len, strlen(plain));
    cr_assert_eq(memcmp(open, plain, len), 0, "the sealed batch is the plain one");
    /* another key cannot open it */
    fx_keys other;
    fx_keys_make(&other, 9);
    uint8_t *no = NULL;
    hush_err_clear(&err);
    cr_assert_eq(
        hush_unseal(b64, strlen(b64), other.seal_pk, other.seal_sk, &no, &len, &err),
        HUSH_ESIGNATURE);
    /* a publication without a sealing key cannot be sealed to */
    char *unsealable = strdup(p.body);
    char *at = strstr(unsealable, ",\"sealing_key\":\"");
    cr_assert_not_null(at);
    char *end = strchr(at + 16, '"');
    memmove(at, end + 1, strlen(end + 1) + 1);
    fx_pub q;
    fx_pub_sign(&q, &k, unsealable, strlen(unsealable));
    char *dir = fx_tmpdir();
    int64_t now = T0;
    hush_agent_config cfg = fx_config(dir, &k, &now, NULL);
    hush_agent *a = open_ok(&cfg);
    add_local(a);
    hush_campaign *c = accept_ok(a, &q);
    char *b = NULL;
    hush_batch_options opt = {.seal = true};
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_make_report_batch(a, c, &opt, &b, &len, &err), HUSH_EINVAL);
    cr_assert(strstr(err.msg, "sealing key") != NULL, "%s", err.msg);
    cr_assert_eq(spent_reports(a, NULL), 0, "a refused batch costs nothing");
    hush_campaign_free(c);
    hush_agent_close(a);
    fx_rmdir(dir);
    fx_pub_free(&q);
    free(unsealable);
    hush_free(open);
    json_decref(doc);
    hush_free(sealed);
    hush_free(plain);
    fx_pub_free(&p);
}

/*
 * Reservoir sampling keeps each of N offered texts with probability
 * capacity / N.  Over R runs the number of runs that kept text i is
 * Binomial(R, p): the test allows 5 standard deviations per text.
 */
Test(agent, reservoir_keeps_a_bounded_uniform_sample, .init = agent_setup,
     .fini = agent_teardown)
{
    enum { CAP = 10, N = 100, R = 2000 };
    uint8_t seed[32] = {11};
    hush_agent_config cfg = fx_config(agent_dir, &agent_keys, &agent_now, seed);
    cfg.max_samples = CAP;
    hush_agent *a = open_ok(&cfg);
    static unsigned kept[N];
    hush_err err = {0};
    for (int r = 0; r < R; r++) {
        hush_agent_clear_samples(a);
        hush_err_clear(&err);
        cr_assert_eq(hush_agent_sample_count(a), 0);
        for (int i = 0; i < N; i++) {
            char t[16];
            int len = snprintf(t, sizeof t, "text %03d", i);
            hush_err_clear(&err);
            cr_assert_eq(hush_agent_add_sample(a, t, (size_t)len, &err), 0);
        }
        hush_err_clear(&err);
        cr_assert_eq(hush_agent_sample_count(a), CAP);
        for (size_t s = 0; s < a->n_samples; s++) {
            kept[strtol(a->samples[s] + 5, NULL, 10)]++;
        }
    }
    double p = (double)CAP / N, mean = R * p, sd = sqrt(R * p * (1 - p));
    for (int i = 0; i < N; i++) {
        cr_assert(fabs(kept[i] - mean) <= 5 * sd,
                  "text %d kept %u times, expected %.0f +- %.1f", i, kept[i], mean,
                  5 * sd);
    }
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_add_sample(a, "", 0, &err), HUSH_EINVAL);
    hush_agent_close(a);
}

/* Campaign ids are free text to the ledger: one named like its own
 * keywords must not confuse it. */
Test(agent, ledger_takes_campaign_ids_that_look_like_its_keywords, .init = agent_setup,
     .fini = agent_teardown)
{
    hush_agent_config cfg = fx_config(agent_dir, &agent_keys, &agent_now, NULL);
    const char *ids[] = {"checksum", "device", "day", "campaign"};
    fx_pub base;
    fx_poll(&base, &agent_keys, grr3, 5, 5.0);
    for (size_t i = 0; i < 4; i++) {
        char body[2048];
        const char *at = strstr(base.body, "\"emoji\"");
        snprintf(body, sizeof body, "%.*s\"%s\"%s", (int)(at - base.body), base.body,
                 ids[i], at + 7);
        fx_pub p;
        fx_pub_sign(&p, &agent_keys, body, strlen(body));
        hush_agent *a = open_ok(&cfg);
        hush_campaign *c = accept_ok(a, &p);
        char *b = NULL;
        hush_err err = {0};
        cr_assert_eq(poll_batch(a, c, "fire", false, &b, &err), 0, "%s", err.msg);
        hush_free(b);
        hush_campaign_free(c);
        hush_agent_close(a);
        a = open_ok(&cfg); /* reads back what it wrote */
        cr_assert_eq(spent_reports(a, ids[i]), 1);
        cr_assert_eq(spent_reports(a, NULL), (uint32_t)i + 1);
        hush_agent_close(a);
        fx_pub_free(&p);
    }
    fx_pub_free(&base);
}

/* A copy of `src` with the first `from` replaced by `to`, signed by k. */
static void resign(fx_pub *dst, const fx_keys *k, const fx_pub *src, const char *from,
                   const char *to)
{
    const char *at = strstr(src->body, from);
    cr_assert_not_null(at, "%s not in the body", from);
    size_t head = (size_t)(at - src->body), fl = strlen(from), tl = strlen(to);
    char *body = malloc(src->len - fl + tl + 1);
    memcpy(body, src->body, head);
    memcpy(body + head, to, tl);
    memcpy(body + head + tl, at + fl, src->len - head - fl + 1);
    fx_pub_sign(dst, k, body, src->len - fl + tl);
    free(body);
}

/*
 * A genuinely signed publication is not necessarily the one asked for: the
 * agent takes the id the app fetched and refuses another campaign's
 * document (also of another kind), and keeps the highest round it accepted
 * in the ledger, refusing anything older, across restarts.  Nothing is
 * charged for a refused document.  (Before the fix: accepted, and a vote
 * for the wrong campaign or a stale round was charged.)
 */
Test(agent, swapped_and_replayed_campaigns_are_refused, .init = agent_setup,
     .fini = agent_teardown)
{
    hush_agent_config cfg = fx_config(agent_dir, &agent_keys, &agent_now, NULL);
    hush_agent *a = open_ok(&cfg);
    fx_pub poll1, poll2, other, syn;
    fx_poll(&poll1, &agent_keys, grr3, 5, 5.0);
    resign(&poll2, &agent_keys, &poll1, "\"round\":1", "\"round\":2");
    resign(&other, &agent_keys, &poll1, "\"campaign\":\"emoji\"",
           "\"campaign\":\"flags\"");
    fx_synthetic(&syn, &agent_keys, 1.0, 0.1, 5, 5.0, true);
    hush_campaign *c = NULL;
    hush_err err = {0};
    /* swap: asked for "emoji", served "flags" */
    cr_assert_eq(hush_agent_accept_campaign(a, "emoji", other.body, other.len,
                                            other.signature, &c, &err),
                 HUSH_EMISMATCH);
    cr_assert(strstr(err.msg, "flags") != NULL, "%s", err.msg);
    cr_assert_null(c);
    /* kind swap: asked for the synthetic "mail", served the poll "emoji" */
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_accept_campaign(a, "mail", poll1.body, poll1.len,
                                            poll1.signature, &c, &err),
                 HUSH_EMISMATCH);
    /* and the poll asked for, served the synthetic campaign */
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_accept_campaign(a, "emoji", syn.body, syn.len, syn.signature,
                                            &c, &err),
                 HUSH_EMISMATCH);
    /* no id: refused */
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_accept_campaign(a, NULL, poll1.body, poll1.len,
                                            poll1.signature, &c, &err),
                 HUSH_EINVAL);
    /* replay: round 1 accepted, then round 2; round 1 is refused agent_now */
    hush_campaign *r1 = accept_ok(a, &poll1);
    hush_campaign *r2 = accept_ok(a, &poll2);
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_accept_campaign(a, "emoji", poll1.body, poll1.len,
                                            poll1.signature, &c, &err),
                 HUSH_ESTALE);
    cr_assert(strstr(err.msg, "round 2") != NULL, "%s", err.msg);
    /* the round-1 handle the app still holds makes no batch either */
    char *out = NULL;
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, r1, "fire", false, &out, &err), HUSH_ESTALE);
    cr_assert_null(out);
    cr_assert_eq(spent_reports(a, NULL), 0, "nothing charged for refused documents");
    /* a restart (and a new day) keeps the highest round */
    hush_agent_close(a);
    agent_now += DAY;
    a = open_ok(&cfg);
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_accept_campaign(a, "emoji", poll1.body, poll1.len,
                                            poll1.signature, &c, &err),
                 HUSH_ESTALE);
    /* the current round still works, and re-accepting it is fine */
    hush_campaign *again = accept_ok(a, &poll2);
    hush_err_clear(&err);
    cr_assert_eq(poll_batch(a, again, "fire", false, &out, &err), 0, "%s", err.msg);
    hush_free(out);
    cr_assert_eq(spent_reports(a, "emoji"), 1);
    /* a synthetic campaign's rounds: the same */
    fx_pub syn2;
    resign(&syn2, &agent_keys, &syn, "\"round\":1", "\"round\":2");
    hush_campaign *s2 = accept_ok(a, &syn2);
    hush_err_clear(&err);
    cr_assert_eq(
        hush_agent_accept_campaign(a, "mail", syn.body, syn.len, syn.signature, &c, &err),
        HUSH_ESTALE);
    cr_assert_null(c);
    hush_campaign_free(s2);
    fx_pub_free(&syn2);
    hush_campaign_free(again);
    hush_campaign_free(r1);
    hush_campaign_free(r2);
    hush_agent_close(a);
    fx_pub_free(&poll1);
    fx_pub_free(&poll2);
    fx_pub_free(&other);
    fx_pub_free(&syn);
}

/*
 * Two processes on one state directory (an app and its extension) race
 * for a one-report-a-day budget: exactly one gets a batch, every time, and
 * the ledger records one report.  (Before the fix: both sent in most
 * trials, and the ledger recorded one.)
 */
Test(agent, two_processes_share_one_budget)
{
    fx_keys k;
    fx_keys_make(&k, 1);
    fx_pub p;
    fx_poll(&p, &k, grr3, 1, 5.0);
    enum { TRIALS = 40, PROCS = 3 };
    int doubled = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        char *dir = fx_tmpdir();
        int64_t now = T0;
        hush_agent_config cfg = fx_config(dir, &k, &now, NULL);
        hush_agent_close(open_ok(&cfg)); /* the directory exists */
        int go[2];
        cr_assert_eq(pipe(go), 0);
        pid_t kids[PROCS];
        for (int i = 0; i < PROCS; i++) {
            kids[i] = fork();
            cr_assert_neq(kids[i], -1);
            if (kids[i] == 0) {
                close(go[1]);
                hush_agent *a = NULL;
                hush_campaign *c = NULL;
                char *out = NULL;
                size_t len = 0;
                if (hush_agent_open(&cfg, &a, NULL) != 0 ||
                    hush_agent_accept_campaign(a, p.id, p.body, p.len, p.signature, &c,
                                               NULL) != 0) {
                    _exit(3);
                }
                char b;
                if (read(go[0], &b, 1) < 0) { /* all start together */
                    _exit(3);
                }
                int rc =
                    hush_agent_make_poll_batch(a, c, "fire", 4, NULL, &out, &len, NULL);
                _exit(rc == 0 ? 0 : rc == HUSH_EBUDGET ? 1 : 2);
            }
        }
        close(go[0]);
        close(go[1]); /* EOF wakes every child at once */
        int sent = 0;
        for (int i = 0; i < PROCS; i++) {
            int st = 0;
            cr_assert_eq(waitpid(kids[i], &st, 0), kids[i]);
            cr_assert(WIFEXITED(st) && WEXITSTATUS(st) <= 1, "child status %d", st);
            sent += WEXITSTATUS(st) == 0;
        }
        doubled += sent > 1;
        cr_assert_eq(sent, 1, "trial %d: %d processes sent a report", trial, sent);
        hush_agent *a = open_ok(&cfg);
        cr_assert_eq(spent_reports(a, "emoji"), 1);
        hush_agent_close(a);
        fx_rmdir(dir);
    }
    cr_assert_eq(doubled, 0);
    fx_pub_free(&p);
}

/* The device secret keys the participation coin: lost or damaged, it fails
 * closed like the ledger (a new one would draw every coin again).  A state
 * directory of the previous release (ledger version 1, no secret) is
 * upgraded: its spending stands and a secret is made. */
Test(agent, device_secret_fails_closed_and_old_ledgers_upgrade)
{
    fx_keys k;
    fx_keys_make(&k, 1);
    char *dir = fx_tmpdir();
    int64_t now = T0;
    hush_agent_config cfg = fx_config(dir, &k, &now, NULL);
    hush_agent_close(open_ok(&cfg));
    char secret[1100];
    snprintf(secret, sizeof secret, "%s/device-secret", dir);
    size_t len = 0;
    char *bytes = fx_read(secret, &len);
    cr_assert(bytes != NULL && len == 32, "a 32-byte secret");
    hush_agent *a = NULL;
    hush_err err = {0};
    FILE *f = fopen(secret, "wb");
    fwrite(bytes, 1, 5, f);
    fclose(f);
    cr_assert_eq(hush_agent_open(&cfg, &a, &err), HUSH_ECORRUPT);
    cr_assert(strstr(err.msg, "device secret") != NULL, "%s", err.msg);
    unlink(secret);
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_open(&cfg, &a, &err), HUSH_ECORRUPT);
    cr_assert(strstr(err.msg, "missing") != NULL, "%s", err.msg);
    cr_assert_null(a);
    free(bytes);
    fx_rmdir(dir);
    /* version 1: two reports of "emoji" spent today */
    dir = fx_tmpdir();
    char path[1100];
    snprintf(path, sizeof path, "%s/ledger", dir);
    hush__ledger l;
    memset(&l, 0, sizeof l);
    l.day = T0 / DAY;
    l.device_epsilon = 2.0;
    l.device_reports = 2;
    hush__ledger_entry e = {.epsilon = 2.0, .reports = 2};
    snprintf(e.campaign, sizeof e.campaign, "emoji");
    l.entries = &e;
    l.n = 1;
    size_t n = 0;
    char *text = hush__ledger_render(&l, &n);
    /* the same records under the old version line, re-checksummed */
    char *body = strchr(text, '\n') + 1;
    char *sum = strstr(text, "checksum ");
    char old[2048];
    int o = snprintf(old, sizeof old, "hush-ledger 1\n%.*s", (int)(sum - body), body);
    o += snprintf(old + o, sizeof old - (size_t)o, "checksum %016llx\n",
                  (unsigned long long)XXH3_64bits(old, (size_t)o));
    hush_free(text);
    f = fopen(path, "wb");
    fwrite(old, 1, (size_t)o, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/agent-initialised", dir);
    fclose(fopen(path, "wb"));
    cfg = fx_config(dir, &k, &now, NULL);
    a = open_ok(&cfg);
    cr_assert_eq(spent_reports(a, "emoji"), 2, "the old ledger's spending stands");
    hush_agent_close(a);
    snprintf(secret, sizeof secret, "%s/device-secret", dir);
    cr_assert_eq(access(secret, F_OK), 0, "a secret was made on upgrade");
    fx_rmdir(dir);
}

/* A task's participations are counted for good (secure-aggregation tasks
 * cap them): each new round sent for adds one, a repeat of the same round
 * does not, the count survives the file, and a version-2 record (which
 * had no count) reads as 1 once a round was sent. */
Test(agent, the_ledger_counts_each_tasks_participations_for_good)
{
    hush__ledger l;
    memset(&l, 0, sizeof l);
    bool changed = false;
    cr_assert_eq(hush__ledger_note_round(&l, "model/sa", 1, 1, &changed), 0);
    cr_assert_eq(hush__ledger_note_round(&l, "model/sa", 1, 1, &changed), 0);
    cr_assert_eq(hush__ledger_note_round(&l, "model/sa", 4, 0, &changed), 0);
    cr_assert_eq(hush__ledger_note_round(&l, "model/sa", 4, 4, &changed), 0);
    cr_assert_eq(hush__ledger_round_find(&l, "model/sa")->count, 2);
    size_t len = 0;
    char *text = hush__ledger_render(&l, &len);
    cr_assert(strstr(text, "round model/sa 4 4 2\n") != NULL, "%s", text);
    hush__ledger back;
    memset(&back, 0, sizeof back);
    cr_assert_eq(hush__ledger_parse(&back, text, len, NULL), 0);
    cr_assert_eq(hush__ledger_round_find(&back, "model/sa")->count, 2);
    hush__ledger_dispose(&back);
    hush_free(text);
    hush__ledger_dispose(&l);
    /* version 2 */
    char v2[256];
    int o = snprintf(v2, sizeof v2,
                     "hush-ledger 2\nday 1\ndevice 0000000000000000 0\n"
                     "round model/a 3 3\nround model/b 5 0\n");
    o += snprintf(v2 + o, sizeof v2 - (size_t)o, "checksum %016llx\n",
                  (unsigned long long)XXH3_64bits(v2, (size_t)o));
    memset(&back, 0, sizeof back);
    cr_assert_eq(hush__ledger_parse(&back, v2, (size_t)o, NULL), 0);
    cr_assert_eq(hush__ledger_round_find(&back, "model/a")->count, 1);
    cr_assert_eq(hush__ledger_round_find(&back, "model/b")->count, 0);
    hush__ledger_dispose(&back);
    /* version 3 with a count that contradicts its sent round */
    o = snprintf(v2, sizeof v2,
                 "hush-ledger 3\nday 1\ndevice 0000000000000000 0\n"
                 "round model/a 3 3 0\n");
    o += snprintf(v2 + o, sizeof v2 - (size_t)o, "checksum %016llx\n",
                  (unsigned long long)XXH3_64bits(v2, (size_t)o));
    memset(&back, 0, sizeof back);
    cr_assert_eq(hush__ledger_parse(&back, v2, (size_t)o, NULL), HUSH_ECORRUPT);
    hush__ledger_dispose(&back);
}

/* Round records are kept for good, so their number is bounded: the ledger
 * must stay well under the 1 MiB it is read with, or the agent would fail
 * closed for ever.  The 4,097th campaign is refused instead. */
Test(agent, round_records_are_bounded)
{
    hush__ledger l;
    memset(&l, 0, sizeof l);
    bool changed = false;
    char key[32];
    for (int i = 0; i < HUSH__LEDGER_ROUNDS_MAX; i++) {
        snprintf(key, sizeof key, "campaign-%d", i);
        if (hush__ledger_note_round(&l, key, 7, 0, &changed) != 0 || !changed) {
            cr_assert_fail("record %d", i);
        }
    }
    cr_assert_eq(hush__ledger_note_round(&l, "one-more", 1, 0, &changed), HUSH_ETOOBIG);
    cr_assert_eq(l.n_rounds, HUSH__LEDGER_ROUNDS_MAX);
    /* an existing record still moves */
    cr_assert_eq(hush__ledger_note_round(&l, "campaign-3", 8, 0, &changed), 0);
    cr_assert(changed);
    size_t len = 0;
    char *text = hush__ledger_render(&l, &len);
    cr_assert_lt(len, 512u << 10, "a full ledger is %zu bytes", len);
    hush__ledger back;
    memset(&back, 0, sizeof back);
    cr_assert_eq(hush__ledger_parse(&back, text, len, NULL), 0);
    cr_assert_eq(back.n_rounds, HUSH__LEDGER_ROUNDS_MAX);
    hush__ledger_dispose(&back);
    hush_free(text);
    hush__ledger_dispose(&l);
}
