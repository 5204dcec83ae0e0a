#!/usr/bin/env bash
# Refreshes the numbering plans recon judges phones with, from an official libphonenumber release
# as PyPI's `phonenumbers` carries it (Debian's libphonenumber carries the plans of its 2022 build).
#
#   scripts/update-phone-metadata.sh [VERSION]      (default: the newest release on PyPI)
#
# Writes Sources/ReconCore/Resources/phone-metadata.bin (commit it) and copies it beside every
# binary already built (.build/*/recon_ReconCore.resources/), which read it at their next run: no
# rebuild. An installed recon reads $RECON_PHONE_METADATA instead when set.
#
# Before converting, it checks the converter (scripts/phone_metadata.py): the release Debian's
# libphonenumber was built from, converted, must equal the metadata compiled into that library.
set -euo pipefail
cd "$(dirname "$0")/.."
out=Sources/ReconCore/Resources/phone-metadata.bin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

curl -fsS --max-time 60 https://pypi.org/pypi/phonenumbers/json -o "$work/pypi.json"
version=${1:-$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["info"]["version"])' "$work/pypi.json")}
released=$(python3 - "$work/pypi.json" "$version" <<'PY'
import json, sys
files = json.load(open(sys.argv[1]))["releases"].get(sys.argv[2]) or []
if not files:
    sys.exit(f"phonenumbers {sys.argv[2]} is not on PyPI")
print(min(f["upload_time"] for f in files)[:10])
PY
)

# 1. The converter, checked against Debian's build of libphonenumber.
debian=$(dpkg-query -W -f='${Version}' libphonenumber-dev | sed 's/[+~-].*//')
cat > "$work/dump.cpp" <<'CPP'
#include <cstdio>
namespace i18n { namespace phonenumbers { int metadata_size(); const void *metadata_get(); } }
int main() { std::fwrite(i18n::phonenumbers::metadata_get(), 1, i18n::phonenumbers::metadata_size(), stdout); }
CPP
g++ "$work/dump.cpp" -o "$work/dump" -lphonenumber
"$work/dump" > "$work/debian.pb"
python3 -m venv "$work/debian"
"$work/debian/bin/pip" install -q "phonenumbers==$debian"
echo -n "converter check against Debian's libphonenumber $debian: "
"$work/debian/bin/python" scripts/phone_metadata.py --compare "$work/debian.pb"

# 2. The release asked for.
python3 -m venv "$work/release"
"$work/release/bin/pip" install -q "phonenumbers==$version"
"$work/release/bin/python" scripts/phone_metadata.py --released "$released" --output "$out"
for dir in .build/*/recon_ReconCore.resources; do
  [ -d "$dir" ] && cp "$out" "$dir/" && echo "copied to $dir"
done
echo "phone metadata: libphonenumber $version ($released); commit $out"
