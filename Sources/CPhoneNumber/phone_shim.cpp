// A thin C face over Google's libphonenumber: parse, validate, format as E.164.
// No phone rules live here; libphonenumber decides what a number is.
#include "phone_shim.h"

#include <phonenumbers/phonemetadata.pb.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <list>
#include <string>

// libphonenumber takes its numbering-plan metadata from two functions its build links in
// (metadata.h, not installed; its own tests link test metadata the same way). The shared library
// calls them through its procedure linkage table, so these definitions in the program take the
// place of the library's, whose metadata is the one compiled in when it was built (2022 for
// Debian's 8.12.57). recon_phone_install_metadata checks that they do.
namespace {
const void *installed_data = nullptr;
int installed_size = 0;
std::atomic<bool> metadata_read{false};
}  // namespace

namespace i18n {
namespace phonenumbers {
int metadata_size() {
    metadata_read = true;
    return installed_size;
}
const void *metadata_get() {
    metadata_read = true;
    return installed_data;
}
}  // namespace phonenumbers
}  // namespace i18n

extern "C" int recon_phone_install_metadata(const void *data, size_t len) {
    if (installed_data != nullptr || metadata_read) return 2;
    i18n::phonenumbers::PhoneMetadataCollection collection;
    if (len > 0x7fffffff || !collection.ParseFromArray(data, static_cast<int>(len)) ||
        collection.metadata_size() == 0) {
        return 1;
    }
    void *self = dlsym(RTLD_DEFAULT, "_ZN4i18n12phonenumbers12metadata_getEv");
    if (self != reinterpret_cast<void *>(&i18n::phonenumbers::metadata_get)) return 3;
    void *copy = std::malloc(len);
    if (copy == nullptr) return 1;
    std::memcpy(copy, data, len);
    installed_size = static_cast<int>(len);
    installed_data = copy;
    return 0;
}

using i18n::phonenumbers::PhoneMetadata;
using i18n::phonenumbers::PhoneMetadataCollection;
using i18n::phonenumbers::PhoneNumberDesc;

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
        const std::string code = "+" + std::to_string(number.country_code());
        if (code.size() + 1 <= out_cap) std::memcpy(out, code.c_str(), code.size() + 1);
        switch (util->IsPossibleNumberWithReason(number)) {
            case PhoneNumberUtil::IS_POSSIBLE: return RECON_PHONE_NOT_VALID;
            case PhoneNumberUtil::IS_POSSIBLE_LOCAL_ONLY: return RECON_PHONE_LOCAL_ONLY;
            case PhoneNumberUtil::INVALID_COUNTRY_CODE: return RECON_PHONE_INVALID_COUNTRY_CODE;
            case PhoneNumberUtil::TOO_SHORT: return RECON_PHONE_TOO_SHORT;
            case PhoneNumberUtil::TOO_LONG: return RECON_PHONE_TOO_LONG;
            case PhoneNumberUtil::INVALID_LENGTH: return RECON_PHONE_INVALID_LENGTH;
        }
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

namespace {

void append_desc(std::string &out, int kind, const PhoneNumberDesc &d) {
    out += "D\t" + std::to_string(kind) + "\t" + d.national_number_pattern() + "\t";
    for (int i = 0; i < d.possible_length_size(); ++i) {
        if (i) out += ",";
        out += std::to_string(d.possible_length(i));
    }
    out += "\t";
    for (int i = 0; i < d.possible_length_local_only_size(); ++i) {
        if (i) out += ",";
        out += std::to_string(d.possible_length_local_only(i));
    }
    out += "\t" + d.example_number() + "\n";
}

}  // namespace

extern "C" char *recon_phone_metadata_text(size_t *len) {
    PhoneMetadataCollection collection;
    if (installed_data == nullptr || !collection.ParseFromArray(installed_data, installed_size)) {
        return nullptr;
    }
    std::string out;
    for (const PhoneMetadata &m : collection.metadata()) {
        out += "R\t" + m.id() + "\t" + std::to_string(m.country_code()) + "\t" +
               (m.has_leading_digits() ? "1" : "0") + "\t" + m.leading_digits() + "\t" +
               m.international_prefix() + "\t" + m.national_prefix_for_parsing() + "\t" +
               m.national_prefix_transform_rule() + "\t" +
               (m.same_mobile_and_fixed_line_pattern() ? "1" : "0") + "\t" + m.national_prefix() + "\t" +
               m.preferred_international_prefix() + "\n";
        // Order: general, then the order GetNumberTypeHelper tries the types in.
        append_desc(out, 0, m.general_desc());
        append_desc(out, 1, m.premium_rate());
        append_desc(out, 2, m.toll_free());
        append_desc(out, 3, m.shared_cost());
        append_desc(out, 4, m.voip());
        append_desc(out, 5, m.personal_number());
        append_desc(out, 6, m.pager());
        append_desc(out, 7, m.uan());
        append_desc(out, 8, m.voicemail());
        append_desc(out, 9, m.fixed_line());
        append_desc(out, 10, m.mobile());
    }
    // Calling code → regions, in the order libphonenumber tries them (main country first).
    const PhoneNumberUtil *util = PhoneNumberUtil::GetInstance();
    for (int cc = 1; cc < 1000; ++cc) {
        std::list<std::string> regions;
        util->GetRegionCodesForCountryCallingCode(cc, &regions);
        if (regions.empty()) continue;
        out += "C\t" + std::to_string(cc) + "\t";
        bool first = true;
        for (const std::string &r : regions) {
            if (!first) out += ",";
            out += r;
            first = false;
        }
        out += "\n";
    }
    char *buffer = static_cast<char *>(std::malloc(out.size() + 1));
    if (buffer == nullptr) return nullptr;
    std::memcpy(buffer, out.c_str(), out.size() + 1);
    *len = out.size();
    return buffer;
}

extern "C" void recon_phone_free(char *p) { std::free(p); }
