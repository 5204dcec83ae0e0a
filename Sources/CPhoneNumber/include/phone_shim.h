#ifndef RECON_PHONE_SHIM_H
#define RECON_PHONE_SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Gives libphonenumber the numbering-plan metadata to judge with: a serialised
/// PhoneMetadataCollection (phonemetadata.proto), copied. Must come before any other call here;
/// libphonenumber reads its metadata once. Returns 0 on success, 1 when the bytes are not a
/// metadata collection, 2 when metadata was already given or already read, 3 when libphonenumber
/// would not read it (recon's `metadata_get` is not the one the library calls).
int recon_phone_install_metadata(const void *data, size_t len);

/// Result of normalising one phone number. For every status but VALID, UNPARSEABLE and BUFFER the
/// number was parsed but is not valid, and the status says why (libphonenumber's
/// IsPossibleNumberWithReason); `out` then holds its calling code as "+61".
typedef enum {
    RECON_PHONE_VALID = 0,        ///< parsed and valid; `out` holds the E.164 form
    RECON_PHONE_UNPARSEABLE = 1,  ///< libphonenumber could not parse the text
    RECON_PHONE_NOT_VALID = 2,    ///< a possible length, but in no range of the numbering plan
    RECON_PHONE_BUFFER = 3,       ///< `out` too small (never with a 32-byte buffer)
    RECON_PHONE_TOO_SHORT = 4,
    RECON_PHONE_TOO_LONG = 5,
    RECON_PHONE_INVALID_LENGTH = 6,   ///< between the shortest and longest, but no such length
    RECON_PHONE_LOCAL_ONLY = 7,       ///< a length only dialled locally (no area code)
    RECON_PHONE_INVALID_COUNTRY_CODE = 8
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

/// The installed metadata as text, for recon's fast path (see PhoneMetadata.swift):
/// `R` lines (id, calling code, has leading digits, leading digits, international prefix, national
/// prefix for parsing, transform rule, same mobile/fixed pattern, national prefix, preferred
/// international prefix), eleven `D` lines per region
/// (kind, pattern, possible lengths, local-only lengths, example), and `C` lines (calling code →
/// regions in libphonenumber's order), tab-separated. Free with `recon_phone_free`. NULL on failure.
char *recon_phone_metadata_text(size_t *len);

void recon_phone_free(char *p);

#ifdef __cplusplus
}
#endif

#endif
