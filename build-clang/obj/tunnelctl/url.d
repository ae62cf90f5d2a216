build-clang/obj/tunnelctl/url.o: tunnelctl/url.c tunnelctl/url.h

tunnelctl/url.h:
