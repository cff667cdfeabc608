/*
 * ringkit-backend: prints which backend a new ring gets on this machine, in
 * this environment, and why: "io_uring", "fallback (RINGKIT_BACKEND=fallback)"
 * or "fallback (io_uring refused: <the errno's words>)". The tours print it
 * next to their figures, since a fallback ring runs the same programs more
 * slowly. Exit status 0, or 1 when no ring can be made at all (the reason on
 * stderr).
 */
#include <stdio.h>
#include <string.h>

#include <ringkit.h>

int main(void)
{
	rk_ring *ring;
	int err = rk_ring_create(8, 0, &ring);
	if (err < 0) {
		fprintf(stderr, "ringkit-backend: no ring: %s\n", rk_strerror(err));
		return 1;
	}
	int backend = rk_ring_backend(ring);
	rk_ring_close(ring);
	if (backend == RK_BACKEND_URING) {
		printf("io_uring\n");
		return 0;
	}
	/* A fallback ring: chosen by the environment, or io_uring refused? The
	 * flag outranks RINGKIT_BACKEND, so this asks io_uring itself. */
	err = rk_ring_create(8, RK_RING_NO_FALLBACK, &ring);
	if (err == 0) {
		rk_ring_close(ring);
		printf("fallback (RINGKIT_BACKEND=fallback)\n");
	} else {
		/* rk_strerror's advice follows the errno's own words in
		 * parentheses; the tour line keeps the words only. */
		const char *why = rk_strerror(err);
		const char *advice = strstr(why, " (");
		int len = advice ? (int)(advice - why) : (int)strlen(why);
		printf("fallback (io_uring refused: %.*s)\n", len, why);
	}
	return 0;
}
