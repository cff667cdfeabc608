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

#endif
