#!/usr/bin/env bash
# Packs one release archive: the binary, LICENSE and kubectl_complete-posthog (the executable
# kubectl 1.26+ runs for `kubectl posthog <TAB>`; kubectl_complete-posthog.cmd on Windows), named
# kubectl-posthog_OS_ARCH.tar.gz (.zip for Windows), the names action.yml, krew-manifest.yaml and
# the README expect.
# Usage: package.sh BINARY OS ARCH OUT_DIR
#
# Reproducible: the same binary gives the same bytes, whoever packs it and when. Every entry has
# the time SOURCE_DATE_EPOCH (default: the last commit's time), owner and group 0, fixed modes
# (0755 binary and completer, 0644 LICENSE) and a fixed order; gzip stores no name or time; zip runs in UTC
# without extra attributes. Needs GNU tar (gtar on macOS) and zip for Windows archives.
set -euo pipefail

binary="$1" os="$2" arch="$3" out="$4"
root="$(cd "$(dirname "$0")/../.." && pwd)"
[ -f "$binary" ] || { echo "package.sh: no binary at $binary" >&2; exit 2; }
case "$os/$arch" in
  linux/amd64 | linux/arm64 | darwin/amd64 | darwin/arm64 | windows/amd64 | windows/arm64) ;;
  *) echo "package.sh: unsupported platform $os/$arch" >&2; exit 2 ;;
esac

epoch="${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}"
[[ "$epoch" =~ ^[0-9]+$ ]] || { echo "package.sh: SOURCE_DATE_EPOCH '$epoch' is not a number of seconds" >&2; exit 2; }

gnu_tar=""
for candidate in tar gtar; do
  if "$candidate" --version 2>/dev/null | grep -q 'GNU tar'; then gnu_tar="$candidate"; break; fi
done

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
name=kubectl-posthog
complete=kubectl_complete-posthog
if [ "$os" = windows ]; then
  name=kubectl-posthog.exe
  complete=kubectl_complete-posthog.cmd
  # kubectl finds it through PATHEXT; cmd.exe wants CRLF line ends.
  printf '@echo off\r\nkubectl-posthog.exe __complete %%*\r\n' > "$stage/$complete"
else
  cp "$root/src/cmd/completion/kubectl_complete-posthog" "$stage/$complete"
fi
cp "$binary" "$stage/$name"
cp "$root/LICENSE" "$stage/LICENSE"
chmod 0755 "$stage/$name" "$stage/$complete"
chmod 0644 "$stage/LICENSE"
# The entries' times, for zip (tar sets them itself).
stamp=$(date -u -d "@$epoch" +%Y%m%d%H%M.%S 2>/dev/null || date -u -r "$epoch" +%Y%m%d%H%M.%S)
TZ=UTC touch -t "$stamp" "$stage/$name" "$stage/$complete" "$stage/LICENSE"

mkdir -p "$out"
out="$(cd "$out" && pwd)"
if [ "$os" = windows ]; then
  archive="$out/kubectl-posthog_${os}_${arch}.zip"
  rm -f "$archive"
  command -v zip >/dev/null 2>&1 || { echo "package.sh: zip is needed for Windows archives" >&2; exit 2; }
  (cd "$stage" && TZ=UTC zip -q -X -D "$archive" "$name" "$complete" LICENSE)
else
  [ -n "$gnu_tar" ] || { echo "package.sh: GNU tar is needed (on macOS: brew install gnu-tar)" >&2; exit 2; }
  archive="$out/kubectl-posthog_${os}_${arch}.tar.gz"
  "$gnu_tar" --format=ustar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
    -C "$stage" -cf - "$name" "$complete" LICENSE | gzip -9 -n > "$archive"
fi
echo "$archive"
