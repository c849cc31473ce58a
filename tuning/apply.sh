#!/usr/bin/env bash
# Applies the safe, run-time, reversible host settings for corekv (see tuning/README.md).
#
#   sudo bash tuning/apply.sh            apply, printing "old -> new" for each change
#   bash tuning/apply.sh --dry-run       print what would change; changes nothing, no root needed
#
# Changes (only when the current value is worse): net.core.somaxconn, net.ipv4.tcp_max_syn_backlog,
# fs.file-max, kernel.io_uring_disabled (to 0), THP "always" -> "madvise".
# Never touches IRQ affinity, irqbalance, isolcpus, swap, ulimits or files under /etc: for those
# it only prints advice. Settings made here do not survive a reboot (see README.md, "Persisting").
# Idempotent: a second run reports everything as "ok". Exits 0 when settings are missing or
# read-only (containers); 1 when a change is needed but not run as root; 2 on a bad argument.

set -uo pipefail

DRY_RUN=0
for arg in "$@"; do
    case "$arg" in
        --dry-run | -n) DRY_RUN=1 ;;
        -h | --help)
            sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "apply.sh: unknown argument '$arg' (use --dry-run or --help)" >&2
            exit 2
            ;;
    esac
done

if [[ $DRY_RUN -eq 0 && $(id -u) -ne 0 ]]; then
    echo "apply.sh: changing kernel settings needs root; run with sudo, or use --dry-run" >&2
    exit 1
fi

# Target values.
SOMAXCONN=65535       # listen() backlogs are silently capped at this
SYN_BACKLOG=65535     # half-open (SYN_RECV) connections per listener
FILE_MAX=1048576      # system-wide open files; only raised, never lowered
THP_WANT=madvise

CHANGED=0
SKIPPED=0
REVERT=()

say() { printf '%s\n' "$*"; }
mode_tag() { [[ $DRY_RUN -eq 1 ]] && echo "would set" || echo "set"; }

# Prints "ro" if the mount holding $1 is read-only (as /proc/sys is in most containers).
mount_ro() {
    local path=$1 best="" opts="" mp o
    while read -r _ _ _ _ mp o _; do
        if [[ $path == "$mp" || $path == "$mp"/* || $mp == / ]] && ((${#mp} >= ${#best})); then
            best=$mp
            opts=$o
        fi
    done </proc/self/mountinfo
    [[ ,$opts, == *,ro,* ]] && echo ro
}

# write_value FILE VALUE: writes VALUE to FILE; prints nothing, returns non-zero on failure.
write_value() {
    { printf '%s\n' "$2" >"$1"; } 2>/dev/null
}

# Prints the selected word of a sysfs choice file ("always [madvise] never" -> madvise).
selected() {
    local s
    s=$(cat "$1" 2>/dev/null) || return 0
    if [[ $s =~ \[([a-z+]+)\] ]]; then echo "${BASH_REMATCH[1]}"; else echo "${s//[[:space:]]/}"; fi
}

# tune_sysctl NAME TARGET MODE
#   MODE=min   raise to TARGET when the current value is lower
#   MODE=exact set to TARGET when the current value differs
tune_sysctl() {
    local name=$1 target=$2 mode=$3
    local file="/proc/sys/${name//./\/}"
    local cur new
    if [[ ! -e $file ]]; then
        say "skip  $name: not present on this kernel / in this container"
        SKIPPED=$((SKIPPED + 1))
        return 0
    fi
    if ! cur=$(tr -s '[:space:]' ' ' <"$file" 2>/dev/null); then
        say "skip  $name: cannot read $file"
        SKIPPED=$((SKIPPED + 1))
        return 0
    fi
    cur=${cur% }
    if [[ $mode == min && $cur =~ ^[0-9]+$ && $cur -ge $target ]] ||
        [[ $mode == exact && $cur == "$target" ]]; then
        say "ok    $name = $cur"
        return 0
    fi
    if [[ $(mount_ro "$file") == ro ]]; then
        say "skip  $name: $cur (want $target) but $file is on a read-only mount (container?); set it on the host"
        SKIPPED=$((SKIPPED + 1))
        return 0
    fi
    if [[ $DRY_RUN -eq 1 ]]; then
        say "$(mode_tag) $name: $cur -> $target"
        CHANGED=$((CHANGED + 1))
        return 0
    fi
    if ! write_value "$file" "$target"; then
        say "skip  $name: $cur (want $target) but writing $file failed (read-only or not permitted)"
        SKIPPED=$((SKIPPED + 1))
        return 0
    fi
    new=$(tr -s '[:space:]' ' ' <"$file" 2>/dev/null)
    new=${new% }
    say "set   $name: $cur -> $new"
    REVERT+=("sysctl -w $name=$cur")
    CHANGED=$((CHANGED + 1))
}

tune_thp() {
    local file=/sys/kernel/mm/transparent_hugepage/enabled
    local cur
    if [[ ! -r $file ]]; then
        say "skip  THP: $file not present (kernel without THP)"
        SKIPPED=$((SKIPPED + 1))
        return 0
    fi
    cur=$(selected "$file")
    case "$cur" in
        madvise)
            say "ok    THP enabled = madvise"
            return 0
            ;;
        never)
            say "skip  THP: enabled = never; kept (it also avoids THP latency spikes, and corekv's glibc"
            say "      malloc only asks for huge pages with GLIBC_TUNABLES=glibc.malloc.hugetlb=1)"
            SKIPPED=$((SKIPPED + 1))
            return 0
            ;;
    esac
    if [[ $(mount_ro "$file") == ro ]]; then
        say "skip  THP: enabled = $cur (want $THP_WANT) but /sys is read-only (container?); set it on the host"
        SKIPPED=$((SKIPPED + 1))
        return 0
    fi
    if [[ $DRY_RUN -eq 1 ]]; then
        say "$(mode_tag) THP enabled: $cur -> $THP_WANT"
        CHANGED=$((CHANGED + 1))
        return 0
    fi
    if ! write_value "$file" "$THP_WANT"; then
        say "skip  THP: enabled = $cur (want $THP_WANT) but writing $file failed"
        SKIPPED=$((SKIPPED + 1))
        return 0
    fi
    say "set   THP enabled: $cur -> $(selected "$file")"
    REVERT+=("echo $cur > $file")
    CHANGED=$((CHANGED + 1))
}

say "corekv host tuning$([[ $DRY_RUN -eq 1 ]] && echo ' (dry run: nothing is changed)')"
say "kernel $(uname -r), $(nproc) CPU(s) in this shell's affinity mask"
say ""
say "== run-time settings"
tune_sysctl net.core.somaxconn "$SOMAXCONN" min
tune_sysctl net.ipv4.tcp_max_syn_backlog "$SYN_BACKLOG" min
tune_sysctl fs.file-max "$FILE_MAX" min
if [[ -e /proc/sys/kernel/io_uring_disabled ]]; then
    tune_sysctl kernel.io_uring_disabled 0 exact
else
    say "ok    kernel.io_uring_disabled: not present (kernel < 6.6: io_uring is always allowed)"
fi
tune_thp

say ""
say "== checks and advice (nothing below is changed by this script)"

# Kernel version: glommio needs io_uring features from 5.8.
read -r kmaj kmin _ <<<"$(uname -r | sed 's/[^0-9]/ /g')"
if ((kmaj < 5 || (kmaj == 5 && kmin < 8))); then
    say "WARN  kernel $(uname -r) is older than 5.8: corekv (glommio) will not run"
fi

memlock=$(ulimit -l)
if [[ $memlock != unlimited ]] && ((memlock < 512)); then
    say "WARN  RLIMIT_MEMLOCK here is ${memlock} KiB (< 512 KiB): corekv will refuse to start."
    say "      Raise it for the service: LimitMEMLOCK=infinity (systemd), 'ulimit -l unlimited', or"
    say "      /etc/security/limits.conf (README.md section 1)."
else
    say "ok    RLIMIT_MEMLOCK (this shell) = ${memlock}$([[ $memlock != unlimited ]] && echo ' KiB')"
fi

nofile=$(ulimit -n)
if [[ $nofile != unlimited ]] && ((nofile < 65536)); then
    say "note  RLIMIT_NOFILE (this shell) = $nofile: corekv accepts at most ~$nofile clients."
    say "      Use LimitNOFILE=1048576 (systemd) or 'ulimit -n 1048576' (README.md section 3)."
else
    say "ok    RLIMIT_NOFILE (this shell) = $nofile"
fi
[[ -r /proc/sys/fs/nr_open ]] && say "info  fs.nr_open (ceiling for ulimit -n) = $(cat /proc/sys/fs/nr_open)"

if [[ -r /sys/kernel/mm/transparent_hugepage/defrag ]]; then
    defrag=$(selected /sys/kernel/mm/transparent_hugepage/defrag)
    [[ $defrag == always ]] &&
        say "note  THP defrag = always: page faults may stall on compaction; consider 'madvise' (README.md section 5)"
fi

if [[ -r /proc/sys/vm/swappiness ]] && [[ -r /proc/swaps ]]; then
    nswap=$(($(wc -l </proc/swaps) - 1))
    swp=$(cat /proc/sys/vm/swappiness)
    if ((nswap > 0)); then
        say "note  $nswap swap device(s) active, vm.swappiness = $swp: a swapped-out cache page costs a disk"
        say "      read on a GET. Consider 'swapoff -a' or vm.swappiness=1 (README.md section 7)."
    fi
fi

isolated=$(cat /sys/devices/system/cpu/isolated 2>/dev/null)
nohz=$(cat /sys/devices/system/cpu/nohz_full 2>/dev/null)
say "info  isolated CPUs: ${isolated:-none}; nohz_full CPUs: ${nohz:-none} (boot parameters; not changed here)"
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet irqbalance 2>/dev/null; then
    say "info  irqbalance is running: ban the shard CPUs (IRQBALANCE_BANNED_CPULIST) or stop it"
    say "      before pinning NIC IRQs by hand (README.md section 4)."
fi
say "info  IRQ affinity is never changed by this script. To keep NIC interrupts off shard CPUs, see"
say "      README.md section 4, then start corekv with e.g. 'taskset -c <shard CPUs> corekv ...'."

say ""
if [[ $DRY_RUN -eq 1 ]]; then
    say "summary: $CHANGED setting(s) would change, $SKIPPED skipped; run as root without --dry-run to apply"
else
    say "summary: $CHANGED setting(s) changed, $SKIPPED skipped"
    if ((${#REVERT[@]} > 0)); then
        say "to revert:"
        for r in "${REVERT[@]}"; do say "  $r"; done
        say "note: a running corekv keeps its old listen backlog; restart it to use the new somaxconn"
    fi
fi
exit 0
