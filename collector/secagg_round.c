/*
 * secagg_round.c - one secure-aggregation round on the collector
 * (secagg_round.h): stages, deadlines, and the documents in and out.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "secagg_round.h"

struct hush__sa_round {
    hush__sa_config cfg;
    hush__sa_stage stage;
    double deadline;
    hush_secagg_keys *keys;    /* the keys that came, in order */
    uint8_t (*token_hash)[32]; /* per key: a hash of the device's token */
    size_t n_keys;
    hush_secagg_params params;
    hush_secagg_server *server;
    uint8_t *posted; /* per device: posted in the current stage */
    size_t n_posted;
    size_t expected; /* devices the current stage waits for */
    uint32_t *sum;
    size_t survivors;
    char reason[HUSH_ERR_MSG_MAX + 1];
};

static const char *const stage_doc[] = {"keys", "boxes", "masked", "signature",
                                        "reveals"};

static void fail_round(hush__sa_round *r, const char *why)
{
    r->stage = HUSH__SA_FAILED;
    snprintf(r->reason, sizeof r->reason, "%s", why);
    hush_secagg_server_free(r->server);
    r->server = NULL;
}

int hush__sa_round_new(const hush__sa_config *cfg, double now, hush__sa_round **out,
                       hush__fail *f)
{
    *out = NULL;
    if (cfg->max_devices < 3 || cfg->max_devices > HUSH_SECAGG_MAX_DEVICES ||
        cfg->min_devices > cfg->max_devices || !(cfg->stage_seconds > 0) ||
        cfg->bits < 1 || cfg->bits > 32 || cfg->length < 1 ||
        cfg->length > HUSH_SECAGG_MAX_LENGTH) {
        return hush__fail_set(
            f, HUSH_EINVAL, "invalid_secagg",
            "secure aggregation needs 3 to %d devices, min <= max, bits "
            "in [1, 32], a length and a stage deadline",
            HUSH_SECAGG_MAX_DEVICES);
    }
    hush__sa_round *r = hush_calloc(1, sizeof *r);
    if (r != NULL) {
        r->keys = hush_calloc(cfg->max_devices, sizeof *r->keys);
        r->token_hash = hush_calloc(cfg->max_devices, sizeof *r->token_hash);
        r->posted = hush_calloc(cfg->max_devices, 1);
    }
    if (r == NULL || r->keys == NULL || r->token_hash == NULL || r->posted == NULL) {
        hush__sa_round_free(r);
        return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    r->cfg = *cfg;
    r->stage = HUSH__SA_KEYS;
    r->deadline = now + cfg->stage_seconds;
    r->expected = cfg->max_devices;
    *out = r;
    return 0;
}

void hush__sa_round_free(hush__sa_round *r)
{
    if (r == NULL) {
        return;
    }
    hush_secagg_server_free(r->server);
    hush_free(r->keys);
    hush_free(r->token_hash);
    hush_free(r->posted);
    hush_free(r->sum);
    hush_free(r);
}

const char *hush__sa_round_reason(const hush__sa_round *r)
{
    return r->reason;
}

const uint32_t *hush__sa_round_sum(const hush__sa_round *r, uint32_t *length,
                                   uint32_t *survivors)
{
    *length = r->stage == HUSH__SA_DONE ? r->params.length : 0;
    *survivors = (uint32_t)r->survivors;
    return r->stage == HUSH__SA_DONE ? r->sum : NULL;
}

/* The next stage begins: its deadline, nobody has posted in it yet. */
static void begin(hush__sa_round *r, hush__sa_stage s, size_t expected, double now)
{
    r->stage = s;
    r->deadline = now + r->cfg.stage_seconds;
    memset(r->posted, 0, r->cfg.max_devices);
    r->n_posted = 0;
    r->expected = expected;
}

/* keys -> shares: the list fixed, the parameters chosen for its size. */
static void end_keys(hush__sa_round *r, double now)
{
    hush_err err = {0};
    uint32_t n = (uint32_t)r->n_keys;
    uint32_t need = r->cfg.min_devices > 3 ? r->cfg.min_devices : 3;
    if (n == 0 && r->cfg.wait_for_keys) { /* nobody is kept waiting: wait on */
        r->deadline = now + r->cfg.stage_seconds;
        return;
    }
    if (n < need) {
        char why[160];
        snprintf(why, sizeof why, "%u devices sent keys; the round needs %u", n, need);
        fail_round(r, why);
        return;
    }
    if (hush_secagg_choose(n, r->cfg.dropout, r->cfg.dishonest, 40, 20, r->cfg.bits,
                           r->cfg.length, &r->params, &err) != 0 ||
        (r->params.round = r->cfg.round,
         hush_secagg_server_new(&r->params, r->keys, &r->server, &err)) != 0) {
        fail_round(r, err.msg);
        return;
    }
    begin(r, HUSH__SA_SHARES, n, now);
}

/* Ends the current stage: the next one, or a failed round. */
static void end_stage(hush__sa_round *r, double now)
{
    hush_err err = {0};
    const uint32_t *list = NULL;
    size_t n = 0;
    switch (r->stage) {
    case HUSH__SA_KEYS:
        end_keys(r, now);
        return;
    case HUSH__SA_SHARES:
        if (r->n_posted < r->params.q || r->n_posted < r->cfg.min_devices) {
            fail_round(r, "fewer devices shared their keys than the round needs");
            return;
        }
        begin(r, HUSH__SA_MASKED, r->n_posted, now);
        return;
    case HUSH__SA_MASKED:
        /* min_devices: the fewest whose noise a released sum may hold */
        if (hush_secagg_server_survivors(r->server, &list, &n, &err) != 0 ||
            n < r->params.q || n < r->cfg.min_devices) {
            fail_round(r, err.msg[0] ? err.msg
                                     : "fewer survivors than the round needs (its "
                                       "quorum q, and min_devices)");
            return;
        }
        r->survivors = n;
        begin(r, HUSH__SA_SIGN, n, now);
        return;
    case HUSH__SA_SIGN:
        if (r->n_posted < r->params.q) {
            fail_round(r, "fewer survivors signed the survivor list than the quorum q");
            return;
        }
        begin(r, HUSH__SA_UNMASK, r->n_posted, now);
        return;
    case HUSH__SA_UNMASK:
        r->sum = hush_malloc((size_t)r->params.length * sizeof *r->sum);
        if (r->sum == NULL) {
            fail_round(r, "out of memory");
        } else if (hush_secagg_server_finish(r->server, r->sum, &err) != 0) {
            hush_free(r->sum);
            r->sum = NULL;
            fail_round(r, err.msg);
        } else {
            r->stage = HUSH__SA_DONE;
        }
        return;
    case HUSH__SA_DONE:
    case HUSH__SA_FAILED:
        return;
    }
}

hush__sa_stage hush__sa_round_stage(hush__sa_round *r, double now)
{
    while (r->stage < HUSH__SA_DONE &&
           (now >= r->deadline || r->n_posted >= r->expected)) {
        hush__sa_stage was = r->stage;
        end_stage(r, now);
        if (r->stage == was) {
            break;
        }
    }
    return r->stage;
}

/* Whether token is the one device `from` got with its keys. */
static bool token_ok(const hush__sa_round *r, uint32_t from, const uint8_t *token)
{
    uint8_t h[32];
    if (token == NULL || from >= r->n_keys) {
        return false;
    }
    crypto_generichash(h, sizeof h, token, HUSH__SA_TOKEN_BYTES, NULL, 0);
    return sodium_memcmp(h, r->token_hash[from], sizeof h) == 0;
}

/* The device a document speaks for (its boxes', reveals' or own "from"). */
static uint32_t sender(const hush_secagg_msg *m)
{
    switch (m->stage) {
    case HUSH_SECAGG_BOXES:
        return m->n_boxes > 0 ? m->boxes[0].from : UINT32_MAX;
    case HUSH_SECAGG_REVEALS:
        return m->n_reveals > 0 ? m->reveals[0].from : UINT32_MAX;
    default:
        return m->from;
    }
}

/* One device's document of the current stage, to the protocol's server. */
static int accept(hush__sa_round *r, const hush_secagg_msg *m, hush__sa_post *io,
                  hush_err *err)
{
    uint32_t from = 0;
    int rc = 0;
    if (m->stage == HUSH_SECAGG_KEYS) {
        /* the same keys again: the device's retry (nobody else knows them
         * before the list is served), which gets a new token */
        size_t at = r->n_keys;
        for (size_t i = 0; i < r->n_keys; i++) {
            if (memcmp(&r->keys[i], &m->keys, sizeof m->keys) == 0) {
                at = i;
            }
        }
        io->duplicate = at < r->n_keys;
        io->index = (uint32_t)at;
        randombytes_buf(io->token, HUSH__SA_TOKEN_BYTES);
        crypto_generichash(r->token_hash[at], 32, io->token, HUSH__SA_TOKEN_BYTES, NULL,
                           0);
        if (!io->duplicate) {
            r->keys[r->n_keys++] = m->keys;
            r->n_posted++;
        }
        return 0;
    }
    if (!token_ok(r, sender(m), io->token)) {
        return hush_err_set(err, HUSH_EINVAL,
                            "the document does not carry the token of the device it "
                            "speaks for");
    }
    from = sender(m);
    io->index = from;
    if (r->posted[from]) { /* a retry: the first one counts */
        io->duplicate = true;
        return 0;
    }
    switch (m->stage) {
    case HUSH_SECAGG_BOXES:
        rc = hush_secagg_server_add_boxes(r->server, from, m->boxes, m->n_boxes, err);
        break;
    case HUSH_SECAGG_MASKED:
        rc = m->length != r->params.length
                 ? hush_err_set(err, HUSH_EINVAL, "a masked vector of %u values, not %u",
                                m->length, r->params.length)
                 : hush_secagg_server_add_masked(r->server, from, m->y, m->commit, err);
        break;
    case HUSH_SECAGG_SIGNATURE:
        rc = hush_secagg_server_add_sig(r->server, from, m->sigs[0].sig, err);
        break;
    case HUSH_SECAGG_REVEALS:
        rc = hush_secagg_server_add_reveals(r->server, from, m->reveals, m->n_reveals,
                                            err);
        break;
    default:
        return hush_err_set(err, HUSH_EINVAL, "not a device's document");
    }
    if (rc == 0) {
        r->posted[from] = 1;
        r->n_posted++;
    }
    return rc;
}

int hush__sa_round_post(hush__sa_round *r, const char *body, size_t len,
                        hush__sa_post *io, double now, hush__fail *f)
{
    io->duplicate = false;
    hush__sa_stage s = hush__sa_round_stage(r, now);
    if (s >= HUSH__SA_DONE) {
        return hush__fail_set(f, HUSH_ESTATE, "secagg_stage", "the round is %s",
                              s == HUSH__SA_DONE ? "over" : "failed");
    }
    hush_secagg_msg *m = NULL;
    hush_err err = {0};
    int rc = hush_secagg_msg_parse(body, len, &m, &err);
    if (rc != 0) {
        return hush__fail_set(f, rc, rc == HUSH_ENOMEM ? "internal" : "invalid_document",
                              "%s", err.msg);
    }
    static const hush_secagg_stage want[] = {HUSH_SECAGG_KEYS, HUSH_SECAGG_BOXES,
                                             HUSH_SECAGG_MASKED, HUSH_SECAGG_SIGNATURE,
                                             HUSH_SECAGG_REVEALS};
    if (m->stage != want[s]) {
        rc = hush__fail_set(f, HUSH_ESTATE, "secagg_stage",
                            "the round takes \"%s\" documents now", stage_doc[s]);
    } else if ((rc = accept(r, m, io, &err)) != 0) {
        rc = hush__fail_set(f, rc, rc == HUSH_ENOMEM ? "internal" : "secagg_refused",
                            "%s", err.msg);
    }
    hush_secagg_msg_free(m);
    hush__sa_round_stage(r, now); /* it may have been the last one expected */
    return rc;
}

int hush__sa_round_get(hush__sa_round *r, uint32_t index, double now, char **body,
                       hush__fail *f)
{
    *body = NULL;
    hush__sa_stage s = hush__sa_round_stage(r, now);
    hush_secagg_msg m = {0};
    hush_err err = {0};
    const hush_secagg_box *boxes = NULL;
    const hush_secagg_sig *sigs = NULL;
    const uint32_t *list = NULL;
    int rc = 0;
    switch (s) {
    case HUSH__SA_SHARES:
        m = (hush_secagg_msg){
            .stage = HUSH_SECAGG_LIST, .params = r->params, .list = r->keys};
        break;
    case HUSH__SA_MASKED:
        rc = index >= r->params.n
                 ? hush_err_set(&err, HUSH_EINVAL, "no device %u in the key list", index)
                 : hush_secagg_server_boxes_for(r->server, index, &boxes, &m.n_boxes,
                                                &err);
        m.stage = HUSH_SECAGG_BOXES;
        m.boxes = (hush_secagg_box *)boxes;
        break;
    case HUSH__SA_SIGN:
        rc = hush_secagg_server_survivors(r->server, &list, &m.n_indices, &err);
        m.stage = HUSH_SECAGG_SURVIVORS;
        m.indices = (uint32_t *)list;
        break;
    case HUSH__SA_UNMASK:
        rc = hush_secagg_server_unmask_request(r->server, &sigs, &m.n_sigs, &list,
                                               &m.n_indices, &err);
        m.stage = HUSH_SECAGG_UNMASK;
        m.sigs = (hush_secagg_sig *)sigs;
        m.indices = (uint32_t *)list;
        break;
    default:
        return hush__fail_set(f, HUSH_ESTATE, "secagg_stage",
                              "nothing to fetch while the round %s",
                              s == HUSH__SA_KEYS   ? "collects keys"
                              : s == HUSH__SA_DONE ? "is over"
                                                   : "has failed");
    }
    if (rc != 0) {
        return hush__fail_set(f, rc, "secagg_refused", "%s", err.msg);
    }
    *body = hush_secagg_msg_json(&m);
    return *body != NULL ? 0
                         : hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
}
