build-clang/obj/tunnelctl/session_argv.o: tunnelctl/session_argv.c \
  tunnelctl/session_argv.h tunnelctl/cli.h

tunnelctl/session_argv.h:

tunnelctl/cli.h:
