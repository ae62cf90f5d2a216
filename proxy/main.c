/* localproxy: parse options and the mapping, then run the tunnel. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "proxy/mapping.h"
#include "proxy/options.h"
#include "proxy/tunnel.h"

static int parse_mapping(const struct proxy_options *o, struct mapping *m)
{
	char err[256];
	int rc = o->mode == PROXY_MODE_SOURCE
		 ? mapping_parse_source(o->source_listen, m, err, sizeof(err))
		 : mapping_parse_destination(o->destination_app, m, err, sizeof(err));
	if (rc)
		fprintf(stderr, "localproxy: %s: %s\n", o->mode == PROXY_MODE_SOURCE ? "-s" : "-d", err);
	return rc;
}

/* glibc keeps freed memory for reuse and, above 128 KiB, adapts its mmap
 * threshold upwards, so a burst of queued data would stay resident for
 * good. Buffers of 64 KiB and more (queues under load) are mapped on their
 * own and given back when freed; the heap is trimmed above 64 KiB free. */
static void keep_memory_small(void)
{
	if (!mallopt(M_MMAP_THRESHOLD, 64 * 1024) || !mallopt(M_TRIM_THRESHOLD, 64 * 1024))
		fprintf(stderr, "localproxy: cannot tune malloc; memory use may be higher\n");
}

int main(int argc, char **argv)
{
	keep_memory_small();
	struct proxy_options opt;
	int rc = proxy_options_parse(argc, argv, &opt);
	if (rc)
		return rc > 0 ? 0 : 2;
	struct mapping mapping;
	if (parse_mapping(&opt, &mapping)) {
		proxy_options_free(&opt);
		return 2;
	}
	/* A V1 destination knows no service names: every message of the tunnel
	 * is for its one service. */
	if (opt.mode == PROXY_MODE_SOURCE && opt.destination_type == 1 && mapping.n != 1) {
		fprintf(stderr, "localproxy: -y V1: a V1 destination serves one service, but -s names %zu; "
				"give one port (-s 2222 or -s SSH=2222), or use -y V2\n", mapping.n);
		proxy_options_free(&opt);
		return 2;
	}
	log_init("localproxy", opt.verbose);
	if (opt.config_used[0])
		log_info("read settings from %s", opt.config_used);
	log_info("%s mode, relay %s:%d", opt.mode == PROXY_MODE_SOURCE ? "source" : "destination",
		 opt.endpoint.host, opt.endpoint.port);
	rc = tunnel_run(&opt, &mapping);
	proxy_options_free(&opt);
	return rc;
}
