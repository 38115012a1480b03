/*
 * fuzz_llm_answer.c - libFuzzer target for the chat-completions answers
 * hush-generate-llm reads from a language-model server (outside data).
 * Properties: no crash, no leak; an accepted text is 1 to
 * HUSH_LLM_TEXT_MAX bytes, has no NUL, does not start or end with the
 * trimmed characters, and its word count is within the bounds asked for.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llm_answer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the first byte picks the parent's word count */
    size_t parent = size > 0 ? data[0] % 64 : 10;
    const char *body = size > 0 ? (const char *)data + 1 : "";
    size_t len = size > 0 ? size - 1 : 0;
    char *text = NULL, why[256];
    if (hush_llm_answer_text(body, len, parent, 0.5, 1.5, &text, why, sizeof why) == 0) {
        size_t n = strlen(text), w = hush_llm_words(text);
        if (n == 0 || n > HUSH_LLM_TEXT_MAX || strchr(" \t\r\n\"", text[0]) != NULL ||
            strchr(" \t\r\n\"", text[n - 1]) != NULL ||
            (double)w < 0.5 * (double)parent || (double)w > 1.5 * (double)parent + 1) {
            abort();
        }
        free(text);
    } else if (text != NULL) {
        abort();
    }
    return 0;
}
