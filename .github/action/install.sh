#!/usr/bin/env bash
# Downloads a release archive and its sha256sums.txt, verifies the archive's SHA-256 and unpacks it.
# Inputs (env): KP_BASE_URL, KP_ARCHIVE, KP_INSTALL_DIR, KP_BINARY.
set -euo pipefail

fail() { echo "::error title=kubectl-posthog install::$*"; exit 1; }

: "${KP_BASE_URL:?}" "${KP_ARCHIVE:?}" "${KP_INSTALL_DIR:?}" "${KP_BINARY:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

curl -fsSL --retry 3 --retry-delay 2 -o "$work/$KP_ARCHIVE" "$KP_BASE_URL/$KP_ARCHIVE" \
  || fail "cannot download $KP_BASE_URL/$KP_ARCHIVE"
curl -fsSL --retry 3 --retry-delay 2 -o "$work/sha256sums.txt" "$KP_BASE_URL/sha256sums.txt" \
  || fail "cannot download $KP_BASE_URL/sha256sums.txt"

# sha256sum format: "<64 hex>  <name>" (a '*' before the name marks binary mode).
expected=$(awk -v name="$KP_ARCHIVE" '$2 == name || $2 == "*" name { print tolower($1); exit }' "$work/sha256sums.txt")
[[ "$expected" =~ ^[0-9a-f]{64}$ ]] || fail "sha256sums.txt has no checksum for $KP_ARCHIVE"
if command -v sha256sum >/dev/null 2>&1; then
  actual=$(sha256sum "$work/$KP_ARCHIVE" | awk '{ print $1 }')
else
  actual=$(shasum -a 256 "$work/$KP_ARCHIVE" | awk '{ print $1 }')
fi
[ "$actual" = "$expected" ] || fail "checksum mismatch for $KP_ARCHIVE: expected $expected, got $actual; not installing"

mkdir -p "$KP_INSTALL_DIR"
case "$KP_ARCHIVE" in
  *.zip) unzip -qo "$work/$KP_ARCHIVE" -d "$KP_INSTALL_DIR" ;;
  *) tar -xzf "$work/$KP_ARCHIVE" -C "$KP_INSTALL_DIR" ;;
esac
[ -f "$KP_BINARY" ] || fail "$KP_ARCHIVE does not contain $(basename "$KP_BINARY")"
chmod +x "$KP_BINARY"
"$KP_BINARY" --version
