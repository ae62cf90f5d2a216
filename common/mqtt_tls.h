/* The TLS settings every MQTT connection of ours uses (relay and agent). */
#ifndef COMMON_MQTT_TLS_H
#define COMMON_MQTT_TLS_H

#include <MQTTAsync.h>

/* Mutual TLS: the broker verified against ca, including its host name (or
 * IP address); our certificate and key presented. OpenSSL error lines go
 * to on_error(str, len, context). The strings must outlive the connection. */
MQTTAsync_SSLOptions mqtt_tls_options(const char *ca, const char *cert, const char *key,
				      int (*on_error)(const char *str, size_t len, void *context),
				      void *context);

#endif
