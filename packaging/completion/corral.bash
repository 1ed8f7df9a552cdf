# bash completion for corral (installed as share/bash-completion/completions/corral).
# Commands and options are read from corral's own --help texts, so they follow the binary that is
# completed; model names come from the running server (`corral ps --quiet`, reached with the --url,
# --config, --api-key and --cacert typed so far), GGUF files and other files from the disk.

# Every command of `corral --help`, one per line ("ps", "plugins inspect", ...).
_corral_commands() {
    "$1" --help 2>/dev/null | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z]*\( [a-z][a-z]*\)\{0,1\}\)  .*/\1/p'
}

# A command's options, one per line: the option, then its value's name when it takes one
# ("--url URL", "--json").
_corral_options() {
    local corral=$1
    shift
    "$corral" "$@" --help 2>/dev/null | sed -n 's/^  \(-[a-zA-Z], \)\{0,1\}\(--[a-z][a-z-]*\)\( [A-Z][A-Z0-9_.:]*\)\{0,1\}  .*/\2\3/p'
}

_corral() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} corral=${COMP_WORDS[0]}
    COMPREPLY=()
    local levels="trace debug info warn error off"

    # The command: the first word that is neither a global option nor its value.
    local i=1 command=()
    while [ "$i" -lt "$COMP_CWORD" ]; do
        case ${COMP_WORDS[i]} in
        --log-level) i=$((i + 2)) ;;
        -*) i=$((i + 1)) ;;
        *) break ;;
        esac
    done
    if [ "$i" -ge "$COMP_CWORD" ]; then
        if [ "$prev" = "--log-level" ]; then
            mapfile -t COMPREPLY < <(compgen -W "$levels" -- "$cur")
        elif [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "--log-level --version --help" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$(_corral_commands "$corral" | cut -d' ' -f1 | sort -u)" -- "$cur")
        fi
        return
    fi
    command=("${COMP_WORDS[i]}")
    # Two-word commands ("plugins inspect", "config check").
    local subcommands
    subcommands=$(_corral_commands "$corral" | awk -v c="${COMP_WORDS[i]}" '$1 == c && NF == 2 { print $2 }')
    if [ -n "$subcommands" ]; then
        if [ $((i + 1)) -eq "$COMP_CWORD" ] && [[ $cur != -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "$subcommands" -- "$cur")
            return
        fi
        local next=${COMP_WORDS[i + 1]}
        if [ $((i + 1)) -lt "$COMP_CWORD" ] && printf '%s\n' "$subcommands" | grep -qx -- "$next"; then
            command+=("$next")
        fi
    fi

    local options
    options=$(_corral_options "$corral" "${command[@]}")
    # The value of the option before the cursor.
    if [[ $prev == -* ]]; then
        local value
        value=$(printf '%s\n' "$options" | awk -v o="$prev" '$1 == o { print $2 }')
        case $value in
        "") ;;  # a flag: what follows is an option or an argument
        FILE)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return
            ;;
        DIR)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            return
            ;;
        LEVEL)
            mapfile -t COMPREPLY < <(compgen -W "$levels" -- "$cur")
            return
            ;;
        *) return ;;  # a URL, a key, a number: nothing to offer
        esac
    fi
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(printf '%s\n' "$options" | cut -d' ' -f1)" -- "$cur")
        return
    fi

    # An argument: what the command's usage line names.
    local usage
    usage=$("$corral" "${command[@]}" --help 2>/dev/null | sed -n '1s/^Usage: .*\[OPTIONS\] *//p')
    case $usage in
    MODEL)
        local connection=() j
        for ((j = 1; j < COMP_CWORD; j++)); do
            case ${COMP_WORDS[j]} in
            --url | --config | --api-key | --cacert) connection+=("${COMP_WORDS[j]}" "${COMP_WORDS[j + 1]}") ;;
            esac
        done
        mapfile -t COMPREPLY < <(compgen -W "$(timeout 3 "$corral" ps --quiet "${connection[@]}" 2>/dev/null)" -- "$cur")
        ;;
    *.gguf)
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -X '!*.gguf' -- "$cur"; compgen -d -- "$cur")
        ;;
    FILE)
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        ;;
    esac
}
complete -F _corral corral
