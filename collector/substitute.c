/*
 * substitute.c - sideways word substitution for the retrieval generator:
 * about `share` of a text's content words are replaced, each by one of its
 * nearest neighbours in the word-vector table ("tennis" -> "golf",
 * "mortgage" -> "loans"), so that a retrieved public text moves a little
 * towards what the votes favour without turning into a remix.
 *
 * Which words: runs of ASCII letters standing alone (between whitespace and
 * ordinary punctuation, not inside a URL, an address, a number or a
 * contraction) whose lower-case form is in the table at frequency rank
 * >= HUSH__SUB_FIRST (the most frequent words -- articles, pronouns,
 * auxiliaries -- are left alone).  The replacement is one of the
 * HUSH__SUB_K most similar words (cosine) of rank in [HUSH__SUB_FIRST,
 * HUSH__SUB_LIMIT) that are ASCII letters only, uniformly, written in the
 * original's case pattern (lower, Capitalized or UPPER).
 *
 * Invariant: the whitespace of the text is untouched and a word is
 * replaced by one word, so the word count is kept.
 */
#include <ctype.h>
#include <string.h>

#include "domain.h"

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A word may be replaced only when it stands alone: after the start, a
 * space or an opening bracket/quote; before the end, a space, a closing
 * bracket/quote, or , ; : ! ? . followed by a space or the end. */
static bool stands_alone(const char *t, size_t len, size_t start, size_t end)
{
    if (start > 0) {
        char b = t[start - 1];
        if (!(isspace((unsigned char)b) || b == '(' || b == '"' || b == '[' ||
              b == '<')) {
            return false;
        }
    }
    if (end < len) {
        char a = t[end];
        if (isspace((unsigned char)a) || a == ')' || a == '"' || a == ']' || a == '>') {
            return true;
        }
        if (a == ',' || a == ';' || a == ':' || a == '!' || a == '?' || a == '.') {
            return end + 1 == len || isspace((unsigned char)t[end + 1]);
        }
        return false;
    }
    return true;
}

void hush__subst_cache_free(hush__subst_cache *c)
{
    if (c != NULL) {
        hush_free(c->lists);
        hush_free(c->count);
    }
}

int hush__subst_cache_init(hush__subst_cache *c, const hush_wordvec *w)
{
    size_t n = hush_wordvec_words(w);
    c->w = w;
    c->lists = hush_malloc(n * HUSH__SUB_K * sizeof *c->lists);
    c->count = hush_malloc(n);
    if (c->lists == NULL || c->count == NULL) {
        hush__subst_cache_free(c);
        return HUSH_ENOMEM;
    }
    memset(c->count, 0xff, n); /* not computed yet */
    return 0;
}

static bool all_alpha(const char *s)
{
    if (*s == '\0') {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (!is_alpha(*s)) {
            return false;
        }
    }
    return true;
}

/* The usable neighbours of row r (computed once per cache). */
static int neighbours(hush__subst_cache *c, size_t r, const uint32_t **out, size_t *n,
                      hush_err *err)
{
    if (c->count[r] == 0xff) {
        uint32_t cand[4 * HUSH__SUB_K];
        size_t got = 0, kept = 0;
        int rc = hush_wordvec_neighbours(c->w, r, HUSH__SUB_FIRST, HUSH__SUB_LIMIT,
                                         4 * HUSH__SUB_K, cand, &got, err);
        if (rc != 0) {
            return rc;
        }
        for (size_t i = 0; i < got && kept < HUSH__SUB_K; i++) {
            if (all_alpha(hush_wordvec_word(c->w, cand[i]))) {
                c->lists[r * HUSH__SUB_K + kept++] = cand[i];
            }
        }
        c->count[r] = (uint8_t)kept;
    }
    *out = c->lists + r * HUSH__SUB_K;
    *n = c->count[r];
    return 0;
}

int hush__substitute(const char *text, double share, hush__subst_cache *c, hush_rng *rng,
                     char **out, size_t *n_changed, hush_err *err)
{
    size_t len = strlen(text);
    /* a replacement may be longer than the word: the buffer grows */
    hush__buf res;
    hush__buf_init(&res, SIZE_MAX - 1);
    (void)hush__buf_reserve(&res, len + 64);
    *n_changed = 0;
    for (size_t i = 0; i < len;) {
        const char *piece = text + i;
        size_t plen = 1;
        char word[64];
        if (is_alpha(text[i]) && (i == 0 || !is_alpha(text[i - 1]))) {
            size_t j = i;
            while (j < len && is_alpha(text[j])) {
                j++;
            }
            plen = j - i;
            if (plen < sizeof word && stands_alone(text, len, i, j) && share > 0.0) {
                for (size_t k = 0; k < plen; k++) {
                    word[k] = (char)tolower((unsigned char)text[i + k]);
                }
                word[plen] = '\0';
                long r = hush_wordvec_lookup(c->w, word, plen);
                /* the coin is drawn for every content word in the table,
                 * whether it has neighbours or not: the share holds */
                if (r >= HUSH__SUB_FIRST && hush_rng_unit(rng) < share) {
                    const uint32_t *nb;
                    size_t nn;
                    int rc = neighbours(c, (size_t)r, &nb, &nn, err);
                    if (rc != 0) {
                        hush__buf_free(&res);
                        return rc;
                    }
                    if (nn > 0) {
                        const char *rep =
                            hush_wordvec_word(c->w, nb[hush_rng_uniform(rng, nn)]);
                        size_t rlen = strlen(rep);
                        bool upper = plen > 1 && isupper((unsigned char)text[i]) &&
                                     isupper((unsigned char)text[i + 1]);
                        bool cap1 = isupper((unsigned char)text[i]);
                        for (size_t k = 0; k < rlen && k < sizeof word - 1; k++) {
                            char ch = rep[k];
                            word[k] = (char)(upper || (cap1 && k == 0)
                                                 ? toupper((unsigned char)ch)
                                                 : ch);
                        }
                        rlen = rlen < sizeof word - 1 ? rlen : sizeof word - 1;
                        piece = word;
                        i += plen;
                        plen = rlen;
                        (*n_changed)++;
                        goto emit;
                    }
                }
            }
        }
        i += plen;
    emit:
        (void)hush__buf_add(&res, piece, plen);
    }
    *out = hush__buf_take(&res, NULL);
    return *out != NULL
               ? 0
               : hush_err_set(err, HUSH_ENOMEM, "out of memory substituting words");
}
