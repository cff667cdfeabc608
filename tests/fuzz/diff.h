/* The differential mode of the API fuzzer (diff.c): one input on an io_uring
 * ring and on a fallback ring, completions compared. */
#ifndef RK_FUZZ_DIFF_H
#define RK_FUZZ_DIFF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct diff_stats {
	uint64_t sequences, ops, records, settles;
	uint64_t known;      /* inputs that stopped at a known difference */
	uint64_t mismatches; /* inputs with a difference not in the known list */
	unsigned known_hit;  /* bit per probe whose difference was seen */
	uint64_t known_inputs[16]; /* per probe: inputs where it was seen */
};

/* Runs one input on both backends: 0 when they agreed, 1 when they differed
 * only in known ways, -1 on a mismatch (described on stderr). verbose: the
 * known differences are described too. */
int rk_fuzz_diff_one(const uint8_t *data, size_t size, struct diff_stats *st, bool verbose);

/* Lists the known differences seen, with how many inputs showed each. */
void rk_fuzz_diff_print_known(FILE *out, const struct diff_stats *st);

#endif
