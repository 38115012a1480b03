/*
 * fuzz_email.c - libFuzzer target for the RFC 822 email helper: messages
 * are device-local data of any shape.  Properties: no crash, no read past
 * the input, output is valid UTF-8 without NUL bytes, and it embeds (or is
 * refused as empty) without error.
 */
#include <stdlib.h>

#include "embed_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = NULL;
    size_t len = 0;
    if (hush_email_to_text((const char *)data, size, &text, &len, NULL) != 0) {
        return 0;
    }
    if (strlen(text) != len) {
        abort();
    }
    for (size_t i = 0; i < len;) {
        size_t used;
        if (hush__utf8_decode((const uint8_t *)text + i, len - i, &used) ==
                HUSH_REPLACEMENT &&
            !((uint8_t)text[i] == 0xEF && used == 3)) {
            abort(); /* invalid UTF-8 (a literal U+FFFD, EF BF BD, is fine) */
        }
        i += used;
    }
    hush_free(text);
    return 0;
}
