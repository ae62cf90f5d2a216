#include "agent/agent.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/launch.h"
#include "agent/mqtt.h"
#include "agent/notification.h"
#include "agent/presence.h"
#include "agent/seen.h"
#include "agent/spawn.h"
#include "agent/supervisor.h"
#include "common/clock.h"
#include "common/log.h"

/* The project's version (the Makefile passes VERSION's), said in presence. */
#ifndef AGENT_VERSION
#define AGENT_VERSION "unknown"
#endif

/* A refused subscription (the broker's ACL) is retried this often. */
#define RESUBSCRIBE_MS 30000

struct agent {
	const char *config_path;
	struct agent_config cfg;
	struct supervisor sup;
	struct seen_tokens seen;
	struct agent_mqtt *mqtt;
	int sig_fd;
	bool stopping;
	bool connected, ever_connected;
	int64_t resubscribe_at_ms; /* 0: none due */
	unsigned connect_failures;
	char last_failure[MQTT_EVENT_TEXT + 64];
};

/* ---- MQTT events ------------------------------------------------------------------ */

static void subscribe(struct agent *a)
{
	char err[256];
	a->resubscribe_at_ms = 0;
	if (agent_mqtt_subscribe(a->mqtt, err, sizeof(err)) != 0) {
		log_error("cannot subscribe to %s: %s; retrying in %d s", a->cfg.notify_topic, err,
			  RESUBSCRIBE_MS / 1000);
		a->resubscribe_at_ms = now_ms() + RESUBSCRIBE_MS;
	}
}

/* The retained "online" message, on every (re)connect and after a reload
 * that changes what it says. */
static void publish_online(struct agent *a)
{
	char payload[PRESENCE_MAX_JSON], err[256];
	if (presence_online(&a->cfg, AGENT_VERSION, boot_time_unix(), (int64_t)time(NULL), payload,
			    sizeof(payload)) < 0) {
		log_error("cannot write the presence message: out of memory");
		return;
	}
	if (agent_mqtt_publish_presence(a->mqtt, payload, err, sizeof(err)) != 0)
		log_warn("cannot publish presence on %s: %s", a->cfg.presence_topic, err);
	else
		log_debug("published presence online on %s", a->cfg.presence_topic);
}

/* A clean stop: "offline" now, since the broker drops the will on DISCONNECT. */
static void publish_offline(struct agent *a)
{
	char payload[128], err[256];
	if (presence_offline((int64_t)time(NULL), payload, sizeof(payload)) < 0 ||
	    agent_mqtt_publish_presence(a->mqtt, payload, err, sizeof(err)) != 0)
		log_warn("cannot publish presence offline on %s", a->cfg.presence_topic);
}

static void on_connect_failed(struct agent *a, const struct mqtt_event *ev)
{
	char why[MQTT_EVENT_TEXT + 64];
	if (ev->text[0] != '\0')
		snprintf(why, sizeof(why), "%s", ev->text);
	else
		snprintf(why, sizeof(why), "%s (code %d)", mqtt_client_strerror(ev->code), ev->code);
	a->connect_failures++;
	/* Warn on the first failure and when the reason changes; the retries
	 * in between go to debug. */
	if (a->connect_failures == 1 || strncmp(why, a->last_failure, sizeof(a->last_failure)))
		log_warn("cannot connect to broker %s: %s; retrying every %d-%d s",
			 a->cfg.broker_uri, why, MQTT_RETRY_MIN_S, MQTT_RETRY_MAX_S);
	else
		log_debug("connect attempt %u to broker %s failed: %s", a->connect_failures,
			  a->cfg.broker_uri, why);
	snprintf(a->last_failure, sizeof(a->last_failure), "%s", why);
}

/* ---- notifications --------------------------------------------------------------- */

static void on_notification(struct agent *a, const struct mqtt_event *ev)
{
	struct notification n;
	char why[640];
	if (!notification_decide(&a->cfg, ev->topic, ev->payload, ev->payload_len, &n, why,
				 sizeof(why))) {
		log_warn("refused a notification%s%s: %s", n.label[0] ? " for " : "", n.label, why);
		return;
	}
	char services[512];
	notification_services_text(&n, services, sizeof(services));
	if (seen_contains(&a->seen, n.token_hash)) {
		log_info("ignored a duplicate notification for %s (services %s): its token was "
			 "already acted on", n.label, services);
		notification_clear(&n);
		return;
	}
	pid_t old = 0;
	enum supervisor_verdict v = supervisor_plan(&a->sup, n.key, &old);
	if (v == SUPERVISOR_REFUSE_CAP) {
		log_warn("refused a notification for %s (services %s): already running %zu of "
			 "maxTunnels %d", n.label, services, supervisor_running(&a->sup),
			 a->cfg.max_tunnels);
		notification_clear(&n);
		return;
	}
	struct launch_plan plan;
	char err[512];
	if (launch_plan_build(&a->cfg, &n, &plan, err, sizeof(err)) != 0) {
		log_error("cannot start localproxy for %s: %s", n.label, err);
		launch_plan_clear(&plan);
		notification_clear(&n);
		return;
	}
	int64_t now = now_ms();
	if (v == SUPERVISOR_REPLACE) {
		/* A new destination token for a tunnel with a child: rotation. */
		supervisor_stop(&a->sup, old, now);
		if (kill(old, SIGTERM) != 0 && errno != ESRCH)
			log_warn("cannot send SIGTERM to localproxy pid %d: %s", (int)old,
				 strerror(errno));
	}
	pid_t pid = spawn_localproxy(&plan, err, sizeof(err));
	launch_plan_clear(&plan);
	if (pid < 0) {
		log_error("cannot start localproxy for %s: %s", n.label, err);
	} else if (supervisor_add(&a->sup, pid, n.key, n.label, now) != 0) {
		/* Cannot supervise it: do not leave it unsupervised. */
		log_error("out of memory: stopping localproxy pid %d for %s", (int)pid, n.label);
		kill(pid, SIGKILL);
	} else {
		seen_add(&a->seen, n.token_hash);
		if (v == SUPERVISOR_REPLACE)
			log_info("notification accepted for %s (services %s, relay %s%s): new token, "
				 "replacing localproxy pid %d with pid %d", n.label, services,
				 n.endpoint, n.endpoint_notified ? " from the notification" : "",
				 (int)old, (int)pid);
		else
			log_info("notification accepted for %s (services %s, relay %s%s): started "
				 "localproxy pid %d (%zu of %d running)", n.label, services, n.endpoint,
				 n.endpoint_notified ? " from the notification" : "", (int)pid,
				 supervisor_running(&a->sup), a->cfg.max_tunnels);
	}
	notification_clear(&n);
}

static void handle_event(struct agent *a, const struct mqtt_event *ev)
{
	if (a->stopping)
		return; /* nothing new once stopping */
	switch (ev->kind) {
	case MQTT_EV_CONNECTED:
		log_info("%s broker %s as %s", a->ever_connected ? "reconnected to" : "connected to",
			 a->cfg.broker_uri, a->cfg.client_id);
		a->connected = a->ever_connected = true;
		a->connect_failures = 0;
		a->last_failure[0] = '\0';
		subscribe(a); /* on every (re)connect */
		publish_online(a);
		break;
	case MQTT_EV_LOST:
		a->connected = false;
		a->resubscribe_at_ms = 0;
		log_warn("disconnected from broker %s (%s); reconnecting every %d-%d s",
			 a->cfg.broker_uri, ev->text[0] ? ev->text : "connection lost",
			 MQTT_RETRY_MIN_S, MQTT_RETRY_MAX_S);
		break;
	case MQTT_EV_CONNECT_FAILED:
		on_connect_failed(a, ev);
		break;
	case MQTT_EV_SUBSCRIBED:
		if (ev->code == 0)
			log_warn("subscribed to %s, but the broker granted QoS 0 only: a "
				 "notification sent while the device is offline can be lost",
				 a->cfg.notify_topic);
		else
			log_info("subscribed to %s (QoS %d)", a->cfg.notify_topic, ev->code);
		break;
	case MQTT_EV_SUBSCRIBE_FAILED:
		log_error("broker %s refused the subscription to %s (%s): is the device "
			  "certificate's CN the thing name, and does the broker's ACL allow it? "
			  "Retrying in %d s", a->cfg.broker_uri, a->cfg.notify_topic,
			  ev->text[0] ? ev->text : mqtt_client_strerror(ev->code),
			  RESUBSCRIBE_MS / 1000);
		if (a->connected)
			a->resubscribe_at_ms = now_ms() + RESUBSCRIBE_MS;
		break;
	case MQTT_EV_MESSAGE:
		on_notification(a, ev);
		break;
	case MQTT_EV_PUBLISHED:
		break;
	case MQTT_EV_PUBLISH_FAILED: /* the agent publishes its presence only */
		log_warn("broker %s did not take the presence message on %s: %s", a->cfg.broker_uri,
			 a->cfg.presence_topic,
			 ev->text[0] ? ev->text : mqtt_client_strerror(ev->code));
		break;
	}
}

static void drain_events(struct agent *a)
{
	size_t dropped = 0;
	struct mqtt_event *ev = agent_mqtt_take(a->mqtt, &dropped);
	if (dropped > 0 && !a->stopping)
		log_warn("dropped %zu notifications: more than %u were waiting", dropped,
			 AGENT_MQTT_MAX_QUEUED);
	while (ev != NULL) {
		struct mqtt_event *next = ev->next;
		handle_event(a, ev);
		mqtt_event_free(ev);
		ev = next;
	}
}

/* ---- children ---------------------------------------------------------------------- */

static void reap(struct agent *a)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		char how[96];
		supervisor_describe_status(status, how, sizeof(how));
		struct child c;
		if (!supervisor_reaped(&a->sup, pid, &c)) {
			log_debug("reaped process %d (not a tunnel): %s", (int)pid, how);
			continue;
		}
		bool expected = (WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
				(c.stopping && WIFSIGNALED(status) &&
				 (WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGKILL));
		log_msg(expected ? LOG_INFO : LOG_WARN, "localproxy for %s %s [pid %d, ran %lld s%s]",
			c.label, how, (int)pid, (long long)((now_ms() - c.started_ms) / 1000),
			c.stopping ? "" : "; a new notification starts a new one");
	}
}

static void kill_due(struct agent *a)
{
	pid_t pid;
	while ((pid = supervisor_next_kill(&a->sup, now_ms())) > 0) {
		log_warn("localproxy pid %d did not stop within %d s of SIGTERM: sending SIGKILL",
			 (int)pid, SUPERVISOR_KILL_AFTER_MS / 1000);
		kill(pid, SIGKILL);
	}
}

/* ---- signals ----------------------------------------------------------------------- */

static void stop(struct agent *a, int sig)
{
	if (a->stopping) {
		if (sig == SIGINT) { /* a second Ctrl-C: no more waiting */
			log_warn("second SIGINT: sending SIGKILL to %zu localproxy process(es)",
				 supervisor_count(&a->sup));
			for (size_t i = 0; i < a->sup.n; i++) {
				a->sup.child[i].stopping = true;
				a->sup.child[i].kill_at_ms = 0;
			}
			kill_due(a);
		}
		return;
	}
	a->stopping = true;
	pid_t pids[AGENT_MAX_MAX_TUNNELS * 2];
	size_t total = supervisor_count(&a->sup);
	size_t n = supervisor_stop_all(&a->sup, now_ms(), pids, sizeof(pids) / sizeof(pids[0]));
	log_info("stopping on SIG%s: sending SIGTERM to %zu localproxy process(es) (SIGKILL after "
		 "%d s)", sigabbrev_np(sig) ? sigabbrev_np(sig) : "?", total,
		 SUPERVISOR_KILL_AFTER_MS / 1000);
	for (size_t i = 0; i < n; i++)
		kill(pids[i], SIGTERM);
	/* Children already stopping (replaced) keep their deadline. The
	 * table holds at most maxTunnels running ones, so pids[] fits. */
	if (a->connected)
		publish_offline(a); /* stop's disconnect waits for it */
	agent_mqtt_stop(a->mqtt);
	a->mqtt = NULL;
	if (a->connected)
		log_info("disconnected from broker %s (the broker keeps the session)",
			 a->cfg.broker_uri);
	else
		log_info("stopped trying to connect to broker %s", a->cfg.broker_uri);
	a->connected = false;
}

static void warn_line(void *arg, const char *line)
{
	log_warn("%s", line);
}

static void reload(struct agent *a)
{
	struct agent_config next;
	char err[1024];
	if (agent_config_load(a->config_path, &next, err, sizeof(err), warn_line, NULL) != 0) {
		log_error("SIGHUP: %s; keeping the current configuration", err);
		return;
	}
	bool restart = agent_config_apply_reload(&a->cfg, &next);
	/* Services and maxTunnels are in the presence message. */
	if (a->connected)
		publish_online(a);
	log_init("tunnel-agent", a->cfg.log_level);
	a->sup.max_running = a->cfg.max_tunnels;
	log_info("SIGHUP: reloaded %s (%zu service(s), maxTunnels %d, relay %s)", a->config_path,
		 a->cfg.n_services, a->cfg.max_tunnels,
		 a->cfg.relay_endpoint[0] ? a->cfg.relay_endpoint : "from notifications");
	if (restart)
		log_warn("SIGHUP: thingName, broker, notifyTopic and presenceTopic changes take "
			 "effect after a restart (systemctl restart tunnel-agent); still using %s as %s on %s",
			 a->cfg.broker_uri, a->cfg.client_id, a->cfg.notify_topic);
}

static int handle_signals(struct agent *a)
{
	struct signalfd_siginfo si[16];
	bool child = false;
	for (;;) {
		ssize_t n = read(a->sig_fd, si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			log_fatal("reading the signalfd failed: %s", strerror(errno));
			return -1;
		}
		for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++) {
			int sig = (int)si[i].ssi_signo;
			if (sig == SIGCHLD)
				child = true;
			else if (sig == SIGTERM || sig == SIGINT)
				stop(a, sig);
			else if (sig == SIGHUP && !a->stopping)
				reload(a);
		}
	}
	if (child)
		reap(a);
	return 0;
}

/* ---- the loop ---------------------------------------------------------------------- */

static int poll_timeout(const struct agent *a)
{
	int64_t now = now_ms();
	int t = supervisor_next_deadline(&a->sup, now);
	if (a->resubscribe_at_ms > 0 && !a->stopping) {
		int64_t left = a->resubscribe_at_ms > now ? a->resubscribe_at_ms - now : 0;
		if (t < 0 || left < t)
			t = (int)left;
	}
	return t;
}

static int loop(struct agent *a)
{
	for (;;) {
		if (a->stopping && supervisor_count(&a->sup) == 0)
			return 0;
		struct pollfd fds[2] = {
			{.fd = a->sig_fd, .events = POLLIN},
			{.fd = a->mqtt != NULL ? agent_mqtt_fd(a->mqtt) : -1, .events = POLLIN},
		};
		int rc = poll(fds, 2, poll_timeout(a));
		if (rc < 0 && errno != EINTR) {
			log_fatal("poll failed: %s", strerror(errno));
			return 1;
		}
		if (rc > 0 && (fds[0].revents & POLLIN) && handle_signals(a) != 0)
			return 1;
		/* fds[1] was polled before the signals were handled: a SIGTERM
		 * read just above has stopped and freed the MQTT client, eventfd
		 * included, so its revents are stale then (and its events moot). */
		if (rc > 0 && (fds[1].revents & POLLIN) && a->mqtt != NULL)
			drain_events(a);
		kill_due(a);
		if (!a->stopping && a->connected && a->resubscribe_at_ms > 0 &&
		    now_ms() >= a->resubscribe_at_ms)
			subscribe(a);
	}
}

int agent_run(const char *config_path, const struct agent_config *cfg)
{
	static struct agent a; /* large (the config's paths): not on the stack */
	memset(&a, 0, sizeof(a));
	a.config_path = config_path;
	a.cfg = *cfg;
	a.sig_fd = -1;
	supervisor_init(&a.sup, cfg->max_tunnels);
	seen_init(&a.seen);

	/* Block the signals before Paho starts its threads: they inherit the
	 * mask, so every one of these reaches the signalfd, and nothing else.
	 * An ignored signal is discarded, not queued (a shell's background job
	 * inherits SIGINT ignored; SIGCHLD ignored would reap children behind
	 * our back): default dispositions first. */
	static const int handled[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++) {
		signal(handled[i], SIG_DFL);
		sigaddset(&set, handled[i]);
	}
	int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (rc != 0) {
		log_fatal("cannot block signals: %s", strerror(rc));
		return 1;
	}
	/* A broken connection must be an error return, not a dead agent. */
	signal(SIGPIPE, SIG_IGN);
	a.sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (a.sig_fd < 0) {
		log_fatal("cannot create a signalfd: %s", strerror(errno));
		return 1;
	}
	char err[512];
	a.mqtt = agent_mqtt_start(&a.cfg, err, sizeof(err));
	if (a.mqtt == NULL) {
		log_fatal("%s", err);
		close(a.sig_fd);
		return 1;
	}
	char names[AGENT_MAX_SERVICES * (AGENT_MAX_SERVICE + 1)] = "";
	for (size_t i = 0; i < a.cfg.n_services; i++) {
		size_t used = strlen(names);
		snprintf(names + used, sizeof(names) - used, "%s%s", i ? "," : "",
			 a.cfg.services[i].name);
	}
	log_info("started for thing %s: connecting to broker %s as %s; services %s, "
		 "maxTunnels %d, presence on %s, relay %s", a.cfg.thing_name, a.cfg.broker_uri,
		 a.cfg.client_id, names, a.cfg.max_tunnels, a.cfg.presence_topic,
		 a.cfg.relay_endpoint[0] ? a.cfg.relay_endpoint : "from notifications");
	rc = loop(&a);
	if (a.mqtt != NULL) { /* a fatal error, not a signal: still disconnect */
		agent_mqtt_stop(a.mqtt);
		a.mqtt = NULL;
	}
	if (supervisor_count(&a.sup) > 0) {
		for (size_t i = 0; i < a.sup.n; i++)
			kill(a.sup.child[i].pid, SIGKILL);
	}
	supervisor_free(&a.sup);
	close(a.sig_fd);
	explicit_bzero(&a.seen, sizeof(a.seen));
	if (rc == 0)
		log_info("stopped");
	return rc;
}
