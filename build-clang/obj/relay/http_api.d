build-clang/obj/relay/http_api.o: relay/http_api.c relay/http_api.h \
  relay/api.h relay/registry.h common/token.h proto/wire.h \
  relay/registry_index.h relay/tunnel_ops.h relay/http_router.h \
  relay/metrics.h common/log.h common/text.h relay/audit.h \
  relay/http_aws.h relay/aws_keys.h relay/sigv4.h relay/notify.h \
  relay/notify_payload.h relay/notify_outbox.h \
  relay/pending_notification.h relay/store.h

relay/http_api.h:

relay/api.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

relay/tunnel_ops.h:

relay/http_router.h:

relay/metrics.h:

common/log.h:

common/text.h:

relay/audit.h:

relay/http_aws.h:

relay/aws_keys.h:

relay/sigv4.h:

relay/notify.h:

relay/notify_payload.h:

relay/notify_outbox.h:

relay/pending_notification.h:

relay/store.h:
