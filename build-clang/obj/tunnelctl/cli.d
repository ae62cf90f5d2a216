build-clang/obj/tunnelctl/cli.o: tunnelctl/cli.c tunnelctl/cli.h

tunnelctl/cli.h:
