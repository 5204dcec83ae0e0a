// The header's inline functions, and the one that needs the loader's API.
#define _GNU_SOURCE
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
