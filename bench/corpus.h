/*
 * corpus.h - loading data/spamassassin.jsonl (written by scripts/fetch-corpus)
 * for the benchmarks that use real emails.  Header-only: each benchmark is
 * one program.
 */
#ifndef HUSH_BENCH_CORPUS_H
#define HUSH_BENCH_CORPUS_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct corpus {
    size_t n;
    char **text;
    size_t *len;
    char **group;
    int *spam; /* 1 for groups spam-1 and spam-2 */
} corpus;

static inline void corpus_free(corpus *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->text[i]);
        free(c->group[i]);
    }
    free(c->text);
    free(c->len);
    free(c->group);
    free(c->spam);
}

/* Returns 0, or -1 with a message on stderr. */
static inline int corpus_load(const char *path, corpus *c)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "%s is missing: run scripts/fetch-corpus first\n", path);
        return -1;
    }
    size_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    while ((got = getline(&line, &lcap, f)) > 0) {
        json_t *o = json_loadb(line, (size_t)got, 0, NULL);
        const char *text = json_string_value(json_object_get(o, "text"));
        const char *group = json_string_value(json_object_get(o, "group"));
        if (text == NULL || group == NULL) {
            json_decref(o);
            continue;
        }
        if (c->n == cap) {
            cap = cap ? cap * 2 : 1024;
            c->text = realloc(c->text, cap * sizeof *c->text);
            c->len = realloc(c->len, cap * sizeof *c->len);
            c->group = realloc(c->group, cap * sizeof *c->group);
            c->spam = realloc(c->spam, cap * sizeof *c->spam);
            if (c->text == NULL || c->len == NULL || c->group == NULL ||
                c->spam == NULL) {
                fprintf(stderr, "out of memory loading %s\n", path);
                exit(1);
            }
        }
        c->len[c->n] = json_string_length(json_object_get(o, "text"));
        c->text[c->n] = malloc(c->len[c->n] + 1);
        memcpy(c->text[c->n], text, c->len[c->n] + 1);
        c->group[c->n] = strdup(group);
        c->spam[c->n] = strncmp(group, "spam", 4) == 0;
        c->n++;
        json_decref(o);
    }
    free(line);
    fclose(f);
    return c->n > 0 ? 0 : -1;
}

#endif
