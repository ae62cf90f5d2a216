build-clang/obj/relay/terminal_helper.o: relay/terminal_helper.c \
  relay/terminal_helper.h common/bytequeue.h common/log.h \
  relay/event_loop.h

relay/terminal_helper.h:

common/bytequeue.h:

common/log.h:

relay/event_loop.h:
