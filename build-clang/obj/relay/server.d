build-clang/obj/relay/server.o: relay/server.c relay/server.h \
  relay/registry.h common/token.h proto/wire.h relay/registry_index.h \
  common/clock.h common/log.h common/lws_glue.h common/bytequeue.h \
  relay/api.h relay/tunnel_ops.h relay/audit.h relay/console.h \
  relay/console_auth.h relay/conn_gate.h relay/event_loop.h \
  relay/fd_limit.h relay/handshake.h relay/admit.h relay/cluster.h \
  proto/ws_codec.h relay/metrics.h relay/refusal_log.h relay/store.h \
  relay/http_api.h relay/http_router.h relay/listener.h relay/notify.h \
  relay/notify_payload.h relay/notify_outbox.h \
  relay/pending_notification.h relay/peer.h relay/peer_liveness.h \
  relay/peer_lws.h relay/presence_feed.h relay/host_keys.h \
  relay/terminal_routes.h relay/terminal_ws.h relay/terminals.h \
  relay/things.h relay/tunnel_timers.h

relay/server.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

common/clock.h:

common/log.h:

common/lws_glue.h:

common/bytequeue.h:

relay/api.h:

relay/tunnel_ops.h:

relay/audit.h:

relay/console.h:

relay/console_auth.h:

relay/conn_gate.h:

relay/event_loop.h:

relay/fd_limit.h:

relay/handshake.h:

relay/admit.h:

relay/cluster.h:

proto/ws_codec.h:

relay/metrics.h:

relay/refusal_log.h:

relay/store.h:

relay/http_api.h:

relay/http_router.h:

relay/listener.h:

relay/notify.h:

relay/notify_payload.h:

relay/notify_outbox.h:

relay/pending_notification.h:

relay/peer.h:

relay/peer_liveness.h:

relay/peer_lws.h:

relay/presence_feed.h:

relay/host_keys.h:

relay/terminal_routes.h:

relay/terminal_ws.h:

relay/terminals.h:

relay/things.h:

relay/tunnel_timers.h:
