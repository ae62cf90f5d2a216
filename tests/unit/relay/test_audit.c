/* Unit tests for relay/audit.c: one JSON line per event appended to the
 * file, absent fields left out, the ring of latest events newest first,
 * an operator's own only, and a failing file said once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay/audit.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_audit.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char buf[8192];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_file_lines(void **state)
{
	char path[128], err[256];
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	struct audit *a = audit_open(path, 10, err, sizeof(err));
	assert_non_null(a);
	struct audit_event e1 = { .who = "alice", .role = "admin", .from = "127.0.0.1",
				  .action = "tunnel.open", .thing = "dev-1", .tunnel_id = "t1",
				  .detail = "SSH" };
	struct audit_event e2 = { .who = "bob", .from = "::1", .action = "signin.failed" };
	audit_record_at(a, &e1, 1795710000); /* 2026-11-26T16:20:00Z */
	audit_record_at(a, &e2, 1795710001);
	audit_close(a);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	const char *text = slurp(path);
	assert_string_equal(text,
		"{\"time\":\"2026-11-26T16:20:00Z\",\"who\":\"alice\",\"role\":\"admin\",\"from\":\"127.0.0.1\","
		"\"action\":\"tunnel.open\",\"thing\":\"dev-1\",\"tunnelId\":\"t1\",\"detail\":\"SSH\"}\n"
		"{\"time\":\"2026-11-26T16:20:01Z\",\"who\":\"bob\",\"from\":\"::1\",\"action\":\"signin.failed\"}\n");
	/* Opened again: appended, not truncated. */
	a = audit_open(path, 10, err, sizeof(err));
	assert_non_null(a);
	audit_record_at(a, &e2, 1795710002);
	audit_close(a);
	int lines = 0;
	for (const char *p = slurp(path); *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 3);
}

static void test_ring(void **state)
{
	char err[256];
	struct audit *a = audit_open(NULL, 3, err, sizeof(err));
	assert_non_null(a);
	char *empty = audit_events_json(a, NULL, 10);
	assert_string_equal(empty, "{\"events\":[]}");
	free(empty);
	const char *who[] = { "alice", "bob", "alice", "bob", "alice" };
	char detail[16];
	for (int i = 0; i < 5; i++) {
		snprintf(detail, sizeof(detail), "%d", i);
		struct audit_event e = { .who = who[i], .action = "signin", .detail = detail };
		audit_record_at(a, &e, 1000 + i);
	}
	/* Only the latest 3 are kept, newest first. */
	char *text = audit_events_json(a, NULL, 10);
	cJSON *j = cJSON_Parse(text);
	free(text);
	cJSON *events = cJSON_GetObjectItem(j, "events");
	assert_int_equal(cJSON_GetArraySize(events), 3);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(events, 0), "detail")->valuestring, "4");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(events, 2), "detail")->valuestring, "2");
	cJSON_Delete(j);
	/* limit, and one user's own. */
	text = audit_events_json(a, NULL, 1);
	j = cJSON_Parse(text);
	free(text);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "events")), 1);
	cJSON_Delete(j);
	text = audit_events_json(a, "bob", 10);
	j = cJSON_Parse(text);
	free(text);
	events = cJSON_GetObjectItem(j, "events");
	assert_int_equal(cJSON_GetArraySize(events), 1);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(events, 0), "detail")->valuestring, "3");
	cJSON_Delete(j);
	audit_close(a);
	/* No audit at all: a log line, nothing else, no crash. */
	struct audit_event e = { .who = "x", .action = "signout" };
	audit_record(NULL, &e);
}

static void test_open_fails(void **state)
{
	char path[128], err[256] = "";
	snprintf(path, sizeof(path), "%s/no/such/dir/audit.log", dir);
	assert_null(audit_open(path, 10, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot open the audit log"));
}

static void test_write_fails(void **state)
{
	/* /dev/full takes the open and refuses every write: events still go
	 * to the ring (and the log, once per episode). */
	char err[256];
	struct audit *a = audit_open("/dev/full", 4, err, sizeof(err));
	if (!a)
		skip();
	struct audit_event e = { .who = "alice", .action = "signin" };
	audit_record_at(a, &e, 1);
	audit_record_at(a, &e, 2);
	char *text = audit_events_json(a, NULL, 10);
	cJSON *j = cJSON_Parse(text);
	free(text);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "events")), 2);
	cJSON_Delete(j);
	audit_close(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_lines),
		cmocka_unit_test(test_ring),
		cmocka_unit_test(test_open_fails),
		cmocka_unit_test(test_write_fails),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
