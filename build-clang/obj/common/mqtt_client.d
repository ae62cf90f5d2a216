build-clang/obj/common/mqtt_client.o: common/mqtt_client.c \
  common/mqtt_client.h common/text.h common/threads.h

common/mqtt_client.h:

common/text.h:

common/threads.h:
