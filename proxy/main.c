/* localproxy: parse options, build the event loop, run it. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/lws_glue.h"
#include "proxy/proxy.h"

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
	struct proxy *p = calloc(1, sizeof(*p));
	if (!p) {
		fprintf(stderr, "localproxy: out of memory\n");
		proxy_options_free(&opt);
		return 1;
	}
	p->opt = &opt;
	p->max_conns = TUNNEL_DEFAULT_MAX_CONNECTIONS;
	bytequeue_init(&p->to_tunnel, 0);
	if (parse_mapping(&opt, &p->mapping)) {
		free(p);
		proxy_options_free(&opt);
		return 2;
	}
	if (opt.mode == PROXY_MODE_SOURCE && opt.client_version != 3) {
		fprintf(stderr, "localproxy: -y/--destination-client-type applies to destination mode only\n");
		free(p);
		proxy_options_free(&opt);
		return 2;
	}
	log_init("localproxy", opt.verbose);
	log_route_lws();
	if (opt.config_used[0])
		log_info("read settings from %s", opt.config_used);
	log_info("%s mode, relay %s:%d", opt.mode == PROXY_MODE_SOURCE ? "source" : "destination",
		 opt.endpoint.host, opt.endpoint.port);

	rc = 0;
	if (tunnel_ws_init(p) == 0) {
		while (!stop_requested() && !p->exiting)
			if (lws_service(p->ctx, 0) < 0)
				break;
		rc = p->exit_code;
		if (stop_requested())
			log_info("stopping on signal %d", stop_signal());
	} else {
		rc = 1;
	}
	tunnel_ws_shutdown(p);
	bytequeue_free(&p->to_tunnel);
	free(p);
	proxy_options_free(&opt);
	return rc;
}
