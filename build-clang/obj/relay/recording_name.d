build-clang/obj/relay/recording_name.o: relay/recording_name.c \
  relay/recording_name.h relay/console_users.h relay/console_auth.h \
  relay/registry.h common/token.h proto/wire.h relay/registry_index.h \
  common/text.h

relay/recording_name.h:

relay/console_users.h:

relay/console_auth.h:

relay/registry.h:

common/token.h:

proto/wire.h:

relay/registry_index.h:

common/text.h:
