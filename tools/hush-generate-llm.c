/*
 * hush-generate-llm - an external generator for hushd's refinement rounds
 * that asks a language model for variations, through any OpenAI-compatible
 * chat-completions endpoint (llama.cpp's llama-server, vLLM, Ollama's
 * compatible API, or a hosted one).
 *
 *   hushd --generator-cmd 'hush-generate-llm --endpoint
 *          http://127.0.0.1:8081/v1/chat/completions --model local'
 *
 * It speaks hushd's external-generator protocol (docs/generators.md): kept
 * samples as JSON lines on stdin, most voted first; HUSH_WANT, HUSH_SEED and
 * HUSH_ROUND in the environment; new texts as JSON lines on stdout.  Each
 * new text is one chat completion with an Aug-PE-style prompt (Xie et al.
 * 2024): rewrite the sample keeping its topic, register and length, and
 * change the details.  The samples take turns as parents, most voted first,
 * so each gets about the same number of variations (Aug-PE's equal
 * children).
 *
 * What the model answers is checked before it is printed: the response must
 * be JSON with choices[0].message.content a non-empty string, and the text's
 * word count within [min-ratio, max-ratio] times its parent's.  A refused
 * answer (HTTP error, time-out, malformed JSON, out-of-bounds length) is
 * reported on stderr and skipped; the tool exits 0 if it printed at least
 * one text, 1 otherwise (hushd then answers 502 and the round stays open).
 * hushd validates every printed line again (UTF-8, size, embedding).
 *
 * The model sees only the kept samples, which are the collector's own
 * public synthetic texts: never device data.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hush_common.h"
#include "llm_answer.h"

#define MAX_RESPONSE (4u << 20)
#define MAX_TEXT HUSH_LLM_TEXT_MAX

typedef struct opts {
    const char *endpoint, *model, *api_key_file;
    double temperature, min_ratio, max_ratio;
    long max_tokens, timeout_s;
    unsigned attempts;
} opts;

typedef struct sample {
    char *id, *text;
    size_t words;
} sample;

typedef struct rbuf {
    char *p;
    size_t n;
    bool too_big;
} rbuf;

static size_t on_body(char *d, size_t size, size_t nmemb, void *ud)
{
    rbuf *b = ud;
    size_t add = size * nmemb;
    if (b->n + add > MAX_RESPONSE) {
        b->too_big = true;
        return 0; /* curl stops with a write error */
    }
    char *g = realloc(b->p, b->n + add + 1);
    if (g == NULL) {
        return 0;
    }
    b->p = g;
    memcpy(b->p + b->n, d, add);
    b->n += add;
    b->p[b->n] = '\0';
    return add;
}

static void usage(FILE *f)
{
    fputs("usage: hush-generate-llm --endpoint URL [--model NAME] [--api-key-file FILE]\n"
          "                         [--temperature T] [--max-tokens N] [--timeout S]\n"
          "                         [--min-ratio R] [--max-ratio R] [--attempts N]\n"
          "  an external generator for hushd (--generator-cmd): kept samples as JSON\n"
          "  lines on stdin, HUSH_WANT new texts as JSON lines on stdout, each one\n"
          "  chat completion of an OpenAI-compatible endpoint (docs/generators.md)\n"
          "defaults: model \"default\", temperature 0.9, max tokens 512, timeout 60 s\n"
          "per request, word count within 0.5 to 1.5 times the parent's, 2 attempts\n"
          "per text\n",
          f);
}

/* The prompt for one variation of `parent` (new, free). */
static json_t *request_body(const opts *o, const sample *parent, uint64_t seed)
{
    char user[MAX_TEXT + 1024];
    snprintf(user, sizeof user,
             "Here is an email:\n\n%s\n\nWrite one new email on the same topic, in the "
             "same register and of about the same length (about %zu words). Change the "
             "details: names, dates, numbers, places, products. Do not copy sentences "
             "from it. Answer with the email's text only, without a subject line, "
             "quotes or comments.",
             parent->text, parent->words);
    return json_pack(
        "{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:f, s:I, s:I, s:b}", "model", o->model,
        "messages", "role", "system", "content", "You write realistic, ordinary emails.",
        "role", "user", "content", user, "temperature", o->temperature, "max_tokens",
        (json_int_t)o->max_tokens, "seed", (json_int_t)(seed & INT64_MAX), "stream", 0);
}

/* One completion: 0 and *text (new, free) or -1 with *why set. */
static int complete(CURL *c, const opts *o, const char *auth, const sample *parent,
                    uint64_t seed, char **text, char *why, size_t why_cap)
{
    json_t *body = request_body(o, parent, seed);
    char *req = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (req == NULL) {
        snprintf(why, why_cap, "out of memory");
        return -1;
    }
    rbuf b = {0};
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (auth != NULL) {
        h = curl_slist_append(h, auth);
    }
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, o->endpoint);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, o->timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    free(req);
    int rc = -1;
    if (cc != CURLE_OK) {
        snprintf(why, why_cap, "%s",
                 b.too_big ? "the answer is too large" : curl_easy_strerror(cc));
    } else if (status != 200) {
        snprintf(why, why_cap, "HTTP %ld", status);
    } else {
        rc = hush_llm_answer_text(b.p, b.n, parent->words, o->min_ratio, o->max_ratio,
                                  text, why, why_cap);
    }
    free(b.p);
    return rc;
}

static bool parse_double(const char *v, double lo, double hi, double *out)
{
    char *end = NULL;
    double x = strtod(v, &end);
    if (end == v || *end != '\0' || !(x >= lo && x <= hi)) {
        return false;
    }
    *out = x;
    return true;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("hush-generate-llm %s\n", HUSH_VERSION_STRING);
        return 0;
    }
    opts o = {.model = "default",
              .temperature = 0.9,
              .min_ratio = 0.5,
              .max_ratio = 1.5,
              .max_tokens = 512,
              .timeout_s = 60,
              .attempts = 2};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        uint64_t u = 0;
        bool ok = true;
        if (strcmp(f, "--endpoint") == 0) {
            o.endpoint = v;
            ok = strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0;
        } else if (strcmp(f, "--model") == 0) {
            o.model = v;
        } else if (strcmp(f, "--api-key-file") == 0) {
            o.api_key_file = v;
        } else if (strcmp(f, "--temperature") == 0) {
            ok = parse_double(v, 0, 5, &o.temperature);
        } else if (strcmp(f, "--min-ratio") == 0) {
            ok = parse_double(v, 0, 100, &o.min_ratio);
        } else if (strcmp(f, "--max-ratio") == 0) {
            ok = parse_double(v, 0, 100, &o.max_ratio);
        } else if (strcmp(f, "--max-tokens") == 0) {
            ok = hush_parse_u64(v, 1, 1u << 20, f, &u, NULL) == 0;
            o.max_tokens = (long)u;
        } else if (strcmp(f, "--timeout") == 0) {
            ok = hush_parse_u64(v, 1, 86400, f, &u, NULL) == 0;
            o.timeout_s = (long)u;
        } else if (strcmp(f, "--attempts") == 0) {
            ok = hush_parse_u64(v, 1, 100, f, &u, NULL) == 0;
            o.attempts = (unsigned)u;
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "hush-generate-llm: bad option %s %s\n", f, v);
            usage(stderr);
            return 2;
        }
    }
    if (o.endpoint == NULL || !(o.min_ratio <= o.max_ratio)) {
        fprintf(stderr, "hush-generate-llm: --endpoint http(s)://... is required, and "
                        "--min-ratio <= --max-ratio\n");
        return 2;
    }
    uint64_t want = 0, seed = 0;
    const char *ew = getenv("HUSH_WANT"), *es = getenv("HUSH_SEED");
    if (ew == NULL || hush_parse_u64(ew, 1, 1000000, "HUSH_WANT", &want, NULL) != 0 ||
        (es != NULL &&
         hush_parse_u64(es, 0, UINT64_MAX, "HUSH_SEED", &seed, NULL) != 0)) {
        fprintf(stderr, "hush-generate-llm: HUSH_WANT (1 to 1000000) is required; run "
                        "me from hushd --generator-cmd\n");
        return 2;
    }
    /* the API key: a file, so it shows in no process listing */
    char auth[600] = {0};
    if (o.api_key_file != NULL) {
        FILE *kf = fopen(o.api_key_file, "r");
        char key[512] = {0};
        if (kf == NULL || fgets(key, sizeof key, kf) == NULL) {
            fprintf(stderr, "hush-generate-llm: cannot read %s\n", o.api_key_file);
            if (kf != NULL) {
                fclose(kf);
            }
            return 2;
        }
        fclose(kf);
        key[strcspn(key, "\r\n")] = '\0';
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        memset(key, 0, sizeof key);
    }
    /* the kept samples */
    sample *kept = NULL;
    size_t n = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    while ((got = getline(&line, &lcap, stdin)) > 0) {
        json_t *doc = json_loadb(line, (size_t)got, 0, NULL);
        const char *t = json_string_value(json_object_get(doc, "text"));
        const char *id = json_string_value(json_object_get(doc, "id"));
        if (t != NULL && t[0] != '\0') {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                sample *g = realloc(kept, cap * sizeof *g);
                if (g == NULL) {
                    fprintf(stderr, "hush-generate-llm: out of memory\n");
                    return 1;
                }
                kept = g;
            }
            kept[n].text = strdup(t);
            kept[n].id = id != NULL ? strdup(id) : NULL;
            kept[n].words = hush_llm_words(t);
            n++;
        }
        json_decref(doc);
    }
    free(line);
    if (n == 0) {
        fprintf(stderr, "hush-generate-llm: no kept samples on stdin\n");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    size_t printed = 0, refused = 0;
    char why[512];
    for (uint64_t i = 0; i < want && c != NULL; i++) {
        const sample *parent = &kept[i % n];
        char *text = NULL;
        for (unsigned a = 0; a < o.attempts && text == NULL; a++) {
            if (complete(c, &o, auth[0] ? auth : NULL, parent, seed + i * 7919 + a, &text,
                         why, sizeof why) != 0) {
                refused++;
                fprintf(stderr,
                        "hush-generate-llm: refused an answer for text %llu: %s\n",
                        (unsigned long long)i + 1, why);
            }
        }
        if (text != NULL) {
            json_t *out = json_pack("{s:s}", "text", text);
            if (out != NULL && parent->id != NULL) {
                /* the lineage hushd records in the round history */
                json_object_set_new(out, "parent", json_string(parent->id));
            }
            char *s = out != NULL ? json_dumps(out, JSON_COMPACT) : NULL;
            if (s != NULL) {
                printf("%s\n", s);
                fflush(stdout);
                printed++;
            }
            free(s);
            json_decref(out);
            free(text);
        }
    }
    curl_easy_cleanup(c);
    curl_global_cleanup();
    for (size_t i = 0; i < n; i++) {
        free(kept[i].text);
        free(kept[i].id);
    }
    free(kept);
    memset(auth, 0, sizeof auth);
    if (printed == 0) {
        fprintf(stderr, "hush-generate-llm: no usable text (%zu answers refused)\n",
                refused);
        return 1;
    }
    return 0;
}
