/*
 * store_pg.c - the store (store.h) in PostgreSQL, through libpq: the same
 * rows as the SQLite store, for operators whose hushd keeps its state in
 * a database server (`--store postgres://...`).
 *
 * One connection, used under the store's mutex (recursive, as in the
 * SQLite store: a visitor may call the store again).  Every multi-statement
 * write is one transaction (in_tx): BEGIN ISOLATION LEVEL REPEATABLE READ,
 * the statements, COMMIT; a serialization failure or deadlock (40001,
 * 40P01) is retried a bounded number of times; a lost connection is reset
 * once and the operation fails with HUSH_EIO (the caller answers 503; the
 * client retries with the same batch id).  The schema is created and
 * migrated at open under an advisory lock, so that nodes starting together
 * do not race.
 *
 * Several nodes (hushd processes) may share the database.  Each has a node
 * id, held for the life of its connection by a session advisory lock, so
 * that two processes never write as one node.  Batches, checkpoints and
 * model tasks carry the node that wrote them.  Row ids come from one
 * sequence (batches.id BIGSERIAL); a node's own batches are committed by
 * one writer thread, one transaction after the other, so they grow in that
 * node's commit order, which the checkpoint rule needs: a node's aggregate
 * is its checkpoint plus its batches with larger row ids.  Row ids of
 * different nodes are never compared.
 *
 * Batch commits and round closes meet on the campaign's row: a commit reads
 * it FOR SHARE first (and stores a batch only while its round is the open
 * one and the campaign has not ended); a close, an end and an archive
 * change it, in a transaction that locks it FOR UPDATE first.  A commit
 * that reaches the row after a close is either blocked until the close
 * commits and then fails to serialize (40001: retried, it sees the new
 * round and refuses the batch), or was there first and is committed before
 * the close reads anything.  The close runs at READ COMMITTED, so that its
 * reads after the lock see every commit that finished while it waited (a
 * REPEATABLE READ snapshot would be taken before the wait and miss them).
 *
 * bytea travels as binary parameters and comes back in text (hex) form,
 * unescaped with PQunescapeBytea.
 */
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hush_collector.h"
#include "store.h"
#include "util.h"

#define SCHEMA_VERSION 2
#define TX_RETRIES 8
/* pg_advisory_lock key: "hush" */
#define MIGRATION_LOCK 0x68757368
/* a node id's lock: (this, hashtext(node)) */
#define HUSH__PG_NODE_LOCK_TEXT "1752462185"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS hush_schema(version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS campaigns("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL,"
    "  spec TEXT NOT NULL, round BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS rounds("
    "  campaign TEXT NOT NULL, round BIGINT NOT NULL, publication TEXT NOT NULL,"
    "  signature TEXT NOT NULL, opened_at BIGINT NOT NULL, closed_at BIGINT,"
    "  n_reports BIGINT, kept BIGINT, generated BIGINT, timings TEXT, metrics TEXT,"
    "  estimates TEXT, policy TEXT, lineage TEXT, PRIMARY KEY(campaign, round));"
    "CREATE TABLE IF NOT EXISTS batches("
    "  id BIGSERIAL PRIMARY KEY, batch_id BYTEA NOT NULL UNIQUE, campaign TEXT NOT NULL,"
    "  round BIGINT NOT NULL, n BIGINT NOT NULL, reports BYTEA NOT NULL);"
    "CREATE TABLE IF NOT EXISTS checkpoints("
    "  campaign TEXT NOT NULL, round BIGINT NOT NULL, last_rowid BIGINT NOT NULL,"
    "  state BYTEA NOT NULL, PRIMARY KEY(campaign, round));"
    "CREATE TABLE IF NOT EXISTS models("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL,"
    "  spec TEXT NOT NULL, round BIGINT NOT NULL, done BIGINT NOT NULL,"
    "  state INTEGER NOT NULL, clip DOUBLE PRECISION NOT NULL, params BYTEA NOT NULL,"
    "  opt BYTEA);"
    "CREATE TABLE IF NOT EXISTS model_updates("
    "  id BIGSERIAL PRIMARY KEY, model TEXT NOT NULL, round BIGINT NOT NULL,"
    "  batch_id BYTEA NOT NULL UNIQUE, unclipped BOOLEAN NOT NULL, update_ BYTEA NOT "
    "NULL);"
    "CREATE TABLE IF NOT EXISTS model_rounds("
    "  model TEXT NOT NULL, round BIGINT NOT NULL, updates BIGINT NOT NULL,"
    "  clip DOUBLE PRECISION NOT NULL, epsilon DOUBLE PRECISION, closed_at BIGINT NOT "
    "NULL,"
    "  aggregate_ms DOUBLE PRECISION NOT NULL, PRIMARY KEY(model, round));"
    "CREATE TABLE IF NOT EXISTS campaign_ends("
    "  campaign TEXT PRIMARY KEY, ended_at BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS campaign_archives("
    "  campaign TEXT PRIMARY KEY, archived_at BIGINT NOT NULL);"
    /* added since: an evaluator's figures of a closed model round */
    "ALTER TABLE model_rounds ADD COLUMN IF NOT EXISTS metrics TEXT;"
    "CREATE TABLE IF NOT EXISTS token_issuance("
    "  day BIGINT NOT NULL, who BYTEA NOT NULL, count BIGINT NOT NULL,"
    "  PRIMARY KEY(day, who));"
    "CREATE TABLE IF NOT EXISTS spent_tokens("
    "  id BYTEA PRIMARY KEY, epoch BIGINT NOT NULL, batch BYTEA NOT NULL);"
    "CREATE INDEX IF NOT EXISTS spent_tokens_epoch ON spent_tokens(epoch);";

/* Version 2: rows carry their node; a node's checkpoint is its own; the rows
 * of a version-1 database (one node) become the migrating node's ($1). */
static const char *const schema_v2[] = {
    "ALTER TABLE batches ADD COLUMN IF NOT EXISTS node TEXT NOT NULL DEFAULT ''",
    "CREATE INDEX IF NOT EXISTS batches_node ON batches(node, id)",
    "ALTER TABLE checkpoints ADD COLUMN IF NOT EXISTS node TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE checkpoints ADD COLUMN IF NOT EXISTS saved_at BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE checkpoints DROP CONSTRAINT IF EXISTS checkpoints_pkey",
    "ALTER TABLE checkpoints ADD PRIMARY KEY (campaign, round, node)",
    "ALTER TABLE models ADD COLUMN IF NOT EXISTS node TEXT NOT NULL DEFAULT ''",
    "UPDATE batches SET node = $1 WHERE node = ''",
    "UPDATE checkpoints SET node = $1 WHERE node = ''",
    "UPDATE models SET node = $1 WHERE node = ''",
};

typedef struct pg {
    hush__store base;
    PGconn *conn;
    pthread_mutex_t lock;
    char conninfo[HUSH_PATH_MAX];
    char node[64];
    bool node_lost; /* after a reconnect, another process holds the node id */
    bool prepared;  /* the batch commit's statements, on this connection */
} pg;

/* ---- statements ---- */

/* A statement's parameters: text, or binary (bytea) with a length. */
typedef struct params {
    const char *v[12];
    int len[12], fmt[12];
    char num[12][32]; /* room for numbers as text */
    int n;
} params;

static void p_text(params *p, const char *s)
{
    p->v[p->n] = s;
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

static void p_int(params *p, int64_t x)
{
    snprintf(p->num[p->n], sizeof p->num[0], "%lld", (long long)x);
    p_text(p, p->num[p->n]);
}

static void p_real(params *p, double x)
{
    snprintf(p->num[p->n], sizeof p->num[0], "%.17g", x);
    p_text(p, p->num[p->n]);
}

static void p_blob(params *p, const void *b, size_t len)
{
    p->v[p->n] = b != NULL ? b : "";
    p->len[p->n] = (int)len;
    p->fmt[p->n] = 1;
    p->n++;
}

static void p_null(params *p)
{
    p_text(p, NULL);
}

/* A failed statement's error: the code the store interface promises. */
static int pg_error(pg *s, const PGresult *r, hush_err *err, const char *what)
{
    const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r != NULL && PQresultErrorMessage(r)[0] != '\0'
                          ? PQresultErrorMessage(r)
                          : PQerrorMessage(s->conn);
    char clean[200];
    snprintf(clean, sizeof clean, "%s", msg);
    clean[strcspn(clean, "\n")] = '\0';
    if (state != NULL && strcmp(state, "23505") == 0) {
        return hush_err_set(err, HUSH_EEXIST, "store: %s: %s", what, clean);
    }
    return hush_err_set(err, HUSH_EIO, "store: %s: %s", what, clean);
}

/* Runs sql with p; *out (if not NULL) gets the result (PQclear it). */
static int run(pg *s, const char *sql, const params *p, PGresult **out, hush_err *err,
               const char *what)
{
    /* without parameters: PQexec, which also runs several statements */
    PGresult *r = p == NULL
                      ? PQexec(s->conn, sql)
                      : PQexecParams(s->conn, sql, p->n, NULL, p->v, p->len, p->fmt, 0);
    ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = pg_error(s, r, err, what);
        PQclear(r);
        return rc;
    }
    if (out != NULL) {
        *out = r;
    } else {
        PQclear(r);
    }
    return 0;
}

static int64_t col_int(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* A bytea column, unescaped (PQfreemem it). */
static unsigned char *col_blob(const PGresult *r, int row, int col, size_t *len)
{
    return PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), len);
}

/* Takes the node id's session lock on this connection: 1 taken, 0 held by
 * another session, -1 the database did not answer. */
static int hold_node(pg *s)
{
    const char *v[1] = {s->node};
    PGresult *r = PQexecParams(
        s->conn, "SELECT pg_try_advisory_lock(" HUSH__PG_NODE_LOCK_TEXT ", hashtext($1))",
        1, NULL, v, NULL, NULL, 0);
    int got = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                  ? strcmp(PQgetvalue(r, 0, 0), "t") == 0
                  : -1;
    PQclear(r);
    return got;
}

/* Whether the connection was lost: reset it for the next operation (and
 * take the node id again: the lock went with the old session). */
static void check_connection(pg *s)
{
    if (PQstatus(s->conn) != CONNECTION_OK) {
        PQreset(s->conn);
        if (PQstatus(s->conn) == CONNECTION_OK) {
            __atomic_add_fetch(&s->base.reconnects, 1, __ATOMIC_RELAXED);
            s->prepared = false; /* a new session has none */
            PGresult *r = PQexec(s->conn, "SET client_min_messages = warning");
            PQclear(r);
            s->node_lost = hold_node(s) == 0;
        }
    }
}

typedef int (*tx_body)(pg *s, void *ctx, hush_err *err);

/* Runs body in one transaction at `begin`'s isolation under the store's
 * lock, retrying on serialization failures and deadlocks. */
static int in_tx_at(pg *s, const char *begin, tx_body body, void *ctx, const char *what,
                    hush_err *err)
{
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    if (s->node_lost) {
        pthread_mutex_unlock(&s->lock);
        return hush_err_set(err, HUSH_EIO,
                            "store: node id %s is held by another hushd since the "
                            "connection was reset; restart this one with its own id",
                            s->node);
    }
    for (int attempt = 0; attempt < TX_RETRIES; attempt++) {
        hush_err local = {0};
        rc = run(s, begin, NULL, NULL, &local, what);
        if (rc == 0) {
            rc = body(s, ctx, &local);
        }
        if (rc == 0) {
            rc = run(s, "COMMIT", NULL, NULL, &local, what);
        }
        if (rc == 0) {
            break;
        }
        PGresult *r = PQexec(s->conn, "ROLLBACK");
        PQclear(r);
        bool retry = strstr(local.msg, "could not serialize") != NULL ||
                     strstr(local.msg, "deadlock") != NULL;
        if (!retry || attempt + 1 == TX_RETRIES) {
            hush_err_set(err, rc, "%s", local.msg);
            check_connection(s);
            break;
        }
        __atomic_add_fetch(&s->base.retries, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int in_tx(pg *s, tx_body body, void *ctx, const char *what, hush_err *err)
{
    return in_tx_at(s, "BEGIN ISOLATION LEVEL REPEATABLE READ", body, ctx, what, err);
}

/* The operations that lock a campaign's row FOR UPDATE before reading what
 * other nodes committed (see the top of the file). */
static int in_tx_locking(pg *s, tx_body body, void *ctx, const char *what, hush_err *err)
{
    return in_tx_at(s, "BEGIN ISOLATION LEVEL READ COMMITTED", body, ctx, what, err);
}

/* One statement under the store's lock (no transaction of its own). */
static int once(pg *s, const char *sql, const params *p, PGresult **out, hush_err *err,
                const char *what)
{
    pthread_mutex_lock(&s->lock);
    int rc = s->node_lost
                 ? hush_err_set(err, HUSH_EIO,
                                "store: node id %s is held by another hushd", s->node)
                 : run(s, sql, p, out, err, what);
    if (rc != 0) {
        check_connection(s);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- opening ---- */

/* From version 1 to 2 (see schema_v2). */
static int migrate_v2(pg *s, hush_err *err)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof schema_v2 / sizeof *schema_v2; i++) {
        params p = {0};
        p_text(&p, s->node);
        rc = run(s, schema_v2[i], strstr(schema_v2[i], "$1") != NULL ? &p : NULL, NULL,
                 err, "cannot migrate to schema version 2");
    }
    return rc;
}

static int migrate_body(pg *s, void *ctx, hush_err *err)
{
    (void)ctx;
    PGresult *r = NULL;
    params p = {0};
    p_int(&p, MIGRATION_LOCK);
    int rc = run(s, "SELECT pg_advisory_xact_lock($1)", &p, NULL, err, "cannot migrate");
    if (rc == 0) {
        rc = run(s, schema, NULL, NULL, err, "cannot set up the schema");
    }
    if (rc == 0) {
        rc = run(s, "SELECT COALESCE(MAX(version), 0) FROM hush_schema", NULL, &r, err,
                 "cannot read the schema version");
    }
    int64_t have = rc == 0 ? col_int(r, 0, 0) : 0;
    PQclear(r);
    if (rc == 0 && have > SCHEMA_VERSION) {
        return hush_err_set(err, HUSH_EVERSION,
                            "store: schema version %lld is newer than this hushd's (%d)",
                            (long long)have, SCHEMA_VERSION);
    }
    if (rc == 0 && have < 2) {
        rc = migrate_v2(s, err);
    }
    if (rc == 0 && have < SCHEMA_VERSION) {
        params v = {0};
        p_int(&v, SCHEMA_VERSION);
        rc = run(s, "INSERT INTO hush_schema(version) VALUES($1)", &v, NULL, err,
                 "cannot record the schema version");
    }
    return rc;
}

static void pg_close(hush__store *base)
{
    pg *s = (pg *)base;
    if (s == NULL) {
        return;
    }
    PQfinish(s->conn);
    pthread_mutex_destroy(&s->lock);
    hush_free(s);
}

static const hush__store_ops pg_ops;

int hush__store_pg_open(const char *conninfo, const char *node, hush__store **out,
                        hush_err *err)
{
    *out = NULL;
    if (node == NULL || node[0] == '\0' || strlen(node) >= sizeof((pg *)0)->node) {
        return hush_err_set(err, HUSH_EINVAL, "store: a node id of 1 to %zu bytes",
                            sizeof((pg *)0)->node - 1);
    }
    pg *s = hush_calloc(1, sizeof *s);
    if (s == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory opening the store");
    }
    s->base.ops = &pg_ops;
    s->base.ok = true;
    snprintf(s->conninfo, sizeof s->conninfo, "%s", conninfo);
    snprintf(s->node, sizeof s->node, "%s", node);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&s->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    s->conn = PQconnectdb(conninfo);
    int rc = 0;
    if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s",
                 s->conn != NULL ? PQerrorMessage(s->conn) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        rc = hush_err_set(err, HUSH_EIO, "store: cannot connect to PostgreSQL: %s", msg);
    }
    if (rc == 0) {
        PGresult *r = PQexec(s->conn, "SET client_min_messages = warning");
        PQclear(r);
        int held = hold_node(s);
        rc = held == 1 ? 0
             : held == 0
                 ? hush_err_set(err, HUSH_ESTATE,
                                "store: node id %s is in use by another hushd on this "
                                "database (give each node its own --node-id)",
                                node)
                 : pg_error(s, NULL, err, "cannot take the node id");
    }
    if (rc == 0) {
        /* READ COMMITTED: a node that waited for the lock reads the version
         * the first one wrote */
        rc = in_tx_locking(s, migrate_body, NULL, "cannot migrate", err);
    }
    if (rc != 0) {
        pg_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}

static int pg_probe(hush__store *base, hush_err *err)
{
    pg *s = (pg *)base;
    int rc = once(s, "SELECT 1", NULL, NULL, err, "the store does not answer");
    bool ok = __atomic_load_n(&s->base.ok, __ATOMIC_ACQUIRE);
    if (rc == 0 && !ok) {
        rc = hush_err_set(err, HUSH_EIO, "the last commit failed: %s", s->base.error);
    }
    return rc;
}

/* ---- campaigns and rounds ---- */

static int insert_round(pg *s, const char *campaign, const hush__round_row *r,
                        hush_err *err)
{
    params p = {0};
    p_text(&p, campaign);
    p_int(&p, r->round);
    p_text(&p, r->publication);
    p_text(&p, r->signature);
    p_int(&p, r->opened_at);
    return run(s,
               "INSERT INTO rounds(campaign, round, publication, signature, opened_at) "
               "VALUES($1, $2, $3, $4, $5)",
               &p, NULL, err, "cannot save the round");
}

static int campaign_save_body(pg *s, void *ctx, hush_err *err)
{
    const hush__campaign_row *c = ctx;
    params p = {0};
    p_text(&p, c->id);
    p_text(&p, c->name);
    p_int(&p, c->created_at);
    p_text(&p, c->spec);
    p_int(&p, c->round);
    int rc = run(s,
                 "INSERT INTO campaigns(id, name, created_at, spec, round) "
                 "VALUES($1, $2, $3, $4, $5)",
                 &p, NULL, err, "cannot save the campaign");
    if (rc == HUSH_EEXIST) {
        hush_err_clear(err);
        return hush_err_set(err, HUSH_EEXIST, "campaign \"%s\" already exists", c->id);
    }
    hush__round_row r = {c->round, c->publication, c->publication_len, c->signature,
                         c->opened_at};
    return rc != 0 ? rc : insert_round(s, c->id, &r, err);
}

static int pg_campaign_save(hush__store *base, const hush__campaign_row *c, hush_err *err)
{
    return in_tx((pg *)base, campaign_save_body, (void *)c, "cannot save the campaign",
                 err);
}

static int pg_campaigns_each(hush__store *base, hush__campaign_fn fn, void *ctx,
                             hush_err *err)
{
    pg *s = (pg *)base;
    PGresult *r = NULL;
    pthread_mutex_lock(&s->lock);
    int rc =
        run(s,
            "SELECT c.id, c.name, c.created_at, c.round, r.publication, r.signature, "
            "c.spec, r.opened_at, e.ended_at, a.archived_at FROM campaigns c JOIN "
            "rounds r ON r.campaign = c.id AND r.round = c.round LEFT JOIN "
            "campaign_ends e ON e.campaign = c.id LEFT JOIN campaign_archives a ON "
            "a.campaign = c.id ORDER BY c.created_at, c.id",
            NULL, &r, err, "cannot read campaigns");
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        hush__campaign_row row = {.id = PQgetvalue(r, i, 0),
                                  .name = PQgetvalue(r, i, 1),
                                  .created_at = col_int(r, i, 2),
                                  .round = (uint32_t)col_int(r, i, 3),
                                  .publication = PQgetvalue(r, i, 4),
                                  .publication_len = (size_t)PQgetlength(r, i, 4),
                                  .signature = PQgetvalue(r, i, 5),
                                  .spec = PQgetvalue(r, i, 6),
                                  .opened_at = col_int(r, i, 7),
                                  .ended_at = col_int(r, i, 8),
                                  .archived_at = col_int(r, i, 9)};
        rc = fn(ctx, &row, err);
    }
    PQclear(r);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

struct end_ctx {
    const char *id;
    int64_t when;
};

static int end_body(pg *s, void *ctx, hush_err *err)
{
    const struct end_ctx *e = ctx;
    params p = {0};
    p_text(&p, e->id);
    /* a new version of the campaign's row: a commit that read it before is
     * refused a serialization (and, retried, sees the end) */
    int rc = run(s, "UPDATE campaigns SET round = round WHERE id = $1", &p, NULL, err,
                 "cannot end the campaign");
    p_int(&p, e->when);
    return rc != 0
               ? rc
               : run(s, "INSERT INTO campaign_ends(campaign, ended_at) VALUES($1, $2)",
                     &p, NULL, err, "cannot end the campaign");
}

static int pg_campaign_end(hush__store *base, const char *id, int64_t when, hush_err *err)
{
    struct end_ctx e = {id, when};
    return in_tx((pg *)base, end_body, &e, "cannot end the campaign", err);
}

static int lock_for_update(pg *s, const char *campaign, uint32_t *round, hush_err *err);
static int gather_peers(pg *s, const char *campaign, uint32_t round,
                        const hush__gather *g, hush_err *err);

static void read_measure(const PGresult *r, hush__compaction *out)
{
    out->rounds = col_int(r, 0, 0);
    out->batches = col_int(r, 0, 1);
    out->reports = col_int(r, 0, 2);
    out->bytes = col_int(r, 0, 3);
}

struct archive_ctx {
    const char *campaign;
    uint32_t round;
    const hush__gather *g;
    const hush__state_row *final;
    int64_t when;
    hush__compaction *out;
};

/* The final state, which holds every node's share, as this node's
 * checkpoint; the other nodes' checkpoints of the campaign dropped (their
 * shares are in it). */
static int archive_state(pg *s, const struct archive_ctx *a, hush_err *err)
{
    params p = {0};
    p_text(&p, a->campaign);
    p_int(&p, a->round);
    p_blob(&p, a->final->state, a->final->len);
    p_text(&p, s->node);
    p_int(&p, a->when);
    int rc = run(s,
                 "INSERT INTO checkpoints(campaign, round, last_rowid, state, node, "
                 "saved_at) VALUES($1, $2, (SELECT COALESCE(MAX(id), 0) FROM batches "
                 "WHERE node = $4), $3, $4, $5) ON CONFLICT (campaign, round, node) DO "
                 "UPDATE SET last_rowid = excluded.last_rowid, state = excluded.state, "
                 "saved_at = excluded.saved_at",
                 &p, NULL, err, "cannot save the final state");
    params d = {0};
    p_text(&d, a->campaign);
    p_text(&d, s->node);
    return rc != 0 ? rc
                   : run(s, "DELETE FROM checkpoints WHERE campaign = $1 AND node <> $2",
                         &d, NULL, err, "cannot save the final state");
}

static int archive_body(pg *s, void *ctx, hush_err *err)
{
    const struct archive_ctx *a = ctx;
    uint32_t open = 0;
    int rc = lock_for_update(s, a->campaign, &open, err);
    if (rc == 0 && open != a->round) {
        return hush_err_set(err, HUSH_ESTATE, "round %u of %s is no longer open",
                            a->round, a->campaign);
    }
    params u = {0};
    p_text(&u, a->campaign);
    /* a new version of the row: a checkpoint that read it before the archive
     * fails to serialize and, retried, sees the archive and skips it */
    if (rc == 0) {
        rc = run(s, "UPDATE campaigns SET round = round WHERE id = $1", &u, NULL, err,
                 "cannot archive");
    }
    if (rc == 0) {
        rc = gather_peers(s, a->campaign, a->round, a->g, err);
    }
    if (rc == 0) {
        rc = archive_state(s, a, err);
    }
    params c = {0};
    p_text(&c, a->campaign);
    PGresult *r = NULL;
    if (rc == 0 &&
        (rc = run(s,
                  "SELECT COUNT(DISTINCT round), COUNT(*), COALESCE(SUM(n), 0), "
                  "COALESCE(SUM(length(reports) + length(batch_id) + length(campaign) + "
                  "24), 0) FROM batches WHERE campaign = $1",
                  &c, &r, err, "cannot measure the campaign's batches")) == 0) {
        read_measure(r, a->out);
        PQclear(r);
    }
    if (rc == 0) {
        rc = run(s, "DELETE FROM batches WHERE campaign = $1", &c, NULL, err,
                 "cannot delete the campaign's batches");
    }
    params w = {0};
    p_text(&w, a->campaign);
    p_int(&w, a->when);
    return rc != 0
               ? rc
               : run(s,
                     "INSERT INTO campaign_archives(campaign, archived_at) VALUES($1, "
                     "$2)",
                     &w, NULL, err, "cannot record the archive");
}

static int pg_campaign_archive(hush__store *base, const char *campaign, uint32_t round,
                               const hush__gather *g, const hush__state_row *final,
                               int64_t when, hush__compaction *out, hush_err *err)
{
    memset(out, 0, sizeof *out);
    struct archive_ctx a = {campaign, round, g, final, when, out};
    return in_tx_locking((pg *)base, archive_body, &a, "cannot archive", err);
}

/* Locks the campaign's row against every node's batch commits (which read
 * it FOR SHARE) until the transaction ends: its open round. */
static int lock_for_update(pg *s, const char *campaign, uint32_t *round, hush_err *err)
{
    params p = {0};
    p_text(&p, campaign);
    PGresult *r = NULL;
    int rc = run(s, "SELECT round FROM campaigns WHERE id = $1 FOR UPDATE", &p, &r, err,
                 "cannot lock the campaign");
    if (rc == 0 && PQntuples(r) != 1) {
        rc = hush_err_set(err, HUSH_ENOTFOUND, "store: no campaign %s", campaign);
    } else if (rc == 0) {
        *round = (uint32_t)col_int(r, 0, 0);
    }
    PQclear(r);
    return rc;
}

/* The other nodes' checkpoints of a round, as read once: each node and the
 * last row id its state holds. */
struct peer_mark {
    char node[64];
    int64_t last_rowid;
};

static int peer_checkpoints(pg *s, const char *campaign, uint32_t round,
                            const hush__gather *g, struct peer_mark **marks, int *n,
                            hush_err *err)
{
    params p = {0};
    p_text(&p, campaign);
    p_int(&p, round);
    p_text(&p, s->node);
    PGresult *r = NULL;
    int rc =
        run(s,
            "SELECT node, last_rowid, state FROM checkpoints WHERE campaign = $1 AND "
            "round = $2 AND node <> $3",
            &p, &r, err, "cannot read the other nodes' checkpoints");
    *n = rc == 0 ? PQntuples(r) : 0;
    *marks = rc == 0 ? hush_calloc((size_t)*n + 1, sizeof **marks) : NULL;
    if (rc == 0 && *marks == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    for (int i = 0; rc == 0 && i < *n; i++) {
        snprintf((*marks)[i].node, sizeof(*marks)[i].node, "%s", PQgetvalue(r, i, 0));
        (*marks)[i].last_rowid = col_int(r, i, 1);
        size_t len = 0;
        unsigned char *state = col_blob(r, i, 2, &len);
        rc = state == NULL ? hush_err_set(err, HUSH_ENOMEM, "out of memory")
                           : g->state(g->ctx, PQgetvalue(r, i, 0), state, len, err);
        PQfreemem(state);
    }
    PQclear(r);
    return rc;
}

static int64_t mark_of(const struct peer_mark *marks, int n, const char *node)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(marks[i].node, node) == 0) {
            return marks[i].last_rowid;
        }
    }
    return 0; /* no checkpoint: every batch of the round */
}

/* The other nodes' batches of the round after their checkpoints, one row
 * at a time (single-row mode: a checkpoint interval of batches may be
 * large). */
static int peer_batches(pg *s, const char *campaign, uint32_t round,
                        const hush__gather *g, const struct peer_mark *marks, int n,
                        hush_err *err)
{
    params p = {0};
    p_text(&p, campaign);
    p_int(&p, round);
    p_text(&p, s->node);
    if (PQsendQueryParams(s->conn,
                          "SELECT node, id, reports FROM batches WHERE campaign = $1 AND "
                          "round = $2 AND node <> $3",
                          p.n, NULL, p.v, p.len, p.fmt, 0) != 1 ||
        PQsetSingleRowMode(s->conn) != 1) {
        return pg_error(s, NULL, err, "cannot read the other nodes' batches");
    }
    int rc = 0;
    PGresult *r;
    while ((r = PQgetResult(s->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE && rc == 0 &&
            col_int(r, 0, 1) > mark_of(marks, n, PQgetvalue(r, 0, 0))) {
            size_t len = 0;
            unsigned char *reports = col_blob(r, 0, 2, &len);
            rc = reports == NULL ? hush_err_set(err, HUSH_ENOMEM, "out of memory")
                                 : g->batch(g->ctx, reports, len, err);
            PQfreemem(reports);
        } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && rc == 0) {
            rc = pg_error(s, r, err, "cannot read the other nodes' batches");
        }
        PQclear(r);
    }
    return rc;
}

/* Every other node's share of the round, to g (the campaign's row locked). */
static int gather_peers(pg *s, const char *campaign, uint32_t round,
                        const hush__gather *g, hush_err *err)
{
    struct peer_mark *marks = NULL;
    int n = 0;
    int rc = g->begin(g->ctx, err);
    if (rc == 0) {
        rc = peer_checkpoints(s, campaign, round, g, &marks, &n, err);
    }
    if (rc == 0) {
        rc = peer_batches(s, campaign, round, g, marks, n, err);
    }
    hush_free(marks);
    return rc == 0 ? g->finish(g->ctx, err) : rc;
}

static int pg_peers_each(hush__store *base, const char *campaign, uint32_t round,
                         hush__peer_fn fn, void *ctx, hush_err *err)
{
    pg *s = (pg *)base;
    params p = {0};
    p_text(&p, campaign);
    p_int(&p, round);
    p_text(&p, s->node);
    PGresult *r = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = run(s,
                 "SELECT node, state, saved_at FROM checkpoints WHERE campaign = $1 AND "
                 "round = $2 AND node <> $3 ORDER BY node",
                 &p, &r, err, "cannot read the other nodes' checkpoints");
    if (rc != 0) {
        check_connection(s);
    }
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        size_t len = 0;
        unsigned char *state = col_blob(r, i, 1, &len);
        rc = state == NULL
                 ? hush_err_set(err, HUSH_ENOMEM, "out of memory")
                 : fn(ctx, PQgetvalue(r, i, 0), state, len, col_int(r, i, 2), err);
        PQfreemem(state);
    }
    PQclear(r);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

struct close_ctx {
    const char *campaign;
    uint32_t closing;
    const hush__gather *g;
    const hush__round_record *rec;
    const hush__round_row *next;
};

static int close_body(pg *s, void *ctx, hush_err *err)
{
    const struct close_ctx *c = ctx;
    const hush__round_record *rec = c->rec;
    uint32_t open = 0;
    int rc = lock_for_update(s, c->campaign, &open, err);
    if (rc == 0 && open != c->closing) {
        return hush_err_set(err, HUSH_ESTATE,
                            "round %u of %s is no longer open (round %u is: another node "
                            "closed it)",
                            c->closing, c->campaign, open);
    }
    if (rc == 0) {
        rc = gather_peers(s, c->campaign, c->closing, c->g, err);
    }
    if (rc != 0) {
        return rc;
    }
    params p = {0};
    p_int(&p, c->next->opened_at);
    p_int(&p, (int64_t)rec->n_reports);
    p_int(&p, rec->kept);
    p_int(&p, rec->generated);
    p_text(&p, rec->timings);
    p_text(&p, rec->metrics);
    p_text(&p, rec->estimates);
    p_text(&p, rec->policy);
    p_text(&p, rec->lineage);
    p_text(&p, c->campaign);
    p_int(&p, c->closing);
    PGresult *r = NULL;
    rc = run(s,
             "UPDATE rounds SET closed_at = $1, n_reports = $2, kept = $3, generated = "
             "$4, timings = $5, metrics = $6, estimates = $7, policy = $8, lineage = $9 "
             "WHERE campaign = $10 AND round = $11 AND closed_at IS NULL",
             &p, &r, err, "cannot close the round");
    if (rc == 0) {
        bool one = strcmp(PQcmdTuples(r), "1") == 0;
        PQclear(r);
        if (!one) {
            return hush_err_set(err, HUSH_ECORRUPT,
                                "round %u of %s is not open in the store", c->closing,
                                c->campaign);
        }
    }
    if (rc == 0) {
        rc = insert_round(s, c->campaign, c->next, err);
    }
    params u = {0};
    p_int(&u, c->next->round);
    p_text(&u, c->campaign);
    return rc != 0 ? rc
                   : run(s, "UPDATE campaigns SET round = $1 WHERE id = $2", &u, NULL,
                         err, "cannot open the next round");
}

static int pg_round_close(hush__store *base, const char *campaign, uint32_t closing,
                          const hush__gather *g, const hush__round_record *rec,
                          const hush__round_row *next, hush_err *err)
{
    struct close_ctx c = {campaign, closing, g, rec, next};
    return in_tx_locking((pg *)base, close_body, &c, "cannot close the round", err);
}

static int pg_round_set_signature(hush__store *base, const char *campaign, uint32_t round,
                                  const char *signature, hush_err *err)
{
    params p = {0};
    p_text(&p, signature);
    p_text(&p, campaign);
    p_int(&p, round);
    return once((pg *)base,
                "UPDATE rounds SET signature = $1 WHERE campaign = $2 AND round = $3", &p,
                NULL, err, "cannot store a signature");
}

static const char *text_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int pg_rounds_each(hush__store *base, const char *campaign, hush__round_fn fn,
                          void *ctx, hush_err *err)
{
    pg *s = (pg *)base;
    params p = {0};
    p_text(&p, campaign);
    PGresult *r = NULL;
    pthread_mutex_lock(&s->lock);
    int rc =
        run(s,
            "SELECT round, opened_at, closed_at, n_reports, kept, generated, timings, "
            "metrics, policy, lineage FROM rounds WHERE campaign = $1 ORDER BY round",
            &p, &r, err, "cannot read rounds");
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        hush__round_history row = {.round = (uint32_t)col_int(r, i, 0),
                                   .opened_at = col_int(r, i, 1),
                                   .closed = !PQgetisnull(r, i, 2),
                                   .closed_at = col_int(r, i, 2),
                                   .n_reports = col_int(r, i, 3),
                                   .kept = col_int(r, i, 4),
                                   .generated = col_int(r, i, 5),
                                   .timings = text_or_null(r, i, 6),
                                   .metrics = text_or_null(r, i, 7),
                                   .policy = text_or_null(r, i, 8),
                                   .lineage = text_or_null(r, i, 9)};
        rc = fn(ctx, &row, err);
    }
    PQclear(r);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
static int pg_round_estimates(hush__store *base, const char *campaign, uint32_t round,
                              char **out, hush_err *err)
{
    params p = {0};
    p_text(&p, campaign);
    p_int(&p, round);
    PGresult *r = NULL;
    int rc = once((pg *)base,
                  "SELECT estimates FROM rounds WHERE campaign = $1 AND round = $2 AND "
                  "closed_at IS NOT NULL AND estimates IS NOT NULL",
                  &p, &r, err, "cannot read rounds");
    if (rc == 0) {
        rc = HUSH_ENOTFOUND;
        if (PQntuples(r) == 1) {
            *out = hush_strdup(PQgetvalue(r, 0, 0));
            rc = *out != NULL ? 0 : hush_err_set(err, HUSH_ENOMEM, "out of memory");
        }
    }
    PQclear(r);
    return rc;
}

/* ---- batches and checkpoints ---- */

/* The campaign's row, locked against a close or an end until the commit:
 * its open round, and whether it has ended. */
static const char lock_campaign[] =
    "SELECT c.round, EXISTS(SELECT 1 FROM campaign_ends e WHERE e.campaign = c.id) "
    "FROM campaigns c WHERE c.id = $1 FOR SHARE OF c";

/* A batch stored only if its round is open and its campaign has not ended
 * (no row back: a duplicate, or closed; lock_campaign's answer tells which). */
static const char insert_batch[] =
    "INSERT INTO batches(batch_id, campaign, round, n, reports, node) "
    "SELECT $1::bytea, $2::text, $3::bigint, $4::bigint, $5::bytea, $6::text "
    "WHERE EXISTS(SELECT 1 FROM campaigns c WHERE c.id = $2 AND c.round = $3 AND NOT "
    "EXISTS(SELECT 1 FROM campaign_ends e WHERE e.campaign = c.id)) "
    "ON CONFLICT (batch_id) DO NOTHING RETURNING id";

/* One batch's INSERT, sent without waiting (pipeline mode). */
static int send_batch(pg *s, const hush__batch_row *b)
{
    params p = {0};
    p_blob(&p, b->batch_id, HUSH_BATCH_ID_BYTES);
    p_text(&p, b->campaign);
    p_int(&p, b->round);
    p_int(&p, (int64_t)b->n);
    p_blob(&p, b->reports, b->bytes);
    p_text(&p, s->node);
    return PQsendQueryPrepared(s->conn, "hush_insert_batch", p.n, p.v, p.len, p.fmt, 0) ==
                   1
               ? 0
               : HUSH_EIO;
}

/* The commit's two statements, parsed and planned once per connection
 * (a batch's INSERT is most of a commit's work in the database). */
static int prepare_commit(pg *s, hush_err *err)
{
    if (s->prepared) {
        return 0;
    }
    PGresult *a = PQprepare(s->conn, "hush_insert_batch", insert_batch, 0, NULL);
    PGresult *b = PQprepare(s->conn, "hush_lock_campaign", lock_campaign, 0, NULL);
    int rc = PQresultStatus(a) != PGRES_COMMAND_OK ? pg_error(s, a, err, "cannot prepare")
             : PQresultStatus(b) != PGRES_COMMAND_OK
                 ? pg_error(s, b, err, "cannot prepare")
                 : 0;
    PQclear(a);
    PQclear(b);
    s->prepared = rc == 0;
    return rc;
}

/* A distinct campaign of a group and its lock's answer. */
struct group_campaign {
    const char *id;
    uint32_t round;
    bool open; /* exists and has not ended */
};

struct commit_ctx {
    hush__batch_row *rows;
    size_t n;
    int64_t last;
    struct group_campaign *camp; /* n entries of room */
    size_t n_camp;
};

/* The next statement's result in a pipeline: its rows, or the error. */
static int pipeline_result(pg *s, PGresult **out, hush_err *err)
{
    PGresult *r = PQgetResult(s->conn);
    ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK
                 ? 0
                 : pg_error(s, r, err, "cannot store a batch");
    PGresult *end = PQgetResult(s->conn); /* the NULL that ends the statement */
    PQclear(end);
    if (rc != 0) {
        PQclear(r);
        return rc;
    }
    *out = r;
    return 0;
}

static struct group_campaign *campaign_of(struct commit_ctx *c, const char *id)
{
    for (size_t k = 0; k < c->n_camp; k++) {
        if (strcmp(c->camp[k].id, id) == 0) {
            return &c->camp[k];
        }
    }
    return NULL;
}

/* Sends, without waiting: each distinct campaign's lock, then each batch's
 * INSERT, then a sync.  How many statements went out: *sent. */
static int send_group(pg *s, struct commit_ctx *c, size_t *sent)
{
    int rc = 0;
    c->n_camp = 0;
    for (size_t i = 0; rc == 0 && i < c->n; i++) {
        if (c->rows[i].skip || campaign_of(c, c->rows[i].campaign) != NULL) {
            continue;
        }
        c->camp[c->n_camp++] = (struct group_campaign){c->rows[i].campaign, 0, false};
        const char *v[1] = {c->rows[i].campaign};
        rc = PQsendQueryPrepared(s->conn, "hush_lock_campaign", 1, v, NULL, NULL, 0) == 1
                 ? 0
                 : HUSH_EIO;
        *sent += rc == 0;
    }
    for (size_t i = 0; rc == 0 && i < c->n; i++) {
        if (!c->rows[i].skip) {
            rc = send_batch(s, &c->rows[i]);
            *sent += rc == 0;
        }
    }
    return rc == 0 && PQpipelineSync(s->conn) == 1 ? 0 : HUSH_EIO;
}

/* Reads the answers of send_group's statements, in order. */
static int read_group(pg *s, struct commit_ctx *c, size_t sent, hush_err *err)
{
    int rc = 0;
    size_t got = 0;
    for (size_t k = 0; k < c->n_camp && got < sent; k++, got++) {
        PGresult *r = NULL;
        int qrc = pipeline_result(s, &r, err);
        if (qrc == 0 && PQntuples(r) == 1) {
            c->camp[k].round = (uint32_t)col_int(r, 0, 0);
            c->camp[k].open = strcmp(PQgetvalue(r, 0, 1), "f") == 0;
        }
        PQclear(r);
        rc = rc != 0 ? rc : qrc;
    }
    for (size_t i = 0; i < c->n && got < sent; i++) {
        hush__batch_row *b = &c->rows[i];
        if (b->skip) {
            continue;
        }
        got++;
        PGresult *r = NULL;
        int qrc = pipeline_result(s, &r, err);
        if (qrc == 0 && PQntuples(r) == 1) {
            c->last = col_int(r, 0, 0);
        } else if (qrc == 0) {
            const struct group_campaign *g = campaign_of(c, b->campaign);
            b->closed = g == NULL || !g->open || g->round != b->round;
            b->duplicate = !b->closed;
        }
        PQclear(r);
        rc = rc != 0 ? rc : qrc;
    }
    return rc;
}

/* The group's batches in one round trip: every campaign's lock and every
 * INSERT sent in pipeline mode, then a sync, then the results in order (the
 * transaction around them is in_tx's). */
static int commit_body(pg *s, void *ctx, hush_err *err)
{
    struct commit_ctx *c = ctx;
    for (size_t i = 0; i < c->n; i++) {
        c->rows[i].closed = c->rows[i].duplicate = false; /* a retry starts afresh */
    }
    int prc = prepare_commit(s, err);
    if (prc != 0) {
        return prc;
    }
    if (PQenterPipelineMode(s->conn) != 1) {
        return pg_error(s, NULL, err, "cannot enter pipeline mode");
    }
    size_t sent = 0;
    int rc = send_group(s, c, &sent);
    int qrc = read_group(s, c, sent, err);
    rc = rc != 0 ? rc : qrc;
    /* the sync's own result, then back to one statement at a time */
    PGresult *r;
    while ((r = PQgetResult(s->conn)) != NULL) {
        bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (sync) {
            break;
        }
    }
    if (PQexitPipelineMode(s->conn) != 1 && rc == 0) {
        rc = pg_error(s, NULL, err, "cannot leave pipeline mode");
    }
    return rc != 0 && err != NULL && err->code == 0
               ? pg_error(s, NULL, err, "cannot store batches")
               : rc;
}

static int pg_batches_commit(hush__store *base, hush__batch_row *rows, size_t n,
                             int64_t *last_rowid, hush_err *err)
{
    struct commit_ctx c = {rows, n, *last_rowid, hush_calloc(n ? n : 1, sizeof *c.camp),
                           0};
    if (c.camp == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory committing batches");
    }
    int rc = in_tx((pg *)base, commit_body, &c, "cannot commit batches", err);
    if (rc == 0) {
        *last_rowid = c.last;
    }
    hush_free(c.camp);
    return rc;
}

static int pg_batches_each(hush__store *base, int64_t after, hush__batch_fn fn, void *ctx,
                           int64_t *max_rowid, hush_err *err)
{
    pg *s = (pg *)base;
    PGresult *r = NULL;
    pthread_mutex_lock(&s->lock);
    params me = {0};
    p_text(&me, s->node);
    int rc = run(s, "SELECT COALESCE(MAX(id), 0) FROM batches WHERE node = $1", &me, &r,
                 err, "cannot read batches");
    *max_rowid = rc == 0 ? col_int(r, 0, 0) : 0;
    PQclear(r);
    r = NULL;
    params p = {0};
    p_int(&p, after);
    p_text(&p, s->node);
    if (rc == 0) {
        rc =
            run(s,
                "SELECT id, campaign, round, reports FROM batches WHERE id > $1 AND node "
                "= $2 ORDER BY id",
                &p, &r, err, "cannot read batches");
    }
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        size_t len = 0;
        unsigned char *reports = col_blob(r, i, 3, &len);
        rc = reports == NULL ? hush_err_set(err, HUSH_ENOMEM, "out of memory")
                             : fn(ctx, col_int(r, i, 0), PQgetvalue(r, i, 1),
                                  (uint32_t)col_int(r, i, 2), reports, len, err);
        PQfreemem(reports);
    }
    PQclear(r);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

struct checkpoints_ctx {
    const hush__state_row *rows;
    size_t n;
    int64_t last_rowid;
};

static int checkpoints_body(pg *s, void *ctx, hush_err *err)
{
    const struct checkpoints_ctx *c = ctx;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->n; i++) {
        /* not for an archived campaign: the archive's final state holds this
         * node's share already (the lock orders it against the archive) */
        params q = {0};
        p_text(&q, c->rows[i].campaign);
        PGresult *r = NULL;
        rc = run(s,
                 "SELECT 1 FROM campaigns c WHERE c.id = $1 AND NOT EXISTS(SELECT 1 FROM "
                 "campaign_archives a WHERE a.campaign = c.id) FOR SHARE OF c",
                 &q, &r, err, "cannot write a checkpoint");
        bool live = rc == 0 && PQntuples(r) == 1;
        PQclear(r);
        if (rc != 0 || !live) {
            continue;
        }
        params p = {0};
        p_text(&p, c->rows[i].campaign);
        p_int(&p, c->rows[i].round);
        p_int(&p, c->last_rowid);
        p_blob(&p, c->rows[i].state, c->rows[i].len);
        p_text(&p, s->node);
        p_int(&p, hush__wall());
        rc = run(s,
                 "INSERT INTO checkpoints(campaign, round, last_rowid, state, node, "
                 "saved_at) VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT (campaign, round, "
                 "node) DO UPDATE SET last_rowid = excluded.last_rowid, state = "
                 "excluded.state, saved_at = excluded.saved_at",
                 &p, NULL, err, "cannot write a checkpoint");
    }
    return rc;
}

static int pg_checkpoints_save(hush__store *base, const hush__state_row *rows, size_t n,
                               int64_t last_rowid, hush_err *err)
{
    struct checkpoints_ctx c = {rows, n, last_rowid};
    return in_tx((pg *)base, checkpoints_body, &c, "cannot checkpoint", err);
}

static int pg_checkpoint_load(hush__store *base, const char *campaign, uint32_t round,
                              void **state, size_t *len, int64_t *last_rowid,
                              hush_err *err)
{
    params p = {0};
    p_text(&p, campaign);
    p_int(&p, round);
    p_text(&p, ((pg *)base)->node);
    PGresult *r = NULL;
    *state = NULL;
    *len = 0;
    int rc =
        once((pg *)base,
             "SELECT last_rowid, state FROM checkpoints WHERE campaign = $1 AND round = "
             "$2 AND node = $3",
             &p, &r, err, "cannot read checkpoints");
    if (rc == 0 && PQntuples(r) == 0) {
        rc = HUSH_ENOTFOUND;
    } else if (rc == 0) {
        size_t n = 0;
        unsigned char *b = col_blob(r, 0, 1, &n);
        *state = b != NULL ? hush_malloc(n + 1) : NULL;
        if (*state == NULL) {
            rc = hush_err_set(err, HUSH_ENOMEM, "out of memory reading a checkpoint");
        } else {
            memcpy(*state, b, n);
            *len = n;
            *last_rowid = col_int(r, 0, 0);
        }
        PQfreemem(b);
    }
    PQclear(r);
    return rc;
}

static int compact_body(pg *s, void *ctx, hush_err *err)
{
    hush__compaction *out = ctx;
    PGresult *r = NULL;
    int rc =
        run(s,
            "SELECT COUNT(DISTINCT b.campaign || '/' || b.round), COUNT(*), "
            "COALESCE(SUM(b.n), 0), COALESCE(SUM(length(b.reports) + length(b.batch_id) "
            "+ length(b.campaign) + 24), 0) FROM batches b JOIN campaigns c ON c.id = "
            "b.campaign WHERE b.round < c.round",
            NULL, &r, err, "cannot measure the closed rounds' batches");
    if (rc == 0) {
        read_measure(r, out);
        PQclear(r);
    }
    return rc != 0 ? rc
                   : run(s,
                         "DELETE FROM batches b USING campaigns c WHERE c.id = "
                         "b.campaign AND "
                         "b.round < c.round",
                         NULL, NULL, err, "cannot delete the closed rounds' batches");
}

static int pg_compact(hush__store *base, hush__compaction *out, hush_err *err)
{
    pg *s = (pg *)base;
    memset(out, 0, sizeof *out);
    int rc = in_tx(s, compact_body, out, "cannot compact", err);
    PGresult *r = NULL;
    if (rc == 0 && once(s, "SELECT pg_database_size(current_database())", NULL, &r, NULL,
                        "cannot measure the store") == 0) {
        out->file_bytes = col_int(r, 0, 0);
        PQclear(r);
    }
    return rc;
}

/* ---- federated learning tasks ---- */

struct task_ctx {
    const hush__task_row *t;
    bool fresh;
    const hush__model_round *closed;
};

static int task_save_body(pg *s, void *ctx, hush_err *err)
{
    const struct task_ctx *c = ctx;
    const hush__task_row *t = c->t;
    params p = {0};
    p_text(&p, t->id);
    p_text(&p, t->name);
    p_int(&p, t->created_at);
    p_text(&p, t->spec);
    p_int(&p, t->round);
    p_int(&p, t->done);
    p_int(&p, t->state);
    p_real(&p, t->clip);
    p_blob(&p, t->params, t->params_len);
    if (t->opt_n > 0) {
        p_blob(&p, t->opt, t->opt_n * sizeof(float));
    } else {
        p_null(&p);
    }
    p_text(&p, s->node);
    int rc = run(
        s,
        c->fresh ? "INSERT INTO models(id, name, created_at, spec, round, done, state, "
                   "clip, params, opt, node) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                   "$10, $11)"
                 : "UPDATE models SET round = $5, done = $6, state = $7, clip = $8, "
                   "params = $9, opt = $10 WHERE id = $1 AND $2::text IS NOT NULL AND "
                   "$3::bigint IS NOT NULL AND $4::text IS NOT NULL AND node = $11",
        &p, NULL, err, "cannot save the model task");
    if (rc == HUSH_EEXIST) {
        hush_err_clear(err);
        return hush_err_set(err, HUSH_EEXIST, "model task \"%s\" already exists", t->id);
    }
    const hush__model_round *cl = c->closed;
    if (rc == 0 && cl != NULL) {
        params q = {0};
        p_text(&q, t->id);
        p_int(&q, cl->round);
        p_int(&q, cl->updates);
        p_real(&q, cl->clip);
        if (isfinite(cl->epsilon)) {
            p_real(&q, cl->epsilon);
        } else {
            p_null(&q);
        }
        p_int(&q, cl->closed_at);
        p_real(&q, cl->aggregate_ms);
        rc = run(
            s,
            "INSERT INTO model_rounds(model, round, updates, clip, epsilon, closed_at, "
            "aggregate_ms) VALUES($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (model, round) "
            "DO UPDATE SET updates = excluded.updates, clip = excluded.clip, epsilon = "
            "excluded.epsilon, closed_at = excluded.closed_at, aggregate_ms = "
            "excluded.aggregate_ms",
            &q, NULL, err, "cannot record the round");
        params d = {0};
        p_text(&d, t->id);
        p_int(&d, cl->round);
        if (rc == 0) {
            rc = run(s, "DELETE FROM model_updates WHERE model = $1 AND round = $2", &d,
                     NULL, err, "cannot record the round");
        }
    }
    return rc;
}

static int pg_task_save(hush__store *base, const hush__task_row *t, bool fresh,
                        const hush__model_round *closed, hush_err *err)
{
    struct task_ctx c = {t, fresh, closed};
    return in_tx((pg *)base, task_save_body, &c, "cannot save the model task", err);
}

static int pg_tasks_each(hush__store *base, hush__task_fn fn, void *ctx, hush_err *err)
{
    pg *s = (pg *)base;
    PGresult *r = NULL;
    params me = {0};
    p_text(&me, s->node);
    pthread_mutex_lock(&s->lock);
    int rc =
        run(s,
            "SELECT id, name, spec, created_at, round, done, state, clip, params, opt "
            "FROM models WHERE node = $1 ORDER BY created_at, id",
            &me, &r, err, "cannot read model tasks");
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        size_t plen = 0, olen = 0;
        unsigned char *pblob = col_blob(r, i, 8, &plen);
        unsigned char *opt = PQgetisnull(r, i, 9) ? NULL : col_blob(r, i, 9, &olen);
        if (pblob == NULL || (!PQgetisnull(r, i, 9) && opt == NULL)) {
            rc = hush_err_set(err, HUSH_ENOMEM, "out of memory");
        } else if (olen % sizeof(float) != 0) {
            rc = hush_err_set(err, HUSH_ECORRUPT,
                              "stored optimizer state of %s is damaged",
                              PQgetvalue(r, i, 0));
        } else {
            hush__task_row row = {.id = PQgetvalue(r, i, 0),
                                  .name = PQgetvalue(r, i, 1),
                                  .spec = PQgetvalue(r, i, 2),
                                  .created_at = col_int(r, i, 3),
                                  .round = (uint32_t)col_int(r, i, 4),
                                  .done = (uint32_t)col_int(r, i, 5),
                                  .state = (int)col_int(r, i, 6),
                                  .clip = strtod(PQgetvalue(r, i, 7), NULL),
                                  .params = pblob,
                                  .params_len = plen,
                                  .opt = (const float *)(const void *)opt,
                                  .opt_n = olen / sizeof(float)};
            rc = fn(ctx, &row, err);
        }
        PQfreemem(pblob);
        PQfreemem(opt);
    }
    PQclear(r);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int pg_task_update(hush__store *base, const char *id, const hush_model_update *u,
                          bool *duplicate, hush_err *err)
{
    params p = {0};
    p_text(&p, id);
    p_int(&p, u->round);
    p_blob(&p, u->batch_id, HUSH_BATCH_ID_BYTES);
    p_text(&p, u->unclipped ? "true" : "false");
    /* float32 in the host's order: hush runs on little-endian hosts */
    p_blob(&p, u->update, u->n * sizeof(float));
    PGresult *r = NULL;
    int rc =
        once((pg *)base,
             "INSERT INTO model_updates(model, round, batch_id, unclipped, update_) "
             "VALUES($1, $2, $3, $4, $5) ON CONFLICT (batch_id) DO NOTHING RETURNING id",
             &p, &r, err, "cannot store the update");
    if (rc == 0) {
        *duplicate = PQntuples(r) == 0;
        PQclear(r);
    }
    return rc;
}

static int pg_task_updates_each(hush__store *base, const char *id, uint32_t round,
                                hush__update_fn fn, void *ctx, hush_err *err)
{
    pg *s = (pg *)base;
    params p = {0};
    p_text(&p, id);
    p_int(&p, round);
    PGresult *r = NULL;
    pthread_mutex_lock(&s->lock);
    int rc =
        run(s,
            "SELECT update_, unclipped FROM model_updates WHERE model = $1 AND round = "
            "$2 ORDER BY id",
            &p, &r, err, "cannot read updates");
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        size_t len = 0;
        unsigned char *u = col_blob(r, i, 0, &len);
        rc = u == NULL ? hush_err_set(err, HUSH_ENOMEM, "out of memory")
                       : fn(ctx, u, len, PQgetvalue(r, i, 1)[0] == 't', err);
        PQfreemem(u);
    }
    PQclear(r);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int pg_model_rounds_each(hush__store *base, const char *id,
                                hush__model_round_fn fn, void *ctx, hush_err *err)
{
    pg *s = (pg *)base;
    params p = {0};
    p_text(&p, id);
    PGresult *r = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = run(s,
                 "SELECT round, updates, clip, epsilon, closed_at, aggregate_ms, metrics "
                 "FROM model_rounds WHERE model = $1 ORDER BY round",
                 &p, &r, err, "cannot read model rounds");
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        hush__model_round row = {
            .round = (uint32_t)col_int(r, i, 0),
            .updates = (uint32_t)col_int(r, i, 1),
            .clip = strtod(PQgetvalue(r, i, 2), NULL),
            .epsilon = PQgetisnull(r, i, 3) ? NAN : strtod(PQgetvalue(r, i, 3), NULL),
            .closed_at = col_int(r, i, 4),
            .aggregate_ms = strtod(PQgetvalue(r, i, 5), NULL),
            .metrics = PQgetisnull(r, i, 6) ? NULL : PQgetvalue(r, i, 6)};
        rc = fn(ctx, &row, err);
    }
    PQclear(r);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
static int pg_model_round_metrics(hush__store *base, const char *id, uint32_t round,
                                  const char *metrics, hush_err *err)
{
    pg *s = (pg *)base;
    params p = {0};
    p_text(&p, metrics);
    p_text(&p, id);
    p_int(&p, round);
    PGresult *r = NULL;
    int rc =
        once(s, "UPDATE model_rounds SET metrics = $1 WHERE model = $2 AND round = $3",
             &p, &r, err, "cannot record the metrics");
    if (rc == 0 && strcmp(PQcmdTuples(r), "0") == 0) {
        rc = hush_err_set(err, HUSH_ENOTFOUND, "model %s has no closed round %u", id,
                          round);
    }
    PQclear(r);
    return rc;
}

static int pg_token_issue(hush__store *base, int64_t day, const uint8_t *who, uint32_t n,
                          uint32_t limit, hush_err *err)
{
    pg *s = (pg *)base;
    if (n > limit) {
        return hush_err_set(err, HUSH_EBUDGET, "%u tokens exceed the day's %u", n, limit);
    }
    params p = {0};
    p_int(&p, day);
    p_blob(&p, who, 32);
    p_int(&p, n);
    p_int(&p, limit);
    PGresult *r = NULL;
    int rc = once(s,
                  "INSERT INTO token_issuance(day, who, count) VALUES($1, $2, $3) "
                  "ON CONFLICT (day, who) DO UPDATE SET count = token_issuance.count + "
                  "EXCLUDED.count WHERE token_issuance.count + EXCLUDED.count <= $4 "
                  "RETURNING count",
                  &p, &r, err, "cannot count tokens");
    if (rc == 0 && PQntuples(r) == 0) {
        rc = hush_err_set(err, HUSH_EBUDGET, "the day's %u tokens are issued", limit);
    }
    PQclear(r);
    return rc;
}

struct token_spend {
    const uint8_t *ids;
    const uint64_t *epochs;
    size_t n;
    const uint8_t *batch;
};

static int tokens_spend_body(pg *s, void *ctx, hush_err *err)
{
    const struct token_spend *t = ctx;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < t->n; i++) {
        params p = {0};
        p_blob(&p, t->ids + 32 * i, 32);
        p_int(&p, (int64_t)t->epochs[i]);
        p_blob(&p, t->batch, HUSH_BATCH_ID_BYTES);
        PGresult *r = NULL;
        /* a row this same batch spent before (a resend) comes back too */
        rc = run(s,
                 "INSERT INTO spent_tokens(id, epoch, batch) VALUES($1, $2, $3) "
                 "ON CONFLICT (id) DO UPDATE SET epoch = spent_tokens.epoch "
                 "WHERE spent_tokens.batch = $3 RETURNING id",
                 &p, &r, err, "cannot spend tokens");
        if (rc == 0 && PQntuples(r) != 1) {
            rc = hush_err_set(err, HUSH_EEXIST, "token %zu was spent before", i);
        }
        PQclear(r);
    }
    return rc;
}

static int pg_tokens_spend(hush__store *base, const uint8_t *ids, const uint64_t *epochs,
                           size_t n, const uint8_t *batch_id, hush_err *err)
{
    struct token_spend t = {ids, epochs, n, batch_id};
    return in_tx_locking((pg *)base, tokens_spend_body, &t, "cannot spend tokens", err);
}

static int pg_tokens_expire(hush__store *base, uint64_t epoch, int64_t day, hush_err *err)
{
    pg *s = (pg *)base;
    params a = {0}, b = {0};
    p_int(&a, (int64_t)epoch);
    p_int(&b, day);
    int rc = once(s, "DELETE FROM spent_tokens WHERE epoch < $1", &a, NULL, err,
                  "cannot expire tokens");
    return rc != 0 ? rc
                   : once(s, "DELETE FROM token_issuance WHERE day < $1", &b, NULL, err,
                          "cannot expire tokens");
}

static const hush__store_ops pg_ops = {
    .kind = "postgres",
    .close = pg_close,
    .probe = pg_probe,
    .campaign_save = pg_campaign_save,
    .campaigns_each = pg_campaigns_each,
    .campaign_end = pg_campaign_end,
    .campaign_archive = pg_campaign_archive,
    .round_close = pg_round_close,
    .round_set_signature = pg_round_set_signature,
    .rounds_each = pg_rounds_each,
    .round_estimates = pg_round_estimates,
    .batches_commit = pg_batches_commit,
    .batches_each = pg_batches_each,
    .checkpoints_save = pg_checkpoints_save,
    .checkpoint_load = pg_checkpoint_load,
    .peers_each = pg_peers_each,
    .compact = pg_compact,
    .task_save = pg_task_save,
    .tasks_each = pg_tasks_each,
    .task_update = pg_task_update,
    .task_updates_each = pg_task_updates_each,
    .model_rounds_each = pg_model_rounds_each,
    .model_round_metrics = pg_model_round_metrics,
    .token_issue = pg_token_issue,
    .tokens_spend = pg_tokens_spend,
    .tokens_expire = pg_tokens_expire,
};
