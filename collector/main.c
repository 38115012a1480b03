/*
 * main.c - hushd: configure, start, wait for SIGTERM or SIGINT, stop
 * gracefully, exit 0.  SIGHUP reopens the access log and re-reads the admin
 * token (hush_collector_reload) and keeps serving.
 *
 * Signals are blocked before any thread starts and taken with sigwait in
 * this thread, so no server thread is ever interrupted by one.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hush_collector.h"

/* The settings from the arguments (--version and --check-config are
 * hushd's own); -1 to go on, else the exit status. */
static int configure(int argc, char **argv, hush_collector_config *cfg)
{
    bool check = false;
    int kept = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("hushd %s\n", HUSH_VERSION_STRING);
            return 0;
        }
        if (strcmp(argv[i], "--check-config") == 0) {
            check = true; /* taken out: the rest is the configuration */
        } else {
            argv[kept++] = argv[i];
        }
    }
    hush_collector_config_defaults(cfg);
    hush_err err = {0};
    bool help = false;
    if (hush_collector_config_args(cfg, kept, argv, &help, &err) != 0) {
        fprintf(stderr, "hushd: %s\n%s", err.msg, hush_collector_usage());
        return 2;
    }
    if (help) {
        fputs(hush_collector_usage(), stdout);
        return 0;
    }
    if (!check) {
        return -1;
    }
    if (hush_collector_config_check(cfg, &err) != 0) {
        fprintf(stderr, "hushd: configuration: %s\n", err.msg);
        return 1;
    }
    printf("hushd: configuration OK (listen %s:%u, store %s, keys in %s)\n", cfg->listen,
           cfg->port, cfg->store, cfg->key_dir);
    return 0;
}

/* What a first-time user can paste (--demo). */
static void print_tour(const hush_collector_config *cfg, unsigned port)
{
    const char *l = cfg->listen;
    fprintf(stderr,
            "\nOpen the dashboard: http://%s:%u/ui/\n"
            "demo-emoji holds 20,000 reports from simulated devices.\n"
            "\nTry it:\n"
            "  curl -s http://%s:%u/healthz\n"
            "  curl -s http://%s:%u/v1/campaigns\n"
            "  curl -si http://%s:%u/v1/campaigns/demo-emoji   # signed: Hush-Signature\n"
            "  curl -s http://%s:%u/v1/keys\n"
            "  # a batch of 3 randomized GRR reports (values are candidate indices):\n"
            "  curl -s -H 'Content-Type: application/json' -d "
            "'{\"campaign\":\"demo-emoji\",\"round\":1,"
            "\"batch_id\":\"'$(head -c16 /dev/urandom | base64)'\",\"reports\":[0,1,0]}' "
            "http://%s:%u/v1/reports\n"
            "  curl -s 'http://%s:%u/v1/campaigns/demo-emoji/estimates?top=5'\n"
            "  # create a campaign (admin):\n"
            "  curl -s -H \"Authorization: Bearer $(cat %s)\" -H 'Content-Type: "
            "application/json' -d '{\"name\":\"Colours\",\"kind\":\"poll\","
            "\"candidates\":[\"red\",\"green\",\"blue\"],\"epsilon\":2}' "
            "http://%s:%u/v1/campaigns\n"
            "  curl -s http://%s:%u/metrics | head\n\n"
            "Ctrl-C stops the collector (gracefully).\n",
            l, port, l, port, l, port, l, port, l, port, l, port, l, port,
            cfg->admin_token_file, l, port, l, port);
}

/* Serves until SIGTERM or SIGINT; SIGHUP reloads. */
static int wait_for_stop(hush_collector *h, const sigset_t *set)
{
    int sig = 0;
    for (;;) {
        sigwait(set, &sig);
        if (sig != SIGHUP) {
            return sig;
        }
        hush_err rerr = {0};
        if (hush_collector_reload(h, &rerr) != 0) {
            fprintf(stderr, "hushd: error: SIGHUP: %s (kept the previous settings)\n",
                    rerr.msg);
        } else {
            fprintf(stderr, "hushd: SIGHUP: access log reopened, admin token re-read\n");
        }
    }
}

/* The store as the log may show it: a PostgreSQL URI's password masked, a
 * key=value string that holds one not shown at all. */
static void store_for_log(const char *store, char *out, size_t cap)
{
    const char *scheme = strstr(store, "://");
    const char *at = scheme != NULL ? strchr(scheme + 3, '@') : NULL;
    const char *colon =
        at != NULL ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (colon != NULL) {
        snprintf(out, cap, "%.*s:***%s", (int)(colon - store), store, at);
    } else if (strstr(store, "password") != NULL) {
        snprintf(out, cap, "a PostgreSQL database (its conninfo holds a password)");
    } else {
        snprintf(out, cap, "%s", store);
    }
}

int main(int argc, char **argv)
{
    hush_collector_config cfg;
    int status = configure(argc, argv, &cfg);
    if (status >= 0) {
        return status;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    hush_collector *h = NULL;
    hush_err err = {0};
    if (hush_collector_start(&cfg, &h, &err) != 0) {
        fprintf(stderr, "hushd: %s\n", err.msg);
        return 1;
    }
    unsigned port = hush_collector_port(h);
    if (cfg.has_test_noise_seed) {
        fprintf(stderr, "hushd: WARNING: --test-noise-seed makes the central DP noise of "
                        "federated rounds predictable; it is for tests only and voids "
                        "every central privacy guarantee\n");
    }
    char store[sizeof cfg.store + 64];
    store_for_log(cfg.store, store, sizeof store);
    bool sqlite = strncmp(cfg.store, "sqlite:", 7) == 0;
    fprintf(stderr, "hushd: listening on http://%s:%u (store %s%s%s, keys in %s)\n",
            cfg.listen, port, store, sqlite ? "" : ", node ", sqlite ? "" : cfg.node_id,
            cfg.key_dir);
    if (cfg.demo) {
        print_tour(&cfg, port);
    }
    int sig = wait_for_stop(h, &set);
    fprintf(stderr, "hushd: %s received, stopping\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    hush_collector_stop(h);
    fprintf(stderr, "hushd: stopped\n");
    return 0;
}
