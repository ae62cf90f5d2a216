#include "relay/server.h"

#include <libwebsockets.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/lws_glue.h"
#include "relay/api.h"
#include "relay/audit.h"
#include "relay/console.h"
#include "relay/conn_gate.h"
#include "relay/event_loop.h"
#include "relay/fd_limit.h"
#include "relay/handshake.h"
#include "relay/http_api.h"
#include "relay/http_router.h"
#include "relay/listener.h"
#include "relay/metrics.h"
#include "relay/notify.h"
#include "relay/notify_outbox.h"
#include "relay/peer.h"
#include "relay/peer_lws.h"
#include "relay/presence_feed.h"
#include "relay/host_keys.h"
#include "relay/store.h"
#include "relay/terminal_routes.h"
#include "relay/terminal_ws.h"
#include "relay/terminals.h"
#include "relay/things.h"
#include "relay/tunnel_timers.h"
#include "relay/tunnel_ws.h"

/* Idle connections' buffers freed in one sweep worth returning to the
 * system (malloc_trim walks the heap's free blocks: not for a few KiB). */
#define RELEASE_TRIM_BYTES (1024u * 1024u)

struct relay_server {
	struct relay_loop *loop;        /* libev, lent to lws (event_loop.h) */
	struct lws_context *ctx;        /* lws writes NULL here once destroyed */
	struct registry *registry;
	struct store *store;            /* NULL: tunnels are not persisted */
	struct notifier *notifier;      /* NULL: no MQTT notification */
	struct notify_outbox *outbox;   /* notifications waiting for the broker */
	struct things *things;          /* devices' last presence */
	struct presence_feed presence;  /* MQTT presence messages into things */
	struct relay_metrics metrics;
	const char *node_id;
	struct conn_gate gate;          /* full: new connections are closed on arrival */
	struct listener *listener;      /* --proxy-protocol: our own accept; NULL: lws's */
	size_t fd_limit;
	struct handshake handshake;
	struct dataplane *dataplane;
	struct peer_lws peer_lws;       /* the tunnel protocols' user */
	struct tunnel_ws_set *conns;    /* the tunnel WebSockets, once lws let go of them */
	struct http_router *router;
	struct http_api *api;
	struct audit *audit;            /* NULL: audit events in the log only */
	struct console *console;        /* NULL: the console is off (no --users) */
	struct host_keys *host_keys;    /* devices' SSH host keys, for browser terminals */
	struct terminals *terminals;    /* browser terminals (with the console) */
	/* lws picks the protocol named by the client's Sec-WebSocket-Protocol. */
	struct lws_protocols protocols[6];
	lws_sorted_usec_list_t tick;    /* expiry, purge and notifier polling, every second */
	struct tunnel_timers timers;    /* each tunnel's next expiry or purge */
	unsigned ticks;
};

/* Counts lws's connections against the descriptor limit less the
 * headroom; when full, new ones are accepted and closed at once (before
 * TLS), so accept() never fails with EMFILE (which left the listening
 * socket readable and the relay spinning) and the backlog drains. Said
 * once per episode, with the numbers. */
static void count_connection(struct relay_server *srv, bool opened)
{
	struct conn_gate *g = &srv->gate;
	switch (opened ? conn_gate_opened(g) : conn_gate_closed(g)) {
	case GATE_FULL:
		srv->metrics.full_episodes++;
		log_warn("full: %zu connections open, the most this relay can hold "
			 "(descriptor limit %zu, %u kept for the database, MQTT and the loop); "
			 "new connections are closed on arrival until some leave",
			 g->open, srv->fd_limit, FD_HEADROOM);
		break;
	case GATE_RESUMED:
		log_info("accepting again: %zu connections open (of %zu)", g->open, g->capacity);
		break;
	case GATE_SAME:
		break;
	}
}

/* The listener's view of the descriptor gate. */
static bool gate_full(void *arg)
{
	struct relay_server *srv = arg;
	return srv->gate.full;
}

static void gate_counted(void *arg, bool opened)
{
	struct relay_server *srv = arg;
	if (srv->gate.capacity)
		count_connection(srv, opened);
}

static int start_listener(struct relay_server *srv, const struct relay_server_config *cfg)
{
	struct listener_config lc = {
		.bind = cfg->bind,
		.port = cfg->port,
		.loop = srv->loop,
		.vhost = lws_get_vhost_by_name(srv->ctx, "default"),
		.metrics = &srv->metrics,
		.full = gate_full,
		.counted = gate_counted,
		.arg = srv,
	};
	char err[512];
	if (!lc.vhost) {
		log_error("lws made no default vhost");
		return -1;
	}
	srv->listener = listener_start(&lc, err, sizeof(err));
	if (!srv->listener) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

/* The "http" protocol: the upgrade handshake, wake-ups of the loop, and
 * plain HTTP requests (to the router). */
static int http_callback(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len)
{
	struct relay_server *srv = lws_context_user(lws_get_context(wsi));
	switch (reason) {
	case LWS_CALLBACK_WSI_CREATE:
	case LWS_CALLBACK_WSI_DESTROY: {
		if (srv && srv->gate.capacity)
			count_connection(srv, reason == LWS_CALLBACK_WSI_CREATE);
		int rc = http_router_callback(srv->router, wsi, reason, user, in, len);
		if (reason == LWS_CALLBACK_WSI_DESTROY)
			listener_forget(wsi);
		return rc;
	}
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		/* Nonzero: lws closes the new socket; no wsi is made for it. */
		return srv && srv->gate.full ? -1 : 0;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
		/* The console's terminal is the one WebSocket under /console/. */
		char path[128] = ""; /* as handshake_confirm's: longer is no path of ours */
		if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
			path[0] = '\0';
		if (!strncmp(path, "/console/", 9))
			return terminal_ws_confirm(srv->terminals, wsi, in);
		return handshake_confirm(&srv->handshake, wsi, in);
	}
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return handshake_refuse_http_subprotocol(&srv->handshake, wsi);
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		/* The MQTT client's or the store's thread woke us: run what
		 * they finished. */
		if (srv && srv->notifier)
			notifier_poll(srv->notifier);
		if (srv) {
			store_poll(srv->store);
			console_poll(srv->console);
		}
		return 0;
	default:
		return http_router_callback(srv->router, wsi, reason, user, in, len);
	}
}

static void init_protocols(struct relay_server *srv)
{
	static const char *const tunnel[] = { SUBPROTOCOL_V3, SUBPROTOCOL_V2, SUBPROTOCOL_V1 };
	struct lws_protocols *p = srv->protocols;
	memset(srv->protocols, 0, sizeof(srv->protocols));
	p[0].name = "http";
	p[0].callback = http_callback;
	p[0].per_session_data_size = http_router_session_size();
	p[0].rx_buffer_size = API_MAX_BODY;
	for (size_t i = 0; i < 3; i++) {
		p[1 + i].name = tunnel[i];
		p[1 + i].callback = peer_lws_callback;
		p[1 + i].per_session_data_size = sizeof(struct peer_lws_session);
		p[1 + i].rx_buffer_size = TUNNEL_MAX_WS_MESSAGE;
		p[1 + i].user = &srv->peer_lws;
	}
	terminal_ws_protocol(&p[4], &srv->terminals);
	/* p[5] stays zero: the end of the table. */
}

static struct api_hooks plane_hooks(struct dataplane *dp)
{
	struct api_hooks h = {
		.server = dp,
		.close_side = dataplane_close_side,
		.side_connected = dataplane_side_connected,
		.live_connections = dataplane_live_connections,
		.node_id = dataplane_node_id(dp),
	};
	return h;
}

/* For /metrics: the data plane's counts and the WebSockets it holds. */
static void plane_gauges(void *arg, struct metrics_gauges *g)
{
	struct relay_server *srv = arg;
	dataplane_totals(srv->dataplane, &g->peers_connected, &g->live_connections);
	g->tunnel_websockets = tunnel_ws_count(srv->conns);
}

static void schedule(struct relay_server *srv, struct registry_tunnel *t)
{
	if (tunnel_timers_schedule(&srv->timers, t))
		log_error("tunnel %s: out of memory: its expiry or purge is not scheduled", t->id);
}

/* registry_insert's hook: a tunnel made by the API gets its expiry. */
static void on_inserted(void *arg, struct registry_tunnel *t)
{
	schedule(arg, t);
}

/* Another node changed a tunnel in the shared store, or a handshake's
 * look-up found one there: take it (relay/tunnel_ops.h). */
static void tunnel_changed(void *arg, const char *id, const struct registry_tunnel *row,
			   const char *owner)
{
	struct relay_server *srv = arg;
	struct api_env env = {
		.registry = srv->registry,
		.now = time(NULL),
		.hooks = plane_hooks(srv->dataplane),
	};
	ops_apply_change(&env, srv->node_id, id, row, owner);
}

/* The store's answer about a purged tunnel: it names the tunnel itself. */
static void purge_saved(void *ctx, const char *err)
{
	if (err)
		log_error("purging a closed tunnel: %s", err);
}

/* --keep-closed after closing: gone from memory and from the store. */
static void purge(struct relay_server *srv, struct registry_tunnel *t, int64_t now)
{
	if (dataplane_side_connected(srv->dataplane, t, SIDE_SOURCE) ||
	    dataplane_side_connected(srv->dataplane, t, SIDE_DESTINATION)) {
		/* Closing it closed its peers long ago: cannot happen. */
		log_error("tunnel %s: still has a peer after --keep-closed; not purged", t->id);
		return;
	}
	log_info("tunnel %s: closed %lld s ago; purged (--keep-closed %ld s)", t->id,
		 (long long)(now - t->closed_at), srv->timers.keep_closed);
	/* Saves still in flight for t must not call back about a freed t. */
	store_forget(srv->store, t);
	t->deleted = true; /* the store's save of a deleted tunnel removes its row */
	char err[256];
	if (srv->store && store_save(srv->store, t, purge_saved, NULL, err, sizeof(err)))
		log_error("purging a closed tunnel: %s", err);
	registry_remove(srv->registry, t);
}

/* Once a second: close expired tunnels and purge old closed ones (only
 * those due: a heap, not a scan), let the MQTT client report. */
static void on_tick(lws_sorted_usec_list_t *sul)
{
	struct relay_server *srv = lws_container_of(sul, struct relay_server, tick);
	struct api_env env = {
		.registry = srv->registry,
		.now = time(NULL),
		.hooks = plane_hooks(srv->dataplane),
	};
	struct registry_tunnel *t;
	enum timer_action act;
	while ((act = tunnel_timers_next_due(&srv->timers, env.now, &t)) != TIMER_NONE) {
		if (act == TIMER_PURGE) {
			purge(srv, t, env.now);
			continue;
		}
		if (!t->closed_at) {
			log_info("tunnel %s: lifetime of %d min is over; closing it", t->id,
				 t->lifetime_minutes);
			api_close_tunnel(&env, t, "tunnel expired");
			store_save_logged(srv->store, t);
		}
		schedule(srv, t); /* now closed: its purge */
	}
	if (++srv->ticks % TUNNEL_WS_SWEEP_S == 0) {
		tunnel_ws_sweep(srv->conns);
		/* Freed heap blocks stay resident until trimmed: glibc gives
		 * back only the top of the heap by itself. */
		if (dataplane_release_idle(srv->dataplane) >= RELEASE_TRIM_BYTES && malloc_trim(0))
			log_debug("gave idle connections' buffers back to the system");
	}
	if (srv->notifier)
		notifier_poll(srv->notifier);
	notify_outbox_tick(srv->outbox, env.now);
	console_tick(srv->console, env.now);
	terminals_tick(srv->terminals, env.now);
	listener_tick(srv->listener, now_ms());
	lws_sul_schedule(srv->ctx, 0, &srv->tick, on_tick, LWS_USEC_PER_SEC);
}

/* The store's thread finished a save: have the loop collect it. */
static void wake_loop(void *arg)
{
	lws_cancel_service(arg);
}

/* Frees what start made; the context is gone or was never made. */
static void free_parts(struct relay_server *srv)
{
	terminals_free(srv->terminals);
	console_free(srv->console);
	http_api_free(srv->api);
	host_keys_free(srv->host_keys);
	audit_close(srv->audit);
	notify_outbox_free(srv->outbox);
	http_router_free(srv->router);
	things_free(srv->things);
	tunnel_ws_set_free(srv->conns);
	dataplane_free(srv->dataplane);
	relay_loop_free(srv->loop);
	tunnel_timers_free(&srv->timers);
	free(srv);
}

static struct lws_context *create_context(struct relay_server *srv,
					  const struct relay_server_config *cfg)
{
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	/* With --proxy-protocol the relay accepts itself (relay/listener.h) and
	 * hands lws each connection after its PROXY header: the vhost keeps
	 * its TLS context but listens nowhere. */
	info.port = cfg->proxy_protocol ? CONTEXT_PORT_NO_LISTEN_SERVER : cfg->port;
	info.iface = cfg->proxy_protocol ? NULL : cfg->bind;
	info.protocols = srv->protocols;
	info.user = srv;
	/* lws on our libev loop: epoll, and we decide when the loop stops. */
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = relay_loop_foreign(srv->loop);
	info.pcontext = &srv->ctx;
	if (cfg->bind && !strchr(cfg->bind, ':'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6; /* an IPv4 address */
	info.ssl_cert_filepath = cfg->cert;
	info.ssl_private_key_filepath = cfg->key;
	info.ssl_options_set = TLS_MIN_1_2_OPTIONS;
	info.alpn = "http/1.1"; /* the API and WebSockets speak HTTP/1.1 */
	/* The whole upgrade request is capped at 4 KiB (PROTOCOL.md §2). */
	info.max_http_header_data = TUNNEL_MAX_HTTP_REQUEST;
	info.pt_serv_buf_size = LWS_IO_BUFFER_SIZE; /* bytes read per socket per event */
	info.timeout_secs = 10;
	/* No lws "validity" timers: lws's default policy arms a 300-s timer
	 * on every connection, and lws 4.1 keeps all timers in one sorted
	 * list, so each new connection's insert walked every established one
	 * (44% of the relay's CPU while admitting at 9,900 tunnels). Liveness
	 * is ours (tunnel_ws_sweep: one sweep, pings from the proxies). */
	static const lws_retry_bo_t no_validity_timers = { .secs_since_valid_ping = 0,
							   .secs_since_valid_hangup = 0 };
	info.retry_and_idle_policy = &no_validity_timers;
	info.ka_time = 60;
	info.ka_probes = 3;
	info.ka_interval = 10;
	/* No info.fd_limit_per_thread: below the process limit it makes lws
	 * look every event's descriptor up by a linear search (70% of the
	 * relay's CPU idle at 10,000 connections). The headroom is kept by
	 * refusing connections ourselves (FILTER_NETWORK_CONNECTION). */
	return lws_create_context(&info);
}

/* The console's state and its routes. */
static int start_console(struct relay_server *srv, const struct relay_server_config *cfg,
			 struct registry *registry)
{
	struct console_config cc = {
		.users_path = cfg->users,
		.dir = cfg->console_dir,
		.idle_s = cfg->console_idle_s,
		.recordings_dir = cfg->recordings,
		.keep_days = cfg->recordings_keep_days,
		.audit = srv->audit,
		.api = srv->api,
		.registry = registry,
		.things = srv->things,
		.plane = plane_hooks(srv->dataplane),
	};
	char err[512];
	if (!srv->api) {
		log_error("out of memory");
		return -1;
	}
	srv->console = console_new(&cc, err, sizeof(err));
	if (!srv->console) {
		log_error("console: %s", err);
		return -1;
	}
	struct terminals_deps td = {
		.loop = srv->loop,
		.api = srv->api,
		.registry = registry,
		.host_keys = srv->host_keys,
		.console = srv->console,
		.things = srv->things,
		.plane = plane_hooks(srv->dataplane),
	};
	srv->terminals = terminals_new(cfg->terminal, &td);
	/* The terminal's routes before the console's /console/api/ prefix. */
	if (!srv->terminals || terminal_routes_register(srv->terminals, srv->router) ||
	    console_register(srv->console, srv->router)) {
		log_error("out of memory");
		return -1;
	}
	return 0;
}

struct relay_server *relay_server_start(const struct relay_server_config *cfg,
					struct registry *registry)
{
	struct relay_server *srv = calloc(1, sizeof(*srv));
	if (!srv) {
		log_error("out of memory");
		return NULL;
	}
	srv->registry = registry;
	srv->store = cfg->store;
	srv->node_id = cfg->node_id;
	srv->fd_limit = cfg->fd_limit;
	tunnel_timers_init(&srv->timers, cfg->keep_closed);
	/* The count (every wsi lws creates, its wake-up pipe among them)
	 * against the limit less the headroom. */
	if (cfg->fd_limit > FD_HEADROOM + 2)
		conn_gate_init(&srv->gate, cfg->fd_limit - FD_HEADROOM);
	handshake_init(&srv->handshake, registry, &srv->metrics);
	struct dataplane_config dp = {
		.io = &tunnel_ws_io,
		.queue_headroom = TUNNEL_WS_HEADROOM,
		.store = cfg->store,
		.node_id = cfg->shared_store ? cfg->node_id : NULL,
		.metrics = &srv->metrics,
		.max_connections = cfg->max_connections,
	};
	srv->dataplane = dataplane_new(&dp);
	srv->router = http_router_new();
	srv->outbox = notify_outbox_new(registry, cfg->store);
	srv->things = things_new();
	if (!srv->dataplane || !srv->router || !srv->outbox || !srv->things) {
		log_error("out of memory");
		free_parts(srv);
		return NULL;
	}
	char err[512];
	if (cfg->store) {
		int kept = store_load_notifications(cfg->store, notify_outbox_adopt, srv->outbox, err,
						    sizeof(err));
		if (kept < 0) {
			log_error("%s", err);
			free_parts(srv);
			return NULL;
		}
		if (kept > 0)
			log_info("%d device notification%s waiting for the MQTT broker", kept,
				 kept > 1 ? "s" : "");
	}
	srv->presence.things = srv->things;
	srv->presence.store = cfg->store;
	srv->presence.filter = cfg->presence_filter;
	int known = presence_feed_load(&srv->presence, err, sizeof(err));
	if (known < 0) {
		log_error("%s", err);
		free_parts(srv);
		return NULL;
	}
	if (known > 0)
		log_info("presence: %d thing%s known from the database", known, known > 1 ? "s" : "");
	srv->host_keys = host_keys_new(cfg->store);
	int keys = srv->host_keys ? host_keys_load(srv->host_keys, err, sizeof(err)) : -1;
	if (keys < 0) {
		log_error("%s", srv->host_keys ? err : "out of memory");
		free_parts(srv);
		return NULL;
	}
	srv->loop = relay_loop_new(err, sizeof(err));
	if (!srv->loop) {
		log_error("%s", err);
		free_parts(srv);
		return NULL;
	}
	struct tunnel_ws_hooks hooks = { .counted = gate_counted, .arg = srv };
	srv->conns = tunnel_ws_set_new(srv->loop, &hooks);
	if (!srv->conns) {
		log_error("out of memory");
		free_parts(srv);
		return NULL;
	}
	srv->peer_lws.handshake = &srv->handshake;
	srv->peer_lws.dataplane = srv->dataplane;
	srv->peer_lws.conns = srv->conns;
	init_protocols(srv);

	srv->ctx = create_context(srv, cfg);
	if (!srv->ctx) {
		log_error("cannot listen on %s:%d with certificate %s and key %s "
			  "(port in use, or unreadable certificate/key?)",
			  cfg->bind ? cfg->bind : "*", cfg->port, cfg->cert, cfg->key);
		free_parts(srv);
		return NULL;
	}
	if (cfg->proxy_protocol && start_listener(srv, cfg)) {
		lws_context_destroy(srv->ctx);
		free_parts(srv);
		return NULL;
	}
	if (cfg->notify) {
		struct notify_config nc = *cfg->notify;
		nc.presence_filter = cfg->presence_filter;
		nc.on_presence = presence_feed_message;
		nc.presence_arg = &srv->presence;
		srv->notifier = notifier_start(&nc, srv->ctx, err, sizeof(err));
		if (!srv->notifier) {
			log_error("MQTT: %s", err);
			lws_context_destroy(srv->ctx);
			free_parts(srv);
			return NULL;
		}
	}
	if (cfg->audit_log || cfg->users) {
		srv->audit = audit_open(cfg->audit_log, AUDIT_RING_DEFAULT, err, sizeof(err));
		if (!srv->audit) {
			log_error("%s", err);
			notifier_stop(srv->notifier);
			lws_context_destroy(srv->ctx);
			free_parts(srv);
			return NULL;
		}
	}
	struct http_api_deps deps = {
		.audit = srv->audit,
		.registry = registry,
		.things = srv->things,
		.store = cfg->store,
		.notifier = srv->notifier,
		.outbox = srv->outbox,
		.api_key = cfg->api_key,
		.aws_keys = cfg->aws_keys,
		.max_tunnels = cfg->max_tunnels,
		.max_tunnels_per_thing = cfg->max_tunnels_per_thing,
		.metrics = &srv->metrics,
		.plane = plane_hooks(srv->dataplane),
		.plane_gauges = plane_gauges,
		.plane_gauges_arg = srv,
	};
	srv->api = http_api_new(&deps);
	/* The console's routes go first: the API's POST / (AWS's) takes every
	 * POST that no route before it did. */
	if (!srv->api || (cfg->users && start_console(srv, cfg, registry)) ||
	    http_api_register(srv->api, srv->router)) {
		notifier_stop(srv->notifier);
		lws_context_destroy(srv->ctx);
		free_parts(srv);
		return NULL;
	}
	if (srv->terminals) {
		size_t orphans = terminals_close_orphans(srv->terminals);
		if (orphans)
			log_info("closing %zu tunnel%s of browser terminals a previous run left open",
				 orphans, orphans > 1 ? "s" : "");
	}
	store_set_waker(srv->store, wake_loop, srv->ctx);
	console_set_waker(srv->console, wake_loop, srv->ctx);
	notify_outbox_set_notifier(srv->outbox, srv->notifier);
	for (size_t i = 0; i < registry->n; i++)
		schedule(srv, registry->tunnels[i]);
	registry->inserted = on_inserted;
	registry->inserted_arg = srv;
	if (cfg->shared_store && cfg->store) {
		handshake_share(&srv->handshake, cfg->store, tunnel_changed, srv);
		if (store_watch(cfg->store, cfg->node_id, tunnel_changed, srv)) {
			log_error("cannot follow other relay nodes' changes in the database");
			relay_server_stop(srv);
			return NULL;
		}
	}
	log_info("event loop: libev on lws (foreign loop); tunnel data on the relay's own WebSocket code");
	log_info("listening on %s:%d%s (%zu tunnels, at most %zu connections each; API %s; MQTT %s)",
		 cfg->bind ? cfg->bind : "*", cfg->port,
		 cfg->proxy_protocol ? ", a PROXY protocol header first" : "", registry->n,
		 cfg->max_connections, cfg->api_key ? "on" : "off",
		 srv->notifier ? cfg->notify->uri : "off");
	lws_sul_schedule(srv->ctx, 0, &srv->tick, on_tick, LWS_USEC_PER_SEC);
	return srv;
}

int relay_server_run(struct relay_server *srv)
{
	int sig = relay_loop_run(srv->loop);
	log_info("stopping (signal %d)", sig);
	return 0;
}

void relay_server_stop(struct relay_server *srv)
{
	if (!srv)
		return;
	lws_sul_cancel(&srv->tick);
	srv->registry->inserted = NULL;
	/* Helpers killed, tunnels closed, before lws closes the sockets. */
	if (srv->terminals)
		terminals_shutdown(srv->terminals);
	/* The store's thread must not wake a context that is being freed. */
	store_set_waker(srv->store, NULL, NULL);
	console_set_waker(srv->console, NULL, NULL);
	/* What the outbox had in flight waits again (and stays in the store). */
	notify_outbox_set_notifier(srv->outbox, NULL);
	/* Pending API calls get their notification result before lws frees them. */
	if (srv->notifier)
		notifier_stop(srv->notifier);
	srv->notifier = NULL;
	http_api_forget_notifier(srv->api);
	/* No more connections for lws to adopt while it closes. */
	listener_free(srv->listener);
	srv->listener = NULL;
	lws_context_destroy(srv->ctx);
	/* On a foreign loop lws may finish closing its handles from the
	 * loop; it clears srv->ctx (info.pcontext) when it is done. */
	for (int i = 0; srv->ctx && i < 100; i++)
		relay_loop_run_nowait(srv->loop);
	/* The tunnel connections lws handed over: closed now, their tunnels saved. */
	tunnel_ws_set_free(srv->conns);
	srv->conns = NULL;
	/* Closing every connection saved its tunnel: write all that waits. */
	store_flush(srv->store);
	free_parts(srv);
}
