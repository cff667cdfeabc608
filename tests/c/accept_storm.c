/* Accept storms with cancels: rounds of connections hit a listener served
 * by a multishot accept and several single accepts, some of which are
 * cancelled while connections arrive. Every connection is accepted exactly
 * once (a cancel that lost the race still yields its fd), and once every
 * fd is closed the process's fd count is back at its baseline. Closing a
 * ring with accepted connections still unreaped closes them too. */
#include <sys/eventfd.h>

#include "check.h"

#define ROUNDS  10
#define PER     24
#define SINGLES 4

static int accepted[ROUNDS * PER + 8], naccepted;

/* Reaps until every op in ids (n of them) has had its final completion;
 * accepted fds are collected, cancels' own results checked. */
static void settle(rk_ring *ring, const int64_t *ids, int n, const int64_t *cancels, int ncancel)
{
	int open = n + ncancel;
	while (open > 0) {
		rk_cqe c[32];
		int got = rk_reap(ring, c, 32, 1, 2000000000LL);
		CHECK(got > 0);
		for (int i = 0; i < got; i++) {
			int is_cancel = 0;
			for (int k = 0; k < ncancel; k++)
				is_cancel |= c[i].id == cancels[k];
			if (is_cancel) {
				CHECK(c[i].res == 0 || c[i].res == -ENOENT || c[i].res == -EALREADY);
				open--;
				continue;
			}
			int known = 0;
			for (int k = 0; k < n; k++)
				known |= c[i].id == ids[k];
			CHECK(known);
			if (c[i].res >= 0) {
				CHECK(naccepted < (int)(sizeof(accepted) / sizeof(accepted[0])));
				accepted[naccepted++] = c[i].res;
			} else {
				CHECK_EQ(c[i].res, -ECANCELED);
			}
			if (!(c[i].flags & RK_CQE_F_MORE))
				open--;
		}
	}
}

static void storm(void)
{
	int base = count_fds();
	struct sockaddr_in sa;
	int lfd = tcp_listener(&sa, ROUNDS * PER);
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(64, 0, &ring), 0);
	int clients[ROUNDS * PER];
	int nclients = 0;

	for (int r = 0; r < ROUNDS; r++) {
		int64_t ids[SINGLES + 1], cancels[SINGLES + 1];
		int ncancel = 0;
		ids[0] = rk_prep_accept_multishot(ring, lfd, SOCK_CLOEXEC, 0);
		for (int i = 1; i <= SINGLES; i++)
			ids[i] = rk_prep_accept(ring, lfd, NULL, 0, SOCK_CLOEXEC, 0);
		CHECK_EQ(rk_submit(ring), SINGLES + 1);
		for (int i = 0; i < PER; i++) {
			clients[nclients++] = tcp_connect(&sa);
			/* Mid-storm, cancel the multishot and half the singles. */
			if (i == PER / 2 - r % 3) {
				cancels[ncancel] = rk_prep_cancel(ring, ids[0], 0);
				CHECK(cancels[ncancel++] >= 0);
				/* Nothing was reaped yet: every target is live. */
				for (int k = 1; k <= SINGLES; k += 2) {
					cancels[ncancel] = rk_prep_cancel(ring, ids[k], 0);
					CHECK(cancels[ncancel++] >= 0);
				}
				CHECK(rk_submit(ring) >= 0);
			}
		}
		/* Whatever single accepts still wait are cancelled too. */
		for (int k = 2; k <= SINGLES; k += 2) {
			int ret = rk_cancel_sync(ring, ids[k], -1);
			CHECK(ret == 0 || ret == -ENOENT || ret == -EALREADY);
		}
		settle(ring, ids, SINGLES + 1, cancels, ncancel);
		CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	}
	/* Connections left in the backlog: accept them all. */
	while (naccepted < nclients) {
		int64_t id = rk_prep_accept(ring, lfd, NULL, 0, SOCK_CLOEXEC, 0);
		settle(ring, &id, 1, NULL, 0);
	}
	CHECK_EQ(naccepted, nclients);
	/* Each accepted fd is a distinct live socket. */
	for (int i = 0; i < naccepted; i++)
		CHECK(fcntl(accepted[i], F_GETFD) >= 0);
	/* listener, ring, both ends */
	CHECK_EQ(count_fds(), base + 1 + ring_fds(ring, 0) + 2 * nclients);
	for (int i = 0; i < naccepted; i++)
		close(accepted[i]);
	for (int i = 0; i < nclients; i++)
		close(clients[i]);
	CHECK_EQ(rk_ring_close(ring), 0);
	close(lfd);
	CHECK_EQ(count_fds(), base);
}

/* Connections the kernel accepted but nobody reaped are closed by
 * rk_ring_close, which never delivers their completions. */
static void close_unreaped(void)
{
	int base = count_fds();
	struct sockaddr_in sa;
	int lfd = tcp_listener(&sa, ROUNDS * PER);
	rk_ring *ring;
	CHECK_EQ(rk_ring_create(16, 0, &ring), 0);
	int efd = eventfd(0, EFD_CLOEXEC);
	CHECK_EQ(rk_ring_register_eventfd(ring, efd, 0), 0);
	CHECK(rk_prep_accept_multishot(ring, lfd, SOCK_CLOEXEC, 0) >= 0);
	CHECK(rk_prep_accept(ring, lfd, NULL, 0, SOCK_CLOEXEC, 0) >= 0);
	CHECK_EQ(rk_submit(ring), 2);
	int cl[5];
	for (int i = 0; i < 5; i++)
		cl[i] = tcp_connect(&sa);
	uint64_t posted = 0;
	while (posted < 5) {
		uint64_t v;
		CHECK_EQ(read(efd, &v, sizeof(v)), sizeof(v));
		posted += v;
	}
	/* listener, ring, eventfd, both ends of 5, the multishot still waiting */
	CHECK_EQ(count_fds(), base + 2 + ring_fds(ring, 1) + 10 + waiting_fds(ring, 1));
	CHECK_EQ(rk_ring_close(ring), 0);
	CHECK_EQ(count_fds(), base + 2 + 5); /* listener, eventfd, clients */
	for (int i = 0; i < 5; i++) {
		char b;
		CHECK_EQ(read(cl[i], &b, 1), 0); /* the server side was closed */
		close(cl[i]);
	}
	close(efd);
	close(lfd);
	CHECK_EQ(count_fds(), base);
}

int main(void)
{
	storm();
	close_unreaped();
	return 0;
}
