build-clang/obj/relay/store_pg_known.o: relay/store_pg_known.c \
  relay/store_pg_known.h relay/registry.h common/token.h proto/wire.h \
  relay/registry_index.h common/text.h

relay/store_pg_known.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

common/text.h:
