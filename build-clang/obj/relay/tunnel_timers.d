build-clang/obj/relay/tunnel_timers.o: relay/tunnel_timers.c \
  relay/tunnel_timers.h relay/registry.h common/token.h proto/wire.h \
  relay/registry_index.h

relay/tunnel_timers.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:
