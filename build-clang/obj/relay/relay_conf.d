build-clang/obj/relay/relay_conf.o: relay/relay_conf.c relay/relay_conf.h \
  common/config_line.h common/text.h

relay/relay_conf.h:

common/config_line.h:

common/text.h:
