#!/usr/bin/env bash
# vmtest.sh: prove oomtrace on Debian's own kernels, booted under qemu.
#
# The development machine's kernel allows only tracepoints, and a global OOM
# there would kill whatever the kernel picks. In a VM every attach mode
# works and every kind of OOM can be caused: global, sysrq-f, cpuset and
# mempolicy on a guest with two NUMA nodes, memory.oom.group. Each kernel
# boots a busybox initramfs holding a static oomtrace and the e2e test
# binary, built for the kernel's architecture (x86-64 guests under
# qemu-system-x86_64, arm64 ones under qemu-system-aarch64); vmtest/init
# runs the tests in each attach mode and reports back on a channel of its
# own, and this script turns that into PASS and FAIL lines.
#
# Usage: ./vmtest.sh [--kernel LABEL]... [--arch amd64|arm64]...
#                    [--mode fentry|kprobe|tracepoint]... [--run REGEX] [--full]
#
# LABEL is a row of the kernel table below (5.10, 6.1, 6.12, 7.2, 7.3,
# 6.12-arm64, 7.3-arm64); --arch keeps the kernels of an architecture.
# doctor's agreement with what attaches is checked in every mode on every
# kernel. The OOM cases (the VM-only tests and the e2e tests of a leaf and a
# parent limit) run in every mode (on kernels whose plan is "classes", one
# case per class of OOM does); exit causes, one kill per multi-threaded
# victim, reclaim, attribution and the agent on every kernel in the first
# mode; the rest of the e2e suite on the newest kernel of each architecture
# chosen, in the first mode. --full runs every test in every mode on every
# kernel (about three times as long).
# --run keeps the tests matching REGEX.
#
# Environment:
#   OOMTRACE_VMTEST_CACHE  kernel packages, busybox and apt state
#                          (default ~/.cache/oomtrace-vmtest; logs/ holds each
#                          kernel's console log of the last run)
#   OOMTRACE_VMTEST_ACCEL  auto (KVM if a guest boots with it, else TCG), kvm or tcg
#   OOMTRACE_VMTEST_JOBS   guests run at once (default 2: under emulation a
#                          guest leaves the host's CPUs idle while its
#                          tests wait, e.g. for the kernel's OOM report
#                          rate limit)
set -euo pipefail

cd "$(dirname "$0")"

# label  architecture  Debian suite  meta-package naming the newest kernel
# of that series (cloud kernels: small, and everything the guest needs is
# built in)  plan. The label without its -ARCH suffix is the series: should
# the meta-package move on to a newer series, the newest package of the
# labelled series in the suite is taken instead. Oldest first within an
# architecture: the last of each runs the whole suite. The plan says which
# cases run in every mode: "all" the OOM cases below, "classes" one case of
# each class of OOM (the others in the first mode only).
KERNEL_TABLE="
5.10       amd64 bullseye         linux-image-cloud-amd64      all
6.1        amd64 bookworm         linux-image-cloud-amd64      all
6.12       amd64 bookworm         linux-image-6.12-cloud-amd64 all
7.2        amd64 forky            linux-image-cloud-amd64      all
7.3        amd64 trixie-backports linux-image-cloud-amd64      all
6.12-arm64 arm64 trixie           linux-image-cloud-arm64      classes
7.3-arm64  arm64 trixie-backports linux-image-cloud-arm64      all
"
ALL_KERNELS=$(awk 'NF {printf "%s ", $1}' <<<"$KERNEL_TABLE")
ALL_ARCHES="amd64 arm64"
ALL_MODES="fentry kprobe tracepoint"

# Guest size: 2 vCPUs, and little RAM so that global OOMs come quickly, in
# two NUMA nodes so that cpuset and mempolicy OOMs can be confined to one.
GUEST_MIB_PER_NODE=192
# Under TCG every tracer start verifies the BPF programs at emulated speed
# (a few seconds from start to attached, on 5.10 as on 7.3):
# the whole suite in every mode on every kernel would take hours, so only
# the OOM cases run everywhere.
PER_MODE='^(TestVM.*|TestPlainKill|TestParentLimit)$'
# The "classes" plan: a leaf and a parent memcg limit, a global, sysrq-f,
# memory.oom.group, cpuset and mempolicy OOM in every mode; the rest of
# PER_MODE (oom_score_adj extremes, memory.max written below usage) in the
# first mode, with PER_KERNEL.
PER_MODE_CLASSES='^(TestPlainKill|TestParentLimit|TestVMGlobalOOM|TestVMSysrqKill|TestVMOOMGroup|TestVMCpusetOOM|TestVMMempolicyOOM)$'
# Cases whose hooks do not depend on the attach mode (signals, exits,
# reclaim, the threads of a victim the kernel marks: the same tracepoint
# programs in every mode) or that read cgroup v2 (attribution, the agent)
# run on every kernel, in the first mode.
# Whether doctor agrees with what attaches is checked by the guest's init
# in every mode, before the tests.
PER_KERNEL='^(TestExitCauses|TestOneKillPerKilledProcess|TestSignalFromPodContainer|TestKubernetesAttribution|TestServeMetrics|TestReclaimEvents|TestRemovedCgroupHistogramFreed)$'
FULL=0
# Tests left out of the guest's plan, which the host's make test runs: they
# hold oomtrace against tools of the host (perf record, a Prometheus server,
# a browser, util-linux's dmesg, setpriv and unshare), read only the repository's kernel logs or
# captures, or measure the agent's memory over 1,000 kills (minutes under
# emulation), not a kernel's behaviour, or need a disk filesystem's page
# cache, which the guest's initramfs has not. The guest's own kernel log is still given to
# explain after every kill a guest test causes (checkKill). A test that skips
# itself in the guest fails.
HOST_ONLY='^(TestPerfScriptLog|TestPrometheusScrapesServe|TestHTMLReportInBrowser|TestServeChurn|TestRuntime.*|TestImage.*|TestServeTLS.*|TestExplainLogs|TestFilterKeepsKillsWithoutCgroup|TestReportAndGateOfKernelLog|TestExplainAgreesWithTrace|TestReclaimHistogramsFollowATask|TestGateSkippedRunsTheRulesRead|TestHTMLReportOntoWhatIsThere|TestGateJUnitOfBadRules|TestOutputIsNotAnInput|TestReadingCommandsUsageErrors|TestOutputLinksRefused|TestDoctorWithoutBPF|TestExitsWithoutTracefs)$'
TEST_TIMEOUT=180 # seconds per test process in the guest
VM_TIMEOUT=2400  # seconds per VM: a hang is a failure, not a wait

CACHE=${OOMTRACE_VMTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oomtrace-vmtest}
ACCEL=${OOMTRACE_VMTEST_ACCEL:-auto}
JOBS=${OOMTRACE_VMTEST_JOBS:-2}

usage() {
	sed -n '/^# Usage:/,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit "${1:-0}"
}

die() {
	echo "vmtest: $*" >&2
	exit 1
}

kernels=()
arches=()
modes=()
run=.
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) [ $# -ge 2 ] || usage 2; kernels+=("$2"); shift 2 ;;
	--arch) [ $# -ge 2 ] || usage 2; arches+=("$2"); shift 2 ;;
	--mode) [ $# -ge 2 ] || usage 2; modes+=("$2"); shift 2 ;;
	--run) [ $# -ge 2 ] || usage 2; run=$2; shift 2 ;;
	--full) PER_MODE=. FULL=1; shift ;;
	-h | --help) usage 0 ;;
	*) echo "vmtest: unknown argument $1" >&2; usage 2 ;;
	esac
done
# kernel_field LABEL N: field N of LABEL's row in the kernel table.
kernel_field() {
	awk -v k="$1" -v n="$2" '$1 == k {print $n}' <<<"$KERNEL_TABLE"
}

[ ${#modes[@]} -gt 0 ] || read -r -a modes <<<"$ALL_MODES"
for k in "${kernels[@]}"; do
	[[ " $ALL_KERNELS" == *" $k "* ]] || die "unknown kernel $k (known: $ALL_KERNELS)"
done
for a in "${arches[@]}"; do
	[[ " $ALL_ARCHES " == *" $a "* ]] || die "unknown architecture $a (known: $ALL_ARCHES)"
done
# The kernels chosen, in the table's order: named with --kernel, and of an
# architecture named with --arch (all of them when neither is given).
chosen=()
for k in $ALL_KERNELS; do
	if [ ${#kernels[@]} -gt 0 ] && [[ " ${kernels[*]} " != *" $k "* ]]; then continue; fi
	if [ ${#arches[@]} -gt 0 ] && [[ " ${arches[*]} " != *" $(kernel_field "$k" 2) "* ]]; then continue; fi
	chosen+=("$k")
done
[ ${#chosen[@]} -gt 0 ] || die "no kernel matches --kernel ${kernels[*]} and --arch ${arches[*]}"
kernels=("${chosen[@]}")
used_arches=$(for k in "${kernels[@]}"; do kernel_field "$k" 2; done | sort -u | tr '\n' ' ')
for m in "${modes[@]}"; do
	grep -qw -- "$m" <<<"$ALL_MODES" || die "unknown mode $m (known: $ALL_MODES)"
done
case "$run" in *[[:space:]]*) die "--run: the regex goes on the kernel command line and may hold no spaces" ;; esac
case "$ACCEL" in auto | kvm | tcg) ;; *) die "OOMTRACE_VMTEST_ACCEL=$ACCEL: want auto, kvm or tcg" ;; esac
case "$JOBS" in '' | *[!0-9]* | 0) die "OOMTRACE_VMTEST_JOBS=$JOBS: want a number of guests, 1 or more" ;; esac

start=$SECONDS

# ---------------------------------------------------------------- host tools

# qemu's system emulator for an architecture.
qemu_for() {
	case "$1" in
	amd64) echo qemu-system-x86_64 ;;
	arm64) echo qemu-system-aarch64 ;;
	esac
}

# CI runs this as root on a fresh Debian machine: install what is missing.
install_host_tools() {
	local need=()
	[[ " $used_arches" == *" amd64 "* ]] && ! command -v qemu-system-x86_64 >/dev/null && need+=(qemu-system-x86)
	[[ " $used_arches" == *" arm64 "* ]] && ! command -v qemu-system-aarch64 >/dev/null && need+=(qemu-system-arm)
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
HOST_ARCH=$(dpkg --print-architecture)

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

# apt_for SUITE ARCH ARGS...: apt-get or apt-cache (first of ARGS) with a
# private configuration for SUITE's packages of ARCH: its own sources list,
# lists and cache under $CACHE/apt/SUITE-ARCH. The machine's own sources,
# state and architectures are never touched.
apt_for() {
	local suite=$1 arch=$2 tool=$3 dir=$CACHE/apt/$1-$2
	shift 3
	"$tool" \
		-o Dir::Etc::sourcelist="$dir/sources.list" \
		-o Dir::Etc::sourceparts="$dir/sources.list.d" \
		-o Dir::Etc::preferences="$dir/preferences" \
		-o Dir::Etc::preferencesparts="$dir/preferences.d" \
		-o Dir::State="$dir/state" \
		-o Dir::State::status="$dir/status" \
		-o Dir::Cache="$dir/cache" \
		-o APT::Architecture="$arch" \
		-o APT::Architectures="$arch" \
		-o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
		-o APT::Sandbox::User=root \
		"$@"
}

# suite_sources SUITE: SUITE's lines for a sources list. A stable release
# comes with its -updates and -security suites; unstable and backports
# suites have none.
suite_sources() {
	local suite=$1 keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	echo "deb [signed-by=$keyring] $ARCHIVE $suite main"
	case "$suite" in
	sid | unstable | *-backports) ;;
	*)
		echo "deb [signed-by=$keyring] $ARCHIVE $suite-updates main"
		echo "deb [signed-by=$keyring] $SECURITY $suite-security main"
		;;
	esac
}

# apt_prepare SUITE ARCH: write the private sources of SUITE for ARCH and
# refresh its package lists once a day.
apt_prepare() {
	local suite=$1 arch=$2 dir=$CACHE/apt/$1-$2
	mkdir -p "$dir"/{sources.list.d,preferences.d,state/lists/partial,cache/archives/partial}
	touch "$dir/status"
	suite_sources "$suite" >"$dir/sources.list.new"
	if ! cmp -s "$dir/sources.list.new" "$dir/sources.list"; then
		mv "$dir/sources.list.new" "$dir/sources.list"
		rm -f "$dir/updated"
	fi
	rm -f "$dir/sources.list.new"
	if [ -z "$(find "$dir/updated" -mmin -1440 2>/dev/null)" ]; then
		echo "vmtest: apt-get update for $suite $arch ($ARCHIVE)"
		apt_for "$suite" "$arch" apt-get -qq update && touch "$dir/updated"
	fi
}

# fetch_deb SUITE ARCH PACKAGE: download PACKAGE's candidate into
# $CACHE/debs unless it is there already, and print the .deb's path.
fetch_deb() {
	local suite=$1 arch=$2 pkg=$3 version file
	version=$(apt_for "$suite" "$arch" apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p')
	[ -n "$version" ] || return 1
	file=$CACHE/debs/${pkg}_${version//:/%3a}_$arch.deb
	if [ ! -f "$file" ]; then
		echo "vmtest: downloading $pkg $version ($arch)" >&2
		(cd "$CACHE/debs" && apt_for "$suite" "$arch" apt-get -qq download "$pkg" >&2) || return 1
	fi
	echo "$file"
}

# kernel_package SUITE ARCH META SERIES: the kernel image package of SERIES
# (5.10, 7.3, ...) in SUITE: the one META depends on, or if META has moved
# on to another series, the newest of SERIES in SUITE.
kernel_package() {
	local suite=$1 arch=$2 meta=$3 series=$4 pkg
	pkg=$(apt_for "$suite" "$arch" apt-cache depends "$meta" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}')
	case "$pkg" in
	linux-image-"$series".* | linux-image-"$series"-*) echo "$pkg" ;;
	*)
		apt_for "$suite" "$arch" apt-cache pkgnames "linux-image-$series." 2>/dev/null |
			grep -E "^linux-image-${series//./\\.}\.[0-9].*-cloud-$arch\$" | sort -V | tail -1
		;;
	esac
}

# fetch_kernel LABEL: unpack the newest kernel of the series into
# $CACHE/kernels/LABEL (vmlinuz, config, the packages' names); with no
# archive at hand, keep what a previous run unpacked. Debian's kernel
# image packages hold /boot/vmlinuz-* and /boot/config-* up to 6.x; from
# the 7.x packages on, linux-image-VERSION is empty and depends on
# linux-binary-VERSION (the image, in /boot or /usr/lib/modules/VERSION)
# and linux-base-VERSION (its config): those are fetched too.
fetch_kernel() {
	local label=$1 arch suite meta pkg abi deb debs=() dir=$CACHE/kernels/$1 dep image config
	read -r _ arch suite meta <<<"$(awk -v k="$label" '$1 == k' <<<"$KERNEL_TABLE")"
	pkg=$(kernel_package "$suite" "$arch" "$meta" "${label%-"$arch"}")
	if [ -n "$pkg" ] && deb=$(fetch_deb "$suite" "$arch" "$pkg"); then
		debs=("$deb")
		abi=${pkg#linux-image-}
		for dep in $(apt_for "$suite" "$arch" apt-cache depends "$pkg" 2>/dev/null |
			awk -v abi="$abi" '$1 == "Depends:" && ($2 == "linux-binary-" abi || $2 == "linux-base-" abi) {print $2}'); do
			deb=$(fetch_deb "$suite" "$arch" "$dep") || die "cannot fetch $dep, which $pkg depends on"
			debs+=("$deb")
		done
		if [ "$(cat "$dir/debs" 2>/dev/null)" != "${debs[*]}" ]; then
			rm -rf "$dir" && mkdir -p "$dir/x"
			for deb in "${debs[@]}"; do dpkg-deb -x "$deb" "$dir/x"; done
			image=$(find "$dir/x" -type f \( -path "$dir/x/boot/vmlinuz-*" -o -path "$dir/x/usr/lib/modules/*/vmlinuz" \) -print -quit)
			config=$(find "$dir/x" -type f \( -path "$dir/x/boot/config-*" -o -path "$dir/x/usr/lib/modules/*/config" \) -print -quit)
			[ -n "$image" ] && [ -n "$config" ] || die "no vmlinuz or config in ${debs[*]}"
			mv "$image" "$dir/vmlinuz"
			mv "$config" "$dir/config"
			rm -rf "$dir/x"
			echo "${debs[*]}" >"$dir/debs"
			echo "$pkg" >"$dir/package"
		fi
	elif [ -f "$dir/vmlinuz" ]; then
		echo "vmtest: cannot resolve $meta in $suite ($arch); using the cached $(cat "$dir/package")" >&2
	else
		die "cannot fetch the $label kernel ($meta from $suite, $arch)"
	fi
	# oomtrace needs BTF and the guest has no modules: check the config.
	local opts="DEBUG_INFO_BTF BPF_SYSCALL MEMCG CPUSETS NUMA MAGIC_SYSRQ BLK_DEV_INITRD DEVTMPFS"
	case "$arch" in
	amd64) opts="$opts SERIAL_8250_CONSOLE" ;;
	# The console is the virt machine's PL011, the report channel a
	# virtio console on PCI; oomtrace's BPF side assumes 4 KiB pages.
	arm64) opts="$opts SERIAL_AMBA_PL011_CONSOLE PCI_HOST_GENERIC VIRTIO_PCI VIRTIO_CONSOLE OF_NUMA ARM64_4K_PAGES" ;;
	esac
	for opt in $opts; do
		grep -qx "CONFIG_$opt=y" "$dir/config" || die "the $label kernel lacks CONFIG_$opt=y (built in)"
	done
}

mkdir -p "$CACHE/debs" "$CACHE/logs"
exec 9>"$CACHE/lock"
flock 9 # one run at a time per cache: apt state and kernels are shared
# Every kernel's suite for its architecture, and bookworm for busybox: the
# guests' own and the host's (whose cpio writes the initramfs).
suite_arches=$({
	for k in "${kernels[@]}"; do echo "$(kernel_field "$k" 3) $(kernel_field "$k" 2)"; done
	for a in $used_arches $HOST_ARCH; do echo "bookworm $a"; done
} | sort -u)
while read -r suite arch; do
	apt_prepare "$suite" "$arch" || echo "vmtest: apt-get update for $suite $arch failed; trying with what is cached" >&2
done <<<"$suite_arches"
for k in "${kernels[@]}"; do
	fetch_kernel "$k"
done
# busybox_deb ARCH: bookworm's static busybox for ARCH.
busybox_deb() {
	fetch_deb bookworm "$1" busybox-static || find "$CACHE/debs" -name "busybox-static_*_$1.deb" | sort | tail -1
}

# ------------------------------------------------------------------ initramfs

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT # until the guests start (see kill_tree)

# The host's static busybox writes the archives, as root's.
host_busybox=$(busybox_deb "$HOST_ARCH") || die "cannot fetch busybox-static for $HOST_ARCH"
dpkg-deb -x "$host_busybox" "$WORK/host-busybox"
cpio_tool="$WORK/host-busybox/bin/busybox cpio"

# One initramfs per architecture: the guest has no Go toolchain and no
# libc, so everything is static and built for the guest's GOARCH.
for arch in $used_arches; do
	root=$WORK/root-$arch
	mkdir -p "$root"/{bin,dev,proc,sys,tmp}
	deb=$(busybox_deb "$arch") || die "cannot fetch busybox-static for $arch"
	dpkg-deb -x "$deb" "$WORK/busybox-$arch"
	cp "$WORK/busybox-$arch/bin/busybox" "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"
	cp vmtest/init "$root/init"
	chmod 755 "$root/init"
	# Only a vmtest guest has this file: the VM-only tests refuse to run without it.
	echo "vmtest guest: global OOMs allowed here" >"$root/oomtrace-vmtest-guest"
	echo "vmtest: building oomtrace and the e2e tests for $arch"
	CGO_ENABLED=0 GOARCH=$arch go build -trimpath -o "$root/oomtrace" ./cmd/oomtrace
	CGO_ENABLED=0 GOARCH=$arch go test -c -tags vmtest -trimpath -o "$root/e2e.test" ./e2e
	(cd "$root" && find . | $cpio_tool -o -H newc -R 0:0 2>/dev/null) | gzip -1 >"$WORK/initrd-$arch.gz"
done

# ----------------------------------------------------------------------- qemu

# qemu_run LABEL TIMEOUT RESULTS-FILE ACCEL EXTRA-APPEND: boot LABEL's kernel
# with its architecture's initramfs; the console goes to stdout, the report
# channel to RESULTS-FILE. Both machines have 2 vCPUs and two NUMA nodes of
# GUEST_MIB_PER_NODE, one vCPU each.
qemu_run() {
	local label=$1 limit=$2 results=$3 accel=$4 append=$5 arch cpu=max node_mib=$GUEST_MIB_PER_NODE machine
	arch=$(kernel_field "$label" 2)
	[ "$accel" = kvm ] && cpu=host
	case "$arch" in
	amd64)
		# Emulated x86-64 guests run their two vCPUs in one host thread.
		# With a thread per vCPU (qemu 7.2's default), a vCPU can run
		# kernel text another vCPU has just rewritten in its old form: an
		# int3 the kernel puts in while it patches a static branch, such
		# as a tracepoint's when a tracer attaches or detaches, is hit
		# after the patch is done. Toggling signal_generate in tracefs
		# while the other vCPU sends signals, no tracer running, oopsed
		# Debian's 6.12, 7.2 and 7.3 at the jump label in
		# __send_signal_locked in every boot (within 310 toggles) and
		# hung 5.10 in text_poke_bp's IPI; in one thread each of the four
		# took 800 to 960 toggles and over 5 million signals in five
		# minutes without either. arm64 guests, which patch without a
		# trap, took 1,773 toggles with a thread per vCPU without one.
		[ "$accel" = tcg ] && accel=tcg,thread=single
		# The report channel is the second serial port (ttyS1).
		machine=(-machine pc -accel "$accel" -cpu "$cpu" -smp 2,sockets=2,cores=1,threads=1
			-serial stdio -serial "file:$results")
		append="console=ttyS0 $append vmtest_report=/dev/ttyS1"
		;;
	arm64)
		# The virt machine has one serial port (ttyAMA0, the console): the
		# report channel is a virtio console (hvc0). Pointer
		# authentication with qemu's own algorithm instead of the
		# architected one spares emulated time.
		[ "$accel" = kvm ] || cpu=max,pauth-impdef=on
		machine=(-machine virt -accel "$accel" -cpu "$cpu" -smp 2
			-serial stdio
			-device virtio-serial-pci -chardev "file,id=report,path=$results" -device virtconsole,chardev=report)
		append="console=ttyAMA0 $append vmtest_report=/dev/hvc0"
		;;
	esac
	timeout --foreground -k 10 "$limit" "$(qemu_for "$arch")" \
		"${machine[@]}" -m $((2 * node_mib))M \
		-object memory-backend-ram,id=mem0,size=${node_mib}M \
		-object memory-backend-ram,id=mem1,size=${node_mib}M \
		-numa node,nodeid=0,cpus=0,memdev=mem0 \
		-numa node,nodeid=1,cpus=1,memdev=mem1 \
		-kernel "$CACHE/kernels/$label/vmlinuz" -initrd "$WORK/initrd-$arch.gz" \
		-append "quiet panic=-1 softlockup_panic=1 $append" \
		-nodefaults -display none -monitor none -no-reboot </dev/null
}

# KVM is used for guests of the host's architecture when one really boots
# with it: on some hosts /dev/kvm exists but qemu aborts or the guest dies
# of an emulation error. Guests of another architecture always run under
# TCG.
host_kvm=tcg
if [ "$ACCEL" != tcg ]; then
	for k in "${kernels[@]}"; do
		[ "$(kernel_field "$k" 2)" = "$HOST_ARCH" ] || continue
		if [ "$ACCEL" = kvm ]; then
			host_kvm=kvm
		elif [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
			qemu_run "$k" 60 "$WORK/probe" kvm vmtest_probe=1 >"$WORK/probe.log" 2>&1 || true
			grep -q VMTEST-UP "$WORK/probe" 2>/dev/null && host_kvm=kvm
		fi
		break
	done
fi
# accel_for LABEL: kvm or tcg for LABEL's kernel.
accel_for() {
	if [ "$(kernel_field "$1" 2)" = "$HOST_ARCH" ]; then echo "$host_kvm"; else echo tcg; fi
}
echo "vmtest: kernels ${kernels[*]}; modes ${modes[*]}; qemu with $host_kvm for $HOST_ARCH guests, tcg for others"

# ------------------------------------------------------------------ the runs

# record REPORT KERNEL MODE CASE STATUS DETAIL: append one result to REPORT.
record() {
	local report=$1 kernel=$2 mode=$3 case=$4 status=$5 detail=${6:-}
	printf '%s\t%s\t%s\t%s\t%s\n' "$status" "$kernel" "$mode" "$case" "$detail" >>"$report"
}

# check_modes_agree REPORT KERNEL RESULTS: every mode must report the same
# class, victim and OOM cgroup in the same test. Compare the facts of each
# test across the modes that got as far as recording them.
check_modes_agree() {
	local report=$1 kernel=$2 results=$3 test mode facts first first_mode agreeing disagreeing
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
			record "$report" "$kernel" modes "$test" FAIL "$agreeing:$first vs$disagreeing"
		elif [ "$agreeing" != "$first_mode" ]; then
			record "$report" "$kernel" modes "$test" PASS "$agreeing agree"
		fi
	done
}

# mmss SECONDS: 4m07s.
mmss() {
	printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

# newest_of ARCH: the last kernel of ARCH chosen, which runs the rest of
# the suite.
newest_of() {
	local k newest=""
	for k in "${kernels[@]}"; do [ "$(kernel_field "$k" 2)" = "$1" ] && newest=$k; done
	echo "$newest"
}

# alternatives '^(A|B)$': A|B.
alternatives() {
	local r=${1#^(}
	echo "${r%)\$}"
}

# run_kernel KERNEL: boot KERNEL's guest and write its results to
# $WORK/KERNEL.report, one tab-separated line each (status, kernel, mode,
# case, detail), and its line of the summary to $WORK/KERNEL.summary. Runs
# in a subshell of its own, beside other guests.
run_kernel() {
	local kernel=$1 log=$CACHE/logs/$1.log results=$WORK/$1.results report=$WORK/$1.report
	local arch rest=$FULL per_mode=$PER_MODE per_kernel=$PER_KERNEL vm_start=$SECONDS status=0 append why modes_ran
	arch=$(kernel_field "$kernel" 2)
	: >"$report"
	[ "$kernel" = "$(newest_of "$arch")" ] && rest=1
	if [ "$(kernel_field "$kernel" 5)" = classes ] && [ "$FULL" = 0 ]; then
		per_kernel="^($(alternatives "$PER_KERNEL")|$(alternatives "$PER_MODE"))\$"
		per_mode=$PER_MODE_CLASSES
	fi
	append="vmtest_kernel=$kernel vmtest_modes=$(IFS=,; echo "${modes[*]}") vmtest_run=$run vmtest_per_mode=$per_mode vmtest_per_kernel=$per_kernel"
	append="$append vmtest_rest=$rest vmtest_host_only=$HOST_ONLY vmtest_test_timeout=$TEST_TIMEOUT"
	qemu_run "$kernel" "$VM_TIMEOUT" "$results" "$(accel_for "$kernel")" "$append" 2>&1 | tr -d '\r' >"$log" || status=$?
	touch "$results"
	tr -d '\r' <"$results" >"$results.txt"

	while read -r _ k mode case status_word detail; do
		record "$report" "$k" "$mode" "$case" "$status_word" "$detail"
	done < <(grep '^VMTEST-RESULT ' "$results.txt")
	check_modes_agree "$report" "$kernel" "$results.txt"

	# A test that never reported, a VM that never finished: failures.
	while read -r _ k mode planned; do
		got=$(awk -v m="$mode" '$1 == "VMTEST-RESULT" && $3 == m && $4 != "doctor"' "$results.txt" | wc -l)
		[ "$got" -ge "$planned" ] || record "$report" "$k" "$mode" missing-results FAIL "$got of $planned tests reported"
	done < <(grep '^VMTEST-PLAN ' "$results.txt")
	if ! grep -q "^VMTEST-DONE $kernel\$" "$results.txt"; then
		why="the VM stopped before reporting everything (exit status $status)"
		[ "$status" -eq 124 ] && why="the VM did not finish within ${VM_TIMEOUT}s"
		grep -q 'Kernel panic' "$log" && why="kernel panic: $(grep -m1 'Kernel panic' "$log")"
		record "$report" "$kernel" - vm FAIL "$why; see $log"
	fi
	modes_ran=$(sed -n "s/^VMTEST-MODES $kernel //p" "$results.txt")
	printf '%-10s %-5s %-38s %-7s %-26s %3d passed %2d failed  %s\n' "$kernel" "$arch" "$(cat "$CACHE/kernels/$kernel/package")" \
		"$(kernel_field "$kernel" 5)" "${modes_ran:-none}" "$(grep -c '^PASS' "$report")" "$(grep -vc '^PASS' "$report")" \
		"$(mmss $((SECONDS - vm_start)))" >"$WORK/$kernel.summary"
}

# kill_tree PID: end PID and every process below it (the guests of a run
# that is stopped early).
kill_tree() {
	local child
	for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$child"; done
	kill "$1" 2>/dev/null || true
}
trap 'for job in $(jobs -p); do kill_tree "$job"; done; rm -rf "$WORK"' EXIT

passed=0
failed=0
failures=()
shown=()
# show_finished: print the results of every guest that finished and was
# not shown yet, and count them.
show_finished() {
	local kernel status k mode case detail
	for kernel in "${kernels[@]}"; do
		[ -f "$WORK/$kernel.summary" ] || continue
		[[ " ${shown[*]} " == *" $kernel "* ]] && continue
		shown+=("$kernel")
		echo "vmtest: $kernel finished"
		while IFS=$'\t' read -r status k mode case detail; do
			if [ "$status" = PASS ]; then
				passed=$((passed + 1))
			else
				failed=$((failed + 1))
				failures+=("$k $mode $case: $detail")
			fi
			printf '  %-4s %-10s %-10s %s %s\n' "$status" "$k" "$mode" "$case" "$detail"
		done <"$WORK/$kernel.report"
		echo "vmtest: $(cat "$WORK/$kernel.summary")"
	done
}

# The guests that run the most start first, so that the last to start are
# short: the newest of each architecture (the rest of the suite), then the
# arm64 ones (slower to emulate), then the oldest first.
order=()
for a in $used_arches; do order+=("$(newest_of "$a")"); done
for k in "${kernels[@]}"; do
	[[ " ${order[*]} " == *" $k "* ]] || [ "$(kernel_field "$k" 2)" != arm64 ] || order+=("$k")
done
for k in "${kernels[@]}"; do [[ " ${order[*]} " == *" $k "* ]] || order+=("$k"); done

running=0
for kernel in "${order[@]}"; do
	if [ "$running" -ge "$JOBS" ]; then
		wait -n || true
		running=$((running - 1))
		show_finished
	fi
	echo "vmtest: booting $kernel ($(cat "$CACHE/kernels/$kernel/package"), $(kernel_field "$kernel" 2), $(accel_for "$kernel"), $(kernel_field "$kernel" 5) in every mode); console log: $CACHE/logs/$kernel.log"
	run_kernel "$kernel" &
	running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
	wait -n || true
	running=$((running - 1))
	show_finished
done

if [ ${#failures[@]} -gt 0 ]; then
	echo "vmtest: failures:"
	printf '  %s\n' "${failures[@]}"
fi
echo "vmtest: per kernel (label, architecture, package, cases in every mode, modes run, results, time):"
for kernel in "${kernels[@]}"; do
	echo "  $(cat "$WORK/$kernel.summary")"
done
echo "vmtest: $(mmss $((SECONDS - start))) in all, $JOBS guests at a time; console logs in $CACHE/logs"
echo "vmtest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
