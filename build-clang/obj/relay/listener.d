build-clang/obj/relay/listener.o: relay/listener.c relay/listener.h \
  common/clock.h common/log.h common/tcp_liveness.h relay/event_loop.h \
  relay/metrics.h relay/proxy_header.h

relay/listener.h:

common/clock.h:

common/log.h:

common/tcp_liveness.h:

relay/event_loop.h:

relay/metrics.h:

relay/proxy_header.h:
