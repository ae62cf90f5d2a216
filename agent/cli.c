#include "agent/cli.h"

#include <getopt.h>
#include <string.h>

#include "agent/config.h"

static const char usage_text[] =
	"Usage: tunnel-agent [-c FILE] [--check]\n"
	"\n"
	"The device side of a secure tunnel: waits on MQTT for a tunnel notification\n"
	"($aws/things/THING/tunnels/notify) and starts a destination localproxy for it,\n"
	"with the access token in its environment (AWSIOT_TUNNEL_ACCESS_TOKEN), never\n"
	"on its command line.\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE   configuration (default " AGENT_DEFAULT_CONFIG ")\n"
	"      --check         check the configuration and the files it names, print\n"
	"                      a summary and exit (0 if usable, 2 if not)\n"
	"  -h, --help          show this help\n"
	"\n"
	"Signals: SIGTERM/SIGINT stop (children get SIGTERM, SIGKILL after 5 s, then a\n"
	"clean MQTT disconnect); SIGHUP re-reads FILE (services, relay, localproxy,\n"
	"maxTunnels, logLevel, useNotifiedEndpoint; broker changes need a restart).\n"
	"\n"
	"Configuration: one JSON object. Unknown keys are errors. Relative file names\n"
	"are relative to the directory of FILE.\n"
	"  \"thingName\"         required; 1-128 of [A-Za-z0-9_:-]; the device certificate's\n"
	"                      CN (the broker's ACL allows each CN its own topic only)\n"
	"  \"broker\"            required object, the MQTT broker:\n"
	"    \"uri\"             required; ssl://HOST:PORT or mqtts://HOST:PORT\n"
	"    \"ca\"              required; PEM CA certificate that signed the broker's\n"
	"    \"cert\"            required; PEM device certificate (mutual TLS)\n"
	"    \"key\"             required; its PEM private key, unencrypted (mode 0600)\n"
	"    \"clientId\"        MQTT client id (default: thingName)\n"
	"    \"keepAliveSeconds\" " "5-3600 (default 30)\n"
	"  \"notifyTopic\"       topic to subscribe to with QoS 1; {thing} is replaced by\n"
	"                      thingName (default \"" AGENT_DEFAULT_TOPIC "\")\n"
	"  \"presenceTopic\"     topic of the device's presence: on every connect a\n"
	"                      retained {\"state\":\"online\",...} (version, service names,\n"
	"                      boot time, maxTunnels); the last will {\"state\":\"offline\"};\n"
	"                      {thing} is replaced (default \"" AGENT_DEFAULT_PRESENCE_TOPIC "\")\n"
	"  \"relay\"             the tunnel relay localproxy connects to:\n"
	"    \"endpoint\"        HOST:PORT (port 443 if omitted); required unless\n"
	"                      useNotifiedEndpoint is true\n"
	"    \"ca\"              PEM CA certificate to verify the relay with (localproxy -c;\n"
	"                      default: the system's CAs)\n"
	"  \"localproxy\"        the localproxy binary (default " AGENT_DEFAULT_LOCALPROXY ")\n"
	"  \"services\"          required; service id -> local address, e.g.\n"
	"                      {\"SSH\": \"127.0.0.1:22\", \"HTTP\": \"127.0.0.1:80\"}; an address is\n"
	"                      HOST:PORT, PORT (127.0.0.1), udp:HOST:PORT (a UDP service)\n"
	"                      or a Unix socket path. A notification naming a service\n"
	"                      not listed here is refused\n"
	"  \"maxTunnels\"        1-64 (default 4): localproxy processes at once; more are\n"
	"                      refused. A notification for a tunnel that has one already\n"
	"                      (token rotation) replaces it\n"
	"  \"logLevel\"          0 off, 1 fatal, 2 error, 3 warning, 4 info (default),\n"
	"                      5 debug, 6 trace; also passed to localproxy as -v\n"
	"  \"useNotifiedEndpoint\" true: use the notification's \"endpoint\" when it has\n"
	"                      one; false (default): always relay.endpoint\n"
	"\n"
	"Example:\n"
	"  {\"thingName\": \"nanopi-01\",\n"
	"   \"broker\": {\"uri\": \"ssl://broker.example:8883\", \"ca\": \"ca.pem\",\n"
	"              \"cert\": \"device.pem\", \"key\": \"device.key\"},\n"
	"   \"relay\": {\"endpoint\": \"relay.example:443\", \"ca\": \"ca.pem\"},\n"
	"   \"services\": {\"SSH\": \"127.0.0.1:22\"}}\n"
	"\n"
	"Exit status: 0 stopped by a signal (or --check passed), 1 a run-time failure,\n"
	"2 a bad command line or configuration.\n";

int agent_cli_parse(int argc, char **argv, struct agent_cli *cli, FILE *out, FILE *err)
{
	enum { OPT_CHECK = 256 };
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check", no_argument, NULL, OPT_CHECK},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(cli, 0, sizeof(*cli));
	cli->config_path = AGENT_DEFAULT_CONFIG;
	opterr = 0;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (optarg[0] == '\0') {
				fprintf(err, "tunnel-agent: -c needs a file name\n");
				return -1;
			}
			cli->config_path = optarg;
			break;
		case OPT_CHECK:
			cli->check = true;
			break;
		case 'h':
			fputs(usage_text, out);
			return 1;
		case ':':
			fprintf(err, "tunnel-agent: option %s needs a value (see --help)\n",
				argv[optind - 1]);
			return -1;
		default:
			fprintf(err, "tunnel-agent: unknown option %s (see --help)\n",
				argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(err, "tunnel-agent: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -1;
	}
	return 0;
}
