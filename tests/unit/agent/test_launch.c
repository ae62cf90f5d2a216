/* Unit tests for agent/launch.c: the destination localproxy's argv and
 * environment for an accepted notification. The token must be in the
 * environment only; -d lists only the notified services, in a form
 * localproxy's own parser (proxy/mapping.c) accepts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "agent/launch.h"
#include "agent/notification.h"
#include "proxy/mapping.h"

#define TOKEN "AQGAAXhzdGVzdC1kZXN0aW5hdGlvbi10b2tlbi0wMTIzNDU2Nzg5"
#define TOPIC "$aws/things/nanopi-01/tunnels/notify"

#define CONFIG                                                                             \
	"{\"thingName\":\"nanopi-01\","                                                    \
	"\"broker\":{\"uri\":\"ssl://broker:8883\",\"ca\":\"/p/ca.pem\","                  \
	"\"cert\":\"/p/dev.pem\",\"key\":\"/p/dev.key\"},"                                 \
	"\"relay\":{\"endpoint\":\"relay.example:443\",\"ca\":\"/p/relay-ca.pem\"},"       \
	"\"localproxy\":\"/opt/tunnel/localproxy\","                                       \
	"\"services\":{\"SSH\":\"127.0.0.1:22\",\"HTTP\":\"127.0.0.1:80\","                \
	"\"RDP\":\"10.0.0.5:3389\",\"VNC\":\"5900\",\"DB\":\"/run/db.sock\"}}"

static struct agent_config cfg;

static int setup(void **state)
{
	char err[512];
	if (agent_config_parse(CONFIG, strlen(CONFIG), "agent.json", &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static void notified(const char *services_json, struct notification *n)
{
	char payload[512], why[256];
	snprintf(payload, sizeof(payload), "{\"clientAccessToken\":\"%s\",\"clientMode\":"
		 "\"destination\",\"services\":%s,\"tunnelId\":\"t1\"}", TOKEN, services_json);
	if (!notification_decide(&cfg, TOPIC, payload, strlen(payload), n, why, sizeof(why)))
		fail_msg("refused: %s", why);
}

static size_t count(char *const *v)
{
	size_t n = 0;
	while (v[n] != NULL)
		n++;
	return n;
}

static void argv_for_one_service(void **state)
{
	struct notification n;
	struct launch_plan p;
	char err[256];
	notified("[\"SSH\"]", &n);
	assert_int_equal(launch_plan_build(&cfg, &n, &p, err, sizeof(err)), 0);
	const char *want[] = {"/opt/tunnel/localproxy", "-m", "destination", "-e",
			      "relay.example:443", "-c", "/p/relay-ca.pem", "-d", "SSH=127.0.0.1:22",
			      "-v", "4", "--config", "/dev/null"};
	size_t n_want = sizeof(want) / sizeof(want[0]);
	assert_int_equal(count(p.argv), n_want);
	for (size_t i = 0; i < n_want; i++)
		assert_string_equal(p.argv[i], want[i]);
	launch_plan_clear(&p);
	notification_clear(&n);
}

static void token_only_in_the_environment(void **state)
{
	struct notification n;
	struct launch_plan p;
	char err[256];
	notified("[\"SSH\",\"HTTP\"]", &n);
	assert_int_equal(launch_plan_build(&cfg, &n, &p, err, sizeof(err)), 0);
	for (size_t i = 0; p.argv[i] != NULL; i++) {
		assert_null(strstr(p.argv[i], TOKEN));
		assert_string_not_equal(p.argv[i], "-t");
		assert_string_not_equal(p.argv[i], "--access-token");
	}
	/* Exactly PATH and the token: nothing inherited. */
	assert_int_equal(count(p.envp), 2);
	assert_string_equal(p.envp[0], LAUNCH_PATH);
	assert_int_equal(strncmp(p.envp[0], "PATH=/", 6), 0);
	assert_string_equal(p.envp[1], "AWSIOT_TUNNEL_ACCESS_TOKEN=" TOKEN);
	/* The plan owns its copy: the notification can go first. */
	notification_clear(&n);
	assert_string_equal(p.envp[1], "AWSIOT_TUNNEL_ACCESS_TOKEN=" TOKEN);
	launch_plan_clear(&p);
	assert_null(p.env_token);
	assert_null(p.argv[0]);
}

static void only_the_notified_services(void **state)
{
	struct notification n;
	struct launch_plan p;
	char err[256];
	notified("[\"VNC\",\"DB\",\"SSH\"]", &n);
	assert_int_equal(launch_plan_build(&cfg, &n, &p, err, sizeof(err)), 0);
	assert_string_equal(p.destinations, "VNC=5900,DB=/run/db.sock,SSH=127.0.0.1:22");
	/* localproxy's parser reads it back as three named services. */
	struct mapping m;
	char why[256];
	if (mapping_parse_destination(p.destinations, &m, why, sizeof(why)) != 0)
		fail_msg("localproxy would refuse -d %s: %s", p.destinations, why);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.entry[0].service, "VNC");
	assert_string_equal(m.entry[0].target.host, "127.0.0.1");
	assert_int_equal(m.entry[0].target.port, 5900);
	assert_string_equal(m.entry[1].service, "DB");
	assert_string_equal(m.entry[1].unix_path, "/run/db.sock");
	assert_string_equal(m.entry[2].service, "SSH");
	assert_int_equal(m.entry[2].target.port, 22);
	/* HTTP and RDP are mapped but were not asked for. */
	assert_null(strstr(p.destinations, "HTTP"));
	assert_null(strstr(p.destinations, "RDP"));
	launch_plan_clear(&p);
	notification_clear(&n);
}

static void no_relay_ca_no_c_flag(void **state)
{
	struct notification n;
	struct launch_plan p;
	char err[256];
	char saved[sizeof(cfg.relay_ca)];
	memcpy(saved, cfg.relay_ca, sizeof(saved));
	cfg.relay_ca[0] = '\0';
	cfg.log_level = 6;
	notified("[\"RDP\"]", &n);
	assert_int_equal(launch_plan_build(&cfg, &n, &p, err, sizeof(err)), 0);
	const char *want[] = {"/opt/tunnel/localproxy", "-m", "destination", "-e",
			      "relay.example:443", "-d", "RDP=10.0.0.5:3389", "-v", "6", "--config",
			      "/dev/null"};
	size_t n_want = sizeof(want) / sizeof(want[0]);
	assert_int_equal(count(p.argv), n_want);
	for (size_t i = 0; i < n_want; i++)
		assert_string_equal(p.argv[i], want[i]);
	launch_plan_clear(&p);
	notification_clear(&n);
	memcpy(cfg.relay_ca, saved, sizeof(saved));
	cfg.log_level = 4;
}

static void notified_endpoint_goes_to_e(void **state)
{
	struct notification n;
	struct launch_plan p;
	char err[256], why[256];
	const char *payload = "{\"clientAccessToken\":\"" TOKEN "\",\"clientMode\":\"destination\","
			      "\"services\":[\"SSH\"],\"endpoint\":\"[2001:db8::1]:8443\"}";
	cfg.use_notified_endpoint = true;
	assert_true(notification_decide(&cfg, TOPIC, payload, strlen(payload), &n, why, sizeof(why)));
	assert_int_equal(launch_plan_build(&cfg, &n, &p, err, sizeof(err)), 0);
	assert_string_equal(p.argv[3], "-e");
	assert_string_equal(p.argv[4], "[2001:db8::1]:8443");
	launch_plan_clear(&p);
	notification_clear(&n);
	cfg.use_notified_endpoint = false;
}

static void service_unmapped_since_the_decision(void **state)
{
	struct notification n;
	struct launch_plan p;
	char err[256];
	notified("[\"SSH\",\"HTTP\"]", &n);
	static struct agent_config reloaded;
	reloaded = cfg;
	reloaded.n_services = 1; /* SIGHUP: only SSH left */
	assert_int_equal(launch_plan_build(&reloaded, &n, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "service HTTP is no longer in the service map");
	assert_null(p.env_token);
	launch_plan_clear(&p);
	/* A cleared notification builds nothing. */
	notification_clear(&n);
	assert_int_equal(launch_plan_build(&cfg, &n, &p, err, sizeof(err)), -1);
	launch_plan_clear(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(argv_for_one_service),
		cmocka_unit_test(token_only_in_the_environment),
		cmocka_unit_test(only_the_notified_services),
		cmocka_unit_test(no_relay_ca_no_c_flag),
		cmocka_unit_test(notified_endpoint_goes_to_e),
		cmocka_unit_test(service_unmapped_since_the_decision),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
