// The header's inline functions, and those that need _GNU_SOURCE (the loader's API, O_DIRECT).
#define _GNU_SOURCE
#include <fcntl.h>
#include <link.h>
#include "csupport.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

struct each_context { void (*each)(const char *, void *); void *context; };

static int visit(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct each_context *c = data;
    c->each(info->dlpi_name ? info->dlpi_name : "", c->context);
    return 0;
}

int recon_each_loaded_object(void (*each)(const char *path, void *context), void *context) {
    struct each_context c = { each, context };
    return dl_iterate_phdr(visit, &c);
}

int recon_create_direct(const char *path) {
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0666);
}

int recon_end_direct(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags & ~O_DIRECT);
}

#if defined(__x86_64__)
// Folding by carry-less multiplication, as in Intel's "Fast CRC Computation for Generic
// Polynomials Using PCLMULQDQ Instruction" (2009): four 128-bit lanes folded 64 bytes at a
// time, then into one lane, then 16 bytes at a time, then to 64 bits and Barrett-reduced to 32.
// The constants are the paper's for the bit-reflected CRC-32 polynomial (zlib uses the same).
__attribute__((target("pclmul,sse4.1")))
static unsigned int crc32_clmul(unsigned int crc, const unsigned char *p, unsigned long n) {
    const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
    const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
    const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124);
    const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);
    __m128i x0, x1, x2, x3, x4, x5, x6, x7, x8;
    x1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(p + 0x00)), _mm_cvtsi32_si128((int)crc));
    x2 = _mm_loadu_si128((const __m128i *)(p + 0x10));
    x3 = _mm_loadu_si128((const __m128i *)(p + 0x20));
    x4 = _mm_loadu_si128((const __m128i *)(p + 0x30));
    p += 64; n -= 64;
    x0 = k1k2;
    while (n >= 64) {
        x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
        x6 = _mm_clmulepi64_si128(x2, x0, 0x00);
        x7 = _mm_clmulepi64_si128(x3, x0, 0x00);
        x8 = _mm_clmulepi64_si128(x4, x0, 0x00);
        x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
        x2 = _mm_clmulepi64_si128(x2, x0, 0x11);
        x3 = _mm_clmulepi64_si128(x3, x0, 0x11);
        x4 = _mm_clmulepi64_si128(x4, x0, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), _mm_loadu_si128((const __m128i *)(p + 0x00)));
        x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), _mm_loadu_si128((const __m128i *)(p + 0x10)));
        x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), _mm_loadu_si128((const __m128i *)(p + 0x20)));
        x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), _mm_loadu_si128((const __m128i *)(p + 0x30)));
        p += 64; n -= 64;
    }
    x0 = k3k4;
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, x0, 0x11), x2), x5);
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, x0, 0x11), x3), x5);
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, x0, 0x11), x4), x5);
    while (n >= 16) {
        x2 = _mm_loadu_si128((const __m128i *)p);
        x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
        x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, x0, 0x11), x2), x5);
        p += 16; n -= 16;
    }
    // 128 bits to 64.
    x2 = _mm_clmulepi64_si128(x1, x0, 0x10);
    x3 = _mm_setr_epi32(~0, 0, ~0, 0);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
    x0 = k5k0;
    x2 = _mm_srli_si128(x1, 4);
    x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, x3), x0, 0x00), x2);
    // Barrett reduction to 32 bits.
    x0 = poly;
    x2 = _mm_clmulepi64_si128(_mm_and_si128(x1, x3), x0, 0x10);
    x2 = _mm_clmulepi64_si128(_mm_and_si128(x2, x3), x0, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    return (unsigned int)_mm_extract_epi32(x1, 1);
}
#endif

unsigned int recon_crc32_folded(unsigned int crc, const unsigned char *bytes, unsigned long *length) {
#if defined(__x86_64__)
    unsigned long n = *length & ~15UL;
    if (n >= 64 && __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1")) {
        *length = n;
        return crc32_clmul(crc, bytes, n);
    }
#endif
    (void)bytes;
    *length = 0;
    return crc;
}
