# SPDX-License-Identifier: MIT
# Turns policies/default.ini into memgov.ini(5): the file's own comments are the documentation,
# so the man page cannot drift from the shipped defaults.
function esc(s) { gsub(/\\/, "\\e", s); gsub(/^\./, "\\\\\\&.", s); gsub(/^'/, "\\\\\\&'", s); return s }
function flush() { if (para != "") { print ".PP"; print esc(para); para = "" } }
BEGIN {
        print ".\\\" SPDX-License-Identifier: MIT"
        print ".\\\" Generated from policies/default.ini by docs/ini2man.awk; edit those instead."
        print ".TH MEMGOV.INI 5 \"2026\" \"memgov " version "\" \"File Formats\""
        print ".SH NAME"
        print "memgov.ini \\- memgov policy file"
        print ".SH DESCRIPTION"
        intro = 1
}
/^\[/ {
        flush()
        if (intro) { print ".SH SECTIONS AND KEYS"; intro = 0 }
        print ".SS " esc($0)
        next
}
/^#[a-z_]+ =/ {
        flush()
        line = substr($0, 2)
        key = line; sub(/ =.*/, "", key)
        val = line; sub(/^[a-z_]+ =[ ]?/, "", val)
        print ".TP"
        print "\\fB" key "\\fR (default: " (val == "" ? "empty" : esc(val)) ")"
        if (pending != "") { print esc(pending); pending = "" }
        next
}
/^#/ {
        text = $0; sub(/^# ?/, "", text)
        if (text == "") { flush(); next }
        if (intro) { para = para (para == "" ? "" : " ") text; next }
        # Comment lines before a key describe that key.
        pending = pending (pending == "" ? "" : " ") text
        next
}
/^$/ {
        flush()
        if (pending != "") { print ".PP"; print esc(pending); pending = "" }
        next
}
END {
        flush()
        print ".SH SEE ALSO"
        print ".BR memgov (8)"
}
