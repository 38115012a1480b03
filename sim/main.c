/*
 * main.c - hush-sim: which simulation to run.
 *
 *   hush-sim [refine] [options]   the synthetic-data loop (the default)
 *   hush-sim fl [options]         federated learning
 *
 * Both start real hushd processes: the hushd next to this binary unless
 * --hushd says otherwise.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("hush-sim %s\n", HUSH_VERSION_STRING);
        return 0;
    }
    static char hushd[4096];
    const char *found = NULL;
    ssize_t self = readlink("/proc/self/exe", hushd, sizeof hushd - 16);
    if (self > 0) {
        hushd[self] = '\0';
        char *slash = strrchr(hushd, '/');
        snprintf(slash + 1, sizeof hushd - (size_t)(slash + 1 - hushd), "hushd");
        found = hushd;
    }
    if (argc > 1 && strcmp(argv[1], "fl") == 0) {
        if (hush_global_init() != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
            sim_die("initialisation failed");
        }
        int rc = sim_fl_main(argc - 1, argv + 1, found);
        curl_global_cleanup();
        return rc;
    }
    if (argc > 1 && strcmp(argv[1], "refine") == 0) {
        argv[1] = argv[0];
        return sim_refine_main(argc - 1, argv + 1, found);
    }
    return sim_refine_main(argc, argv, found);
}
