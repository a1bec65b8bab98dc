#!/usr/bin/env bash
# doc-commands.sh - every command the docs tell the reader to type still
# works as written. Commands come from the ```sh blocks of README.md and
# docs/*.md (```bash marks a script excerpt, not commands to type) and from
# inline code that starts with make, ./, ../, tools/, tests/ or partN-*/.
# For each one:
#   - the line parses as bash;
#   - make: the directory and targets exist (make -n);
#   - a program or script of the repository exists, runs -h (a binary) or
#     --help (a script) with exit status 0, and every flag the doc gives it
#     (and its first word, for sub-commands like `tools/netns.sh up`) is in
#     that help text;
#   - any other command is on PATH; an optional extra (nc, strace, perf,
#     iperf3) that is missing is reported as skipped, not failed.
# `cd DIR` in a block moves the later commands of the same doc; a lesson's
# doc (docs/partN.md) starts in its lesson's directory for ./ and ../ paths.
# Builds nothing and starts no server: it needs `make` to have run.
#   tests/doc-commands.sh [DOC...]    default: README.md and docs/*.md
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

OPTIONAL=" nc strace perf iperf3 python3 shellcheck clang "
WRAPPERS=" taskset strace timeout prlimit nohup env sudo "
BUILTINS=" cd wait kill sleep printf echo ulimit for do done while if then fi read export set true false "

declare -A HELP=() HELP_RC=()
problems=() skipped=() checked=0

# ---- splitting a line the way the shell would (near enough) ---------------
# tokens LINE: prints one token per line: words (quotes kept, $(...) kept
# whole) and the operators | || && ; & on their own.
tokens() {
    local s=$1 i c word="" quote="" depth=0 n=${#1}
    for ((i = 0; i < n; i++)); do
        c=${s:i:1}
        if [[ -n "$quote" ]]; then
            word+=$c
            [[ "$c" == "$quote" ]] && quote=""
            continue
        fi
        if ((depth)); then
            word+=$c
            [[ "$c" == "(" ]] && ((depth++))
            [[ "$c" == ")" ]] && ((depth--))
            continue
        fi
        case "$c" in
            "'"|'"') quote=$c; word+=$c ;;
            '(') word+=$c; [[ "$word" == *'$(' ]] && depth=1 ;;
            ' '|$'\t') [[ -n "$word" ]] && printf '%s\n' "$word"; word="" ;;
            '|'|';')
                [[ -n "$word" ]] && printf '%s\n' "$word"; word=""
                if [[ "${s:i+1:1}" == "$c" ]]; then printf '%s\n' "$c$c"; ((i++)); else printf '%s\n' "$c"; fi ;;
            '&')
                if [[ "$word" == *'>' ]]; then word+=$c     # 2>&1
                else
                    [[ -n "$word" ]] && printf '%s\n' "$word"; word=""
                    if [[ "${s:i+1:1}" == '&' ]]; then printf '&&\n'; ((i++)); else printf '&\n'; fi
                fi ;;
            *) word+=$c ;;
        esac
    done
    [[ -n "$word" ]] && printf '%s\n' "$word"
}

unquote() { local w=$1; w=${w//\'/}; w=${w//\"/}; printf '%s' "$w"; }

# ---- help text of a program or script of the repository ------------------
help_of() {   # sets HELP[$1] and HELP_RC[$1]
    local prog=$1 out rc
    [[ -n "${HELP_RC[$prog]+x}" ]] && return
    if head -c 4 "$prog" | grep -q 'ELF'; then
        out=$(timeout -k 5 5 "$prog" -h 2>&1 </dev/null); rc=$?
    else
        out=$(timeout -k 5 5 "$prog" --help 2>&1 </dev/null); rc=$?
    fi
    HELP[$prog]=$out
    HELP_RC[$prog]=$rc
}

in_help() {   # in_help PROG WORD: WORD appears in PROG's help as a word
    grep -qE -- "(^|[^[:alnum:]_-])$(printf '%s' "$2" | sed 's/[.[\*^$+?(){}|]/\\&/g')([^[:alnum:]_-]|$)" <<<"${HELP[$1]}"
}

takes_value() {   # the help shows FLAG followed by a value: -p PORT, --mode M
    grep -qE -- "(^|[^[:alnum:]_-])$2[ =][A-Z<\[]" <<<"${HELP[$1]}"
}

# resolve WORD: the repository file it names, from the doc's cwd, then from
# the root; a program is taken from the build directory (O=) when it is there.
resolve() {
    local w=$1 p rel
    for p in "$CWD/$w" "$REPO/$w"; do
        rel=$(realpath -m --relative-to="$REPO" "$p")
        [[ -e "$BUILD/$rel" ]] && { realpath -m "$BUILD/$rel"; return 0; }
        [[ -e "$REPO/$rel" ]] && { realpath -m "$REPO/$rel"; return 0; }
    done
    return 1
}

is_path_word() { [[ "$1" == */* && "$1" != -* && "$1" != *'$'* && "$1" != /* ]]; }

fail() { problems+=("$WHERE: \`$CMDLINE\`: $1"); }

# check_ours PATH ARGS...: a file of the repository, run with these words.
check_ours() {
    local prog=$1 shown=${1#"$REPO"/} w flag i first=1
    shift
    if [[ ! -x "$prog" ]]; then
        [[ $# -eq 0 ]] && return 0   # a source file named in the text
        fail "$shown is not executable (built? make)"
        return
    fi
    help_of "$prog"
    if [[ "${HELP_RC[$prog]}" != 0 ]]; then
        fail "$shown: -h/--help exits ${HELP_RC[$prog]}"
        return
    fi
    local args=("$@")
    for ((i = 0; i < ${#args[@]}; i++)); do
        w=$(unquote "${args[i]}")
        if is_path_word "$w" && p=$(resolve "$w") && [[ -f "$p" && -x "$p" ]]; then
            check_ours "$p" "${args[@]:i+1}"    # a command it runs: netns.sh run, part3_holdfds
            return
        fi
        case "$w" in
            [0-9]*'>'*|'>'*|'<'*) continue ;;
            --) break ;;
            -[0-9]*|-|'...') continue ;;
            -*)
                flag=${w%%=*}
                if ! in_help "$prog" "$flag"; then
                    fail "$shown does not list the flag $flag"
                elif [[ "$w" != *=* ]] && takes_value "$prog" "$flag"; then
                    ((i++))
                fi ;;
            *)
                if ((first)) && [[ "$w" =~ ^[a-z][a-z0-9-]*$ ]] && ! in_help "$prog" "$w"; then
                    fail "$shown does not list '$w'"
                fi
                first=0 ;;
        esac
    done
}

# check_simple WORDS...: one simple command.
check_simple() {
    local words=() w
    for w in "$@"; do words+=("$w"); done
    while ((${#words[@]})) && [[ "${words[0]}" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; do
        words=("${words[@]:1}")
    done
    [[ "${words[0]:-}" == "do" || "${words[0]:-}" == "then" ]] && words=("${words[@]:1}")
    ((${#words[@]})) || return 0
    [[ "${words[*]}" == *'<'[a-z]*'>'* ]] && return 0   # make -C <part> test: a pattern
    local cmd
    cmd=$(unquote "${words[0]}")
    checked=$((checked + 1))
    case "$cmd" in
        for|done|fi|while) return 0 ;;
        cd)
            local d
            d=$(unquote "${words[1]:-}")
            if [[ -d "$CWD/$d" ]]; then CWD=$(realpath "$CWD/$d")
            else fail "cd $d: no such directory"; fi
            return ;;
        make)
            local dir=$CWD targets=() i
            for ((i = 1; i < ${#words[@]}; i++)); do
                w=$(unquote "${words[i]}")
                case "$w" in
                    -C) dir=$CWD/$(unquote "${words[i + 1]:-}"); ((i++)) ;;
                    -*|*=*) ;;
                    *) targets+=("$w") ;;
                esac
            done
            if [[ ! -d "$dir" ]]; then fail "make -C: no directory $dir"; return; fi
            if ! timeout -k 5 30 make -n -C "$dir" "${targets[@]}" >/dev/null 2>&1; then
                fail "make -n ${targets[*]} fails in ${dir#"$REPO"/}"
            fi
            return ;;
    esac
    if is_path_word "$cmd" || [[ "$cmd" == ./* ]]; then
        [[ "$cmd" == *'<'* ]] && return 0
        local p
        if ! p=$(resolve "$cmd"); then
            fail "$cmd: no such file (from ${CWD#"$REPO"}/)"
            return
        fi
        [[ -d "$p" ]] && return 0
        check_ours "$p" "${words[@]:1}"
        return
    fi
    [[ "$BUILTINS" == *" $cmd "* ]] && return 0
    if ! command -v "$cmd" >/dev/null 2>&1; then
        if [[ "$OPTIONAL" == *" $cmd "* ]]; then
            skipped+=("$cmd")
        else
            fail "$cmd: not installed, and not listed as optional"
        fi
        return
    fi
    if [[ "$WRAPPERS" == *" $cmd "* ]]; then   # taskset -c 0 ./server ...
        local i
        for ((i = 1; i < ${#words[@]}; i++)); do
            w=$(unquote "${words[i]}")
            if { is_path_word "$w" || [[ "$w" == ./* ]]; } && p=$(resolve "$w") && [[ -x "$p" && -f "$p" ]]; then
                check_ours "$p" "${words[@]:i+1}"
                return
            fi
        done
    fi
}

# check_line LINE: a whole command line of a doc.
check_line() {
    CMDLINE=$1
    if ! bash -n <<<"$1" 2>/dev/null; then
        fail "does not parse as bash"
        return
    fi
    local t simple=()
    while IFS= read -r t; do
        case "$t" in
            '|'|'||'|'&&'|';'|'&') check_simple "${simple[@]}"; simple=() ;;
            *) simple+=("$t") ;;
        esac
    done < <(tokens "$1")
    check_simple "${simple[@]}"
}

# ---- walking the docs ----------------------------------------------------------
check_doc() {
    local doc=$1 name lesson line n=0 inblock=0 pending="" span
    name=${doc#"$REPO"/}
    CWD=$REPO
    lesson=""
    if [[ "$name" =~ ^docs/part([1-4])\.md$ ]]; then
        lesson=$(find "$REPO" -maxdepth 1 -type d -name "part${BASH_REMATCH[1]}-*" | head -1)
    fi
    problems=() skipped=() checked=0
    while IFS= read -r line || [[ -n "$line" ]]; do
        n=$((n + 1))
        if [[ "$line" == '```sh' ]]; then inblock=1; continue; fi
        if [[ "$line" == '```'* ]]; then inblock=0; continue; fi
        if ((inblock)); then
            line=$(sed -E 's/[[:space:]]+#[[:space:]].*$//' <<<"$line")
            if [[ "$line" == *'\' ]]; then pending+="${line%\\} "; continue; fi
            line="$pending$line"; pending=""
            [[ -z "${line// /}" || "$line" =~ ^[[:space:]]*# ]] && continue
            WHERE="$name:$n"
            # a multi-line for/while: check its body lines one by one
            [[ "$line" =~ ^(for|while)\  ]] && continue
            [[ "$line" =~ ^[[:space:]]*(done|fi|esac)[[:space:]]*$ ]] && continue
            check_line "$line"
            continue
        fi
        while [[ "$line" =~ \`((make|\./|\.\./|tools/|tests/|part[1-4]-[a-z-]+/)[^\`]*)\` ]]; do
            span=${BASH_REMATCH[1]}
            line=${line#*"\`$span\`"}
            WHERE="$name:$n"
            [[ "$span" == part[1-4]-*/ || "$span" == tools/ ]] && continue
            [[ "$span" == make* && "$span" != make && "$span" != make\ * ]] && continue
            # Prose names ./ paths from the lesson's directory, the rest from the root.
            local saved=$CWD
            CWD=$REPO
            [[ -n "$lesson" && "$span" == .* ]] && CWD=$lesson
            check_line "$span"
            CWD=$saved
        done
    done <"$doc"
    local what="$name: its $checked commands exist and take the flags it gives them"
    ((checked)) || what="$name: no command to check"
    if ((${#problems[@]})); then
        report fail docs "$what" "$(printf '%s; ' "${problems[@]}")"
    elif ((${#skipped[@]})); then
        report pass docs "$what (not installed, not checked: $(printf '%s\n' "${skipped[@]}" | sort -u | tr '\n' ' '))"
    else
        report pass docs "$what"
    fi
}

# doc-commands.sh [DOC...]: these docs (default: README.md and docs/*.md).
docs=("$@")
((${#docs[@]})) || docs=("$REPO/README.md" "$REPO"/docs/*.md)
for doc in "${docs[@]}"; do
    check_doc "$(realpath "$doc")"
done
