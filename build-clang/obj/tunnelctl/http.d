build-clang/obj/tunnelctl/http.o: tunnelctl/http.c tunnelctl/http.h

tunnelctl/http.h:
