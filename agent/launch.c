#include "agent/launch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int launch_plan_build(const struct agent_config *cfg, const struct notification *n,
		      struct launch_plan *p, char *err, size_t err_cap)
{
	memset(p, 0, sizeof(*p));
	if (n->token == NULL || n->n_services == 0 || n->endpoint[0] == '\0') {
		snprintf(err, err_cap, "nothing to start (no token, service or endpoint)");
		return -1;
	}
	size_t used = 0;
	for (size_t i = 0; i < n->n_services; i++) {
		/* The map may have changed (SIGHUP) since the decision. */
		const char *target = agent_config_service(cfg, n->services[i]);
		if (target == NULL) {
			snprintf(err, err_cap, "service %s is no longer in the service map",
				 n->services[i]);
			return -1;
		}
		int w = snprintf(p->destinations + used, sizeof(p->destinations) - used, "%s%s=%s",
				 i ? "," : "", n->services[i], target);
		if (w < 0 || (size_t)w >= sizeof(p->destinations) - used) {
			snprintf(err, err_cap, "the -d list is too long");
			return -1;
		}
		used += (size_t)w;
	}
	snprintf(p->program, sizeof(p->program), "%s", cfg->localproxy);
	snprintf(p->endpoint, sizeof(p->endpoint), "%s", n->endpoint);
	snprintf(p->ca, sizeof(p->ca), "%s", cfg->relay_ca);
	snprintf(p->verbose, sizeof(p->verbose), "%d", cfg->log_level);
	memcpy(p->env_path, LAUNCH_PATH, sizeof(LAUNCH_PATH));

	size_t prefix = strlen(LAUNCH_TOKEN_VAR "=");
	p->env_token_len = prefix + n->token_len;
	p->env_token = malloc(p->env_token_len + 1);
	if (p->env_token == NULL) {
		p->env_token_len = 0;
		snprintf(err, err_cap, "out of memory");
		return -1;
	}
	memcpy(p->env_token, LAUNCH_TOKEN_VAR "=", prefix);
	memcpy(p->env_token + prefix, n->token, n->token_len + 1);

	size_t a = 0;
	p->argv[a++] = p->program;
	p->argv[a++] = (char *)"-m";
	p->argv[a++] = (char *)"destination";
	p->argv[a++] = (char *)"-e";
	p->argv[a++] = p->endpoint;
	if (p->ca[0] != '\0') {
		p->argv[a++] = (char *)"-c";
		p->argv[a++] = p->ca;
	}
	p->argv[a++] = (char *)"-d";
	p->argv[a++] = p->destinations;
	p->argv[a++] = (char *)"-v";
	p->argv[a++] = p->verbose;
	p->argv[a++] = (char *)"--config";
	p->argv[a++] = (char *)"/dev/null";
	p->argv[a] = NULL;
	p->envp[0] = p->env_path;
	p->envp[1] = p->env_token;
	p->envp[2] = NULL;
	return 0;
}

void launch_plan_clear(struct launch_plan *p)
{
	if (p->env_token != NULL) {
		explicit_bzero(p->env_token, p->env_token_len);
		free(p->env_token);
	}
	memset(p, 0, sizeof(*p));
}
