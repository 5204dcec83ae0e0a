// The header's inline functions, and those that need _GNU_SOURCE (the loader's API, O_DIRECT).
#define _GNU_SOURCE
#include <fcntl.h>
#include <link.h>
#include "csupport.h"

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
