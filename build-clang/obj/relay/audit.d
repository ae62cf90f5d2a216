build-clang/obj/relay/audit.o: relay/audit.c relay/audit.h common/log.h \
  common/text.h

relay/audit.h:

common/log.h:

common/text.h:
