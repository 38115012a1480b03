/*
 * test_config.c - hushd's flags and config files.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hush_collector.h"

Test(config, defaults_flags_and_files)
{
    hush_collector_config c;
    hush_collector_config_defaults(&c);
    cr_assert_eq(c.port, 8080);
    cr_assert_str_eq(c.store, "sqlite:./var/hush.db");
    cr_assert(c.sync_full);
    char path[] = "/tmp/hushd-conf-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char text[] =
        "# comment\nport = 9000\n  store = sqlite:/tmp/x.db\nsync=normal\n";
    cr_assert_eq(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    char *argv[] = {"hushd", "--config", path, "--port=9001", "--threads", "3", "--demo"};
    bool help = false;
    hush_err err = {0};
    cr_assert_eq(hush_collector_config_args(&c, 7, argv, &help, &err), 0, "%s", err.msg);
    cr_assert_eq(c.port, 9001, "flags after --config win");
    cr_assert_str_eq(c.store, "sqlite:/tmp/x.db");
    cr_assert(!c.sync_full);
    cr_assert_eq(c.threads, 3);
    cr_assert(c.demo);
    unlink(path);
}

Test(config, errors_name_the_setting)
{
    hush_collector_config c;
    hush_collector_config_defaults(&c);
    bool help = false;
    struct {
        char *args[3];
        const char *fragment;
    } cases[] = {
        {{"hushd", "--port", "70000"}, "port"},
        {{"hushd", "--store", "mysql://x"}, "sqlite:PATH or postgres://"},
        {{"hushd", "--sync", "sometimes"}, "sync"},
        {{"hushd", "--colour", "red"}, "unknown setting \"colour\""},
        {{"hushd", "--estimates", "secret"}, "estimates"},
        {{"hushd", "--config", "/nonexistent/hushd.conf"}, "cannot open"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hush_err err = {0};
        cr_assert_neq(hush_collector_config_args(&c, 3, cases[i].args, &help, &err), 0,
                      "case %zu", i);
        cr_assert(strstr(err.msg, cases[i].fragment) != NULL, "\"%s\" lacks \"%s\"",
                  err.msg, cases[i].fragment);
    }
    char *missing[] = {"hushd", "--port"};
    cr_assert_neq(hush_collector_config_args(&c, 2, missing, &help, NULL), 0);
    char *h[] = {"hushd", "--help"};
    cr_assert_eq(hush_collector_config_args(&c, 2, h, &help, NULL), 0);
    cr_assert(help);
    cr_assert(strstr(hush_collector_usage(), "--store") != NULL);
}

Test(config, ui_and_cors_origins)
{
    hush_collector_config c;
    hush_collector_config_defaults(&c);
    cr_assert(!c.ui_off, "the dashboard is on by default");
    cr_assert_str_eq(c.cors_origin, "", "no other origin by default");
    hush_err err = {0};
    cr_assert_eq(hush_collector_config_set(&c, "ui", "off", &err), 0, "%s", err.msg);
    cr_assert(c.ui_off);
    cr_assert_neq(hush_collector_config_set(&c, "ui", "no", &err), 0);
    cr_assert(c.ui_off, "a refused value changes nothing");
    hush_err_clear(&err);
    cr_assert_eq(
        hush_collector_config_set(
            &c, "cors-origin", "https://dash.example:8443, http://localhost:3000", &err),
        0, "%s", err.msg);
    cr_assert_eq(hush_collector_config_set(&c, "cors-origin", "*", &err), 0);
    const char *bad[] = {"dash.example",           "https://",
                         "https://a.example/path", "ftp://a.example",
                         "https://u@a.example",    "https://a.example, x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hush_err_clear(&err);
        cr_assert_neq(hush_collector_config_set(&c, "cors-origin", bad[i], &err), 0, "%s",
                      bad[i]);
        cr_assert(strstr(err.msg, "cors-origin") != NULL, "%s", err.msg);
        cr_assert_str_eq(c.cors_origin, "*", "a refused list changes nothing");
    }
}
