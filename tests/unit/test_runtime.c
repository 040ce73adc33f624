/* Unit tests of the runtime directory (boot/runtime.c): two `wisp start`s
 * racing for one name over a leftover never remove each other's files,
 * and a process is known by its PID and its start time. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../boot/runtime.h"
#include "check.h"

static void make_leftover(const char *dir)
{
	char path[400];
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/lock", dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	snprintf(path, sizeof(path), "%s/state", dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
}

/* In a child: claims "x" when go says so, tells the parent it tried, and
 * holds what it got until release closes: a winner that is gone would
 * rightly be a leftover for the other. Exit status: 0 lost the race, 1 won
 * and kept its files, 2 won and lost them. */
static int contender(int go, int tried, int release)
{
	char dir[RUNTIME_PATH_MAX], err[256], c;
	if (read(go, &c, 1) != 1)
		return 3;
	int fd = runtime_claim("x", dir, sizeof(dir), err, sizeof(err));
	if (write(tried, "t", 1) != 1 || read(release, &c, 1) != 0)
		return 3;
	if (fd < 0)
		return 0;
	char lock[RUNTIME_PATH_MAX + 8];
	snprintf(lock, sizeof(lock), "%s/lock", dir);
	struct stat a, b;
	int kept = stat(lock, &a) == 0 && fstat(fd, &b) == 0 && a.st_ino == b.st_ino;
	return kept ? 1 : 2;
}

static void test_racing_starts_never_remove_each_others_files(void)
{
	char root[] = "/tmp/wisp-rt-XXXXXX";
	if (!mkdtemp(root))
		abort();
	setenv("WISP_RUNTIME_DIR", root, 1);
	char dir[300];
	snprintf(dir, sizeof(dir), "%s/x", root);
	int winners = 0, lost_files = 0, rounds = 200;
	for (int round = 0; round < rounds; round++) {
		make_leftover(dir);
		int go[2], tried[2], release[2];
		if (pipe(go) < 0 || pipe(tried) < 0 || pipe(release) < 0)
			abort();
		pid_t kids[2];
		for (int k = 0; k < 2; k++) {
			if ((kids[k] = fork()) == 0) {
				close(release[1]);
				_exit(contender(go[0], tried[1], release[0]));
			}
		}
		close(go[0]);
		close(tried[1]);
		close(release[0]);
		char c[2];
		if (write(go[1], "gg", 2) != 2 || read(tried[0], c, 1) != 1 ||
		    read(tried[0], c, 1) != 1)
			abort();
		close(go[1]);
		close(tried[0]);
		close(release[1]); /* both tried: let go */
		for (int k = 0; k < 2; k++) {
			int status;
			waitpid(kids[k], &status, 0);
			winners += WEXITSTATUS(status) == 1 || WEXITSTATUS(status) == 2;
			lost_files += WEXITSTATUS(status) == 2;
		}
		/* The winner has exited: what it left is a leftover again. */
	}
	CHECK_INT(winners, rounds);
	CHECK_INT(lost_files, 0);
	CHECK_INT(runtime_reap(dir), 0);
	CHECK_INT(access(dir, F_OK), -1);
	rmdir(root);
}

static void test_reap_leaves_a_live_directory_alone(void)
{
	char root[] = "/tmp/wisp-rt-XXXXXX";
	if (!mkdtemp(root))
		abort();
	setenv("WISP_RUNTIME_DIR", root, 1);
	char dir[RUNTIME_PATH_MAX], err[256];
	int fd = runtime_claim("live", dir, sizeof(dir), err, sizeof(err));
	CHECK(fd >= 0);
	CHECK_INT(runtime_alive(dir), 1);
	CHECK_INT(runtime_reap(dir), -1);
	CHECK_INT(access(dir, F_OK), 0);
	close(fd);
	CHECK_INT(runtime_alive(dir), 0);
	CHECK_INT(runtime_reap(dir), 0);
	CHECK_INT(access(dir, F_OK), -1);
	rmdir(root);
}

static void test_pid_start(void)
{
	long long me = runtime_pid_start(getpid());
	CHECK(me > 0);
	CHECK_INT(runtime_pid_start(getpid()), me);
	pid_t kid = fork();
	if (kid == 0) {
		pause();
		_exit(0);
	}
	CHECK(runtime_pid_start(kid) >= me);
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	CHECK_INT(runtime_pid_start(kid), -1); /* gone */
}

int main(void)
{
	test_racing_starts_never_remove_each_others_files();
	test_reap_leaves_a_live_directory_alone();
	test_pid_start();
	return check_summary("test_runtime");
}
