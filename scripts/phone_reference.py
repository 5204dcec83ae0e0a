"""The reference recon's phone judgements are checked against (PhoneReferenceTests): PyPI's
`phonenumbers`, the Python port of libphonenumber, of the release recon's metadata comes from.

Reads lines "REGION<TAB>TEXT" on stdin and writes one line per input:
    valid<TAB>+E164
    unparseable
    invalid<TAB>WHY<TAB>CALLING CODE     WHY: too_short, too_long, invalid_length, local_only,
                                         invalid_country_code or unknown_range
The first line written is "phonenumbers <version>".
"""
import sys

import phonenumbers
from phonenumbers import PhoneNumberFormat, ValidationResult

WHY = {
    ValidationResult.IS_POSSIBLE: "unknown_range",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "local_only",
    ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code",
    ValidationResult.TOO_SHORT: "too_short",
    ValidationResult.TOO_LONG: "too_long",
    ValidationResult.INVALID_LENGTH: "invalid_length",
}


def judge(region, text):
    try:
        n = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return "unparseable"
    if phonenumbers.is_valid_number(n):
        return "valid\t" + phonenumbers.format_number(n, PhoneNumberFormat.E164)
    return f"invalid\t{WHY[phonenumbers.is_possible_number_with_reason(n)]}\t{n.country_code}"


def main():
    out = sys.stdout
    out.write(f"phonenumbers {phonenumbers.__version__}\n")
    for line in sys.stdin.buffer:
        region, _, text = line.rstrip(b"\n").decode("utf-8").partition("\t")
        out.write(judge(region, text) + "\n")


if __name__ == "__main__":
    main()
