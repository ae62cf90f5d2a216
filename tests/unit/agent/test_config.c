/* Unit tests for agent/config.c and agent/config_files.c: tunnel-agent's
 * JSON configuration (every key, the defaults, each error message) and the
 * checks of the files it names (PEM certificates and keys made here with
 * OpenSSL, in a temporary directory). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/config.h"

#define MINIMAL                                                                            \
	"{\"thingName\":\"nanopi-01\","                                                    \
	"\"broker\":{\"uri\":\"ssl://broker:8883\",\"ca\":\"/p/ca.pem\","                  \
	"\"cert\":\"/p/dev.pem\",\"key\":\"/p/dev.key\"},"                                 \
	"\"relay\":{\"endpoint\":\"relay:443\"},"                                          \
	"\"services\":{\"SSH\":\"127.0.0.1:22\"}}"

static struct agent_config cfg;
static char dir[64];

static int parse(const char *json, char *err, size_t cap)
{
	return agent_config_parse(json, strlen(json), "agent.json", &cfg, err, cap);
}

/* The text with the first occurrence of from replaced by to. */
static const char *edit(const char *text, const char *from, const char *to)
{
	static char bufs[4][4096];
	static int next;
	char *out = bufs[next++ % 4]; /* edit(edit(...)) must not overlap */
	const char *at = strstr(text, from);
	assert_non_null(at);
	snprintf(out, sizeof(bufs[0]), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	return out;
}

static void expect_error(const char *json, const char *want)
{
	char err[1024] = "";
	int rc = parse(json, err, sizeof(err));
	if (rc != -1 || strcmp(err, want) != 0)
		fail_msg("config %s\n  rc %d, error '%s'\n  want '%s'", json, rc, err, want);
}

/* ---- parsing: values and defaults --------------------------------------- */

static void minimal_config_gets_defaults(void **state)
{
	char err[512];
	assert_int_equal(parse(MINIMAL, err, sizeof(err)), 0);
	assert_string_equal(cfg.thing_name, "nanopi-01");
	assert_string_equal(cfg.broker_uri, "ssl://broker:8883");
	assert_string_equal(cfg.broker_ca, "/p/ca.pem");
	assert_string_equal(cfg.broker_cert, "/p/dev.pem");
	assert_string_equal(cfg.broker_key, "/p/dev.key");
	assert_string_equal(cfg.client_id, "nanopi-01");
	assert_int_equal(cfg.keepalive_s, 30);
	assert_string_equal(cfg.notify_topic, "$aws/things/nanopi-01/tunnels/notify");
	assert_string_equal(cfg.relay_endpoint, "relay:443");
	assert_string_equal(cfg.relay_ca, "");
	assert_string_equal(cfg.localproxy, "/usr/bin/localproxy");
	assert_int_equal(cfg.n_services, 1);
	assert_string_equal(cfg.services[0].name, "SSH");
	assert_string_equal(cfg.services[0].target, "127.0.0.1:22");
	assert_int_equal(cfg.max_tunnels, 4);
	assert_int_equal(cfg.log_level, 4);
	assert_false(cfg.use_notified_endpoint);
}

/* A UDP service keeps its "udp:" form: it goes to localproxy's -d as is. */
static void udp_service_target(void **state)
{
	char err[512];
	(void)state;
	assert_int_equal(parse(edit(MINIMAL, "127.0.0.1:22", "udp:127.0.0.1:53"), err, sizeof(err)), 0);
	assert_string_equal(cfg.services[0].target, "udp:127.0.0.1:53");
	assert_int_equal(parse(edit(MINIMAL, "127.0.0.1:22", "udp:5683"), err, sizeof(err)), 0);
	assert_string_equal(cfg.services[0].target, "udp:5683");
}

static void every_key(void **state)
{
	const char *json =
		"{\n"
		"  \"thingName\": \"Dev_1:a-b\",\n"
		"  \"broker\": {\"uri\": \"mqtts://[::1]:8883\", \"ca\": \"/c/ca.pem\",\n"
		"             \"cert\": \"/c/d.pem\", \"key\": \"/c/d.key\",\n"
		"             \"clientId\": \"agent-7\", \"keepAliveSeconds\": 120},\n"
		"  \"notifyTopic\": \"fleet/{thing}/notify/{thing}\",\n"
		"  \"relay\": {\"endpoint\": \"relay.example:8443\", \"ca\": \"/c/relay-ca.pem\"},\n"
		"  \"localproxy\": \"/opt/bin/localproxy\",\n"
		"  \"services\": {\"SSH\": \"127.0.0.1:22\", \"HTTP\": \"10.0.0.2:80\",\n"
		"               \"DB\": \"/run/db.sock\", \"VNC\": \"5900\"},\n"
		"  \"maxTunnels\": 64,\n"
		"  \"logLevel\": 6,\n"
		"  \"useNotifiedEndpoint\": true\n"
		"}\n";
	char err[512];
	assert_int_equal(parse(json, err, sizeof(err)), 0);
	assert_string_equal(cfg.thing_name, "Dev_1:a-b");
	assert_string_equal(cfg.broker_uri, "mqtts://[::1]:8883");
	assert_string_equal(cfg.client_id, "agent-7");
	assert_int_equal(cfg.keepalive_s, 120);
	assert_string_equal(cfg.notify_topic, "fleet/Dev_1:a-b/notify/Dev_1:a-b");
	assert_string_equal(cfg.relay_endpoint, "relay.example:8443");
	assert_string_equal(cfg.relay_ca, "/c/relay-ca.pem");
	assert_string_equal(cfg.localproxy, "/opt/bin/localproxy");
	assert_int_equal(cfg.n_services, 4);
	assert_string_equal(agent_config_service(&cfg, "HTTP"), "10.0.0.2:80");
	assert_string_equal(agent_config_service(&cfg, "DB"), "/run/db.sock");
	assert_string_equal(agent_config_service(&cfg, "VNC"), "5900");
	assert_null(agent_config_service(&cfg, "FTP"));
	assert_null(agent_config_service(&cfg, "ssh")); /* case matters */
	assert_int_equal(cfg.max_tunnels, 64);
	assert_int_equal(cfg.log_level, 6);
	assert_true(cfg.use_notified_endpoint);
}

static void literal_topic_and_bounds(void **state)
{
	char err[512];
	assert_int_equal(parse(edit(MINIMAL, "\"services\"",
				    "\"notifyTopic\":\"devices/one/notify\",\"services\""),
			       err, sizeof(err)), 0);
	assert_string_equal(cfg.notify_topic, "devices/one/notify");
	assert_int_equal(parse(edit(MINIMAL, "\"services\"",
				    "\"maxTunnels\":1,\"logLevel\":0,\"services\""),
			       err, sizeof(err)), 0);
	assert_int_equal(cfg.max_tunnels, 1);
	assert_int_equal(cfg.log_level, 0);
	assert_int_equal(parse(edit(MINIMAL, "\"key\":\"/p/dev.key\"",
				    "\"key\":\"/p/dev.key\",\"keepAliveSeconds\":5"),
			       err, sizeof(err)), 0);
	assert_int_equal(cfg.keepalive_s, 5);
}

static void relative_paths_follow_the_config_file(void **state)
{
	const char *json = edit(MINIMAL, "\"ca\":\"/p/ca.pem\"", "\"ca\":\"ca.pem\"");
	json = edit(json, "\"relay\":{\"endpoint\":\"relay:443\"}",
		    "\"relay\":{\"endpoint\":\"relay:443\",\"ca\":\"certs/r.pem\"},"
		    "\"localproxy\":\"bin/localproxy\"");
	char err[512];
	assert_int_equal(agent_config_parse(json, strlen(json), "/etc/tunnel-agent/agent.json", &cfg,
					    err, sizeof(err)), 0);
	assert_string_equal(cfg.broker_ca, "/etc/tunnel-agent/ca.pem");
	assert_string_equal(cfg.broker_cert, "/p/dev.pem"); /* absolute: as given */
	assert_string_equal(cfg.relay_ca, "/etc/tunnel-agent/certs/r.pem");
	assert_string_equal(cfg.localproxy, "/etc/tunnel-agent/bin/localproxy");
	/* A config file named without a directory: as given. */
	assert_int_equal(agent_config_parse(json, strlen(json), "agent.json", &cfg, err,
					    sizeof(err)), 0);
	assert_string_equal(cfg.broker_ca, "ca.pem");
}

static void relay_optional_with_notified_endpoint(void **state)
{
	char err[512];
	const char *json = edit(MINIMAL, "\"relay\":{\"endpoint\":\"relay:443\"},",
				"\"useNotifiedEndpoint\":true,");
	assert_int_equal(parse(json, err, sizeof(err)), 0);
	assert_string_equal(cfg.relay_endpoint, "");
	json = edit(MINIMAL, "\"relay\":{\"endpoint\":\"relay:443\"},",
		    "\"relay\":{\"ca\":\"/r/ca.pem\"},\"useNotifiedEndpoint\":true,");
	assert_int_equal(parse(json, err, sizeof(err)), 0);
	assert_string_equal(cfg.relay_ca, "/r/ca.pem");
	/* The order of the keys does not matter. */
	json = edit(MINIMAL, "{\"thingName\"", "{\"useNotifiedEndpoint\":true,\"thingName\"");
	json = edit(json, "\"relay\":{\"endpoint\":\"relay:443\"},", "");
	assert_int_equal(parse(json, err, sizeof(err)), 0);
}

/* ---- parsing: errors, one precise line each ------------------------------ */

static void syntax_errors(void **state)
{
	char err[256];
	assert_int_equal(agent_config_parse("", 0, "agent.json", &cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "agent.json: is empty (want a JSON object; see tunnel-agent --help)");
	expect_error("{\n  \"thingName\": tru\n}", "agent.json: not valid JSON at line 2, column 16");
	expect_error("{} {}", "agent.json: unexpected text after the JSON object at line 1, column 4");
	expect_error("[1]", "agent.json: want a JSON object ({...}), got an array");
	assert_int_equal(agent_config_parse("{\"a\":1}\0x", 9, "agent.json", &cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "agent.json: contains a NUL byte: not a JSON text file");
}

static void unknown_and_duplicate_keys(void **state)
{
	expect_error(edit(MINIMAL, "\"services\"", "\"maxTunnel\":3,\"services\""),
		     "agent.json: maxTunnel: unknown key (known keys: thingName, broker, notifyTopic, presenceTopic, "
		     "relay, localproxy, services, maxTunnels, logLevel, useNotifiedEndpoint)");
	expect_error(edit(MINIMAL, "\"uri\"", "\"url\":\"x\",\"uri\""),
		     "agent.json: broker.url: unknown key (known keys: uri, ca, cert, key, clientId, "
		     "keepAliveSeconds)");
	expect_error(edit(MINIMAL, "\"endpoint\"", "\"port\":1,\"endpoint\""),
		     "agent.json: relay.port: unknown key (known keys: endpoint, ca)");
	expect_error(edit(MINIMAL, "\"services\"", "\"thingName\":\"b\",\"services\""),
		     "agent.json: thingName: given twice");
	expect_error(edit(MINIMAL, "\"SSH\":\"127.0.0.1:22\"", "\"SSH\":\"22\",\"SSH\":\"23\""),
		     "agent.json: services.SSH: given twice");
	/* A raw CR/LF in a key (cJSON lets it through) must not split the
	 * one-line error: control characters are shown as '?'. */
	expect_error(edit(MINIMAL, "\"services\"", "\"max\r\nTunnels\":3,\"services\""),
		     "agent.json: max??Tunnels: unknown key (known keys: thingName, broker, notifyTopic, presenceTopic, "
		     "relay, localproxy, services, maxTunnels, logLevel, useNotifiedEndpoint)");
}

static void thing_name_errors(void **state)
{
	expect_error(edit(MINIMAL, "\"thingName\":\"nanopi-01\",", ""),
		     "agent.json: thingName: missing (required)");
	expect_error(edit(MINIMAL, "\"nanopi-01\"", "\"nano pi\""),
		     "agent.json: thingName: 'nano pi' is not a thing name (1-128 of [A-Za-z0-9_:-])");
	expect_error(edit(MINIMAL, "\"nanopi-01\"", "\"a/b\""),
		     "agent.json: thingName: 'a/b' is not a thing name (1-128 of [A-Za-z0-9_:-])");
	expect_error(edit(MINIMAL, "\"nanopi-01\"", "\"a+\""),
		     "agent.json: thingName: 'a+' is not a thing name (1-128 of [A-Za-z0-9_:-])");
	expect_error(edit(MINIMAL, "\"nanopi-01\"", "7"),
		     "agent.json: thingName: want a string, got a number");
	expect_error(edit(MINIMAL, "\"nanopi-01\"", "\"\""), "agent.json: thingName: is empty");
	char long_name[140], json[1024];
	memset(long_name, 'x', 129);
	long_name[129] = '\0';
	snprintf(json, sizeof(json), "%s", edit(MINIMAL, "nanopi-01", long_name));
	char want[256];
	snprintf(want, sizeof(want), "agent.json: thingName: '%.64s...' is not a thing name "
		 "(1-128 of [A-Za-z0-9_:-])", long_name);
	expect_error(json, want);
	long_name[128] = '\0'; /* 128 is fine */
	snprintf(json, sizeof(json), "%s", edit(MINIMAL, "nanopi-01", long_name));
	char err[256];
	assert_int_equal(parse(json, err, sizeof(err)), 0);
}

static void broker_errors(void **state)
{
	expect_error(edit(MINIMAL, "\"broker\"", "\"brokerX\""),
		     "agent.json: brokerX: unknown key (known keys: thingName, broker, notifyTopic, presenceTopic, "
		     "relay, localproxy, services, maxTunnels, logLevel, useNotifiedEndpoint)");
	expect_error("{\"thingName\":\"a\",\"services\":{\"S\":\"1\"}}",
		     "agent.json: broker: missing (required)");
	expect_error("{\"thingName\":\"a\",\"broker\":\"ssl://x:1\"}",
		     "agent.json: broker: want an object, got a string");
	expect_error(edit(MINIMAL, "\"uri\":\"ssl://broker:8883\",", ""),
		     "agent.json: broker.uri: missing (required)");
	expect_error(edit(MINIMAL, "ssl://broker:8883", "tcp://broker:1883"),
		     "agent.json: broker.uri: 'tcp://broker:1883' must start with ssl:// or mqtts:// "
		     "(TLS with the device certificate is required), e.g. ssl://broker.example:8883");
	expect_error(edit(MINIMAL, "ssl://broker:8883", "ssl://broker"),
		     "agent.json: broker.uri: 'ssl://broker': 'broker': a port is required "
		     "(e.g. ssl://broker.example:8883)");
	expect_error(edit(MINIMAL, "ssl://broker:8883", "ssl://broker:99999"),
		     "agent.json: broker.uri: 'ssl://broker:99999': 'broker:99999': port must be a "
		     "number from 1 to 65535 (e.g. ssl://broker.example:8883)");
	expect_error(edit(MINIMAL, "ssl://broker:8883", "ssl://:8883"),
		     "agent.json: broker.uri: 'ssl://:8883': a host name is required");
	expect_error(edit(MINIMAL, "ssl://broker:8883", "ssl://broker:8883/mqtt"),
		     "agent.json: broker.uri: 'ssl://broker:8883/mqtt': want ssl://HOST:PORT without a path");
	expect_error(edit(MINIMAL, "\"ca\":\"/p/ca.pem\",", ""),
		     "agent.json: broker.ca: missing (required)");
	expect_error(edit(MINIMAL, "\"cert\":\"/p/dev.pem\",", ""),
		     "agent.json: broker.cert: missing (required)");
	expect_error(edit(MINIMAL, ",\"key\":\"/p/dev.key\"", ""),
		     "agent.json: broker.key: missing (required)");
	expect_error(edit(MINIMAL, "\"/p/dev.key\"", "[\"/p/dev.key\"]"),
		     "agent.json: broker.key: want a string, got an array");
	expect_error(edit(MINIMAL, "\"/p/dev.key\"", "\"/p/dev\\n.key\""),
		     "agent.json: broker.key: contains a control character");
	expect_error(edit(MINIMAL, "\"key\":\"/p/dev.key\"", "\"key\":\"/p/dev.key\",\"clientId\":\"a b\""),
		     "agent.json: broker.clientId: want printable ASCII without spaces");
	expect_error(edit(MINIMAL, "\"key\":\"/p/dev.key\"", "\"key\":\"/p/dev.key\",\"clientId\":\"\""),
		     "agent.json: broker.clientId: is empty");
	expect_error(edit(MINIMAL, "\"key\":\"/p/dev.key\"", "\"key\":\"/p/dev.key\",\"keepAliveSeconds\":4"),
		     "agent.json: broker.keepAliveSeconds: want an integer from 5 to 3600, got 4");
	expect_error(edit(MINIMAL, "\"key\":\"/p/dev.key\"", "\"key\":\"/p/dev.key\",\"keepAliveSeconds\":30.5"),
		     "agent.json: broker.keepAliveSeconds: want an integer from 5 to 3600, got 30.5");
	expect_error(edit(MINIMAL, "\"key\":\"/p/dev.key\"", "\"key\":\"/p/dev.key\",\"keepAliveSeconds\":\"30\""),
		     "agent.json: broker.keepAliveSeconds: want an integer from 5 to 3600, got a string");
}

static void topic_errors(void **state)
{
	expect_error(edit(MINIMAL, "\"services\"", "\"notifyTopic\":\"$aws/things/+/tunnels/notify\",\"services\""),
		     "agent.json: notifyTopic: '$aws/things/+/tunnels/notify' contains an MQTT "
		     "wildcard ('+' or '#'); a device subscribes to its own topic only");
	expect_error(edit(MINIMAL, "\"services\"", "\"notifyTopic\":\"a/#\",\"services\""),
		     "agent.json: notifyTopic: 'a/#' contains an MQTT wildcard ('+' or '#'); a device "
		     "subscribes to its own topic only");
	expect_error(edit(MINIMAL, "\"services\"", "\"notifyTopic\":\"\",\"services\""),
		     "agent.json: notifyTopic: is empty");
	char json[4096], tmpl[1100];
	memset(tmpl, 'a', 1000);
	strcpy(tmpl + 1000, "{thing}{thing}{thing}"); /* 1021 characters, 1027 expanded */
	char with[1200];
	snprintf(with, sizeof(with), "\"notifyTopic\":\"%s\",\"services\"", tmpl);
	snprintf(json, sizeof(json), "%s", edit(MINIMAL, "\"services\"", with));
	expect_error(json, "agent.json: notifyTopic: longer than 1023 characters once {thing} is replaced");
}

static void relay_errors(void **state)
{
	expect_error(edit(MINIMAL, "\"relay\":{\"endpoint\":\"relay:443\"},", ""),
		     "agent.json: relay: missing (required unless useNotifiedEndpoint is true), e.g. "
		     "{\"endpoint\": \"relay.example:443\", \"ca\": \"ca.pem\"}");
	expect_error(edit(MINIMAL, "{\"endpoint\":\"relay:443\"}", "{\"ca\":\"/x\"}"),
		     "agent.json: relay.endpoint: missing (required unless useNotifiedEndpoint is true)");
	expect_error(edit(MINIMAL, "relay:443", "relay:0"),
		     "agent.json: relay.endpoint: 'relay:0': port must be a number from 1 to 65535 (want HOST:PORT)");
	expect_error(edit(MINIMAL, "relay:443", "443"),
		     "agent.json: relay.endpoint: '443': a host name is required (want HOST:PORT)");
	expect_error(edit(MINIMAL, "{\"endpoint\":\"relay:443\"}", "[]"),
		     "agent.json: relay: want an object, got an array");
	expect_error(edit(MINIMAL, "\"relay:443\"}", "\"relay:443\",\"ca\":false}"),
		     "agent.json: relay.ca: want a string, got a boolean");
	expect_error(edit(MINIMAL, "\"services\"", "\"localproxy\":\"\",\"services\""),
		     "agent.json: localproxy: is empty");
}

static void service_errors(void **state)
{
	expect_error(edit(MINIMAL, ",\"services\":{\"SSH\":\"127.0.0.1:22\"}", ""),
		     "agent.json: services: missing (required), e.g. {\"SSH\": \"127.0.0.1:22\"}");
	expect_error(edit(MINIMAL, "{\"SSH\":\"127.0.0.1:22\"}", "{}"),
		     "agent.json: services: is empty: map at least one service, e.g. {\"SSH\": \"127.0.0.1:22\"}");
	expect_error(edit(MINIMAL, "{\"SSH\":\"127.0.0.1:22\"}", "[\"SSH\"]"),
		     "agent.json: services: want an object such as {\"SSH\": \"127.0.0.1:22\"}, got an array");
	expect_error(edit(MINIMAL, "\"SSH\":", "\"S S\":"),
		     "agent.json: services.\"S S\": a service name must be 1-128 of [A-Za-z0-9_:-]");
	expect_error(edit(MINIMAL, "\"127.0.0.1:22\"", "22"),
		     "agent.json: services.SSH: want a string (\"HOST:PORT\", \"PORT\", \"udp:HOST:PORT\" or a Unix socket path), got a number");
	expect_error(edit(MINIMAL, "\"127.0.0.1:22\"", "\"\""),
		     "agent.json: services.SSH: is empty (want \"HOST:PORT\", e.g. \"127.0.0.1:22\")");
	expect_error(edit(MINIMAL, "127.0.0.1:22", "127.0.0.1"),
		     "agent.json: services.SSH: '127.0.0.1': a port is required");
	expect_error(edit(MINIMAL, "127.0.0.1:22", "host:70000"),
		     "agent.json: services.SSH: 'host:70000': port must be a number from 1 to 65535");
	expect_error(edit(MINIMAL, "127.0.0.1:22", "a:22,HTTP=b:80"),
		     "agent.json: services.SSH: 'a:22,HTTP=b:80' is not HOST:PORT, PORT, udp:HOST:PORT or an absolute Unix socket path");
	expect_error(edit(MINIMAL, "127.0.0.1:22", "udp:127.0.0.1:70000"),
		     "agent.json: services.SSH: '127.0.0.1:70000': port must be a number from 1 to 65535");
	expect_error(edit(MINIMAL, "127.0.0.1:22", "/run/a,b.sock"),
		     "agent.json: services.SSH: '/run/a,b.sock': a Unix socket path must not contain ',' or control characters");
	char path[200], json[1024];
	path[0] = '/';
	memset(path + 1, 'p', 110);
	path[111] = '\0';
	snprintf(json, sizeof(json), "%s", edit(MINIMAL, "127.0.0.1:22", path));
	expect_error(json, "agent.json: services.SSH: Unix socket path longer than 107 characters");
}

static void number_and_bool_errors(void **state)
{
	expect_error(edit(MINIMAL, "\"services\"", "\"maxTunnels\":0,\"services\""),
		     "agent.json: maxTunnels: want an integer from 1 to 64, got 0");
	expect_error(edit(MINIMAL, "\"services\"", "\"maxTunnels\":65,\"services\""),
		     "agent.json: maxTunnels: want an integer from 1 to 64, got 65");
	expect_error(edit(MINIMAL, "\"services\"", "\"maxTunnels\":\"4\",\"services\""),
		     "agent.json: maxTunnels: want an integer from 1 to 64, got a string");
	expect_error(edit(MINIMAL, "\"services\"", "\"logLevel\":7,\"services\""),
		     "agent.json: logLevel: want an integer from 0 to 6, got 7");
	expect_error(edit(MINIMAL, "\"services\"", "\"logLevel\":-1,\"services\""),
		     "agent.json: logLevel: want an integer from 0 to 6, got -1");
	expect_error(edit(MINIMAL, "\"services\"", "\"logLevel\":null,\"services\""),
		     "agent.json: logLevel: want an integer from 0 to 6, got null");
	expect_error(edit(MINIMAL, "\"services\"", "\"useNotifiedEndpoint\":\"yes\",\"services\""),
		     "agent.json: useNotifiedEndpoint: want true or false, got a string");
	expect_error(edit(MINIMAL, "\"services\"", "\"useNotifiedEndpoint\":1,\"services\""),
		     "agent.json: useNotifiedEndpoint: want true or false, got a number");
}

static void reload_keeps_broker_settings(void **state)
{
	char err[512];
	static struct agent_config cur, next;
	assert_int_equal(agent_config_parse(MINIMAL, strlen(MINIMAL), "a", &cur, err, sizeof(err)), 0);
	const char *json = edit(MINIMAL, "{\"SSH\":\"127.0.0.1:22\"}",
				"{\"SSH\":\"127.0.0.1:2222\",\"HTTP\":\"80\"},\"maxTunnels\":2,"
				"\"logLevel\":5");
	assert_int_equal(agent_config_parse(json, strlen(json), "a", &next, err, sizeof(err)), 0);
	assert_false(agent_config_apply_reload(&cur, &next));
	assert_int_equal(cur.n_services, 2);
	assert_string_equal(agent_config_service(&cur, "SSH"), "127.0.0.1:2222");
	assert_int_equal(cur.max_tunnels, 2);
	assert_int_equal(cur.log_level, 5);
	json = edit(MINIMAL, "ssl://broker:8883", "ssl://other:8883");
	json = edit(json, "relay:443", "relay2:443");
	assert_int_equal(agent_config_parse(json, strlen(json), "a", &next, err, sizeof(err)), 0);
	assert_true(agent_config_apply_reload(&cur, &next));
	assert_string_equal(cur.broker_uri, "ssl://broker:8883"); /* needs a restart */
	assert_string_equal(cur.relay_endpoint, "relay2:443");    /* applied */
	assert_true(agent_id_valid("a", 1));
	assert_false(agent_id_valid("ab", 1));
	assert_false(agent_id_valid("", 5));
	assert_false(agent_id_valid(NULL, 5));
}

/* ---- files: certificates made here ----------------------------------------- */

struct pem_pair {
	X509 *cert;
	EVP_PKEY *key;
};

/* A self-signed EC certificate with this CN, valid from days_from to days_to
 * (relative to now). */
static struct pem_pair make_cert(const char *cn, long days_from, long days_to)
{
	struct pem_pair p;
	p.key = EVP_EC_gen("P-256");
	assert_non_null(p.key);
	p.cert = X509_new();
	assert_non_null(p.cert);
	X509_set_version(p.cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(p.cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(p.cert), days_from * 86400L);
	X509_gmtime_adj(X509_getm_notAfter(p.cert), days_to * 86400L);
	X509_NAME *name = X509_get_subject_name(p.cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(p.cert, name);
	X509_set_pubkey(p.cert, p.key);
	assert_true(X509_sign(p.cert, p.key, EVP_sha256()) > 0);
	return p;
}

static void free_pair(struct pem_pair *p)
{
	X509_free(p->cert);
	EVP_PKEY_free(p->key);
}

static const char *path_of(const char *file)
{
	static char paths[8][PATH_MAX];
	static int next;
	char *p = paths[next++ % 8];
	snprintf(p, PATH_MAX, "%s/%s", dir, file);
	return p;
}

static void write_cert(const char *file, X509 *x)
{
	FILE *f = fopen(path_of(file), "w");
	assert_non_null(f);
	assert_true(PEM_write_X509(f, x));
	fclose(f);
}

static void write_key(const char *file, EVP_PKEY *k, const char *passphrase)
{
	FILE *f = fopen(path_of(file), "w");
	assert_non_null(f);
	if (passphrase)
		assert_true(PEM_write_PrivateKey(f, k, EVP_aes_256_cbc(), NULL, 0, NULL,
						 (void *)passphrase));
	else
		assert_true(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL));
	fclose(f);
	chmod(path_of(file), 0600);
}

static void write_text(const char *file, const char *text, mode_t mode)
{
	FILE *f = fopen(path_of(file), "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path_of(file), mode);
}

static int group_setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_agent_config.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	struct pem_pair dev = make_cert("nanopi-01", -1, 365);
	struct pem_pair other = make_cert("nanopi-02", -1, 365);
	struct pem_pair ca = make_cert("Test CA", -1, 3650);
	struct pem_pair old = make_cert("nanopi-01", -30, -1);
	write_cert("dev.pem", dev.cert);
	write_key("dev.key", dev.key, NULL);
	write_key("dev-encrypted.key", dev.key, "secret");
	write_cert("other.pem", other.cert);
	write_key("other.key", other.key, NULL);
	write_cert("ca.pem", ca.cert);
	write_cert("old.pem", old.cert);
	write_key("old.key", old.key, NULL);
	write_key("dev-open.key", dev.key, NULL);
	chmod(path_of("dev-open.key"), 0644);
	free_pair(&dev);
	free_pair(&other);
	free_pair(&ca);
	free_pair(&old);
	write_text("garbage.pem", "hello\n", 0644);
	write_text("localproxy", "#!/bin/sh\nexit 0\n", 0755);
	write_text("not-executable", "#!/bin/sh\nexit 0\n", 0644);
	mkdir(path_of("subdir"), 0755);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int group_teardown(void **state)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

struct warnings {
	char line[8][1024];
	int n;
};

static void collect(void *arg, const char *line)
{
	struct warnings *w = arg;
	if (w->n < 8)
		snprintf(w->line[w->n++], sizeof(w->line[0]), "%s", line);
}

/* A parsed config whose files are in dir; then override. */
static void file_config(const char *cert, const char *key, const char *ca, const char *relay_ca,
			const char *localproxy)
{
	char err[512];
	assert_int_equal(parse(MINIMAL, err, sizeof(err)), 0);
	snprintf(cfg.broker_cert, sizeof(cfg.broker_cert), "%s", path_of(cert));
	snprintf(cfg.broker_key, sizeof(cfg.broker_key), "%s", path_of(key));
	snprintf(cfg.broker_ca, sizeof(cfg.broker_ca), "%s", path_of(ca));
	snprintf(cfg.relay_ca, sizeof(cfg.relay_ca), "%s", relay_ca ? path_of(relay_ca) : "");
	snprintf(cfg.localproxy, sizeof(cfg.localproxy), "%s", path_of(localproxy));
}

/* Expects exactly "agent.json: KEY: PATH-OF-FILE: SUFFIX". */
static void check_error(const char *key, const char *file, const char *suffix)
{
	char err[1024] = "", want[1024];
	struct warnings w = {0};
	int rc = agent_config_check_files(&cfg, "agent.json", err, sizeof(err), collect, &w);
	snprintf(want, sizeof(want), "agent.json: %s: %s: %s", key, path_of(file), suffix);
	if (rc != -1 || strcmp(err, want) != 0)
		fail_msg("rc %d, error '%s', want '%s'", rc, err, want);
}

static void files_ok(void **state)
{
	file_config("dev.pem", "dev.key", "ca.pem", "ca.pem", "localproxy");
	char err[512] = "";
	struct warnings w = {0};
	int rc = agent_config_check_files(&cfg, "agent.json", err, sizeof(err), collect, &w);
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(w.n, 0);
}

#define NOENT "cannot read: No such file or directory"
#define NOT_CERT "not a PEM certificate (want \"-----BEGIN CERTIFICATE-----\")"

static void files_unreadable(void **state)
{
	file_config("missing.pem", "dev.key", "ca.pem", NULL, "localproxy");
	check_error("broker.cert", "missing.pem", NOENT);
	file_config("dev.pem", "dev.key", "missing-ca.pem", NULL, "localproxy");
	check_error("broker.ca", "missing-ca.pem", NOENT);
	file_config("dev.pem", "missing.key", "ca.pem", NULL, "localproxy");
	check_error("broker.key", "missing.key", NOENT);
	file_config("dev.pem", "dev.key", "ca.pem", "nope.pem", "localproxy");
	check_error("relay.ca", "nope.pem", NOENT);
	file_config("subdir", "dev.key", "ca.pem", NULL, "localproxy");
	check_error("broker.cert", "subdir", "cannot read: Is a directory");
}

static void files_not_pem(void **state)
{
	file_config("garbage.pem", "dev.key", "ca.pem", NULL, "localproxy");
	check_error("broker.cert", "garbage.pem", NOT_CERT);
	file_config("dev.key", "dev.key", "ca.pem", NULL, "localproxy");
	check_error("broker.cert", "dev.key", NOT_CERT);
	file_config("dev.pem", "dev.key", "garbage.pem", NULL, "localproxy");
	check_error("broker.ca", "garbage.pem", NOT_CERT);
	file_config("dev.pem", "dev.pem", "ca.pem", NULL, "localproxy");
	check_error("broker.key", "dev.pem",
		    "not a PEM private key (want \"-----BEGIN PRIVATE KEY-----\")");
	file_config("dev.pem", "dev.key", "ca.pem", "garbage.pem", "localproxy");
	check_error("relay.ca", "garbage.pem", NOT_CERT);
}

static void key_problems(void **state)
{
	file_config("dev.pem", "other.key", "ca.pem", NULL, "localproxy");
	char want[1024];
	snprintf(want, sizeof(want), "does not match broker.cert %s", path_of("dev.pem"));
	check_error("broker.key", "other.key", want);
	file_config("dev.pem", "dev-encrypted.key", "ca.pem", NULL, "localproxy");
	check_error("broker.key", "dev-encrypted.key",
		    "encrypted with a passphrase; the agent cannot prompt for it (decrypt it: "
		    "openssl pkey -in KEY -out KEY)");
}

static void localproxy_problems(void **state)
{
	file_config("dev.pem", "dev.key", "ca.pem", NULL, "no-such-localproxy");
	check_error("localproxy", "no-such-localproxy", "cannot run: No such file or directory");
	file_config("dev.pem", "dev.key", "ca.pem", NULL, "subdir");
	check_error("localproxy", "subdir", "cannot run: not a regular file");
	file_config("dev.pem", "dev.key", "ca.pem", NULL, "not-executable");
	check_error("localproxy", "not-executable", "cannot run: Permission denied");
}

static void warnings_do_not_stop(void **state)
{
	char err[512] = "";
	struct warnings w = {0};
	/* CN is not the thing name. */
	file_config("other.pem", "other.key", "ca.pem", NULL, "localproxy");
	assert_int_equal(agent_config_check_files(&cfg, "agent.json", err, sizeof(err), collect, &w), 0);
	assert_int_equal(w.n, 1);
	char want[1024];
	snprintf(want, sizeof(want), "agent.json: broker.cert: %s: its CN is 'nanopi-02', not the "
		 "thing name 'nanopi-01'; a broker whose ACL uses the CN (as packaging/mosquitto "
		 "does) will not let this device subscribe to $aws/things/nanopi-01/tunnels/notify",
		 path_of("other.pem"));
	assert_string_equal(w.line[0], want);
	/* A key other users can read. */
	w.n = 0;
	file_config("dev.pem", "dev-open.key", "ca.pem", NULL, "localproxy");
	assert_int_equal(agent_config_check_files(&cfg, "agent.json", err, sizeof(err), collect, &w), 0);
	assert_int_equal(w.n, 1);
	snprintf(want, sizeof(want), "agent.json: broker.key: %s: other users may read it (mode "
		 "0644); chmod 600 it", path_of("dev-open.key"));
	assert_string_equal(w.line[0], want);
	/* An expired certificate: a warning (the clock of a device without an
	 * RTC may be wrong at boot), TLS decides. */
	w.n = 0;
	file_config("old.pem", "old.key", "ca.pem", NULL, "localproxy");
	assert_int_equal(agent_config_check_files(&cfg, "agent.json", err, sizeof(err), collect, &w), 0);
	assert_int_equal(w.n, 1);
	snprintf(want, sizeof(want), "agent.json: broker.cert: %s: expired (TLS will fail until it "
		 "is renewed)", path_of("old.pem"));
	assert_string_equal(w.line[0], want);
	/* NULL callback is fine. */
	assert_int_equal(agent_config_check_files(&cfg, "agent.json", err, sizeof(err), NULL, NULL), 0);
}

static void load_whole_file(void **state)
{
	char err[1024] = "", want[1024];
	assert_int_equal(agent_config_load(path_of("absent.json"), &cfg, err, sizeof(err), NULL, NULL), -1);
	snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path_of("absent.json"));
	assert_string_equal(err, want);
	assert_int_equal(agent_config_load(path_of("subdir"), &cfg, err, sizeof(err), NULL, NULL), -1);
	snprintf(want, sizeof(want), "%s: cannot read: Is a directory", path_of("subdir"));
	assert_string_equal(err, want);

	write_text("bad.json", "{\"thingName\": 1}", 0600);
	assert_int_equal(agent_config_load(path_of("bad.json"), &cfg, err, sizeof(err), NULL, NULL), -1);
	snprintf(want, sizeof(want), "%s: thingName: want a string, got a number", path_of("bad.json"));
	assert_string_equal(err, want);

	/* Relative names: next to the config file. */
	write_text("agent.json",
		   "{\"thingName\":\"nanopi-01\",\n"
		   " \"broker\":{\"uri\":\"ssl://127.0.0.1:8883\",\"ca\":\"ca.pem\",\"cert\":\"dev.pem\","
		   "\"key\":\"dev.key\"},\n"
		   " \"relay\":{\"endpoint\":\"127.0.0.1:8443\",\"ca\":\"ca.pem\"},\n"
		   " \"localproxy\":\"localproxy\",\n"
		   " \"services\":{\"SSH\":\"127.0.0.1:22\"}}\n", 0600);
	struct warnings w = {0};
	if (agent_config_load(path_of("agent.json"), &cfg, err, sizeof(err), collect, &w) != 0)
		fail_msg("%s", err);
	assert_int_equal(w.n, 0);
	assert_string_equal(cfg.broker_key, path_of("dev.key"));
	assert_string_equal(cfg.localproxy, path_of("localproxy"));

	/* A file error names the file, the key and the path. */
	write_text("agent2.json",
		   "{\"thingName\":\"nanopi-01\",\n"
		   " \"broker\":{\"uri\":\"ssl://127.0.0.1:8883\",\"ca\":\"ca.pem\",\"cert\":\"x.pem\","
		   "\"key\":\"dev.key\"},\n"
		   " \"relay\":{\"endpoint\":\"127.0.0.1:8443\"},\n"
		   " \"services\":{\"SSH\":\"127.0.0.1:22\"}}\n", 0600);
	assert_int_equal(agent_config_load(path_of("agent2.json"), &cfg, err, sizeof(err), NULL, NULL), -1);
	snprintf(want, sizeof(want), "%s: broker.cert: %s: cannot read: No such file or directory",
		 path_of("agent2.json"), path_of("x.pem"));
	assert_string_equal(err, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(minimal_config_gets_defaults),
		cmocka_unit_test(every_key),
		cmocka_unit_test(udp_service_target),
		cmocka_unit_test(literal_topic_and_bounds),
		cmocka_unit_test(relative_paths_follow_the_config_file),
		cmocka_unit_test(relay_optional_with_notified_endpoint),
		cmocka_unit_test(syntax_errors),
		cmocka_unit_test(unknown_and_duplicate_keys),
		cmocka_unit_test(thing_name_errors),
		cmocka_unit_test(broker_errors),
		cmocka_unit_test(topic_errors),
		cmocka_unit_test(relay_errors),
		cmocka_unit_test(service_errors),
		cmocka_unit_test(number_and_bool_errors),
		cmocka_unit_test(reload_keeps_broker_settings),
		cmocka_unit_test(files_ok),
		cmocka_unit_test(files_unreadable),
		cmocka_unit_test(files_not_pem),
		cmocka_unit_test(key_problems),
		cmocka_unit_test(localproxy_problems),
		cmocka_unit_test(warnings_do_not_stop),
		cmocka_unit_test(load_whole_file),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
