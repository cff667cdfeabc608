/* Does IORING_ENTER_EXT_ARG's min_wait_usec cut wakeups? A producer thread
 * posts a CQE into the target ring every GAP us (IORING_OP_MSG_RING from a
 * ring of its own); the reaper wants batches of 16 and waits three ways:
 * (a) wait_nr 1, (b) wait_nr 16 bounded by a 1 ms timeout, (c) the same
 * with min_wait_usec 200. Counts io_uring_enter calls and the reaper's
 * context switches (RUSAGE_THREAD) per 1000 completions. Raw liburing and
 * io_uring_enter: ringkit has no min-wait call (doc/benchmarks.md, "Kernel
 * features (issue 18)", says why).
 *
 *   ringkit-bench-min-wait [gap us] */
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define N 20000
static int target_fd;
static int gap_us;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *produce(void *arg)
{
	(void)arg;
	struct io_uring r;
	io_uring_queue_init(8, &r, 0);
	for (int i = 0; i < N; i++) {
		uint64_t deadline = now_ns() + (uint64_t)gap_us * 1000;
		while (now_ns() < deadline)
			; /* spin: a sleep's own wakeup slack would dominate */
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r);
		io_uring_prep_msg_ring(sqe, target_fd, 0, 1, 0);
		io_uring_submit_and_wait(&r, 1);
		struct io_uring_cqe *c;
		io_uring_wait_cqe(&r, &c);
		io_uring_cqe_seen(&r, c);
	}
	io_uring_queue_exit(&r);
	return NULL;
}

static void run(const char *name, unsigned wait_nr, long long timeout_ns, unsigned min_us)
{
	struct io_uring r;
	io_uring_queue_init(64, &r, 0);
	target_fd = r.ring_fd;
	pthread_t th;
	struct rusage ru0, ru1;
	getrusage(RUSAGE_THREAD, &ru0);
	pthread_create(&th, NULL, produce, NULL);
	long enters = 0, got = 0;
	while (got < N) {
		struct __kernel_timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
		struct io_uring_getevents_arg arg;
		memset(&arg, 0, sizeof(arg));
		arg.pad = min_us; /* min_wait_usec in the 6.12 ABI */
		arg.ts = timeout_ns >= 0 ? (uint64_t)(uintptr_t)&ts : 0;
		unsigned want = wait_nr;
		if (want > (unsigned)(N - got))
			want = (unsigned)(N - got);
		if (io_uring_cq_ready(&r) < want) {
			int ret = (int)syscall(__NR_io_uring_enter, r.ring_fd, 0, want,
			                       IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg,
			                       sizeof(arg));
			enters++;
			(void)ret; /* -ETIME: the timeout passed, the CQ says what came */
		}
		struct io_uring_cqe *c;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&r, head, c)
			n++;
		io_uring_cq_advance(&r, n);
		got += n;
	}
	pthread_join(th, NULL);
	getrusage(RUSAGE_THREAD, &ru1);
	long cs = (ru1.ru_nvcsw - ru0.ru_nvcsw) + (ru1.ru_nivcsw - ru0.ru_nivcsw);
	printf("%-38s enters/1000 %6.1f  switches/1000 %6.1f\n", name, enters * 1000.0 / N,
	       cs * 1000.0 / N);
	io_uring_queue_exit(&r);
}

int main(int argc, char **argv)
{
	gap_us = argc > 1 ? atoi(argv[1]) : 20;
	printf("one CQE every %d us, %d CQEs\n", gap_us, N);
	for (int round = 0; round < 2; round++) {
		run("(a) wait_nr 1", 1, -1, 0);
		run("(b) wait_nr 16, timeout 1 ms", 16, 1000000, 0);
		run("(c) wait_nr 16, timeout 1 ms, min 200", 16, 1000000, 200);
	}
	return 0;
}
