#ifndef RECON_CSUPPORT_H
#define RECON_CSUPPORT_H

/// Asks the CPU to start loading the cache line at `p` (no fault if it is not mapped). Matching
/// looks millions of keys up in tables far larger than the cache: touching the next few slots
/// ahead lets their loads overlap instead of waiting for each in turn.
static inline void recon_prefetch(const void *p) {
    __builtin_prefetch(p, 0, 3);
}

#endif
