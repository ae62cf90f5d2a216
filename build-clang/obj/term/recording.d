build-clang/obj/term/recording.o: term/recording.c term/recording.h \
  common/log.h common/term_frame.h term/asciicast.h

term/recording.h:

common/log.h:

common/term_frame.h:

term/asciicast.h:
