// The header's functions are inline; this file exists because a C target needs a source file.
#include "csupport.h"
