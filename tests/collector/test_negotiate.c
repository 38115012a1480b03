/*
 * test_negotiate.c - Accept, Accept-Encoding, If-None-Match, Origin, and
 * the CSV form of a document's table.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "csv.h"
#include "hush_common.h"
#include "hush_json.h"
#include "negotiate.h"

static enum hush__format fmt_of(const char *arg, const char *accept)
{
    enum hush__format f = (enum hush__format) - 1;
    cr_assert(hush__choose_format(arg, accept, &f), "%s / %s", arg, accept);
    return f;
}

Test(negotiate, format_from_the_query_then_accept)
{
    cr_assert_eq(fmt_of(NULL, NULL), HUSH__FORMAT_JSON);
    cr_assert_eq(fmt_of("csv", "application/json"), HUSH__FORMAT_CSV, "?format= wins");
    cr_assert_eq(fmt_of("json", "text/csv"), HUSH__FORMAT_JSON);
    enum hush__format f;
    cr_assert(!hush__choose_format("CSV", NULL, &f), "format values are exact");
    cr_assert(!hush__choose_format("", NULL, &f));
    cr_assert_eq(fmt_of(NULL, "text/csv"), HUSH__FORMAT_CSV);
    cr_assert_eq(fmt_of(NULL, "Text/CSV; charset=utf-8"), HUSH__FORMAT_CSV);
    cr_assert_eq(fmt_of(NULL, "text/html"), HUSH__FORMAT_JSON, "neither: JSON");
    cr_assert_eq(fmt_of(NULL, "*/*"), HUSH__FORMAT_JSON, "a tie is JSON");
    cr_assert_eq(fmt_of(NULL, "text/csv, application/json"), HUSH__FORMAT_JSON);
    cr_assert_eq(fmt_of(NULL, "application/json;q=0.5, text/csv"), HUSH__FORMAT_CSV);
    cr_assert_eq(fmt_of(NULL, "text/*, application/json;q=0.9"), HUSH__FORMAT_CSV);
    /* the most specific range counts, whatever its order */
    cr_assert_eq(fmt_of(NULL, "text/csv;q=0, text/*, */*;q=0.1"), HUSH__FORMAT_JSON);
    cr_assert_eq(fmt_of(NULL, "text/csv;q=0.001"), HUSH__FORMAT_CSV);
    /* a q that does not parse drops its element, nothing else */
    cr_assert_eq(fmt_of(NULL, "text/csv;q=2, application/json;q=0.1"), HUSH__FORMAT_JSON);
    cr_assert_eq(fmt_of(NULL, "text/csv;q=0.5x"), HUSH__FORMAT_JSON);
    cr_assert_eq(fmt_of(NULL, "text/csv;q=1.000"), HUSH__FORMAT_CSV);
    cr_assert_eq(fmt_of(NULL, ",,, ;;, text/csv ;  q=0.7 ,"), HUSH__FORMAT_CSV);
}

Test(negotiate, gzip_when_the_client_takes_it)
{
    cr_assert(!hush__accepts_gzip(NULL));
    cr_assert(!hush__accepts_gzip(""));
    cr_assert(hush__accepts_gzip("gzip"));
    cr_assert(hush__accepts_gzip("deflate, gzip;q=0.5, br"));
    cr_assert(hush__accepts_gzip("GZIP"));
    cr_assert(!hush__accepts_gzip("gzip;q=0"));
    cr_assert(!hush__accepts_gzip("gzip;q=0.000, *"), "listed at 0 beats *");
    cr_assert(hush__accepts_gzip("*"));
    cr_assert(!hush__accepts_gzip("*;q=0"));
    cr_assert(!hush__accepts_gzip("br, identity"));
    cr_assert(!hush__accepts_gzip("gzipx"));
}

Test(negotiate, if_none_match_compares_weakly)
{
    const char *tag = "\"abc\"";
    cr_assert(hush__etag_listed("\"abc\"", tag));
    cr_assert(hush__etag_listed("W/\"abc\"", tag));
    cr_assert(hush__etag_listed("\"x\", \"abc\"", tag));
    cr_assert(hush__etag_listed("*", tag));
    cr_assert(!hush__etag_listed("\"abcd\"", tag));
    cr_assert(!hush__etag_listed("abc", tag), "unquoted is another tag");
    cr_assert(!hush__etag_listed("", tag));
    cr_assert(!hush__etag_listed(NULL, tag));
    cr_assert(!hush__etag_listed("W/", tag));
}

Test(negotiate, origins)
{
    cr_assert(!hush__origin_allowed("", "https://a.example"), "none by default");
    cr_assert(hush__origin_allowed("*", "https://a.example"));
    cr_assert(hush__origin_allowed("https://b.example, https://a.example",
                                   "https://a.example"));
    cr_assert(!hush__origin_allowed("https://a.example", "https://a.example.evil"));
    cr_assert(!hush__origin_allowed("https://a.example.evil", "https://a.example"));
    cr_assert(!hush__origin_allowed("https://a.example", "http://a.example"));
    cr_assert(!hush__origin_allowed("*", NULL));
    cr_assert(!hush__origin_allowed("*", ""));
}

static char *csv_of(const char *json, const char *rows, const char *const *leads,
                    const char *const *whole)
{
    json_t *doc = json_loads(json, 0, NULL);
    cr_assert_not_null(doc);
    size_t len = 0;
    char *csv = hush__csv_table(doc, rows, leads, whole, &len);
    cr_assert_not_null(csv);
    cr_assert_eq(strlen(csv), len);
    json_decref(doc);
    return csv;
}

Test(csv, the_columns_are_the_documents_own)
{
    static const char *const leads[] = {"campaign", "round", NULL};
    char *csv = csv_of(
        "{\"campaign\":\"c\",\"round\":2,\"items\":["
        "{\"id\":\"a\",\"estimate\":1.5,\"ci95\":[1,2.25],\"significant\":true},"
        "{\"id\":\"b\",\"estimate\":-3,\"ci95\":[-4,0],\"significant\":null,\"x\":7}]}",
        "items", leads, NULL);
    cr_assert_str_eq(csv,
                     "campaign,round,id,estimate,ci95_low,ci95_high,significant,x\r\n"
                     "c,2,a,1.5,1,2.25,true,\r\n"
                     "c,2,b,-3,-4,0,,7\r\n");
    hush_free(csv);
}

Test(csv, objects_flatten_one_level_and_maps_stay_json)
{
    static const char *const leads[] = {"campaign", NULL}, *const whole[] = {"lineage",
                                                                             NULL};
    char *csv = csv_of("{\"campaign\":\"m\",\"rounds\":["
                       "{\"round\":1,\"metrics\":{\"fd\":0.5,\"deep\":{\"a\":1}},"
                       "\"lineage\":{\"r2-0\":\"c0\"}},"
                       "{\"round\":2,\"metrics\":null,\"lineage\":null}]}",
                       "rounds", leads, whole);
    cr_assert_str_eq(csv, "campaign,round,metrics.fd,metrics.deep,lineage\r\n"
                          "m,1,0.5,\"{\"\"a\"\":1}\",\"{\"\"r2-0\"\":\"\"c0\"\"}\"\r\n"
                          "m,2,,,\r\n");
    hush_free(csv);
}

Test(csv, text_is_quoted_and_formulas_are_defused)
{
    static const char *const leads[] = {NULL};
    char *csv =
        csv_of("{\"items\":[{\"text\":\"a, \\\"b\\\"\\r\\nc\"},{\"text\":\"=1+1\"},"
               "{\"text\":\"-2\"},{\"text\":\"@x,y\"},{\"text\":\"<b>ok</b>\"}]}",
               "items", leads, NULL);
    cr_assert_str_eq(csv, "text\r\n"
                          "\"a, \"\"b\"\"\r\nc\"\r\n"
                          "'=1+1\r\n"
                          "'-2\r\n"
                          "\"'@x,y\"\r\n"
                          "<b>ok</b>\r\n");
    hush_free(csv);
}

Test(csv, no_rows_is_the_header_alone)
{
    static const char *const leads[] = {"campaign", NULL};
    char *csv = csv_of("{\"campaign\":\"c\",\"withheld\":true}", "items", leads, NULL);
    cr_assert_str_eq(csv, "campaign\r\n");
    hush_free(csv);
}
