# fish completion for kubectl-posthog.
# Install: kubectl-posthog completion fish > ~/.config/fish/completions/kubectl-posthog.fish
function __kubectl_posthog_complete
    set -l tokens (commandline -opc) (commandline -ct)
    set -l out (command $tokens[1] __complete $tokens[2..-1] 2>/dev/null)
    or return
    set -l directive (string replace -r '^:' '' -- $out[-1])
    set -e out[-1]
    for candidate in $out
        echo $candidate
    end
    if test (count $out) -eq 0; and test (math "bitand($directive, 4)") -eq 0
        __fish_complete_path (commandline -ct)
    end
end
complete -c kubectl-posthog -f -a '(__kubectl_posthog_complete)'
