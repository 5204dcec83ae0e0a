#ifndef RECON_CSUPPORT_H
#define RECON_CSUPPORT_H

/// Asks the CPU to start loading the cache line at `p` (no fault if it is not mapped). Matching
/// looks millions of keys up in tables far larger than the cache: touching the next few slots
/// ahead lets their loads overlap instead of waiting for each in turn.
static inline void recon_prefetch(const void *p) {
    __builtin_prefetch(p, 0, 3);
}

/// Calls `each` with the path of every object the dynamic loader has loaded into the process
/// (the executable's own entry has an empty name), under the loader's lock: a consistent list,
/// where /proc/self/maps can miss entries while other threads map memory. Returns 0.
int recon_each_loaded_object(void (*each)(const char *path, void *context), void *context);

/// Creates (or truncates) `path` for writing with O_DIRECT: writes bypass the page cache and
/// must be whole, aligned blocks (`recon_direct_block`). Returns the descriptor, or -1 with errno
/// set (EINVAL where the file system has no direct I/O, such as tmpfs).
int recon_create_direct(const char *path);

/// Turns O_DIRECT off on `fd` (for the file's last, partial block). Returns 0, or -1 with errno set.
int recon_end_direct(int fd);

/// The size and alignment of a direct write's block.
#define recon_direct_block 4096

/// Continues the running CRC-32 (ZIP's: reflected 0xEDB88320; pass the register as it stands,
/// 0xFFFFFFFF at the start) over the first `*length` bytes of `bytes` with the CPU's carry-less
/// multiply, 64 bytes at a time, and returns it. Handles a multiple of 16 bytes, at least 64;
/// `*length` is set to how many it handled (0 when the CPU has no PCLMULQDQ or there are fewer
/// than 64 bytes): the caller does the rest.
unsigned int recon_crc32_folded(unsigned int crc, const unsigned char *bytes, unsigned long *length);

#endif
