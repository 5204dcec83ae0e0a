#!/usr/bin/env bash
# make test: start a throwaway cluster in .pgtest, run `swift test` against it, stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
admin=$(scripts/pg.sh start .pgtest)
trap 'scripts/pg.sh stop .pgtest' EXIT
export RECON_TEST_DATABASE_URL="$admin"
export RECON_BIN_DIR=$(swift build --show-bin-path)
# The reference phones are checked against: PyPI's phonenumbers of the metadata's release.
export RECON_PHONE_REFERENCE=$(scripts/phone-reference.sh)
swift test 2>&1 | tee .pgtest/swift-test.log
exit "${PIPESTATUS[0]}"
