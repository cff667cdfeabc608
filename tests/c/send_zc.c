/* Zero-copy sends: each op yields a result (with MORE) and then a
 * notification (with NOTIF, final); the slot stays live until the
 * notification, so the buffer is provably still the kernel's until then.
 * send_zc and sendmsg_zc over TCP loopback, REPORT_USAGE, an error case
 * that still ends with exactly one final completion, and the batch path. */
#include "check.h"

static rk_ring *ring;

/* Reaps the two completions of zero-copy op id, one at a time. Returns the
 * result's res; *notif_res gets the notification's. */
static int32_t reap_zc(int64_t id, int32_t *notif_res)
{
	rk_cqe c = reap_one(ring);
	CHECK_EQ(c.id, id);
	CHECK(c.flags & RK_CQE_F_MORE);
	CHECK_EQ(c.flags & RK_CQE_F_NOTIF, 0);
	int32_t res = c.res;
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 1); /* not released yet */
	c = reap_one(ring);
	CHECK_EQ(c.id, id);
	CHECK(c.flags & RK_CQE_F_NOTIF);
	CHECK_EQ(c.flags & RK_CQE_F_MORE, 0);
	*notif_res = c.res;
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);
	return res;
}

static void read_all(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);
		CHECK(r > 0);
		got += (size_t)r;
	}
}

int main(void)
{
	ring = create_ring(16, 0);
	require_op(ring, "IORING_OP_SEND_ZC", "Linux 6.0+");
	int cfd, sfd;
	tcp_pair(&cfd, &sfd);

	static unsigned char data[256 * 1024], back[256 * 1024];
	fill_pattern(data, sizeof(data), 0, 3);
	int32_t notif;
	int64_t id = rk_prep_send_zc(ring, cfd, data, sizeof(data), MSG_WAITALL, 0, 0);
	CHECK(id >= 0);
	CHECK_EQ(rk_submit(ring), 1);
	read_all(sfd, back, sizeof(back)); /* the notification needs the data consumed */
	CHECK_EQ(reap_zc(id, &notif), (int32_t)sizeof(data));
	CHECK_EQ(notif & ~(int32_t)RK_NOTIF_USAGE_ZC_COPIED, 0);
	CHECK(memcmp(data, back, sizeof(data)) == 0);

	/* REPORT_USAGE: loopback copies, and says so. */
	id = rk_prep_send_zc(ring, cfd, data, 4096, 0, RK_SEND_ZC_REPORT_USAGE, 0);
	CHECK_EQ(rk_submit(ring), 1);
	read_all(sfd, back, 4096);
	CHECK_EQ(reap_zc(id, &notif), 4096);
	CHECK((uint32_t)notif & RK_NOTIF_USAGE_ZC_COPIED);

	/* sendmsg_zc with two iovecs. */
	if (has_op(ring, "IORING_OP_SENDMSG_ZC")) {
		rk_iovec iov[2] = {{(uintptr_t)data, 100}, {(uintptr_t)(data + 1000), 200}};
		id = rk_prep_sendmsg_zc(ring, cfd, iov, 2, NULL, 0, NULL, 0, 0, 0);
		memset(iov, 0, sizeof(iov));
		CHECK_EQ(rk_submit(ring), 1);
		read_all(sfd, back, 300);
		CHECK_EQ(reap_zc(id, &notif), 300);
		CHECK(memcmp(back, data, 100) == 0 && memcmp(back + 100, data + 1000, 200) == 0);
	}

	/* Through a batch descriptor. */
	rk_op_desc d = {.op = RK_OP_SEND_ZC, .fd = cfd, .len = 10, .addr = (uintptr_t)data};
	CHECK_EQ(rk_submit_batch(ring, &d, 1, &id), 1);
	read_all(sfd, back, 10);
	CHECK_EQ(reap_zc(id, &notif), 10);

	/* An unconnected socket: an error, and still one final completion. */
	int lone = tcp_socket(0, 0);
	id = rk_prep_send_zc(ring, lone, data, 10, MSG_NOSIGNAL, 0, 0);
	int finals = 0;
	for (int i = 0; i < 2 && !finals; i++) {
		rk_cqe c = reap_one(ring);
		CHECK_EQ(c.id, id);
		if (!(c.flags & RK_CQE_F_NOTIF))
			CHECK(c.res == -EPIPE || c.res == -ENOTCONN);
		finals += !(c.flags & RK_CQE_F_MORE);
	}
	CHECK_EQ(finals, 1);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);

	/* Bad arguments. */
	CHECK_EQ(rk_prep_send_zc(NULL, cfd, data, 1, 0, 0, 0), -EINVAL);
	CHECK_EQ(rk_prep_send_zc(ring, -1, data, 1, 0, 0, 0), -EBADF);
	CHECK_EQ(rk_prep_send_zc(ring, cfd, NULL, 1, 0, 0, 0), -EFAULT);
	CHECK_EQ(rk_prep_send_zc(ring, cfd, data, 1, 0, 1u << 7, 0), -EINVAL);
	CHECK_EQ(stat_of(ring, RK_STAT_INFLIGHT), 0);

	close(lone);
	close(cfd);
	close(sfd);
	CHECK_EQ(rk_ring_close(ring), 0);
	return 0;
}
