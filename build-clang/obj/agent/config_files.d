build-clang/obj/agent/config_files.o: agent/config_files.c agent/config.h \
  agent/config_report.h common/pem_files.h

agent/config.h:

agent/config_report.h:

common/pem_files.h:
