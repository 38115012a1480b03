/*
 * hush-agent - one full participation of a device in every active campaign.
 *
 *   hush-agent run --collector URL --key SIGNING_KEY --samples FILE.jsonl
 *                  --state DIR [--value TEXT] [--campaign ID] [--seal]
 *                  [--max-reports N] [--dry-run] [--seed N]
 *                  [--word-vectors TABLE]
 *
 * Fetches the campaign list, fetches and verifies each publication against
 * the pinned signing key (base64, from GET /v1/keys), embeds the local
 * samples (JSONL, {"text": ...} per line) for synthetic campaigns or reports
 * --value for polls, charges the budget ledger in DIR, and posts the batch
 * (retried with the same batch id).  One JSON line per campaign on stdout.
 *
 * --word-vectors names the word-vector table (scripts/fetch-wordvec) that
 * campaigns with a "sif" embedder need.
 *
 * --dry-run contacts the collector and prints, per campaign, what would be
 * sent (how many reports, their epsilon cost, sealed or not) without making
 * any: real randomized reports that are not charged to the ledger must never
 * exist.  --seed makes the randomness deterministic: for tests and
 * simulations only, never in production.
 *
 * Exit status: 0 if every campaign was handled (reported, or skipped for a
 * reason printed), 1 on failure, 2 on a usage error.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hush_device.h"
#include "hush_embed.h"
#include "hush_protocol.h"
#include "hush_token.h"
#include "hush_transport.h"

static void usage(FILE *f)
{
    fputs("usage: hush-agent run --collector URL --key SIGNING_KEY --samples FILE.jsonl\n"
          "                      --state DIR [--value TEXT] [--campaign ID] [--seal]\n"
          "                      [--max-reports N] [--dry-run] [--seed N]\n"
          "                      [--word-vectors TABLE]\n"
          "                      [--attestation JSON [--tokens N]]\n",
          f);
}

static int load_samples(hush_agent *a, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "hush-agent: cannot open %s\n", path);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    size_t n = 0, line_no = 0;
    int rc = 0;
    while ((got = getline(&line, &cap, f)) > 0) {
        line_no++;
        json_t *o = json_loadb(line, (size_t)got, 0, NULL);
        json_t *t = json_object_get(o, "text");
        hush_err err = {0};
        if (!json_is_string(t)) {
            fprintf(stderr, "hush-agent: %s line %zu: need {\"text\": ...}\n", path,
                    line_no);
            rc = 1;
        } else if (hush_agent_add_sample(a, json_string_value(t), json_string_length(t),
                                         &err) != 0) {
            fprintf(stderr, "hush-agent: %s line %zu: %s (skipped)\n", path, line_no,
                    err.msg);
        } else {
            n++;
        }
        json_decref(o);
        if (rc != 0) {
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

static void print_line(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    if (s != NULL) {
        puts(s);
        fflush(stdout);
    }
    free(s);
    json_decref(o);
}

struct opts {
    const char *collector, *key, *samples, *state, *value, *only;
    const char *word_vectors, *attestation;
    bool seal, dry_run, seeded;
    uint64_t max_reports, seed, tokens;
};

/* Tops the wallet up to o->tokens anonymous tokens (default 4) with the
 * app's attestation: keys (signed), request, POST /v1/tokens, accept. */
static int refill_tokens(hush_agent *a, hush_transport *t, const struct opts *o)
{
    uint32_t have = 0, want = o->tokens != 0 ? (uint32_t)o->tokens : 4, added = 0;
    hush_err err = {0};
    long status = 0;
    char *keys = NULL, *sig = NULL, *req = NULL, *resp = NULL;
    size_t klen = 0, rlen = 0;
    if (hush_agent_tokens_count(a, &have, &err) != 0 || have >= want) {
        return err.code != 0 ? (fprintf(stderr, "hush-agent: %s\n", err.msg), 1) : 0;
    }
    int rc = hush_transport_get(t, "/v1/tokens/keys", &status, &keys, &klen, &sig,
                                &err) != 0 ||
                     status != 200 || sig == NULL
                 ? 1
                 : 0;
    if (rc == 0 && hush_agent_tokens_request(a, keys, klen, sig, o->attestation,
                                             want - have, &req, &rlen, &err) != 0) {
        rc = 1;
    }
    hush_free(resp);
    resp = NULL;
    if (rc == 0 &&
        (hush_transport_post(t, "/v1/tokens", req, rlen, &status, &resp, &err) != 0 ||
         status != 200)) {
        print_line(json_pack("{s:s, s:I, s:s}", "tokens", "refused", "status",
                             (json_int_t)status, "message",
                             resp != NULL ? resp : err.msg));
        rc = 1;
    } else if (rc == 0 &&
               hush_agent_tokens_accept(a, resp, strlen(resp), &added, &err) != 0) {
        rc = 1;
    }
    if (rc == 0) {
        print_line(json_pack("{s:I, s:I}", "tokens_added", (json_int_t)added,
                             "tokens_held", (json_int_t)(have + added)));
    } else if (err.msg[0] != '\0') {
        fprintf(stderr, "hush-agent: tokens: %s\n", err.msg);
    }
    hush_free(keys);
    hush_free(sig);
    hush_free(req);
    hush_free(resp);
    return rc;
}

/* One campaign: fetch, verify, make, post. 0 = handled, 1 = failed. */
static int participate(hush_agent *a, hush_transport *t, const struct opts *o,
                       const char *id)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/campaigns/%s?view=device", id);
    long status = 0;
    char *body = NULL, *sig = NULL, *batch = NULL, *resp = NULL;
    size_t len = 0, blen = 0;
    hush_err err = {0};
    hush_campaign *c = NULL;
    int rc = 0;
    if (hush_transport_get(t, path, &status, &body, &len, &sig, &err) != 0 ||
        status != 200) {
        print_line(json_pack("{s:s, s:s, s:s}", "campaign", id, "error", "fetch",
                             "message",
                             err.msg[0] ? err.msg : "the collector did not serve it"));
        rc = 1;
        goto out;
    }
    if (hush_agent_accept_campaign(a, id, body, len, sig, &c, &err) != 0) {
        print_line(json_pack("{s:s, s:s, s:s}", "campaign", id, "error", "refused",
                             "message", err.msg));
        rc = 1;
        goto out;
    }
    bool poll = hush_campaign_is_poll(c);
    if (poll && o->value == NULL) {
        print_line(
            json_pack("{s:s, s:s}", "campaign", id, "skipped", "a poll needs --value"));
        goto out;
    }
    if (o->dry_run) {
        double eps = 0;
        uint32_t reports = 0, allowed = 0;
        const char *why = NULL;
        if (hush_agent_spent_today(a, id, &eps, &reports) != 0 ||
            hush_agent_reports_allowed(a, c, &allowed, &why) != 0) {
            rc = 1;
            goto out;
        }
        if (poll && allowed > 1) {
            allowed = 1;
        }
        if (o->max_reports != 0 && allowed > o->max_reports) {
            allowed = (uint32_t)o->max_reports;
        }
        print_line(json_pack(
            "{s:s, s:I, s:s, s:I, s:f, s:s, s:f, s:I, s:b}", "campaign", id, "round",
            (json_int_t)hush_campaign_round(c), "dry_run",
            poll ? "one poll report of --value" : "reports from the local sample",
            "would_send", (json_int_t)allowed, "epsilon_per_report",
            hush_campaign_epsilon(c), "limited_by", why, "epsilon_spent_today", eps,
            "reports_today", (json_int_t)reports, "sealed", o->seal));
        goto out;
    }
    hush_batch_options bo = {.seal = o->seal, .max_reports = (uint32_t)o->max_reports};
    int mrc = poll ? hush_agent_make_poll_batch(a, c, o->value, strlen(o->value), &bo,
                                                &batch, &blen, &err)
                   : hush_agent_make_report_batch(a, c, &bo, &batch, &blen, &err);
    if (mrc == HUSH_EBUDGET || mrc == HUSH_ENOTFOUND || mrc == HUSH_ESTATE) {
        print_line(json_pack("{s:s, s:s}", "campaign", id, "skipped", err.msg));
        goto out;
    }
    if (mrc != 0) {
        print_line(json_pack("{s:s, s:s, s:s}", "campaign", id, "error", "batch",
                             "message", err.msg));
        rc = 1;
        goto out;
    }
    hush_err_clear(&err);
    if (hush_transport_post(t, "/v1/reports", batch, blen, &status, &resp, &err) != 0) {
        print_line(json_pack("{s:s, s:s, s:s}", "campaign", id, "error", "post",
                             "message", err.msg));
        rc = 1;
        goto out;
    }
    json_t *ack = json_loads(resp, 0, NULL);
    json_t *line =
        json_pack("{s:s, s:I, s:I}", "campaign", id, "round",
                  (json_int_t)hush_campaign_round(c), "status", (json_int_t)status);
    if (ack != NULL) {
        json_object_update(line, ack);
    }
    json_decref(ack);
    print_line(line);
    rc = status == 200 ? 0 : 1;
out:
    hush_free(body);
    hush_free(sig);
    hush_free(batch);
    hush_free(resp);
    hush_campaign_free(c);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("hush-agent %s\n", HUSH_VERSION_STRING);
        return 0;
    }
    struct opts o = {0};
    hush_err err = {0};
    if (argc < 2 || strcmp(argv[1], "run") != 0) {
        usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--seal") == 0) {
            o.seal = true;
            continue;
        }
        if (strcmp(f, "--dry-run") == 0) {
            o.dry_run = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "hush-agent: %s needs a value\n", f);
            return 2;
        }
        const char *v = argv[++i];
        int rc = 0;
        if (strcmp(f, "--collector") == 0) {
            o.collector = v;
        } else if (strcmp(f, "--key") == 0) {
            o.key = v;
        } else if (strcmp(f, "--samples") == 0) {
            o.samples = v;
        } else if (strcmp(f, "--state") == 0) {
            o.state = v;
        } else if (strcmp(f, "--value") == 0) {
            o.value = v;
        } else if (strcmp(f, "--word-vectors") == 0) {
            o.word_vectors = v;
        } else if (strcmp(f, "--campaign") == 0) {
            o.only = v;
        } else if (strcmp(f, "--attestation") == 0) {
            o.attestation = v;
        } else if (strcmp(f, "--tokens") == 0) {
            rc = hush_parse_u64(v, 1, HUSH_VOPRF_BATCH_MAX, "--tokens", &o.tokens, &err);
        } else if (strcmp(f, "--max-reports") == 0) {
            rc = hush_parse_u64(v, 1, 10000, "--max-reports", &o.max_reports, &err);
        } else if (strcmp(f, "--seed") == 0) {
            rc = hush_parse_u64(v, 0, UINT64_MAX, "--seed", &o.seed, &err);
            o.seeded = true;
        } else {
            fprintf(stderr, "hush-agent: unknown option %s\n", f);
            usage(stderr);
            return 2;
        }
        if (rc != 0) {
            fprintf(stderr, "hush-agent: %s\n", err.msg);
            return 2;
        }
    }
    if (o.collector == NULL || o.key == NULL || o.state == NULL) {
        usage(stderr);
        return 2;
    }
    if (hush_global_init() != 0) {
        fprintf(stderr, "hush-agent: libsodium failed to initialise\n");
        return 1;
    }
    hush_agent_config cfg = {.state_dir = o.state};
    size_t klen = 0;
    if (hush_b64_decode(o.key, strlen(o.key), cfg.collector_key, sizeof cfg.collector_key,
                        &klen) != 0 ||
        klen != 32) {
        fprintf(stderr,
                "hush-agent: --key must be the collector's 32-byte signing key in "
                "base64 (GET /v1/keys)\n");
        return 2;
    }
    uint8_t seed[32] = {0};
    if (o.seeded) {
        hush_store_le64(seed, o.seed);
        cfg.rng_seed = seed;
    }
    hush_agent *a = NULL;
    hush_transport *t = NULL;
    hush_wordvec *wv = NULL;
    int rc = 0;
    if (o.word_vectors != NULL && hush_wordvec_load(o.word_vectors, &wv, &err) != 0) {
        fprintf(stderr, "hush-agent: %s\n", err.msg);
        return 1;
    }
    cfg.word_vectors = wv;
    rc = hush_agent_open(&cfg, &a, &err);
    hush_wordvec_free(wv); /* the agent holds its own reference */
    if (rc != 0) {
        fprintf(stderr, "hush-agent: %s\n", err.msg);
        return 1;
    }
    if ((o.samples != NULL && load_samples(a, o.samples) != 0) ||
        hush_transport_new(o.collector, NULL, &t, &err) != 0) {
        if (err.msg[0]) {
            fprintf(stderr, "hush-agent: %s\n", err.msg);
        }
        hush_agent_close(a);
        return 1;
    }
    long status = 0;
    char *list = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    /* follow the collector's key rotations from the pinned key */
    char *keys = NULL;
    size_t klen2 = 0, added = 0;
    if (hush_transport_get(t, "/v1/keys", &status, &keys, &klen2, NULL, &err) == 0 &&
        status == 200) {
        if (hush_agent_follow_keys(a, keys, klen2, &added, &err) != 0) {
            fprintf(stderr, "hush-agent: the collector's keys: %s\n", err.msg);
            hush_free(keys);
            hush_transport_free(t);
            hush_agent_close(a);
            return 1;
        }
        if (added > 0) {
            fprintf(stderr, "hush-agent: followed %zu rotated collector key%s\n", added,
                    added == 1 ? "" : "s");
        }
    }
    hush_free(keys);
    hush_err_clear(&err);
    /* a refused refill fails the run, but the campaigns that need no
     * tokens (or have enough already) still run */
    int trc = o.attestation != NULL && !o.dry_run ? refill_tokens(a, t, &o) : 0;
    if (hush_transport_get(t, "/v1/campaigns", &status, &list, &len, NULL, &err) != 0 ||
        status != 200 || (doc = json_loadb(list, len, 0, NULL)) == NULL) {
        fprintf(stderr, "hush-agent: cannot list campaigns: %s\n",
                err.msg[0] ? err.msg : "bad response");
        rc = 1;
    }
    json_t *arr = json_object_get(doc, "campaigns");
    for (size_t i = 0; rc == 0 && i < json_array_size(arr); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(arr, i), "id"));
        if (id == NULL || (o.only != NULL && strcmp(id, o.only) != 0)) {
            continue;
        }
        rc |= participate(a, t, &o, id);
    }
    json_decref(doc);
    hush_free(list);
    hush_transport_free(t);
    hush_agent_close(a);
    return rc | trc;
}
