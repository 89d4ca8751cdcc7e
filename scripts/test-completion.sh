#!/usr/bin/env bash
# Tests debian/ctsync.bash-completion: sources it, sets COMP_WORDS and
# COMP_CWORD as bash would for a command line, calls the function and
# compares COMPREPLY (sorted) with what is expected. Exits 1 on the first
# mismatch. Run by `make lint`.
set -uo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=../debian/ctsync.bash-completion
. debian/ctsync.bash-completion

fn=$(complete -p ctsync 2>/dev/null | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
if [[ $fn != _ctsync ]]; then
    echo "test-completion: ctsync is not registered with complete -F _ctsync (got: $(complete -p ctsync 2>&1))" >&2
    exit 1
fi

fails=0
n=0

# check "LINE" "EXPECTED WORDS": LINE is the command line up to the
# cursor; a trailing space means a new, empty word is being completed.
check() {
    local line="$1" want="$2"
    read -r -a COMP_WORDS <<<"$line"
    if [[ $line == *" " ]]; then
        COMP_WORDS+=("")
    fi
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="$line"
    COMP_POINT=${#line}
    COMPREPLY=()
    _ctsync ctsync "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    local got
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ')
    want=$(printf '%s\n' $want | sed '/^$/d' | sort | tr '\n' ' ')
    n=$((n + 1))
    if [[ $got != "$want" ]]; then
        echo "test-completion: '$line': got [${got% }], want [${want% }]" >&2
        fails=$((fails + 1))
    fi
}

check "ctsync " "configure show reset restart request monitor vrrp-transition help"
check "ctsync s" "show"
check "ctsync re" "request reset restart"
check "ctsync --" "--root --json --help"
check "ctsync show " "configuration conntrack conntrack-sync high-availability log system vrrp"
check "ctsync show log " "conntrack-sync vrrp ctsyncd"
check "ctsync show log vrrp " "tail"
check "ctsync monitor " "conntrack log"
check "ctsync monitor log c" "conntrack-sync ctsyncd"
check "ctsync show high-availability " "identity config-diff"
check "ctsync request high-availability " "failover maintenance config-sync"
check "ctsync request high-availability maintenance " "on off"
check "ctsync request high-availability config-sync " "from-peer to-peer"
check "ctsync request high-availability config-sync t" "to-peer"
check "ctsync show high-availability config-diff " ""
check "ctsync show conntrack" "conntrack conntrack-sync"
check "ctsync show conntrack " "table statistics"
check "ctsync show conntrack table " "ipv4 ipv6"
check "ctsync show conntrack table ipv4 " "protocol source destination port state mark zone"
check "ctsync show conntrack table ipv4 protocol " "tcp udp icmp sctp dccp gre udplite"
check "ctsync show conntrack table ipv6 protocol icmp" "icmpv6"
check "ctsync show conntrack table ipv4 protocol tcp " "source destination port state mark zone"
check "ctsync show conntrack table ipv4 protocol tcp state EST" "ESTABLISHED"
check "ctsync show conntrack table ipv4 port 443 " "protocol source destination state mark zone"
check "ctsync show conntrack table ipv4 source " ""
check "ctsync show conntrack-sync " "statistics status cache"
check "ctsync show conntrack-sync st" "statistics status"
check "ctsync show conntrack-sync cache " "internal external"
check "ctsync show conntrack-sync cache external " "main expect"
check "ctsync show conntrack-sync cache external main " ""
check "ctsync show configuration " "json commands"
check "ctsync show system " "commit"
check "ctsync show system commit " "diff"
check "ctsync show system commit diff " ""
check "ctsync reset " "conntrack conntrack-sync"
check "ctsync reset conntrack-sync " "internal-cache external-cache"
check "ctsync reset conntrack " "ipv4 ipv6 protocol port state mark zone"
check "ctsync reset conntrack ipv4 " "protocol source destination port state mark zone"
check "ctsync reset conntrack ipv6 protocol " "tcp udp icmpv6 sctp dccp gre udplite"
check "ctsync reset conntrack protocol tcp " "port state mark zone"
check "ctsync reset conntrack ipv4 mark 1 --yes " "protocol source destination port state zone"
check "ctsync reset conntrack --y" "--yes"
check "ctsync show conntrack --" "--root --json --help"
check "ctsync monitor conntrack " "ipv4 ipv6 protocol port state mark zone"
check "ctsync monitor conntrack ipv4 protocol tcp " "source destination port state mark zone"
check "ctsync show vrrp " "detail statistics sync-group"
check "ctsync show vrrp detail " ""
check "ctsync restart " "conntrack-sync vrrp"
check "ctsync restart conntrack-sync " ""
check "ctsync configure " ""
check "ctsync vrrp-transition " "master backup fault"
check "ctsync vrrp-transition b" "backup"
check "ctsync vrrp-transition master " ""
# Options anywhere on the line do not count as command words.
check "ctsync --json show conntrack-sync " "statistics status cache"
check "ctsync show --json conntrack-sync " "statistics status cache"
check "ctsync -j show configuration " "json commands"
check "ctsync --root /srv/r1 show " "configuration conntrack conntrack-sync high-availability log system vrrp"
check "ctsync --root=/srv/r1 reset " "conntrack conntrack-sync"
check "ctsync --root = /srv/r1 restart " "conntrack-sync vrrp"

# --root completes directories only.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/r1" "$tmp/r2"
touch "$tmp/rfile"
check "ctsync --root $tmp/r" "$tmp/r1 $tmp/r2"
check "ctsync show --root $tmp/" "$tmp/r1 $tmp/r2"
check "ctsync --root = $tmp/r" "$tmp/r1 $tmp/r2"

if ((fails > 0)); then
    echo "test-completion: $fails of $n cases failed" >&2
    exit 1
fi
echo "test-completion: $n cases passed"
