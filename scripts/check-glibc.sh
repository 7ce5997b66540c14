#!/usr/bin/env bash
# Checks that a Linux binary starts on a system with an older glibc: no
# dynamic symbol may need a GLIBC_ version newer than MAX (default 2.28, the
# glibc of RHEL/Rocky 8, e.g. MeluXina).
#
#   scripts/check-glibc.sh BINARY [MAX]
#
# Prints the newest GLIBC_ version the binary needs; exits 1 naming every
# symbol that needs a newer one, 2 on bad usage or when objdump cannot read
# the binary. Needs objdump (binutils).
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 BINARY [MAX_GLIBC_VERSION]" >&2
    exit 2
fi
BIN=$1
MAX=${2:-2.28}
command -v objdump >/dev/null || { echo "check-glibc: objdump not found (install binutils)" >&2; exit 2; }
[[ -f "$BIN" ]] || { echo "check-glibc: no such file: $BIN" >&2; exit 2; }

# objdump -T rows end in "... (GLIBC_2.17) name" or "... GLIBC_2.17 name":
# one "VERSION SYMBOL" line per versioned dynamic symbol.
if ! table=$(objdump -T "$BIN" 2>&1); then
    echo "check-glibc: objdump cannot read $BIN: $table" >&2
    exit 2
fi
pairs=$(awk '{
    for (i = 1; i < NF; i++) if (match($i, /GLIBC_[0-9][0-9.]*/)) {
        print substr($i, RSTART + 6, RLENGTH - 6), $NF; break
    }
}' <<<"$table" | sort -u)

if [[ -z "$pairs" ]]; then
    echo "check-glibc: $BIN needs no versioned glibc symbol (static or not glibc-linked)"
    exit 0
fi

newest=$(cut -d' ' -f1 <<<"$pairs" | sort -uV | tail -n1)
echo "check-glibc: $BIN needs at most GLIBC_$newest (limit GLIBC_$MAX)"

# A version is too new when it sorts after MAX.
too_new=$(while read -r ver sym; do
    if [[ "$ver" != "$MAX" && "$(printf '%s\n%s\n' "$MAX" "$ver" | sort -V | tail -n1)" == "$ver" ]]; then
        echo "  $sym needs GLIBC_$ver"
    fi
done <<<"$pairs")
if [[ -n "$too_new" ]]; then
    echo "check-glibc: FAIL: symbols newer than GLIBC_$MAX:" >&2
    echo "$too_new" >&2
    exit 1
fi
echo "check-glibc: OK"
