build-clang/obj/agent/config_report.o: agent/config_report.c \
  agent/config_report.h

agent/config_report.h:
