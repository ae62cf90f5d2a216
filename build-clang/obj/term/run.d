build-clang/obj/term/run.o: term/run.c term/run.h term/options.h \
  common/hostport.h proto/wire.h common/bytequeue.h common/log.h \
  common/token.h term/frames.h common/term_frame.h term/hostkey.h \
  term/messages.h term/proxy_child.h term/recording.h term/ssh_session.h

term/run.h:

term/options.h:

common/hostport.h:

proto/wire.h:

common/bytequeue.h:

common/log.h:

common/token.h:

term/frames.h:

common/term_frame.h:

term/hostkey.h:

term/messages.h:

term/proxy_child.h:

term/recording.h:

term/ssh_session.h:
