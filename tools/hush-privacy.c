/*
 * hush-privacy - the operator's planning tool: what a privacy setting costs
 * in accuracy, before a campaign is created.
 *
 *   hush-privacy ldp --domain D --epsilon E --reports N
 *                    [--mechanism M] [--max-report-bits B]
 *   hush-privacy dpfedavg --sampling-rate Q --rounds T --delta D
 *                    (--noise-multiplier Z | --target-epsilon E)
 *
 * prints one JSON document: the chosen mechanism (recommended, or the one
 * named), its report size, and the expected standard error of each count and
 * of each frequency at n reports (for an item of true count 0; the error
 * shrinks slightly for frequent items), plus the same figures for every other
 * mechanism so the choice can be checked.
 *
 *   hush-privacy secagg --devices N --dropout F --dishonest F [--bits B]
 *                    [--length M]
 *   hush-privacy ddg --dim D --clip C --min-devices M --max-devices N
 *                    --bits B --participations R --delta D
 *                    (--noise-multiplier Z | --target-epsilon E)
 *
 * secagg prints a secure-aggregation round's graph degree, threshold and
 * signature quorum (hush_secagg_choose).  ddg plans distributed DP: the
 * lattice, each device's noise, the rounding's cost and the epsilon a
 * device spends over R participations (no amplification: the collector
 * sees who takes part), or the noise a target epsilon needs.
 *
 * dpfedavg plans a federated learning task: with a noise multiplier it
 * prints the (epsilon, delta) spent after T rounds of Poisson sampling at
 * rate Q (RDP accountant, docs/privacy.md) and the best order; with a
 * target epsilon it prints the smallest noise multiplier that meets it.
 *
 * Exit status: 0 on success, 2 on a usage error (message on stderr).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hush_privacy.h"
#include "hush_secagg.h"

static void usage(FILE *out)
{
    fputs("usage: hush-privacy ldp --domain D --epsilon E --reports N\n"
          "                        [--mechanism auto|grr|oue|olh|hr|cms|hcms]\n"
          "                        [--max-report-bits B]\n"
          "\n"
          "       hush-privacy dpfedavg --sampling-rate Q --rounds T --delta D\n"
          "                        (--noise-multiplier Z | --target-epsilon E)\n"
          "\n"
          "       hush-privacy secagg --devices N --dropout F --dishonest F\n"
          "                        [--bits B] [--length M]\n"
          "\n"
          "       hush-privacy ddg --dim D --clip C --min-devices M --max-devices N\n"
          "                        --bits B --participations R --delta D\n"
          "                        (--noise-multiplier Z | --target-epsilon E)\n"
          "\n"
          "       hush-privacy shuffle --reports N --epsilon0 E --delta D\n"
          "\n"
          "ldp: the local-DP mechanism for a domain of D values at epsilon E per\n"
          "report, its report size, and the expected standard error of each count\n"
          "and each frequency after N reports.\n"
          "dpfedavg: the epsilon a DP-FedAvg task spends after T rounds sampling a\n"
          "share Q of the devices with noise multiplier Z, or the noise multiplier\n"
          "a target epsilon needs.\n"
          "secagg: a secure-aggregation round's graph degree k, threshold t and\n"
          "signature quorum q for N devices, a dropout and a dishonest share.\n"
          "ddg: distributed DP (the distributed discrete Gaussian) for updates of\n"
          "D values clipped to C, summed mod 2^B over M..N devices: the lattice,\n"
          "each device's noise and the epsilon over R participations.\n"
          "shuffle: the central (epsilon, delta) of N reports, each E-LDP, shuffled\n"
          "by a party that does not collude with the collector (Feldman, McMillan,\n"
          "Talwar 2021): the closed form where it is valid, and the numerical\n"
          "bounds.  JSON on stdout.\n",
          out);
}

static int fail_usage(const char *msg)
{
    fprintf(stderr, "hush-privacy: %s\n", msg);
    usage(stderr);
    return 2;
}

/* Describes one mechanism at (params, n) as a JSON object, or NULL if the
 * parameters are not valid for it (reason in err). */
static json_t *describe(const hush_ldp_params *params, double n, hush_err *err)
{
    hush_ldp *m = NULL;
    if (hush_ldp_new(params, &m, err) != 0) {
        return NULL;
    }
    const hush_ldp_params *p = hush_ldp_get_params(m);
    double var = hush_ldp_variance(m, n, 0.0, 0.0);
    double se = sqrt(var);
    json_t *o = json_pack("{s:s, s:I, s:I, s:f, s:f, s:f}", "mechanism",
                          hush_ldp_mechanism_name(p->mechanism), "report_bits",
                          (json_int_t)hush_ldp_report_bits(m), "report_bytes",
                          (json_int_t)hush_ldp_report_size(m), "std_error_count", se,
                          "std_error_frequency", se / n, "ci95_halfwidth_count",
                          1.959963984540054 * se);
    if (o != NULL && p->mechanism == HUSH_LDP_OLH) {
        json_object_set_new(o, "olh_g", json_integer(p->olh_g));
    }
    if (o != NULL && (p->mechanism == HUSH_LDP_CMS || p->mechanism == HUSH_LDP_HCMS)) {
        json_object_set_new(o, "sketch_rows", json_integer(p->sketch_rows));
        json_object_set_new(o, "sketch_cols", json_integer(p->sketch_cols));
    }
    hush_ldp_free(m);
    return o;
}

static int cmd_ldp(int argc, char **argv)
{
    uint64_t domain = 0, reports = 0, max_bits = 0;
    double epsilon = 0.0;
    hush_ldp_mechanism mech = HUSH_LDP_AUTO;
    hush_err err = {0};
    bool have_d = false, have_e = false, have_n = false;
    for (int i = 0; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "hush-privacy: %s needs a value\n", flag);
            return 2;
        }
        const char *val = argv[++i];
        int rc;
        if (strcmp(flag, "--domain") == 0) {
            rc = hush_parse_u64(val, 2, HUSH_LDP_DOMAIN_MAX, "--domain", &domain, &err);
            have_d = true;
        } else if (strcmp(flag, "--epsilon") == 0) {
            rc = hush_parse_double(val, 0.0, HUSH_LDP_EPSILON_MAX, "--epsilon", &epsilon,
                                   &err);
            if (rc == 0 && epsilon <= 0.0) {
                rc = hush_err_set(&err, HUSH_ERANGE, "--epsilon must be > 0 (got %s)",
                                  val);
            }
            have_e = true;
        } else if (strcmp(flag, "--reports") == 0) {
            rc = hush_parse_u64(val, 1, UINT64_C(1) << 53, "--reports", &reports, &err);
            have_n = true;
        } else if (strcmp(flag, "--max-report-bits") == 0) {
            rc = hush_parse_u64(val, 1, 1u << 30, "--max-report-bits", &max_bits, &err);
        } else if (strcmp(flag, "--mechanism") == 0) {
            rc = hush_ldp_mechanism_parse(val, &mech, &err);
        } else {
            fprintf(stderr, "hush-privacy: unknown option %s\n", flag);
            usage(stderr);
            return 2;
        }
        if (rc != 0) {
            fprintf(stderr, "hush-privacy: %s\n", err.msg);
            return 2;
        }
    }
    if (!have_d || !have_e || !have_n) {
        return fail_usage("ldp needs --domain, --epsilon and --reports");
    }
    hush_ldp_params chosen = {
        .mechanism = mech, .domain = (uint32_t)domain, .epsilon = epsilon};
    if (mech == HUSH_LDP_AUTO &&
        hush_ldp_recommend((uint32_t)domain, epsilon, (unsigned)max_bits, &chosen,
                           &err) != 0) {
        fprintf(stderr, "hush-privacy: %s\n", err.msg);
        return 2;
    }
    double n = (double)reports;
    json_t *main_obj = describe(&chosen, n, &err);
    if (main_obj == NULL) {
        fprintf(stderr, "hush-privacy: %s\n", err.msg);
        return 2;
    }
    json_t *alts = json_array();
    for (int k = 1; k <= HUSH_LDP_MECHANISM_COUNT; k++) {
        hush_ldp_params p = {.mechanism = (hush_ldp_mechanism)k,
                             .domain = (uint32_t)domain,
                             .epsilon = epsilon};
        hush_err e2 = {0};
        json_t *o = describe(&p, n, &e2);
        if (o == NULL) {
            o = json_pack("{s:s, s:s}", "mechanism", hush_ldp_mechanism_name(p.mechanism),
                          "unavailable", e2.msg);
        } else if (max_bits != 0 && json_integer_value(json_object_get(
                                        o, "report_bits")) > (json_int_t)max_bits) {
            json_object_set_new(o, "exceeds_max_report_bits", json_true());
        }
        json_array_append_new(alts, o);
    }
    json_t *doc =
        json_pack("{s:s, s:I, s:f, s:I, s:s, s:o, s:o}", "command", "ldp", "domain",
                  (json_int_t)domain, "epsilon", epsilon, "reports", (json_int_t)reports,
                  "selection", mech == HUSH_LDP_AUTO ? "recommended" : "requested",
                  "mechanism", main_obj, "all_mechanisms", alts);
    if (max_bits != 0) {
        json_object_set_new(doc, "max_report_bits", json_integer((json_int_t)max_bits));
    }
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    fputc('\n', stdout);
    json_decref(doc);
    return 0;
}

static int number(const char *flag, const char *v, double *out)
{
    char *end = NULL;
    *out = strtod(v, &end);
    if (end == v || *end != '\0' || !isfinite(*out)) {
        fprintf(stderr, "hush-privacy: %s needs a number (got \"%s\")\n", flag, v);
        return -1;
    }
    return 0;
}

static int cmd_dpfedavg(int argc, char **argv)
{
    double q = NAN, z = NAN, delta = NAN, target = NAN, rounds = NAN;
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i];
        if (i + 1 >= argc) {
            return fail_usage("every option needs a value");
        }
        const char *v = argv[++i];
        double *dst = strcmp(f, "--sampling-rate") == 0      ? &q
                      : strcmp(f, "--noise-multiplier") == 0 ? &z
                      : strcmp(f, "--delta") == 0            ? &delta
                      : strcmp(f, "--target-epsilon") == 0   ? &target
                      : strcmp(f, "--rounds") == 0           ? &rounds
                                                             : NULL;
        if (dst == NULL) {
            return fail_usage("unknown option for dpfedavg");
        }
        if (number(f, v, dst) != 0) {
            return 2;
        }
    }
    if (isnan(q) || isnan(delta) || isnan(rounds) || isnan(z) == isnan(target)) {
        return fail_usage("dpfedavg needs --sampling-rate, --rounds, --delta, and one of "
                          "--noise-multiplier or --target-epsilon");
    }
    if (!(rounds >= 1) || rounds != floor(rounds) || rounds > 1e9) {
        return fail_usage("--rounds must be a positive integer");
    }
    hush_err err = {0};
    double eps = 0, order = 0;
    if (isnan(z) &&
        hush_rdp_noise_for_epsilon(q, (uint64_t)rounds, delta, target, &z, &err) != 0) {
        fprintf(stderr, "hush-privacy: %s\n", err.msg);
        return 2;
    }
    if (hush_rdp_epsilon(q, z, (uint64_t)rounds, delta, &eps, &order, &err) != 0) {
        fprintf(stderr, "hush-privacy: %s\n", err.msg);
        return 2;
    }
    json_t *doc = json_pack(
        "{s:s, s:f, s:I, s:f, s:f, s:f, s:f, s:s}", "accountant", "rdp-sampled-gaussian",
        "sampling_rate", q, "rounds", (json_int_t)rounds, "noise_multiplier", z, "delta",
        delta, "epsilon", eps, "best_order", order, "conversion", "balle2020");
    if (!isnan(target)) {
        json_object_set_new(doc, "target_epsilon", json_real(target));
    }
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    printf("%s\n", text);
    free(text);
    json_decref(doc);
    return 0;
}

/* --flag value pairs into the named slots (NAN: not given). */
static int flags(int argc, char **argv, const char *const *names, double *slots, size_t n,
                 const char *cmd)
{
    for (size_t j = 0; j < n; j++) {
        slots[j] = NAN;
    }
    for (int i = 0; i < argc; i += 2) {
        if (i + 1 >= argc) {
            return fail_usage("every option needs a value");
        }
        size_t j = 0;
        while (j < n && strcmp(argv[i], names[j]) != 0) {
            j++;
        }
        if (j == n) {
            fprintf(stderr, "hush-privacy: unknown option %s for %s\n", argv[i], cmd);
            return 2;
        }
        if (number(argv[i], argv[i + 1], &slots[j]) != 0) {
            return 2;
        }
    }
    return 0;
}

static void print_doc(json_t *doc)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    printf("%s\n", text);
    free(text);
    json_decref(doc);
}

static int cmd_secagg(int argc, char **argv)
{
    static const char *const names[] = {"--devices", "--dropout", "--dishonest", "--bits",
                                        "--length"};
    double v[5];
    if (flags(argc, argv, names, v, 5, "secagg") != 0) {
        return 2;
    }
    if (isnan(v[0]) || isnan(v[1]) || isnan(v[2]) || !(v[0] >= 3 && v[0] <= 1e5)) {
        return fail_usage("secagg needs --devices (3 to 100000), --dropout, --dishonest");
    }
    hush_secagg_params p;
    hush_err err = {0};
    if (hush_secagg_choose((uint32_t)v[0], v[1], v[2], 40, 20,
                           isnan(v[3]) ? 32 : (uint32_t)v[3],
                           isnan(v[4]) ? 1 : (uint32_t)v[4], &p, &err) != 0) {
        fprintf(stderr, "hush-privacy: %s\n", err.msg);
        return 2;
    }
    print_doc(json_pack("{s:I, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:s}", "devices",
                        (json_int_t)p.n, "dropout", v[1], "dishonest", v[2], "k",
                        (json_int_t)p.k, "t", (json_int_t)p.t, "q", (json_int_t)p.q,
                        "security_bits", (json_int_t)40, "correctness_bits",
                        (json_int_t)20, "graph", p.k == p.n - 1 ? "complete" : "harary"));
    return 0;
}

static int cmd_shuffle(int argc, char **argv)
{
    static const char *const names[] = {"--reports", "--epsilon0", "--delta"};
    double v[3];
    if (flags(argc, argv, names, v, 3, "shuffle") != 0) {
        return 2;
    }
    if (!(v[0] >= 2 && v[0] <= 1e12) || !(v[1] > 0 && v[1] <= 30) ||
        !(v[2] > 0 && v[2] < 1)) {
        return fail_usage("shuffle needs --reports (2 to 1e12), --epsilon0 (0 to 30] and "
                          "--delta in (0, 1)");
    }
    uint64_t n = (uint64_t)v[0];
    double closed = hush_shuffle_closed_form(n, v[1], v[2]);
    double up = hush_shuffle_numerical(n, v[1], v[2], true);
    double lo = hush_shuffle_numerical(n, v[1], v[2], false);
    print_doc(json_pack("{s:I, s:f, s:f, s:o, s:f, s:f, s:b, s:s}", "reports",
                        (json_int_t)n, "epsilon0", v[1], "delta", v[2], "closed_form",
                        isnan(closed) ? json_null() : json_real(closed),
                        "numerical_upper", up, "numerical_lower", lo, "amplified",
                        up < v[1] - 0.01, "assumes",
                        "a uniform shuffle by a party that does not collude with the "
                        "collector; one report per device per shuffled batch"));
    return 0;
}

/* The plan at noise multiplier z and its epsilon over `rounds`. */
static int ddg_at(const double *v, double z, hush_ddg *g, double *eps, hush_err *err)
{
    static const uint8_t seed[32] = {0}; /* the lattice does not depend on it */
    int rc = hush_ddg_plan((uint32_t)v[0], v[1], (uint32_t)v[2], (uint32_t)v[3],
                           (uint32_t)v[4], z, seed, g, err);
    return rc != 0 ? rc : hush_ddg_epsilon(g, (uint64_t)v[5], v[6], eps, err);
}

static int cmd_ddg(int argc, char **argv)
{
    static const char *const names[] = {
        "--dim",           "--clip",           "--min-devices", "--max-devices",
        "--bits",          "--participations", "--delta",       "--noise-multiplier",
        "--target-epsilon"};
    double v[9];
    if (flags(argc, argv, names, v, 9, "ddg") != 0) {
        return 2;
    }
    for (int i = 0; i < 7; i++) {
        if (isnan(v[i]) || v[i] <= 0) {
            return fail_usage("ddg needs --dim, --clip, --min-devices, --max-devices, "
                              "--bits, --participations, --delta (all positive)");
        }
    }
    if (isnan(v[7]) == isnan(v[8])) {
        return fail_usage("ddg needs one of --noise-multiplier or --target-epsilon");
    }
    hush_ddg g;
    hush_err err = {0};
    double eps = 0, z = v[7];
    static const uint8_t seed[32] = {0}; /* the lattice does not depend on it */
    if (isnan(z) &&
        hush_ddg_plan_for_epsilon((uint32_t)v[0], v[1], (uint32_t)v[2], (uint32_t)v[3],
                                  (uint32_t)v[4], (uint64_t)v[5], v[6], v[8], seed, &g,
                                  &z, &err) != 0) {
        fprintf(stderr, "hush-privacy: %s\n", err.msg);
        return 2;
    }
    if (ddg_at(v, z, &g, &eps, &err) != 0) {
        fprintf(stderr, "hush-privacy: %s\n", err.msg);
        return 2;
    }
    double z_real = g.sigma * sqrt((double)g.n_min) / g.delta2;
    json_t *doc = json_pack(
        "{s:s, s:I, s:I, s:f, s:I, s:I, s:I, s:f, s:f, s:I, s:f, s:f, s:f, s:f, s:I, "
        "s:f}",
        "accountant", "distributed-discrete-gaussian (KLS21), per participation", "dim",
        (json_int_t)g.dim, "padded", (json_int_t)g.padded, "clip", g.clip, "min_devices",
        (json_int_t)g.n_min, "max_devices", (json_int_t)g.n_max, "bits",
        (json_int_t)g.bits, "gamma", g.gamma, "delta2", g.delta2, "sigma",
        (json_int_t)g.sigma, "noise_multiplier", z_real, "rounding_overhead",
        g.delta2 * g.gamma / g.clip - 1.0, "device_noise_sd", g.sigma * g.gamma,
        "sum_noise_sd_at_min_devices", g.sigma * g.gamma * sqrt((double)g.n_min),
        "participations", (json_int_t)v[5], "delta", v[6]);
    json_object_set_new(doc, "epsilon", json_real(eps));
    if (!isnan(v[8])) {
        json_object_set_new(doc, "target_epsilon", json_real(v[8]));
    }
    print_doc(doc);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("hush-privacy %s\n", HUSH_VERSION_STRING);
        return 0;
    }
    if (hush_global_init() != 0) {
        fprintf(stderr, "hush-privacy: libsodium failed to initialise\n");
        return 1;
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "ldp") == 0) {
        return cmd_ldp(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "dpfedavg") == 0) {
        return cmd_dpfedavg(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "secagg") == 0) {
        return cmd_secagg(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "shuffle") == 0) {
        return cmd_shuffle(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "ddg") == 0) {
        return cmd_ddg(argc - 2, argv + 2);
    }
    fprintf(stderr, "hush-privacy: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
