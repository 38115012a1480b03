/*
 * normalize.c - the one text normalization every embedder applies.
 *
 * Invariants: the decoder never reads past `len`; every invalid UTF-8
 * sequence (bad lead byte, missing continuation, overlong form, surrogate,
 * beyond U+10FFFF) becomes U+FFFD and costs exactly the bytes it spans up to
 * the first that does not fit; the output is valid UTF-8, tokens of letters
 * and digits separated by single spaces.  Case folding and the letter/
 * separator classes are fixed tables in this file, so the result does not
 * depend on the process locale.
 */
#include "embed_internal.h"

uint32_t hush__utf8_decode(const uint8_t *s, size_t len, size_t *used)
{
    uint8_t b0 = s[0];
    if (b0 < 0x80) {
        *used = 1;
        return b0;
    }
    size_t need;
    uint32_t cp, min;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1;
        cp = b0 & 0x1Fu;
        min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2;
        cp = b0 & 0x0Fu;
        min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3;
        cp = b0 & 0x07u;
        min = 0x10000;
    } else {
        *used = 1; /* stray continuation byte, C0/C1 or F5..FF */
        return HUSH_REPLACEMENT;
    }
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= len || (s[i] & 0xC0u) != 0x80u) {
            *used = i; /* truncated: the bytes so far are one bad sequence */
            return HUSH_REPLACEMENT;
        }
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    *used = i;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return HUSH_REPLACEMENT;
    }
    return cp;
}

size_t hush__utf8_encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Lower case for the scripts most email is written in; everything else is
 * returned unchanged. */
static uint32_t fold(uint32_t cp)
{
    if (cp < 0x80) {
        return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    }
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) {
        return cp + 32; /* Latin-1 */
    }
    if (cp >= 0x100 && cp <= 0x17F) { /* Latin Extended-A */
        if (cp == 0x130) {
            return 'i';
        }
        if (cp == 0x178) {
            return 0xFF;
        }
        bool even_upper = (cp <= 0x137) || (cp >= 0x14A && cp <= 0x177);
        bool odd_upper = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
        if ((even_upper && cp % 2 == 0) || (odd_upper && cp % 2 == 1)) {
            return cp + 1;
        }
        return cp;
    }
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) {
        return cp + 32; /* Greek */
    }
    if (cp == 0x386) {
        return 0x3AC;
    }
    if (cp >= 0x388 && cp <= 0x38A) {
        return cp + 37;
    }
    if (cp == 0x38C) {
        return 0x3CC;
    }
    if (cp == 0x38E || cp == 0x38F) {
        return cp + 63;
    }
    if (cp >= 0x410 && cp <= 0x42F) {
        return cp + 32; /* Cyrillic */
    }
    if (cp >= 0x400 && cp <= 0x40F) {
        return cp + 80;
    }
    return cp;
}

/* Letters, digits and combining marks make words; the rest separates. */
bool hush__is_word_cp(uint32_t cp)
{
    if (cp < 0x80) {
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
               (cp >= '0' && cp <= '9');
    }
    if (cp <= 0xBF) {
        return cp == 0xAA || cp == 0xB5 || cp == 0xBA; /* ª µ º */
    }
    if (cp == 0xD7 || cp == 0xF7) {
        return false; /* × ÷ */
    }
    if ((cp >= 0x2000 && cp <= 0x2BFF) || /* punctuation, symbols, arrows, shapes */
        (cp >= 0x2E00 && cp <= 0x2E7F) || /* supplemental punctuation */
        (cp >= 0x3000 && cp <= 0x303F) || /* CJK symbols and punctuation */
        (cp >= 0xFE30 && cp <= 0xFE4F) || /* CJK compatibility forms */
        (cp >= 0xFF00 && cp <= 0xFF0F) || /* fullwidth punctuation */
        (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
        (cp >= 0xFF5B && cp <= 0xFF65) || cp == 0xFEFF || cp == HUSH_REPLACEMENT ||
        (cp >= 0xE000 && cp <= 0xF8FF) ||   /* private use */
        (cp >= 0x1F000 && cp <= 0x1FAFF)) { /* emoji and pictographs */
        return false;
    }
    return true;
}

static bool is_apostrophe(uint32_t cp)
{
    return cp == '\'' || cp == 0x2019 || cp == 0x02BC;
}

int hush_text_normalize(const char *text, size_t len, char **out, size_t *out_len,
                        hush_err *err)
{
    if (len > HUSH_EMBED_TEXT_MAX) {
        return hush_err_set(err, HUSH_ETOOBIG,
                            "text of %zu bytes exceeds the %u-byte limit", len,
                            HUSH_EMBED_TEXT_MAX);
    }
    /* Folding never lengthens a character's encoding by more than one byte
     * (U+0130 -> 'i' shortens; the rest keep their length) and U+FFFD is at
     * most 3 bytes for at least 1 input byte: 3 * len + 1 always suffices. */
    uint8_t *buf = hush_malloc(3 * len + 1);
    if (buf == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory normalizing %zu bytes", len);
    }
    const uint8_t *s = (const uint8_t *)text;
    size_t o = 0;
    bool pending_space = false;
    bool last_word = false;
    size_t i = 0;
    while (i < len) {
        size_t used;
        uint32_t cp = hush__utf8_decode(s + i, len - i, &used);
        i += used;
        if (is_apostrophe(cp) && last_word && i < len) {
            size_t next_used;
            uint32_t next = hush__utf8_decode(s + i, len - i, &next_used);
            if (hush__is_word_cp(next)) {
                continue; /* "don't" -> "dont" */
            }
        }
        if (!hush__is_word_cp(cp)) {
            pending_space = o > 0;
            last_word = false;
            continue;
        }
        if (pending_space) {
            buf[o++] = ' ';
            pending_space = false;
        }
        o += hush__utf8_encode(fold(cp), buf + o);
        last_word = true;
    }
    buf[o] = '\0';
    *out = (char *)buf;
    *out_len = o;
    return 0;
}
