#!/usr/bin/env bash
# Fails when ipcbench left an IPC object behind: a SysV object, a POSIX queue or shared-memory
# name of ours ("ipcb..."), a private directory of ours under the temporary directory, or a network
# namespace of the two-hosts test.
#
#   scripts/check-leaks.sh                 every such object now counts
#   scripts/check-leaks.sh --save FILE     records what exists now (before a run) and exits 0
#   scripts/check-leaks.sh --since FILE    only objects that were not in FILE count: what an
#                                          earlier, failed run or another program left is listed
#                                          as already there, not blamed on this run
set -u
mode=all
baseline=""
case "${1:-}" in
  --save) mode=save; baseline=${2:?"--save needs a file"} ;;
  --since) mode=since; baseline=${2:?"--since needs a file"} ;;
  "") ;;
  *) echo "check-leaks: unknown argument '$1' (expected --save FILE or --since FILE)" >&2; exit 2 ;;
esac
if [ "$mode" = since ] && [ ! -r "$baseline" ]; then
  echo "check-leaks: cannot read the baseline '$baseline'" >&2; exit 2
fi

# One line per object: "sysv <kind> <id>", "mq <name>", "shm <name>", "dir <path>".
inventory() {
  for kind in q m s; do
    ipcs -"$kind" 2>/dev/null | awk -v k="$kind" '/^0x/ {print "sysv " k " " $2}'
  done
  local mqdir=/dev/mqueue
  # POSIX queues are visible only where an mqueue file system is mounted: mount one if needed.
  if ! mountpoint -q /dev/mqueue 2>/dev/null; then
    mqdir=$(mktemp -d)
    mount -t mqueue none "$mqdir" 2>/dev/null || { rmdir "$mqdir"; mqdir=""; }
  fi
  if [ -n "$mqdir" ]; then
    ls "$mqdir" | grep 'ipcb' | sed 's/^/mq /'
    if [ "$mqdir" != /dev/mqueue ]; then umount "$mqdir"; rmdir "$mqdir"; fi
  else
    echo "check-leaks: cannot see POSIX queues (no mqueue mount, not root): not checked" >&2
  fi
  ls /dev/shm 2>/dev/null | grep 'ipcb' | sed 's/^/shm /'
  find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'ipcbench-*' 2>/dev/null | sed 's/^/dir /'
  # The two-hosts test's network namespaces (tests/two_hosts_test.sh), "ipcb<pid>a" and "...b".
  if command -v ip > /dev/null; then
    ip netns list 2>/dev/null | awk '$1 ~ /^ipcb[0-9]+[ab]$/ {print "netns " $1}'
  fi
  return 0
}

now=$(inventory | sort)
if [ "$mode" = save ]; then
  printf '%s\n' "$now" > "$baseline"
  echo "check-leaks: $(printf '%s' "$now" | grep -c . || true) object(s) there before the run, saved in $baseline"
  exit 0
fi
if [ "$mode" = since ]; then
  old=$(grep . "$baseline" | sort || true)
  left=$(comm -23 <(printf '%s\n' "$now" | grep .) <(printf '%s\n' "$old" | grep .))
  there=$(comm -12 <(printf '%s\n' "$now" | grep .) <(printf '%s\n' "$old" | grep .))
  if [ -n "$there" ]; then
    echo "check-leaks: already there before this run (not counted):"
    printf '%s\n' "$there" | sed 's/^/  /'
  fi
else
  left=$now
fi
if [ -n "$left" ]; then
  echo "check-leaks: left behind:"
  printf '%s\n' "$left" | sed 's/^/  /'
  exit 1
fi
echo "check-leaks: nothing left behind"
