/*
 * generate.c - variations of the synthetic samples devices voted for: the
 * built-in generator and the protocol for external ones (docs/generators.md).
 *
 * Built-in: no model.  Each new text starts from a parent drawn in
 * proportion to its vote estimate and goes through one or two operations:
 * sentence crossover with a second parent, word substitution from a
 * vocabulary (the parents' words, weighted by their votes, and a public
 * corpus), insertion of a sentence from another parent or the corpus, or
 * deletion of a sentence.  The result depends only on the parents, the
 * corpus and the seed.
 *
 * External: any command, run with /bin/sh -c in its own process group,
 * given the parents as JSON lines on stdin and the request in environment
 * variables, returning JSON lines {"text": ...} on stdout within a time
 * limit and an output cap.  Everything it prints is validated; any failure
 * (exit status, signal, time, size, a bad line) is an error naming it.
 *
 * Invariant: on success *out holds n_out distinct, valid UTF-8 texts of 1
 * to max_text_bytes bytes, each with a letter or digit, none equal to a
 * parent's text.  On failure nothing is returned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#include "domain.h"
#include "hush_json.h"

void hush__texts_free(char **texts, size_t n)
{
    for (size_t i = 0; texts != NULL && i < n; i++) {
        hush_free(texts[i]);
    }
    hush_free(texts);
}

/* ---- a growable list of strings ---- */

typedef struct strs {
    char **v;
    size_t n, cap;
} strs;

static int strs_push(strs *s, const char *p, size_t len)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **g = hush_realloc(s->v, cap * sizeof *g);
        if (g == NULL) {
            return HUSH_ENOMEM;
        }
        s->v = g;
        s->cap = cap;
    }
    char *c = hush_malloc(len + 1);
    if (c == NULL) {
        return HUSH_ENOMEM;
    }
    memcpy(c, p, len);
    c[len] = '\0';
    s->v[s->n++] = c;
    return 0;
}

static void strs_free(strs *s)
{
    hush__texts_free(s->v, s->n);
    memset(s, 0, sizeof *s);
}

/* ---- a set of text hashes, to keep outputs distinct ---- */

typedef struct hashset {
    uint64_t *slot;
    size_t cap, n;
} hashset;

static int set_init(hashset *s, size_t expect)
{
    s->cap = 64;
    while (s->cap < expect * 2 + 2) {
        s->cap *= 2;
    }
    s->n = 0;
    s->slot = hush_calloc(s->cap, sizeof *s->slot);
    return s->slot != NULL ? 0 : HUSH_ENOMEM;
}

/* Adds the text's hash; false if it was there. */
static bool set_add(hashset *s, const char *text, size_t len)
{
    uint64_t h = XXH3_64bits(text, len) | 1; /* 0 marks an empty slot */
    size_t i = (size_t)h & (s->cap - 1);
    while (s->slot[i] != 0) {
        if (s->slot[i] == h) {
            return false;
        }
        i = (i + 1) & (s->cap - 1);
    }
    s->slot[i] = h;
    s->n++;
    return true;
}

/* ---- text checks ---- */

static bool has_alnum(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') ||
            ch >= 0xc0) {
            return true;
        }
    }
    return false;
}

/* Valid UTF-8 without NUL or other C0 controls except tab and newline. */
static bool clean_utf8(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n') {
                return false;
            }
            i++;
            continue;
        }
        size_t n = c >= 0xf0 && c <= 0xf4  ? 4
                   : c >= 0xe0             ? 3
                   : c >= 0xc2 && c < 0xe0 ? 2
                                           : 0;
        if (n == 0 || i + n > len) {
            return false;
        }
        for (size_t k = 1; k < n; k++) {
            if (((unsigned char)s[i + k] & 0xc0) != 0x80) {
                return false;
            }
        }
        i += n;
    }
    return true;
}

/* ---- built-in generator ---- */

/* Splits a text into sentences: a sentence ends after . ! ? followed by
 * white space, or at a newline.  Pieces are trimmed; empty ones dropped. */
static int split_sentences(const char *t, strs *out)
{
    size_t len = strlen(t), start = 0;
    for (size_t i = 0; i <= len; i++) {
        bool end = i == len || t[i] == '\n' ||
                   ((t[i] == '.' || t[i] == '!' || t[i] == '?') && i + 1 < len &&
                    (t[i + 1] == ' ' || t[i + 1] == '\n' || t[i + 1] == '\t'));
        if (!end) {
            continue;
        }
        size_t stop = i < len && t[i] != '\n' ? i + 1 : i;
        size_t a = start, b = stop;
        while (a < b && (t[a] == ' ' || t[a] == '\t')) {
            a++;
        }
        while (b > a && (t[b - 1] == ' ' || t[b - 1] == '\t' || t[b - 1] == '\r')) {
            b--;
        }
        if (b > a && has_alnum(t + a, b - a) && strs_push(out, t + a, b - a) != 0) {
            return HUSH_ENOMEM;
        }
        start = stop;
    }
    return 0;
}

/* Words: maximal runs of letters, digits, apostrophes and non-ASCII bytes,
 * of 3 to 24 bytes. */
static int split_words(const char *t, strs *out)
{
    size_t i = 0, len = strlen(t);
    while (i < len) {
        while (i < len && !has_alnum(t + i, 1) && t[i] != '\'') {
            i++;
        }
        size_t a = i;
        while (i < len && (has_alnum(t + i, 1) || t[i] == '\'' ||
                           ((unsigned char)t[i] & 0xc0) == 0x80)) {
            i++;
        }
        if (i - a >= 3 && i - a <= 24 && strs_push(out, t + a, i - a) != 0) {
            return HUSH_ENOMEM;
        }
    }
    return 0;
}

typedef struct gen {
    hush_rng *rng;
    strs *sent; /* per parent */
    size_t n_parents;
    double *cum;  /* cumulative parent weights */
    strs vocab;   /* words, repeated by weight */
    strs phrases; /* corpus sentences */
    size_t max_bytes;
} gen;

static size_t pick_parent(gen *g)
{
    double u = hush_rng_unit(g->rng) * g->cum[g->n_parents - 1];
    size_t lo = 0, hi = g->n_parents - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (g->cum[mid] > u) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

/* A child as a list of sentence pointers (borrowed). */
typedef struct child {
    const char **s;
    size_t n, cap;
} child;

static int child_push(child *c, const char *s, size_t at)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        const char **g = hush_realloc(c->s, cap * sizeof *g);
        if (g == NULL) {
            return HUSH_ENOMEM;
        }
        c->s = g;
        c->cap = cap;
    }
    memmove(c->s + at + 1, c->s + at, (c->n - at) * sizeof *c->s);
    c->s[at] = s;
    c->n++;
    return 0;
}

/* Joins sentences with spaces, up to max bytes (whole sentences only; at
 * least the first, cut at a UTF-8 boundary if it alone is too long). */
static char *join(const child *c, size_t max, size_t *len)
{
    char *out = hush_malloc(max + 1);
    if (out == NULL) {
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < c->n; i++) {
        size_t n = strlen(c->s[i]);
        size_t need = n + (o > 0 ? 1 : 0);
        if (o + need > max) {
            if (o > 0) {
                break;
            }
            n = max;
            while (n > 0 && ((unsigned char)c->s[i][n] & 0xc0) == 0x80) {
                n--;
            }
            need = n;
        }
        if (o > 0) {
            out[o++] = ' ';
        }
        memcpy(out + o, c->s[i], n);
        o += n;
    }
    out[o] = '\0';
    *len = o;
    return out;
}

/* Replaces about a tenth of the words of `text` (at least one) with
 * vocabulary words.  New string. */
static char *substitute(gen *g, const char *text, size_t *len)
{
    size_t tl = strlen(text);
    char *out = hush_malloc(g->max_bytes + 1);
    if (out == NULL || g->vocab.n == 0) {
        hush_free(out);
        return NULL;
    }
    size_t o = 0, i = 0, n_words = 0;
    /* count words first, to aim at ~10% */
    for (size_t k = 0; k < tl; k++) {
        n_words += (k == 0 || text[k - 1] == ' ') && text[k] != ' ';
    }
    double p = n_words > 0 ? (n_words < 10 ? 1.0 / (double)n_words : 0.1) : 0.0;
    while (i < tl) {
        size_t a = i;
        while (i < tl && text[i] != ' ') {
            i++;
        }
        const char *w = text + a;
        size_t wl = i - a;
        if (wl >= 3 && hush_rng_unit(g->rng) < p) {
            w = g->vocab.v[hush_rng_uniform(g->rng, g->vocab.n)];
            wl = strlen(w);
        }
        if (o + wl + 1 > g->max_bytes) {
            break;
        }
        if (o > 0) {
            out[o++] = ' ';
        }
        memcpy(out + o, w, wl);
        o += wl;
        while (i < tl && text[i] == ' ') {
            i++;
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
}

/* One child of parent `a`; new string or NULL (ENOMEM). */
static char *make_child(gen *g, size_t a, size_t *len)
{
    child c = {0};
    const strs *pa = &g->sent[a];
    for (size_t i = 0; i < pa->n; i++) {
        if (child_push(&c, pa->v[i], c.n) != 0) {
            hush_free(c.s);
            return NULL;
        }
    }
    unsigned ops = 1 + (hush_rng_unit(g->rng) < 0.5);
    bool substitute_after = false;
    for (unsigned k = 0; k < ops; k++) {
        double u = hush_rng_unit(g->rng);
        if (u < 0.40) {
            /* crossover: each sentence from a second parent with
             * probability 1/2, the second parent's extra sentences
             * appended with probability 1/2 each */
            const strs *pb = &g->sent[pick_parent(g)];
            for (size_t i = 0; i < pb->n; i++) {
                if (i < c.n) {
                    if (hush_rng_unit(g->rng) < 0.5) {
                        c.s[i] = pb->v[i];
                    }
                } else if (hush_rng_unit(g->rng) < 0.5 &&
                           child_push(&c, pb->v[i], c.n) != 0) {
                    hush_free(c.s);
                    return NULL;
                }
            }
        } else if (u < 0.65) {
            substitute_after = true;
        } else if (u < 0.85) {
            /* insert a sentence: another parent's (70%) or the corpus's */
            const char *s = NULL;
            if (g->phrases.n > 0 && hush_rng_unit(g->rng) < 0.3) {
                s = g->phrases.v[hush_rng_uniform(g->rng, g->phrases.n)];
            } else {
                const strs *pb = &g->sent[pick_parent(g)];
                s = pb->n > 0 ? pb->v[hush_rng_uniform(g->rng, pb->n)] : NULL;
            }
            if (s != NULL &&
                child_push(&c, s, (size_t)hush_rng_uniform(g->rng, c.n + 1)) != 0) {
                hush_free(c.s);
                return NULL;
            }
        } else if (c.n > 1) {
            /* delete a sentence */
            size_t at = (size_t)hush_rng_uniform(g->rng, c.n);
            memmove(c.s + at, c.s + at + 1, (c.n - at - 1) * sizeof *c.s);
            c.n--;
        }
    }
    char *text = join(&c, g->max_bytes, len);
    hush_free(c.s);
    if (text != NULL && substitute_after && g->vocab.n > 0) {
        char *sub = substitute(g, text, len);
        hush_free(text);
        text = sub;
    }
    return text;
}

int hush__generate_builtin(const hush__parent *parents, size_t n, size_t want,
                           uint64_t seed, const char *const *corpus, size_t n_corpus,
                           size_t max_bytes, char ***out, size_t *n_out, hush_err *err)
{
    return hush__generate_builtin_lineage(parents, n, want, seed, corpus, n_corpus,
                                          max_bytes, out, n_out, NULL, err);
}

/* What the children are made of: each parent's weight (its vote
 * estimate, floored so every kept sample can be a parent) and sentences,
 * the vocabulary (each parent's words once per tenth of its share of the
 * votes, and the corpus's words) and the corpus's sentences.  The parents'
 * texts go into `seen`. */
static int gen_material(gen *g, const hush__parent *parents, size_t n,
                        const char *const *corpus, size_t n_corpus, hashset *seen)
{
    double total = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        double w = parents[i].estimate > 1.0 ? parents[i].estimate : 1.0;
        total += w;
        g->cum[i] = total;
        set_add(seen, parents[i].text, strlen(parents[i].text));
        rc = split_sentences(parents[i].text, &g->sent[i]);
        if (rc == 0 && g->sent[i].n == 0) {
            rc = strs_push(&g->sent[i], parents[i].text, strlen(parents[i].text));
        }
        strs words = {0};
        if (rc == 0) {
            rc = split_words(parents[i].text, &words);
        }
        unsigned copies = 1 + (unsigned)(9.0 * w / (w + 10.0));
        for (size_t k = 0; rc == 0 && k < words.n; k++) {
            for (unsigned c = 0; rc == 0 && c < copies; c++) {
                rc = strs_push(&g->vocab, words.v[k], strlen(words.v[k]));
            }
        }
        strs_free(&words);
    }
    for (size_t i = 0; i < n_corpus && rc == 0; i++) {
        rc = split_sentences(corpus[i], &g->phrases);
        strs words = {0};
        if (rc == 0) {
            rc = split_words(corpus[i], &words);
        }
        for (size_t k = 0; rc == 0 && k < words.n; k++) {
            rc = strs_push(&g->vocab, words.v[k], strlen(words.v[k]));
        }
        strs_free(&words);
    }
    return rc;
}

int hush__generate_builtin_lineage(const hush__parent *parents, size_t n, size_t want,
                                   uint64_t seed, const char *const *corpus,
                                   size_t n_corpus, size_t max_bytes, char ***out,
                                   size_t *n_out, size_t *parent_of, hush_err *err)
{
    if (n == 0) {
        return hush_err_set(err, HUSH_EINVAL,
                            "the generator needs at least one kept sample");
    }
    if (max_bytes < 16) {
        return hush_err_set(err, HUSH_EINVAL, "texts of at most %zu bytes are too short",
                            max_bytes);
    }
    gen g = {.n_parents = n, .max_bytes = max_bytes};
    strs result = {0};
    hashset seen = {0};
    uint8_t key[32] = {0};
    for (int i = 0; i < 4; i++) {
        uint64_t k = XXH3_64bits_withSeed(&seed, sizeof seed, (uint64_t)i);
        hush_store_le64(key + 8 * i, k);
    }
    int rc = hush_rng_new_seeded(key, &g.rng);
    g.sent = rc == 0 ? hush_calloc(n, sizeof *g.sent) : NULL;
    g.cum = g.sent != NULL ? hush_malloc(n * sizeof *g.cum) : NULL;
    if (g.cum == NULL || set_init(&seen, n + want) != 0) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory generating");
        goto out;
    }
    rc = rc != 0 ? rc : gen_material(&g, parents, n, corpus, n_corpus, &seen);
    if (rc != 0) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory generating");
        goto out;
    }
    /* Distinct children; a bounded number of attempts, since a tiny
     * parent set may not have `want` distinct variations. */
    size_t attempts = 0, max_attempts = want * 20 + 100;
    while (result.n < want && attempts++ < max_attempts) {
        size_t len = 0;
        size_t parent = pick_parent(&g);
        char *t = make_child(&g, parent, &len);
        if (t == NULL) {
            rc = hush_err_set(err, HUSH_ENOMEM, "out of memory generating");
            goto out;
        }
        if (len > 0 && has_alnum(t, len) && clean_utf8(t, len) &&
            set_add(&seen, t, len)) {
            if (parent_of != NULL) {
                parent_of[result.n] = parent; /* the first parent (crossover mixes in
                                               * a second) */
            }
            if (strs_push(&result, t, len) != 0) {
                hush_free(t);
                rc = hush_err_set(err, HUSH_ENOMEM, "out of memory generating");
                goto out;
            }
        }
        hush_free(t);
    }
    *out = result.v;
    *n_out = result.n;
    result.v = NULL;
    result.n = 0;
out:
    strs_free(&result);
    for (size_t i = 0; g.sent != NULL && i < n; i++) {
        strs_free(&g.sent[i]);
    }
    hush_free(g.sent);
    hush_free(g.cum);
    strs_free(&g.vocab);
    strs_free(&g.phrases);
    hush_free(seen.slot);
    hush_rng_free(g.rng);
    return rc;
}

/* ---- what an external generator printed (external.c runs it) ---- */

int hush__generator_output_parse(const char *text, size_t len, size_t want,
                                 size_t max_bytes, const hush__parent *parents,
                                 size_t n_parents, char ***out, size_t *n_out,
                                 hush_err *err)
{
    return hush__generator_output_parse_lineage(text, len, want, max_bytes, parents,
                                                n_parents, out, n_out, NULL, err);
}

/* What the lines read so far gave. */
typedef struct parsed {
    strs result;
    hashset seen; /* the parents' texts and every text taken */
    size_t want, max_bytes;
    const hush__parent *parents;
    size_t n_parents;
    size_t *parent_of;
} parsed;

/* The kept sample a line names as its "parent" (optional): its index,
 * SIZE_MAX when the line names none or names no kept sample. */
static size_t parent_named(const parsed *ps, const json_t *pj)
{
    for (size_t k = 0; pj != NULL && json_is_string(pj) && k < ps->n_parents; k++) {
        if (strcmp(ps->parents[k].id, json_string_value(pj)) == 0) {
            return k;
        }
    }
    return SIZE_MAX;
}

/* One line {"text", "parent"?}: checked; a new text taken, a repeat (of a
 * parent or an earlier line) skipped. */
static int parse_line(parsed *ps, const char *line, size_t len, size_t line_no,
                      hush_err *err)
{
    json_error_t jerr;
    int jcode = 0;
    json_t *doc = hush__json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr, &jcode);
    const json_t *t = json_object_get(doc, "text"), *pj = json_object_get(doc, "parent");
    const char *s = json_string_value(t);
    size_t sl = json_string_length(t), parent = parent_named(ps, pj);
    int rc = 0;
    if (doc == NULL && jcode == HUSH_ENOMEM) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory");
    } else if (doc == NULL || !json_is_object(doc) || s == NULL) {
        rc = hush_err_set(err, HUSH_EINVAL,
                          "generator output line %zu is not {\"text\": string}", line_no);
    } else if (pj != NULL && parent == SIZE_MAX) {
        rc = hush_err_set(err, HUSH_EINVAL,
                          "generator output line %zu: \"parent\" names no kept sample",
                          line_no);
    } else if (sl == 0 || sl > ps->max_bytes || !has_alnum(s, sl) || !clean_utf8(s, sl)) {
        rc = hush_err_set(err, HUSH_EINVAL,
                          "generator output line %zu: a text must be 1 to %zu bytes of "
                          "UTF-8 with a letter or digit and no control characters",
                          line_no, ps->max_bytes);
    } else if (ps->result.n == ps->want) {
        rc = hush_err_set(err, HUSH_EINVAL,
                          "the generator printed more than the %zu texts asked for",
                          ps->want);
    } else if (set_add(&ps->seen, s, sl)) {
        if (ps->parent_of != NULL) {
            ps->parent_of[ps->result.n] = parent;
        }
        if (strs_push(&ps->result, s, sl) != 0) {
            rc = hush_err_set(err, HUSH_ENOMEM, "out of memory");
        }
    }
    json_decref(doc);
    return rc;
}

int hush__generator_output_parse_lineage(const char *text, size_t len, size_t want,
                                         size_t max_bytes, const hush__parent *parents,
                                         size_t n_parents, char ***out, size_t *n_out,
                                         size_t *parent_of, hush_err *err)
{
    parsed ps = {.want = want,
                 .max_bytes = max_bytes,
                 .parents = parents,
                 .n_parents = n_parents,
                 .parent_of = parent_of};
    int rc = set_init(&ps.seen, n_parents + want);
    for (size_t i = 0; rc == 0 && i < n_parents; i++) {
        set_add(&ps.seen, parents[i].text, strlen(parents[i].text));
    }
    size_t line_no = 0, pos = 0;
    while (rc == 0 && pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n') {
            end++;
        }
        line_no++;
        size_t line_len = end - pos;
        if (line_len > 0 && text[end - 1] == '\r') {
            line_len--;
        }
        if (line_len > 0) {
            rc = parse_line(&ps, text + pos, line_len, line_no, err);
        }
        pos = end + 1;
    }
    if (rc == 0 && ps.result.n == 0) {
        rc = hush_err_set(err, HUSH_EINVAL, "the generator printed no new texts");
    }
    hush_free(ps.seen.slot);
    if (rc != 0) {
        strs_free(&ps.result);
        return rc;
    }
    *out = ps.result.v;
    *n_out = ps.result.n;
    return 0;
}
