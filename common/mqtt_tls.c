#include "common/mqtt_tls.h"

MQTTAsync_SSLOptions mqtt_tls_options(const char *ca, const char *cert, const char *key,
				      int (*on_error)(const char *str, size_t len, void *context),
				      void *context)
{
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	ssl.trustStore = ca;
	ssl.keyStore = cert;
	ssl.privateKey = key;
	ssl.enableServerCertAuth = 1;
	ssl.verify = 1; /* the broker's host name (or IP) must be in its certificate */
	ssl.ssl_error_cb = on_error;
	ssl.ssl_error_context = context;
	return ssl;
}
