#!/usr/bin/env bash
# vmtest.sh: prove oomtrace on Debian's own kernels, booted under qemu.
#
# The development machine's kernel allows only tracepoints, and a global OOM
# there would kill whatever the kernel picks. In a VM every attach mode
# works and every kind of OOM can be caused: global, sysrq-f, cpuset and
# mempolicy on a guest with two NUMA nodes, memory.oom.group. Each kernel
# boots a busybox initramfs holding a static oomtrace and the e2e test
# binary; vmtest/init runs the tests in each attach mode and reports back
# on a serial port, and this script turns that into PASS and FAIL lines.
#
# Usage: ./vmtest.sh [--kernel 5.10|6.1|6.12]... [--mode fentry|kprobe|tracepoint]...
#                    [--run REGEX] [--full]
#
# The OOM cases (the VM-only tests and the e2e tests of a leaf limit, a
# parent limit and reclaim) run in every mode on every kernel; exit causes,
# attribution and the agent on every kernel in the first mode; the rest of
# the e2e suite on the newest kernel chosen, in the first mode. --full runs
# every test in every mode on every kernel (about three times as long).
# --run keeps the tests matching REGEX.
#
# Environment:
#   OOMTRACE_VMTEST_CACHE  kernel packages, busybox and apt state
#                          (default ~/.cache/oomtrace-vmtest; logs/ holds each
#                          kernel's console log of the last run)
#   OOMTRACE_VMTEST_ACCEL  auto (KVM if a guest boots with it, else TCG), kvm or tcg
set -euo pipefail

cd "$(dirname "$0")"

# label  Debian suite  meta-package naming the newest kernel of that series
# (cloud kernels: small, and everything the guest needs is built in)
KERNEL_TABLE="
5.10 bullseye linux-image-cloud-amd64
6.1  bookworm linux-image-cloud-amd64
6.12 bookworm linux-image-6.12-cloud-amd64
"
ALL_KERNELS=$(awk 'NF {printf "%s ", $1}' <<<"$KERNEL_TABLE")
ALL_MODES="fentry kprobe tracepoint"

# Guest size: 2 vCPUs, and little RAM so that global OOMs come quickly, in
# two NUMA nodes so that cpuset and mempolicy OOMs can be confined to one.
GUEST_MIB_PER_NODE=192
# Under TCG every tracer start verifies the BPF programs at emulated speed,
# 3 s on 6.12 and 12 s on 5.10: the whole suite in every mode on every
# kernel would take about an hour, so only the OOM cases run everywhere.
PER_MODE='^(TestVM.*|TestPlainKill|TestParentLimit|TestReclaimEvents)$'
# Cases whose hooks do not depend on the attach mode (signals, exits) or
# that read cgroup v2 (attribution, the agent) run on every kernel, in the
# first mode.
PER_KERNEL='^(TestExitCauses|TestSignalFromPodContainer|TestKubernetesAttribution|TestServeMetrics)$'
FULL=0
# Tests left out of the guest's plan, which the host's make test runs: they
# hold oomtrace against tools of the host (perf record, a Prometheus server,
# a browser), or measure the agent's memory over 1,000 kills (minutes under
# emulation), not a kernel's behaviour. A test that skips itself in the
# guest fails.
HOST_ONLY='^(TestPerfScriptLog|TestPrometheusScrapesServe|TestHTMLReportInBrowser|TestServeChurn|TestRuntime.*|TestImage.*|TestServeTLS.*)$'
TEST_TIMEOUT=90  # seconds per test process in the guest
VM_TIMEOUT=1200  # seconds per VM: a hang is a failure, not a wait

CACHE=${OOMTRACE_VMTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oomtrace-vmtest}
ACCEL=${OOMTRACE_VMTEST_ACCEL:-auto}

usage() {
	sed -n '/^# Usage:/,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit "${1:-0}"
}

die() {
	echo "vmtest: $*" >&2
	exit 1
}

kernels=()
modes=()
run=.
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) [ $# -ge 2 ] || usage 2; kernels+=("$2"); shift 2 ;;
	--mode) [ $# -ge 2 ] || usage 2; modes+=("$2"); shift 2 ;;
	--run) [ $# -ge 2 ] || usage 2; run=$2; shift 2 ;;
	--full) PER_MODE=. FULL=1; shift ;;
	-h | --help) usage 0 ;;
	*) echo "vmtest: unknown argument $1" >&2; usage 2 ;;
	esac
done
[ ${#kernels[@]} -gt 0 ] || read -r -a kernels <<<"$ALL_KERNELS"
[ ${#modes[@]} -gt 0 ] || read -r -a modes <<<"$ALL_MODES"
for k in "${kernels[@]}"; do
	[[ " $ALL_KERNELS" == *" $k "* ]] || die "unknown kernel $k (known: $ALL_KERNELS)"
done
for m in "${modes[@]}"; do
	grep -qw -- "$m" <<<"$ALL_MODES" || die "unknown mode $m (known: $ALL_MODES)"
done
case "$run" in *[[:space:]]*) die "--run: the regex goes on the kernel command line and may hold no spaces" ;; esac
case "$ACCEL" in auto | kvm | tcg) ;; *) die "OOMTRACE_VMTEST_ACCEL=$ACCEL: want auto, kvm or tcg" ;; esac

start=$SECONDS

# ---------------------------------------------------------------- host tools

# CI runs this as root on a fresh Debian machine: install what is missing.
install_host_tools() {
	local need=()
	command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
	command -v dpkg-deb >/dev/null || need+=(dpkg)
	command -v flock >/dev/null || need+=(util-linux)
	[ ${#need[@]} -eq 0 ] && return
	[ "$(id -u)" -eq 0 ] || die "missing ${need[*]}: run as root, or apt-get install ${need[*]}"
	echo "vmtest: installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}
install_host_tools
command -v go >/dev/null || die "go is needed to build oomtrace and the tests"

# ------------------------------------------------------ Debian packages (apt)

# The Debian archive this machine already uses, from its own apt sources:
# the private configurations below reuse its host for every suite.
debian_uris() {
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '
			/^[[:space:]]*deb[[:space:]]/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\//) { print $i; break } }
			/^URIs:/ { for (i = 2; i <= NF; i++) print $i }'
}
ARCHIVE=$(debian_uris | grep -m1 -E '/debian/?$' || true)
[ -n "$ARCHIVE" ] || die "no Debian archive (a URI ending in /debian) in /etc/apt/sources.list*"
ARCHIVE=${ARCHIVE%/}
SECURITY=$(debian_uris | grep -m1 -E '/debian-security/?$' || true)
SECURITY=${SECURITY%/}
SECURITY=${SECURITY:-${ARCHIVE%/debian}/debian-security}

# apt_for SUITE ARGS...: apt-get or apt-cache (first of ARGS) with a private
# configuration for SUITE: its own sources list, lists and cache under
# $CACHE/apt/SUITE. The machine's own sources and state are never touched.
apt_for() {
	local suite=$1 tool=$2 dir=$CACHE/apt/$1
	shift 2
	"$tool" \
		-o Dir::Etc::sourcelist="$dir/sources.list" \
		-o Dir::Etc::sourceparts="$dir/sources.list.d" \
		-o Dir::Etc::preferences="$dir/preferences" \
		-o Dir::Etc::preferencesparts="$dir/preferences.d" \
		-o Dir::State="$dir/state" \
		-o Dir::State::status="$dir/status" \
		-o Dir::Cache="$dir/cache" \
		-o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
		-o APT::Sandbox::User=root \
		"$@"
}

# apt_prepare SUITE: write SUITE's private sources and refresh its package
# lists once a day.
apt_prepare() {
	local suite=$1 dir=$CACHE/apt/$1 keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	mkdir -p "$dir"/{sources.list.d,preferences.d,state/lists/partial,cache/archives/partial}
	touch "$dir/status"
	cat >"$dir/sources.list.new" <<-EOF
		deb [signed-by=$keyring] $ARCHIVE $suite main
		deb [signed-by=$keyring] $ARCHIVE $suite-updates main
		deb [signed-by=$keyring] $SECURITY $suite-security main
	EOF
	if ! cmp -s "$dir/sources.list.new" "$dir/sources.list"; then
		mv "$dir/sources.list.new" "$dir/sources.list"
		rm -f "$dir/updated"
	fi
	rm -f "$dir/sources.list.new"
	if [ -z "$(find "$dir/updated" -mmin -1440 2>/dev/null)" ]; then
		echo "vmtest: apt-get update for $suite ($ARCHIVE)"
		apt_for "$suite" apt-get -qq update && touch "$dir/updated"
	fi
}

# fetch_deb SUITE PACKAGE: download PACKAGE's candidate into $CACHE/debs
# unless it is there already, and print the .deb's path.
fetch_deb() {
	local suite=$1 pkg=$2 version file
	version=$(apt_for "$suite" apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p')
	[ -n "$version" ] || return 1
	file=$CACHE/debs/${pkg}_${version//:/%3a}_amd64.deb
	if [ ! -f "$file" ]; then
		echo "vmtest: downloading $pkg $version" >&2
		(cd "$CACHE/debs" && apt_for "$suite" apt-get -qq download "$pkg" >&2) || return 1
	fi
	echo "$file"
}

# fetch_kernel LABEL: unpack the newest kernel of the series into
# $CACHE/kernels/LABEL (vmlinuz, config, the package's name); with no
# archive at hand, keep what a previous run unpacked.
fetch_kernel() {
	local label=$1 suite meta pkg deb dir=$CACHE/kernels/$1
	read -r _ suite meta <<<"$(awk -v k="$label" '$1 == k' <<<"$KERNEL_TABLE")"
	pkg=$(apt_for "$suite" apt-cache depends "$meta" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}')
	if [ -n "$pkg" ] && deb=$(fetch_deb "$suite" "$pkg"); then
		if [ "$(cat "$dir/deb" 2>/dev/null)" != "$deb" ]; then
			rm -rf "$dir" && mkdir -p "$dir/x"
			dpkg-deb -x "$deb" "$dir/x"
			mv "$dir"/x/boot/vmlinuz-* "$dir/vmlinuz"
			mv "$dir"/x/boot/config-* "$dir/config"
			rm -rf "$dir/x"
			echo "$deb" >"$dir/deb"
		fi
	elif [ -f "$dir/vmlinuz" ]; then
		echo "vmtest: cannot resolve $meta in $suite; using the cached $(basename "$(cat "$dir/deb")")" >&2
	else
		die "cannot fetch the $label kernel ($meta from $suite)"
	fi
	# oomtrace needs BTF and the guest has no modules: check the config.
	for opt in DEBUG_INFO_BTF BPF_SYSCALL MEMCG CPUSETS NUMA MAGIC_SYSRQ SERIAL_8250_CONSOLE BLK_DEV_INITRD DEVTMPFS; do
		grep -qx "CONFIG_$opt=y" "$dir/config" || die "the $label kernel lacks CONFIG_$opt=y (built in)"
	done
}

mkdir -p "$CACHE/debs" "$CACHE/logs"
exec 9>"$CACHE/lock"
flock 9 # one run at a time per cache: apt state and kernels are shared
suites=$(for k in "${kernels[@]}"; do awk -v k="$k" '$1 == k {print $2}' <<<"$KERNEL_TABLE"; done; echo bookworm)
for suite in $(sort -u <<<"$suites"); do
	apt_prepare "$suite" || echo "vmtest: apt-get update for $suite failed; trying with what is cached" >&2
done
for k in "${kernels[@]}"; do
	fetch_kernel "$k"
done
busybox_deb=$(fetch_deb bookworm busybox-static) || busybox_deb=$(find "$CACHE/debs" -name 'busybox-static_*.deb' | sort | tail -1)
[ -n "$busybox_deb" ] || die "cannot fetch busybox-static"

# ------------------------------------------------------------------ initramfs

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The guest has no Go toolchain and no libc: everything is static.
root=$WORK/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp}
dpkg-deb -x "$busybox_deb" "$WORK/busybox"
cp "$WORK/busybox/bin/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp vmtest/init "$root/init"
chmod 755 "$root/init"
# Only a vmtest guest has this file: the VM-only tests refuse to run without it.
echo "vmtest guest: global OOMs allowed here" >"$root/oomtrace-vmtest-guest"
echo "vmtest: building oomtrace and the e2e tests"
CGO_ENABLED=0 go build -trimpath -o "$root/oomtrace" ./cmd/oomtrace
CGO_ENABLED=0 go test -c -tags vmtest -trimpath -o "$root/e2e.test" ./e2e
# The static busybox runs on the host too, and writes the archive as root's.
(cd "$root" && find . | "$root/bin/busybox" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -1 >"$WORK/initrd.gz"

# ----------------------------------------------------------------------- qemu

# qemu_run LABEL TIMEOUT RESULTS-FILE ACCEL EXTRA-APPEND: boot LABEL's kernel
# with the initramfs; the console goes to stdout, the report channel (the
# second serial port) to RESULTS-FILE.
qemu_run() {
	local label=$1 limit=$2 results=$3 accel=$4 append=$5 cpu=max node_mib=$GUEST_MIB_PER_NODE
	[ "$accel" = kvm ] && cpu=host
	timeout --foreground -k 10 "$limit" qemu-system-x86_64 \
		-machine pc -accel "$accel" -cpu "$cpu" \
		-smp 2,sockets=2,cores=1,threads=1 -m $((2 * node_mib))M \
		-object memory-backend-ram,id=mem0,size=${node_mib}M \
		-object memory-backend-ram,id=mem1,size=${node_mib}M \
		-numa node,nodeid=0,cpus=0,memdev=mem0 \
		-numa node,nodeid=1,cpus=1,memdev=mem1 \
		-kernel "$CACHE/kernels/$label/vmlinuz" -initrd "$WORK/initrd.gz" \
		-append "console=ttyS0 quiet panic=-1 softlockup_panic=1 $append" \
		-nodefaults -display none -monitor none -no-reboot \
		-serial stdio -serial "file:$results" </dev/null
}

# KVM is used when a guest really boots with it: on some hosts /dev/kvm
# exists but qemu aborts or the guest dies of an emulation error.
if [ "$ACCEL" = auto ]; then
	ACCEL=tcg
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		qemu_run "${kernels[0]}" 60 "$WORK/probe" kvm vmtest_probe=1 >"$WORK/probe.log" 2>&1 || true
		grep -q VMTEST-UP "$WORK/probe" 2>/dev/null && ACCEL=kvm
	fi
fi
echo "vmtest: qemu with $ACCEL; kernels ${kernels[*]}; modes ${modes[*]}"

# ------------------------------------------------------------------ the runs

passed=0
failed=0
failures=()

# record KERNEL MODE CASE STATUS DETAIL: count one result and print it.
record() {
	local kernel=$1 mode=$2 case=$3 status=$4 detail=${5:-}
	case "$status" in
	PASS) passed=$((passed + 1)) ;;
	*) failed=$((failed + 1)); failures+=("$kernel $mode $case: $detail") ;;
	esac
	printf '  %-4s %-5s %-10s %s %s\n' "$status" "$kernel" "$mode" "$case" "$detail"
}

# check_modes_agree KERNEL RESULTS: every mode must report the same class,
# victim and OOM cgroup in the same test. Compare the facts of each test
# across the modes that got as far as recording them.
check_modes_agree() {
	local kernel=$1 results=$2 test mode facts first first_mode agreeing disagreeing
	for test in $(awk '$1 == "VMTEST-FACT" {print $4}' "$results" | sort -u); do
		first_mode="" agreeing="" disagreeing=""
		for mode in $(awk -v t="$test" '$1 == "VMTEST-FACT" && $4 == t {print $3}' "$results" | sort -u); do
			facts=$(awk -v t="$test" -v m="$mode" '$1 == "VMTEST-FACT" && $3 == m && $4 == t {$1 = $2 = $3 = $4 = ""; print}' "$results" | sort | tr -s ' \n' ' ')
			if [ -z "$first_mode" ]; then
				first_mode=$mode first=$facts agreeing=$mode
			elif [ "$facts" = "$first" ]; then
				agreeing="$agreeing,$mode"
			else
				disagreeing="$disagreeing $mode:$facts"
			fi
		done
		if [ -n "$disagreeing" ]; then
			record "$kernel" modes "$test" FAIL "$agreeing:$first vs$disagreeing"
		elif [ "$agreeing" != "$first_mode" ]; then
			record "$kernel" modes "$test" PASS "$agreeing agree"
		fi
	done
}

for kernel in "${kernels[@]}"; do
	log=$CACHE/logs/$kernel.log
	results=$WORK/$kernel.results
	echo "vmtest: booting $kernel ($(basename "$(cat "$CACHE/kernels/$kernel/deb")" .deb)); console log: $log"
	vm_start=$SECONDS
	# The rest of the suite runs on the last (newest) kernel only.
	rest=$FULL
	[ "$kernel" = "${kernels[-1]}" ] && rest=1
	append="vmtest_kernel=$kernel vmtest_modes=$(IFS=,; echo "${modes[*]}") vmtest_run=$run vmtest_per_mode=$PER_MODE vmtest_per_kernel=$PER_KERNEL"
	append="$append vmtest_rest=$rest vmtest_host_only=$HOST_ONLY vmtest_test_timeout=$TEST_TIMEOUT"
	status=0
	qemu_run "$kernel" "$VM_TIMEOUT" "$results" "$ACCEL" "$append" 2>&1 | tr -d '\r' >"$log" || status=$?
	touch "$results"
	tr -d '\r' <"$results" >"$results.txt"

	while read -r _ k mode case status_word detail; do
		record "$k" "$mode" "$case" "$status_word" "$detail"
	done < <(grep '^VMTEST-RESULT ' "$results.txt")
	check_modes_agree "$kernel" "$results.txt"

	# A test that never reported, a VM that never finished: failures.
	while read -r _ k mode planned; do
		got=$(awk -v m="$mode" '$1 == "VMTEST-RESULT" && $3 == m && $4 != "doctor"' "$results.txt" | wc -l)
		[ "$got" -ge "$planned" ] || record "$k" "$mode" missing-results FAIL "$got of $planned tests reported"
	done < <(grep '^VMTEST-PLAN ' "$results.txt")
	if ! grep -q "^VMTEST-DONE $kernel\$" "$results.txt"; then
		why="the VM stopped before reporting everything (exit status $status)"
		[ "$status" -eq 124 ] && why="the VM did not finish within ${VM_TIMEOUT}s"
		grep -q 'Kernel panic' "$log" && why="kernel panic: $(grep -m1 'Kernel panic' "$log")"
		record "$kernel" - vm FAIL "$why; see $log"
	fi
	modes_ran=$(sed -n "s/^VMTEST-MODES $kernel //p" "$results.txt")
	echo "vmtest: $kernel: modes run: ${modes_ran:-none}; $((SECONDS - vm_start))s"
done

if [ ${#failures[@]} -gt 0 ]; then
	echo "vmtest: failures:"
	printf '  %s\n' "${failures[@]}"
fi
echo "vmtest: $(printf '%dm%02ds' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60))) in all; console logs in $CACHE/logs"
echo "vmtest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
