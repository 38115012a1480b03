/*
 * test_email.c - from raw RFC 822 messages to embeddable text.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "embed_internal.h"

static char *text_of(const char *raw)
{
    char *out = NULL;
    size_t len = 0;
    hush_err err = {0};
    cr_assert_eq(hush_email_to_text(raw, strlen(raw), &out, &len, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(strlen(out), len);
    return out;
}

#define EXPECT_HAS(s, frag) \
    cr_assert(strstr(s, frag) != NULL, "missing \"%s\" in:\n%s", frag, s)
#define EXPECT_NOT(s, frag) \
    cr_assert(strstr(s, frag) == NULL, "unwanted \"%s\" in:\n%s", frag, s)

Test(email, headers_dropped_subject_kept)
{
    char *t = text_of("From someone@example.com  Tue Aug  6 11:51:02 2002\n"
                      "Received: from mx.example.com by host\n"
                      "\tcontinued header line\n"
                      "From: Ana <ana@example.com>\n"
                      "Subject: Quarterly\n report\n"
                      "\n"
                      "Hello team,\nthe numbers are in.\n");
    cr_assert(strncmp(t, "Quarterly report\n\n", 18) == 0, "%s", t);
    EXPECT_HAS(t, "the numbers are in.");
    EXPECT_NOT(t, "Received");
    EXPECT_NOT(t, "ana@example.com");
    hush_free(t);
}

Test(email, quoted_replies_and_signatures_dropped)
{
    char *t = text_of("Subject: Re: lunch\n\n"
                      "Sounds good, see you at noon.\n"
                      "\n"
                      "On Tue, 6 Aug 2002, Bob wrote:\n"
                      "> Lunch tomorrow?\n"
                      "> \n"
                      "-- \n"
                      "Ana Smith, Example Corp, +1 555 0100\n");
    EXPECT_HAS(t, "see you at noon");
    EXPECT_NOT(t, "Lunch tomorrow");
    EXPECT_NOT(t, "wrote:");
    EXPECT_NOT(t, "Example Corp");
    hush_free(t);
}

Test(email, multipart_prefers_plain_and_decodes)
{
    char *t =
        text_of("Subject: =?UTF-8?B?Q2Fmw6k=?= and =?ISO-8859-1?Q?cr=E8me_br=FBl=E9e?=\n"
                "MIME-Version: 1.0\n"
                "Content-Type: multipart/alternative; boundary=\"XYZ\"\n"
                "\n"
                "preamble\n"
                "--XYZ\n"
                "Content-Type: text/plain; charset=iso-8859-1\n"
                "Content-Transfer-Encoding: quoted-printable\n"
                "\n"
                "Caf=E9 tonight? A long line that is wrapp=\n"
                "ed softly.\n"
                "--XYZ\n"
                "Content-Type: text/html\n"
                "\n"
                "<p>HTML version</p>\n"
                "--XYZ--\n"
                "epilogue\n");
    EXPECT_HAS(t, "Caf\xc3\xa9 and cr\xc3\xa8me br\xc3\xbbl\xc3\xa9"
                  "e");
    EXPECT_HAS(t, "Caf\xc3\xa9 tonight?");
    EXPECT_HAS(t, "wrapped softly");
    EXPECT_NOT(t, "HTML version");
    EXPECT_NOT(t, "preamble");
    hush_free(t);
}

Test(email, html_only_is_stripped_and_base64_decoded)
{
    /* "<html><head><style>p{}</style></head><body><b>Win</b> &amp; save&#33;
     * <script>x()</script><br>Now</body></html>" in base64 */
    const char *b64 =
        "PGh0bWw+PGhlYWQ+PHN0eWxlPnB7fTwvc3R5bGU+PC9oZWFkPjxib2R5PjxiPldpbjwvYj4g"
        "JmFtcDsgc2F2ZSYjMzM7IDxzY3JpcHQ+eCgpPC9zY3JpcHQ+PGJyPk5vdzwvYm9keT48L2h0"
        "bWw+";
    char raw[1024];
    snprintf(raw, sizeof raw,
             "Subject: offer\nContent-Type: text/html\nContent-Transfer-Encoding: "
             "base64\n\n%s\n",
             b64);
    char *t = text_of(raw);
    EXPECT_HAS(t, "Win & save!");
    EXPECT_HAS(t, "Now");
    EXPECT_NOT(t, "<b>");
    EXPECT_NOT(t, "x()");
    EXPECT_NOT(t, "p{}");
    hush_free(t);
}

Test(email, attachments_are_skipped)
{
    char *t = text_of("Subject: report\n"
                      "Content-Type: multipart/mixed; boundary=b1\n\n"
                      "--b1\n"
                      "Content-Type: multipart/alternative; boundary=b2\n\n"
                      "--b2\n"
                      "Content-Type: text/plain\n\n"
                      "See attached.\n"
                      "--b2--\n"
                      "--b1\n"
                      "Content-Type: application/pdf\n"
                      "Content-Transfer-Encoding: base64\n\n"
                      "JVBERi0xLjQK\n"
                      "--b1\n"
                      "Content-Type: text/plain\n"
                      "Content-Disposition: attachment; filename=notes.txt\n\n"
                      "attached notes\n"
                      "--b1--\n");
    EXPECT_HAS(t, "See attached.");
    EXPECT_NOT(t, "PDF");
    EXPECT_NOT(t, "attached notes");
    hush_free(t);
}

Test(email, malformed_messages_yield_what_can_be_read)
{
    const char *cases[] = {
        "",
        "no headers at all, just text",
        "Subject: only a header",
        "Subject: x\nContent-Type: multipart/mixed; boundary=q\n\n--q\nunterminated part",
        "Subject: x\nContent-Type: multipart/mixed\n\nno boundary parameter",
        "Subject: x\nContent-Transfer-Encoding: base64\n\n!!!@@@",
        "Subject: x\nContent-Transfer-Encoding: quoted-printable\n\n=\n=4\n=ZZ end=",
        "Subject: =?utf-8?B?broken",
        "Subject: x\nContent-Type: text/html\n\n<a href=\"unterminated",
        "Subject: x\nContent-Type: text/html\n\n&#99999999; &#x; &",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = text_of(cases[i]);
        for (size_t j = 0; t[j] != '\0';) {
            size_t used;
            hush__utf8_decode((const uint8_t *)t + j, strlen(t + j), &used);
            j += used;
        }
        hush_free(t);
    }
    char *t = text_of("no headers at all, just text");
    EXPECT_HAS(t, "just text");
    hush_free(t);
    /* deep nesting stops at the depth limit without failing */
    char deep[8192];
    size_t off = (size_t)snprintf(deep, sizeof deep, "Subject: deep\n");
    for (int i = 0; i < 40; i++) {
        off += (size_t)snprintf(deep + off, sizeof deep - off,
                                "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n",
                                i, i);
    }
    snprintf(deep + off, sizeof deep - off, "Content-Type: text/plain\n\ninnermost\n");
    char *d = text_of(deep);
    hush_free(d);
    /* NUL bytes inside a message */
    char *out = NULL;
    size_t len = 0;
    cr_assert_eq(hush_email_to_text("Subject: a\n\nb\0c", 16, &out, &len, NULL), 0);
    cr_assert_eq(strlen(out), len, "no NUL in the output");
    hush_free(out);
    /* oversized */
    cr_assert_eq(hush_email_to_text("x", HUSH_EMBED_TEXT_MAX + 1, &out, &len, NULL),
                 HUSH_ETOOBIG);
}
