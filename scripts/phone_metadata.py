"""Writes libphonenumber's numbering-plan metadata, as PyPI's `phonenumbers` carries it, in the
form libphonenumber's C++ library reads (a serialised PhoneMetadataCollection, phonemetadata.proto),
behind a short text header that names the release:

    recon-phone-metadata 1
    version 9.0.43
    released 2026-11-06
    source https://pypi.org/project/phonenumbers/9.0.43/
    sha256 <hex of the body>
    <empty line>
    <body>

Run by scripts/update-phone-metadata.sh with the `phonenumbers` release to convert installed;
nothing in the output is written by hand. The conversion is checked by `--compare`, which
converts the release Debian's libphonenumber was built from and compares it byte for byte with
the metadata compiled into that library.

Usage: python3 phone_metadata.py --released YYYY-MM-DD --output FILE
"""
import argparse
import hashlib
import re
import sys

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata


def varint(n):
    if n < 0:
        n += 1 << 64          # int32 fields are written as 64-bit two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def string(field, s):
    b = s.encode("utf-8")
    return key(field, 2) + varint(len(b)) + b


def message(field, body):
    return key(field, 2) + varint(len(body)) + body


def integer(field, n):
    return key(field, 0) + varint(n)


# The Python port writes back-references as \1; phonemetadata.proto (and the C++ library, which
# turns $ into \ itself) has $1.
BACKREF = re.compile(r"\\(\d)")


def dollars(s):
    return BACKREF.sub(r"$\1", s)


def desc(d, general=None):
    """A PhoneNumberDesc, written as libphonenumber's build writes it: a type the plan does not
    have as possible length -1 and nothing else, and a type's possible lengths left out when they
    are the general description's (the library falls back to those)."""
    if d is None:
        return integer(9, -1)
    out = b""
    if d.national_number_pattern is not None:
        out += string(2, d.national_number_pattern)
    if d.example_number is not None:
        out += string(6, d.example_number)
    if general is None or tuple(d.possible_length) != tuple(general.possible_length):
        for n in d.possible_length:
            out += integer(9, n)
    for n in d.possible_length_local_only:
        out += integer(10, n)
    return out


def number_format(f, national=None):
    """A NumberFormat. An international one carries the rest of its national format, as
    libphonenumber's build copies it (the Python port leaves those fields out)."""
    if national is not None:
        rest = national
    else:
        rest = f
    out = string(1, f.pattern) + string(2, dollars(f.format))
    for p in f.leading_digits_pattern:
        out += string(3, p)
    if rest.national_prefix_formatting_rule is not None:
        out += string(4, dollars(rest.national_prefix_formatting_rule))
    if rest.domestic_carrier_code_formatting_rule is not None:
        out += string(5, dollars(rest.domestic_carrier_code_formatting_rule))
    if rest.national_prefix_optional_when_formatting:
        out += integer(6, 1)
    return out


def same_formats(a, b):
    key_of = lambda f: (f.pattern, f.format, tuple(f.leading_digits_pattern))
    return [key_of(f) for f in a] == [key_of(f) for f in b]


# Types libphonenumber's build always writes (as possible length -1 when absent), and the others
# it writes only when present, by field number.
ALWAYS = [(1, "general_desc"), (2, "fixed_line"), (3, "mobile"), (4, "toll_free"), (5, "premium_rate"),
          (6, "shared_cost"), (7, "personal_number"), (8, "voip")]
LATER_ALWAYS = {21: "pager", 24: "no_international_dialling", 25: "uan", 28: "voicemail"}
OPTIONAL = {27: "emergency", 29: "short_code", 30: "standard_rate", 31: "carrier_specific", 33: "sms_services"}


def metadata(m):
    fields = []                # (field number, bytes), sorted by field number at the end
    general = m.general_desc
    for number, name in ALWAYS:
        fields.append((number, message(number, desc(getattr(m, name), None if number == 1 else general))))
    for number, name in LATER_ALWAYS.items():
        fields.append((number, message(number, desc(getattr(m, name), general))))
    for number, name in OPTIONAL.items():
        if getattr(m, name) is not None:
            fields.append((number, message(number, desc(getattr(m, name), general))))
    fields.append((9, string(9, m.id)))
    fields.append((10, integer(10, m.country_code)))
    if m.international_prefix is not None:
        fields.append((11, string(11, m.international_prefix)))
    if m.national_prefix is not None:
        fields.append((12, string(12, m.national_prefix)))
    if m.preferred_extn_prefix is not None:
        fields.append((13, string(13, m.preferred_extn_prefix)))
    if m.national_prefix_for_parsing is not None:
        fields.append((15, string(15, m.national_prefix_for_parsing)))
    if m.national_prefix_transform_rule is not None:
        fields.append((16, string(16, dollars(m.national_prefix_transform_rule))))
    if m.preferred_international_prefix is not None:
        fields.append((17, string(17, m.preferred_international_prefix)))
    if m.same_mobile_and_fixed_line_pattern:
        fields.append((18, integer(18, 1)))
    for f in m.number_format:
        fields.append((19, message(19, number_format(f))))
    # libphonenumber keeps international formats only where they differ from the national ones.
    if not same_formats(m.number_format, m.intl_number_format):
        for f in m.intl_number_format:
            national = next((g for g in m.number_format if g.pattern == f.pattern
                             and g.leading_digits_pattern == f.leading_digits_pattern), None)
            fields.append((20, message(20, number_format(f, national))))
    if m.main_country_for_code:
        fields.append((22, integer(22, 1)))
    if m.leading_digits is not None:
        fields.append((23, string(23, m.leading_digits)))
    if m.leading_zero_possible:
        fields.append((26, integer(26, 1)))
    if m.mobile_number_portable_region:
        fields.append((32, integer(32, 1)))
    fields.sort(key=lambda f: f[0])       # stable: repeated fields keep their order
    return b"".join(b for _, b in fields)


def collection():
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    out = b""
    for r in regions:
        out += message(1, metadata(PhoneMetadata.metadata_for_region(r)))
    for cc in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        out += message(1, metadata(PhoneMetadata.metadata_for_nongeo_region(cc)))
    return out


def read_varint(b, i):
    n = shift = 0
    while True:
        x = b[i]
        i += 1
        n |= (x & 0x7F) << shift
        shift += 7
        if x < 0x80:
            return n, i


def parse(b):
    """A message's fields as (number, wire type, value) in order."""
    i, out = 0, []
    while i < len(b):
        k, i = read_varint(b, i)
        if k & 7 == 0:
            v, i = read_varint(b, i)
        else:
            n, i = read_varint(b, i)
            v, i = b[i:i + n], i + n
        out.append((k >> 3, k & 7, v))
    return out


def without_intl_rules(b):
    """The collection with the national-prefix rules of international formats (NumberFormat
    fields 4 to 6 inside PhoneMetadata field 20) taken out. The Python port does not carry them,
    and libphonenumber reads them only to format a number in international style: parsing,
    validity and E.164 never do."""
    regions = []
    for _, _, m in parse(b):
        fields = []
        for f, t, v in parse(m):
            if f == 20:
                v = tuple(x for x in parse(v) if x[0] not in (4, 5, 6))
            fields.append((f, t, v))
        regions.append(fields)
    return regions


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--released", help="the release's date on PyPI, YYYY-MM-DD")
    p.add_argument("--output", help="file to write (header and body)")
    p.add_argument("--compare", help="compare the body with this file of raw metadata bytes and exit")
    a = p.parse_args()
    body = collection()
    if a.compare:
        other = open(a.compare, "rb").read()
        if other == body:
            print(f"identical: {len(body)} bytes")
            return 0
        if without_intl_rules(other) == without_intl_rules(body):
            print(f"identical but for the national-prefix rules of international formats: {len(body)} "
                  f"bytes converted, {len(other)} compared")
            return 0
        print(f"DIFFERENT: {len(body)} bytes converted, {len(other)} bytes compared", file=sys.stderr)
        return 1
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", a.released or ""):
        print("--released YYYY-MM-DD is required", file=sys.stderr)
        return 2
    version = phonenumbers.__version__
    header = (f"recon-phone-metadata 1\nversion {version}\nreleased {a.released}\n"
              f"source https://pypi.org/project/phonenumbers/{version}/\n"
              f"sha256 {hashlib.sha256(body).hexdigest()}\n\n")
    with open(a.output, "wb") as f:
        f.write(header.encode("ascii") + body)
    print(f"{a.output}: phonenumbers {version} ({a.released}), {len(body)} bytes of metadata")
    return 0


if __name__ == "__main__":
    sys.exit(main())
