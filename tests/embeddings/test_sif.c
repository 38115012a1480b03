/*
 * test_sif.c - SIF tables and the "sif" embedder: the weights and the common
 * component against their formulas, the embedding against a hand
 * computation, damaged tables refused, descriptions checked, neighbours.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <xxhash.h>

#include "embed_internal.h"

/* Six words in order of frequency, dimension 4. */
static const char ordered[] = "the 1 1 1 1\n"
                              "cat 2 0 0 0.5\n"
                              "dog 1.8 0.2 0 0.5\n"
                              "fish 0 0 3 0\n"
                              "kitten 1.9 0 0.1 0.4\n"
                              "car -1 2 0 0\n";

static uint8_t *build(size_t max_words, uint64_t vocab, double a, size_t *len)
{
    hush_wordvec *src = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_wordvec_parse(ordered, strlen(ordered), &src, &err), 0, "%s",
                 err.msg);
    uint8_t *buf = NULL;
    cr_assert_eq(hush_sif_table_build(src, max_words, vocab, a, &buf, len, &err), 0, "%s",
                 err.msg);
    hush_wordvec_free(src);
    return buf;
}

static hush_wordvec *read_table(const uint8_t *buf, size_t len)
{
    hush_wordvec *w = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_wordvec_read(buf, len, &w, &err), 0, "%s", err.msg);
    return w;
}

static void sif_desc(const hush_wordvec *w, char *desc, size_t cap)
{
    char sum[17];
    hush_wordvec_checksum(w, sum);
    snprintf(desc, cap,
             "{\"kind\":\"sif\",\"version\":1,\"dim\":%u,\"table\":{\"words\":%zu,"
             "\"checksum\":\"%s\"},\"fallback\":{\"seed\":5,\"char_ngrams\":[3,5]}}",
             hush_wordvec_dim(w), hush_wordvec_words(w), sum);
}

static hush_embedder *sif_embedder(const hush_wordvec *w)
{
    char desc[512];
    sif_desc(w, desc, sizeof desc);
    hush_embedder *e = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_embedder_new(desc, strlen(desc), NULL, 0, w, &e, &err), 0, "%s",
                 err.msg);
    return e;
}

Test(sif, weights_and_scales_follow_their_formulas)
{
    size_t len;
    uint8_t *buf = build(100, 10, 0.01, &len);
    hush_wordvec *w = read_table(buf, len);
    cr_assert_eq(hush_wordvec_words(w), 6);
    cr_assert(hush_wordvec_is_sif(w));
    /* a/(a + p(r)), p(r) = 1/(r H_10), H_10 = 7381/2520 (values by hand) */
    cr_assert_float_eq(w->weight[0], 0.028456209205762948, 1e-7);
    cr_assert_float_eq(w->weight[1], 0.055337716766256054, 1e-7);
    cr_assert_float_eq(w->weight[5], 0.14947044409793242, 1e-7);
    cr_assert_float_eq(w->unk_weight, 0.22654307725361403, 1e-7, "the rank-V weight");
    /* int8 with scale max|x|/127: "fish" is (0 0 3 0) exactly */
    size_t fish = hush__wordvec_find(w, "fish", 4);
    cr_assert_float_eq(w->scale[fish], 3.0f / 127.0f, 1e-9);
    cr_assert_eq(w->q[fish * 4 + 2], 127);
    cr_assert_eq(w->q[fish * 4 + 0], 0);
    /* the common component: the unit vector along sum_r p(r) a/(a+p(r)) v_r
     * (recomputed here from the dequantized rows) */
    double c[4] = {0}, h = 7381.0 / 2520.0, norm = 0;
    for (size_t r = 0; r < 6; r++) {
        double p = 1.0 / ((double)(r + 1) * h), alpha = 0.01 / (0.01 + p);
        for (int d = 0; d < 4; d++) {
            c[d] += p * alpha * (double)w->scale[r] * w->q[r * 4 + d];
        }
    }
    for (int d = 0; d < 4; d++) {
        norm += c[d] * c[d];
    }
    for (int d = 0; d < 4; d++) {
        cr_assert_float_eq(w->common[d], c[d] / sqrt(norm), 1e-6);
    }
    /* max_words keeps the most frequent words; vocab 0 = the table's size */
    size_t len3;
    uint8_t *b3 = build(3, 0, 0.01, &len3);
    hush_wordvec *w3 = read_table(b3, len3);
    cr_assert_eq(hush_wordvec_words(w3), 3);
    cr_assert_eq(hush_wordvec_lookup(w3, "fish", 4), -1);
    cr_assert_eq(w3->vocab, 6u);
    hush_wordvec_free(w3);
    hush_free(b3);
    hush_wordvec_free(w);
    hush_free(buf);
}

Test(sif, embedding_is_the_weighted_sum_without_the_common_component)
{
    size_t len;
    uint8_t *buf = build(100, 10, 0.01, &len);
    hush_wordvec *w = read_table(buf, len);
    hush_embedder *e = sif_embedder(w);
    cr_assert_eq(hush_embedder_dim(e), 4);
    /* "Cat, cat and the dog!" by hand: 2 a_cat v_cat + a_the v_the +
     * a_dog v_dog + (unknown "and"), here without the unknown word */
    const char *text = "Cat, cat the DOG";
    double v[4] = {0}, proj = 0, norm = 0;
    const char *words[] = {"cat", "cat", "the", "dog"};
    for (int i = 0; i < 4; i++) {
        size_t r = hush__wordvec_find(w, words[i], strlen(words[i]));
        for (int d = 0; d < 4; d++) {
            v[d] += (double)w->weight[r] * ((double)w->scale[r] * w->q[r * 4 + d]);
        }
    }
    for (int d = 0; d < 4; d++) {
        proj += v[d] * w->common[d];
    }
    for (int d = 0; d < 4; d++) {
        v[d] -= proj * w->common[d];
        norm += v[d] * v[d];
    }
    float out[4];
    hush_err err = {0};
    cr_assert_eq(hush_embed_text(e, text, strlen(text), out, 4, &err), 0, "%s", err.msg);
    double dot_c = 0;
    for (int d = 0; d < 4; d++) {
        cr_assert_float_eq(out[d], v[d] / sqrt(norm), 1e-6, "coordinate %d", d);
        dot_c += out[d] * w->common[d];
    }
    cr_assert_float_eq(dot_c, 0.0, 1e-6, "orthogonal to the common component");
    /* every occurrence counts: "cat cat" is not "cat" plus "the" */
    float a[4], b[4];
    cr_assert_eq(hush_embed_text(e, "cat the", 7, a, 4, NULL), 0);
    cr_assert_eq(hush_embed_text(e, "cat cat cat the", 15, b, 4, NULL), 0);
    cr_assert(memcmp(a, b, sizeof a) != 0);
    /* unknown words: hashed sub-words, deterministic, not ignored */
    float u1[4], u2[4], u3[4];
    cr_assert_eq(hush_embed_text(e, "cat zyxwv", 9, u1, 4, NULL), 0);
    cr_assert_eq(hush_embed_text(e, "cat zyxwv", 9, u2, 4, NULL), 0);
    cr_assert_eq(hush_embed_text(e, "cat", 3, u3, 4, NULL), 0);
    cr_assert(memcmp(u1, u2, sizeof u1) == 0);
    cr_assert(memcmp(u1, u3, sizeof u1) != 0);
    /* nothing to embed */
    cr_assert_eq(hush_embed_text(e, "?!", 2, u1, 4, NULL), HUSH_EINVAL);
    hush_embedder_free(e);
    hush_wordvec_free(w); /* the embedder held its own reference: still fine */
    hush_free(buf);
}

Test(sif, the_embedder_outlives_the_callers_table)
{
    size_t len;
    uint8_t *buf = build(100, 10, 0.01, &len);
    hush_wordvec *w = read_table(buf, len);
    hush_embedder *e = sif_embedder(w);
    float before[4], after[4];
    cr_assert_eq(hush_embed_text(e, "cat and dog", 11, before, 4, NULL), 0);
    hush_wordvec_free(w);
    cr_assert_eq(hush_embed_text(e, "cat and dog", 11, after, 4, NULL), 0);
    cr_assert(memcmp(before, after, sizeof before) == 0);
    hush_embedder_free(e);
    hush_free(buf);
}

static uint8_t *find(uint8_t *buf, size_t len, const char *needle, size_t n)
{
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(buf + i, needle, n) == 0) {
            return buf + i;
        }
    }
    return NULL;
}

/* Rewrites the trailing checksum after an edit. */
static void reseal(uint8_t *buf, size_t len)
{
    hush_store_le64(buf + len - 8, XXH3_64bits(buf, len - 8));
}

Test(sif, damaged_tables_are_refused)
{
    size_t len;
    uint8_t *buf = build(100, 10, 0.01, &len);
    uint8_t *c = malloc(len);
    hush_wordvec *w = NULL;
    hush_err err = {0};
    /* a flipped bit anywhere */
    for (size_t i = 0; i < len; i += 7) {
        memcpy(c, buf, len);
        c[i] ^= 0x10;
        cr_assert_neq(hush_wordvec_read(c, len, &w, &err), 0, "byte %zu", i);
    }
    /* truncated */
    for (size_t l = 0; l < len; l += 5) {
        cr_assert_neq(hush_wordvec_read(buf, l, &w, &err), 0, "length %zu", l);
    }
    /* a later version, sealed */
    memcpy(c, buf, len);
    hush_store_le32(c + 8, 2);
    reseal(c, len);
    cr_assert_eq(hush_wordvec_read(c, len, &w, &err), HUSH_EVERSION);
    /* a word that is not normalized ("Cat"), sealed */
    memcpy(c, buf, len);
    uint8_t *cat = find(c, len,
                        "\x03"
                        "cat",
                        4);
    cr_assert_not_null(cat);
    cat[1] = 'C';
    reseal(c, len);
    hush_err_clear(&err);
    cr_assert_eq(hush_wordvec_read(c, len, &w, &err), HUSH_ECORRUPT);
    cr_assert(strstr(err.msg, "normalized") != NULL, "%s", err.msg);
    /* a repeated word ("cat" -> "dog"), sealed */
    memcpy(c, buf, len);
    cat = find(c, len,
               "\x03"
               "cat",
               4);
    memcpy(cat + 1, "dog", 3);
    reseal(c, len);
    hush_err_clear(&err);
    cr_assert_eq(hush_wordvec_read(c, len, &w, &err), HUSH_ECORRUPT);
    cr_assert(strstr(err.msg, "repeats") != NULL, "%s", err.msg);
    /* a weight out of (0, 1], sealed */
    memcpy(c, buf, len);
    float bad = 2.0f;
    memcpy(c + 48 + 16, &bad, 4);
    reseal(c, len);
    cr_assert_eq(hush_wordvec_read(c, len, &w, &err), HUSH_ECORRUPT);
    /* and the original still reads */
    cr_assert_eq(hush_wordvec_read(buf, len, &w, &err), 0);
    hush_wordvec_free(w);
    free(c);
    hush_free(buf);
}

Test(sif, descriptions_name_the_table)
{
    size_t len;
    uint8_t *buf = build(100, 10, 0.01, &len), *other_buf;
    size_t other_len;
    other_buf = build(5, 10, 0.01, &other_len);
    hush_wordvec *w = read_table(buf, len), *other = read_table(other_buf, other_len);
    hush_wordvec *text = NULL;
    cr_assert_eq(hush_wordvec_parse(ordered, strlen(ordered), &text, NULL), 0);
    char desc[512];
    sif_desc(w, desc, sizeof desc);
    hush_embedder *e = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_embedder_new(desc, strlen(desc), NULL, 0, NULL, &e, &err),
                 HUSH_EINVAL);
    cr_assert(strstr(err.msg, "--word-vectors") != NULL, "%s", err.msg);
    cr_assert_eq(hush_embedder_new(desc, strlen(desc), NULL, 0, other, &e, &err),
                 HUSH_EMISMATCH);
    cr_assert_eq(hush_embedder_new(desc, strlen(desc), NULL, 0, text, &e, &err),
                 HUSH_EMISMATCH, "a text table is not a SIF table");
    /* the form alone, without the table: canonical and dimension */
    char *canon = NULL;
    uint32_t dim = 0;
    cr_assert_eq(hush_embedder_canonical(desc, strlen(desc), &canon, &dim, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(dim, 4);
    hush_embedder *full = sif_embedder(w);
    char *described = NULL;
    cr_assert_eq(hush_embedder_describe(full, &described, NULL), 0);
    cr_assert_str_eq(canon, described);
    cr_assert_str_eq(canon, desc, "the canonical form is the one written here");
    /* a field the kind does not have */
    const char *bad = "{\"kind\":\"sif\",\"version\":1,\"dim\":4,\"table\":{\"words\":6,"
                      "\"checksum\":\"0000000000000000\"},\"fallback\":{\"seed\":5,"
                      "\"char_ngrams\":[3,5]},\"sublinear_tf\":true}";
    cr_assert_eq(hush_embedder_canonical(bad, strlen(bad), &canon, &dim, &err),
                 HUSH_EINVAL);
    hush_free(canon);
    hush_free(described);
    hush_embedder_free(full);
    hush_wordvec_free(text);
    hush_wordvec_free(other);
    hush_wordvec_free(w);
    hush_free(other_buf);
    hush_free(buf);
}

Test(sif, neighbours_are_the_most_similar_words)
{
    size_t len;
    uint8_t *buf = build(100, 10, 0.01, &len);
    hush_wordvec *w = read_table(buf, len);
    long cat = hush_wordvec_lookup(w, "cat", 3);
    cr_assert_geq(cat, 0);
    uint32_t nb[3];
    size_t n = 0;
    cr_assert_eq(hush_wordvec_neighbours(w, (size_t)cat, 0, 100, 3, nb, &n, NULL), 0);
    cr_assert_eq(n, 3);
    /* by hand: kitten 0.998, dog 0.994, the 0.606 (fish 0, car < 0) */
    cr_assert_str_eq(hush_wordvec_word(w, nb[0]), "kitten");
    cr_assert_str_eq(hush_wordvec_word(w, nb[1]), "dog");
    cr_assert_str_eq(hush_wordvec_word(w, nb[2]), "the");
    /* a window of ranks: from row 3 on, the best is kitten */
    cr_assert_eq(hush_wordvec_neighbours(w, (size_t)cat, 3, 100, 1, nb, &n, NULL), 0);
    cr_assert_str_eq(hush_wordvec_word(w, nb[0]), "kitten");
    cr_assert_eq(hush_wordvec_neighbours(w, 99, 0, 100, 1, nb, &n, NULL), HUSH_ERANGE);
    hush_wordvec_free(w);
    hush_free(buf);
}

Test(sif, load_reads_either_format)
{
    size_t len;
    uint8_t *buf = build(100, 10, 0.01, &len);
    char path[] = "/tmp/hush-sif-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, buf, len), (ssize_t)len);
    close(fd);
    hush_wordvec *w = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_wordvec_load(path, &w, &err), 0, "%s", err.msg);
    cr_assert(hush_wordvec_is_sif(w));
    hush_wordvec_free(w);
    FILE *f = fopen(path, "w");
    fputs(ordered, f);
    fclose(f);
    cr_assert_eq(hush_wordvec_load(path, &w, &err), 0, "%s", err.msg);
    cr_assert(!hush_wordvec_is_sif(w));
    hush_wordvec_free(w);
    unlink(path);
    cr_assert_eq(hush_wordvec_load(path, &w, &err), HUSH_EIO);
    hush_free(buf);
}

Test(sif, the_common_component_can_be_fitted_on_a_corpus)
{
    size_t len;
    uint8_t *buf = build(100, 10, 0.01, &len);
    hush_wordvec *w = read_table(buf, len);
    /* a corpus whose every text is along "fish" (0 0 3 0): the component
     * is e3 */
    const char *fishy[] = {"fish", "Fish, fish!", "fish zzyzx"};
    size_t lens[] = {4, 11, 10};
    uint8_t *out = NULL;
    size_t out_len = 0;
    hush_err err = {0};
    cr_assert_eq(hush_sif_table_recommon(buf, len, fishy, lens, 3, &out, &out_len, &err),
                 0, "%s", err.msg);
    hush_wordvec *f = read_table(out, out_len);
    cr_assert_float_eq(fabsf(f->common[2]), 1.0f, 1e-6);
    cr_assert_float_eq(f->common[0], 0.0f, 1e-6);
    char a[17], b[17];
    hush_wordvec_checksum(w, a);
    hush_wordvec_checksum(f, b);
    cr_assert_str_neq(a, b, "a new table, named by a new checksum");
    cr_assert(memcmp(buf + 48 + 16, out + 48 + 16, len - 48 - 16 - 8) == 0,
              "words, weights and vectors unchanged");
    /* two texts, "cat" and "car" (unit u and v, cos(u, v) < 0): the second
     * moment (uu' + vv')/2 has its top eigenvector along u - v */
    const char *two[] = {"cat", "car"};
    size_t two_lens[] = {3, 3};
    hush_free(out);
    cr_assert_eq(
        hush_sif_table_recommon(buf, len, two, two_lens, 2, &out, &out_len, &err), 0);
    hush_wordvec *t = read_table(out, out_len);
    double u[4], v[4], d[4], nu = 0, nv = 0, nd = 0, dot = 0;
    size_t cat = hush__wordvec_find(w, "cat", 3), car = hush__wordvec_find(w, "car", 3);
    for (int k = 0; k < 4; k++) {
        u[k] = (double)w->scale[cat] * w->q[cat * 4 + k];
        v[k] = (double)w->scale[car] * w->q[car * 4 + k];
        nu += u[k] * u[k];
        nv += v[k] * v[k];
    }
    for (int k = 0; k < 4; k++) {
        d[k] = u[k] / sqrt(nu) - v[k] / sqrt(nv);
        nd += d[k] * d[k];
    }
    for (int k = 0; k < 4; k++) {
        dot += d[k] / sqrt(nd) * t->common[k];
    }
    cr_assert_float_eq(fabs(dot), 1.0, 1e-6, "along u - v");
    /* embedding with the new table is orthogonal to its component */
    hush_embedder *e = sif_embedder(t);
    float x[4];
    cr_assert_eq(hush_embed_text(e, "cat dog kitten", 14, x, 4, NULL), 0);
    double xc = 0;
    for (int k = 0; k < 4; k++) {
        xc += x[k] * t->common[k];
    }
    cr_assert_float_eq(xc, 0.0, 1e-6);
    /* nothing to fit on */
    const char *none[] = {"zzyzx qwv"};
    size_t none_len[] = {9};
    uint8_t *o2 = NULL;
    size_t l2 = 0;
    cr_assert_eq(hush_sif_table_recommon(buf, len, none, none_len, 1, &o2, &l2, &err),
                 HUSH_EINVAL);
    hush_embedder_free(e);
    hush_wordvec_free(t);
    hush_wordvec_free(f);
    hush_wordvec_free(w);
    hush_free(out);
    hush_free(buf);
}

/* Bit-exact vectors (gcc -O2 and clang -O2 on x86-64 agree; the sanitizer
 * build at -O1 checks them again): the table's build and the embedding use
 * only IEEE +, -, *, /, sqrt in a fixed order, so any platform must give
 * these bits, which is what lets a device and the collector agree. */
Test(sif, golden_vectors)
{
    static const struct {
        const char *text;
        uint32_t bits[4];
    } golden[] = {
        {"Cat, cat the DOG", {0x3f23ce47u, 0xbecb3228u, 0xbf2738d9u, 0x3da39edeu}},
        {"kitten and fish", {0x3e3e4d96u, 0xbf5b21f9u, 0x3eee35b0u, 0xbe02afb9u}},
        {"\xc3\x9cn\xc3\xaf"
         "code caf\xc3\xa9 kitten 42",
         {0xbecf6e4du, 0xbed6a0cau, 0x3f4bcccau, 0x3e264b96u}},
    };
    size_t len;
    uint8_t *buf = build(100, 10, 0.01, &len);
    hush_wordvec *w = read_table(buf, len);
    char sum[17];
    hush_wordvec_checksum(w, sum);
    cr_assert_str_eq(sum, "92aaab6332d2b4e4", "the table's bytes");
    hush_embedder *e = sif_embedder(w);
    for (size_t i = 0; i < sizeof golden / sizeof golden[0]; i++) {
        float v[4];
        cr_assert_eq(
            hush_embed_text(e, golden[i].text, strlen(golden[i].text), v, 4, NULL), 0);
        for (int d = 0; d < 4; d++) {
            uint32_t bits;
            memcpy(&bits, &v[d], 4);
            cr_assert_eq(bits, golden[i].bits[d], "%s [%d]: %08x", golden[i].text, d,
                         bits);
        }
    }
    hush_embedder_free(e);
    hush_wordvec_free(w);
    hush_free(buf);
}
