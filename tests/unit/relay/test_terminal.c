/* Unit tests for relay/terminal.c (a browser terminal's states, the frame
 * types each side may send, host key decisions, admission) and the argv
 * relay/terminal_helper.c builds for tunnel-term. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "relay/terminal.h"
#include "relay/terminal_helper.h"
#include "relay/things.h"

static void test_states_move_only_forward(void **state)
{
	(void)state;
	assert_int_equal(terminal_next(TERMINAL_OPENING_TUNNEL, TERMINAL_EV_TUNNEL_OPENED),
			 TERMINAL_WAITING_SOCKET);
	assert_int_equal(terminal_next(TERMINAL_OPENING_TUNNEL, TERMINAL_EV_TUNNEL_FAILED),
			 TERMINAL_CLOSING);
	assert_int_equal(terminal_next(TERMINAL_WAITING_SOCKET, TERMINAL_EV_SOCKET),
			 TERMINAL_WAITING_DEVICE);
	assert_int_equal(terminal_next(TERMINAL_WAITING_DEVICE, TERMINAL_EV_DEVICE),
			 TERMINAL_HELPER_RUNNING);
	assert_int_equal(terminal_next(TERMINAL_WAITING_DEVICE, TERMINAL_EV_CLOSE),
			 TERMINAL_CLOSING);
	assert_int_equal(terminal_next(TERMINAL_HELPER_RUNNING, TERMINAL_EV_CLOSE),
			 TERMINAL_CLOSING);
	assert_int_equal(terminal_next(TERMINAL_CLOSING, TERMINAL_EV_ALL_DONE), TERMINAL_CLOSED);
	/* Any live state may close; a late open while closing stays closing. */
	assert_int_equal(terminal_next(TERMINAL_OPENING_TUNNEL, TERMINAL_EV_CLOSE), TERMINAL_CLOSING);
	assert_int_equal(terminal_next(TERMINAL_WAITING_SOCKET, TERMINAL_EV_CLOSE), TERMINAL_CLOSING);
	assert_int_equal(terminal_next(TERMINAL_CLOSING, TERMINAL_EV_CLOSE), TERMINAL_CLOSING);
	assert_int_equal(terminal_next(TERMINAL_CLOSING, TERMINAL_EV_TUNNEL_OPENED), TERMINAL_CLOSING);
}

static void test_impossible_events_refused(void **state)
{
	(void)state;
	/* A second socket for a running terminal; a socket before its tunnel. */
	assert_int_equal(terminal_next(TERMINAL_HELPER_RUNNING, TERMINAL_EV_SOCKET), -1);
	assert_int_equal(terminal_next(TERMINAL_OPENING_TUNNEL, TERMINAL_EV_SOCKET), -1);
	assert_int_equal(terminal_next(TERMINAL_CLOSING, TERMINAL_EV_SOCKET), -1);
	assert_int_equal(terminal_next(TERMINAL_WAITING_SOCKET, TERMINAL_EV_ALL_DONE), -1);
	assert_int_equal(terminal_next(TERMINAL_WAITING_SOCKET, TERMINAL_EV_DEVICE), -1);
	assert_int_equal(terminal_next(TERMINAL_WAITING_DEVICE, TERMINAL_EV_SOCKET), -1);
	assert_int_equal(terminal_next(TERMINAL_HELPER_RUNNING, TERMINAL_EV_DEVICE), -1);
	assert_int_equal(terminal_next(TERMINAL_HELPER_RUNNING, TERMINAL_EV_TUNNEL_OPENED), -1);
	/* Nothing leaves CLOSED. */
	for (int ev = TERMINAL_EV_TUNNEL_OPENED; ev <= TERMINAL_EV_ALL_DONE; ev++)
		assert_int_equal(terminal_next(TERMINAL_CLOSED, (enum terminal_event)ev), -1);
}

static void test_frame_types_per_side(void **state)
{
	(void)state;
	const char *browser = "irya", *helper = "ohsex";
	for (int c = 0; c < 256; c++) {
		assert_int_equal(terminal_browser_may_send((uint8_t)c), c && strchr(browser, c) != NULL);
		assert_int_equal(terminal_helper_may_send((uint8_t)c), c && strchr(helper, c) != NULL);
	}
}

static const char FP[] = "SHA256:XtdMb4fTmcAzBIBSfJYYWzvFGcFumWFqZQBiI7vVBGA";

static enum terminal_hostkey_verdict helper_says(struct terminal_hostkey_watch *w, char type,
						 const char *json)
{
	return terminal_hostkey_from_helper(w, (uint8_t)type, (const uint8_t *)json, strlen(json));
}

static void test_hostkey_accepted_once_after_new(void **state)
{
	(void)state;
	struct terminal_hostkey_watch w;
	memset(&w, 0, sizeof(w));
	const char *fp = NULL;
	/* 'y' before any key was shown accepts nothing. */
	assert_int_equal(terminal_hostkey_from_browser(&w, 'y', &fp), TERMINAL_HOSTKEY_NOTHING);
	char h[200];
	snprintf(h, sizeof(h), "{\"fingerprint\":\"%s\",\"keyType\":\"ssh-ed25519\",\"status\":\"new\"}",
		 FP);
	assert_int_equal(helper_says(&w, 'h', h), TERMINAL_HOSTKEY_NOTHING);
	assert_int_equal(terminal_hostkey_from_browser(&w, 'i', &fp), TERMINAL_HOSTKEY_NOTHING);
	assert_int_equal(terminal_hostkey_from_browser(&w, 'y', &fp), TERMINAL_HOSTKEY_ACCEPTED);
	assert_string_equal(fp, FP);
	assert_int_equal(terminal_hostkey_from_browser(&w, 'y', &fp), TERMINAL_HOSTKEY_NOTHING);
}

static void test_hostkey_known_or_bad_is_not_offered(void **state)
{
	(void)state;
	struct terminal_hostkey_watch w;
	memset(&w, 0, sizeof(w));
	const char *fp = NULL;
	char h[200];
	snprintf(h, sizeof(h), "{\"fingerprint\":\"%s\",\"status\":\"known\"}", FP);
	helper_says(&w, 'h', h);
	assert_int_equal(terminal_hostkey_from_browser(&w, 'y', &fp), TERMINAL_HOSTKEY_NOTHING);
	/* Not a fingerprint, or not JSON: nothing to remember. */
	helper_says(&w, 'h', "{\"fingerprint\":\"SHA256:a b\",\"status\":\"new\"}");
	assert_int_equal(terminal_hostkey_from_browser(&w, 'y', &fp), TERMINAL_HOSTKEY_NOTHING);
	helper_says(&w, 'h', "{\"fingerprint\":");
	assert_int_equal(terminal_hostkey_from_browser(&w, 'y', &fp), TERMINAL_HOSTKEY_NOTHING);
	/* A new key, then a known one shown after it: the offer is gone. */
	snprintf(h, sizeof(h), "{\"fingerprint\":\"%s\",\"status\":\"new\"}", FP);
	helper_says(&w, 'h', h);
	snprintf(h, sizeof(h), "{\"fingerprint\":\"%s\",\"status\":\"known\"}", FP);
	helper_says(&w, 'h', h);
	assert_int_equal(terminal_hostkey_from_browser(&w, 'y', &fp), TERMINAL_HOSTKEY_NOTHING);
}

static void test_hostkey_changed_refused(void **state)
{
	(void)state;
	struct terminal_hostkey_watch w;
	memset(&w, 0, sizeof(w));
	assert_int_equal(helper_says(&w, 'e', "{\"code\":\"hostkey_changed\",\"message\":\"x\"}"),
			 TERMINAL_HOSTKEY_REFUSED);
	assert_int_equal(helper_says(&w, 'e', "{\"code\":\"auth_failed\",\"message\":\"x\"}"),
			 TERMINAL_HOSTKEY_NOTHING);
	assert_int_equal(helper_says(&w, 'o', "{\"code\":\"hostkey_changed\"}"),
			 TERMINAL_HOSTKEY_NOTHING);
}

static void test_fingerprint_syntax(void **state)
{
	(void)state;
	assert_true(terminal_fingerprint_valid(FP));
	assert_false(terminal_fingerprint_valid("SHA256:"));
	assert_false(terminal_fingerprint_valid("MD5:aa:bb"));
	assert_false(terminal_fingerprint_valid("SHA256:abc\n"));
	char long_fp[TERMINAL_FINGERPRINT_MAX + 2];
	memset(long_fp, 'A', sizeof(long_fp) - 1);
	memcpy(long_fp, "SHA256:", 7);
	long_fp[sizeof(long_fp) - 1] = '\0';
	assert_false(terminal_fingerprint_valid(long_fp));
}

static void test_admission(void **state)
{
	(void)state;
	struct thing_presence p;
	memset(&p, 0, sizeof(p));
	char why[300];
	/* No presence at all (an agent that does not publish it): allowed. */
	assert_int_equal(terminal_admit(NULL, "nanopi-01", "SSH", 99, why, sizeof(why)), 0);
	p.state = THING_OFFLINE;
	assert_int_equal(terminal_admit(&p, "nanopi-01", "SSH", 0, why, sizeof(why)), 409);
	assert_non_null(strstr(why, "offline"));
	p.state = THING_ONLINE;
	p.max_tunnels = 4;
	assert_int_equal(terminal_admit(&p, "nanopi-01", "SSH", 3, why, sizeof(why)), 0);
	assert_int_equal(terminal_admit(&p, "nanopi-01", "SSH", 4, why, sizeof(why)), 429);
	assert_string_equal(why, "nanopi-01 already runs 4 tunnels, the most its agent allows "
				 "(maxTunnels in its agent.json); close one first");
	p.max_tunnels = 0; /* not said: no limit here (the relay's caps still hold) */
	assert_int_equal(terminal_admit(&p, "nanopi-01", "SSH", 50, why, sizeof(why)), 0);
	strcpy(p.services[0], "SSH");
	strcpy(p.services[1], "HTTP");
	p.n_services = 2;
	assert_int_equal(terminal_admit(&p, "nanopi-01", "HTTP", 0, why, sizeof(why)), 0);
	assert_int_equal(terminal_admit(&p, "nanopi-01", "VNC", 0, why, sizeof(why)), 400);
}

static void test_dimensions(void **state)
{
	(void)state;
	assert_int_equal(terminal_dimension(NULL, 80), 80);
	assert_int_equal(terminal_dimension("", 80), 80);
	assert_int_equal(terminal_dimension("120", 80), 120);
	assert_int_equal(terminal_dimension("1000", 80), 1000);
	assert_int_equal(terminal_dimension("1001", 80), 80);
	assert_int_equal(terminal_dimension("0", 24), 24);
	assert_int_equal(terminal_dimension("-5", 24), 24);
	assert_int_equal(terminal_dimension("40x", 24), 24);
}

static void test_helper_argv_has_no_token(void **state)
{
	(void)state;
	struct terminal_helper_args a = {
		.program = "/usr/bin/tunnel-term",
		.relay = "127.0.0.1:8443",
		.ca = "/etc/ca.pem",
		.thing = "nanopi-01",
		.service = "SSH",
		.localproxy = "/usr/bin/localproxy",
		.known_host_key = FP,
		.record = "/var/rec/nanopi-01/x.cast",
		.cols = 100,
		.rows = 30,
		.verbose = true,
		.token = "SECRET-TOKEN",
	};
	char numbers[2][12];
	const char *argv[TERMINAL_HELPER_MAX_ARGS];
	size_t n = terminal_helper_argv(&a, numbers, argv);
	const char *want[] = { "/usr/bin/tunnel-term", "--relay", "127.0.0.1:8443", "--ca",
			       "/etc/ca.pem", "--thing", "nanopi-01", "--service", "SSH",
			       "--localproxy", "/usr/bin/localproxy", "--known-host-key", FP,
			       "--record", "/var/rec/nanopi-01/x.cast", "--cols", "100", "--rows",
			       "30", "-v" };
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(argv[i], want[i]);
		assert_null(strstr(argv[i], "SECRET"));
	}
	assert_null(argv[n]);
	/* Without a known key or a recording those options are left out. */
	a.known_host_key = NULL;
	a.record = NULL;
	a.verbose = false;
	assert_int_equal(terminal_helper_argv(&a, numbers, argv), n - 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_states_move_only_forward),
		cmocka_unit_test(test_impossible_events_refused),
		cmocka_unit_test(test_frame_types_per_side),
		cmocka_unit_test(test_hostkey_accepted_once_after_new),
		cmocka_unit_test(test_hostkey_known_or_bad_is_not_offered),
		cmocka_unit_test(test_hostkey_changed_refused),
		cmocka_unit_test(test_fingerprint_syntax),
		cmocka_unit_test(test_admission),
		cmocka_unit_test(test_dimensions),
		cmocka_unit_test(test_helper_argv_has_no_token),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
