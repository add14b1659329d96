#!/usr/bin/env bash
# Runs kubectl-posthog in GitHub mode with the action's inputs, mapped to env by action.yml
# (composite actions get no INPUT_* variables on the real runner).
# Inputs (env): KP_BINARY, KP_COMMAND, KP_ARGS, KP_COMMENT, KP_COMMIT_COMMENT, KP_FAIL_ON, KP_MAX_WAIT.
set -euo pipefail

fail() { echo "::error title=kubectl-posthog::$*"; exit 2; }

bin="${KP_BINARY:-}"
[ -n "$bin" ] || fail "no binary: set binary-path or let the action install a release"
[ -f "$bin" ] && [ -x "$bin" ] || fail "binary-path '$bin' is not an executable file"

case "${KP_COMMAND:-}" in
  preflight | canary | rollback | evidence | triage) ;;
  *) fail "command '${KP_COMMAND:-}' is not one of preflight, canary, rollback, evidence, triage" ;;
esac

args=("$KP_COMMAND")
# `args` is split on whitespace (spaces, tabs, newlines) without glob expansion.
set -f
# shellcheck disable=SC2206
extra=(${KP_ARGS:-})
set +f
args+=("${extra[@]}")
if [ -n "${KP_FAIL_ON:-}" ]; then
  case "$KP_COMMAND" in
    # Severity thresholds mean something for checklists; a canary or rollback has its own verdict.
    preflight | triage) args+=(--fail-on "$KP_FAIL_ON") ;;
    *) echo "::warning title=kubectl-posthog::fail-on is ignored for $KP_COMMAND: its verdict is promoted/aborted or done/failed" ;;
  esac
fi
args+=(--github --no-progress)
case "${KP_COMMENT:-true}" in
  true) args+=(--pr-comment) ;;
  false) ;;
  *) fail "comment must be true or false, not '${KP_COMMENT}'" ;;
esac
case "${KP_COMMIT_COMMENT:-false}" in
  true) args+=(--commit-comment) ;;
  false) ;;
  *) fail "commit-comment must be true or false, not '${KP_COMMIT_COMMENT}'" ;;
esac
if [ -n "${KP_MAX_WAIT:-}" ]; then
  args+=(--github-max-wait "$KP_MAX_WAIT")
fi

echo "kubectl-posthog ${args[*]}"
exec "$bin" "${args[@]}"
