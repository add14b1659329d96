#compdef kubectl-posthog
# zsh completion for kubectl-posthog. Install: kubectl-posthog completion zsh > "${fpath[1]}/_kubectl-posthog"
# (or `source <(kubectl-posthog completion zsh)` after compinit).
_kubectl_posthog() {
    local -a out candidates
    out=("${(@f)$(${words[1]} __complete "${(@)words[2,$CURRENT]}" 2>/dev/null)}")
    local directive=${out[-1]#:}
    candidates=("${(@)out[1,-2]}")
    if (( ${#candidates} )); then
        if (( directive & 2 )); then
            compadd -Q -S '' -- "${candidates[@]}"
        else
            compadd -Q -- "${candidates[@]}"
        fi
    elif (( (directive & 4) == 0 )); then
        _files
    fi
}
if [[ "${funcstack[1]}" == "_kubectl-posthog" ]]; then
    _kubectl_posthog "$@"
elif (( $+functions[compdef] )); then
    compdef _kubectl_posthog kubectl-posthog
fi
