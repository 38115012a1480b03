/*
 * test_generate.c - the refinement generators: the built-in one's
 * determinism and limits, and an external command that works, crashes,
 * hangs, floods, or prints garbage.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "domain.h"

static const hush__parent parents[] = {
    {"s1", "Lunch meeting moved to Thursday at noon. Bring the slides! See you there.",
     120, 9, 0},
    {"s2", "Your invoice for October is attached. Payment is due in thirty days.", 80, 8,
     0},
    {"s3", "The package you ordered has shipped. It will arrive on Monday.", 40, 7, 0},
};
#define N_PARENTS (sizeof parents / sizeof parents[0])

static const char *const corpus[] = {
    "Limited offer: act now and save on every order this week.",
    "Click here to unsubscribe from the mailing list.",
};

static void check_texts(char **t, size_t n, size_t max_bytes)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(t[i]);
        cr_assert(len > 0 && len <= max_bytes, "text %zu has %zu bytes", i, len);
        for (size_t p = 0; p < N_PARENTS; p++) {
            cr_assert_str_neq(t[i], parents[p].text, "a parent came back unchanged");
        }
        for (size_t k = 0; k < i; k++) {
            cr_assert_str_neq(t[i], t[k], "texts %zu and %zu repeat", k, i);
        }
    }
}

Test(generate, builtin_is_deterministic_under_its_seed)
{
    char **a = NULL, **b = NULL, **c = NULL;
    size_t na = 0, nb = 0, nc = 0;
    hush_err err = {0};
    cr_assert_eq(
        hush__generate_builtin(parents, N_PARENTS, 40, 7, corpus, 2, 512, &a, &na, &err),
        0, "%s", err.msg);
    cr_assert_eq(
        hush__generate_builtin(parents, N_PARENTS, 40, 7, corpus, 2, 512, &b, &nb, &err),
        0);
    cr_assert_eq(
        hush__generate_builtin(parents, N_PARENTS, 40, 8, corpus, 2, 512, &c, &nc, &err),
        0);
    cr_assert_eq(na, 40, "three parents allow forty variations (got %zu)", na);
    cr_assert_eq(na, nb);
    size_t same = 0;
    for (size_t i = 0; i < na; i++) {
        cr_assert_str_eq(a[i], b[i], "same seed, same text %zu", i);
    }
    for (size_t i = 0; i < na && i < nc; i++) {
        same += strcmp(a[i], c[i]) == 0;
    }
    cr_assert_lt(same, na / 2, "another seed, other texts (%zu of %zu equal)", same, na);
    check_texts(a, na, 512);
    hush__texts_free(a, na);
    hush__texts_free(b, nb);
    hush__texts_free(c, nc);
}

Test(generate, builtin_respects_its_limits)
{
    char **t = NULL;
    size_t n = 0;
    hush_err err = {0};
    /* a byte cap shorter than any parent: whole sentences, or a cut one */
    cr_assert_eq(
        hush__generate_builtin(parents, N_PARENTS, 30, 1, NULL, 0, 40, &t, &n, &err), 0,
        "%s", err.msg);
    cr_assert_gt(n, 0);
    check_texts(t, n, 40);
    hush__texts_free(t, n);
    /* one one-word parent cannot give many distinct variations: fewer,
     * and no endless loop */
    hush__parent tiny = {"t", "hello", 5, 1, 0};
    cr_assert_eq(hush__generate_builtin(&tiny, 1, 500, 1, NULL, 0, 64, &t, &n, &err), 0);
    cr_assert_lt(n, 500);
    hush__texts_free(t, n);
    cr_assert_eq(hush__generate_builtin(parents, 0, 5, 1, NULL, 0, 64, &t, &n, &err),
                 HUSH_EINVAL);
}

/* The external protocol, with small shell programs. */
static int external(const char *cmd, unsigned timeout, size_t max_output, size_t want,
                    char ***t, size_t *n, hush_err *err)
{
    hush_err_clear(err);
    *t = NULL;
    *n = 0;
    return hush__generate_external(cmd, timeout, max_output, parents, N_PARENTS, want,
                                   "mail", 3, 42, 256, t, n, err);
}

Test(generate, external_generator_protocol)
{
    char **t = NULL;
    size_t n = 0;
    hush_err err = {0};
    /* reads the parents, uses the request variables, prints new texts */
    const char *good = "n=$(wc -l); test \"$n\" = 3 || exit 9; "
                       "test \"$HUSH_CAMPAIGN/$HUSH_ROUND/$HUSH_WANT/$HUSH_SEED\" = "
                       "mail/3/4/42 || exit 8; "
                       "printf '{\"text\":\"first variation\"}\\n\\n{\"text\":\"second "
                       "variation\"}\\n'; "
                       "printf '{\"text\":\"first variation\"}\\n'";
    cr_assert_eq(external(good, 10, 1 << 20, 4, &t, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 2, "a repeated text counts once");
    cr_assert_str_eq(t[0], "first variation");
    cr_assert_str_eq(t[1], "second variation");
    hush__texts_free(t, n);
    /* a parent's own text is not new */
    cr_assert_eq(
        external("cat >/dev/null; echo '{\"text\":\"Lunch meeting moved to Thursday at "
                 "noon. Bring the slides! See you there.\"}'; echo '{\"text\":\"x1\"}'",
                 10, 1 << 20, 4, &t, &n, &err),
        0, "%s", err.msg);
    cr_assert_eq(n, 1);
    hush__texts_free(t, n);
    /* a generator that does not read its input is fine, and no SIGPIPE */
    cr_assert_eq(
        external("echo '{\"text\":\"ignored the input\"}'", 10, 1 << 20, 4, &t, &n, &err),
        0, "%s", err.msg);
    hush__texts_free(t, n);
}

static void refused(const char *cmd, unsigned timeout, size_t max_output, size_t want,
                    int code, const char *fragment)
{
    char **t = NULL;
    size_t n = 0;
    hush_err err = {0};
    int rc = external(cmd, timeout, max_output, want, &t, &n, &err);
    cr_assert_eq(rc, code, "%s: rc %d (%s)", cmd, rc, err.msg);
    cr_assert_null(t);
    cr_assert(strstr(err.msg, fragment) != NULL, "%s: \"%s\" lacks \"%s\"", cmd, err.msg,
              fragment);
}

Test(generate, external_failures_are_clear_errors)
{
    refused("cat >/dev/null; echo 'model not loaded' >&2; exit 3", 10, 1 << 20, 4,
            HUSH_EIO, "status 3; stderr: model not loaded");
    refused("kill -9 $$", 10, 1 << 20, 4, HUSH_EIO, "signal 9");
    refused("echo not json", 10, 1 << 20, 4, HUSH_EINVAL, "line 1");
    refused("echo '{\"txt\":\"a\"}'", 10, 1 << 20, 4, HUSH_EINVAL, "line 1");
    refused("echo '{\"text\":\"\"}'", 10, 1 << 20, 4, HUSH_EINVAL, "line 1");
    refused("echo '{\"text\":\"!!!\"}'", 10, 1 << 20, 4, HUSH_EINVAL, "letter or digit");
    refused("printf '{\"text\":\"a\\\\u0001b\"}\\n'", 10, 1 << 20, 4, HUSH_EINVAL,
            "control");
    refused("for i in 1 2 3; do echo \"{\\\"text\\\":\\\"t$i\\\"}\"; done", 10, 1 << 20,
            2, HUSH_EINVAL, "more than the 2 texts");
    refused("true", 10, 1 << 20, 4, HUSH_EINVAL, "no new texts");
    refused("yes '{\"text\":\"flood\"}'", 10, 1 << 16, 4, HUSH_ETOOBIG,
            "more than 65536 bytes");
    refused("", 10, 1 << 20, 4, HUSH_EINVAL, "no external generator");
    char too_long[400];
    snprintf(too_long, sizeof too_long, "echo '{\"text\":\"%0300d\"}'", 7);
    refused(too_long, 10, 1 << 20, 4, HUSH_EINVAL, "1 to 256 bytes");
}

/* Processes of group `pgid` that are not zombies, from /proc. */
static int live_in_group(pid_t pgid)
{
    DIR *d = opendir("/proc");
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') {
            continue;
        }
        char path[300], line[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        size_t got = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        line[got] = '\0';
        const char *close = strrchr(line, ')'); /* after the command name */
        char state = 0;
        long ppid = 0, pgrp = 0;
        if (close != NULL &&
            sscanf(close + 1, " %c %ld %ld", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
            state != 'Z' && state != 'X') {
            n++;
        }
    }
    closedir(d);
    return n;
}

Test(generate, a_hanging_generator_is_killed_at_its_time_limit)
{
    char pidfile[] = "/tmp/hush-gen-XXXXXX";
    int fd = mkstemp(pidfile);
    cr_assert_geq(fd, 0);
    close(fd);
    char cmd[256];
    /* the shell and a child of it: the whole process group must go */
    snprintf(cmd, sizeof cmd, "echo $$ > %s; sleep 30 & sleep 30", pidfile);
    double t0 = hush__now();
    refused(cmd, 1, 1 << 20, 4, HUSH_EIO, "did not finish within 1 s");
    double took = hush__now() - t0;
    cr_assert_lt(took, 5.0, "took %.1f s", took);
    FILE *f = fopen(pidfile, "r");
    long pgid = 0;
    cr_assert(f != NULL && fscanf(f, "%ld", &pgid) == 1 && pgid > 1);
    fclose(f);
    unlink(pidfile);
    /* no live process of that group is left (a killed orphan may stay a
     * zombie until whoever adopted it reaps it: that is not alive) */
    int alive = 0;
    for (int i = 0; i < 100; i++) {
        alive = live_in_group((pid_t)pgid);
        if (alive == 0) {
            break;
        }
        usleep(10000);
    }
    cr_assert_eq(alive, 0, "%d processes of the generator's group survived", alive);
}

/* A public pool with documents, paragraphs and sentences near the parents'
 * topics and lengths, some of them already in the population. */
static const char *const pool[] = {
    "Team lunch moved to Friday at one. Bring your laptop! See you all there.\n\n"
    "The meeting about the budget is on Monday at ten in the large room.",
    "Your bill for November is attached. Payment is due within fourteen days.\n\n"
    "Your receipt for the September order is attached for your records.",
    "The parcel you bought has been sent. It should arrive on Tuesday.",
    "Your order has shipped today and will arrive on Wednesday morning.",
    "Win a free cruise now click here to claim your prize today.",
};

static bool words_within(const char *t, const char *parent)
{
    size_t w = 0, pw = 0;
    for (size_t i = 0; t[i] != '\0'; i++) {
        w += t[i] != ' ' && (i == 0 || t[i - 1] == ' ' || t[i - 1] == '\n');
    }
    for (size_t i = 0; parent[i] != '\0'; i++) {
        pw += parent[i] != ' ' && (i == 0 || parent[i - 1] == ' ');
    }
    return 2 * w >= pw && 2 * w <= 3 * pw + 2;
}

/* Retrieval returns verbatim public units, never one the population holds,
 * never twice, each near some parent's length; deterministic; fewer when
 * the pool runs out; and it needs a corpus. */
Test(generate, retrieval_draws_unused_public_texts)
{
    hush_embedder *e = NULL;
    cr_assert_eq(hush_embedder_new_default(64, 3, &e, NULL), 0);
    const char *population[] = {
        parents[0].text, parents[1].text, parents[2].text,
        "The parcel you bought has been sent. It should arrive on Tuesday."};
    char **a = NULL, **b = NULL;
    size_t na = 0, nb = 0;
    hush_err err = {0};
    cr_assert_eq(hush__generate_retrieval(parents, N_PARENTS, 4, 1, 9, pool, 5,
                                          population, 4, e, NULL, 0.0, 4096, &a, &na,
                                          NULL, &err),
                 0, "%s", err.msg);
    cr_assert(na >= 1 && na <= 4);
    check_texts(a, na, 4096);
    for (size_t i = 0; i < na; i++) {
        bool in_pool = false, near = false;
        for (size_t k = 0; k < 5; k++) {
            in_pool = in_pool || strstr(pool[k], a[i]) != NULL;
        }
        for (size_t k = 0; k < N_PARENTS; k++) {
            near = near || words_within(a[i], parents[k].text);
        }
        cr_assert(in_pool, "not a unit of the pool: %s", a[i]);
        cr_assert(near, "no parent of a similar length: %s", a[i]);
        for (size_t k = 0; k < 4; k++) {
            cr_assert_str_neq(a[i], population[k], "drew a text the population holds");
        }
    }
    cr_assert_eq(hush__generate_retrieval(parents, N_PARENTS, 4, 1, 9, pool, 5,
                                          population, 4, e, NULL, 0.0, 4096, &b, &nb,
                                          NULL, &err),
                 0);
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++) {
        cr_assert_str_eq(a[i], b[i], "same seed, same texts");
    }
    hush__texts_free(a, na);
    hush__texts_free(b, nb);
    /* asking for more than the pool holds: fewer, all distinct */
    cr_assert_eq(hush__generate_retrieval(parents, N_PARENTS, 200, 3, 9, pool, 5,
                                          population, 4, e, NULL, 0.0, 4096, &a, &na,
                                          NULL, &err),
                 0);
    cr_assert_lt(na, 200u);
    check_texts(a, na, 4096);
    hush__texts_free(a, na);
    /* no corpus */
    hush_err_clear(&err);
    cr_assert_eq(hush__generate_retrieval(parents, N_PARENTS, 4, 1, 9, NULL, 0,
                                          population, 4, e, NULL, 0.0, 4096, &a, &na,
                                          NULL, &err),
                 HUSH_EINVAL);
    cr_assert(strstr(err.msg, "--generator-corpus") != NULL, "%s", err.msg);
    hush_embedder_free(e);
}

/* A SIF table of the 676 two-letter words "aa".."zz" in that (frequency)
 * order, dimension 16: word i points along axis i % 10 with a small
 * individual tilt, so its nearest neighbours are the words of its group. */
static hush_wordvec *group_table(void)
{
    size_t cap = 676 * 200, o = 0;
    char *text = malloc(cap);
    for (int i = 0; i < 676; i++) {
        o += (size_t)snprintf(text + o, cap - o, "%c%c", 'a' + i / 26, 'a' + i % 26);
        for (int d = 0; d < 16; d++) {
            double v = d == i % 10 ? 3.0 : 0.05 * (double)((i * 7 + d * 13) % 11 - 5);
            o += (size_t)snprintf(text + o, cap - o, " %.3f", v);
        }
        text[o++] = '\n';
    }
    hush_wordvec *src = NULL, *w = NULL;
    uint8_t *bin = NULL;
    size_t blen = 0;
    hush_err err = {0};
    cr_assert_eq(hush_wordvec_parse(text, o, &src, &err), 0, "%s", err.msg);
    cr_assert_eq(hush_sif_table_build(src, 676, 0, 1e-3, &bin, &blen, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(hush_wordvec_read(bin, blen, &w, &err), 0, "%s", err.msg);
    hush_wordvec_free(src);
    hush_free(bin);
    free(text);
    return w;
}

static size_t count_words(const char *s)
{
    size_t n = 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        n += (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\n') && s[i] != ' ' &&
             s[i] != '\n';
    }
    return n;
}

Test(generate, substitution_replaces_words_by_neighbours_and_keeps_the_count)
{
    hush_wordvec *w = group_table();
    hush__subst_cache cache = {0};
    cr_assert_eq(hush__subst_cache_init(&cache, w), 0);
    hush_rng *rng = NULL;
    cr_assert_eq(hush_rng_new_seeded_u64(5, &rng), 0);
    /* 200 eligible words (ranks 100..299), in three case patterns, then
     * words that must stay: frequent ones (rank < 100), parts of a URL, an
     * address and a contraction */
    char text[4096];
    size_t o = 0;
    for (int i = 100; i < 300; i++) {
        char a = (char)('a' + i / 26), b = (char)('a' + i % 26);
        if (i % 3 == 1) {
            a = (char)(a - 'a' + 'A');
        } else if (i % 3 == 2) {
            a = (char)(a - 'a' + 'A');
            b = (char)(b - 'a' + 'A');
        }
        o += (size_t)snprintf(text + o, sizeof text - o, "%c%c%s", a, b,
                              i % 17 == 0   ? ", "
                              : i % 29 == 0 ? ".\n"
                                            : " ");
    }
    const char *tail = "aa ab ac http://zz.yy/xx mail xw@zz.zy it's the end";
    snprintf(text + o, sizeof text - o, "%s", tail);
    size_t n_trials = 0, n_changed_total = 0;
    for (int rep = 0; rep < 20; rep++) {
        char *out = NULL;
        size_t changed = 0;
        hush_err err = {0};
        cr_assert_eq(
            hush__substitute(text, HUSH__SUB_SHARE, &cache, rng, &out, &changed, &err), 0,
            "%s", err.msg);
        cr_assert_eq(strlen(out), strlen(text), "two-letter words for two-letter words");
        cr_assert_eq(count_words(out), count_words(text), "the word count is kept");
        size_t diff_words = 0;
        for (size_t i = 0; i < strlen(text); i += 1) {
            bool ws = text[i] == ' ' || text[i] == '\n';
            cr_assert_eq(ws, out[i] == ' ' || out[i] == '\n', "whitespace kept at %zu",
                         i);
            if (!ws && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\n') && i < o &&
                memcmp(text + i, out + i, 2) != 0) {
                diff_words++;
                /* a neighbour: the same group, in the same case pattern */
                char orig[3] = {(char)tolower(text[i]), (char)tolower(text[i + 1]), 0};
                char rep_w[3] = {(char)tolower(out[i]), (char)tolower(out[i + 1]), 0};
                long ro = hush_wordvec_lookup(w, orig, 2),
                     rr = hush_wordvec_lookup(w, rep_w, 2);
                cr_assert(ro >= 0 && rr >= HUSH__SUB_FIRST, "%s -> %s", orig, rep_w);
                cr_assert_eq(ro % 10, rr % 10, "%s -> %s: not a neighbour", orig, rep_w);
                cr_assert_eq(isupper(text[i]) != 0, isupper(out[i]) != 0);
                cr_assert_eq(isupper(text[i + 1]) != 0, isupper(out[i + 1]) != 0);
            }
        }
        cr_assert_eq(diff_words, changed);
        cr_assert_str_eq(out + o, tail,
                         "frequent words, URLs, addresses and "
                         "contractions stay");
        n_trials += 200;
        n_changed_total += changed;
        hush_free(out);
    }
    /* each eligible word is replaced with probability 0.15: 4 sigma */
    double mean = HUSH__SUB_SHARE * (double)n_trials;
    double sd = sqrt(mean * (1 - HUSH__SUB_SHARE));
    cr_assert(fabs((double)n_changed_total - mean) < 4 * sd, "%zu replaced of %zu",
              n_changed_total, n_trials);
    /* share 0: the text itself */
    char *same = NULL;
    size_t changed = 1;
    cr_assert_eq(hush__substitute(text, 0.0, &cache, rng, &same, &changed, NULL), 0);
    cr_assert_str_eq(same, text);
    cr_assert_eq(changed, 0);
    hush_free(same);
    hush_rng_free(rng);
    hush__subst_cache_free(&cache);
    hush_wordvec_free(w);
}

Test(generate, retrieval_with_substitution_keeps_lengths_and_never_repeats)
{
    hush_wordvec *w = group_table();
    hush_embedder *e = NULL;
    cr_assert_eq(hush_embedder_new_default(64, 3, &e, NULL), 0);
    /* a public pool whose sentences are made of table words */
    static const char *const words_pool[] = {
        "Di dj dk dl dm dn do. Dp dq dr ds dt du dv dw.",
        "Ea eb ec ed ee ef eg eh. Ei ej ek el em en eo.",
        "Fa fb fc fd fe ff fg fh fi. Fj fk fl fm fn fo fp fq.",
        "Ga gb gc gd ge gf gg gh gi gj. Gk gl gm gn go gp gq gr gs.",
    };
    const hush__parent wp[] = {
        {"p1", "Da db dc dd de df dg dh.", 50, 5, 0},
        {"p2", "Ha hb hc hd he hf hg hh hi.", 40, 5, 0},
    };
    const char *population[] = {wp[0].text, wp[1].text};
    char **a = NULL;
    size_t na = 0;
    size_t parent_of[40];
    hush_err err = {0};
    cr_assert_eq(hush__generate_retrieval(wp, 2, 40, 1, 9, words_pool, 4, population, 2,
                                          e, w, 0.5, 4096, &a, &na, parent_of, &err),
                 0, "%s", err.msg);
    cr_assert(na >= 2);
    size_t altered = 0;
    for (size_t i = 0; i < na; i++) {
        size_t wc = count_words(a[i]), pw = count_words(wp[parent_of[i]].text);
        cr_assert(2 * wc >= pw && 2 * wc <= 3 * pw + 2, "%zu words, parent %zu", wc, pw);
        bool verbatim = false;
        for (size_t k = 0; k < 4; k++) {
            verbatim = verbatim || strstr(words_pool[k], a[i]) != NULL;
        }
        altered += !verbatim;
        for (size_t j = 0; j < i; j++) {
            cr_assert_str_neq(a[i], a[j], "returned twice");
        }
        cr_assert_str_neq(a[i], population[0]);
        cr_assert_str_neq(a[i], population[1]);
    }
    cr_assert_gt(altered, 0, "at share 0.5 some text is changed");
    hush__texts_free(a, na);
    hush_embedder_free(e);
    hush_wordvec_free(w);
}
