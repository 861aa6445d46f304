/*
 * Tests services/validate/clamd.c against a real clamd (Debian's clamav-daemon) started here with its own
 * configuration: TCP on a free loopback port, no local socket, a database directory holding only a custom
 * signature for the EICAR test string (no freshclam, no network), StreamMaxLength 1M.
 */
#include "../../../../services/validate/clamd.c"

#include "test.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static char dir[] = "/tmp/ag-clamd-XXXXXX";
static char addr[64];
static pid_t clamd_pid = -1;

static const char eicar[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int write_file(const char *name, const void *data, size_t len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t n = fwrite(data, 1, len, f);
	return fclose(f) == 0 && n == len ? 0 : -1;
}

static int open_file(const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* "zPING" until "PONG" (clamd loads its database before it listens). */
static bool clamd_ready(int seconds)
{
	for (int i = 0; i < seconds * 10; i++) {
		clamd_cfg c = {.addr = addr, .timeout_ms = 1000};
		int fd = -1;
		char reply[64];
		if (clamd_connect(&c, &fd, NULL) == AG_OK) {
			bool pong = clamd_send(fd, "zPING", 6, 1000, NULL) == AG_OK &&
			            clamd_reply(fd, reply, sizeof reply, 2000, NULL) == AG_OK &&
			            strcmp(reply, "PONG") == 0;
			close(fd);
			if (pong)
				return true;
		}
		int status;
		if (waitpid(clamd_pid, &status, WNOHANG) == clamd_pid) {
			clamd_pid = -1;
			return false;
		}
		nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
	}
	return false;
}

static bool clamd_start(void)
{
	char conf[600], db[600], text[2048];
	int port = free_port();
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	snprintf(db, sizeof db, "%s/db", dir);
	snprintf(conf, sizeof conf, "%s/clamd.conf", dir);
	if (mkdir(db, 0700) != 0)
		return false;
	/* MD5 signature of the 68-byte EICAR file: md5:size:name */
	static const char hdb[] = "44d88612fea8a8f36de82e1278abb02f:68:Aegis.Test.EICAR\n";
	int n = snprintf(text, sizeof text,
	                 "Foreground yes\nTCPSocket %d\nTCPAddr 127.0.0.1\nDatabaseDirectory %s\nLogFile %s/clamd.log\n"
	                 "StreamMaxLength 1M\nMaxThreads 2\n",
	                 port, db, dir);
	if (write_file("db/aegis.hdb", hdb, sizeof hdb - 1) != 0 || write_file("clamd.conf", text, (size_t)n) != 0)
		return false;
	char *argv[] = {"clamd", "-c", conf, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0); /* its warnings go to its log too */
	int rc = posix_spawnp(&clamd_pid, "clamd", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		clamd_pid = -1;
		return false;
	}
	return clamd_ready(60);
}

static void clamd_stop(void)
{
	if (clamd_pid > 0) {
		kill(clamd_pid, SIGTERM);
		waitpid(clamd_pid, NULL, 0);
		clamd_pid = -1;
	}
}

static ag_status scan(const char *name, long long chunk, long long max, clamd_verdict *v, ag_err *err)
{
	clamd_cfg c = {.addr = addr, .timeout_ms = 30000, .chunk_bytes = chunk, .max_bytes = max};
	int fd = open_file(name);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0)
		return AG_E_IO;
	ag_status st = clamd_scan(&c, fd, (long long)sb.st_size, NULL, NULL, v, err);
	close(fd);
	return st;
}

static void clamd_clean_file(void)
{
	static const char text[] = "An ordinary letter, nothing to see.\n";
	clamd_verdict v;
	ag_err err = {0};
	AG_CHECK_INT(write_file("clean.txt", text, sizeof text - 1), 0);
	AG_CHECK_INT(scan("clean.txt", 65536, 26214400, &v, &err), AG_OK);
	AG_CHECK_INT(v.outcome, CLAMD_CLEAN);
}

static void clamd_eicar_found(void)
{
	clamd_verdict v;
	ag_err err = {0};
	AG_CHECK_INT(write_file("eicar.com", eicar, sizeof eicar - 1), 0);
	/* 16-byte chunks (below CLAMD_CHUNK_BYTES' minimum, fine here): the stream is reassembled by clamd */
	AG_CHECK_INT(scan("eicar.com", 16, 26214400, &v, &err), AG_OK);
	AG_CHECK_INT(v.outcome, CLAMD_INFECTED);
	if (!strstr(v.signature, "Aegis.Test.EICAR"))
		fprintf(stderr, "  signature: \"%s\"\n", v.signature);
	AG_CHECK(strstr(v.signature, "Aegis.Test.EICAR") != NULL);
}

/* 2 MiB against StreamMaxLength 1M: clamd stops the stream. */
static void clamd_stream_limit(void)
{
	size_t len = 2 * 1024 * 1024;
	char *big = malloc(len);
	AG_CHECK(big != NULL);
	if (!big)
		return;
	memset(big, 'a', len);
	clamd_verdict v;
	ag_err err = {0};
	AG_CHECK_INT(write_file("big.txt", big, len), 0);
	free(big);
	AG_CHECK_INT(scan("big.txt", 65536, 1LL << 30, &v, &err), AG_OK);
	AG_CHECK_INT(v.outcome, CLAMD_TOO_LARGE);
	/* over our own ceiling: decided without sending */
	AG_CHECK_INT(scan("big.txt", 65536, 1024, &v, &err), AG_OK);
	AG_CHECK_INT(v.outcome, CLAMD_TOO_LARGE);
}

static void clamd_unreachable(void)
{
	char saved[64];
	snprintf(saved, sizeof saved, "%s", addr);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", free_port()); /* nobody listens there */
	clamd_verdict v;
	ag_err err = {0};
	AG_CHECK_INT(scan("clean.txt", 65536, 26214400, &v, &err), AG_E_UNAVAILABLE);
	AG_CHECK(ag_status_transient(AG_E_UNAVAILABLE));
	snprintf(addr, sizeof addr, "unix:%s/no-such.sock", dir);
	AG_CHECK_INT(scan("clean.txt", 65536, 26214400, &v, &err), AG_E_UNAVAILABLE);
	snprintf(addr, sizeof addr, "%s", saved);
}

static void clamd_addresses(void)
{
	AG_CHECK(clamd_addr_valid(""));
	AG_CHECK(clamd_addr_valid("127.0.0.1:3310"));
	AG_CHECK(clamd_addr_valid("clamav:3310"));
	AG_CHECK(clamd_addr_valid("unix:/run/clamav/clamd.ctl"));
	AG_CHECK(!clamd_addr_valid("unix:relative"));
	AG_CHECK(!clamd_addr_valid("localhost"));
	AG_CHECK(!clamd_addr_valid("host:99999"));
	clamd_verdict v = {0};
	AG_CHECK_INT(clamd_parse("stream: OK", &v, NULL), AG_OK);
	AG_CHECK_INT(v.outcome, CLAMD_CLEAN);
	AG_CHECK_INT(clamd_parse("stream: Eicar-Test-Signature FOUND", &v, NULL), AG_OK);
	AG_CHECK_STR(v.signature, "Eicar-Test-Signature");
	AG_CHECK_INT(clamd_parse("INSTREAM size limit exceeded. ERROR", &v, NULL), AG_OK);
	AG_CHECK_INT(v.outcome, CLAMD_TOO_LARGE);
	AG_CHECK_INT(clamd_parse("stream: Can't allocate memory ERROR", &v, NULL), AG_E_PROTO);
}

static void clamd_missing(void)
{
	printf("# clamd is not installed: scripts/deps.sh installs clamav-daemon\n");
	ag_test_failed_checks++;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	AG_TEST_RUN(clamd_addresses);
	if (system("command -v clamd >/dev/null 2>&1") != 0) {
		AG_TEST_RUN(clamd_missing);
	} else if (!clamd_start()) {
		printf("# clamd did not start; its log follows\n");
		char cmd[600];
		snprintf(cmd, sizeof cmd, "tail -20 %s/clamd.log", dir);
		if (system(cmd) != 0)
			printf("# (no log)\n");
		ag_test_failed++;
		printf("not ok - clamd_start\n");
	} else {
		AG_TEST_RUN(clamd_clean_file);
		AG_TEST_RUN(clamd_eicar_found);
		AG_TEST_RUN(clamd_stream_limit);
		AG_TEST_RUN(clamd_unreachable);
	}
	clamd_stop();
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return ag_test_summary();
}
