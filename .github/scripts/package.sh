#!/usr/bin/env bash
# Packs one release archive: the binary and LICENSE, named kubectl-posthog_OS_ARCH.tar.gz
# (.zip for Windows), the names action.yml, krew-manifest.yaml and the README expect.
# Usage: package.sh BINARY OS ARCH OUT_DIR
set -euo pipefail

binary="$1" os="$2" arch="$3" out="$4"
root="$(cd "$(dirname "$0")/../.." && pwd)"
[ -f "$binary" ] || { echo "package.sh: no binary at $binary" >&2; exit 2; }
case "$os/$arch" in
  linux/amd64 | linux/arm64 | darwin/amd64 | darwin/arm64 | windows/amd64 | windows/arm64) ;;
  *) echo "package.sh: unsupported platform $os/$arch" >&2; exit 2 ;;
esac

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
name=kubectl-posthog
[ "$os" = windows ] && name=kubectl-posthog.exe
cp "$binary" "$stage/$name"
chmod +x "$stage/$name"
cp "$root/LICENSE" "$stage/LICENSE"

mkdir -p "$out"
out="$(cd "$out" && pwd)"
if [ "$os" = windows ]; then
  archive="$out/kubectl-posthog_${os}_${arch}.zip"
  rm -f "$archive"
  if command -v zip >/dev/null 2>&1; then
    (cd "$stage" && zip -q "$archive" "$name" LICENSE)
  else
    (cd "$stage" && 7z a -tzip -bd "$archive" "$name" LICENSE >/dev/null)
  fi
else
  archive="$out/kubectl-posthog_${os}_${arch}.tar.gz"
  tar -czf "$archive" -C "$stage" "$name" LICENSE
fi
echo "$archive"
