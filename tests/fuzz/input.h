/* The fuzz input as the fuzzers read it (api_fuzz.c, diff.c): bytes taken
 * one at a time, zeros once it runs out, so any input is a valid program. */
#ifndef RK_FUZZ_INPUT_H
#define RK_FUZZ_INPUT_H
#include <stddef.h>
#include <stdint.h>

struct input {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t u8(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static inline uint32_t u16(struct input *in)
{
	return u8(in) | (uint32_t)u8(in) << 8;
}

static inline uint64_t u64(struct input *in)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)u8(in) << (8 * i);
	return v;
}

#endif
