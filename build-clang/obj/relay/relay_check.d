build-clang/obj/relay/relay_check.o: relay/relay_check.c \
  relay/relay_check.h relay/relay_options.h relay/store_uri.h \
  common/pem_files.h

relay/relay_check.h:

relay/relay_options.h:

relay/store_uri.h:

common/pem_files.h:
