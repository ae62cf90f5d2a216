/* The console's terminal endpoints (CONSOLE_SPEC §2), as routes of the
 * relay's HTTP router: POST /console/api/terminals {"thing","service"}
 * (signed in, CSRF), POST /console/api/terminals/ID/close, and the admin's
 * POST /console/api/things/NAME/hostkey/forget. Added before the console's
 * own /console/api/ prefix route, which would otherwise take them. */
#ifndef RELAY_TERMINAL_ROUTES_H
#define RELAY_TERMINAL_ROUTES_H

struct terminals;
struct http_router;

/* Returns 0, or -1 when the router's table is full. */
int terminal_routes_register(struct terminals *ts, struct http_router *router);

#endif
