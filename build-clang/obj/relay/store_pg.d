build-clang/obj/relay/store_pg.o: relay/store_pg.c relay/store_pg.h \
  relay/store.h relay/registry.h common/token.h proto/wire.h \
  relay/registry_index.h /usr/include/postgresql/libpq-fe.h \
  /usr/include/postgresql/postgres_ext.h \
  /usr/include/postgresql/pg_config_ext.h common/log.h common/text.h \
  relay/pending_notification.h relay/store_pg_known.h \
  relay/store_pg_sql.h relay/store_rows.h relay/things.h \
  relay/store_uri.h relay/store_worker.h

relay/store_pg.h:

relay/store.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

/usr/include/postgresql/libpq-fe.h:

/usr/include/postgresql/postgres_ext.h:

/usr/include/postgresql/pg_config_ext.h:

common/log.h:

common/text.h:

relay/pending_notification.h:

relay/store_pg_known.h:

relay/store_pg_sql.h:

relay/store_rows.h:

relay/things.h:

relay/store_uri.h:

relay/store_worker.h:
