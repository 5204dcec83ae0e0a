#!/usr/bin/env bash
# Prints the path of a Python that has PyPI's `phonenumbers` of the release recon's phone metadata
# comes from (the reference of PhoneReferenceTests), installing it into .phone-reference/ first
# when it is missing or of another release.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(head -6 Sources/ReconCore/Resources/phone-metadata.bin | sed -n 's/^version //p')
venv=.phone-reference
if [ "$("$venv/bin/python" -c 'import phonenumbers; print(phonenumbers.__version__)' 2>/dev/null)" != "$version" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q "phonenumbers==$version" >&2
fi
echo "$PWD/$venv/bin/python"
