# bash completion for kubectl-posthog. kubectl's own completion reaches the same candidates for
# `kubectl posthog <TAB>` through the kubectl_complete-posthog executable.
# Install: kubectl-posthog completion bash > /etc/bash_completion.d/kubectl-posthog
_kubectl_posthog() {
    local line="${COMP_LINE:0:$COMP_POINT}"
    local -a words
    read -r -a words <<< "$line"
    [[ "$line" == *" " || ${#words[@]} -eq 1 ]] && words+=("")
    local current="${words[${#words[@]}-1]}"
    # bash splits words at '=' and ':'; candidates are for the whole word, so drop what bash
    # already treats as a separate word.
    local bash_current="${COMP_WORDS[COMP_CWORD]}"
    local before="${current%"$bash_current"}"
    local out
    out=$("${words[0]}" __complete "${words[@]:1}" 2>/dev/null) || return
    local directive="${out##*:}"
    local IFS=$'\n' candidate
    COMPREPLY=()
    for candidate in ${out%:*}; do
        COMPREPLY+=("${candidate#"$before"}")
    done
    if (( directive & 2 )); then compopt -o nospace 2>/dev/null; fi
    if (( ${#COMPREPLY[@]} == 0 )) && (( (directive & 4) == 0 )); then
        compopt -o default 2>/dev/null
    fi
}
complete -F _kubectl_posthog kubectl-posthog
