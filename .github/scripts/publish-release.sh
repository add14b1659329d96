#!/usr/bin/env bash
# Publishes the GitHub release of TAG with every file of DIST, so that a re-run of the workflow
# finishes what a failed run started instead of failing on "release already exists":
# the release is created when missing (from the tag, which must exist) and the assets are
# uploaded with --clobber (the archives are reproducible, so a re-upload carries the same bytes).
# A tag with a prerelease part (v1.2.0-rc.1) is published as a prerelease and never as Latest.
# Usage: publish-release.sh TAG DIST        (GH_TOKEN and GITHUB_REPOSITORY from the workflow)
set -euo pipefail

tag="$1" dist="$2"
repo="${GITHUB_REPOSITORY:?}"
[[ "$tag" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] \
  || { echo "::error title=release::tag '$tag' is not vX.Y.Z or vX.Y.Z-PRERELEASE"; exit 2; }
shopt -s nullglob
files=("$dist"/*)
[ "${#files[@]}" -gt 0 ] || { echo "::error title=release::nothing to publish in $dist"; exit 2; }

flags=()
if [[ "$tag" == *-* ]]; then
  flags=(--prerelease --latest=false)
fi
if gh release view "$tag" --repo "$repo" >/dev/null 2>&1; then
  echo "release $tag exists: uploading the assets again"
  gh release upload "$tag" "${files[@]}" --repo "$repo" --clobber
  if [ "${#flags[@]}" -gt 0 ]; then
    gh release edit "$tag" --repo "$repo" "${flags[@]}"
  fi
else
  gh release create "$tag" "${files[@]}" --repo "$repo" --verify-tag --generate-notes \
    --title "kubectl-posthog $tag" "${flags[@]}"
fi
