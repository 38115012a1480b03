/*
 * routes.h - every route of hushd's REST API, in one table.
 *
 * One line per route: its name, method, path pattern ({id} is one path
 * segment: a campaign or model id), flags, and what the admin check says
 * is refused ("creating a campaign needs the admin bearer token").  From
 * this table come the route enum, the metric labels (route, method), path
 * matching with 404/405, the checks the dispatcher makes before a handler
 * runs, and the handler each route calls: hush__api_<name> (api.h).
 * Adding a route is one line here and its handler.
 *
 * Flags, checked in this order before the handler runs:
 *   ROUTE_ADMIN     the admin bearer token (401)
 *   ROUTE_CAMPAIGN  {id} names a campaign (404 unknown_campaign)
 *   ROUTE_MODEL     {id} names a model task (404 unknown_model)
 *                   (without either flag {id} is only a path segment:
 *                   /ui/{id} is a file of the dashboard)
 *   ROUTE_JSON      Content-Type: application/json (415)
 *   ROUTE_JSON_OPT  the same, only when there is a body
 *   ROUTE_OBJECT    the body parsed as a JSON object (400 malformed);
 *                   with ROUTE_JSON_OPT an empty body is no object
 */
#ifndef HUSH_COLLECTOR_ROUTES_H
#define HUSH_COLLECTOR_ROUTES_H

#include <stdbool.h>

#define ROUTE_ADMIN 1u
#define ROUTE_CAMPAIGN 2u
#define ROUTE_MODEL 4u
#define ROUTE_JSON 8u
#define ROUTE_JSON_OPT 16u
#define ROUTE_OBJECT 32u

/* X(name, method, path, flags, admin_what) */
#define HUSH__ROUTES(X)                                                                  \
    X(root, GET, "/", 0, NULL)                                                           \
    X(ui_root, GET, "/ui", 0, NULL)                                                      \
    X(ui_index, GET, "/ui/", 0, NULL)                                                    \
    X(ui_asset, GET, "/ui/{id}", 0, NULL)                                                \
    X(openapi, GET, "/openapi.yaml", 0, NULL)                                            \
    X(healthz, GET, "/healthz", 0, NULL)                                                 \
    X(readyz, GET, "/readyz", 0, NULL)                                                   \
    X(metrics, GET, "/metrics", 0, NULL)                                                 \
    X(keys, GET, "/v1/keys", 0, NULL)                                                    \
    X(token_keys, GET, "/v1/tokens/keys", 0, NULL)                                       \
    X(tokens_issue, POST, "/v1/tokens", ROUTE_JSON | ROUTE_OBJECT, NULL)                 \
    X(keys_rotate, POST, "/v1/keys/rotate", ROUTE_ADMIN, "rotating the signing key")     \
    X(compact, POST, "/v1/store/compact", ROUTE_ADMIN, "compacting the store")           \
    X(reports, POST, "/v1/reports", ROUTE_JSON, NULL)                                    \
    X(campaigns_list, GET, "/v1/campaigns", 0, NULL)                                     \
    X(campaigns_create, POST, "/v1/campaigns", ROUTE_ADMIN | ROUTE_JSON | ROUTE_OBJECT,  \
      "creating a campaign")                                                             \
    X(campaign_get, GET, "/v1/campaigns/{id}", ROUTE_CAMPAIGN, NULL)                     \
    X(estimates, GET, "/v1/campaigns/{id}/estimates", ROUTE_CAMPAIGN, NULL)              \
    X(rounds_list, GET, "/v1/campaigns/{id}/rounds", ROUTE_CAMPAIGN, NULL)               \
    X(rounds_close, POST, "/v1/campaigns/{id}/rounds",                                   \
      ROUTE_ADMIN | ROUTE_CAMPAIGN | ROUTE_JSON_OPT | ROUTE_OBJECT, "closing a round")   \
    X(campaign_end, POST, "/v1/campaigns/{id}/end", ROUTE_ADMIN | ROUTE_CAMPAIGN,        \
      "ending a campaign")                                                               \
    X(campaign_archive, POST, "/v1/campaigns/{id}/archive",                              \
      ROUTE_ADMIN | ROUTE_CAMPAIGN, "archiving a campaign")                              \
    X(models_list, GET, "/v1/models", 0, NULL)                                           \
    X(models_create, POST, "/v1/models", ROUTE_ADMIN | ROUTE_JSON | ROUTE_OBJECT,        \
      "creating a model task")                                                           \
    X(model_get, GET, "/v1/models/{id}", ROUTE_MODEL, NULL)                              \
    X(model_updates, POST, "/v1/models/{id}/updates", ROUTE_MODEL | ROUTE_JSON, NULL)    \
    X(model_privacy, GET, "/v1/models/{id}/privacy", ROUTE_MODEL, NULL)                  \
    X(model_secagg_get, GET, "/v1/models/{id}/secagg", ROUTE_MODEL, NULL)                \
    X(model_secagg_post, POST, "/v1/models/{id}/secagg", ROUTE_MODEL | ROUTE_JSON, NULL) \
    X(model_rounds, GET, "/v1/models/{id}/rounds", ROUTE_MODEL, NULL)                    \
    X(model_close, POST, "/v1/models/{id}/rounds", ROUTE_ADMIN | ROUTE_MODEL,            \
      "closing a model round")                                                           \
    X(model_metrics, POST, "/v1/models/{id}/metrics",                                    \
      ROUTE_ADMIN | ROUTE_MODEL | ROUTE_JSON | ROUTE_OBJECT,                             \
      "recording a model round's metrics")

enum hush__route {
#define HUSH__ROUTE_ENUM(name, method, path, flags, what) ROUTE_##name,
    HUSH__ROUTES(HUSH__ROUTE_ENUM)
#undef HUSH__ROUTE_ENUM
        ROUTE_OTHER, /* no route: 400, 404, 405 and the like */
    ROUTE_COUNT
};

/* The route's path pattern and method ("other", "any" for ROUTE_OTHER):
 * the labels of hush_http_requests_total. */
const char *hush__route_name(enum hush__route r);
const char *hush__route_method(enum hush__route r);
/* Whether anyone may GET the route: no admin token (what --cors-origin
 * opens to other origins). */
bool hush__route_public_get(enum hush__route r);

#endif
