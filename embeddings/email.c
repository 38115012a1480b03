/*
 * email.c - from a raw RFC 822 message to the text a device embeds.
 *
 * The parser is forgiving by design: mail in the wild breaks every rule, and
 * a device must embed what it can read rather than fail.  It never reads
 * outside the input (every scan is bounded by an end pointer), recursion
 * into nested multiparts is limited to MAX_DEPTH, and the output buffer
 * grows with a hard cap, so any input yields some text or HUSH_ENOMEM.
 *
 * Output: "<subject>\n\n<body>", where the body is the message's text/plain
 * parts (text/html parts, stripped, if there is no plain part), decoded from
 * quoted-printable or base64, converted from ISO-8859-1/Windows-1252 when
 * the part says so, with quoted replies, "On ... wrote:" lines, forwarded
 * originals and signatures removed.  Invalid UTF-8 becomes U+FFFD.
 */
#include <ctype.h>
#include <stdlib.h>
#include <strings.h>

#include "embed_internal.h"
#include "hush_buf.h"

#define MAX_DEPTH 8
#define MAX_PARTS 256

/* Text being written: a capped hush__buf; its first failure sticks and
 * fails the extraction. */
typedef hush__buf buf;

static void buf_put(buf *b, const char *s, size_t len)
{
    (void)hush__buf_add(b, s, len);
}

/* A buffer of at most `limit` bytes. */
static buf buf_of(size_t limit)
{
    buf b;
    hush__buf_init(&b, limit);
    return b;
}

static void buf_putc(buf *b, char c)
{
    buf_put(b, &c, 1);
}

static void buf_put_cp(buf *b, uint32_t cp)
{
    uint8_t enc[4];
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        cp = HUSH_REPLACEMENT;
    }
    buf_put(b, (const char *)enc, hush__utf8_encode(cp, enc));
}

/* ---- headers ---- */

typedef struct header_view {
    const char *start, *end; /* the header block, without the blank line */
} header_view;

/* Finds the end of the header block starting at p: the first empty line.
 * *body is set past it (or to end if there is none). */
static bool looks_like_header(const char *p, const char *end)
{
    /* RFC 5322 field name: printable ASCII except ':', then ':' */
    const char *s = p;
    while (s<end && * s> ' ' && *s < 127 && *s != ':') {
        s++;
    }
    return s > p && s < end && *s == ':';
}

static header_view split_headers(const char *p, const char *end, const char **body)
{
    header_view h = {p, end};
    if (!looks_like_header(p, end)) {
        /* no header block at all: everything is body */
        h.end = p;
        *body = p;
        return h;
    }
    const char *s = p;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        if (nl == NULL) {
            break;
        }
        const char *next = nl + 1;
        /* an empty line: "\n" or "\r\n" right after a newline */
        if (next < end && *next == '\n') {
            h.end = nl;
            *body = next + 1;
            return h;
        }
        if (next + 1 < end && next[0] == '\r' && next[1] == '\n') {
            h.end = nl;
            *body = next + 2;
            return h;
        }
        s = next;
    }
    if (p < end && (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))) {
        h.end = p;
        *body = *p == '\n' ? p + 1 : p + 2;
        return h;
    }
    *body = end;
    return h;
}

/* Copies the unfolded value of header `name` into `out` (NUL-terminated,
 * truncated to cap).  Returns false if absent. */
static bool get_header(header_view h, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *s = h.start;
    while (s < h.end) {
        const char *nl = memchr(s, '\n', (size_t)(h.end - s));
        const char *le = nl != NULL ? nl : h.end;
        if ((size_t)(le - s) > nlen && strncasecmp(s, name, nlen) == 0 &&
            s[nlen] == ':') {
            size_t o = 0;
            const char *v = s + nlen + 1;
            for (;;) {
                for (; v < le && o + 1 < cap; v++) {
                    char c = *v == '\t' || *v == '\r' ? ' ' : *v;
                    out[o++] = c;
                }
                /* continuation lines start with a space or tab */
                if (le < h.end && le + 1 < h.end && (le[1] == ' ' || le[1] == '\t')) {
                    v = le + 1;
                    nl = memchr(v, '\n', (size_t)(h.end - v));
                    le = nl != NULL ? nl : h.end;
                    continue;
                }
                break;
            }
            while (o > 0 && out[o - 1] == ' ') {
                o--;
            }
            size_t lead = 0;
            while (lead < o && out[lead] == ' ') {
                lead++;
            }
            memmove(out, out + lead, o - lead);
            out[o - lead] = '\0';
            return true;
        }
        s = nl != NULL ? nl + 1 : h.end;
    }
    return false;
}

/* The value of parameter `param` (e.g. boundary) in a header value. */
static bool get_param(const char *value, const char *param, char *out, size_t cap)
{
    size_t plen = strlen(param);
    for (const char *s = value; *s != '\0'; s++) {
        if ((s == value || s[-1] == ';' || s[-1] == ' ') &&
            strncasecmp(s, param, plen) == 0 && s[plen] == '=') {
            const char *v = s + plen + 1;
            size_t o = 0;
            if (*v == '"') {
                v++;
                while (*v != '\0' && *v != '"' && o + 1 < cap) {
                    out[o++] = *v++;
                }
            } else {
                while (*v != '\0' && *v != ';' && *v != ' ' && o + 1 < cap) {
                    out[o++] = *v++;
                }
            }
            out[o] = '\0';
            return o > 0;
        }
    }
    return false;
}

/* ---- transfer encodings ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static void decode_qp(const char *s, const char *end, bool underscore_space, buf *out)
{
    while (s < end) {
        if (*s == '=') {
            if (s + 2 < end && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
                buf_putc(out, (char)(hexval(s[1]) << 4 | hexval(s[2])));
                s += 3;
                continue;
            }
            /* soft line break "=\n" or "=\r\n" */
            const char *t = s + 1;
            while (t < end && (*t == ' ' || *t == '\t')) {
                t++;
            }
            if (t < end && *t == '\n') {
                s = t + 1;
                continue;
            }
            if (t + 1 < end && t[0] == '\r' && t[1] == '\n') {
                s = t + 2;
                continue;
            }
        }
        buf_putc(out, underscore_space && *s == '_' ? ' ' : *s);
        s++;
    }
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

/* Tolerant base64: characters outside the alphabet are skipped, '=' ends. */
static void decode_b64(const char *s, const char *end, buf *out)
{
    uint32_t acc = 0;
    int bits = 0;
    for (; s < end && *s != '='; s++) {
        int v = b64val((unsigned char)*s);
        if (v < 0) {
            continue;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf_putc(out, (char)(acc >> bits & 0xFF));
        }
    }
}

/* Latin-1 / Windows-1252 bytes to UTF-8 (0x80-0x9F as Windows-1252's most
 * common characters; the rest map to the same code point). */
static void latin1_to_utf8(const char *s, size_t len, buf *out)
{
    static const uint16_t cp1252[32] = {
        0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,
        0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178};
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c == 0) {
            continue; /* NUL is not text */
        }
        if (c < 0x80) {
            buf_putc(out, (char)c);
        } else {
            buf_put_cp(out, c < 0xA0 ? cp1252[c - 0x80] : c);
        }
    }
}

/* Valid UTF-8 copy: invalid sequences become U+FFFD. */
static void utf8_sanitize(const char *s, size_t len, buf *out)
{
    size_t i = 0;
    while (i < len) {
        size_t used;
        uint32_t cp = hush__utf8_decode((const uint8_t *)s + i, len - i, &used);
        if (cp == HUSH_REPLACEMENT || cp >= 0x80) {
            buf_put_cp(out, cp);
        } else if (cp != 0) {
            buf_putc(out, (char)cp);
        }
        i += used;
    }
}

static bool is_latin1(const char *charset)
{
    return strncasecmp(charset, "iso-8859-1", 10) == 0 ||
           strncasecmp(charset, "iso-8859-15", 11) == 0 ||
           strncasecmp(charset, "windows-1252", 12) == 0 ||
           strncasecmp(charset, "latin1", 6) == 0 ||
           strncasecmp(charset, "cp1252", 6) == 0;
}

/* Bytes in `charset` to valid UTF-8, appended to out. */
static void to_utf8(const char *s, size_t len, const char *charset, buf *out)
{
    if (is_latin1(charset)) {
        latin1_to_utf8(s, len, out);
    } else {
        utf8_sanitize(s, len, out);
    }
}

/* RFC 2047 encoded words in a header value: =?charset?B|Q?text?= */
static void decode_header_words(const char *v, buf *out)
{
    const char *s = v;
    bool last_was_word = false;
    while (*s != '\0') {
        if (s[0] == '=' && s[1] == '?') {
            const char *cs = s + 2;
            const char *q1 = strchr(cs, '?');
            const char *q2 = q1 != NULL && q1[1] != '\0' ? strchr(q1 + 1, '?') : NULL;
            const char *e = q2 != NULL ? strstr(q2 + 1, "?=") : NULL;
            if (q1 != NULL && q2 == q1 + 2 && e != NULL) {
                char charset[32] = {0};
                size_t clen = (size_t)(q1 - cs) < sizeof charset - 1 ? (size_t)(q1 - cs)
                                                                     : sizeof charset - 1;
                memcpy(charset, cs, clen);
                buf raw = buf_of(1u << 16);
                char enc = (char)toupper((unsigned char)q1[1]);
                if (enc == 'B') {
                    decode_b64(q2 + 1, e, &raw);
                } else {
                    decode_qp(q2 + 1, e, true, &raw);
                }
                to_utf8(raw.data != NULL ? raw.data : "", raw.len, charset, out);
                hush__buf_fail(out, hush__buf_error(&raw));
                hush__buf_free(&raw);
                s = e + 2;
                last_was_word = true;
                continue;
            }
        }
        /* whitespace between two encoded words is not displayed */
        if (last_was_word && (*s == ' ' || *s == '\t')) {
            const char *t = s;
            while (*t == ' ' || *t == '\t') {
                t++;
            }
            if (t[0] == '=' && t[1] == '?') {
                s = t;
                continue;
            }
        }
        last_was_word = false;
        utf8_sanitize(s, 1, out);
        s++;
    }
}

/* ---- HTML ---- */

static bool tag_is(const char *s, const char *end, const char *name)
{
    size_t n = strlen(name);
    return (size_t)(end - s) > n && strncasecmp(s, name, n) == 0 &&
           !isalnum((unsigned char)s[n]);
}

static void strip_html(const char *s, const char *end, buf *out)
{
    while (s < end) {
        if (*s == '<') {
            const char *t = s + 1;
            bool closing = t < end && *t == '/';
            const char *name = closing ? t + 1 : t;
            /* skip scripts, styles and comments whole */
            if (!closing && (tag_is(name, end, "script") || tag_is(name, end, "style"))) {
                const char *tagname =
                    tag_is(name, end, "script") ? "</script" : "</style";
                const char *c = name;
                while (c < end && !((size_t)(end - c) >= strlen(tagname) &&
                                    strncasecmp(c, tagname, strlen(tagname)) == 0)) {
                    c++;
                }
                s = c;
            } else if ((size_t)(end - t) >= 3 && strncmp(t, "!--", 3) == 0) {
                const char *c = t + 3;
                while (c + 2 < end && strncmp(c, "-->", 3) != 0) {
                    c++;
                }
                s = c + 2 < end ? c + 3 : end;
                continue;
            }
            if (tag_is(name, end, "br") || tag_is(name, end, "p") ||
                tag_is(name, end, "div") || tag_is(name, end, "tr") ||
                tag_is(name, end, "li") || tag_is(name, end, "h1") ||
                tag_is(name, end, "h2") || tag_is(name, end, "h3") ||
                tag_is(name, end, "table")) {
                buf_putc(out, '\n');
            }
            const char *gt = memchr(s, '>', (size_t)(end - s));
            s = gt != NULL ? gt + 1 : end;
            continue;
        }
        if (*s == '&') {
            static const struct {
                const char *name;
                uint32_t cp;
            } ents[] = {{"amp;", '&'},      {"lt;", '<'},       {"gt;", '>'},
                        {"quot;", '"'},     {"apos;", '\''},    {"nbsp;", ' '},
                        {"copy;", 0xA9},    {"reg;", 0xAE},     {"eacute;", 0xE9},
                        {"mdash;", 0x2014}, {"ndash;", 0x2013}, {"hellip;", 0x2026}};
            bool done = false;
            for (size_t i = 0; i < sizeof ents / sizeof ents[0]; i++) {
                size_t n = strlen(ents[i].name);
                if ((size_t)(end - s - 1) >= n &&
                    strncasecmp(s + 1, ents[i].name, n) == 0) {
                    buf_put_cp(out, ents[i].cp);
                    s += 1 + n;
                    done = true;
                    break;
                }
            }
            if (!done && s + 2 < end && s[1] == '#') {
                const char *t = s + 2;
                bool hex = t < end && (*t == 'x' || *t == 'X');
                t += hex;
                uint32_t cp = 0;
                int digits = 0;
                while (t < end && digits < 7 &&
                       (hex ? hexval(*t) >= 0 : (*t >= '0' && *t <= '9'))) {
                    cp = cp * (hex ? 16u : 10u) + (uint32_t)(hex ? hexval(*t) : *t - '0');
                    t++;
                    digits++;
                }
                if (digits > 0 && t < end && *t == ';') {
                    buf_put_cp(out, cp);
                    s = t + 1;
                    done = true;
                }
            }
            if (done) {
                continue;
            }
        }
        buf_putc(out, *s);
        s++;
    }
}

/* ---- the body ---- */

typedef struct collected {
    buf plain, html;
    int parts;
} collected;

static void decode_part(header_view h, const char *body, const char *end, buf *out)
{
    char cte[64] = "", ctype[256] = "", charset[64] = "";
    get_header(h, "Content-Transfer-Encoding", cte, sizeof cte);
    if (get_header(h, "Content-Type", ctype, sizeof ctype)) {
        get_param(ctype, "charset", charset, sizeof charset);
    }
    buf raw = buf_of(HUSH_EMBED_TEXT_MAX);
    if (strncasecmp(cte, "base64", 6) == 0) {
        decode_b64(body, end, &raw);
    } else if (strncasecmp(cte, "quoted-printable", 16) == 0) {
        decode_qp(body, end, false, &raw);
    } else {
        buf_put(&raw, body, (size_t)(end - body));
    }
    to_utf8(raw.data != NULL ? raw.data : "", raw.len, charset, out);
    hush__buf_fail(out, hush__buf_error(&raw));
    hush__buf_free(&raw);
}

static void walk(const char *p, const char *end, int depth, collected *col)
{
    const char *body;
    header_view h = split_headers(p, end, &body);
    char ctype[512] = "";
    bool has_type = get_header(h, "Content-Type", ctype, sizeof ctype);
    if (++col->parts > MAX_PARTS) {
        return;
    }
    if (has_type && strncasecmp(ctype, "multipart/", 10) == 0 && depth < MAX_DEPTH) {
        char boundary[256];
        if (!get_param(ctype, "boundary", boundary, sizeof boundary)) {
            decode_part(h, body, end, &col->plain);
            return;
        }
        size_t blen = strlen(boundary);
        /* parts lie between lines "--boundary" */
        const char *s = body;
        const char *part = NULL;
        while (s < end) {
            const char *nl = memchr(s, '\n', (size_t)(end - s));
            const char *le = nl != NULL ? nl : end;
            if ((size_t)(le - s) >= blen + 2 && s[0] == '-' && s[1] == '-' &&
                strncmp(s + 2, boundary, blen) == 0) {
                if (part != NULL) {
                    walk(part, s, depth + 1, col);
                }
                bool last = (size_t)(le - s) >= blen + 4 && s[blen + 2] == '-' &&
                            s[blen + 3] == '-';
                if (last) {
                    return;
                }
                part = nl != NULL ? nl + 1 : end;
            }
            s = nl != NULL ? nl + 1 : end;
        }
        if (part != NULL) {
            walk(part, end, depth + 1, col); /* unterminated last part */
        }
        return;
    }
    if (!has_type || strncasecmp(ctype, "text/plain", 10) == 0) {
        char disp[128] = "";
        get_header(h, "Content-Disposition", disp, sizeof disp);
        if (strncasecmp(disp, "attachment", 10) != 0) {
            if (col->plain.len > 0) {
                buf_putc(&col->plain, '\n');
            }
            decode_part(h, body, end, &col->plain);
        }
    } else if (strncasecmp(ctype, "text/html", 9) == 0) {
        buf decoded = buf_of(HUSH_EMBED_TEXT_MAX);
        decode_part(h, body, end, &decoded);
        if (col->html.len > 0) {
            buf_putc(&col->html, '\n');
        }
        strip_html(decoded.data != NULL ? decoded.data : "",
                   (decoded.data != NULL ? decoded.data : "") + decoded.len, &col->html);
        hush__buf_fail(&col->html, hush__buf_error(&decoded));
        hush__buf_free(&decoded);
    }
}

/* ---- reply and signature removal ---- */

static bool starts_with_ci(const char *s, const char *end, const char *prefix)
{
    size_t n = strlen(prefix);
    return (size_t)(end - s) >= n && strncasecmp(s, prefix, n) == 0;
}

/* Is [s, le) an attribution line ("On <date>, <name> wrote:")? */
static bool is_attribution(const char *s, const char *le)
{
    while (le > s && (le[-1] == ' ' || le[-1] == '\r')) {
        le--;
    }
    return (size_t)(le - s) >= 6 && strncasecmp(le - 6, "wrote:", 6) == 0;
}

static void drop_quotes_and_signature(const char *s, const char *end, buf *out)
{
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *le = nl != NULL ? nl : end;
        const char *next = nl != NULL ? nl + 1 : end;
        const char *t = le > s && le[-1] == '\r' ? le - 1 : le;
        /* a signature: "-- " alone on a line; forwarded originals */
        if ((t - s == 3 && strncmp(s, "-- ", 3) == 0) ||
            (t - s == 2 && strncmp(s, "--", 2) == 0) ||
            starts_with_ci(s, t, "-----Original Message-----") ||
            starts_with_ci(s, t, "________________________________")) {
            return;
        }
        if (s < t && *s == '>') {
            s = next; /* a quoted line */
            continue;
        }
        if (is_attribution(s, t)) {
            /* only when quoted lines follow */
            const char *n2 = next;
            while (n2 < end && (*n2 == '\n' || *n2 == '\r')) {
                n2++;
            }
            if (n2 >= end || *n2 == '>') {
                s = next;
                continue;
            }
        }
        buf_put(out, s, (size_t)(t - s));
        buf_putc(out, '\n');
        s = next;
    }
}

int hush_email_to_text(const char *raw, size_t len, char **out, size_t *out_len,
                       hush_err *err)
{
    if (len > HUSH_EMBED_TEXT_MAX) {
        return hush_err_set(err, HUSH_ETOOBIG,
                            "message of %zu bytes exceeds the %u-byte limit", len,
                            HUSH_EMBED_TEXT_MAX);
    }
    const char *p = raw != NULL ? raw : "";
    const char *end = p + (raw != NULL ? len : 0);
    /* an mbox "From " separator line is not a header */
    if (end - p >= 5 && strncmp(p, "From ", 5) == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl != NULL ? nl + 1 : end;
    }
    size_t limit = 3 * len + 64;
    collected col = {.plain = buf_of(limit), .html = buf_of(limit)};
    buf result = buf_of(limit);
    const char *body;
    header_view h = split_headers(p, end, &body);
    char subject[1024] = "";
    get_header(h, "Subject", subject, sizeof subject);
    decode_header_words(subject, &result);
    buf_put(&result, "\n\n", 2);
    walk(p, end, 0, &col);
    buf *text = col.plain.len > 0 ? &col.plain : &col.html;
    drop_quotes_and_signature(text->data != NULL ? text->data : "",
                              (text->data != NULL ? text->data : "") + text->len,
                              &result);
    bool failed = hush__buf_error(&result) != 0 || hush__buf_error(&col.plain) != 0 ||
                  hush__buf_error(&col.html) != 0;
    hush__buf_free(&col.plain);
    hush__buf_free(&col.html);
    if (failed) {
        hush__buf_free(&result);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory extracting email text");
    }
    *out = hush__buf_take(&result, out_len);
    if (*out == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory extracting email text");
    }
    return 0;
}
