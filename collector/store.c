/*
 * store.c - the collector's durable state in SQLite: campaigns, their rounds'
 * signed publications, every acknowledged report batch, and aggregate
 * checkpoints.
 *
 * Invariants: a batch is acknowledged only after the transaction holding it
 * committed (WAL, synchronous=FULL by default: fsynced); batch_id is UNIQUE,
 * so a replayed batch is stored once; the aggregates equal the last
 * checkpoint plus every batch with a larger row id, because only the writer
 * thread adds to them, in row-id order, and checkpoints record the last row
 * id they include.  One connection, used under db_lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "collector_internal.h"

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
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '1');";

/* Schema 2: what closing a round records (refinement). */
static const char *const round_columns[] = {
    "n_reports INTEGER", "kept INTEGER", "generated INTEGER",
    "timings TEXT",      "metrics TEXT", "estimates TEXT",
    "policy TEXT",       "lineage TEXT", NULL};

static int migrate(hush_collector *h, hush_err *err);

static int db_error(hush_collector *h, hush_err *err, const char *what)
{
    return hush_err_set(err, HUSH_EIO, "store: %s: %s", what, sqlite3_errmsg(h->db));
}

int hush__store_open(hush_collector *h, hush_err *err)
{
    const char *path = h->cfg.store + strlen("sqlite:");
    char dir[HUSH_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        int rc = hush__mkdir_p(dir, 0700, err);
        if (rc != 0) {
            return rc;
        }
    }
    /* one store, one hushd: a second one on the same file would count apart
     * and lose batches for rounds the first has closed.  An exclusive
     * flock on <store>.lock, held for the process's life (the kernel drops
     * it if the process dies), with the holder's pid in it for the message. */
    char lock_path[HUSH_PATH_MAX + 8];
    snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    h->store_lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (h->store_lock_fd < 0) {
        return hush_err_set(err, HUSH_EIO, "store: cannot open %s: %s", lock_path,
                            strerror(errno));
    }
    if (flock(h->store_lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(h->store_lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(h->store_lock_fd);
        h->store_lock_fd = -1;
        return hush_err_set(err, HUSH_ESTATE,
                            "store %s is in use by another hushd%s%s%s: one store, one "
                            "hushd (stop it first)",
                            path, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
    }
    char pid[32];
    int pl = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(h->store_lock_fd, 0) != 0 ||
        pwrite(h->store_lock_fd, pid, (size_t)pl, 0) != pl) {
        /* the lock holds without the pid: only the message is poorer */
    }
    if (sqlite3_open_v2(path, &h->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        int rc = hush_err_set(err, HUSH_EIO, "store: cannot open %s: %s", path,
                              h->db != NULL ? sqlite3_errmsg(h->db) : "out of memory");
        sqlite3_close(h->db);
        h->db = NULL;
        return rc;
    }
    sqlite3_busy_timeout(h->db, 5000);
    char pragmas[128];
    snprintf(pragmas, sizeof pragmas, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;",
             h->cfg.sync_full ? "FULL" : "NORMAL");
    if (sqlite3_exec(h->db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(h->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        return db_error(h, err, "cannot set up the schema");
    }
    return migrate(h, err);
}

/* Adds the round columns a schema-1 store lacks, in one transaction. */
static int migrate(hush_collector *h, hush_err *err)
{
    sqlite3_stmt *st = NULL;
    bool have[16] = {false};
    if (sqlite3_prepare_v2(h->db, "PRAGMA table_info(rounds)", -1, &st, NULL) !=
        SQLITE_OK) {
        return db_error(h, err, "cannot read the schema");
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *col = (const char *)sqlite3_column_text(st, 1);
        for (size_t i = 0; round_columns[i] != NULL; i++) {
            size_t n = strcspn(round_columns[i], " ");
            have[i] =
                have[i] || (strlen(col) == n && strncmp(col, round_columns[i], n) == 0);
        }
    }
    sqlite3_finalize(st);
    if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        return db_error(h, err, "cannot migrate the schema");
    }
    for (size_t i = 0; round_columns[i] != NULL; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "ALTER TABLE rounds ADD COLUMN %s", round_columns[i]);
        if (!have[i] && sqlite3_exec(h->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
            int rc = db_error(h, err, "cannot migrate the schema");
            sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    if (sqlite3_exec(h->db, "UPDATE meta SET value = '2' WHERE key = 'schema'", NULL,
                     NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = db_error(h, err, "cannot migrate the schema");
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return 0;
}

void hush__store_close(hush_collector *h)
{
    if (h->db != NULL) {
        sqlite3_close(h->db);
        h->db = NULL;
    }
    if (h->store_lock_fd >= 0) {
        close(h->store_lock_fd); /* releases the flock */
        h->store_lock_fd = -1;
    }
}

int hush__store_save_campaign(hush_collector *h, const hush__campaign *c,
                              const hush__round *r, hush_err *err)
{
    int rc = 0;
    sqlite3_stmt *a = NULL, *b = NULL;
    pthread_mutex_lock(&h->db_lock);
    if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h->db,
                           "INSERT INTO campaigns(id, name, created_at, spec, round) "
                           "VALUES(?, ?, ?, ?, ?)",
                           -1, &a, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h->db,
                           "INSERT INTO rounds(campaign, round, publication, signature, "
                           "opened_at) VALUES(?, ?, ?, ?, ?)",
                           -1, &b, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot save the campaign");
        goto out;
    }
    sqlite3_bind_text(a, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(a, 2, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(a, 3, c->created_at);
    sqlite3_bind_text(a, 4, c->spec, -1, SQLITE_STATIC);
    sqlite3_bind_int64(a, 5, r->round);
    sqlite3_bind_text(b, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(b, 2, r->round);
    sqlite3_bind_text(b, 3, r->pub_body, (int)r->pub_len, SQLITE_STATIC);
    sqlite3_bind_text(b, 4, r->signature, -1, SQLITE_STATIC);
    sqlite3_bind_int64(b, 5, r->opened_at);
    if (sqlite3_step(a) != SQLITE_DONE) {
        rc = sqlite3_extended_errcode(h->db) == SQLITE_CONSTRAINT_PRIMARYKEY
                 ? hush_err_set(err, HUSH_EEXIST, "campaign \"%s\" already exists", c->id)
                 : db_error(h, err, "cannot save the campaign");
        goto out;
    }
    if (sqlite3_step(b) != SQLITE_DONE) {
        rc = db_error(h, err, "cannot save the round");
        goto out;
    }
    if (sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot commit the campaign");
    }
out:
    if (rc != 0) {
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    pthread_mutex_unlock(&h->db_lock);
    return rc;
}

int hush__store_load_campaigns(hush_collector *h, hush_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(
            h->db,
            "SELECT c.id, c.name, c.created_at, c.round, r.publication, "
            "r.signature, c.spec, r.opened_at, e.ended_at, a.archived_at FROM campaigns "
            "c "
            "JOIN rounds r ON r.campaign = c.id AND r.round = c.round LEFT JOIN "
            "campaign_ends e ON e.campaign = c.id LEFT JOIN campaign_archives a ON "
            "a.campaign = c.id ORDER BY c.created_at, c.id",
            -1, &st, NULL) != SQLITE_OK) {
        return db_error(h, err, "cannot read campaigns");
    }
    int step;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        hush__round *r = NULL;
        rc = hush__round_new(
            h, id, (uint32_t)sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 7),
            (const char *)sqlite3_column_text(st, 4), (size_t)sqlite3_column_bytes(st, 4),
            (const char *)sqlite3_column_text(st, 5), &r, err);
        if (rc == 0) {
            rc = hush__campaign_install(h, id, (const char *)sqlite3_column_text(st, 1),
                                        sqlite3_column_int64(st, 2),
                                        (const char *)sqlite3_column_text(st, 6), r, err);
            hush__campaign *c = rc == 0 ? hush__campaign_find(h, id) : NULL;
            if (c != NULL && sqlite3_column_type(st, 8) != SQLITE_NULL) {
                c->ended_at = sqlite3_column_int64(st, 8);
            }
            if (c != NULL && sqlite3_column_type(st, 9) != SQLITE_NULL) {
                c->archived_at = sqlite3_column_int64(st, 9);
            }
            if (rc != 0) {
                hush__round_put(r);
            }
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int hush__store_probe(hush_collector *h, hush_err *err)
{
    /* whether a write could start now, without waiting for a lock (a probe
     * must answer fast); the last commit's failure is in the message */
    pthread_mutex_lock(&h->db_lock);
    int rc = 0;
    sqlite3_busy_timeout(h->db, 0);
    if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = hush_err_set(err, HUSH_EIO, "the store cannot take a write lock: %s%s%s",
                          sqlite3_errmsg(h->db),
                          h->store_ok ? "" : "; the last commit failed: ",
                          h->store_ok ? "" : h->store_error);
    } else {
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_busy_timeout(h->db, 5000);
    pthread_mutex_unlock(&h->db_lock);
    return rc;
}

int hush__store_commit(hush_collector *h, hush__item *items, int64_t *last_rowid)
{
    static const char sql[] =
        "INSERT OR IGNORE INTO batches(batch_id, campaign, round, n, "
        "reports) VALUES(?, ?, ?, ?, ?)";
    sqlite3_stmt *st = NULL;
    int rc = 0;
    pthread_mutex_lock(&h->db_lock);
    if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h->db, sql, sizeof sql - 1, &st, NULL) != SQLITE_OK) {
        rc = HUSH_EIO;
        goto out;
    }
    int64_t last = *last_rowid;
    for (hush__item *it = items; it != NULL; it = it->next) {
        if (it->closed) {
            continue; /* its round closed while it waited: answered 409 */
        }
        size_t bytes = it->n_reports * hush_ldp_report_size(it->round->mech);
        sqlite3_bind_blob(st, 1, it->batch_id, HUSH_BATCH_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, it->campaign->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, it->round->round);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)it->n_reports);
        sqlite3_bind_blob(st, 5, it->reports, (int)bytes, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = HUSH_EIO;
            goto out;
        }
        it->duplicate = sqlite3_changes(h->db) == 0;
        if (!it->duplicate) {
            last = sqlite3_last_insert_rowid(h->db);
        }
        sqlite3_reset(st);
    }
    if (sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = HUSH_EIO;
        goto out;
    }
    *last_rowid = last;
out:
    if (rc != 0) {
        /* said on stderr by the writer; /readyz answers 503 until a commit
         * works again */
        snprintf(h->store_error, sizeof h->store_error, "%s", sqlite3_errmsg(h->db));
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    }
    __atomic_store_n(&h->store_ok, rc == 0, __ATOMIC_RELEASE);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->db_lock);
    return rc;
}

int hush__store_checkpoint(hush_collector *h, hush_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    /* lock order everywhere: campaigns, then the store */
    pthread_rwlock_rdlock(&h->campaigns_lock);
    pthread_mutex_lock(&h->db_lock);
    if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(
            h->db,
            "INSERT OR REPLACE INTO checkpoints(campaign, round, last_rowid, "
            "state) VALUES(?, ?, ?, ?)",
            -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot checkpoint");
        goto out;
    }
    for (size_t i = 0; i < h->n_campaigns && rc == 0; i++) {
        hush__round *r = h->campaigns[i]->cur;
        uint8_t *state = NULL;
        size_t len = 0;
        pthread_mutex_lock(&r->lock);
        rc = hush_ldp_agg_serialize(r->agg, &state, &len, err);
        pthread_mutex_unlock(&r->lock);
        if (rc != 0) {
            break;
        }
        sqlite3_bind_text(st, 1, h->campaigns[i]->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, r->round);
        sqlite3_bind_int64(st, 3, h->last_rowid);
        sqlite3_bind_blob(st, 4, state, (int)len, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = db_error(h, err, "cannot write a checkpoint");
        }
        sqlite3_reset(st);
        hush_free(state);
    }
    if (rc == 0 && sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot commit a checkpoint");
    }
out:
    if (rc != 0) {
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->db_lock);
    pthread_rwlock_unlock(&h->campaigns_lock);
    return rc;
}

/* Per campaign: the checkpoint's row id, or 0 (no checkpoint: replay all). */
static int load_checkpoint(hush_collector *h, hush__campaign *c, int64_t *from,
                           hush_err *err)
{
    sqlite3_stmt *st = NULL;
    *from = 0;
    if (sqlite3_prepare_v2(
            h->db,
            "SELECT last_rowid, state FROM checkpoints WHERE campaign = ? AND "
            "round = ?",
            -1, &st, NULL) != SQLITE_OK) {
        return db_error(h, err, "cannot read checkpoints");
    }
    hush__round *r = c->cur;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->round);
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        hush_ldp_agg *agg = NULL;
        hush_err local = {0};
        rc = hush_ldp_agg_deserialize(sqlite3_column_blob(st, 1),
                                      (size_t)sqlite3_column_bytes(st, 1), r->mech, &agg,
                                      &local);
        if (rc != 0) {
            rc = hush_err_set(err, rc, "store: checkpoint of campaign %s round %u: %s",
                              c->id, r->round, local.msg);
        } else {
            hush_ldp_agg_free(r->agg);
            r->agg = agg;
            *from = sqlite3_column_int64(st, 0);
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int hush__store_rebuild(hush_collector *h, hush_err *err)
{
    double t0 = hush__now();
    int64_t *from = hush_calloc(h->n_campaigns ? h->n_campaigns : 1, sizeof *from);
    if (from == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory rebuilding aggregates");
    }
    int64_t min_from = INT64_MAX;
    int rc = 0;
    for (size_t i = 0; i < h->n_campaigns && rc == 0; i++) {
        rc = load_checkpoint(h, h->campaigns[i], &from[i], err);
        min_from = from[i] < min_from ? from[i] : min_from;
    }
    sqlite3_stmt *st = NULL;
    int64_t last = 0;
    if (rc == 0 &&
        sqlite3_prepare_v2(h->db, "SELECT MAX(id) FROM batches", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        last = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == 0 && h->n_campaigns > 0) {
        if (sqlite3_prepare_v2(
                h->db,
                "SELECT id, campaign, round, reports FROM batches WHERE id > ? "
                "ORDER BY id",
                -1, &st, NULL) != SQLITE_OK) {
            rc = db_error(h, err, "cannot read batches");
        } else {
            sqlite3_bind_int64(st, 1, min_from);
            while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
                int64_t id = sqlite3_column_int64(st, 0);
                const char *cid = (const char *)sqlite3_column_text(st, 1);
                uint32_t round = (uint32_t)sqlite3_column_int64(st, 2);
                for (size_t i = 0; i < h->n_campaigns; i++) {
                    hush__campaign *c = h->campaigns[i];
                    if (strcmp(c->id, cid) != 0 || c->cur->round != round ||
                        id <= from[i]) {
                        continue;
                    }
                    hush_err local = {0};
                    if (hush_ldp_agg_add(c->cur->agg, sqlite3_column_blob(st, 3),
                                         (size_t)sqlite3_column_bytes(st, 3), NULL,
                                         &local) != 0) {
                        rc = hush_err_set(
                            err, HUSH_ECORRUPT,
                            "store: batch row %lld does not fit campaign %s: %s",
                            (long long)id, cid, local.msg);
                    }
                    c->cur->version++;
                    break;
                }
            }
        }
    }
    sqlite3_finalize(st);
    hush_free(from);
    h->last_rowid = last;
    h->metrics.rebuild_seconds = hush__now() - t0;
    return rc;
}

int hush__store_close_round(hush_collector *h, const hush__campaign *c, uint32_t closing,
                            const hush__round_record *rec, const hush__round *next,
                            hush_err *err)
{
    sqlite3_stmt *a = NULL, *b = NULL, *u = NULL;
    int rc = 0;
    pthread_mutex_lock(&h->db_lock);
    if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h->db,
                           "UPDATE rounds SET closed_at = ?, n_reports = ?, kept = ?, "
                           "generated = ?, timings = ?, metrics = ?, estimates = ?, "
                           "policy = ?, lineage = ? WHERE campaign = ? AND round = ? AND "
                           "closed_at IS NULL",
                           -1, &a, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h->db,
                           "INSERT INTO rounds(campaign, round, publication, signature, "
                           "opened_at) VALUES(?, ?, ?, ?, ?)",
                           -1, &b, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h->db, "UPDATE campaigns SET round = ? WHERE id = ?", -1, &u,
                           NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot close the round");
        goto out;
    }
    sqlite3_bind_int64(a, 1, next->opened_at);
    sqlite3_bind_int64(a, 2, (sqlite3_int64)rec->n_reports);
    sqlite3_bind_int64(a, 3, rec->kept);
    sqlite3_bind_int64(a, 4, rec->generated);
    sqlite3_bind_text(a, 5, rec->timings, -1, SQLITE_STATIC);
    if (rec->metrics != NULL) {
        sqlite3_bind_text(a, 6, rec->metrics, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(a, 6);
    }
    sqlite3_bind_text(a, 7, rec->estimates, -1, SQLITE_STATIC);
    sqlite3_bind_text(a, 8, rec->policy, -1, SQLITE_STATIC);
    if (rec->lineage != NULL) {
        sqlite3_bind_text(a, 9, rec->lineage, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(a, 9);
    }
    sqlite3_bind_text(a, 10, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(a, 11, closing);
    sqlite3_bind_text(b, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(b, 2, next->round);
    sqlite3_bind_text(b, 3, next->pub_body, (int)next->pub_len, SQLITE_STATIC);
    sqlite3_bind_text(b, 4, next->signature, -1, SQLITE_STATIC);
    sqlite3_bind_int64(b, 5, next->opened_at);
    sqlite3_bind_int64(u, 1, next->round);
    sqlite3_bind_text(u, 2, c->id, -1, SQLITE_STATIC);
    if (sqlite3_step(a) != SQLITE_DONE || sqlite3_changes(h->db) != 1) {
        rc = sqlite3_changes(h->db) != 1
                 ? hush_err_set(err, HUSH_ECORRUPT,
                                "round %u of %s is not open in the store", closing, c->id)
                 : db_error(h, err, "cannot close the round");
        goto out;
    }
    if (sqlite3_step(b) != SQLITE_DONE || sqlite3_step(u) != SQLITE_DONE) {
        rc = db_error(h, err, "cannot open the next round");
        goto out;
    }
    if (sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot commit the round");
    }
out:
    if (rc != 0) {
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    sqlite3_finalize(u);
    pthread_mutex_unlock(&h->db_lock);
    return rc;
}

static json_t *json_column(sqlite3_stmt *st, int col)
{
    const char *text = (const char *)sqlite3_column_text(st, col);
    json_t *v = text != NULL ? json_loads(text, 0, NULL) : NULL;
    return v != NULL ? v : json_null();
}

int hush__store_rounds(hush_collector *h, const char *campaign, json_t **out,
                       hush_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    json_t *arr = json_array();
    pthread_mutex_lock(&h->db_lock);
    if (arr == NULL ||
        sqlite3_prepare_v2(
            h->db,
            "SELECT round, opened_at, closed_at, n_reports, kept, generated, "
            "timings, metrics, policy, lineage FROM rounds WHERE campaign = ? ORDER "
            "BY round",
            -1, &st, NULL) != SQLITE_OK) {
        rc = arr == NULL ? hush_err_set(err, HUSH_ENOMEM, "out of memory")
                         : db_error(h, err, "cannot read rounds");
        goto out;
    }
    sqlite3_bind_text(st, 1, campaign, -1, SQLITE_STATIC);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        bool closed = sqlite3_column_type(st, 2) != SQLITE_NULL;
        json_t *o =
            json_pack("{s:I, s:I, s:o}", "round", (json_int_t)sqlite3_column_int64(st, 0),
                      "opened_at", (json_int_t)sqlite3_column_int64(st, 1), "closed_at",
                      closed ? json_integer(sqlite3_column_int64(st, 2)) : json_null());
        if (o != NULL && closed) {
            json_object_set_new(o, "n_reports",
                                json_integer(sqlite3_column_int64(st, 3)));
            json_object_set_new(o, "kept", json_integer(sqlite3_column_int64(st, 4)));
            json_object_set_new(o, "generated",
                                json_integer(sqlite3_column_int64(st, 5)));
            json_object_set_new(o, "timings", json_column(st, 6));
            json_object_set_new(o, "metrics", json_column(st, 7));
            json_object_set_new(o, "policy", json_column(st, 8));
            json_object_set_new(o, "lineage", json_column(st, 9));
        }
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            rc = hush_err_set(err, HUSH_ENOMEM, "out of memory");
        }
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->db_lock);
    if (rc != 0) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

int hush__store_round_estimates(hush_collector *h, const char *campaign, uint32_t round,
                                char **out, hush_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = HUSH_ENOTFOUND;
    pthread_mutex_lock(&h->db_lock);
    if (sqlite3_prepare_v2(
            h->db,
            "SELECT estimates FROM rounds WHERE campaign = ? AND round = ? "
            "AND closed_at IS NOT NULL AND estimates IS NOT NULL",
            -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot read rounds");
    } else {
        sqlite3_bind_text(st, 1, campaign, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, round);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *text = (const char *)sqlite3_column_text(st, 0);
            *out = text != NULL ? hush_strdup(text) : NULL;
            rc = *out != NULL ? 0 : hush_err_set(err, HUSH_ENOMEM, "out of memory");
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->db_lock);
    return rc;
}

/* ---- federated learning tasks ---- */

int hush__store_task_save(hush_collector *h, const hush__task *t, bool fresh,
                          const hush__model_round *closed, hush_err *err)
{
    hush__task_row row;
    hush__task_state(t, &row);
    uint8_t *params = NULL;
    size_t params_len = 0;
    int rc = hush_model_serialize(row.model, &params, &params_len, err);
    if (rc != 0) {
        return rc;
    }
    sqlite3_stmt *a = NULL, *b = NULL, *c = NULL;
    pthread_mutex_lock(&h->db_lock);
    static const char insert[] = "INSERT INTO models(id, name, created_at, spec, round, "
                                 "done, state, clip, params, opt) "
                                 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    static const char update[] =
        "UPDATE models SET round = ?5, done = ?6, state = ?7, clip = ?8, params = ?9, "
        "opt = ?10 WHERE id = ?1 AND ?2 IS NOT NULL AND ?3 IS NOT NULL AND ?4 IS NOT "
        "NULL";
    if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h->db, fresh ? insert : update, -1, &a, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot save the model task");
        goto out;
    }
    sqlite3_bind_text(a, 1, row.id, -1, SQLITE_STATIC);
    sqlite3_bind_text(a, 2, row.name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(a, 3, row.created_at);
    sqlite3_bind_text(a, 4, row.spec, -1, SQLITE_STATIC);
    sqlite3_bind_int64(a, 5, row.round);
    sqlite3_bind_int64(a, 6, row.done);
    sqlite3_bind_int64(a, 7, row.state);
    sqlite3_bind_double(a, 8, row.clip);
    sqlite3_bind_blob(a, 9, params, (int)params_len, SQLITE_STATIC);
    if (row.opt_n > 0) {
        sqlite3_bind_blob(a, 10, row.opt, (int)(row.opt_n * sizeof(float)),
                          SQLITE_STATIC);
    } else {
        sqlite3_bind_null(a, 10);
    }
    if (sqlite3_step(a) != SQLITE_DONE) {
        rc = fresh && sqlite3_extended_errcode(h->db) == SQLITE_CONSTRAINT_PRIMARYKEY
                 ? hush_err_set(err, HUSH_EEXIST, "model task \"%s\" already exists",
                                row.id)
                 : db_error(h, err, "cannot save the model task");
        goto out;
    }
    if (closed != NULL) {
        if (sqlite3_prepare_v2(
                h->db,
                "INSERT OR REPLACE INTO model_rounds(model, round, updates, clip, "
                "epsilon, closed_at, aggregate_ms) VALUES(?, ?, ?, ?, ?, ?, ?)",
                -1, &b, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(h->db,
                               "DELETE FROM model_updates WHERE model = ? AND round = ?",
                               -1, &c, NULL) != SQLITE_OK) {
            rc = db_error(h, err, "cannot record the round");
            goto out;
        }
        sqlite3_bind_text(b, 1, row.id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(b, 2, closed->round);
        sqlite3_bind_int64(b, 3, closed->updates);
        sqlite3_bind_double(b, 4, closed->clip);
        if (isfinite(closed->epsilon)) {
            sqlite3_bind_double(b, 5, closed->epsilon);
        } else {
            sqlite3_bind_null(b, 5);
        }
        sqlite3_bind_int64(b, 6, hush__wall());
        sqlite3_bind_double(b, 7, closed->aggregate_ms);
        sqlite3_bind_text(c, 1, row.id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(c, 2, closed->round);
        if (sqlite3_step(b) != SQLITE_DONE || sqlite3_step(c) != SQLITE_DONE) {
            rc = db_error(h, err, "cannot record the round");
            goto out;
        }
    }
    if (sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot commit the model task");
    }
out:
    if (rc != 0) {
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    sqlite3_finalize(c);
    pthread_mutex_unlock(&h->db_lock);
    hush_free(params);
    return rc;
}

int hush__store_task_update(hush_collector *h, const char *id, const hush_model_update *u,
                            bool *duplicate, hush_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    pthread_mutex_lock(&h->db_lock);
    if (sqlite3_prepare_v2(h->db,
                           "INSERT OR IGNORE INTO model_updates(model, round, batch_id, "
                           "unclipped, update_) VALUES(?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot store the update");
    } else {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, u->round);
        sqlite3_bind_blob(st, 3, u->batch_id, HUSH_BATCH_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, u->unclipped);
        /* float32 in the host's order: hush runs on little-endian hosts */
        sqlite3_bind_blob(st, 5, u->update, (int)(u->n * sizeof(float)), SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = db_error(h, err, "cannot store the update");
        } else {
            *duplicate = sqlite3_changes(h->db) == 0;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->db_lock);
    return rc;
}

int hush__store_task_replay(hush_collector *h, hush__task *t, hush_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    pthread_mutex_lock(&h->db_lock);
    if (sqlite3_prepare_v2(
            h->db,
            "SELECT update_, unclipped FROM model_updates WHERE model = ? AND "
            "round = ? ORDER BY id",
            -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot read updates");
    } else {
        sqlite3_bind_text(st, 1, hush__task_id(t), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, hush__task_round(t));
        while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            rc = hush__task_replay_one(t, sqlite3_column_blob(st, 0),
                                       (size_t)sqlite3_column_bytes(st, 0),
                                       sqlite3_column_int(st, 1) != 0, err);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->db_lock);
    return rc;
}

int hush__store_load_tasks(hush_collector *h, hush_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(
            h->db,
            "SELECT spec, created_at, round, done, state, clip, params, opt "
            "FROM models ORDER BY created_at, id",
            -1, &st, NULL) != SQLITE_OK) {
        return db_error(h, err, "cannot read model tasks");
    }
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        rc = hush__task_restore(
            h, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
            (uint32_t)sqlite3_column_int64(st, 2), (uint32_t)sqlite3_column_int64(st, 3),
            sqlite3_column_int(st, 4), sqlite3_column_double(st, 5),
            sqlite3_column_blob(st, 6), (size_t)sqlite3_column_bytes(st, 6),
            sqlite3_column_blob(st, 7), (size_t)sqlite3_column_bytes(st, 7), err);
    }
    sqlite3_finalize(st);
    return rc;
}

int hush__store_model_rounds(hush_collector *h, const char *id, json_t **out,
                             hush_err *err)
{
    sqlite3_stmt *st = NULL;
    json_t *arr = json_array();
    int rc = 0;
    pthread_mutex_lock(&h->db_lock);
    if (arr == NULL ||
        sqlite3_prepare_v2(h->db,
                           "SELECT round, updates, clip, epsilon, closed_at, "
                           "aggregate_ms FROM model_rounds WHERE model = ? "
                           "ORDER BY round",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot read model rounds");
    } else {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_t *o = json_pack("{s:I, s:I, s:f, s:o, s:I, s:f}", "round",
                                  (json_int_t)sqlite3_column_int64(st, 0), "updates",
                                  (json_int_t)sqlite3_column_int64(st, 1), "clip_norm",
                                  sqlite3_column_double(st, 2), "epsilon",
                                  sqlite3_column_type(st, 3) == SQLITE_NULL
                                      ? json_null()
                                      : json_real(sqlite3_column_double(st, 3)),
                                  "closed_at", (json_int_t)sqlite3_column_int64(st, 4),
                                  "aggregate_ms", sqlite3_column_double(st, 5));
            json_array_append_new(arr, o);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->db_lock);
    if (rc != 0) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
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

int hush__store_compact(hush_collector *h, hush__compaction *out, hush_err *err)
{
    /* the campaigns' open rounds cannot change while the read lock is held
     * (a close takes the write lock), and closed rounds never get a batch */
    static const char measure[] =
        "SELECT COUNT(DISTINCT b.campaign || '/' || b.round), COUNT(*), "
        "COALESCE(SUM(b.n), 0), COALESCE(SUM(length(b.reports) + length(b.batch_id) + "
        "length(b.campaign) + 24), 0) FROM batches b JOIN campaigns c ON c.id = "
        "b.campaign WHERE b.round < c.round";
    sqlite3_stmt *st = NULL;
    int rc = 0;
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&h->campaigns_lock);
    pthread_mutex_lock(&h->db_lock);
    if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h->db, measure, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = db_error(h, err, "cannot measure the closed rounds' batches");
        goto out;
    }
    read_measure(st, out);
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(h->db,
                     "DELETE FROM batches WHERE id IN (SELECT b.id FROM batches b JOIN "
                     "campaigns c ON c.id = b.campaign WHERE b.round < c.round)",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot delete the closed rounds' batches");
        goto out;
    }
    if (sqlite3_prepare_v2(h->db,
                           "SELECT page_count * page_size FROM pragma_page_count(), "
                           "pragma_page_size()",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        out->file_bytes = sqlite3_column_int64(st, 0);
    }
out:
    if (rc != 0) {
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->db_lock);
    pthread_rwlock_unlock(&h->campaigns_lock);
    return rc;
}

int hush__store_end_campaign(hush_collector *h, const char *id, int64_t when,
                             hush_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    pthread_mutex_lock(&h->db_lock);
    if (sqlite3_prepare_v2(h->db,
                           "INSERT INTO campaign_ends(campaign, ended_at) VALUES(?, ?)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot end the campaign");
    } else {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, when);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = db_error(h, err, "cannot end the campaign");
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->db_lock);
    return rc;
}

int hush__store_archive_campaign(hush_collector *h, hush__campaign *c, int64_t when,
                                 hush__compaction *out, hush_err *err)
{
    /* under the write lock: no writer is between a batch's commit and its
     * add, so the aggregate saved here holds every batch deleted here */
    sqlite3_stmt *st = NULL;
    uint8_t *state = NULL;
    size_t slen = 0;
    int rc = 0;
    memset(out, 0, sizeof *out);
    pthread_rwlock_wrlock(&h->campaigns_lock);
    pthread_mutex_lock(&h->db_lock);
    hush__round *r = c->cur;
    pthread_mutex_lock(&r->lock);
    rc = hush_ldp_agg_serialize(r->agg, &state, &slen, err);
    pthread_mutex_unlock(&r->lock);
    if (rc != 0) {
        goto out;
    }
    if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot archive");
        goto out;
    }
    /* the open round's state, complete, as its checkpoint: a restart needs
     * none of the batches deleted below */
    if (sqlite3_prepare_v2(
            h->db,
            "INSERT OR REPLACE INTO checkpoints(campaign, round, last_rowid, "
            "state) VALUES(?, ?, (SELECT COALESCE(MAX(id), 0) FROM batches), ?)",
            -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot archive");
        goto out;
    }
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->round);
    sqlite3_bind_blob(st, 3, state, (int)slen, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_error(h, err, "cannot save the final state");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(h->db,
                           "SELECT COUNT(DISTINCT round), COUNT(*), COALESCE(SUM(n), 0), "
                           "COALESCE(SUM(length(reports) + length(batch_id) + "
                           "length(campaign) + 24), 0) FROM batches WHERE campaign = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot archive");
        goto out;
    }
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = db_error(h, err, "cannot measure the campaign's batches");
        goto out;
    }
    read_measure(st, out);
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(h->db, "DELETE FROM batches WHERE campaign = ?", -1, &st,
                           NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot archive");
        goto out;
    }
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_error(h, err, "cannot delete the campaign's batches");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(
            h->db, "INSERT INTO campaign_archives(campaign, archived_at) VALUES(?, ?)",
            -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot archive");
        goto out;
    }
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, when);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_error(h, err, "cannot record the archive");
        goto out;
    }
    if (sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot commit the archive");
        goto out;
    }
    __atomic_store_n(&c->archived_at, when, __ATOMIC_RELEASE);
out:
    if (rc != 0) {
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_finalize(st);
    hush_free(state);
    pthread_mutex_unlock(&h->db_lock);
    pthread_rwlock_unlock(&h->campaigns_lock);
    return rc;
}

int hush__store_set_signature(hush_collector *h, const char *campaign, uint32_t round,
                              const char *signature, hush_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    pthread_mutex_lock(&h->db_lock);
    if (sqlite3_prepare_v2(
            h->db, "UPDATE rounds SET signature = ? WHERE campaign = ? AND round = ?", -1,
            &st, NULL) != SQLITE_OK) {
        rc = db_error(h, err, "cannot store a signature");
    } else {
        sqlite3_bind_text(st, 1, signature, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, campaign, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, round);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = db_error(h, err, "cannot store a signature");
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&h->db_lock);
    return rc;
}
