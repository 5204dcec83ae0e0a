#ifndef RECON_PHONE_SHIM_H
#define RECON_PHONE_SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Result of normalising one phone number.
typedef enum {
    RECON_PHONE_VALID = 0,        ///< parsed and valid; `out` holds the E.164 form
    RECON_PHONE_UNPARSEABLE = 1,  ///< libphonenumber could not parse the text
    RECON_PHONE_NOT_VALID = 2,    ///< parsed, but not a valid number for its region
    RECON_PHONE_BUFFER = 3        ///< `out` too small (never with a 32-byte buffer)
} recon_phone_status;

/// Parses `raw` (not NUL-terminated, `raw_len` bytes) with libphonenumber, using `region`
/// (ISO 3166-1 alpha-2, NUL-terminated, may be "ZZ" for unknown) for numbers written without a
/// leading +, and writes the E.164 form into `out` (NUL-terminated) when the number is valid.
recon_phone_status recon_phone_e164(const char *raw, size_t raw_len, const char *region,
                                    char *out, size_t out_cap);

/// 1 when libphonenumber knows `region` (e.g. "GB"), else 0.
int recon_phone_region_supported(const char *region);

/// The country calling code libphonenumber assigns to `region`, or 0 when unknown.
int recon_phone_country_code(const char *region);

#ifdef __cplusplus
}
#endif

#endif
