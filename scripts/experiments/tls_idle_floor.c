/* tls_idle_floor: what one idle TLS 1.3 server connection costs OpenSSL in
 * resident anonymous memory, with and without SSL_MODE_RELEASE_BUFFERS.
 *
 * An experiment, not built by `make`:
 *   cc -O2 -o /tmp/tls_idle_floor scripts/experiments/tls_idle_floor.c -lssl -lcrypto
 *   /tmp/tls_idle_floor CERT.pem KEY.pem K [release]
 *
 * Forks a client process that opens K TLS connections to 127.0.0.1 and
 * keeps them; the server (this process) accepts and completes the K
 * handshakes one after the other, writes and reads one small record on each
 * (as a WebSocket upgrade would), then reports RssAnon before and after,
 * per connection. Only the server's memory is measured.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static long rss_anon_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void die(const char *what)
{
	fprintf(stderr, "tls_idle_floor: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* The client: K connections, a 64-byte request on each, read the reply,
 * then hold them until the parent says stop (closes the pipe). */
static void client(int port, int k, int stop_fd)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		die("client SSL_CTX_new");
	SSL **ssl = calloc((size_t)k, sizeof(*ssl));
	if (!ssl)
		die("out of memory");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	char req[64], rep[64];
	memset(req, 'q', sizeof(req));
	for (int i = 0; i < k; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
			die("client connect");
		ssl[i] = SSL_new(ctx);
		if (!ssl[i] || !SSL_set_fd(ssl[i], fd) || SSL_connect(ssl[i]) != 1)
			die("client handshake");
		if (SSL_write(ssl[i], req, sizeof(req)) != (int)sizeof(req) ||
		    SSL_read(ssl[i], rep, sizeof(rep)) <= 0)
			die("client exchange");
	}
	char c;
	while (read(stop_fd, &c, 1) > 0)
		;
	_exit(0);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s CERT KEY K [release]\n", argv[0]);
		return 2;
	}
	int k = atoi(argv[3]);
	int release = argc > 4 && !strcmp(argv[4], "release");
	if (k < 1 || k > 15000)
		die("K must be 1..15000");
	signal(SIGPIPE, SIG_IGN);

	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1)
		die("server context");
	if (release)
		SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);

	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof(a);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 4096) ||
	    getsockname(ls, (struct sockaddr *)&a, &alen))
		die("listen");
	int stop[2];
	if (pipe(stop))
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(stop[1]);
		close(ls);
		client(ntohs(a.sin_port), k, stop[0]);
	}
	close(stop[0]);

	SSL **ssl = calloc((size_t)k, sizeof(*ssl));
	if (!ssl)
		die("out of memory");
	/* Warm up: the first handshake loads tables and caches once. */
	long before = -1;
	char buf[64];
	for (int i = 0; i < k; i++) {
		int fd = accept(ls, NULL, NULL);
		if (fd < 0)
			die("accept");
		ssl[i] = SSL_new(ctx);
		if (!ssl[i] || !SSL_set_fd(ssl[i], fd) || SSL_accept(ssl[i]) != 1)
			die("server handshake");
		if (SSL_read(ssl[i], buf, sizeof(buf)) <= 0 ||
		    SSL_write(ssl[i], buf, sizeof(buf)) != (int)sizeof(buf))
			die("server exchange");
		if (i == 0)
			before = rss_anon_kib();
	}
	long after = rss_anon_kib();
	printf("connections %d release_buffers %s RssAnon_first_kib %ld RssAnon_all_kib %ld "
	       "per_connection_kib %.1f\n", k, release ? "on" : "off", before, after,
	       k > 1 ? (double)(after - before) / (k - 1) : 0.0);
	close(stop[1]);
	int st;
	waitpid(pid, &st, 0);
	return 0;
}
