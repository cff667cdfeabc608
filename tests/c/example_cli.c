/* Runs the examples as a user would, with good and bad command lines.
 *
 *   example_cli cp RINGKIT_CP        the copy: data-loss cases and arguments
 *   example_cli copy CMD...          any copy taking SRC DST last: refuses a
 *                                    same-file copy (source intact), fails on
 *                                    a source that ends early, names a
 *                                    missing source
 *   example_cli copy-data CMD...     any copy taking SRC DST last: what
 *                                    lands in DST is SRC byte for byte, for a
 *                                    file of many chunks (CMD sets a small
 *                                    chunk), over a longer DST, and empty
 *   example_cli server CMD...        a server taking PORT last: --help and
 *                                    bad ports (CMD is completed with them)
 *   example_cli expect RC TEXT CMD...  CMD exits with RC and TEXT appears in
 *                                    its stdout (RC 0) or stderr (otherwise)
 *
 * Usage errors exit 2 and name the bad argument; --help prints the usage on
 * stdout and exits 0; a failure names the file it is about. */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check.h"

static const char *dir;
static char out[1 << 16], err[1 << 16];

static void slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* Runs argv (NULL-terminated) with stdin from /dev/null; returns its exit
 * status (128 + signal for a signal) and leaves its output in out/err. */
static int run(char *const argv[])
{
	char po[128], pe[128];
	snprintf(po, sizeof(po), "%s/stdout", dir);
	snprintf(pe, sizeof(pe), "%s/stderr", dir);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int i = open("/dev/null", O_RDONLY);
		int o = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (i < 0 || o < 0 || e < 0)
			_exit(126);
		dup2(i, 0);
		dup2(o, 1);
		dup2(e, 2);
		alarm(60); /* a hang fails instead of stalling the suite */
		execvp(argv[0], argv);
		_exit(127);
	}
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	slurp(po, out, sizeof(out));
	slurp(pe, err, sizeof(err));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void show(char *const argv[], int rc)
{
	fprintf(stderr, "command:");
	for (int i = 0; argv[i]; i++)
		fprintf(stderr, " '%s'", argv[i]);
	fprintf(stderr, "\nexit %d\n--- stdout:\n%s--- stderr:\n%s---\n", rc, out, err);
}

/* Runs argv and requires exit status rc and text in the stream that status
 * calls for (stdout for 0, stderr otherwise). */
static void expect(int rc, const char *text, char *const argv[])
{
	int got = run(argv);
	const char *where = rc == 0 ? out : err;
	if (got != rc || !strstr(where, text)) {
		show(argv, got);
		fprintf(stderr, "expected exit %d and '%s' on %s\n", rc, text,
		        rc == 0 ? "stdout" : "stderr");
		exit(1);
	}
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, data, len), (long long)len);
	close(fd);
}

static size_t read_file(const char *path, void *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	size_t n = 0;
	ssize_t r;
	while ((r = read(fd, (char *)buf + n, cap - n)) > 0)
		n += (size_t)r;
	close(fd);
	return n;
}

static char *path_in(const char *name)
{
	static char paths[8][128];
	static int next;
	char *p = paths[next++ % 8];
	snprintf(p, 128, "%s/%s", dir, name);
	return p;
}

/* A sysfs attribute: stat says 4096 bytes, a read gives fewer. */
static const char *short_file(void)
{
	static const char *candidates[] = {"/sys/kernel/mm/transparent_hugepage/enabled",
	                                   "/sys/class/net/lo/mtu", "/sys/devices/system/cpu/online",
	                                   "/sys/kernel/profiling"};
	static char buf[8192];
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		struct stat st;
		int fd = open(candidates[i], O_RDONLY);
		if (fd < 0)
			continue;
		ssize_t n = fstat(fd, &st) == 0 ? read(fd, buf, sizeof(buf)) : -1;
		close(fd);
		if (n > 0 && st.st_size > n)
			return candidates[i];
	}
	return NULL;
}

static void test_cp(char *cp)
{
	static const char data[] = "hello, world\n";
	static char back[1 << 21];
	const char *x = path_in("x"), *y = path_in("y");

	/* The same file, by the same name, another name, a hard link and a
	 * symlink: refused before anything is truncated. */
	write_file(x, data, sizeof(data) - 1);
	CHECK_EQ(link(x, y), 0);
	CHECK_EQ(symlink(x, path_in("sym")), 0);
	char dotx[160];
	snprintf(dotx, sizeof(dotx), "%s/./x", dir);
	const char *same[] = {x, dotx, y, path_in("sym")};
	for (int i = 0; i < 4; i++) {
		char *argv[] = {cp, (char *)x, (char *)same[i], NULL};
		expect(1, "are the same file", argv);
		CHECK(strstr(out, "copied") == NULL);
		char *verify[] = {cp, "--verify", (char *)same[i], (char *)x, NULL};
		expect(1, "are the same file", verify);
		CHECK(strstr(out, "identical") == NULL);
		CHECK_EQ(read_file(x, back, sizeof(back)), sizeof(data) - 1);
		CHECK(memcmp(back, data, sizeof(data) - 1) == 0);
	}

	/* The summary counts what was copied: an odd size over small chunks. */
	enum { SIZE = (1 << 20) + 123 };
	static unsigned char big[SIZE];
	fill_pattern(big, SIZE, 0, 7);
	const char *src = path_in("src"), *dst = path_in("dst");
	write_file(src, big, SIZE);
	char *copy[] = {cp, "--chunk", "64", "--depth", "4", "--verify", (char *)src, (char *)dst,
	                NULL};
	expect(0, "copied 1048699 bytes", copy);
	CHECK(strstr(out, "verified: identical") != NULL);
	CHECK_EQ(read_file(dst, back, sizeof(back)), SIZE);
	CHECK(memcmp(back, big, SIZE) == 0);
	/* An existing longer destination is cut to the source's size. */
	write_file(src, data, sizeof(data) - 1);
	expect(0, "copied 13 bytes", copy);
	CHECK_EQ(read_file(dst, back, sizeof(back)), sizeof(data) - 1);
	/* An empty file. */
	write_file(src, "", 0);
	expect(0, "copied 0 bytes", copy);

	/* --verify reads back what the destination keeps: /dev/null keeps
	 * nothing. */
	write_file(src, data, sizeof(data) - 1);
	char *to_null[] = {cp, "--verify", (char *)src, "/dev/null", NULL};
	expect(1, "verify:", to_null);
	CHECK(strstr(out, "identical") == NULL);

	/* A source that ends before its size: an error, not a short copy. */
	const char *sf = short_file();
	if (sf) {
		char *shrunk[] = {cp, "--verify", (char *)sf, (char *)dst, NULL};
		expect(1, "of the 4096 it had when the copy began", shrunk);
		CHECK(strstr(out, "copied") == NULL);
		CHECK(strstr(err, "is incomplete") != NULL);
	} else {
		fprintf(stderr, "no sysfs file with a wrong size here: short-read case not run\n");
	}

	/* Errors name the file. */
	char *missing[] = {cp, (char *)path_in("nope"), (char *)path_in("new"), NULL};
	expect(1, "cannot open '", missing);
	CHECK(strstr(err, "/nope': No such file or directory") != NULL);
	CHECK(access(path_in("new"), F_OK) != 0);
	char *no_dir[] = {cp, (char *)src, (char *)path_in("no/such/dir"), NULL};
	expect(1, "/no/such/dir': No such file or directory", no_dir);
	char *from_dir[] = {cp, (char *)dir, (char *)path_in("new"), NULL};
	expect(1, "Is a directory", from_dir);

	/* The command line. */
	char *help[] = {cp, "--help", NULL};
	expect(0, "usage: ringkit-cp", help);
	CHECK_EQ(err[0], '\0');
	char *s = (char *)src, *d = (char *)dst;
	char *depth0[] = {cp, "--depth", "0", s, d, NULL};
	expect(2, "--depth '0'", depth0);
	char *depth_abc[] = {cp, "--depth", "abc", s, d, NULL};
	expect(2, "--depth 'abc'", depth_abc);
	char *depth_neg[] = {cp, "--depth", "-5", s, d, NULL};
	expect(2, "--depth '-5'", depth_neg);
	char *chunk_big[] = {cp, "--chunk", "99999999", s, d, NULL};
	expect(2, "--chunk '99999999'", chunk_big);
	char *no_value[] = {cp, s, d, "--depth", NULL};
	expect(2, "unexpected argument '--depth'", no_value);
	char *bare_depth[] = {cp, "--depth", NULL};
	expect(2, "--depth needs a value", bare_depth);
	char *bogus[] = {cp, "--bogus", s, d, NULL};
	expect(2, "unknown option '--bogus'", bogus);
	char *one[] = {cp, s, NULL};
	expect(2, "missing DST", one);
	char *none[] = {cp, NULL};
	expect(2, "usage:", none);
}

/* argv = CMD... ; completed with SRC DST. */
static void test_copy(int argc, char **argv)
{
	static const char data[] = "precious data\n";
	static char back[256];
	char *cmd[32];
	CHECK(argc < 29);
	for (int i = 0; i < argc; i++)
		cmd[i] = argv[i];
	cmd[argc + 2] = NULL;
	char *x = path_in("x"), *y = path_in("y");
	write_file(x, data, sizeof(data) - 1);
	CHECK_EQ(link(x, y), 0);
	char *same[] = {x, y};
	for (int i = 0; i < 2; i++) {
		cmd[argc] = x;
		cmd[argc + 1] = same[i];
		expect(1, "are the same file", cmd);
		CHECK_EQ(read_file(x, back, sizeof(back)), sizeof(data) - 1);
		CHECK(memcmp(back, data, sizeof(data) - 1) == 0);
	}
	const char *sf = short_file();
	if (sf) {
		cmd[argc] = (char *)sf;
		cmd[argc + 1] = path_in("short");
		expect(1, "it had when the copy began", cmd);
	}
	cmd[argc] = path_in("nope");
	cmd[argc + 1] = path_in("new");
	expect(1, "/nope': No such file or directory", cmd);
	CHECK(strstr(err, "for cancel") == NULL);
}

/* argv = CMD... ; completed with SRC DST. The bytes are compared here, not
 * by the copy's own check. */
static void test_copy_data(int argc, char **argv)
{
	enum { SIZE = (1 << 20) + 123 };
	static unsigned char data[SIZE], back[SIZE + 1];
	char *cmd[32];
	CHECK(argc < 29);
	for (int i = 0; i < argc; i++)
		cmd[i] = argv[i];
	char *src = path_in("src"), *dst = path_in("dst");
	cmd[argc] = src;
	cmd[argc + 1] = dst;
	cmd[argc + 2] = NULL;
	fill_pattern(data, SIZE, 0, 11);
	const size_t sizes[] = {SIZE, 100, 0}; /* many chunks; over the longer DST; empty */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		write_file(src, data, sizes[i]);
		int rc = run(cmd);
		if (rc != 0) {
			show(cmd, rc);
			fprintf(stderr, "copy of %zu bytes failed\n", sizes[i]);
			exit(1);
		}
		CHECK_EQ(read_file(dst, back, sizeof(back)), sizes[i]);
		CHECK(memcmp(back, data, sizes[i]) == 0);
	}
}

/* argv = CMD... ; runs CMD --help, CMD with no port and CMD BADPORT. */
static void test_server(int argc, char **argv)
{
	char *cmd[32];
	CHECK(argc < 30);
	for (int i = 0; i < argc; i++)
		cmd[i] = argv[i];
	cmd[argc + 1] = NULL;
	cmd[argc] = "--help";
	expect(0, "usage:", cmd);
	static const char *bad[] = {"abc", "99999", "-5", "65536", "", "8080x", " 80"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[32];
		snprintf(want, sizeof(want), "'%s'", bad[i]);
		cmd[argc] = (char *)bad[i];
		expect(2, want, cmd);
	}
	cmd[argc] = NULL;
	expect(2, "usage:", cmd);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	dir = make_tmpdir();
	if (argc == 3 && strcmp(argv[1], "cp") == 0)
		test_cp(argv[2]);
	else if (argc >= 3 && strcmp(argv[1], "copy") == 0)
		test_copy(argc - 2, argv + 2);
	else if (argc >= 3 && strcmp(argv[1], "copy-data") == 0)
		test_copy_data(argc - 2, argv + 2);
	else if (argc >= 3 && strcmp(argv[1], "server") == 0)
		test_server(argc - 2, argv + 2);
	else if (argc >= 5 && strcmp(argv[1], "expect") == 0)
		expect(atoi(argv[2]), argv[3], argv + 4);
	else
		return 2;
	return 0;
}
