build-clang/obj/agent/config.o: agent/config.c agent/config.h \
  agent/config_report.h common/hostport.h agent/json_type.h

agent/config.h:

agent/config_report.h:

common/hostport.h:

agent/json_type.h:
