#!/usr/bin/env bash
# docs.sh - the docs cannot disagree with the data or with the code:
#   - every results block in the docs is what tools/doc-tables.sh makes
#     from docs/results/<machine>/ (and its subdirectories);
#   - every table there is what tools/stats.awk computes from the raw runs
#     of its CSV: no number in a doc table is typed by hand;
#   - every results file carries its machine header;
#   - every command the docs give still works as written
#     (tests/doc-commands.sh), and that check fails a doc that is wrong;
#   - every image a doc shows exists, every figure under docs/figures/ is
#     shown by some doc and is a plain, well-formed SVG, and that check
#     fails a missing, an unused and a broken figure;
#   - every function a figure names still exists in the code.
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

shopt -s nullglob globstar

# svg_problem FILE: say what makes FILE not a plain, well-formed SVG (and
# return 1), or nothing. Plain: what a repository page renders as an image,
# so no script, no foreignObject, no linked image or font.
svg_problem() {
    awk '
        { s = s $0 "\n" }
        END {
            gsub(/<!--([^-]|-[^-])*-->/, "", s)
            sub(/^[ \t\r\n]+/, "", s)
            if (s !~ /^<(svg|\?xml)/) { print "does not start with <svg or <?xml"; exit 1 }
            if (s !~ /<\/svg>[ \t\r\n]*$/) { print "does not end with </svg>"; exit 1 }
            if (s !~ /<svg[^>]*viewBox="[^"]+"/) { print "its <svg> has no viewBox"; exit 1 }
            if (s !~ /<svg[^>]*[ \t\n]width="/ || s !~ /<svg[^>]*[ \t\n]height="/) {
                print "its <svg> has no width or height"; exit 1
            }
            if (match(s, /<(script|foreignObject|image|style)/) || match(s, /href="/)) {
                print "uses " substr(s, RSTART, RLENGTH) ", which a repository page may not render"; exit 1
            }
            t = s
            gsub(/&(#[0-9]+|#x[0-9a-fA-F]+|[a-zA-Z]+);/, "", t)
            if (index(t, "&")) { print "has a bare & (write &amp;)"; exit 1 }
            sp = 0
            while (match(s, /<[^>]*>/)) {
                tag = substr(s, RSTART, RLENGTH)
                s = substr(s, RSTART + RLENGTH)
                if (tag ~ /^<[?!]/ || tag ~ /\/>$/) continue
                name = tag
                sub(/^<\/?/, "", name)
                sub(/[ \t\n>].*$/, "", name)
                if (tag ~ /^<\//) {
                    if (sp == 0 || open[sp] != name) {
                        print "</" name "> comes while " (sp ? "<" open[sp] "> is open" : "nothing is open"); exit 1
                    }
                    sp--
                } else {
                    open[++sp] = name
                }
            }
            if (sp) { print "<" open[sp] "> is never closed"; exit 1 }
        }' "$1"
}

# check_figures ROOT: every image that README.md or a doc under docs/ shows
# (![alt](path)) exists; every SVG under docs/figures/ is shown by one of
# them and passes svg_problem. Prints one line per problem; 1 if any.
check_figures() {
    local root=$1 doc dir ref target svg rel why
    local -a problems=()
    local -A shown=()
    for doc in "$root"/README.md "$root"/docs/**/*.md; do
        [[ -f "$doc" ]] || continue
        dir=$(dirname "$doc")
        while IFS= read -r ref; do
            ref=${ref#*](}
            ref=${ref%)}
            ref=${ref%% *}
            ref=${ref%%#*}
            [[ -z "$ref" || "$ref" == *://* ]] && continue
            target=$(realpath -m "$dir/$ref")
            shown[$target]=1
            [[ -f "$target" ]] || problems+=("${doc#"$root"/} shows $ref, which does not exist")
        done < <(grep -o '!\[[^]]*\]([^)]*)' "$doc")
    done
    for svg in "$root"/docs/figures/*.svg; do
        rel=${svg#"$root"/}
        [[ -n "${shown[$(realpath -m "$svg")]:-}" ]] || problems+=("$rel is shown by no doc")
        why=$(svg_problem "$svg") || problems+=("$rel ${why:-is not a well-formed SVG}")
    done
    ((${#problems[@]} == 0)) && return 0
    printf '%s\n' "${problems[@]}"
    return 1
}
dirs=("$REPO"/docs/results/*/)
if ((${#dirs[@]} == 0)); then
    report na docs "tables match their results files" "no reference results under docs/results/ yet"
else
    if out=$("$REPO/tools/doc-tables.sh" --check 2>&1); then
        report pass docs "every table in the docs is generated from docs/results"
    else
        report fail docs "tables match their results files" "$out"
    fi

    # A figure whose row, column or table is not in its results file.
    if unfound=$(grep -Hn -- '-->(no [^<]*<!-- /cell -->' "$REPO"/README.md "$REPO"/docs/*.md); then
        report fail docs "every figure in the text is found in its results file" "$unfound"
    else
        report pass docs "every figure in the text is found in its results file"
    fi

    missing=() differ=() n=0
    for f in "$REPO"/docs/results/**/*.csv "$REPO"/docs/results/**/*.md; do
        [[ "$(basename "$f")" == README.md ]] && continue
        grep -q '^# machine: ' "$f" && grep -q '^# cpu: ' "$f" && grep -q '^# kernel: ' "$f" ||
            missing+=("${f#"$REPO"/}")
    done
    if ((${#missing[@]})); then
        report fail docs "every results file names its machine" "no machine header: ${missing[*]}"
    else
        report pass docs "every results file names its machine"
    fi

    for csv in "$REPO"/docs/results/**/*.csv; do
        md=${csv%.csv}.md
        [[ -f "$md" ]] || continue
        n=$((n + 1))
        if ! cmp -s <(awk -F, -v mode=md -f "$REPO/tools/stats.awk" "$csv") <(grep '^|' "$md"); then
            differ+=("${md#"$REPO"/}")
        fi
    done
    if ((${#differ[@]})); then
        report fail docs "every results table is the medians of its raw runs" "differs from its CSV: ${differ[*]}"
    else
        report pass docs "every results table ($n) is the medians of its raw runs, recomputed from its CSV"
    fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/docs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
figures=("$REPO"/docs/figures/*.svg)
if out=$(check_figures "$REPO"); then
    report pass docs "every image the docs show exists; the ${#figures[@]} figures in docs/figures/ are shown and well-formed"
else
    report fail docs "every image the docs show exists and every figure is shown and well-formed" "$(echo "$out" | paste -sd ';' -)"
fi

# stale_names SVG...: every function a figure names (a word followed by
# "()") must still be called or defined somewhere in the code, so that a
# renamed function cannot leave a picture that points at nothing.
stale_names() {
    local svg name
    for svg in "$@"; do
        for name in $(grep -o '[A-Za-z_][A-Za-z0-9_]*()' "$svg" | sort -u); do
            name=${name%"()"}
            grep -rqF --include='*.c' --include='*.h' "$name(" "$REPO" ||
                echo "$(basename "$svg") names $name(), which no source file has"
        done
    done
}
stale=$(stale_names "${figures[@]}")
if [[ -z "$stale" ]]; then
    report pass docs "every function a figure names exists in the code"
else
    report fail docs "every function a figure names exists in the code" "$(echo "$stale" | paste -sd ';' -)"
fi
printf '%s\n' '<svg viewBox="0 0 1 1"><text>no_such_function() and accept()</text></svg>' >"$tmp/names.svg"
out=$(stale_names "$tmp/names.svg")
if [[ "$out" == *"no_such_function()"* && "$out" != *"accept()"* ]]; then
    report pass docs "the name check fails a figure that names a missing function"
else
    report fail docs "the name check fails a figure that names a missing function" "it said: $out"
fi

"$TESTS_DIR/doc-commands.sh"

# The command check must be able to fail: a doc with three mistakes.
printf '%s\n' '```sh' 'part1-iterative/server --no-such-flag' 'tools/no-such-script.sh' \
    'make no-such-target' '```' >"$tmp/wrong.md"
out=$("$TESTS_DIR/doc-commands.sh" "$tmp/wrong.md")
if [[ "$out" == FAIL* && "$out" == *--no-such-flag* && "$out" == *no-such-script* && "$out" == *no-such-target* ]]; then
    report pass docs "the command check fails a doc with a wrong flag, a missing script and a missing make target"
else
    report fail docs "the command check fails a wrong doc" "it said: $out"
fi

# The figure check must be able to fail: a doc that shows a missing figure,
# a figure no doc shows, and one cut short.
mkdir -p "$tmp/fig/docs/figures"
cp "$REPO/docs/figures/part1-sequence.svg" "$tmp/fig/docs/figures/good.svg"
cp "$REPO/docs/figures/part1-sequence.svg" "$tmp/fig/docs/figures/unused.svg"
head -n 5 "$REPO/docs/figures/part1-sequence.svg" >"$tmp/fig/docs/figures/cut.svg"
printf '%s\n' '# A lesson' '' '![good](figures/good.svg)' '![gone](figures/gone.svg)' \
    '![cut](figures/cut.svg)' >"$tmp/fig/docs/lesson.md"
if out=$(check_figures "$tmp/fig"); then
    report fail docs "the figure check fails a missing, an unused and a broken figure" "it passed"
elif [[ "$out" == *"gone.svg, which does not exist"* && "$out" == *"unused.svg is shown by no doc"* &&
    "$out" == *"cut.svg does not end with </svg>"* && "$out" != *good.svg* ]]; then
    report pass docs "the figure check fails a missing, an unused and a broken figure"
else
    report fail docs "the figure check fails a missing, an unused and a broken figure" "it said: $(echo "$out" | paste -sd ';' -)"
fi
