/*
 * test_store.c - the store contract of store.h, on the SQLite store in
 * memory: atomic operations, batches stored once in growing row-id order,
 * checkpoints, the round close, compaction and archive, model tasks.
 * Every implementation must pass the same checks (a PostgreSQL store will
 * run them too).
 */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

static hush__store *s;

static void open_store(void)
{
    hush_err err = {0};
    cr_assert_eq(hush__store_sqlite_open(":memory:", true, &s, &err), 0, "%s", err.msg);
    cr_assert_str_eq(s->ops->kind, "sqlite");
}

static void close_store(void)
{
    s->ops->close(s);
    s = NULL;
}

TestSuite(store, .init = open_store, .fini = close_store);

/* A PostgreSQL database, emptied first (HUSH_TEST_PG: a libpq URI). */
static void open_pg(void)
{
    const char *uri = getenv("HUSH_TEST_PG");
    s = NULL;
    if (uri == NULL || uri[0] == '\0') {
        return;
    }
    PGconn *c = PQconnectdb(uri);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r =
        PQexec(c, "SET client_min_messages = warning; DROP SCHEMA public CASCADE; "
                  "CREATE SCHEMA public");
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    hush_err err = {0};
    cr_assert_eq(hush__store_pg_open(uri, "node-a", &s, &err), 0, "%s", err.msg);
    cr_assert_str_eq(s->ops->kind, "postgres");
}

static void close_pg(void)
{
    if (s != NULL) {
        s->ops->close(s);
        s = NULL;
    }
}

static void skip_without_pg(void)
{
    if (s == NULL) {
        cr_skip_test("HUSH_TEST_PG is not set: tests/e2e/test_postgres.py runs these "
                     "against a real PostgreSQL");
    }
}

TestSuite(store_pg, .init = open_pg, .fini = close_pg);

static const char pub1[] = "{\"round\":1}";

/* A gather that counts what it is given (the record or final state is the
 * test's, filled in beforehand). */
struct counted {
    int begins, states, batches, finishes;
    size_t state_bytes, batch_bytes;
};

static int c_begin(void *ctx, hush_err *err)
{
    (void)err;
    struct counted *c = ctx;
    int begins = c->begins + 1;
    *c = (struct counted){.begins = begins};
    return 0;
}

static int c_state(void *ctx, const char *node, const void *state, size_t len,
                   hush_err *err)
{
    (void)node, (void)state, (void)err;
    struct counted *c = ctx;
    c->states++;
    c->state_bytes += len;
    return 0;
}

static int c_batch(void *ctx, const void *reports, size_t len, hush_err *err)
{
    (void)reports, (void)err;
    struct counted *c = ctx;
    c->batches++;
    c->batch_bytes += len;
    return 0;
}

static int c_finish(void *ctx, hush_err *err)
{
    (void)err;
    ((struct counted *)ctx)->finishes++;
    return 0;
}

static hush__gather counting(struct counted *c)
{
    *c = (struct counted){0};
    return (hush__gather){c, c_begin, c_state, c_batch, c_finish};
}

static int close_round(hush__store *st, const char *campaign, uint32_t closing,
                       const hush__round_record *rec, const hush__round_row *next,
                       struct counted *got, hush_err *err)
{
    struct counted local;
    hush__gather g = counting(got != NULL ? got : &local);
    return st->ops->round_close(st, campaign, closing, &g, rec, next, err);
}

static int save_campaign(const char *id, hush_err *err)
{
    hush__campaign_row c = {.id = id,
                            .name = "a campaign",
                            .spec = "{}",
                            .created_at = 1000,
                            .round = 1,
                            .publication = pub1,
                            .publication_len = sizeof pub1 - 1,
                            .signature = "sig1",
                            .opened_at = 1000};
    return s->ops->campaign_save(s, &c, err);
}

struct seen {
    char ids[8][32];
    int n;
    int64_t ended[8], archived[8];
    uint32_t round[8];
};

static int note_campaign(void *ctx, const hush__campaign_row *row, hush_err *err)
{
    (void)err;
    struct seen *sn = ctx;
    cr_assert_lt(sn->n, 8);
    snprintf(sn->ids[sn->n], sizeof sn->ids[0], "%s", row->id);
    sn->ended[sn->n] = row->ended_at;
    sn->archived[sn->n] = row->archived_at;
    sn->round[sn->n] = row->round;
    cr_assert_eq(row->publication_len, strlen(row->publication));
    sn->n++;
    return 0;
}

static void check_a_campaign_is_saved_once_and_read_back(void)
{
    hush_err err = {0};
    cr_assert_eq(save_campaign("c1", &err), 0, "%s", err.msg);
    hush_err_clear(&err);
    cr_assert_eq(save_campaign("c1", &err), HUSH_EEXIST);
    cr_assert_eq(save_campaign("c2", &err), 0);
    struct seen sn = {0};
    cr_assert_eq(s->ops->campaigns_each(s, note_campaign, &sn, &err), 0);
    cr_assert_eq(sn.n, 2);
    cr_assert_str_eq(sn.ids[0], "c1");
    cr_assert_eq(sn.ended[0], 0);
    cr_assert_eq(sn.archived[0], 0);
    /* ending is recorded; ending twice is refused (a key) */
    cr_assert_eq(s->ops->campaign_end(s, "c1", 2000, &err), 0);
    hush_err_clear(&err);
    cr_assert_neq(s->ops->campaign_end(s, "c1", 2001, &err), 0);
    sn = (struct seen){0};
    cr_assert_eq(s->ops->campaigns_each(s, note_campaign, &sn, &err), 0);
    cr_assert_eq(sn.ended[0], 2000);
}

static int stop_at_first(void *ctx, const hush__campaign_row *row, hush_err *err)
{
    (void)ctx;
    (void)row;
    return hush_err_set(err, HUSH_ECORRUPT, "stop");
}

static void check_a_visitor_error_stops_the_walk_and_is_returned(void)
{
    hush_err err = {0};
    cr_assert_eq(save_campaign("c1", &err), 0);
    cr_assert_eq(s->ops->campaigns_each(s, stop_at_first, NULL, &err), HUSH_ECORRUPT);
}

static hush__batch_row batch(uint8_t tag, const char *campaign, uint32_t round,
                             const uint8_t *reports, size_t n)
{
    static uint8_t ids[256][HUSH_BATCH_ID_BYTES];
    memset(ids[tag], tag, HUSH_BATCH_ID_BYTES);
    return (hush__batch_row){.batch_id = ids[tag],
                             .campaign = campaign,
                             .round = round,
                             .n = n,
                             .reports = reports,
                             .bytes = n};
}

struct replayed {
    int64_t rowids[16];
    uint8_t first[16];
    int n;
};

static int note_batch(void *ctx, int64_t rowid, const char *campaign, uint32_t round,
                      const void *reports, size_t len, hush_err *err)
{
    (void)campaign;
    (void)round;
    (void)err;
    struct replayed *r = ctx;
    r->rowids[r->n] = rowid;
    r->first[r->n] = len > 0 ? ((const uint8_t *)reports)[0] : 0;
    r->n++;
    return 0;
}

static void check_batches_are_stored_once_in_growing_row_order(void)
{
    hush_err err = {0};
    cr_assert_eq(save_campaign("c1", &err), 0);
    uint8_t r1[] = {1, 2, 3}, r2[] = {4}, r3[] = {5, 6};
    hush__batch_row rows[3] = {batch(1, "c1", 1, r1, 3), batch(2, "c1", 1, r2, 1),
                               batch(3, "c1", 1, r3, 2)};
    rows[2].skip = true; /* its round closed while it waited */
    int64_t last = 0;
    cr_assert_eq(s->ops->batches_commit(s, rows, 3, &last, &err), 0, "%s", err.msg);
    cr_assert(!rows[0].duplicate && !rows[1].duplicate);
    cr_assert(s->ok);
    /* the same batch id again: acknowledged as a duplicate, not stored */
    hush__batch_row again[2] = {batch(2, "c1", 1, r2, 1), batch(4, "c1", 1, r3, 2)};
    int64_t last2 = last;
    cr_assert_eq(s->ops->batches_commit(s, again, 2, &last2, &err), 0);
    cr_assert(again[0].duplicate);
    cr_assert(!again[1].duplicate);
    cr_assert_gt(last2, last);
    struct replayed rp = {0};
    int64_t max = 0;
    cr_assert_eq(s->ops->batches_each(s, 0, note_batch, &rp, &max, &err), 0);
    cr_assert_eq(rp.n, 3, "stored: the two, then the new one (not the skipped)");
    cr_assert_eq(rp.first[0], 1);
    cr_assert_eq(rp.first[1], 4);
    cr_assert_eq(rp.first[2], 5);
    cr_assert(rp.rowids[0] < rp.rowids[1] && rp.rowids[1] < rp.rowids[2]);
    cr_assert_eq(max, rp.rowids[2]);
    cr_assert_eq(last2, max);
    /* after a row id: only what came later */
    int64_t second = rp.rowids[1];
    rp = (struct replayed){0};
    cr_assert_eq(s->ops->batches_each(s, second, note_batch, &rp, &max, &err), 0);
    cr_assert_eq(rp.n, 1);
}

static void check_checkpoints_replace_and_load_or_are_not_found(void)
{
    hush_err err = {0};
    cr_assert_eq(save_campaign("c1", &err), 0);
    cr_assert_eq(save_campaign("c2", &err), 0);
    void *state = NULL;
    size_t len = 0;
    int64_t last = 0;
    cr_assert_eq(s->ops->checkpoint_load(s, "c1", 1, &state, &len, &last, &err),
                 HUSH_ENOTFOUND);
    hush__state_row rows[2] = {{"c1", 1, "abc", 3}, {"c2", 4, "", 0}};
    cr_assert_eq(s->ops->checkpoints_save(s, rows, 2, 17, &err), 0, "%s", err.msg);
    rows[0].state = "abcd";
    rows[0].len = 4;
    cr_assert_eq(s->ops->checkpoints_save(s, rows, 1, 20, &err), 0);
    cr_assert_eq(s->ops->checkpoint_load(s, "c1", 1, &state, &len, &last, &err), 0);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(state, "abcd", 4), 0);
    cr_assert_eq(last, 20);
    hush_free(state);
    cr_assert_eq(s->ops->checkpoint_load(s, "c2", 4, &state, &len, &last, &err), 0);
    cr_assert_eq(len, 0);
    cr_assert_eq(last, 17);
    hush_free(state);
}

struct history {
    hush__round_history rows[4];
    char timings[64];
    int n;
};

static int note_round(void *ctx, const hush__round_history *row, hush_err *err)
{
    (void)err;
    struct history *hi = ctx;
    cr_assert_lt(hi->n, 4);
    hi->rows[hi->n] = *row; /* (its texts are the store's until the walk ends) */
    if (row->timings != NULL) {
        snprintf(hi->timings, sizeof hi->timings, "%s", row->timings);
    }
    hi->n++;
    return 0;
}

struct model_history {
    hush__model_round *rows;
    int n;
    char metrics[4][64]; /* the rows' metrics, copied (borrowed in the visit) */
};

static int note_model_round(void *ctx, const hush__model_round *row, hush_err *err)
{
    (void)err;
    struct model_history *mh = ctx;
    snprintf(mh->metrics[mh->n], sizeof mh->metrics[0], "%s",
             row->metrics != NULL ? row->metrics : "(null)");
    mh->rows[mh->n++] = *row;
    return 0;
}

static void check_a_round_close_is_all_or_nothing(void)
{
    hush_err err = {0};
    cr_assert_eq(save_campaign("c1", &err), 0);
    hush__round_record rec = {.n_reports = 5,
                              .kept = 1,
                              .generated = 2,
                              .timings = "{\"total_ms\":1.0}",
                              .metrics = NULL,
                              .estimates = "{\"items\":[]}",
                              .policy = "{}",
                              .lineage = NULL};
    static const char pub2[] = "{\"round\":2}";
    hush__round_row next = {2, pub2, sizeof pub2 - 1, "sig2", 3000};
    struct counted got;
    cr_assert_eq(close_round(s, "c1", 1, &rec, &next, &got, &err), 0, "%s", err.msg);
    cr_assert_eq(got.finishes, 1, "the record is completed inside the close");
    cr_assert_eq(got.states + got.batches, 0, "no other node");
    /* closing round 1 again: it is not open (HUSH_ESTATE: another node
     * closed it, for a node that did not know), and nothing changes */
    hush__round_row next3 = {3, pub2, sizeof pub2 - 1, "sig3", 4000};
    hush_err_clear(&err);
    cr_assert_eq(close_round(s, "c1", 1, &rec, &next3, NULL, &err), HUSH_ESTATE);
    struct history hist = {0};
    cr_assert_eq(s->ops->rounds_each(s, "c1", note_round, &hist, &err), 0);
    cr_assert_eq(hist.n, 2, "round 3 was not opened");
    cr_assert(hist.rows[0].closed);
    cr_assert_eq(hist.rows[0].closed_at, 3000);
    cr_assert_eq(hist.rows[0].n_reports, 5);
    cr_assert_str_eq(hist.timings, "{\"total_ms\":1.0}");
    cr_assert(!hist.rows[1].closed);
    cr_assert_eq(hist.rows[1].round, 2);
    char *frozen = NULL;
    cr_assert_eq(s->ops->round_estimates(s, "c1", 1, &frozen, &err), 0);
    cr_assert_str_eq(frozen, "{\"items\":[]}");
    hush_free(frozen);
    cr_assert_eq(s->ops->round_estimates(s, "c1", 2, &frozen, &err), HUSH_ENOTFOUND,
                 "the open round has no frozen estimates");
    struct seen sn = {0};
    cr_assert_eq(s->ops->campaigns_each(s, note_campaign, &sn, &err), 0);
    cr_assert_eq(sn.round[0], 2);
}

static void check_compaction_deletes_closed_rounds_batches_only(void)
{
    hush_err err = {0};
    cr_assert_eq(save_campaign("c1", &err), 0);
    uint8_t r[] = {1, 2, 3, 4};
    hush__batch_row rows[2] = {batch(10, "c1", 1, r, 4), batch(11, "c1", 1, r, 2)};
    int64_t last = 0;
    cr_assert_eq(s->ops->batches_commit(s, rows, 2, &last, &err), 0);
    hush__round_record rec = {.timings = "{}", .estimates = "{}", .policy = "{}"};
    hush__round_row next = {2, pub1, sizeof pub1 - 1, "s", 2000};
    cr_assert_eq(close_round(s, "c1", 1, &rec, &next, NULL, &err), 0);
    hush__batch_row open_round[1] = {batch(12, "c1", 2, r, 1)};
    cr_assert_eq(s->ops->batches_commit(s, open_round, 1, &last, &err), 0);
    hush__compaction out = {0};
    cr_assert_eq(s->ops->compact(s, &out, &err), 0, "%s", err.msg);
    cr_assert_eq(out.rounds, 1);
    cr_assert_eq(out.batches, 2);
    cr_assert_eq(out.reports, 6);
    cr_assert_gt(out.bytes, 6);
    struct replayed rp = {0};
    int64_t max = 0;
    cr_assert_eq(s->ops->batches_each(s, 0, note_batch, &rp, &max, &err), 0);
    cr_assert_eq(rp.n, 1, "the open round's batch stays");
}

static void check_an_archive_keeps_the_final_state_and_deletes_every_batch(void)
{
    hush_err err = {0};
    cr_assert_eq(save_campaign("c1", &err), 0);
    uint8_t r[] = {7, 7};
    hush__batch_row rows[1] = {batch(20, "c1", 1, r, 2)};
    int64_t last = 0;
    cr_assert_eq(s->ops->batches_commit(s, rows, 1, &last, &err), 0);
    hush__state_row final = {"c1", 1, "FINAL", 5};
    hush__compaction out = {0};
    struct counted got;
    hush__gather g = counting(&got);
    cr_assert_eq(s->ops->campaign_archive(s, "c1", 1, &g, &final, 5000, &out, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(got.finishes, 1);
    cr_assert_eq(out.batches, 1);
    void *state = NULL;
    size_t len = 0;
    int64_t at = 0;
    cr_assert_eq(s->ops->checkpoint_load(s, "c1", 1, &state, &len, &at, &err), 0);
    cr_assert_eq(len, 5);
    cr_assert_eq(at, last, "the checkpoint holds every batch deleted");
    hush_free(state);
    struct seen sn = {0};
    cr_assert_eq(s->ops->campaigns_each(s, note_campaign, &sn, &err), 0);
    cr_assert_eq(sn.archived[0], 5000);
    /* archiving twice is refused, and the first archive stands */
    hush_err_clear(&err);
    cr_assert_neq(s->ops->campaign_archive(s, "c1", 1, &g, &final, 6000, &out, &err), 0);
}

static int note_task(void *ctx, const hush__task_row *row, hush_err *err)
{
    (void)err;
    hush__task_row *seen = ctx;
    cr_assert_str_eq(row->id, "m1");
    seen->round = row->round;
    seen->done = row->done;
    seen->opt_n = row->opt_n;
    seen->params_len = row->params_len;
    return 0;
}

static int note_update(void *ctx, const void *update, size_t len, bool unclipped,
                       hush_err *err)
{
    (void)update;
    (void)unclipped;
    (void)err;
    *(size_t *)ctx += len;
    return 0;
}

static void check_model_tasks_their_updates_and_rounds(void)
{
    hush_err err = {0};
    float opt[3] = {1, 2, 3};
    hush__task_row t = {.id = "m1",
                        .name = "m",
                        .spec = "{}",
                        .created_at = 1,
                        .round = 1,
                        .params = "PPPP",
                        .params_len = 4,
                        .opt = opt,
                        .opt_n = 3};
    cr_assert_eq(s->ops->task_save(s, &t, true, NULL, &err), 0, "%s", err.msg);
    hush_err_clear(&err);
    cr_assert_eq(s->ops->task_save(s, &t, true, NULL, &err), HUSH_EEXIST);
    float u1[2] = {0.5f, 0.25f};
    hush_model_update u = {.round = 1, .update = u1, .n = 2};
    memset(u.batch_id, 9, sizeof u.batch_id);
    bool dup = true;
    cr_assert_eq(s->ops->task_update(s, "m1", &u, &dup, &err), 0);
    cr_assert(!dup);
    cr_assert_eq(s->ops->task_update(s, "m1", &u, &dup, &err), 0);
    cr_assert(dup, "an update's batch id is stored once");
    size_t bytes = 0;
    cr_assert_eq(s->ops->task_updates_each(s, "m1", 1, note_update, &bytes, &err), 0);
    cr_assert_eq(bytes, sizeof u1);
    /* closing round 1: the record kept, its updates gone */
    t.round = 2;
    t.done = 1;
    hush__model_round closed = {.round = 1,
                                .updates = 1,
                                .clip = 1.0,
                                .epsilon = 0.5,
                                .aggregate_ms = 2.0,
                                .closed_at = 77};
    cr_assert_eq(s->ops->task_save(s, &t, false, &closed, &err), 0, "%s", err.msg);
    bytes = 0;
    cr_assert_eq(s->ops->task_updates_each(s, "m1", 1, note_update, &bytes, &err), 0);
    cr_assert_eq(bytes, 0);
    hush__task_row back = {0};
    cr_assert_eq(s->ops->tasks_each(s, note_task, &back, &err), 0);
    cr_assert_eq(back.round, 2);
    cr_assert_eq(back.done, 1);
    cr_assert_eq(back.opt_n, 3);
    cr_assert_eq(back.params_len, 4);
    hush__model_round got[2];
    struct model_history mh = {got, 0, {{0}}};
    cr_assert_eq(s->ops->model_rounds_each(s, "m1", note_model_round, &mh, &err), 0);
    cr_assert_eq(mh.n, 1);
    cr_assert_eq(got[0].closed_at, 77);
    cr_assert_eq(got[0].updates, 1);
    cr_assert_float_eq(got[0].epsilon, 0.5, 1e-12);
    cr_assert_str_eq(mh.metrics[0], "(null)",
                     "no metrics until an evaluator records some");
    /* an evaluator's metrics: set, replaced, only for a closed round */
    cr_assert_eq(s->ops->model_round_metrics(s, "m1", 1, "{\"accuracy\":0.5}", &err), 0,
                 "%s", err.msg);
    cr_assert_eq(s->ops->model_round_metrics(s, "m1", 1, "{\"accuracy\":0.9}", &err), 0);
    cr_assert_eq(s->ops->model_round_metrics(s, "m1", 2, "{}", &err), HUSH_ENOTFOUND,
                 "round 2 is open");
    hush_err_clear(&err);
    cr_assert_eq(s->ops->model_round_metrics(s, "nope", 1, "{}", &err), HUSH_ENOTFOUND);
    hush_err_clear(&err);
    mh.n = 0;
    cr_assert_eq(s->ops->model_rounds_each(s, "m1", note_model_round, &mh, &err), 0);
    cr_assert_eq(mh.n, 1);
    cr_assert_str_eq(mh.metrics[0], "{\"accuracy\":0.9}");
}

static void check_tokens_are_counted_and_spent_once(void)
{
    hush_err err = {0};
    uint8_t who[32] = {1}, other[32] = {2};
    cr_assert_eq(s->ops->token_issue(s, 100, who, 6, 10, &err), 0, "%s", err.msg);
    cr_assert_eq(s->ops->token_issue(s, 100, who, 5, 10, &err), HUSH_EBUDGET,
                 "6 + 5 passes the day's 10");
    hush_err_clear(&err);
    cr_assert_eq(s->ops->token_issue(s, 100, who, 4, 10, &err), 0, "%s", err.msg);
    cr_assert_eq(s->ops->token_issue(s, 100, who, 1, 10, &err), HUSH_EBUDGET);
    hush_err_clear(&err);
    cr_assert_eq(s->ops->token_issue(s, 100, other, 10, 10, &err), 0,
                 "another attestation");
    cr_assert_eq(s->ops->token_issue(s, 101, who, 10, 10, &err), 0, "another day");
    uint8_t ids[3 * 32];
    uint64_t epochs[3] = {7, 7, 8};
    for (int i = 0; i < 3; i++) {
        memset(ids + 32 * i, 0x10 + i, 32);
    }
    uint8_t b1[HUSH_BATCH_ID_BYTES] = {1}, b2[HUSH_BATCH_ID_BYTES] = {2};
    cr_assert_eq(s->ops->tokens_spend(s, ids, epochs, 2, b1, &err), 0, "%s", err.msg);
    /* the same batch again (a resend): fine, nothing new */
    cr_assert_eq(s->ops->tokens_spend(s, ids, epochs, 2, b1, &err), 0, "%s", err.msg);
    /* one spent before by another batch among new ones: none is recorded */
    cr_assert_eq(s->ops->tokens_spend(s, ids + 32, epochs + 1, 2, b2, &err), HUSH_EEXIST);
    hush_err_clear(&err);
    cr_assert_eq(s->ops->tokens_spend(s, ids + 64, epochs + 2, 1, b2, &err), 0,
                 "the third was not recorded by the refused call: %s", err.msg);
    cr_assert_eq(s->ops->tokens_spend(s, ids, epochs, 1, b2, &err), HUSH_EEXIST);
    hush_err_clear(&err);
    /* expired epochs and days are forgotten */
    cr_assert_eq(s->ops->tokens_expire(s, 8, 101, &err), 0, "%s", err.msg);
    cr_assert_eq(s->ops->tokens_spend(s, ids, epochs, 1, b2, &err), 0,
                 "epoch 7 forgotten");
    cr_assert_eq(s->ops->tokens_spend(s, ids + 64, epochs + 2, 1, b1, &err), HUSH_EEXIST,
                 "epoch 8 kept");
    hush_err_clear(&err);
    cr_assert_eq(s->ops->token_issue(s, 100, who, 10, 10, &err), 0, "day 100 forgotten");
    cr_assert_eq(s->ops->token_issue(s, 101, who, 1, 10, &err), HUSH_EBUDGET,
                 "day 101 kept");
}

Test(store, tokens_are_counted_and_spent_once)
{
    check_tokens_are_counted_and_spent_once();
}

Test(store_pg, tokens_are_counted_and_spent_once)
{
    skip_without_pg();
    check_tokens_are_counted_and_spent_once();
}

/* A store made before a column was added gets it when opened. */
Test(store, an_older_store_gains_the_new_columns)
{
    char dir[] = "/tmp/hush-store-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/hush.db", dir);
    hush__store *a = NULL;
    hush_err err = {0};
    cr_assert_eq(hush__store_sqlite_open(path, true, &a, &err), 0, "%s", err.msg);
    a->ops->close(a);
    sqlite3 *db = NULL; /* as schema 2 made it: model_rounds without metrics */
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "ALTER TABLE model_rounds DROP COLUMN metrics; "
                              "UPDATE meta SET value = '2' WHERE key = 'schema'",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    cr_assert_eq(hush__store_sqlite_open(path, true, &a, &err), 0, "%s", err.msg);
    hush__task_row t = {
        .id = "m", .name = "m", .spec = "{}", .round = 2, .params = "P", .params_len = 1};
    hush__model_round closed = {.round = 1, .clip = 1, .epsilon = NAN, .closed_at = 5};
    cr_assert_eq(a->ops->task_save(a, &t, true, &closed, &err), 0, "%s", err.msg);
    cr_assert_eq(a->ops->model_round_metrics(a, "m", 1, "{\"accuracy\":1}", &err), 0,
                 "%s", err.msg);
    a->ops->close(a);
    unlink(path);
    char wal[300];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
    rmdir(dir);
}

Test(store, a_store_file_is_locked_to_one_process_object)
{
    char dir[] = "/tmp/hush-store-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/db/hush.db", dir);
    hush__store *a = NULL, *b = NULL;
    hush_err err = {0};
    cr_assert_eq(hush__store_sqlite_open(path, false, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(hush__store_sqlite_open(path, false, &b, &err), HUSH_ESTATE,
                 "a second open of one store file is refused");
    cr_assert(strstr(err.msg, "in use") != NULL, "%s", err.msg);
    a->ops->close(a);
    hush_err_clear(&err);
    cr_assert_eq(hush__store_sqlite_open(path, false, &b, &err), 0, "%s", err.msg);
    b->ops->close(b);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Every check runs on both stores: SQLite in memory, and PostgreSQL when
 * HUSH_TEST_PG names a database (tests/e2e/test_postgres.py starts a
 * throw-away server and runs these with it). */
Test(store, a_campaign_is_saved_once_and_read_back)
{
    check_a_campaign_is_saved_once_and_read_back();
}

Test(store_pg, a_campaign_is_saved_once_and_read_back)
{
    skip_without_pg();
    check_a_campaign_is_saved_once_and_read_back();
}

Test(store, a_visitor_error_stops_the_walk_and_is_returned)
{
    check_a_visitor_error_stops_the_walk_and_is_returned();
}

Test(store_pg, a_visitor_error_stops_the_walk_and_is_returned)
{
    skip_without_pg();
    check_a_visitor_error_stops_the_walk_and_is_returned();
}

Test(store, batches_are_stored_once_in_growing_row_order)
{
    check_batches_are_stored_once_in_growing_row_order();
}

Test(store_pg, batches_are_stored_once_in_growing_row_order)
{
    skip_without_pg();
    check_batches_are_stored_once_in_growing_row_order();
}

Test(store, checkpoints_replace_and_load_or_are_not_found)
{
    check_checkpoints_replace_and_load_or_are_not_found();
}

Test(store_pg, checkpoints_replace_and_load_or_are_not_found)
{
    skip_without_pg();
    check_checkpoints_replace_and_load_or_are_not_found();
}

Test(store, a_round_close_is_all_or_nothing)
{
    check_a_round_close_is_all_or_nothing();
}

Test(store_pg, a_round_close_is_all_or_nothing)
{
    skip_without_pg();
    check_a_round_close_is_all_or_nothing();
}

Test(store, compaction_deletes_closed_rounds_batches_only)
{
    check_compaction_deletes_closed_rounds_batches_only();
}

Test(store_pg, compaction_deletes_closed_rounds_batches_only)
{
    skip_without_pg();
    check_compaction_deletes_closed_rounds_batches_only();
}

Test(store, an_archive_keeps_the_final_state_and_deletes_every_batch)
{
    check_an_archive_keeps_the_final_state_and_deletes_every_batch();
}

Test(store_pg, an_archive_keeps_the_final_state_and_deletes_every_batch)
{
    skip_without_pg();
    check_an_archive_keeps_the_final_state_and_deletes_every_batch();
}

Test(store, model_tasks_their_updates_and_rounds)
{
    check_model_tasks_their_updates_and_rounds();
}

Test(store_pg, model_tasks_their_updates_and_rounds)
{
    skip_without_pg();
    check_model_tasks_their_updates_and_rounds();
}

static void check_batches_of_a_round_not_open_are_refused_as_closed(void)
{
    hush_err err = {0};
    cr_assert_eq(save_campaign("c1", &err), 0);
    uint8_t r[] = {1};
    hush__batch_row early[2] = {batch(30, "c1", 2, r, 1), batch(31, "nope", 1, r, 1)};
    int64_t last = 0;
    cr_assert_eq(s->ops->batches_commit(s, early, 2, &last, &err), 0, "%s", err.msg);
    cr_assert(early[0].closed, "round 2 is not open yet");
    cr_assert(early[1].closed, "no such campaign");
    hush__round_record rec = {.timings = "{}", .estimates = "{}", .policy = "{}"};
    hush__round_row next = {2, pub1, sizeof pub1 - 1, "s", 2000};
    cr_assert_eq(close_round(s, "c1", 1, &rec, &next, NULL, &err), 0, "%s", err.msg);
    hush__batch_row late[2] = {batch(32, "c1", 1, r, 1), batch(33, "c1", 2, r, 1)};
    cr_assert_eq(s->ops->batches_commit(s, late, 2, &last, &err), 0);
    cr_assert(late[0].closed && !late[0].duplicate, "round 1 closed");
    cr_assert(!late[1].closed && !late[1].duplicate);
    cr_assert_eq(s->ops->campaign_end(s, "c1", 3000, &err), 0);
    hush__batch_row ended[1] = {batch(34, "c1", 2, r, 1)};
    cr_assert_eq(s->ops->batches_commit(s, ended, 1, &last, &err), 0);
    cr_assert(ended[0].closed, "the campaign has ended");
    struct replayed rp = {0};
    int64_t max = 0;
    cr_assert_eq(s->ops->batches_each(s, 0, note_batch, &rp, &max, &err), 0);
    cr_assert_eq(rp.n, 1, "only the batch of the open round was stored");
}

Test(store, batches_of_a_round_not_open_are_refused_as_closed)
{
    check_batches_of_a_round_not_open_are_refused_as_closed();
}

Test(store_pg, batches_of_a_round_not_open_are_refused_as_closed)
{
    skip_without_pg();
    check_batches_of_a_round_not_open_are_refused_as_closed();
}

/* ---- several nodes on one PostgreSQL database ---- */

static hush__store *open_node(const char *node, int want, hush_err *err)
{
    hush__store *n = NULL;
    cr_assert_eq(hush__store_pg_open(getenv("HUSH_TEST_PG"), node, &n, err), want, "%s",
                 err->msg);
    return n;
}

Test(store_pg, a_node_id_is_held_by_one_process_at_a_time)
{
    skip_without_pg();
    hush_err err = {0};
    open_node("node-a", HUSH_ESTATE, &err);
    cr_assert(strstr(err.msg, "in use") != NULL, "%s", err.msg);
    hush_err_clear(&err);
    hush__store *b = open_node("node-b", 0, &err);
    b->ops->close(b);
    hush_err_clear(&err);
    b = open_node("node-b", 0, &err); /* free again once closed */
    b->ops->close(b);
}

struct peers_seen {
    int n;
    char node[32];
    size_t len;
    int64_t saved_at;
};

static int note_peer(void *ctx, const char *node, const void *state, size_t len,
                     int64_t saved_at, hush_err *err)
{
    (void)state, (void)err;
    struct peers_seen *p = ctx;
    snprintf(p->node, sizeof p->node, "%s", node);
    p->len = len;
    p->saved_at = saved_at;
    p->n++;
    return 0;
}

Test(store_pg, each_node_has_its_own_batches_and_checkpoints_and_a_close_gathers_all)
{
    skip_without_pg();
    hush_err err = {0};
    hush__store *b = open_node("node-b", 0, &err);
    cr_assert_eq(save_campaign("c1", &err), 0);
    uint8_t r[] = {1, 2, 3};
    hush__batch_row mine[2] = {batch(40, "c1", 1, r, 1), batch(41, "c1", 1, r, 1)};
    hush__batch_row theirs[3] = {batch(42, "c1", 1, r, 2), batch(43, "c1", 1, r, 3),
                                 batch(44, "c1", 1, r, 3)};
    int64_t last_a = 0, last_b = 0;
    cr_assert_eq(s->ops->batches_commit(s, mine, 2, &last_a, &err), 0, "%s", err.msg);
    cr_assert_eq(b->ops->batches_commit(b, theirs, 1, &last_b, &err), 0, "%s", err.msg);
    int64_t b_first = last_b;
    cr_assert_eq(b->ops->batches_commit(b, theirs + 1, 2, &last_b, &err), 0);
    /* a resend of B's batch to A is a duplicate: one store, one batch id */
    hush__batch_row resent[1] = {batch(42, "c1", 1, r, 2)};
    cr_assert_eq(s->ops->batches_commit(s, resent, 1, &last_a, &err), 0);
    cr_assert(resent[0].duplicate);
    struct replayed ra = {0}, rb = {0};
    int64_t max = 0;
    cr_assert_eq(s->ops->batches_each(s, 0, note_batch, &ra, &max, &err), 0);
    cr_assert_eq(ra.n, 2, "A replays its own batches only");
    cr_assert_eq(max, last_a);
    cr_assert_eq(b->ops->batches_each(b, 0, note_batch, &rb, &max, &err), 0);
    cr_assert_eq(rb.n, 3);
    cr_assert_eq(max, last_b);
    /* B's checkpoint holds its first batch; A sees it as a peer's */
    hush__state_row cp = {"c1", 1, "BB", 2};
    cr_assert_eq(b->ops->checkpoints_save(b, &cp, 1, b_first, &err), 0, "%s", err.msg);
    struct peers_seen pa = {0}, pb = {0};
    cr_assert_eq(s->ops->peers_each(s, "c1", 1, note_peer, &pa, &err), 0, "%s", err.msg);
    cr_assert_eq(pa.n, 1);
    cr_assert_str_eq(pa.node, "node-b");
    cr_assert_eq(pa.len, 2);
    cr_assert_gt(pa.saved_at, 1700000000);
    cr_assert_eq(b->ops->peers_each(b, "c1", 1, note_peer, &pb, &err), 0);
    cr_assert_eq(pb.n, 0, "a node's own checkpoint is not a peer's");
    void *state = NULL;
    size_t len = 0;
    int64_t at = 0;
    cr_assert_eq(s->ops->checkpoint_load(s, "c1", 1, &state, &len, &at, &err),
                 HUSH_ENOTFOUND, "B's checkpoint is not A's");
    /* A closes: B's checkpoint and B's two batches after it are gathered */
    hush__round_record rec = {.timings = "{}", .estimates = "{}", .policy = "{}"};
    hush__round_row next = {2, pub1, sizeof pub1 - 1, "s", 2000};
    struct counted got;
    cr_assert_eq(close_round(s, "c1", 1, &rec, &next, &got, &err), 0, "%s", err.msg);
    cr_assert_eq(got.states, 1);
    cr_assert_eq(got.state_bytes, 2);
    cr_assert_eq(got.batches, 2);
    cr_assert_eq(got.batch_bytes, 6);
    /* B, not told yet, commits for round 1: refused as closed */
    hush__batch_row late[1] = {batch(45, "c1", 1, r, 1)};
    cr_assert_eq(b->ops->batches_commit(b, late, 1, &last_b, &err), 0);
    cr_assert(late[0].closed);
    hush_err_clear(&err);
    cr_assert_eq(close_round(b, "c1", 1, &rec, &next, NULL, &err), HUSH_ESTATE,
                 "B's close of the same round is refused");
    b->ops->close(b);
}

struct committer {
    hush__store *st;
    uint8_t base;
    int acked, closed;
};

static void *commit_until_closed(void *arg)
{
    struct committer *cm = arg;
    static const uint8_t rep[1] = {1};
    for (int i = 0; i < 100000; i++) {
        uint8_t id[HUSH_BATCH_ID_BYTES];
        memset(id, cm->base, sizeof id);
        memcpy(id, &i, sizeof i);
        hush__batch_row row = {.batch_id = id,
                               .campaign = "c1",
                               .round = 1,
                               .n = 1,
                               .reports = rep,
                               .bytes = 1};
        int64_t last = 0;
        hush_err err = {0};
        if (cm->st->ops->batches_commit(cm->st, &row, 1, &last, &err) != 0) {
            continue; /* a serialization failure past the retries: resent */
        }
        if (row.closed) {
            cm->closed++;
            break;
        }
        cm->acked += !row.duplicate;
    }
    return NULL;
}

Test(store_pg, a_close_gathers_exactly_what_another_node_acknowledged_before_it)
{
    skip_without_pg();
    hush_err err = {0};
    hush__store *b = open_node("node-b", 0, &err);
    cr_assert_eq(save_campaign("c1", &err), 0);
    struct committer cm = {b, 0xb0, 0, 0};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, commit_until_closed, &cm), 0);
    usleep(200000); /* B commits one batch after the other meanwhile */
    hush__round_record rec = {.timings = "{}", .estimates = "{}", .policy = "{}"};
    hush__round_row next = {2, pub1, sizeof pub1 - 1, "s", 2000};
    struct counted got;
    cr_assert_eq(close_round(s, "c1", 1, &rec, &next, &got, &err), 0, "%s", err.msg);
    pthread_join(t, NULL);
    cr_assert_eq(cm.closed, 1, "B's commits end with a refusal");
    cr_assert_gt(cm.acked, 10, "B committed while A closed");
    cr_assert_eq(got.batches, cm.acked,
                 "every batch B acknowledged is in the close, nothing after it");
    b->ops->close(b);
}

Test(store_pg, an_archive_takes_every_share_and_later_checkpoints_are_left_out)
{
    skip_without_pg();
    hush_err err = {0};
    hush__store *b = open_node("node-b", 0, &err);
    cr_assert_eq(save_campaign("c1", &err), 0);
    uint8_t r[] = {1, 2};
    hush__batch_row theirs[2] = {batch(50, "c1", 1, r, 2), batch(51, "c1", 1, r, 1)};
    int64_t last_b = 0;
    cr_assert_eq(b->ops->batches_commit(b, theirs, 1, &last_b, &err), 0);
    hush__state_row cp = {"c1", 1, "B", 1};
    cr_assert_eq(b->ops->checkpoints_save(b, &cp, 1, last_b, &err), 0);
    cr_assert_eq(b->ops->batches_commit(b, theirs + 1, 1, &last_b, &err), 0);
    cr_assert_eq(s->ops->campaign_end(s, "c1", 3000, &err), 0);
    hush__state_row final = {"c1", 1, "ALL", 3};
    hush__compaction out = {0};
    struct counted got;
    hush__gather g = counting(&got);
    cr_assert_eq(s->ops->campaign_archive(s, "c1", 1, &g, &final, 4000, &out, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(got.states, 1);
    cr_assert_eq(got.batches, 1);
    cr_assert_eq(out.batches, 2);
    /* B's checkpoint is gone (its share is in the final state) and B's next
     * one is left out */
    cr_assert_eq(b->ops->checkpoints_save(b, &cp, 1, last_b, &err), 0);
    struct peers_seen pa = {0};
    cr_assert_eq(s->ops->peers_each(s, "c1", 1, note_peer, &pa, &err), 0);
    cr_assert_eq(pa.n, 0);
    void *state = NULL;
    size_t len = 0;
    int64_t at = 0;
    cr_assert_eq(s->ops->checkpoint_load(s, "c1", 1, &state, &len, &at, &err), 0);
    cr_assert_eq(len, 3);
    hush_free(state);
    b->ops->close(b);
}

Test(store_pg, a_model_task_belongs_to_the_node_that_made_it)
{
    skip_without_pg();
    hush_err err = {0};
    hush__store *b = open_node("node-b", 0, &err);
    hush__task_row t = {
        .id = "m1", .name = "m", .spec = "{}", .params = "P", .params_len = 1};
    cr_assert_eq(s->ops->task_save(s, &t, true, NULL, &err), 0, "%s", err.msg);
    hush__task_row seen = {0};
    cr_assert_eq(b->ops->tasks_each(b, note_task, &seen, &err), 0);
    cr_assert_eq(seen.params_len, 0, "B does not serve A's task");
    cr_assert_eq(s->ops->tasks_each(s, note_task, &seen, &err), 0);
    cr_assert_eq(seen.params_len, 1);
    b->ops->close(b);
}
