/*
 * llm_answer.h - reading a chat-completions answer (hush-generate-llm): the
 * one place outside data from a language-model server is parsed, so that a
 * fuzz target (tests/fuzz/fuzz_llm_answer.c) can reach it.
 */
#ifndef HUSH_LLM_ANSWER_H
#define HUSH_LLM_ANSWER_H

#include <stddef.h>

#define HUSH_LLM_TEXT_MAX 4096u

/* Words separated by white space. */
size_t hush_llm_words(const char *s);

/*
 * The text of an OpenAI-compatible chat-completions answer of `len` bytes:
 * choices[0].message.content, trimmed of surrounding white space and
 * quotes, 1 to HUSH_LLM_TEXT_MAX bytes, with a word count within
 * [min_ratio, max_ratio] times parent_words (plus one).  Returns 0 and *text
 * (new, free), or -1 with a reason in why (capacity why_cap).
 */
int hush_llm_answer_text(const char *body, size_t len, size_t parent_words,
                         double min_ratio, double max_ratio, char **text, char *why,
                         size_t why_cap);

#endif
