#!/usr/bin/env bash
# Decides which release archive of kubectl-posthog fits this runner and where it is installed.
# Inputs (env): KP_VERSION, KP_ACTION_REF, KP_ACTION_REPOSITORY, KP_SERVER_URL, KP_RUNNER_OS, KP_RUNNER_ARCH.
# Outputs: version, platform, archive, base-url, install-dir, binary.
set -euo pipefail

fail() { echo "::error title=kubectl-posthog::$*"; exit 2; }

case "${KP_RUNNER_OS:-}" in
  Linux) os=linux ;;
  macOS) os=darwin ;;
  Windows) os=windows ;;
  *) fail "unsupported runner OS '${KP_RUNNER_OS:-}': releases exist for Linux, macOS and Windows" ;;
esac
case "${KP_RUNNER_ARCH:-}" in
  X64) arch=amd64 ;;
  ARM64) arch=arm64 ;;
  *) fail "unsupported runner architecture '${KP_RUNNER_ARCH:-}': releases exist for X64 and ARM64" ;;
esac

server="${KP_SERVER_URL:-https://github.com}"
repo="${KP_ACTION_REPOSITORY:-kubectl-posthog/kubectl-posthog}"
semver='^v[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$'

version="${KP_VERSION:-}"
if [ -z "$version" ] && [[ "${KP_ACTION_REF:-}" =~ $semver ]]; then
  # The action pinned to a release tag installs that release's binary.
  version="$KP_ACTION_REF"
fi
if [ -z "$version" ] || [ "$version" = latest ]; then
  # A branch, a SHA or a major tag (v1): the newest release, resolved to its tag so the cache key
  # names an immutable version.
  effective=$(curl -fsSLI -o /dev/null -w '%{url_effective}' "$server/$repo/releases/latest") \
    || fail "cannot find the latest release of $repo at $server; set the version input"
  version="${effective##*/}"
fi
[[ "$version" =~ $semver ]] || fail "version '$version' is not a release tag such as v0.1.0"

ext=tar.gz
bin=kubectl-posthog
if [ "$os" = windows ]; then
  ext=zip
  bin=kubectl-posthog.exe
fi
platform="${os}_${arch}"
install_dir="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}}/kubectl-posthog/$version/$platform"

{
  echo "version=$version"
  echo "platform=$platform"
  echo "archive=kubectl-posthog_${platform}.${ext}"
  echo "base-url=$server/$repo/releases/download/$version"
  echo "install-dir=$install_dir"
  echo "binary=$install_dir/$bin"
} >> "$GITHUB_OUTPUT"
