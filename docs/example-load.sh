#!/bin/sh
# The stand-in load test of the README's picture: three memory cgroups under
# /oomtrace-example whose memory grows step by step. Each is fed by tail,
# which keeps in memory what it reads of a stream without newlines:
#   api     1 MiB every 60 ms, limit 48 MiB: killed after about 3 s
#   worker  1 MiB every 40 ms, limit 32 MiB: killed after about 1.3 s
#   batch   1 MiB every 80 ms up to 40 MiB, limit 96 MiB: finishes
# Run it as root, under oomtrace record (see the README). It removes its
# cgroups when it ends. Swap is not allowed, so the limits are hit.
set -eu

if [ -d /sys/fs/cgroup/memory ]; then
	root=/sys/fs/cgroup/memory version=1
else
	root=/sys/fs/cgroup version=2
	echo +memory > "$root/cgroup.subtree_control"
fi
base=$root/oomtrace-example
mkdir "$base"
[ $version = 1 ] || echo +memory > "$base/cgroup.subtree_control"
trap 'sleep 0.3; rmdir "$base/api" "$base/worker" "$base/batch" "$base"' EXIT

# grow NAME LIMIT_MIB STEPS DELAY: feed STEPS MiB, one every DELAY seconds,
# to a tail in cgroup NAME.
grow() {
	dir=$base/$1
	mkdir "$dir"
	if [ $version = 1 ]; then
		echo "$2M" > "$dir/memory.limit_in_bytes"
		echo "$2M" > "$dir/memory.memsw.limit_in_bytes" 2>/dev/null || true
	else
		echo "$2M" > "$dir/memory.max"
		echo $(($2 * 7 / 8))M > "$dir/memory.high"
		echo 0 > "$dir/memory.swap.max" 2>/dev/null || true
	fi
	sh -c 'echo $$ > "$1/cgroup.procs"
		i=0
		while [ $i -lt "$2" ]; do head -c 1M /dev/zero || exit 0; sleep "$3"; i=$((i + 1)); done | tail > /dev/null' \
		grow "$dir" "$3" "$4" &
}

grow api 48 64 0.06
grow worker 32 64 0.04
grow batch 96 40 0.08
wait
