/*
 * store_sqlite.c - the store (store.h) in SQLite: campaigns, their rounds'
 * signed publications, every acknowledged report batch, aggregate
 * checkpoints, model tasks and their updates, in one file.
 *
 * Durability: WAL with synchronous=FULL by default, so a commit is fsynced
 * before a batch is acknowledged; batch_id is UNIQUE, so a replayed batch
 * is stored once; row ids only grow (INTEGER PRIMARY KEY, never reused
 * while a larger one exists), which the checkpoint rule of the domain
 * (state = checkpoint + every batch with a larger row id) relies on.  One
 * connection, used under the store's mutex; every multi-statement write is
 * one BEGIN IMMEDIATE transaction (in_tx).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "hush_collector.h"
#include "hush_json.h"
#include "store.h"
#include "util.h"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS campaigns("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL,"
    "  spec TEXT NOT NULL, round INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS rounds("
    "  campaign TEXT NOT NULL, round INTEGER NOT NULL, publication TEXT NOT NULL,"
    "  signature TEXT NOT NULL, opened_at INTEGER NOT NULL, closed_at INTEGER,"
    "  PRIMARY KEY(campaign, round));"
    "CREATE TABLE IF NOT EXISTS batches("
    "  id INTEGER PRIMARY KEY, batch_id BLOB NOT NULL UNIQUE, campaign TEXT NOT NULL,"
    "  round INTEGER NOT NULL, n INTEGER NOT NULL, reports BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS checkpoints("
    "  campaign TEXT NOT NULL, round INTEGER NOT NULL, last_rowid INTEGER NOT NULL,"
    "  state BLOB NOT NULL, PRIMARY KEY(campaign, round));"
    "CREATE TABLE IF NOT EXISTS models("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL,"
    "  spec TEXT NOT NULL, round INTEGER NOT NULL, done INTEGER NOT NULL,"
    "  state INTEGER NOT NULL, clip REAL NOT NULL, params BLOB NOT NULL, opt BLOB);"
    "CREATE TABLE IF NOT EXISTS model_updates("
    "  id INTEGER PRIMARY KEY, model TEXT NOT NULL, round INTEGER NOT NULL,"
    "  batch_id BLOB NOT NULL UNIQUE, unclipped INTEGER NOT NULL, update_ BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS model_rounds("
    "  model TEXT NOT NULL, round INTEGER NOT NULL, updates INTEGER NOT NULL,"
    "  clip REAL NOT NULL, epsilon REAL, closed_at INTEGER NOT NULL,"
    "  aggregate_ms REAL NOT NULL, PRIMARY KEY(model, round));"
    "CREATE TABLE IF NOT EXISTS campaign_ends("
    "  campaign TEXT PRIMARY KEY, ended_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS campaign_archives("
    "  campaign TEXT PRIMARY KEY, archived_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS token_issuance("
    "  day INTEGER NOT NULL, who BLOB NOT NULL, count INTEGER NOT NULL,"
    "  PRIMARY KEY(day, who));"
    "CREATE TABLE IF NOT EXISTS spent_tokens("
    "  id BLOB PRIMARY KEY, epoch INTEGER NOT NULL, batch BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS spent_tokens_epoch ON spent_tokens(epoch);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '1');";

/* Schema 2: what closing a round records (refinement). */
/* Columns added since schema 1 (a store made before gets them at open). */
static const struct {
    const char *table, *column;
} added_columns[] = {{"rounds", "n_reports INTEGER"},  {"rounds", "kept INTEGER"},
                     {"rounds", "generated INTEGER"},  {"rounds", "timings TEXT"},
                     {"rounds", "metrics TEXT"},       {"rounds", "estimates TEXT"},
                     {"rounds", "policy TEXT"},        {"rounds", "lineage TEXT"},
                     {"model_rounds", "metrics TEXT"}, {NULL, NULL}};

typedef struct sq {
    hush__store base;
    sqlite3 *db;
    pthread_mutex_t lock;
    int lock_fd; /* flock on <store>.lock: one hushd per store; -1 in memory */
} sq;

static int db_error(sq *s, hush_err *err, const char *what)
{
    return hush_err_set(err, HUSH_EIO, "store: %s: %s", what, sqlite3_errmsg(s->db));
}

/* Prepares sql, or says what could not be done. */
static int prep(sq *s, const char *sql, sqlite3_stmt **st, const char *what,
                hush_err *err)
{
    *st = NULL;
    return sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK
               ? 0
               : db_error(s, err, what);
}

/* Runs body(s, ctx, err) in one BEGIN IMMEDIATE ... COMMIT under the
 * store's lock; any failure rolls all of it back. */
static int in_tx(sq *s, int (*body)(sq *s, void *ctx, hush_err *err), void *ctx,
                 const char *what, hush_err *err)
{
    pthread_mutex_lock(&s->lock);
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
                 ? body(s, ctx, err)
                 : db_error(s, err, what);
    if (rc == 0 && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(s, err, what);
    }
    if (rc != 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Steps a statement that returns no row. */
static int done(sq *s, sqlite3_stmt *st, hush_err *err, const char *what)
{
    return sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(s, err, what);
}

static void bind_text_or_null(sqlite3_stmt *st, int col, const char *text)
{
    if (text != NULL) {
        sqlite3_bind_text(st, col, text, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, col);
    }
}

/* ---- opening ---- */

/* Adds the columns an older store lacks, in one transaction. */
static int migrate_body(sq *s, void *ctx, hush_err *err)
{
    const bool *have = ctx;
    for (size_t i = 0; added_columns[i].table != NULL; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s", added_columns[i].table,
                 added_columns[i].column);
        if (!have[i] && sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
            return db_error(s, err, "cannot migrate the schema");
        }
    }
    return sqlite3_exec(s->db, "UPDATE meta SET value = '3' WHERE key = 'schema'", NULL,
                        NULL, NULL) == SQLITE_OK
               ? 0
               : db_error(s, err, "cannot migrate the schema");
}

/* Marks in have[] the added columns table already holds. */
static int columns_of(sq *s, const char *table, bool *have, hush_err *err)
{
    sqlite3_stmt *st = NULL;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table);
    int rc = prep(s, sql, &st, "cannot read the schema", err);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        const char *col = (const char *)sqlite3_column_text(st, 1);
        for (size_t i = 0; added_columns[i].table != NULL; i++) {
            size_t n = strcspn(added_columns[i].column, " ");
            have[i] = have[i] ||
                      (strcmp(added_columns[i].table, table) == 0 && strlen(col) == n &&
                       strncmp(col, added_columns[i].column, n) == 0);
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int migrate(sq *s, hush_err *err)
{
    bool have[16] = {false};
    int rc = columns_of(s, "rounds", have, err);
    if (rc == 0) {
        rc = columns_of(s, "model_rounds", have, err);
    }
    return rc != 0 ? rc : in_tx(s, migrate_body, have, "cannot migrate the schema", err);
}

/* One store, one hushd: a second one on the same file would count apart
 * and lose batches for rounds the first has closed.  An exclusive flock on
 * <store>.lock, held for the process's life (the kernel drops it if the
 * process dies), with the holder's pid in it for the message. */
static int take_lock(sq *s, const char *path, hush_err *err)
{
    char lock_path[HUSH_PATH_MAX + 8];
    snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0) {
        return hush_err_set(err, HUSH_EIO, "store: cannot open %s: %s", lock_path,
                            strerror(errno));
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(s->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(s->lock_fd);
        s->lock_fd = -1;
        return hush_err_set(err, HUSH_ESTATE,
                            "store %s is in use by another hushd%s%s%s: one store, one "
                            "hushd (stop it first)",
                            path, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
    }
    char pid[32];
    int pl = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(s->lock_fd, 0) != 0 || pwrite(s->lock_fd, pid, (size_t)pl, 0) != pl) {
        /* the lock holds without the pid: only the message is poorer */
    }
    return 0;
}

static void sq_close(hush__store *base)
{
    sq *s = (sq *)base;
    if (s == NULL) {
        return;
    }
    sqlite3_close(s->db);
    if (s->lock_fd >= 0) {
        close(s->lock_fd); /* releases the flock */
    }
    pthread_mutex_destroy(&s->lock);
    hush_free(s);
}

static const hush__store_ops sqlite_ops;

int hush__store_sqlite_open(const char *path, bool sync_full, hush__store **out,
                            hush_err *err)
{
    *out = NULL;
    bool memory = strcmp(path, ":memory:") == 0;
    sq *s = hush_calloc(1, sizeof *s);
    if (s == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory opening the store");
    }
    s->base.ops = &sqlite_ops;
    s->base.ok = true;
    s->lock_fd = -1;
    /* recursive: a visitor (campaigns_each, tasks_each) may call the store
     * again, as restoring a task replays its updates */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&s->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    int rc = 0;
    char dir[HUSH_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!memory && slash != NULL && slash != dir) {
        *slash = '\0';
        rc = hush__mkdir_p(dir, 0700, err);
    }
    if (rc == 0 && !memory) {
        rc = take_lock(s, path, err);
    }
    if (rc == 0 &&
        sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK) {
        rc = hush_err_set(err, HUSH_EIO, "store: cannot open %s: %s", path,
                          s->db != NULL ? sqlite3_errmsg(s->db) : "out of memory");
    }
    if (rc == 0) {
        sqlite3_busy_timeout(s->db, 5000);
        char pragmas[128];
        snprintf(pragmas, sizeof pragmas,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;",
                 sync_full ? "FULL" : "NORMAL");
        if (sqlite3_exec(s->db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
            rc = db_error(s, err, "cannot set up the schema");
        }
    }
    if (rc == 0) {
        rc = migrate(s, err);
    }
    if (rc != 0) {
        sq_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}

static int sq_probe(hush__store *base, hush_err *err)
{
    /* whether a write could start now, without waiting for a lock (a probe
     * must answer fast); the last commit's failure is in the message */
    sq *s = (sq *)base;
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    sqlite3_busy_timeout(s->db, 0);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        bool ok = __atomic_load_n(&s->base.ok, __ATOMIC_ACQUIRE);
        rc =
            hush_err_set(err, HUSH_EIO, "the store cannot take a write lock: %s%s%s",
                         sqlite3_errmsg(s->db),
                         ok ? "" : "; the last commit failed: ", ok ? "" : s->base.error);
    } else {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_busy_timeout(s->db, 5000);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- campaigns and rounds ---- */

static int insert_round(sq *s, const char *campaign, const hush__round_row *r,
                        hush_err *err)
{
    sqlite3_stmt *st;
    int rc =
        prep(s,
             "INSERT INTO rounds(campaign, round, publication, signature, opened_at) "
             "VALUES(?, ?, ?, ?, ?)",
             &st, "cannot save the round", err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, campaign, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, r->round);
        sqlite3_bind_text(st, 3, r->publication, (int)r->publication_len, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r->signature, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, r->opened_at);
        rc = done(s, st, err, "cannot save the round");
    }
    sqlite3_finalize(st);
    return rc;
}

static int campaign_save_body(sq *s, void *ctx, hush_err *err)
{
    const hush__campaign_row *c = ctx;
    sqlite3_stmt *st;
    int rc = prep(s,
                  "INSERT INTO campaigns(id, name, created_at, spec, round) "
                  "VALUES(?, ?, ?, ?, ?)",
                  &st, "cannot save the campaign", err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, c->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, c->created_at);
        sqlite3_bind_text(st, 4, c->spec, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, c->round);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_PRIMARYKEY
                     ? hush_err_set(err, HUSH_EEXIST, "campaign \"%s\" already exists",
                                    c->id)
                     : db_error(s, err, "cannot save the campaign");
        }
    }
    sqlite3_finalize(st);
    hush__round_row r = {c->round, c->publication, c->publication_len, c->signature,
                         c->opened_at};
    return rc != 0 ? rc : insert_round(s, c->id, &r, err);
}

static int sq_campaign_save(hush__store *base, const hush__campaign_row *c, hush_err *err)
{
    return in_tx((sq *)base, campaign_save_body, (void *)c, "cannot save the campaign",
                 err);
}

static int sq_campaigns_each(hush__store *base, hush__campaign_fn fn, void *ctx,
                             hush_err *err)
{
    sq *s = (sq *)base;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->lock);
    int rc = prep(s,
                  "SELECT c.id, c.name, c.created_at, c.round, r.publication, "
                  "r.signature, c.spec, r.opened_at, e.ended_at, a.archived_at FROM "
                  "campaigns c JOIN rounds r ON r.campaign = c.id AND r.round = c.round "
                  "LEFT JOIN campaign_ends e ON e.campaign = c.id LEFT JOIN "
                  "campaign_archives a ON a.campaign = c.id ORDER BY c.created_at, c.id",
                  &st, "cannot read campaigns", err);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        hush__campaign_row row = {.id = (const char *)sqlite3_column_text(st, 0),
                                  .name = (const char *)sqlite3_column_text(st, 1),
                                  .created_at = sqlite3_column_int64(st, 2),
                                  .round = (uint32_t)sqlite3_column_int64(st, 3),
                                  .publication = (const char *)sqlite3_column_text(st, 4),
                                  .publication_len = (size_t)sqlite3_column_bytes(st, 4),
                                  .signature = (const char *)sqlite3_column_text(st, 5),
                                  .spec = (const char *)sqlite3_column_text(st, 6),
                                  .opened_at = sqlite3_column_int64(st, 7),
                                  .ended_at =
                                      sqlite3_column_int64(st, 8), /* NULL reads as 0 */
                                  .archived_at = sqlite3_column_int64(st, 9)};
        rc = fn(ctx, &row, err);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sq_campaign_end(hush__store *base, const char *id, int64_t when, hush_err *err)
{
    sq *s = (sq *)base;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->lock);
    int rc = prep(s, "INSERT INTO campaign_ends(campaign, ended_at) VALUES(?, ?)", &st,
                  "cannot end the campaign", err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, when);
        rc = done(s, st, err, "cannot end the campaign");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* What a compaction or an archive deletes: (rounds, batches, reports,
 * bytes) in the columns of the measuring query. */
static void read_measure(sqlite3_stmt *st, hush__compaction *out)
{
    out->rounds = sqlite3_column_int64(st, 0);
    out->batches = sqlite3_column_int64(st, 1);
    out->reports = sqlite3_column_int64(st, 2);
    out->bytes = sqlite3_column_int64(st, 3);
}

static const char open_round_sql[] =
    "SELECT c.round, e.ended_at IS NOT NULL FROM campaigns c LEFT JOIN "
    "campaign_ends e ON e.campaign = c.id WHERE c.id = ?";

/* The campaign's open round in the store, and whether it has ended
 * (HUSH_ENOTFOUND: no such campaign), through st (open_round_sql). */
static int open_round_step(sq *s, sqlite3_stmt *st, const char *campaign, uint32_t *round,
                           bool *ended, hush_err *err)
{
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, campaign, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *round = (uint32_t)sqlite3_column_int64(st, 0);
        *ended = sqlite3_column_int(st, 1) != 0;
        return 0;
    }
    return step == SQLITE_DONE
               ? hush_err_set(err, HUSH_ENOTFOUND, "store: no campaign %s", campaign)
               : db_error(s, err, "cannot read the campaign");
}

static int open_round_of(sq *s, const char *campaign, uint32_t *round, bool *ended,
                         hush_err *err)
{
    sqlite3_stmt *st;
    int rc = prep(s, open_round_sql, &st, "cannot read the campaign", err);
    if (rc == 0) {
        rc = open_round_step(s, st, campaign, round, ended, err);
        sqlite3_finalize(st);
    }
    return rc;
}

/* A gather in a one-node store: nobody else's share, only the finish. */
static int gather_alone(const hush__gather *g, hush_err *err)
{
    int rc = g->begin != NULL ? g->begin(g->ctx, err) : 0;
    return rc == 0 && g->finish != NULL ? g->finish(g->ctx, err) : rc;
}

struct archive_ctx {
    const char *campaign;
    uint32_t round;
    const hush__gather *g;
    const hush__state_row *final;
    int64_t when;
    hush__compaction *out;
};

static int archive_body(sq *s, void *ctx, hush_err *err)
{
    const struct archive_ctx *a = ctx;
    const char *id = a->campaign;
    sqlite3_stmt *st;
    int rc = gather_alone(a->g, err);
    if (rc != 0) {
        return rc;
    }
    /* the open round's state, complete, as its checkpoint: a restart needs
     * none of the batches deleted below */
    rc = prep(s,
              "INSERT OR REPLACE INTO checkpoints(campaign, round, last_rowid, state) "
              "VALUES(?, ?, (SELECT COALESCE(MAX(id), 0) FROM batches), ?)",
              &st, "cannot archive", err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, a->round);
        sqlite3_bind_blob(st, 3, a->final->state, (int)a->final->len, SQLITE_STATIC);
        rc = done(s, st, err, "cannot save the final state");
    }
    sqlite3_finalize(st);
    if (rc == 0 &&
        (rc = prep(s,
                   "SELECT COUNT(DISTINCT round), COUNT(*), COALESCE(SUM(n), 0), "
                   "COALESCE(SUM(length(reports) + length(batch_id) + length(campaign) + "
                   "24), 0) FROM batches WHERE campaign = ?",
                   &st, "cannot archive", err)) == 0) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            read_measure(st, a->out);
        } else {
            rc = db_error(s, err, "cannot measure the campaign's batches");
        }
        sqlite3_finalize(st);
    }
    if (rc == 0 && (rc = prep(s, "DELETE FROM batches WHERE campaign = ?", &st,
                              "cannot archive", err)) == 0) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        rc = done(s, st, err, "cannot delete the campaign's batches");
        sqlite3_finalize(st);
    }
    if (rc == 0 &&
        (rc = prep(s, "INSERT INTO campaign_archives(campaign, archived_at) VALUES(?, ?)",
                   &st, "cannot archive", err)) == 0) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, a->when);
        rc = done(s, st, err, "cannot record the archive");
        sqlite3_finalize(st);
    }
    return rc;
}

static int sq_campaign_archive(hush__store *base, const char *campaign, uint32_t round,
                               const hush__gather *g, const hush__state_row *final,
                               int64_t when, hush__compaction *out, hush_err *err)
{
    memset(out, 0, sizeof *out);
    struct archive_ctx a = {campaign, round, g, final, when, out};
    return in_tx((sq *)base, archive_body, &a, "cannot archive", err);
}

struct close_ctx {
    const char *campaign;
    uint32_t closing;
    const hush__gather *g;
    const hush__round_record *rec;
    const hush__round_row *next;
};

static int close_body(sq *s, void *ctx, hush_err *err)
{
    const struct close_ctx *c = ctx;
    const hush__round_record *rec = c->rec;
    sqlite3_stmt *st;
    uint32_t open = 0;
    bool ended = false;
    int rc = open_round_of(s, c->campaign, &open, &ended, err);
    if (rc == 0 && open != c->closing) {
        return hush_err_set(err, HUSH_ESTATE,
                            "round %u of %s is no longer open (round %u is)", c->closing,
                            c->campaign, open);
    }
    if (rc == 0) {
        rc = gather_alone(c->g, err);
    }
    if (rc != 0) {
        return rc;
    }
    rc = prep(s,
              "UPDATE rounds SET closed_at = ?, n_reports = ?, kept = ?, generated = ?, "
              "timings = ?, metrics = ?, estimates = ?, policy = ?, lineage = ? WHERE "
              "campaign = ? AND round = ? AND closed_at IS NULL",
              &st, "cannot close the round", err);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, c->next->opened_at);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)rec->n_reports);
        sqlite3_bind_int64(st, 3, rec->kept);
        sqlite3_bind_int64(st, 4, rec->generated);
        sqlite3_bind_text(st, 5, rec->timings, -1, SQLITE_STATIC);
        bind_text_or_null(st, 6, rec->metrics);
        sqlite3_bind_text(st, 7, rec->estimates, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, rec->policy, -1, SQLITE_STATIC);
        bind_text_or_null(st, 9, rec->lineage);
        sqlite3_bind_text(st, 10, c->campaign, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 11, c->closing);
        rc = done(s, st, err, "cannot close the round");
        if (rc == 0 && sqlite3_changes(s->db) != 1) {
            rc = hush_err_set(err, HUSH_ECORRUPT,
                              "round %u of %s is not open in the store", c->closing,
                              c->campaign);
        }
        sqlite3_finalize(st);
    }
    if (rc == 0) {
        rc = insert_round(s, c->campaign, c->next, err);
    }
    if (rc == 0 && (rc = prep(s, "UPDATE campaigns SET round = ? WHERE id = ?", &st,
                              "cannot open the next round", err)) == 0) {
        sqlite3_bind_int64(st, 1, c->next->round);
        sqlite3_bind_text(st, 2, c->campaign, -1, SQLITE_STATIC);
        rc = done(s, st, err, "cannot open the next round");
        sqlite3_finalize(st);
    }
    return rc;
}

static int sq_round_close(hush__store *base, const char *campaign, uint32_t closing,
                          const hush__gather *g, const hush__round_record *rec,
                          const hush__round_row *next, hush_err *err)
{
    struct close_ctx c = {campaign, closing, g, rec, next};
    return in_tx((sq *)base, close_body, &c, "cannot close the round", err);
}

static int sq_round_set_signature(hush__store *base, const char *campaign, uint32_t round,
                                  const char *signature, hush_err *err)
{
    sq *s = (sq *)base;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->lock);
    int rc = prep(s, "UPDATE rounds SET signature = ? WHERE campaign = ? AND round = ?",
                  &st, "cannot store a signature", err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, signature, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, campaign, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, round);
        rc = done(s, st, err, "cannot store a signature");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static const char *text_or_null(sqlite3_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st, col);
}

static int sq_rounds_each(hush__store *base, const char *campaign, hush__round_fn fn,
                          void *ctx, hush_err *err)
{
    sq *s = (sq *)base;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->lock);
    int rc =
        prep(s,
             "SELECT round, opened_at, closed_at, n_reports, kept, generated, timings, "
             "metrics, policy, lineage FROM rounds WHERE campaign = ? ORDER BY round",
             &st, "cannot read rounds", err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, campaign, -1, SQLITE_STATIC);
    }
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        hush__round_history row = {.round = (uint32_t)sqlite3_column_int64(st, 0),
                                   .opened_at = sqlite3_column_int64(st, 1),
                                   .closed = sqlite3_column_type(st, 2) != SQLITE_NULL,
                                   .closed_at = sqlite3_column_int64(st, 2),
                                   .n_reports = sqlite3_column_int64(st, 3),
                                   .kept = sqlite3_column_int64(st, 4),
                                   .generated = sqlite3_column_int64(st, 5),
                                   .timings = text_or_null(st, 6),
                                   .metrics = text_or_null(st, 7),
                                   .policy = text_or_null(st, 8),
                                   .lineage = text_or_null(st, 9)};
        rc = fn(ctx, &row, err);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
static int sq_round_estimates(hush__store *base, const char *campaign, uint32_t round,
                              char **out, hush_err *err)
{
    sq *s = (sq *)base;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->lock);
    int rc = prep(s,
                  "SELECT estimates FROM rounds WHERE campaign = ? AND round = ? AND "
                  "closed_at IS NOT NULL AND estimates IS NOT NULL",
                  &st, "cannot read rounds", err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, campaign, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, round);
        rc = HUSH_ENOTFOUND;
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *text = (const char *)sqlite3_column_text(st, 0);
            *out = text != NULL ? hush_strdup(text) : NULL;
            rc = *out != NULL ? 0 : hush_err_set(err, HUSH_ENOMEM, "out of memory");
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- batches and checkpoints ---- */

struct commit_ctx {
    hush__batch_row *rows;
    size_t n;
    int64_t last;
};

static int commit_body(sq *s, void *ctx, hush_err *err)
{
    struct commit_ctx *c = ctx;
    sqlite3_stmt *st;
    sqlite3_stmt *chk = NULL;
    const char *last = NULL;
    uint32_t open = 0;
    bool ended = false, missing = false;
    int rc = prep(s,
                  "INSERT OR IGNORE INTO batches(batch_id, campaign, round, n, reports) "
                  "VALUES(?, ?, ?, ?, ?)",
                  &st, "cannot store batches", err);
    if (rc == 0 &&
        (rc = prep(s, open_round_sql, &chk, "cannot store batches", err)) != 0) {
        sqlite3_finalize(st);
        return rc;
    }
    for (size_t i = 0; rc == 0 && i < c->n; i++) {
        hush__batch_row *b = &c->rows[i];
        if (b->skip) {
            continue;
        }
        /* the campaign's state, read once per run of its batches */
        if (last == NULL || strcmp(last, b->campaign) != 0) {
            last = b->campaign;
            rc = open_round_step(s, chk, b->campaign, &open, &ended, err);
            missing = rc == HUSH_ENOTFOUND;
            if (missing) {
                rc = 0;
            } else if (rc != 0) {
                break;
            }
        }
        if (missing || ended || open != b->round) {
            b->closed = true;
            continue;
        }
        sqlite3_bind_blob(st, 1, b->batch_id, HUSH_BATCH_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, b->campaign, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, b->round);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)b->n);
        sqlite3_bind_blob(st, 5, b->reports, (int)b->bytes, SQLITE_STATIC);
        if ((rc = done(s, st, err, "cannot store a batch")) != 0) {
            break;
        }
        b->duplicate = sqlite3_changes(s->db) == 0;
        if (!b->duplicate) {
            c->last = sqlite3_last_insert_rowid(s->db);
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(chk);
    return rc;
}

static int sq_batches_commit(hush__store *base, hush__batch_row *rows, size_t n,
                             int64_t *last_rowid, hush_err *err)
{
    struct commit_ctx c = {rows, n, *last_rowid};
    int rc = in_tx((sq *)base, commit_body, &c, "cannot commit batches", err);
    if (rc == 0) {
        *last_rowid = c.last;
    }
    return rc;
}

static int sq_batches_each(hush__store *base, int64_t after, hush__batch_fn fn, void *ctx,
                           int64_t *max_rowid, hush_err *err)
{
    sq *s = (sq *)base;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->lock);
    *max_rowid = 0;
    int rc = prep(s, "SELECT COALESCE(MAX(id), 0) FROM batches", &st,
                  "cannot read batches", err);
    if (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        *max_rowid = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (rc == 0 &&
        (rc = prep(
             s,
             "SELECT id, campaign, round, reports FROM batches WHERE id > ? ORDER BY "
             "id",
             &st, "cannot read batches", err)) == 0) {
        sqlite3_bind_int64(st, 1, after);
        while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            rc = fn(ctx, sqlite3_column_int64(st, 0),
                    (const char *)sqlite3_column_text(st, 1),
                    (uint32_t)sqlite3_column_int64(st, 2), sqlite3_column_blob(st, 3),
                    (size_t)sqlite3_column_bytes(st, 3), err);
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

struct checkpoints_ctx {
    const hush__state_row *rows;
    size_t n;
    int64_t last_rowid;
};

static int checkpoints_body(sq *s, void *ctx, hush_err *err)
{
    const struct checkpoints_ctx *c = ctx;
    sqlite3_stmt *st;
    int rc =
        prep(s,
             "INSERT OR REPLACE INTO checkpoints(campaign, round, last_rowid, state) "
             "VALUES(?, ?, ?, ?)",
             &st, "cannot checkpoint", err);
    for (size_t i = 0; rc == 0 && i < c->n; i++) {
        sqlite3_bind_text(st, 1, c->rows[i].campaign, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, c->rows[i].round);
        sqlite3_bind_int64(st, 3, c->last_rowid);
        sqlite3_bind_blob(st, 4, c->rows[i].state, (int)c->rows[i].len, SQLITE_STATIC);
        rc = done(s, st, err, "cannot write a checkpoint");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static int sq_checkpoints_save(hush__store *base, const hush__state_row *rows, size_t n,
                               int64_t last_rowid, hush_err *err)
{
    struct checkpoints_ctx c = {rows, n, last_rowid};
    return in_tx((sq *)base, checkpoints_body, &c, "cannot checkpoint", err);
}

static int sq_checkpoint_load(hush__store *base, const char *campaign, uint32_t round,
                              void **state, size_t *len, int64_t *last_rowid,
                              hush_err *err)
{
    sq *s = (sq *)base;
    sqlite3_stmt *st;
    *state = NULL;
    *len = 0;
    pthread_mutex_lock(&s->lock);
    int rc = prep(
        s, "SELECT last_rowid, state FROM checkpoints WHERE campaign = ? AND round = ?",
        &st, "cannot read checkpoints", err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, campaign, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, round);
        rc = HUSH_ENOTFOUND;
        if (sqlite3_step(st) == SQLITE_ROW) {
            *len = (size_t)sqlite3_column_bytes(st, 1);
            *state = hush_malloc(*len);
            *last_rowid = sqlite3_column_int64(st, 0);
            if (*state == NULL) {
                rc = hush_err_set(err, HUSH_ENOMEM, "out of memory reading a checkpoint");
            } else {
                if (*len > 0) {
                    memcpy(*state, sqlite3_column_blob(st, 1), *len);
                }
                rc = 0;
            }
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int compact_body(sq *s, void *ctx, hush_err *err)
{
    hush__compaction *out = ctx;
    sqlite3_stmt *st;
    int rc = prep(s,
                  "SELECT COUNT(DISTINCT b.campaign || '/' || b.round), COUNT(*), "
                  "COALESCE(SUM(b.n), 0), COALESCE(SUM(length(b.reports) + "
                  "length(b.batch_id) + length(b.campaign) + 24), 0) FROM batches b JOIN "
                  "campaigns c ON c.id = b.campaign WHERE b.round < c.round",
                  &st, "cannot measure the closed rounds' batches", err);
    if (rc == 0) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            read_measure(st, out);
        } else {
            rc = db_error(s, err, "cannot measure the closed rounds' batches");
        }
        sqlite3_finalize(st);
    }
    if (rc == 0 &&
        sqlite3_exec(s->db,
                     "DELETE FROM batches WHERE id IN (SELECT b.id FROM batches "
                     "b JOIN campaigns c ON c.id = b.campaign WHERE b.round < "
                     "c.round)",
                     NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(s, err, "cannot delete the closed rounds' batches");
    }
    return rc;
}

static int sq_compact(hush__store *base, hush__compaction *out, hush_err *err)
{
    sq *s = (sq *)base;
    memset(out, 0, sizeof *out);
    int rc = in_tx(s, compact_body, out, "cannot compact", err);
    if (rc == 0) {
        sqlite3_stmt *st;
        pthread_mutex_lock(&s->lock);
        if (prep(s,
                 "SELECT page_count * page_size FROM pragma_page_count(), "
                 "pragma_page_size()",
                 &st, "cannot measure the store", NULL) == 0 &&
            sqlite3_step(st) == SQLITE_ROW) {
            out->file_bytes = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
        pthread_mutex_unlock(&s->lock);
    }
    return rc;
}

/* ---- federated learning tasks ---- */

struct task_ctx {
    const hush__task_row *t;
    bool fresh;
    const hush__model_round *closed;
};

static int task_save_body(sq *s, void *ctx, hush_err *err)
{
    const struct task_ctx *c = ctx;
    const hush__task_row *t = c->t;
    sqlite3_stmt *st;
    static const char insert[] = "INSERT INTO models(id, name, created_at, spec, round, "
                                 "done, state, clip, params, opt) "
                                 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    static const char update[] =
        "UPDATE models SET round = ?5, done = ?6, state = ?7, clip = ?8, params = ?9, "
        "opt = ?10 WHERE id = ?1 AND ?2 IS NOT NULL AND ?3 IS NOT NULL AND ?4 IS NOT "
        "NULL";
    int rc = prep(s, c->fresh ? insert : update, &st, "cannot save the model task", err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, t->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, t->created_at);
        sqlite3_bind_text(st, 4, t->spec, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, t->round);
        sqlite3_bind_int64(st, 6, t->done);
        sqlite3_bind_int64(st, 7, t->state);
        sqlite3_bind_double(st, 8, t->clip);
        sqlite3_bind_blob(st, 9, t->params, (int)t->params_len, SQLITE_STATIC);
        if (t->opt_n > 0) {
            sqlite3_bind_blob(st, 10, t->opt, (int)(t->opt_n * sizeof(float)),
                              SQLITE_STATIC);
        } else {
            sqlite3_bind_null(st, 10);
        }
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = c->fresh &&
                         sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_PRIMARYKEY
                     ? hush_err_set(err, HUSH_EEXIST, "model task \"%s\" already exists",
                                    t->id)
                     : db_error(s, err, "cannot save the model task");
        }
        sqlite3_finalize(st);
    }
    const hush__model_round *closed = c->closed;
    if (rc == 0 && closed != NULL &&
        (rc = prep(s,
                   "INSERT OR REPLACE INTO model_rounds(model, round, updates, clip, "
                   "epsilon, closed_at, aggregate_ms) VALUES(?, ?, ?, ?, ?, ?, ?)",
                   &st, "cannot record the round", err)) == 0) {
        sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, closed->round);
        sqlite3_bind_int64(st, 3, closed->updates);
        sqlite3_bind_double(st, 4, closed->clip);
        if (isfinite(closed->epsilon)) {
            sqlite3_bind_double(st, 5, closed->epsilon);
        } else {
            sqlite3_bind_null(st, 5);
        }
        sqlite3_bind_int64(st, 6, closed->closed_at);
        sqlite3_bind_double(st, 7, closed->aggregate_ms);
        rc = done(s, st, err, "cannot record the round");
        sqlite3_finalize(st);
    }
    if (rc == 0 && closed != NULL &&
        (rc = prep(s, "DELETE FROM model_updates WHERE model = ? AND round = ?", &st,
                   "cannot record the round", err)) == 0) {
        sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, closed->round);
        rc = done(s, st, err, "cannot record the round");
        sqlite3_finalize(st);
    }
    return rc;
}

static int sq_task_save(hush__store *base, const hush__task_row *t, bool fresh,
                        const hush__model_round *closed, hush_err *err)
{
    struct task_ctx c = {t, fresh, closed};
    return in_tx((sq *)base, task_save_body, &c, "cannot save the model task", err);
}

static int sq_tasks_each(hush__store *base, hush__task_fn fn, void *ctx, hush_err *err)
{
    sq *s = (sq *)base;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->lock);
    int rc = prep(s,
                  "SELECT id, name, spec, created_at, round, done, state, clip, params, "
                  "opt FROM models ORDER BY created_at, id",
                  &st, "cannot read model tasks", err);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 9) % (int)sizeof(float) != 0) {
            rc = hush_err_set(err, HUSH_ECORRUPT,
                              "stored optimizer state of %s is damaged",
                              (const char *)sqlite3_column_text(st, 0));
            break;
        }
        hush__task_row row = {.id = (const char *)sqlite3_column_text(st, 0),
                              .name = (const char *)sqlite3_column_text(st, 1),
                              .spec = (const char *)sqlite3_column_text(st, 2),
                              .created_at = sqlite3_column_int64(st, 3),
                              .round = (uint32_t)sqlite3_column_int64(st, 4),
                              .done = (uint32_t)sqlite3_column_int64(st, 5),
                              .state = sqlite3_column_int(st, 6),
                              .clip = sqlite3_column_double(st, 7),
                              .params = sqlite3_column_blob(st, 8),
                              .params_len = (size_t)sqlite3_column_bytes(st, 8),
                              .opt = sqlite3_column_blob(st, 9),
                              .opt_n =
                                  (size_t)sqlite3_column_bytes(st, 9) / sizeof(float)};
        rc = fn(ctx, &row, err);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sq_task_update(hush__store *base, const char *id, const hush_model_update *u,
                          bool *duplicate, hush_err *err)
{
    sq *s = (sq *)base;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->lock);
    int rc =
        prep(s,
             "INSERT OR IGNORE INTO model_updates(model, round, batch_id, unclipped, "
             "update_) VALUES(?, ?, ?, ?, ?)",
             &st, "cannot store the update", err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, u->round);
        sqlite3_bind_blob(st, 3, u->batch_id, HUSH_BATCH_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, u->unclipped);
        /* float32 in the host's order: hush runs on little-endian hosts */
        sqlite3_bind_blob(st, 5, u->update, (int)(u->n * sizeof(float)), SQLITE_STATIC);
        rc = done(s, st, err, "cannot store the update");
        if (rc == 0) {
            *duplicate = sqlite3_changes(s->db) == 0;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sq_task_updates_each(hush__store *base, const char *id, uint32_t round,
                                hush__update_fn fn, void *ctx, hush_err *err)
{
    sq *s = (sq *)base;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->lock);
    int rc =
        prep(s,
             "SELECT update_, unclipped FROM model_updates WHERE model = ? AND round = "
             "? ORDER BY id",
             &st, "cannot read updates", err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, round);
    }
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        rc = fn(ctx, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
                sqlite3_column_int(st, 1) != 0, err);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sq_model_rounds_each(hush__store *base, const char *id,
                                hush__model_round_fn fn, void *ctx, hush_err *err)
{
    sq *s = (sq *)base;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->lock);
    int rc =
        prep(s,
             "SELECT round, updates, clip, epsilon, closed_at, aggregate_ms, metrics "
             "FROM model_rounds WHERE model = ? ORDER BY round",
             &st, "cannot read model rounds", err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    }
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        hush__model_round row = {.round = (uint32_t)sqlite3_column_int64(st, 0),
                                 .updates = (uint32_t)sqlite3_column_int64(st, 1),
                                 .clip = sqlite3_column_double(st, 2),
                                 .epsilon = sqlite3_column_type(st, 3) == SQLITE_NULL
                                                ? NAN
                                                : sqlite3_column_double(st, 3),
                                 .closed_at = sqlite3_column_int64(st, 4),
                                 .aggregate_ms = sqlite3_column_double(st, 5),
                                 .metrics = (const char *)sqlite3_column_text(st, 6)};
        rc = fn(ctx, &row, err);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
static int sq_model_round_metrics(hush__store *base, const char *id, uint32_t round,
                                  const char *metrics, hush_err *err)
{
    sq *s = (sq *)base;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->lock);
    int rc = prep(s, "UPDATE model_rounds SET metrics = ? WHERE model = ? AND round = ?",
                  &st, "cannot record the metrics", err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, metrics, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, round);
        rc = done(s, st, err, "cannot record the metrics");
        sqlite3_finalize(st);
    }
    if (rc == 0 && sqlite3_changes(s->db) == 0) {
        rc = hush_err_set(err, HUSH_ENOTFOUND, "model %s has no closed round %u", id,
                          round);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

struct token_issue {
    int64_t day;
    const uint8_t *who;
    uint32_t n, limit;
};

static int token_issue_body(sq *s, void *ctx, hush_err *err)
{
    const struct token_issue *t = ctx;
    sqlite3_stmt *st;
    int rc = prep(s, "SELECT count FROM token_issuance WHERE day = ? AND who = ?", &st,
                  "cannot count tokens", err);
    if (rc != 0) {
        return rc;
    }
    sqlite3_bind_int64(st, 1, t->day);
    sqlite3_bind_blob(st, 2, t->who, 32, SQLITE_STATIC);
    int64_t have = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (have + t->n > t->limit) {
        return hush_err_set(err, HUSH_EBUDGET, "%lld of %u tokens issued today",
                            (long long)have, t->limit);
    }
    if ((rc = prep(s,
                   "INSERT INTO token_issuance(day, who, count) VALUES(?, ?, ?) "
                   "ON CONFLICT(day, who) DO UPDATE SET count = count + excluded.count",
                   &st, "cannot count tokens", err)) == 0) {
        sqlite3_bind_int64(st, 1, t->day);
        sqlite3_bind_blob(st, 2, t->who, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, t->n);
        rc = done(s, st, err, "cannot count tokens");
        sqlite3_finalize(st);
    }
    return rc;
}

static int sq_token_issue(hush__store *base, int64_t day, const uint8_t *who, uint32_t n,
                          uint32_t limit, hush_err *err)
{
    struct token_issue t = {day, who, n, limit};
    return in_tx((sq *)base, token_issue_body, &t, "cannot count tokens", err);
}

struct token_spend {
    const uint8_t *ids;
    const uint64_t *epochs;
    size_t n;
    const uint8_t *batch;
};

/* Whether token i was spent by another batch than t->batch. */
static int spent_elsewhere(sq *s, const struct token_spend *t, size_t i, hush_err *err)
{
    sqlite3_stmt *st;
    int rc = prep(s, "SELECT batch FROM spent_tokens WHERE id = ?", &st,
                  "cannot spend tokens", err);
    if (rc != 0) {
        return rc;
    }
    sqlite3_bind_blob(st, 1, t->ids + 32 * i, 32, SQLITE_STATIC);
    bool same = sqlite3_step(st) == SQLITE_ROW &&
                sqlite3_column_bytes(st, 0) == HUSH_BATCH_ID_BYTES &&
                memcmp(sqlite3_column_blob(st, 0), t->batch, HUSH_BATCH_ID_BYTES) == 0;
    sqlite3_finalize(st);
    return same ? 0 : hush_err_set(err, HUSH_EEXIST, "token %zu was spent before", i);
}

static int tokens_spend_body(sq *s, void *ctx, hush_err *err)
{
    const struct token_spend *t = ctx;
    sqlite3_stmt *st;
    int rc = prep(s,
                  "INSERT INTO spent_tokens(id, epoch, batch) VALUES(?, ?, ?) "
                  "ON CONFLICT(id) DO NOTHING",
                  &st, "cannot spend tokens", err);
    for (size_t i = 0; rc == 0 && i < t->n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_blob(st, 1, t->ids + 32 * i, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)t->epochs[i]);
        sqlite3_bind_blob(st, 3, t->batch, HUSH_BATCH_ID_BYTES, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = db_error(s, err, "cannot spend tokens");
        } else if (sqlite3_changes(s->db) == 0) {
            rc = spent_elsewhere(s, t, i, err);
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int sq_tokens_spend(hush__store *base, const uint8_t *ids, const uint64_t *epochs,
                           size_t n, const uint8_t *batch_id, hush_err *err)
{
    struct token_spend t = {ids, epochs, n, batch_id};
    return in_tx((sq *)base, tokens_spend_body, &t, "cannot spend tokens", err);
}

static int sq_tokens_expire(hush__store *base, uint64_t epoch, int64_t day, hush_err *err)
{
    sq *s = (sq *)base;
    sqlite3_stmt *a = NULL, *b = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = prep(s, "DELETE FROM spent_tokens WHERE epoch < ?", &a,
                  "cannot expire tokens", err);
    if (rc == 0) {
        sqlite3_bind_int64(a, 1, (sqlite3_int64)epoch);
        rc = done(s, a, err, "cannot expire tokens");
    }
    if (rc == 0 && (rc = prep(s, "DELETE FROM token_issuance WHERE day < ?", &b,
                              "cannot expire tokens", err)) == 0) {
        sqlite3_bind_int64(b, 1, day);
        rc = done(s, b, err, "cannot expire tokens");
    }
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* One node per SQLite store: no other node's checkpoints. */
static int sq_peers_each(hush__store *base, const char *campaign, uint32_t round,
                         hush__peer_fn fn, void *ctx, hush_err *err)
{
    (void)base, (void)campaign, (void)round, (void)fn, (void)ctx, (void)err;
    return 0;
}

static const hush__store_ops sqlite_ops = {
    .kind = "sqlite",
    .close = sq_close,
    .probe = sq_probe,
    .campaign_save = sq_campaign_save,
    .campaigns_each = sq_campaigns_each,
    .campaign_end = sq_campaign_end,
    .campaign_archive = sq_campaign_archive,
    .round_close = sq_round_close,
    .round_set_signature = sq_round_set_signature,
    .rounds_each = sq_rounds_each,
    .round_estimates = sq_round_estimates,
    .batches_commit = sq_batches_commit,
    .batches_each = sq_batches_each,
    .checkpoints_save = sq_checkpoints_save,
    .checkpoint_load = sq_checkpoint_load,
    .peers_each = sq_peers_each,
    .compact = sq_compact,
    .task_save = sq_task_save,
    .tasks_each = sq_tasks_each,
    .task_update = sq_task_update,
    .task_updates_each = sq_task_updates_each,
    .model_rounds_each = sq_model_rounds_each,
    .model_round_metrics = sq_model_round_metrics,
    .token_issue = sq_token_issue,
    .tokens_spend = sq_tokens_spend,
    .tokens_expire = sq_tokens_expire,
};
