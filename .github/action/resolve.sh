#!/usr/bin/env bash
# Decides which release archive of kubectl-posthog fits this runner and where it is installed.
# Inputs (env): KP_VERSION, KP_ACTION_REF, KP_ACTION_REPOSITORY, KP_SERVER_URL, KP_RUNNER_OS,
# KP_RUNNER_ARCH; GITHUB_ACTION_PATH as a fallback for the ref and repository.
# Outputs: version, platform, archive, base-url, install-dir, binary.
#
# The binary's version follows the action's own ref, so the code of action.yml and the binary
# always come from the same release:
#   version input          that release (the only choice for a ref no release tag names)
#   ref v1.2.3 (a tag)     v1.2.3
#   ref <commit SHA>       the release tag that points at that commit (pinning by SHA, as
#                          security linters ask, keeps the binary pinned too)
#   ref v1 or v1.2         the newest v1.x.y / v1.2.y release
#   ref a branch           the latest release
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

ref="${KP_ACTION_REF:-}"
repo="${KP_ACTION_REPOSITORY:-}"
# `github.action_ref` is not promised inside composite actions (actions/runner#2473); the runner
# unpacks an action at .../_actions/OWNER/REPO/REF, which names both.
if [ -z "$ref" ] && [[ "${GITHUB_ACTION_PATH:-}" == */_actions/*/*/* ]]; then
  rest="${GITHUB_ACTION_PATH#*/_actions/}"
  IFS=/ read -r path_owner path_repo path_ref _ <<< "$rest"
  ref="$path_ref"
  repo="${repo:-$path_owner/$path_repo}"
fi
repo="${repo:-kubectl-posthog/kubectl-posthog}"
server="${KP_SERVER_URL:-https://github.com}"
release='^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$'

# Release tags (vX.Y.Z[-pre]) of the repository, one per line as "COMMIT TAG".
release_tags() {
  git ls-remote --tags "$server/$repo.git" 2>/dev/null | awk -v re='^v[0-9]+[.][0-9]+[.][0-9]+(-[0-9A-Za-z.-]+)?$' '
    { tag = $2; sub("^refs/tags/", "", tag); peeled = sub("\\^\\{\\}$", "", tag) }
    tag ~ re { if (peeled) commit[tag] = $1; else if (!(tag in commit)) commit[tag] = $1 }
    END { for (t in commit) print commit[t], t }'
}

# The newest of the tags on stdin: a final release before any prerelease.
newest() {
  local tags finals
  tags=$(cat)
  finals=$(grep -v -- '-' <<< "$tags" || true)
  if [ -n "$finals" ]; then tags="$finals"; fi
  sort -V <<< "$tags" | tail -n 1
}

version="${KP_VERSION:-}"
if [ -z "$version" ]; then
  if [[ "$ref" =~ $release ]]; then
    version="$ref"
  elif [[ "$ref" =~ ^[0-9a-f]{40}$ ]]; then
    tags=$(release_tags) || true
    version=$(awk -v sha="$ref" '$1 == sha { print $2 }' <<< "$tags" | newest)
    [ -n "$version" ] || fail "the action is pinned to commit ${ref:0:12}, and no release tag of $repo points at it: set the version input to the release to install (e.g. version: v0.1.0), or binary-path"
  elif [[ "$ref" =~ ^v[0-9]+(\.[0-9]+)?$ ]]; then
    tags=$(release_tags) || true
    version=$(awk -v prefix="$ref." 'index($2, prefix) == 1 { print $2 }' <<< "$tags" | grep -v -- '-' | newest || true)
    [ -n "$version" ] || fail "no release of $repo matches $ref at $server: set the version input (e.g. version: v0.1.0)"
  else
    # A branch (or no ref): the latest release, resolved to its tag so the cache key names an
    # immutable version. GitHub sends /releases/latest to /releases/tag/TAG, or to /releases
    # when nothing is published yet.
    effective=$(curl -fsSLI -o /dev/null -w '%{url_effective}' "$server/$repo/releases/latest") \
      || fail "cannot reach $server/$repo/releases/latest to find the latest release; set the version input"
    case "$effective" in
      */releases/tag/*) version="${effective##*/}" ;;
      *) fail "no release of $repo is published at $server yet: set the version input to a release, or binary-path to a binary you built" ;;
    esac
  fi
fi
[[ "$version" =~ $release ]] || fail "version '$version' is not a release tag such as v0.1.0"

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
