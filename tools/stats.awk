# stats.awk - medians of a raw results file (POSIX awk; tested with mawk).
#
#   awk -F, -v mode=long -f tools/stats.awk results/TABLE.csv
#   awk -F, -v mode=md   -f tools/stats.awk results/TABLE.csv
#
# Input: a raw results file written by tools/bench.sh: '#' comment lines,
# one CSV header line, then one line per run. Columns are found by name
# in the header. A key named by rows/cols is looked up at its first
# occurrence in the header, a value column at its last (so a cell key that
# has the name of a client column still works).
#
# What to compute comes from the '# report: rows=K cols=K1,K2 values=V1,V2'
# line, unless given with -v rows=... -v cols=... -v values=... (cols may
# be empty, or '-' to override the report: then one group per rows value).
#
# Runs are grouped by (value of the rows key, values of the cols keys);
# other key columns are pooled. Only runs whose 'status' column is "ok"
# count (all runs count when there is no status column), and of those only
# numeric, non-empty fields (an empty field means "not measured").
# For each group and value column: n, median (for an even n, the mean of
# the two middle values), min, max.
#
# mode=long prints CSV: row,col,value,n,runs_ok,runs,median,min,max
#   preceded by '# title:', '# rows:', '# cols:', '# values:', '# units:'.
# mode=chart prints a text bar chart of the first value column.
# mode=units -v values=a,b prints "a in U, b in V" (units from the names).
# mode=md prints a Markdown table: one line per rows value, one column per
#   cols value (times each value column when there are several; one column
#   per value column when there are no cols); a cell is
#   "median (min–max)", just "median" for a single run or when all runs
#   gave the same value, "—" with no ok
#   value, followed by " [k/n ok]" when only k of the n runs were ok.

function trim(s) {
    sub(/^[ \t]+/, "", s)
    sub(/[ \t\r]+$/, "", s)
    return s
}

function isnum(s) {
    return s ~ /^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$/
}

function isint(x) {
    return x == int(x) && x < 1e15 && x > -1e15
}

# Decimals that show x with 3 significant digits (none from 100 up).
function decimals(x,    a, l, f) {
    a = x < 0 ? -x : x
    if (a >= 100 || a == 0)
        return 0
    l = log(a) / log(10)
    f = int(l)
    if (f > l)
        f--
    return 2 - f
}

function fmtd(x, d) {
    return sprintf("%." d "f", x)
}

# One number alone: 3 significant digits, integers whole.
function fmt(x) {
    return fmtd(x, isint(x) ? 0 : decimals(x))
}

# median (lo-hi) with the median's precision for all three, so that the
# spread reads at the same scale: 1.10 (1.00-1.20).
function fmt3(m, a, b, sep1, sep2, end,    d) {
    d = (isint(m) && isint(a) && isint(b)) ? 0 : decimals(m)
    return fmtd(m, d) sep1 fmtd(a, d) sep2 fmtd(b, d) end
}

# The unit of a column, from its name: mb_s -> MB/s, gbit_s -> Gbit/s,
# req_per_s and *_rps (offered_rps, achieved_rps) -> requests/s,
# *_per_s -> /s, then by suffix _s, _ms, _us, _ns,
# _kib, _mib, _pct, _bytes; "" for counts.
function unit(name) {
    if (name ~ /(^|_)mb_s(_|$)/) return "MB/s"
    if (name ~ /(^|_)gbit_s(_|$)/) return "Gbit/s"
    if (name ~ /(^|_)req_per_s(_|$)/) return "requests/s"
    if (name ~ /_rps$/) return "requests/s"
    if (name ~ /_per_s(_|$)/) return "/s"
    if (name ~ /_s$/) return "s"
    if (name ~ /_ms$/) return "ms"
    if (name ~ /_us$/) return "µs"
    if (name ~ /_ns$/) return "ns"
    if (name ~ /_kib$/) return "KiB"
    if (name ~ /_mib$/) return "MiB"
    if (name ~ /_pct$/) return "%"
    if (name ~ /(^|_)bytes(_|$)/) return "bytes"
    return ""
}

# Sort v[1..n] ascending (insertion sort: n is the number of runs).
function sortn(v, n,    i, j, t) {
    for (i = 2; i <= n; i++) {
        t = v[i]
        for (j = i - 1; j >= 1 && v[j] > t; j--)
            v[j + 1] = v[j]
        v[j + 1] = t
    }
}

BEGIN {
    if (mode == "")
        mode = "md"
    if (mode == "units") {
        # -v values=a,b: print "a in U, b in V" (no input read)
        nv = split(values, vv, ",")
        out = ""
        for (i = 1; i <= nv; i++) {
            u = unit(vv[i])
            out = out (i > 1 ? ", " : "") vv[i] (u == "" ? " (count)" : " in " u)
        }
        print out
        exit 0
    }
    have_header = 0
    nrowk = 0
    ncolk = 0
}

/^#/ {
    line = $0
    if (line ~ /^# title:/) {
        sub(/^# title:[ ]*/, "", line)
        title = line
    } else if (line ~ /^# report:/) {
        sub(/^# report:[ ]*/, "", line)
        nw = split(line, w, " ")
        for (i = 1; i <= nw; i++) {
            eq = index(w[i], "=")
            if (eq == 0)
                continue
            k = substr(w[i], 1, eq - 1)
            v = substr(w[i], eq + 1)
            if (k == "rows" && rows == "") rep_rows = v
            if (k == "cols" && cols == "") rep_cols = v
            if (k == "values" && values == "") rep_values = v
        }
    }
    next
}

/^[ \t\r]*$/ { next }

!have_header {
    have_header = 1
    if (rows == "") rows = rep_rows
    if (cols == "") cols = rep_cols
    if (values == "") values = rep_values
    if (cols == "-") cols = ""
    if (rows == "" || values == "") {
        print "stats.awk: no rows/values (no '# report:' line?)" > "/dev/stderr"
        bad = 1
        exit 2
    }
    for (i = 1; i <= NF; i++) {
        h = trim($i)
        if (!(h in first))
            first[h] = i
        last[h] = i
    }
    if (!(rows in first)) {
        print "stats.awk: no column '" rows "'" > "/dev/stderr"
        bad = 1
        exit 2
    }
    rowi = first[rows]
    ncolk = (cols == "") ? 0 : split(cols, colk, ",")
    for (i = 1; i <= ncolk; i++) {
        if (!(colk[i] in first)) {
            print "stats.awk: no column '" colk[i] "'" > "/dev/stderr"
            bad = 1
            exit 2
        }
        coli[i] = first[colk[i]]
    }
    nval = split(values, val, ",")
    for (i = 1; i <= nval; i++)
        vali[i] = (val[i] in last) ? last[val[i]] : 0
    statusi = ("status" in first) ? first["status"] : 0
    next
}

{
    rk = trim($rowi)
    ck = ""
    for (i = 1; i <= ncolk; i++)
        ck = ck (i > 1 ? " " : "") trim($(coli[i]))
    if (!(rk in seenr)) {
        seenr[rk] = 1
        rorder[++nr] = rk
    }
    if (!(ck in seenc)) {
        seenc[ck] = 1
        corder[++nc] = ck
    }
    g = rk SUBSEP ck
    runs[g]++
    ok = (statusi == 0 || trim($statusi) == "ok")
    if (!ok)
        next
    runs_ok[g]++
    for (i = 1; i <= nval; i++) {
        if (vali[i] == 0)
            continue
        x = trim($(vali[i]))
        if (!isnum(x))
            continue
        gv = g SUBSEP i
        n[gv]++
        data[gv, n[gv]] = x + 0
    }
}

# Fills med, lo, hi for group gv; returns the number of values.
function summarize(gv,    k, m, v) {
    m = n[gv] + 0
    if (m == 0)
        return 0
    for (k = 1; k <= m; k++)
        v[k] = data[gv, k]
    sortn(v, m)
    lo = v[1]
    hi = v[m]
    if (m % 2)
        med = v[(m + 1) / 2]
    else
        med = (v[m / 2] + v[m / 2 + 1]) / 2
    return m
}

function cell(g, i,    m, s) {
    m = summarize(g SUBSEP i)
    if (m == 0)
        s = "—"
    else if (m == 1 || lo == hi)
        s = fmt(med)
    else
        s = fmt3(med, lo, hi, " (", "–", ")")
    if (runs_ok[g] + 0 < runs[g] + 0)
        s = s " [" (runs_ok[g] + 0) "/" runs[g] " ok]"
    return s
}

function rep(ch, n,    s) {
    s = ""
    while (n-- > 0)
        s = s ch
    return s
}

# A text bar chart: one bar per (rows value, series); the series are the
# cols values (first value column), or without cols the value columns that
# share the unit of the first one.
function chart(    ns, s, r, c, i, m, g, maxv, lw, rw, fl, fr, u, first, b, txt) {
    ns = 0
    if (ncolk > 0) {
        for (c = 1; c <= nc; c++) {
            ns++
            slabel[ns] = corder[c]
            scol[ns] = corder[c]
            sval[ns] = 1
        }
    } else {
        for (i = 1; i <= nval; i++)
            if (unit(val[i]) == unit(val[1])) {
                ns++
                slabel[ns] = val[i]
                scol[ns] = ""
                sval[ns] = i
            }
    }
    maxv = 0
    lw = 1
    rw = 1
    for (s = 1; s <= ns; s++)
        if (length(slabel[s]) > lw)
            lw = length(slabel[s])
    for (r = 1; r <= nr; r++) {
        if (length(rows "=" rorder[r]) > rw)
            rw = length(rows "=" rorder[r])
        for (s = 1; s <= ns; s++)
            if (summarize(rorder[r] SUBSEP scol[s] SUBSEP sval[s]) && med > maxv)
                maxv = med
    }
    u = unit(val[sval[1]])
    print (title != "" ? title : FILENAME)
    print "  " (ncolk > 0 ? val[1] : "value") (u != "" ? " (" u ")" : "") \
        ": median of the ok runs [min–max]"
    fr = "  %-" rw "s  %-" lw "s  "
    for (r = 1; r <= nr; r++) {
        first = 1
        for (s = 1; s <= ns; s++) {
            g = rorder[r] SUBSEP scol[s]
            if (!(g in runs))
                continue
            m = summarize(g SUBSEP sval[s])
            if (m == 0) {
                txt = rep(" ", 40) " —"
            } else {
                b = (maxv > 0) ? int(40 * med / maxv + 0.5) : 0
                if (b == 0 && med > 0)
                    b = 1
                txt = rep("#", b) rep(" ", 40 - b) " "
                if (m > 1 && lo != hi)
                    txt = txt fmt3(med, lo, hi, " [", "–", "]")
                else
                    txt = txt fmt(med)
            }
            printf fr "%s\n", (first ? rows "=" rorder[r] : ""), slabel[s], txt
            first = 0
        }
    }
    print ""
}

END {
    if (bad || mode == "units")
        exit bad ? 2 : 0
    if (mode == "long") {
        print "# title: " title
        print "# rows: " rows
        print "# cols: " cols
        print "# values: " values
        us = ""
        for (i = 1; i <= nval; i++)
            us = us (i > 1 ? "," : "") unit(val[i])
        print "# units: " us
        print "row,col,value,n,runs_ok,runs,median,min,max"
        for (r = 1; r <= nr; r++)
            for (c = 1; c <= nc; c++) {
                g = rorder[r] SUBSEP corder[c]
                if (!(g in runs))
                    continue
                for (i = 1; i <= nval; i++) {
                    m = summarize(g SUBSEP i)
                    if (m)
                        printf "%s,%s,%s,%d,%d,%d,%.10g,%.10g,%.10g\n", \
                            rorder[r], corder[c], val[i], m, \
                            runs_ok[g], runs[g], med, lo, hi
                    else
                        printf "%s,%s,%s,0,%d,%d,,,\n", rorder[r], \
                            corder[c], val[i], runs_ok[g], runs[g]
                }
            }
        exit 0
    }
    if (mode == "chart") {
        chart()
        exit 0
    }
    # mode=md
    hdr = "| " rows " |"
    sep = "|---|"
    for (c = 1; c <= nc; c++)
        for (i = 1; i <= nval; i++) {
            if (ncolk == 0)
                label = val[i]
            else if (nval == 1)
                label = corder[c]
            else
                label = corder[c] " " val[i]
            hdr = hdr " " label " |"
            sep = sep "---:|"
        }
    print hdr
    print sep
    for (r = 1; r <= nr; r++) {
        line = "| " rorder[r] " |"
        for (c = 1; c <= nc; c++) {
            g = rorder[r] SUBSEP corder[c]
            for (i = 1; i <= nval; i++)
                line = line " " ((g in runs) ? cell(g, i) : "—") " |"
        }
        print line
    }
}
