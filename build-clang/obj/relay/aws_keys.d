build-clang/obj/relay/aws_keys.o: relay/aws_keys.c relay/aws_keys.h \
  relay/sigv4.h common/text.h

relay/aws_keys.h:

relay/sigv4.h:

common/text.h:
