#!/usr/bin/env bash
# Runs kubectl-posthog in GitHub mode with the action's inputs, mapped to env by action.yml
# (composite actions get no INPUT_* variables on the real runner).
# Inputs (env): KP_BINARY, KP_COMMAND, KP_ARGS, KP_COMMENT, KP_COMMENT_MODE, KP_COMMENT_KEY,
# KP_COMMIT_COMMENT, KP_CHECK_RUN, KP_UPLOAD_SARIF, KP_FAIL_ON, KP_MAX_WAIT, KP_FIX_DIR.
set -euo pipefail

fail() { echo "::error title=kubectl-posthog::$*"; exit 2; }

# Splits $1 into words the way a shell does, without expanding anything: whitespace (newlines
# too) separates, 'single quotes' keep everything, "double quotes" keep everything but \" \\ \$ \`,
# a backslash outside quotes keeps the next character. Sets the array `words`; fails on an
# unmatched quote. Plain bash 3.2 (macOS runners).
split_words() {
  local text="$1" word="" have=0 quote="" i c next
  words=()
  for ((i = 0; i < ${#text}; i++)); do
    c="${text:i:1}"
    if [ "$quote" = "'" ]; then
      if [ "$c" = "'" ]; then quote=""; else word+="$c"; fi
    elif [ "$quote" = '"' ]; then
      if [ "$c" = '"' ]; then
        quote=""
      elif [ "$c" = "\\" ]; then
        next="${text:i+1:1}"
        case "$next" in
          '"' | "\\" | '$' | '`') word+="$next"; i=$((i + 1)) ;;
          *) word+="$c" ;;
        esac
      else
        word+="$c"
      fi
    else
      case "$c" in
        ' ' | $'\t' | $'\n' | $'\r')
          if [ "$have" = 1 ]; then words+=("$word"); fi
          word="" have=0 ;;
        "'" | '"') quote="$c" have=1 ;;
        "\\") i=$((i + 1)); word+="${text:i:1}" have=1 ;;
        *) word+="$c" have=1 ;;
      esac
    fi
  done
  [ -z "$quote" ] || return 1
  if [ "$have" = 1 ]; then words+=("$word"); fi
  return 0
}

# Fails unless input $1 has the value true or false.
check_bool() {
  case "$2" in
    true | false) ;;
    *) fail "$1 must be true or false, not '$2'" ;;
  esac
}

bin="${KP_BINARY:-}"
[ -n "$bin" ] || fail "no binary: set binary-path or let the action install a release"
if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then fail "binary-path '$bin' is not an executable file"; fi

case "${KP_COMMAND:-}" in
  preflight | canary | rollback | evidence | triage) ;;
  *) fail "command '${KP_COMMAND:-}' is not one of preflight, canary, rollback, evidence, triage" ;;
esac

args=("$KP_COMMAND")
split_words "${KP_ARGS:-}" \
  || fail "args has an unmatched quote: quote a value with spaces as 'k8s/my prod.yaml', or escape a quote with a backslash"
if [ "${#words[@]}" -gt 0 ]; then args+=("${words[@]}"); fi

fail_on="${KP_FAIL_ON:-}"
if [ -n "$fail_on" ]; then
  case "$fail_on" in
    p1 | p2 | p3 | p4 | never) ;;
    *) fail "fail-on must be one of p1, p2, p3, p4, never, not '$fail_on'" ;;
  esac
  case "$KP_COMMAND" in
    # Severity thresholds mean something for checklists; a canary or rollback has its own verdict.
    preflight | triage) args+=(--fail-on "$fail_on") ;;
    *) echo "::warning title=kubectl-posthog::fail-on is ignored for $KP_COMMAND: its verdict is promoted/aborted or done/failed" ;;
  esac
fi
if [ -n "${KP_FIX_DIR:-}" ]; then
  case "$KP_COMMAND" in
    # preflight --fix writes reviewable files there; the next step uploads them as an artifact.
    preflight) args+=(--fix "$KP_FIX_DIR") ;;
    *) fail "fix-dir is for preflight only (its --fix DIR), not for $KP_COMMAND" ;;
  esac
fi
args+=(--github --no-progress)

comment="${KP_COMMENT:-true}"
commit_comment="${KP_COMMIT_COMMENT:-false}"
check_run="${KP_CHECK_RUN:-false}"
upload_sarif="${KP_UPLOAD_SARIF:-false}"
check_bool comment "$comment"
check_bool commit-comment "$commit_comment"
check_bool check-run "$check_run"
check_bool upload-sarif "$upload_sarif"
mode="${KP_COMMENT_MODE:-update}"
case "$mode" in
  update | recreate | hide-previous | off) ;;
  *) fail "comment-mode must be one of update, recreate, hide-previous, off, not '$mode'" ;;
esac
if [ "$comment" = false ]; then mode=off; fi
if [ "$mode" != off ]; then
  if [ "$comment" = true ]; then args+=(--pr-comment); fi
  if [ "$commit_comment" = true ]; then args+=(--commit-comment); fi
  if [ "$mode" != update ]; then args+=(--comment-mode "$mode"); fi
  if [ -n "${KP_COMMENT_KEY:-}" ]; then args+=(--comment-key "$KP_COMMENT_KEY"); fi
fi
if [ "$check_run" = true ]; then args+=(--check-run); fi
if [ "$upload_sarif" = true ]; then args+=(--upload-sarif); fi
if [ -n "${RUNNER_TEMP:-}" ]; then
  # Always written, so the `sarif` output can feed github/codeql-action/upload-sarif instead.
  args+=(--sarif "$RUNNER_TEMP/kubectl-posthog-$KP_COMMAND.sarif")
fi
if [ -n "${KP_MAX_WAIT:-}" ]; then
  args+=(--github-max-wait "$KP_MAX_WAIT")
fi

printf 'kubectl-posthog'
printf ' %q' "${args[@]}"
printf '\n'
exec "$bin" "${args[@]}"
