build-clang/obj/relay/registry_index.o: relay/registry_index.c \
  relay/registry_index.h

relay/registry_index.h:
