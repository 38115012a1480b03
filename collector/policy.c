/*
 * policy.c - the refinement policy (docs/generators.md): what a campaign's
 * "refine" and a close request may say, read by one small reader per
 * field, and the policy a close uses (the spec's, then the request's).
 * Campaign creation checks a spec's "refine" here; the round close reads
 * it here; neither calls the other.
 */
#include <stdio.h>

#include "domain.h"

#define MAX_POPULATION 100000

/* ---- the policy: one small reader per field ---- */

static int bad_policy(hush__fail *f, const char *what)
{
    return hush__fail_set(f, HUSH_EINVAL, "invalid_policy", "%s", what);
}

/* An integer in [lo, hi] into *out, else the complaint. */
static int int_in(const json_t *v, json_int_t lo, json_int_t hi, int64_t *out,
                  hush__fail *f, const char *what)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        return bad_policy(f, what);
    }
    *out = json_integer_value(v);
    return 0;
}

/* A number in [lo, hi] into *out, else the complaint. */
static int num_in(const json_t *v, double lo, double hi, double *out, hush__fail *f,
                  const char *what)
{
    if (!json_is_number(v) || !(json_number_value(v) >= lo) ||
        !(json_number_value(v) <= hi)) {
        return bad_policy(f, what);
    }
    *out = json_number_value(v);
    return 0;
}

/* Which of the names (NULL-terminated) v is, or -1. */
static int one_of(const json_t *v, const char *const *names)
{
    const char *s = json_string_value(v);
    for (int i = 0; s != NULL && names[i] != NULL; i++) {
        if (strcmp(s, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static int field_keep(const json_t *v, hush__policy *p, hush__fail *f)
{
    return int_in(v, 1, MAX_POPULATION, &p->keep, f,
                  "\"keep\" must be an integer in [1, 100000]");
}

static int field_min_z(const json_t *v, hush__policy *p, hush__fail *f)
{
    return num_in(v, 0, 1e6, &p->min_z, f, "\"min_z\" must be a number in [0, 1e6]");
}

static int field_population(const json_t *v, hush__policy *p, hush__fail *f)
{
    return int_in(v, 1, MAX_POPULATION, &p->population, f,
                  "\"population\" must be an integer in [1, 100000]");
}

static int field_generator(const json_t *v, hush__policy *p, hush__fail *f)
{
    static const char *const names[] = {"builtin", "retrieval", "external", NULL};
    int g = one_of(v, names);
    if (g < 0) {
        return bad_policy(f, "\"generator\" must be \"builtin\", \"retrieval\" or "
                             "\"external\"");
    }
    p->retrieval = g == 1;
    p->external = g == 2;
    p->generator_set = true;
    return 0;
}

static int field_selection(const json_t *v, hush__policy *p, hush__fail *f)
{
    static const char *const names[] = {"top", "pe", NULL};
    int sel = one_of(v, names);
    if (sel < 0) {
        return bad_policy(f, "\"selection\" must be \"top\" or \"pe\"");
    }
    p->pe = sel == 1;
    return 0;
}

static int field_pe_threshold(const json_t *v, hush__policy *p, hush__fail *f)
{
    p->has_pe_threshold = true;
    return num_in(v, 0, 100, &p->pe_threshold, f,
                  "\"pe_threshold\" must be a number in [0, 100]");
}

static int field_substitute(const json_t *v, hush__policy *p, hush__fail *f)
{
    p->has_substitute = true;
    return num_in(v, 0, 0.5, &p->substitute, f,
                  "\"substitute\" must be a share in [0, 0.5]");
}

static int field_votes(const json_t *v, hush__policy *p, hush__fail *f)
{
    static const char *const names[] = {"estimates", "shuffled", NULL};
    int votes = one_of(v, names);
    if (votes < 0) {
        return bad_policy(f, "\"votes\" must be \"estimates\" or \"shuffled\"");
    }
    p->shuffled_votes = votes == 1;
    return 0;
}

/* A decimal string carries all 64 bits (JavaScript and jq round integers
 * beyond 2^53); a number up to 2^53 is taken too. */
static int field_seed(const json_t *v, hush__policy *p, hush__fail *f)
{
    uint64_t sv = 0;
    bool ok = json_is_string(v) ? hush_parse_u64(json_string_value(v), 0, UINT64_MAX,
                                                 "seed", &sv, NULL) == 0
                                : json_is_integer(v) && json_integer_value(v) >= 0 &&
                                      json_integer_value(v) <= ((json_int_t)1 << 53);
    if (!ok) {
        return bad_policy(f,
                          "\"seed\" must be a decimal string of a 64-bit number (or an "
                          "integer up to 2^53)");
    }
    p->has_seed = true;
    p->seed = json_is_string(v) ? sv : (uint64_t)json_integer_value(v);
    return 0;
}

static int field_auto(const json_t *v, hush__policy *p, hush__fail *f)
{
    json_t *r = NULL, *s = NULL;
    json_error_t jerr;
    if (!json_is_object(v) ||
        json_unpack_ex((json_t *)v, &jerr, JSON_STRICT, "{s?o, s?o}", "reports", &r,
                       "seconds", &s) != 0 ||
        (r != NULL && (!json_is_integer(r) || json_integer_value(r) < 1)) ||
        (s != NULL && (!json_is_integer(s) || json_integer_value(s) < 1)) ||
        (r == NULL && s == NULL)) {
        return bad_policy(f, "\"auto\" must be {\"reports\": N} and/or {\"seconds\": T}, "
                             "positive integers");
    }
    p->auto_reports = r != NULL ? json_integer_value(r) : 0;
    p->auto_seconds = s != NULL ? json_integer_value(s) : 0;
    return 0;
}

/* Where a field may appear: the campaign spec's "refine", a close request,
 * or both; NULL readers are the close request's own (read by the close). */
enum { IN_SPEC = 1, IN_CLOSE = 2, IN_BOTH = 3 };
static const struct {
    const char *name;
    int where;
    int (*read)(const json_t *v, hush__policy *p, hush__fail *f);
} policy_fields[] = {
    {"keep", IN_BOTH, field_keep},
    {"min_z", IN_BOTH, field_min_z},
    {"population", IN_BOTH, field_population},
    {"generator", IN_BOTH, field_generator},
    {"selection", IN_BOTH, field_selection},
    {"pe_threshold", IN_BOTH, field_pe_threshold},
    {"substitute", IN_BOTH, field_substitute},
    {"votes", IN_BOTH, field_votes},
    {"seed", IN_BOTH, field_seed},
    {"auto", IN_SPEC, field_auto},
    {"metrics", IN_CLOSE, NULL},
    {"round", IN_CLOSE, NULL},
};

/* Reads policy fields from `o` over `p`; `closing` allows the close
 * request's own fields, otherwise "auto" (the campaign spec's). */
static int parse_policy(const json_t *o, hush__policy *p, bool closing, hush__fail *f)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        size_t i = 0, n = sizeof policy_fields / sizeof policy_fields[0];
        while (i < n &&
               (strcmp(key, policy_fields[i].name) != 0 ||
                (policy_fields[i].where & (closing ? IN_CLOSE : IN_SPEC)) == 0)) {
            i++;
        }
        if (i == n) {
            return hush__fail_set(f, HUSH_EINVAL, "invalid_policy",
                                  "unknown field \"%s\"", key);
        }
        int rc = policy_fields[i].read != NULL ? policy_fields[i].read(v, p, f) : 0;
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int hush__refine_check(const json_t *refine, hush__fail *f)
{
    hush__policy p = {0};
    if (!json_is_object(refine)) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_policy",
                              "\"refine\" must be an object");
    }
    return parse_policy(refine, &p, false, f);
}

int hush__policy_load(const hush__campaign *c, const json_t *req, hush__policy *p,
                      hush__fail *f)
{
    memset(p, 0, sizeof *p);
    json_t *spec = json_loads(c->spec, 0, NULL);
    const json_t *refine = json_object_get(spec, "refine");
    int rc = refine != NULL ? parse_policy(refine, p, false, f) : 0;
    json_decref(spec);
    if (rc == 0 && req != NULL) {
        rc = parse_policy(req, p, true, f);
    }
    return rc;
}
