/*
 * routes.c - the route table's labels (routes.h): each route's path
 * pattern and method, for the access log and hush_http_requests_total.
 */
#include "routes.h"

/* The labels of hush_http_requests_total, from the route table. */
static const char *const route_names[ROUTE_COUNT] = {
#define ROUTE_PATH(name, method, path, flags, what) path,
    HUSH__ROUTES(ROUTE_PATH)
#undef ROUTE_PATH
        "other"};
static const char *const route_methods[ROUTE_COUNT] = {
#define ROUTE_METHOD(name, method, path, flags, what) #method,
    HUSH__ROUTES(ROUTE_METHOD)
#undef ROUTE_METHOD
        "any"};

/* Which routes anyone may GET, from the table. */
#define ROUTE_IS_GET 1
#define ROUTE_IS_POST 0
static const bool route_public_get[ROUTE_COUNT] = {
#define ROUTE_PUBLIC(name, method, path, flags, what) \
    ROUTE_IS_##method && ((flags)&ROUTE_ADMIN) == 0,
    HUSH__ROUTES(ROUTE_PUBLIC)
#undef ROUTE_PUBLIC
        false};

bool hush__route_public_get(enum hush__route r)
{
    return (int)r >= 0 && r < ROUTE_COUNT && route_public_get[r];
}

const char *hush__route_name(enum hush__route r)
{
    return (int)r >= 0 && r < ROUTE_COUNT ? route_names[r] : "other";
}

const char *hush__route_method(enum hush__route r)
{
    return (int)r >= 0 && r < ROUTE_COUNT ? route_methods[r] : "any";
}
