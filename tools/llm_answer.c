/*
 * llm_answer.c - see llm_answer.h.  Strict about shape, lenient about the
 * white space and quotes models put around a text.
 */
#include "llm_answer.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t hush_llm_words(const char *s)
{
    size_t w = 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        bool space = s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r';
        bool prev = i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t' || s[i - 1] == '\n' ||
                    s[i - 1] == '\r';
        w += !space && prev;
    }
    return w;
}

int hush_llm_answer_text(const char *body, size_t len, size_t parent_words,
                         double min_ratio, double max_ratio, char **text, char *why,
                         size_t why_cap)
{
    *text = NULL;
    json_t *doc = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
    if (doc == NULL) {
        snprintf(why, why_cap, "the answer is not JSON");
        return -1;
    }
    json_t *msg =
        json_object_get(json_array_get(json_object_get(doc, "choices"), 0), "message");
    const char *content = json_string_value(json_object_get(msg, "content"));
    size_t n = content != NULL ? json_string_length(json_object_get(msg, "content")) : 0;
    int rc = -1;
    size_t a = 0;
    while (a < n && strchr(" \t\r\n\"", content[a]) != NULL && content[a] != '\0') {
        a++;
    }
    while (n > a && strchr(" \t\r\n\"", content[n - 1]) != NULL &&
           content[n - 1] != '\0') {
        n--;
    }
    if (content == NULL) {
        snprintf(why, why_cap, "no choices[0].message.content string in the answer");
    } else if (n == a) {
        snprintf(why, why_cap, "an empty text");
    } else if (n - a > HUSH_LLM_TEXT_MAX) {
        snprintf(why, why_cap, "a text of %zu bytes (at most %u)", n - a,
                 HUSH_LLM_TEXT_MAX);
    } else if (memchr(content + a, '\0', n - a) != NULL) {
        snprintf(why, why_cap, "a text with a NUL byte");
    } else {
        char *t = malloc(n - a + 1);
        if (t == NULL) {
            snprintf(why, why_cap, "out of memory");
        } else {
            memcpy(t, content + a, n - a);
            t[n - a] = '\0';
            double words = (double)hush_llm_words(t), pw = (double)parent_words;
            if (words < min_ratio * pw || words > max_ratio * pw + 1) {
                snprintf(why, why_cap,
                         "a text of %.0f words for a parent of %.0f (bounds %.2f to %.2f "
                         "times)",
                         words, pw, min_ratio, max_ratio);
                free(t);
            } else {
                *text = t;
                rc = 0;
            }
        }
    }
    json_decref(doc);
    return rc;
}
