/*
 * The io_uring backend's own declarations: what its setup and its
 * submission/completion files share. Nothing outside src/uring/ uses these.
 */
#ifndef RK_URING_H
#define RK_URING_H

#include "ids.h"

/* submit.c */
RK_HIDDEN int rk__flush_and_enter(rk_ring *ring, bool getevents);
RK_HIDDEN int rk__uring_reap(rk_ring *ring, rk_cqe *out, uint32_t max, uint32_t wait_nr,
                             int64_t timeout_ns);
RK_HIDDEN int rk__wait_idle(rk_ring *ring, int64_t timeout_ns);
RK_HIDDEN int rk__cancel_everything(rk_ring *ring);
RK_HIDDEN int rk__unwrite_unpublished(rk_ring *ring, bool settle);
RK_HIDDEN void rk__forget_unsubmitted(rk_ring *ring);

/* cancel.c: rk_cancel_sync's part for a target the kernel has not taken.
 * true: it (and what a soft link from it chains to) completed locally with
 * -ECANCELED. false: the kernel holds it, or (*sq_index != RK_NONE) the
 * SQPOLL thread has yet to take it from that SQ entry. */
RK_HIDDEN bool rk__cancel_unsubmitted(rk_ring *ring, struct rk_op *target, uint32_t *sq_index);
RK_HIDDEN int rk__wait_sq_taken(rk_ring *ring, uint32_t index, int64_t timeout_ns);

/* restrict.c: the restrict_ops hook. */
RK_HIDDEN int rk__uring_restrict(rk_ring *ring, const uint8_t *opcodes, uint32_t flags);

#endif
