#!/usr/bin/env bash
# Fails when ipcbench left an IPC object behind: a SysV object owned by this user, a POSIX queue
# or shared-memory name of ours, or a private directory of ours under the temporary directory.
set -u
problems=0
sysv=$(ipcs -a 2>/dev/null | grep -c '^0x' || true)
if [ "${sysv:-0}" -gt 0 ]; then
  echo "check-leaks: $sysv SysV object(s) in ipcs:"; ipcs -a; problems=1
fi
# POSIX queues are visible only where an mqueue file system is mounted: mount one if needed.
mqdir=/dev/mqueue
if ! mountpoint -q /dev/mqueue 2>/dev/null; then
  mqdir=$(mktemp -d)
  mount -t mqueue none "$mqdir" 2>/dev/null || { rmdir "$mqdir"; mqdir=""; }
fi
if [ -n "$mqdir" ]; then
  mq=$(ls "$mqdir" | grep -c 'ipcb' || true)
  if [ "${mq:-0}" -gt 0 ]; then
    echo "check-leaks: POSIX queues left:"; ls -l "$mqdir"; problems=1
  fi
  if [ "$mqdir" != /dev/mqueue ]; then umount "$mqdir"; rmdir "$mqdir"; fi
else
  echo "check-leaks: cannot see POSIX queues (no mqueue mount, not root): not checked"
fi
shm=$(ls /dev/shm 2>/dev/null | grep -c 'ipcb' || true)
if [ "${shm:-0}" -gt 0 ]; then
  echo "check-leaks: shared-memory names left:"; ls -l /dev/shm; problems=1
fi
dirs=$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'ipcbench-*' 2>/dev/null | wc -l)
if [ "$dirs" -gt 0 ]; then
  echo "check-leaks: private directories left:"; find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'ipcbench-*'; problems=1
fi
[ "$problems" -eq 0 ] && echo "check-leaks: nothing left behind"
exit "$problems"
