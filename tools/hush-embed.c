/*
 * hush-embed - the embedding tool.
 *
 *   hush-embed describe [--dim N] [--seed S]
 *       print the default embedder's description (JSON)
 *   hush-embed encode [--model DESC.json] [--idf MODEL] [--vectors TABLE.txt]
 *                     [--dim N] [--seed S] [--int8] INPUT.jsonl OUTPUT.mat
 *       embed every {"text": ...} line of INPUT into a matrix file
 *   hush-embed nearest --candidates C.mat --queries Q.mat [--k K]
 *                      [--threshold T] [--texts C.jsonl]
 *       for each query, one JSON line with its nearest candidates
 *   hush-embed idf --model DESC.json --out MODEL [--min-df N] CORPUS.jsonl
 *       build an IDF model from a public corpus; prints the description that
 *       names it
 *   hush-embed sif-table --out TABLE [--words N] [--vocab V] [--a A] VECTORS.txt
 *       build a SIF table (int8 word vectors with SIF weights and the common
 *       component) from a text table in frequency order; prints the
 *       description of a "sif" embedder that names it
 *   hush-embed sif-common --table TABLE --out NEW CORPUS.jsonl
 *       a copy of a SIF table whose common component is fitted on a public
 *       corpus (the first principal component of its texts); prints the
 *       description naming the new table
 *   hush-embed email [FILE ...]
 *       print the embeddable text of raw RFC 822 messages (stdin if none)
 *   hush-embed corpus [--raw] DIR
 *       JSONL {"id","group","text"} of the SpamAssassin package's JSON files
 *       under DIR/<group>/, with the email helper applied (--raw: the whole
 *       message, headers included)
 *
 * Exit status: 0 success, 1 failure (message on stderr), 2 usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hush_embed.h"

static void usage(FILE *f)
{
    fputs(
        "usage: hush-embed describe [--dim N] [--seed S]\n"
        "       hush-embed encode [--model DESC.json] [--idf MODEL] [--vectors TABLE]\n"
        "                         [--dim N] [--seed S] [--int8] INPUT.jsonl OUTPUT.mat\n"
        "       hush-embed nearest --candidates C.mat --queries Q.mat [--k K]\n"
        "                          [--threshold T] [--texts C.jsonl]\n"
        "       hush-embed idf --model DESC.json --out MODEL [--min-df N] CORPUS.jsonl\n"
        "       hush-embed sif-table --out TABLE [--words N] [--vocab V] [--a A]\n"
        "                            VECTORS.txt\n"
        "       hush-embed sif-common --table TABLE --out NEW CORPUS.jsonl\n"
        "       hush-embed email [FILE ...]\n"
        "       hush-embed corpus [--raw] DIR\n",
        f);
}

static int fail(const char *what, const hush_err *err)
{
    fprintf(stderr, "hush-embed: %s: %s\n", what, err->msg);
    return 1;
}

/* Reads a whole file (or stdin for "-") into a new buffer (free). */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "hush-embed: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) {
            break;
        }
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (nb == NULL) {
            free(buf);
            buf = NULL;
        } else {
            buf = nb;
        }
    }
    if (f != stdin) {
        fclose(f);
    }
    if (buf == NULL) {
        fprintf(stderr, "hush-embed: out of memory reading %s\n", path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The "text" of every line of a JSONL file. */
typedef struct texts {
    char **text;
    size_t *len;
    size_t n;
} texts;

static void texts_free(texts *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->text[i]);
    }
    free(t->text);
    free(t->len);
}

static int read_jsonl(const char *path, texts *out)
{
    size_t len;
    char *data = read_file(path, &len);
    if (data == NULL) {
        return 1;
    }
    memset(out, 0, sizeof *out);
    size_t cap = 0, line = 0;
    char *s = data;
    int rc = 0;
    while (*s != '\0') {
        char *nl = strchr(s, '\n');
        size_t llen = nl != NULL ? (size_t)(nl - s) : strlen(s);
        line++;
        if (llen > 0) {
            json_error_t jerr;
            json_t *o = json_loadb(s, llen, JSON_REJECT_DUPLICATES, &jerr);
            json_t *t = json_object_get(o, "text");
            if (!json_is_string(t)) {
                fprintf(stderr,
                        "hush-embed: %s line %zu: need a JSON object with \"text\"%s%s\n",
                        path, line, o == NULL ? ": " : "", o == NULL ? jerr.text : "");
                json_decref(o);
                rc = 1;
                break;
            }
            if (out->n == cap) {
                cap = cap ? cap * 2 : 256;
                char **nt = realloc(out->text, cap * sizeof *nt);
                size_t *nlens =
                    nt != NULL ? realloc(out->len, cap * sizeof *nlens) : NULL;
                if (nt != NULL) {
                    out->text = nt;
                }
                if (nlens == NULL) {
                    json_decref(o);
                    rc = 1;
                    break;
                }
                out->len = nlens;
            }
            size_t tl = json_string_length(t);
            out->text[out->n] = malloc(tl + 1);
            if (out->text[out->n] == NULL) {
                json_decref(o);
                rc = 1;
                break;
            }
            memcpy(out->text[out->n], json_string_value(t), tl + 1);
            out->len[out->n++] = tl;
            json_decref(o);
        }
        s = nl != NULL ? nl + 1 : s + llen;
    }
    free(data);
    if (rc != 0) {
        texts_free(out);
    }
    return rc;
}

struct embed_opts {
    const char *model, *idf, *vectors;
    uint64_t dim, seed;
};

static int make_embedder(const struct embed_opts *o, hush_embedder **e, hush_err *err)
{
    if (o->model == NULL) {
        return hush_embedder_new_default((uint32_t)o->dim, o->seed, e, err);
    }
    size_t dlen = 0, ilen = 0;
    char *desc = read_file(o->model, &dlen);
    char *idf = o->idf != NULL ? read_file(o->idf, &ilen) : NULL;
    hush_wordvec *vectors = NULL;
    int rc;
    if (desc == NULL || (o->idf != NULL && idf == NULL)) {
        rc = hush_err_set(err, HUSH_EIO, "cannot read the model files");
    } else if (o->vectors != NULL &&
               (rc = hush_wordvec_load(o->vectors, &vectors, err)) != 0) {
        /* rc set */
    } else {
        rc = hush_embedder_new(desc, dlen, (const uint8_t *)idf, ilen, vectors, e, err);
    }
    hush_wordvec_free(vectors);
    free(desc);
    free(idf);
    return rc;
}

static bool parse_common(int argc, char **argv, int *i, struct embed_opts *o, int *rc)
{
    hush_err err = {0};
    const char *flag = argv[*i];
    if (*i + 1 >= argc) {
        return false;
    }
    const char *val = argv[*i + 1];
    if (strcmp(flag, "--model") == 0) {
        o->model = val;
    } else if (strcmp(flag, "--idf") == 0) {
        o->idf = val;
    } else if (strcmp(flag, "--vectors") == 0) {
        o->vectors = val;
    } else if (strcmp(flag, "--dim") == 0) {
        *rc = hush_parse_u64(val, HUSH_EMBED_DIM_MIN, HUSH_EMBED_DIM_MAX, "--dim",
                             &o->dim, &err);
    } else if (strcmp(flag, "--seed") == 0) {
        *rc = hush_parse_u64(val, 0, (UINT64_C(1) << 53) - 1, "--seed", &o->seed, &err);
    } else {
        return false;
    }
    if (*rc != 0) {
        fprintf(stderr, "hush-embed: %s\n", err.msg);
        *rc = 2;
    }
    *i += 1;
    return true;
}

static int cmd_describe(int argc, char **argv)
{
    struct embed_opts o = {.dim = 256, .seed = 0};
    for (int i = 0; i < argc; i++) {
        int rc = 0;
        if (!parse_common(argc, argv, &i, &o, &rc)) {
            usage(stderr);
            return 2;
        }
        if (rc != 0) {
            return rc;
        }
    }
    hush_err err = {0};
    hush_embedder *e = NULL;
    char *desc = NULL;
    if (make_embedder(&o, &e, &err) != 0 || hush_embedder_describe(e, &desc, &err) != 0) {
        hush_embedder_free(e);
        return fail("describe", &err);
    }
    puts(desc);
    hush_free(desc);
    hush_embedder_free(e);
    return 0;
}

static int cmd_encode(int argc, char **argv)
{
    struct embed_opts o = {.dim = 256};
    bool int8 = false;
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        int rc = 0;
        if (strcmp(argv[i], "--int8") == 0) {
            int8 = true;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            if (!parse_common(argc, argv, &i, &o, &rc)) {
                usage(stderr);
                return 2;
            }
            if (rc != 0) {
                return rc;
            }
        } else if (npos < 2) {
            pos[npos++] = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (npos != 2) {
        usage(stderr);
        return 2;
    }
    hush_err err = {0};
    hush_embedder *e = NULL;
    if (make_embedder(&o, &e, &err) != 0) {
        return fail("model", &err);
    }
    texts t;
    if (read_jsonl(pos[0], &t) != 0) {
        hush_embedder_free(e);
        return 1;
    }
    uint32_t dim = hush_embedder_dim(e);
    hush_matrix *m = NULL;
    float *v = malloc(dim * sizeof *v);
    int rc = v == NULL ? hush_err_set(&err, HUSH_ENOMEM, "out of memory")
                       : hush_matrix_new(int8 ? HUSH_MATRIX_I8 : HUSH_MATRIX_F32,
                                         (uint32_t)t.n, dim, &m, &err);
    for (size_t i = 0; rc == 0 && i < t.n; i++) {
        hush_err e2 = {0};
        int r = hush_embed_text(e, t.text[i], t.len[i], v, dim, &e2);
        if (r == HUSH_EINVAL) {
            fprintf(stderr, "hush-embed: line %zu: %s (a zero row)\n", i + 1, e2.msg);
        } else if (r != 0) {
            rc = hush_err_set(&err, r, "line %zu: %s", i + 1, e2.msg);
            break;
        }
        rc = hush_matrix_set_row(m, (uint32_t)i, v, dim, &err);
    }
    if (rc == 0) {
        rc = hush_matrix_save(m, pos[1], &err);
    }
    free(v);
    hush_matrix_free(m);
    texts_free(&t);
    hush_embedder_free(e);
    if (rc != 0) {
        return fail("encode", &err);
    }
    fprintf(stderr, "hush-embed: %zu rows of dimension %u written to %s\n", t.n, dim,
            pos[1]);
    return 0;
}

static int cmd_nearest(int argc, char **argv)
{
    const char *cpath = NULL, *qpath = NULL, *tpath = NULL;
    uint64_t k = 5;
    double threshold = -1.0;
    hush_err err = {0};
    for (int i = 0; i + 1 < argc; i += 2) {
        int rc = 0;
        if (strcmp(argv[i], "--candidates") == 0) {
            cpath = argv[i + 1];
        } else if (strcmp(argv[i], "--queries") == 0) {
            qpath = argv[i + 1];
        } else if (strcmp(argv[i], "--texts") == 0) {
            tpath = argv[i + 1];
        } else if (strcmp(argv[i], "--k") == 0) {
            rc = hush_parse_u64(argv[i + 1], 1, 4096, "--k", &k, &err);
        } else if (strcmp(argv[i], "--threshold") == 0) {
            rc = hush_parse_double(argv[i + 1], -1.0, 1.0, "--threshold", &threshold,
                                   &err);
        } else {
            usage(stderr);
            return 2;
        }
        if (rc != 0) {
            fprintf(stderr, "hush-embed: %s\n", err.msg);
            return 2;
        }
    }
    if (cpath == NULL || qpath == NULL || argc % 2 != 0) {
        usage(stderr);
        return 2;
    }
    hush_matrix *c = NULL, *q = NULL;
    texts t = {0};
    hush_match *out = NULL;
    int rc = 0;
    if (hush_matrix_load(cpath, &c, &err) != 0 ||
        hush_matrix_load(qpath, &q, &err) != 0) {
        rc = fail("load", &err);
        goto done;
    }
    if (tpath != NULL && read_jsonl(tpath, &t) != 0) {
        rc = 1;
        goto done;
    }
    out = calloc((size_t)hush_matrix_rows(q) * k + 1, sizeof *out);
    if (out == NULL || hush_nearest(c, q, k, (float)threshold, out,
                                    (size_t)hush_matrix_rows(q) * k, &err) != 0) {
        rc = fail("nearest", &err);
        goto done;
    }
    for (uint32_t i = 0; i < hush_matrix_rows(q); i++) {
        json_t *matches = json_array();
        for (uint64_t j = 0; j < k; j++) {
            hush_match mt = out[i * k + j];
            if (mt.index == HUSH_MATCH_NONE) {
                break;
            }
            json_t *o = json_pack("{s:I, s:f}", "index", (json_int_t)mt.index,
                                  "similarity", (double)mt.similarity);
            if (mt.index < t.n) {
                json_object_set_new(o, "text",
                                    json_stringn(t.text[mt.index], t.len[mt.index]));
            }
            json_array_append_new(matches, o);
        }
        json_t *line =
            json_pack("{s:I, s:o}", "query", (json_int_t)i, "matches", matches);
        char *s = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6));
        if (s != NULL) {
            puts(s);
        }
        free(s);
        json_decref(line);
    }
done:
    free(out);
    texts_free(&t);
    hush_matrix_free(c);
    hush_matrix_free(q);
    return rc;
}

static int cmd_idf(int argc, char **argv)
{
    const char *model = NULL, *outp = NULL, *corpus = NULL;
    uint64_t min_df = 2;
    hush_err err = {0};
    for (int i = 0; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--model") == 0) {
            model = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--out") == 0) {
            outp = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--min-df") == 0) {
            if (hush_parse_u64(argv[++i], 1, 1u << 30, "--min-df", &min_df, &err) != 0) {
                fprintf(stderr, "hush-embed: %s\n", err.msg);
                return 2;
            }
        } else if (corpus == NULL) {
            corpus = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (model == NULL || outp == NULL || corpus == NULL) {
        usage(stderr);
        return 2;
    }
    size_t dlen;
    char *desc = read_file(model, &dlen);
    texts t;
    if (desc == NULL || read_jsonl(corpus, &t) != 0) {
        free(desc);
        return 1;
    }
    uint8_t *bin = NULL;
    size_t blen = 0;
    int rc = hush_idf_build(desc, dlen, (const char *const *)t.text, t.len, t.n,
                            (uint32_t)min_df, &bin, &blen, &err);
    texts_free(&t);
    if (rc != 0) {
        free(desc);
        return fail("idf", &err);
    }
    FILE *f = fopen(outp, "wb");
    bool ok = f != NULL && fwrite(bin, 1, blen, f) == blen;
    if (f != NULL) {
        ok = fclose(f) == 0 && ok;
    }
    char sum[17];
    hush_idf_checksum(bin, blen, sum);
    hush_free(bin);
    if (!ok) {
        free(desc);
        fprintf(stderr, "hush-embed: cannot write %s\n", outp);
        return 1;
    }
    /* the description with the model named */
    json_t *root = json_loadb(desc, dlen, JSON_REJECT_DUPLICATES, NULL);
    free(desc);
    if (root == NULL) {
        return 1;
    }
    json_object_set_new(root, "idf", json_pack("{s:s}", "checksum", sum));
    char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
    puts(s != NULL ? s : "");
    free(s);
    json_decref(root);
    return 0;
}

/* Prints the description of a "sif" embedder over `table`; 0 or 1. */
static int print_sif_desc(const hush_wordvec *table)
{
    hush_embedder *e = NULL;
    char *desc = NULL;
    hush_err err = {0};
    if (hush_embedder_new_sif(table, 1, &e, &err) != 0 ||
        hush_embedder_describe(e, &desc, &err) != 0) {
        hush_embedder_free(e);
        return fail("sif", &err);
    }
    puts(desc);
    hush_free(desc);
    hush_embedder_free(e);
    return 0;
}

static int cmd_sif_table(int argc, char **argv)
{
    const char *outp = NULL, *input = NULL;
    uint64_t words = 50000, vocab = 0;
    double a = 1e-3;
    hush_err err = {0};
    for (int i = 0; i < argc; i++) {
        int bad = 0;
        if (i + 1 < argc && strcmp(argv[i], "--out") == 0) {
            outp = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--words") == 0) {
            bad = hush_parse_u64(argv[++i], 1, 1u << 24, "--words", &words, &err);
        } else if (i + 1 < argc && strcmp(argv[i], "--vocab") == 0) {
            bad =
                hush_parse_u64(argv[++i], 0, UINT64_C(1) << 40, "--vocab", &vocab, &err);
        } else if (i + 1 < argc && strcmp(argv[i], "--a") == 0) {
            bad = hush_parse_double(argv[++i], 1e-9, 0.999, "--a", &a, &err);
        } else if (input == NULL) {
            input = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
        if (bad != 0) {
            fprintf(stderr, "hush-embed: %s\n", err.msg);
            return 2;
        }
    }
    if (outp == NULL || input == NULL) {
        usage(stderr);
        return 2;
    }
    hush_wordvec *src = NULL, *table = NULL;
    uint8_t *bin = NULL;
    size_t blen = 0;
    if (hush_wordvec_load(input, &src, &err) != 0 ||
        hush_sif_table_build(src, (size_t)words, vocab, a, &bin, &blen, &err) != 0 ||
        hush_wordvec_read(bin, blen, &table, &err) != 0) {
        hush_wordvec_free(src);
        hush_free(bin);
        return fail("sif-table", &err);
    }
    hush_wordvec_free(src);
    FILE *f = fopen(outp, "wb");
    bool ok = f != NULL && fwrite(bin, 1, blen, f) == blen;
    if (f != NULL) {
        ok = fclose(f) == 0 && ok;
    }
    hush_free(bin);
    if (!ok) {
        hush_wordvec_free(table);
        fprintf(stderr, "hush-embed: cannot write %s\n", outp);
        return 1;
    }
    int prc = print_sif_desc(table);
    hush_wordvec_free(table);
    return prc;
}

static int cmd_sif_common(int argc, char **argv)
{
    const char *table = NULL, *outp = NULL, *corpus = NULL;
    for (int i = 0; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--table") == 0) {
            table = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--out") == 0) {
            outp = argv[++i];
        } else if (corpus == NULL) {
            corpus = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (table == NULL || outp == NULL || corpus == NULL) {
        usage(stderr);
        return 2;
    }
    size_t tlen = 0;
    char *tbuf = read_file(table, &tlen);
    texts t;
    if (tbuf == NULL || read_jsonl(corpus, &t) != 0) {
        free(tbuf);
        return 1;
    }
    hush_err err = {0};
    uint8_t *bin = NULL;
    size_t blen = 0;
    hush_wordvec *w = NULL;
    int rc =
        hush_sif_table_recommon((const uint8_t *)tbuf, tlen, (const char *const *)t.text,
                                t.len, t.n, &bin, &blen, &err);
    texts_free(&t);
    free(tbuf);
    if (rc != 0 || hush_wordvec_read(bin, blen, &w, &err) != 0) {
        hush_free(bin);
        return fail("sif-common", &err);
    }
    FILE *f = fopen(outp, "wb");
    bool ok = f != NULL && fwrite(bin, 1, blen, f) == blen;
    if (f != NULL) {
        ok = fclose(f) == 0 && ok;
    }
    hush_free(bin);
    if (!ok) {
        hush_wordvec_free(w);
        fprintf(stderr, "hush-embed: cannot write %s\n", outp);
        return 1;
    }
    int prc = print_sif_desc(w);
    hush_wordvec_free(w);
    return prc;
}

static int print_email(const char *data, size_t len)
{
    char *text = NULL;
    size_t tlen = 0;
    hush_err err = {0};
    if (hush_email_to_text(data, len, &text, &tlen, &err) != 0) {
        return fail("email", &err);
    }
    fwrite(text, 1, tlen, stdout);
    fputc('\n', stdout);
    hush_free(text);
    return 0;
}

static int cmd_email(int argc, char **argv)
{
    int rc = 0;
    for (int i = 0; i < (argc ? argc : 1) && rc == 0; i++) {
        size_t len;
        char *data = read_file(argc ? argv[i] : "-", &len);
        rc = data != NULL ? print_email(data, len) : 1;
        free(data);
    }
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_corpus(int argc, char **argv)
{
    bool raw = argc == 2 && strcmp(argv[0], "--raw") == 0;
    if (raw) {
        argc--;
        argv++;
    }
    if (argc != 1) {
        usage(stderr);
        return 2;
    }
    static const char *const groups[] = {"easy-ham-1", "easy-ham-2", "hard-ham-1",
                                         "spam-1", "spam-2"};
    size_t total = 0;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", argv[0], groups[g]);
        DIR *d = opendir(dir);
        if (d == NULL) {
            fprintf(stderr, "hush-embed: cannot open %s: %s\n", dir, strerror(errno));
            return 1;
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            size_t l = strlen(ent->d_name);
            if (l < 6 || strcmp(ent->d_name + l - 5, ".json") != 0) {
                continue;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                char **nn = realloc(names, cap * sizeof *nn);
                if (nn == NULL) {
                    break;
                }
                names = nn;
            }
            names[n++] = strdup(ent->d_name);
        }
        closedir(d);
        qsort(names, n, sizeof *names, cmp_str);
        for (size_t i = 0; i < n; i++) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            json_error_t jerr;
            json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
            json_t *text = json_object_get(o, "text");
            json_t *id = json_object_get(o, "id");
            if (!json_is_string(text) || !json_is_string(id)) {
                fprintf(stderr, "hush-embed: %s: not a corpus entry (%s)\n", path,
                        jerr.text);
                json_decref(o);
                continue;
            }
            char *body = NULL;
            size_t blen = 0;
            hush_err err = {0};
            int rc =
                raw ? 0
                    : hush_email_to_text(json_string_value(text),
                                         json_string_length(text), &body, &blen, &err);
            if (raw) {
                /* the message as is (already valid UTF-8: it came from JSON) */
                body = hush_strdup(json_string_value(text));
                blen = body != NULL ? strlen(body) : 0;
                rc = body != NULL ? 0 : HUSH_ENOMEM;
            }
            if (rc == 0) {
                json_t *line = json_pack("{s:s, s:s, s:s%}", "id", json_string_value(id),
                                         "group", groups[g], "text", body, blen);
                char *s = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
                if (s != NULL) {
                    puts(s);
                    total++;
                }
                free(s);
                json_decref(line);
                hush_free(body);
            }
            json_decref(o);
        }
        for (size_t i = 0; i < n; i++) {
            free(names[i]);
        }
        free(names);
    }
    fprintf(stderr, "hush-embed: %zu messages\n", total);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("hush-embed %s\n", HUSH_VERSION_STRING);
        return 0;
    }
    if (hush_global_init() != 0) {
        fprintf(stderr, "hush-embed: libsodium failed to initialise\n");
        return 1;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "describe") == 0) {
        return cmd_describe(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "encode") == 0) {
        return cmd_encode(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "nearest") == 0) {
        return cmd_nearest(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "idf") == 0) {
        return cmd_idf(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "sif-common") == 0) {
        return cmd_sif_common(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "sif-table") == 0) {
        return cmd_sif_table(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "email") == 0) {
        return cmd_email(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "corpus") == 0) {
        return cmd_corpus(argc - 2, argv + 2);
    }
    fprintf(stderr, "hush-embed: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return 2;
}
