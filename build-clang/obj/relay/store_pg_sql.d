build-clang/obj/relay/store_pg_sql.o: relay/store_pg_sql.c \
  relay/store_pg_sql.h relay/registry.h common/token.h proto/wire.h \
  relay/registry_index.h relay/store_rows.h relay/things.h

relay/store_pg_sql.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

relay/store_rows.h:

relay/things.h:
