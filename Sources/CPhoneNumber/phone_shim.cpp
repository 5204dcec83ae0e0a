// A thin C face over Google's libphonenumber: parse, validate, format as E.164.
// No phone rules live here; libphonenumber decides what a number is.
#include "phone_shim.h"

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <cstring>
#include <string>

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

extern "C" recon_phone_status recon_phone_e164(const char *raw, size_t raw_len,
                                               const char *region, char *out,
                                               size_t out_cap) {
    const PhoneNumberUtil *util = PhoneNumberUtil::GetInstance();
    PhoneNumber number;
    const std::string text(raw, raw_len);
    if (util->Parse(text, region, &number) != PhoneNumberUtil::NO_PARSING_ERROR) {
        return RECON_PHONE_UNPARSEABLE;
    }
    if (!util->IsValidNumber(number)) {
        return RECON_PHONE_NOT_VALID;
    }
    std::string formatted;
    util->Format(number, PhoneNumberUtil::E164, &formatted);
    if (formatted.size() + 1 > out_cap) {
        return RECON_PHONE_BUFFER;
    }
    std::memcpy(out, formatted.c_str(), formatted.size() + 1);
    return RECON_PHONE_VALID;
}

extern "C" int recon_phone_region_supported(const char *region) {
    const PhoneNumberUtil *util = PhoneNumberUtil::GetInstance();
    std::set<std::string> regions;
    util->GetSupportedRegions(&regions);
    return regions.count(std::string(region)) ? 1 : 0;
}

extern "C" int recon_phone_country_code(const char *region) {
    return PhoneNumberUtil::GetInstance()->GetCountryCodeForRegion(std::string(region));
}
