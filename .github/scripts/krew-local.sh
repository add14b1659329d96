#!/usr/bin/env bash
# Packages a local build for this machine's platform and writes a krew manifest with its real
# sha256, so `kubectl krew install` works offline, before or without a release (krew checks the
# sha256 even with --archive, so the repository's manifest cannot serve a local build).
# Usage: krew-local.sh [BINARY] [OUT_DIR]
#   BINARY   default target/release/kubectl-posthog (built with cargo when missing)
#   OUT_DIR  default dist/krew-local
# Prints the install command.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
binary="${1:-$root/target/release/kubectl-posthog}"
out="${2:-$root/dist/krew-local}"

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  MINGW* | MSYS* | CYGWIN*) os=windows ;;
  *) echo "krew-local.sh: unsupported OS $(uname -s)" >&2; exit 2 ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "krew-local.sh: unsupported architecture $(uname -m)" >&2; exit 2 ;;
esac
if [ "$os" = windows ] && [ -z "${1:-}" ]; then binary="$binary.exe"; fi
if [ ! -f "$binary" ]; then
  (cd "$root" && cargo build --release --locked)
fi

version="v$(awk '/^\[package\]/ { p = 1; next } /^\[/ { p = 0 } p && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' "$root/Cargo.toml")"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
archive=$(bash "$root/.github/scripts/package.sh" "$binary" "$os" "$arch" "$out")
name=$(basename "$archive")
if command -v sha256sum >/dev/null 2>&1; then
  (cd "$out" && sha256sum "$name" > sha256sums.txt)
else
  (cd "$out" && shasum -a 256 "$name" > sha256sums.txt)
fi
bash "$root/.github/scripts/krew-manifest.sh" "$version" "$out/sha256sums.txt" "file://$out" "$os/$arch" \
  > "$out/krew-manifest.yaml"
echo "kubectl krew install --manifest=$out/krew-manifest.yaml --archive=$archive"
