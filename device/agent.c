/*
 * agent.c - the device agent: local sample, campaigns, report batches.
 *
 * Invariants: local texts live only in this process's memory (the sample is
 * wiped on close and on clear); a campaign is used only after its signature
 * verified with the pinned key; a batch is returned only after its cost is
 * on disk in the ledger; a batch holds only randomized reports, a random
 * batch id and the campaign's id and round.
 */
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <time.h>

#include "device_internal.h"
#include "hush_json.h"

#define DEFAULT_SAMPLES 200
#define DEFAULT_SAMPLE_BYTES (64u << 10)
#define MAX_SAMPLES 100000u
#define MAX_SAMPLE_BYTES (16u << 20)

const char *hush_device_version(void)
{
    return HUSH_DEVICE_VERSION_STRING;
}

int64_t hush__agent_now(const hush_agent *a)
{
    return a->cfg.clock != NULL ? a->cfg.clock(a->cfg.clock_ctx) : (int64_t)time(NULL);
}

int hush_agent_open(const hush_agent_config *config, hush_agent **out, hush_err *err)
{
    if (config == NULL || config->state_dir == NULL || config->state_dir[0] == '\0') {
        return hush_err_set(err, HUSH_EINVAL, "the agent needs a state directory");
    }
    if (!(config->max_epsilon_per_day >= 0.0) || !isfinite(config->max_epsilon_per_day)) {
        return hush_err_set(err, HUSH_ERANGE, "max_epsilon_per_day must be >= 0 (got %g)",
                            config->max_epsilon_per_day);
    }
    uint8_t zero[32] = {0};
    if (sodium_memcmp(config->collector_key, zero, sizeof zero) == 0) {
        return hush_err_set(err, HUSH_EINVAL,
                            "the agent needs the collector's signing key");
    }
    if (config->max_samples > MAX_SAMPLES ||
        config->max_sample_bytes > MAX_SAMPLE_BYTES) {
        return hush_err_set(err, HUSH_ERANGE,
                            "max_samples is at most %u and max_sample_bytes at most %u",
                            MAX_SAMPLES, MAX_SAMPLE_BYTES);
    }
    if (hush_global_init() != 0) {
        return hush_err_set(err, HUSH_EIO, "libsodium failed to initialise");
    }
    hush_agent *a = hush_calloc(1, sizeof *a);
    if (a == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory opening the agent");
    }
    a->cfg = *config;
    if (config->word_vectors != NULL) {
        a->cfg.word_vectors = hush_wordvec_ref(config->word_vectors);
    }
    if (a->cfg.max_samples == 0) {
        a->cfg.max_samples = DEFAULT_SAMPLES;
    }
    if (a->cfg.max_sample_bytes == 0) {
        a->cfg.max_sample_bytes = DEFAULT_SAMPLE_BYTES;
    }
    snprintf(a->state_dir, sizeof a->state_dir, "%s", config->state_dir);
    a->cfg.state_dir = a->state_dir;
    a->cfg.rng_seed = NULL;
    a->ledger.lock_fd = -1;
    a->samples = hush_calloc(a->cfg.max_samples, sizeof *a->samples);
    a->sample_len = hush_calloc(a->cfg.max_samples, sizeof *a->sample_len);
    a->examples = hush_calloc(a->cfg.max_samples, sizeof *a->examples);
    int rc = 0;
    if (a->samples == NULL || a->sample_len == NULL || a->examples == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory for the local sample");
    } else if (config->rng_seed != NULL) {
        rc = hush_rng_new_seeded(config->rng_seed, &a->rng);
    } else {
        rc = hush_rng_new_system(&a->rng);
    }
    if (rc != 0) {
        hush_err_set(err, rc, "cannot create the random generator");
    } else {
        rc = hush__ledger_open(&a->ledger, a->state_dir, hush__agent_now(a), a->rng,
                               a->secret, err);
    }
    if (rc == 0) {
        rc = hush__trusted_keys_load(a, err);
    }
    if (rc != 0) {
        hush_agent_close(a);
        return rc;
    }
    *out = a;
    return 0;
}

void hush_agent_clear_samples(hush_agent *a)
{
    for (size_t i = 0; i < a->n_samples; i++) {
        sodium_memzero(a->samples[i], a->sample_len[i]);
        hush_free(a->samples[i]);
        a->samples[i] = NULL;
    }
    a->n_samples = 0;
    a->seen = 0;
}

void hush_agent_close(hush_agent *a)
{
    if (a == NULL) {
        return;
    }
    if (a->samples != NULL) {
        hush_agent_clear_samples(a);
    }
    if (a->examples != NULL) {
        hush_agent_clear_examples(a);
    }
    hush__tokens_pending_free(a);
    hush_free(a->examples);
    hush_free(a->samples);
    hush_free(a->sample_len);
    hush_rng_free(a->rng);
    hush_wordvec_free((hush_wordvec *)a->cfg.word_vectors);
    hush__ledger_dispose(&a->ledger);
    sodium_memzero(a->secret, sizeof a->secret);
    hush_free(a);
}

size_t hush_agent_sample_count(const hush_agent *a)
{
    return a->n_samples;
}

int hush_agent_add_sample(hush_agent *a, const char *text, size_t len, hush_err *err)
{
    if (text == NULL || len == 0) {
        return hush_err_set(err, HUSH_EINVAL, "a sample needs some text");
    }
    if (len > a->cfg.max_sample_bytes) {
        return hush_err_set(err, HUSH_ETOOBIG, "a sample of %zu bytes exceeds %zu", len,
                            a->cfg.max_sample_bytes);
    }
    /* reservoir sampling: the k-th text offered replaces a random kept one
     * with probability capacity / k */
    size_t slot;
    if (a->n_samples < a->cfg.max_samples) {
        slot = a->n_samples;
    } else {
        uint64_t j = hush_rng_uniform(a->rng, a->seen + 1);
        if (j >= a->cfg.max_samples) {
            a->seen++;
            return 0;
        }
        slot = (size_t)j;
    }
    char *copy = hush_malloc(len + 1);
    if (copy == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for a sample");
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (slot < a->n_samples) {
        sodium_memzero(a->samples[slot], a->sample_len[slot]);
        hush_free(a->samples[slot]);
    } else {
        a->n_samples++;
    }
    a->samples[slot] = copy;
    a->sample_len[slot] = len;
    a->seen++;
    return 0;
}

/* ---- campaigns ---- */

void hush_campaign_free(hush_campaign *c)
{
    if (c != NULL) {
        hush_publication_free(c->pub);
        hush_ldp_free(c->mech);
        hush_embedder_free(c->embedder);
        hush_free(c);
    }
}

const char *hush_campaign_id(const hush_campaign *c)
{
    return c->pub->campaign;
}

uint32_t hush_campaign_round(const hush_campaign *c)
{
    return c->pub->round;
}

bool hush_campaign_is_poll(const hush_campaign *c)
{
    return c->pub->kind == HUSH_CAMPAIGN_POLL;
}

double hush_campaign_epsilon(const hush_campaign *c)
{
    return c->pub->params.epsilon;
}

int hush__check_round(hush_agent *a, const char *key, const char *what, uint32_t round,
                      hush_err *err)
{
    const hush__ledger_round *r = hush__ledger_round_find(&a->ledger, key);
    if (r != NULL && round < r->seen) {
        return hush_err_set(err, HUSH_ESTALE,
                            "%s is round %u, but round %u was already accepted: an old "
                            "publication (replayed?) is refused",
                            what, round, r->seen);
    }
    bool changed = false;
    int rc = hush__ledger_note_round(&a->ledger, key, round, 0, &changed);
    if (rc == HUSH_ETOOBIG) {
        return hush_err_set(err, rc,
                            "the ledger already remembers the rounds of %u campaigns and "
                            "tasks; %s is refused",
                            HUSH__LEDGER_ROUNDS_MAX, what);
    }
    if (rc != 0) {
        return hush_err_set(err, rc, "out of memory recording round %u", round);
    }
    return changed ? hush__ledger_save(&a->ledger, err) : 0;
}

int hush_agent_accept_campaign(hush_agent *a, const char *expected_id, const char *body,
                               size_t len, const char *signature, hush_campaign **out,
                               hush_err *err)
{
    if (expected_id == NULL || expected_id[0] == '\0') {
        return hush_err_set(err, HUSH_EINVAL,
                            "accepting a campaign needs the id it was fetched for");
    }
    int rc = hush__verify_trusted(a, body, len, signature, err);
    if (rc != 0) {
        return rc;
    }
    hush_campaign *c = hush_calloc(1, sizeof *c);
    if (c == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory accepting a campaign");
    }
    if ((rc = hush_publication_parse_flags(body, len, HUSH_PUBLICATION_DEVICE, &c->pub,
                                           err)) != 0 ||
        (rc = hush_ldp_new(&c->pub->params, &c->mech, err)) != 0) {
        hush_campaign_free(c);
        return rc;
    }
    if (c->pub->kind == HUSH_CAMPAIGN_SYNTHETIC &&
        (rc = hush_embedder_new(c->pub->embedder, strlen(c->pub->embedder), NULL, 0,
                                a->cfg.word_vectors, &c->embedder, err)) != 0) {
        hush_campaign_free(c);
        return rc;
    }
    /* a genuine signature says the collector published it, not that it is
     * the document asked for: another campaign's, or an older round's,
     * would spend budget on the wrong thing */
    if (strcmp(c->pub->campaign, expected_id) != 0) {
        rc = hush_err_set(err, HUSH_EMISMATCH,
                          "asked for campaign \"%s\" but the publication is \"%s\"'s",
                          expected_id, c->pub->campaign);
    } else if ((rc = hush__ledger_lock(&a->ledger, hush__agent_now(a), err)) == 0) {
        rc = hush__check_round(a, c->pub->campaign, c->pub->campaign, c->pub->round, err);
        hush__ledger_unlock(&a->ledger);
    }
    if (rc != 0) {
        hush_campaign_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* ---- budget ---- */

int hush_agent_spent_today(const hush_agent *a, const char *campaign_id, double *epsilon,
                           uint32_t *reports)
{
    hush_agent *mut = (hush_agent *)a;
    /* re-read under the lock: another process may have spent since */
    if (hush__ledger_lock(&mut->ledger, hush__agent_now(a), NULL) != 0) {
        return HUSH_ESTATE;
    }
    if (campaign_id == NULL) {
        *epsilon = a->ledger.device_epsilon;
        *reports = a->ledger.device_reports;
    } else {
        const hush__ledger_entry *e = hush__ledger_find(&a->ledger, campaign_id);
        *epsilon = e != NULL ? e->epsilon : 0.0;
        *reports = e != NULL ? e->reports : 0;
    }
    hush__ledger_unlock(&mut->ledger);
    return 0;
}

/* How many reports of `eps` fit under `cap` with `spent` used: floor, with
 * a small tolerance for sums of decimal epsilons. */
static uint32_t fits(double cap, double spent, double eps)
{
    double left = cap - spent;
    if (left < eps * (1.0 - 1e-9)) {
        return 0;
    }
    double k = floor(left / eps * (1.0 + 1e-9));
    return k > 1e6 ? 1000000u : (uint32_t)k;
}

static uint32_t allowed_reports(hush_agent *a, const hush_campaign *c, uint32_t want,
                                const char **why)
{
    hush__ledger_roll(&a->ledger, hush__agent_now(a));
    const hush_publication *p = c->pub;
    double eps = p->params.epsilon;
    const hush__ledger_entry *e = hush__ledger_find(&a->ledger, p->campaign);
    uint32_t used = e != NULL ? e->reports : 0;
    double spent = e != NULL ? e->epsilon : 0.0;
    uint32_t n =
        used < p->reports_per_device_per_day ? p->reports_per_device_per_day - used : 0;
    *why = "the campaign's reports per device per day";
    uint32_t k = fits(p->epsilon_per_device_per_day, spent, eps);
    if (k < n) {
        n = k;
        *why = "the campaign's epsilon per device per day";
    }
    if (a->cfg.max_reports_per_day != 0) {
        uint32_t d = a->ledger.device_reports < a->cfg.max_reports_per_day
                         ? a->cfg.max_reports_per_day - a->ledger.device_reports
                         : 0;
        if (d < n) {
            n = d;
            *why = "the app's reports per device per day";
        }
    }
    if (a->cfg.max_epsilon_per_day > 0.0) {
        k = fits(a->cfg.max_epsilon_per_day, a->ledger.device_epsilon, eps);
        if (k < n) {
            n = k;
            *why = "the app's epsilon per device per day";
        }
    }
    if (want != 0 && want < n) {
        n = want;
    }
    return n;
}

int hush_agent_reports_allowed(hush_agent *a, const hush_campaign *c, uint32_t *n,
                               const char **why)
{
    const char *w = NULL;
    int rc = hush__ledger_lock(&a->ledger, hush__agent_now(a), NULL);
    *n = rc == 0 ? allowed_reports(a, c, 0, &w) : 0;
    hush__ledger_unlock(&a->ledger);
    if (why != NULL) {
        *why = rc == 0 ? w : "the ledger (it cannot be read: the agent fails closed)";
    }
    return rc;
}

/* ---- batches ---- */

/* One token a report, taken out of the wallet (saved) before the batch
 * can leave. */
static int attach_tokens(hush_agent *a, json_t *doc, uint32_t n, hush_err *err)
{
    hush_token *t = hush_calloc(n, sizeof *t);
    int rc = t != NULL ? hush__wallet_take_locked(a, n, t, err)
                       : hush_err_set(err, HUSH_ENOMEM, "out of memory");
    json_t *arr = rc == 0 ? hush_tokens_to_json(t, n) : NULL;
    if (rc == 0 && (arr == NULL || json_object_set_new(doc, "tokens", arr) != 0)) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    if (t != NULL) {
        sodium_memzero(t, n * sizeof *t);
    }
    hush_free(t);
    return rc;
}

/* How many reports the wallet pays for (all when none is needed). */
static uint32_t tokens_allow(hush_agent *a, const hush_campaign *c, uint32_t n)
{
    uint32_t have = 0;
    if (!c->pub->require_tokens) {
        return n;
    }
    return hush__wallet_count_locked(a, &have, NULL) == 0 && have < n ? have
           : have >= n                                                ? n
                                                                      : 0;
}

/* Encodes the chosen values, charges the ledger, and renders the batch. */
static int finish_batch(hush_agent *a, const hush_campaign *c, const uint64_t *values,
                        const bool *by_key, uint32_t n, const hush_batch_options *opt,
                        char **out, size_t *out_len, hush_err *err)
{
    size_t rs = hush_ldp_report_size(c->mech);
    uint8_t *reports = hush_malloc((size_t)n * rs);
    uint8_t batch_id[HUSH_BATCH_ID_BYTES];
    char *json = NULL, *result = NULL;
    json_t *doc = NULL;
    int rc = 0;
    if (reports == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for %u reports", n);
    }
    if (opt != NULL && opt->seal && !c->pub->has_sealing_key) {
        rc = hush_err_set(err, HUSH_EINVAL, "the publication carries no sealing key");
        goto out;
    }
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        rc = by_key != NULL && by_key[i]
                 ? hush_ldp_encode_key(c->mech, values[i], a->rng, reports + i * rs, rs,
                                       err)
                 : hush_ldp_encode(c->mech, (uint32_t)values[i], a->rng, reports + i * rs,
                                   rs, err);
    }
    if (rc != 0) {
        goto out;
    }
    hush_rng_bytes(a->rng, batch_id, sizeof batch_id);
    doc =
        hush_batch_build(c->mech, c->pub->campaign, c->pub->round, batch_id, reports, n);
    if (doc != NULL && c->pub->require_tokens &&
        (rc = attach_tokens(a, doc, n, err)) != 0) {
        goto out;
    }
    json = doc != NULL ? hush__json_dumps(doc, JSON_COMPACT, NULL) : NULL;
    if (json == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory rendering the batch");
        goto out;
    }
    if (opt != NULL && opt->seal) {
        rc = hush_seal((const uint8_t *)json, strlen(json), c->pub->sealing_key, &result,
                       err);
    } else {
        result = json;
        json = NULL;
    }
    if (rc != 0) {
        goto out;
    }
    /* the charge goes to disk before the batch leaves the library */
    rc = hush__ledger_charge(&a->ledger, c->pub->campaign, c->pub->params.epsilon * n, n,
                             0, err);
    if (rc != 0) {
        goto out;
    }
    *out = result;
    *out_len = strlen(result);
    result = NULL;
out:
    sodium_memzero(reports, (size_t)n * rs);
    hush_free(reports);
    hush_free(json);
    hush_free(result);
    json_decref(doc);
    return rc;
}

static int report_batch_locked(hush_agent *a, const hush_campaign *c,
                               const hush_batch_options *opt, char **out, size_t *out_len,
                               hush_err *err)
{
    if (c->pub->kind != HUSH_CAMPAIGN_SYNTHETIC) {
        return hush_err_set(err, HUSH_ESTATE,
                            "%s is a poll: use hush_agent_make_poll_batch with the value",
                            c->pub->campaign);
    }
    if (a->n_samples == 0) {
        return hush_err_set(err, HUSH_ESTATE,
                            "the agent holds no local sample to vote with");
    }
    const char *why = NULL;
    uint32_t n = allowed_reports(a, c, opt != NULL ? opt->max_reports : 0, &why);
    if (n > 0 && (n = tokens_allow(a, c, n)) == 0) {
        why = "the anonymous tokens this campaign requires (none held)";
    }
    if (n == 0) {
        return hush_err_set(err, HUSH_EBUDGET, "no report allowed now by %s", why);
    }
    /* embed every local text and match it to the candidates */
    uint32_t dim = hush_embedder_dim(c->embedder);
    hush_matrix *q = NULL;
    hush_match *best = hush_malloc(a->n_samples * sizeof *best);
    float *v = hush_malloc(dim * sizeof *v);
    uint64_t *values = hush_malloc((size_t)n * sizeof *values);
    int rc = best == NULL || v == NULL || values == NULL
                 ? hush_err_set(err, HUSH_ENOMEM, "out of memory matching the sample")
                 : hush_matrix_new(HUSH_MATRIX_I8, (uint32_t)a->n_samples, dim, &q, err);
    for (size_t i = 0; rc == 0 && i < a->n_samples; i++) {
        hush_err local = {0};
        int erc =
            hush_embed_text(c->embedder, a->samples[i], a->sample_len[i], v, dim, &local);
        if (erc == HUSH_EINVAL) {
            memset(v, 0, dim * sizeof *v); /* nothing to embed: it matches nothing */
        } else if (erc != 0) {
            rc = hush_err_set(err, erc, "%s", local.msg);
            break;
        }
        rc = hush_matrix_set_row(q, (uint32_t)i, v, dim, err);
    }
    if (rc == 0) {
        rc = hush_nearest(c->pub->matrix, q, 1, (float)c->pub->match_threshold, best,
                          a->n_samples, err);
    }
    if (rc == 0) {
        /* each report votes for the match of a text drawn at random */
        uint32_t none = c->pub->params.domain - 1;
        for (uint32_t i = 0; i < n; i++) {
            size_t pick = (size_t)hush_rng_uniform(a->rng, a->n_samples);
            values[i] = best[pick].index == HUSH_MATCH_NONE ? none : best[pick].index;
        }
        rc = finish_batch(a, c, values, NULL, n, opt, out, out_len, err);
    }
    /* what was derived from local texts does not outlive the call */
    if (values != NULL) {
        sodium_memzero(values, (size_t)n * sizeof *values);
    }
    if (v != NULL) {
        memset(v, 0, dim * sizeof *v);
        for (uint32_t i = 0; q != NULL && i < hush_matrix_rows(q); i++) {
            if (hush_matrix_set_row(q, i, v, dim, NULL) != 0) {
                break; /* cannot fail for a row in range and finite values */
            }
        }
    }
    if (best != NULL) {
        sodium_memzero(best, a->n_samples * sizeof *best);
    }
    hush_free(values);
    hush_free(v);
    hush_free(best);
    hush_matrix_free(q);
    return rc;
}

static int poll_batch_locked(hush_agent *a, const hush_campaign *c, const char *value,
                             size_t len, const hush_batch_options *opt, char **out,
                             size_t *out_len, hush_err *err)
{
    if (c->pub->kind != HUSH_CAMPAIGN_POLL) {
        return hush_err_set(
            err, HUSH_ESTATE,
            "%s is a synthetic campaign: use hush_agent_make_report_batch",
            c->pub->campaign);
    }
    if (value == NULL || len == 0) {
        return hush_err_set(err, HUSH_EINVAL, "a poll report needs a value");
    }
    uint64_t item = UINT64_MAX;
    bool by_key = false;
    for (size_t i = 0; i < c->pub->n_candidates && item == UINT64_MAX; i++) {
        const char *t = c->pub->candidate_texts[i], *id = c->pub->candidate_ids[i];
        if ((strlen(t) == len && memcmp(t, value, len) == 0) ||
            (strlen(id) == len && memcmp(id, value, len) == 0)) {
            item = i;
        }
    }
    hush_ldp_mechanism m = c->pub->params.mechanism;
    if (item == UINT64_MAX) {
        if (m != HUSH_LDP_CMS && m != HUSH_LDP_HCMS) {
            return hush_err_set(
                err, HUSH_ENOTFOUND,
                "the value is not one of %s's candidates (and its %s mechanism "
                "reports candidates only)",
                c->pub->campaign, hush_ldp_mechanism_name(m));
        }
        item = hush_ldp_item_key(value, len);
        by_key = true;
    }
    const char *why = NULL;
    if (allowed_reports(a, c, 1, &why) == 0) {
        return hush_err_set(err, HUSH_EBUDGET, "no report allowed now by %s", why);
    }
    if (tokens_allow(a, c, 1) == 0) {
        return hush_err_set(err, HUSH_EBUDGET,
                            "%s requires an anonymous token a report, and none is held",
                            c->pub->campaign);
    }
    return finish_batch(a, c, &item, &by_key, 1, opt, out, out_len, err);
}

/* The public batch calls: under the state directory's lock, with the ledger
 * as it is on disk now, and never for a round older than one accepted. */
int hush_agent_make_report_batch(hush_agent *a, const hush_campaign *c,
                                 const hush_batch_options *opt, char **out,
                                 size_t *out_len, hush_err *err)
{
    int rc = hush__ledger_lock(&a->ledger, hush__agent_now(a), err);
    if (rc == 0) {
        rc = hush__check_round(a, c->pub->campaign, c->pub->campaign, c->pub->round, err);
    }
    if (rc == 0) {
        rc = report_batch_locked(a, c, opt, out, out_len, err);
    }
    hush__ledger_unlock(&a->ledger);
    return rc;
}

int hush_agent_make_poll_batch(hush_agent *a, const hush_campaign *c, const char *value,
                               size_t len, const hush_batch_options *opt, char **out,
                               size_t *out_len, hush_err *err)
{
    int rc = hush__ledger_lock(&a->ledger, hush__agent_now(a), err);
    if (rc == 0) {
        rc = hush__check_round(a, c->pub->campaign, c->pub->campaign, c->pub->round, err);
    }
    if (rc == 0) {
        rc = poll_batch_locked(a, c, value, len, opt, out, out_len, err);
    }
    hush__ledger_unlock(&a->ledger);
    return rc;
}
