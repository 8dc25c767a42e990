#!/usr/bin/env bash
# vhost-java benchmark suite: one command, bounded in time, stops by itself.
#
#   vhost-benchmarks/bench.sh [--quick | --full | --h2h [ROUNDS]] [--out DIR] [--jfr] [--no-build]
#                             [--regimes pinned,unpinned]
#
#   --quick   (default) pinned regime only, the five operations, FFM transport, virtual-thread caller, sample-time
#             mode; net data plane at 64 B, one run per back-end (front-end CPU 1, back-end CPU 0; ours without
#             busy polling); about 75 s
#   --full    pinned (taskset -c 0): both transports, platform and virtual callers, throughput and sample-time
#             modes, blk at depth 1 and 16; unpinned: the same with FFM and sample-time only; then 10, 100 and
#             1000 idle sessions (FFM) and 1000 (junixsocket), unpinned; in both regimes the net data plane (DPDK
#             virtio-user txonly into our net device, without and with a 50 us busy-poll window, and into DPDK vhost,
#             64 and 1500 B, one run each); < 10 min on 2 cores
#   --h2h     head to head with the Rust anchor (needs ../shared/perf/rust), pinned: ROUNDS (default 3) interleaved
#             rounds of the Rust anchor (run.sh -n 1 -p) and our SwitchCount, one run per operation, plus one run
#             of the Rust binary per round-trip operation under /usr/bin/time for CPU per round trip; < 5 min
#   --jfr     also record a JFR file per JMH fork (JMH -prof jfr, CPU-time sampler) under DIR/jfr and summarise
#             them in DIR/jfr-summary.md (io.vhost.bench.JfrSummary)
#   --out     run directory (default vhost-benchmarks/target/bench/<UTC time>-<profile>)
#
# What runs, per regime, close together in time: the C floor (src/main/c/vhost_floor.c, built here with gcc), the
# Rust anchor (only when ../shared/perf/rust exists beside the project root, or VHOST_BENCH_SHARED points at a
# shared/ folder; built with its build.sh on first use, before the run's clock starts) and our JMH benchmarks and
# session-scale program. Writes java-*.jsonl, floor-*.jsonl, rust-*.txt, machine.txt, then results.json and results.md
# (printed at the end).
# Needs: JDK 25 (found under /usr/lib/jvm, or VHOST_BENCH_JAVA), gcc, taskset; Maven to build benchmarks.jar when it is
# missing or older than the sources; qemu-storage-daemon for the blk data-plane comparison and dpdk-testpmd (dpdk-dev)
# for the net data plane against DPDK (each skipped with a message without it).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
profile=quick out= jfr= build=auto regimes= rounds=3
while (($#)); do
  case $1 in
    --quick) profile=quick ;;
    --full) profile=full ;;
    --h2h) profile=h2h; if [[ ${2:-} =~ ^[0-9]+$ ]]; then rounds=$2; shift; fi ;;
    --out) out=$2; shift ;;
    --jfr) jfr=1 ;;
    --no-build) build=no ;;
    --regimes) regimes=$2; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ -z $regimes ]]; then
  if [[ $profile == full ]]; then regimes=pinned,unpinned; else regimes=pinned; fi
fi
log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# ---- JDK 25: JMH and our code need it; Maven may run on an older default JDK.
java_version() { "$1" -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print v[1]; exit}'; }
JAVA=${VHOST_BENCH_JAVA:-}
if [[ -z $JAVA ]]; then
  for cand in "${JAVA_HOME:-}/bin/java" $(ls -d /usr/lib/jvm/*25* /usr/lib/jvm/*2[6-9]* 2>/dev/null | sed 's|$|/bin/java|'); do
    if [[ -x $cand ]] && (($(java_version "$cand") >= 25)); then JAVA=$cand; break; fi
  done
fi
[[ -n $JAVA && -x $JAVA ]] || { echo "bench.sh: no JDK 25 found under /usr/lib/jvm; set VHOST_BENCH_JAVA=/path/to/java" >&2; exit 1; }

# ---- benchmarks.jar (built when missing or older than any source of the project)
JAR=$HERE/target/benchmarks.jar
if [[ $build != no ]]; then
  if [[ ! -f $JAR ]] || [[ -n $(find "$ROOT"/vhost-*/src/main "$ROOT"/vhost-*/pom.xml "$ROOT"/pom.xml -newer "$JAR" -print -quit 2>/dev/null) ]]; then
    log "building benchmarks.jar (mvn -DskipTests package; not counted in the run time)"
    (cd "$ROOT" && mvn -B -q -DskipTests -pl vhost-benchmarks -am package) >&2
  fi
fi
[[ -f $JAR ]] || { echo "bench.sh: $JAR is missing (run without --no-build)" >&2; exit 1; }

out=${out:-$HERE/target/bench/$(date -u +%Y%m%dT%H%M%SZ)-$profile}
mkdir -p "$out"
out=$(cd "$out" && pwd)
ln -sfn "$out" "$HERE/target/bench/latest" 2>/dev/null || true

# ---- the Rust anchor (outside the project; optional). Its first-use build (about a minute, cargo offline) is set-up,
# like the Maven build above: it happens before the clock starts and its time is logged apart.
SHARED=${VHOST_BENCH_SHARED:-$ROOT/../shared}
RUST=$SHARED/perf/rust
if [[ -x $RUST/run.sh ]]; then
  if [[ ! -x $RUST/bin/vhost-bench-v0.10.0 ]]; then
    log "building the Rust anchor ($RUST/build.sh; not counted in the run time)"
    built=$SECONDS
    "$RUST/build.sh" >"$out/rust-build.log" 2>&1 || { log "Rust anchor build failed, see $out/rust-build.log"; RUST=; }
    log "Rust anchor build took $((SECONDS - built)) s"
  fi
else
  log "no Rust anchor at $RUST: ratios to Rust are left out"
  RUST=
fi
start=$SECONDS

# ---- the C floor
FLOOR=$out/vhost_floor
gcc -O2 -pthread -o "$FLOOR" "$HERE/src/main/c/vhost_floor.c"

if [[ $profile == h2h ]]; then
  [[ -n $RUST ]] || { echo "bench.sh: --h2h needs the Rust anchor (../shared/perf/rust or VHOST_BENCH_SHARED)" >&2; exit 1; }
  {
    echo "date: $(date -u +%FT%TZ)  profile: h2h ($rounds rounds)  regime: pinned (taskset -c 0)"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) vCPU, $(lscpu | sed -n 's/^Hypervisor vendor: *//p') hypervisor"
    echo "kernel: $(uname -r)  java: $("$JAVA" -version 2>&1 | head -1)  rust anchor: $RUST"
    echo "load before: $(cat /proc/loadavg)"
  } >"$out/machine.txt"
  ops=(getFeatures setVringNumAck setVringKickAck setVringKickAckNoReplay setMemTableAck setMemTableAckNoReplay
       setVringNumOneway)
  for ((r = 1; r <= rounds; r++)); do
    log "h2h round $r/$rounds: Rust anchor"
    timeout 120 "$RUST/run.sh" -n 1 -t 2 -w 0.5 -p >>"$out/h2h-rust.txt" 2>&1 || log "Rust anchor failed (status $?)"
    if [[ -x /usr/bin/time ]]; then
      # CPU per round trip of the Rust binary (user / system), to set beside SwitchCount's: one more run per operation
      for rop in get_features set_vring_num_ack set_vring_kick_ack set_mem_table_ack; do
        cpu=$({ /usr/bin/time -f "CPUTIME %U %S" timeout 30 taskset -c 0 "$RUST/bin/vhost-bench-v0.10.0" -w 0.5 -t 2 \
          -o "$rop"; } 2>&1) || true
        rate=$(sed -n 's/^RUST .* rate=\([0-9.]*\).*/\1/p' <<<"$cpu" | head -n 1)
        times=$(sed -n 's/^CPUTIME //p' <<<"$cpu" | head -n 1)
        if [[ -n $rate && -n $times ]]; then
          echo "RUSTCPU op=$rop version=v0.10.0 rate=$rate user_s=${times% *} sys_s=${times#* } seconds=2.5" \
            >>"$out/h2h-rust-cpu.txt"
        else log "Rust CPU run for $rop failed"; fi
      done
    fi
    log "h2h round $r/$rounds: vhost-java (SwitchCount per operation)"
    for op in "${ops[@]}"; do
      n=300000; [[ $op == setMemTable* ]] && n=200000; [[ $op == setVringNumOneway ]] && n=1000000
      line=$(timeout 120 taskset -c 0 "$JAVA" --enable-native-access=ALL-UNNAMED \
        -Djdk.virtualThreadScheduler.parallelism=3 -cp "$JAR" io.vhost.bench.SwitchCount ffm virtual "$n" "$op" \
        2>>"$out/h2h-java.err" | tail -n 1) || true
      if [[ $line == \{* ]]; then echo "{\"round\":$r,${line:1}" >>"$out/h2h-java.jsonl"
      else log "SwitchCount $op failed (see $out/h2h-java.err)"; fi
    done
  done
  echo "load after: $(cat /proc/loadavg)" >>"$out/machine.txt"
  echo "elapsed: $((SECONDS - start)) s" >>"$out/machine.txt"
  "$JAVA" -cp "$JAR" io.vhost.bench.Report "$out"
  log "done in $((SECONDS - start)) s: $out/results.md and results.json"
  cat "$out/results.md"
  exit 0
fi

if [[ $profile == full ]]; then secs=2 warm=0.3 rwarm=0.5 jtimeout=420; else secs=0.5 warm=0.2 rwarm=0.2 jtimeout=80; fi
# Net data plane (NetBench), 3 one-second samples per run, the first dropped, targets: ours, ours with a 50 us busy-poll
# window, DPDK vhost. Full, 1 run per target; pinned: front-end CPU 1 / back-end CPU 0 at 64 and 1500 B (~70 s);
# unpinned: 64 and 1500 B (~35 s). (Both on CPU 0 is left out: two DPDK pollers on one CPU only take turns per time
# slice, and a polling back-end there only takes time from its front-end; NetBench --placements shared=64 runs it.)
# Quick: pinned, front-end CPU 1 / back-end CPU 0, 64 B, one run each of ours (no busy poll) and DPDK (~25 s).
if [[ $profile == full ]]; then nargs="--sizes 64,1500 --runs 1 --samples 2 --busy-poll-us 50" ntimeout=300
  npinned="split=64,1500"
else nargs="--sizes 64 --runs 1 --samples 2" ntimeout=60 npinned="split=64"; fi

{
  echo "date: $(date -u +%FT%TZ)  profile: $profile  regimes: $regimes"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) vCPU, $(lscpu | sed -n 's/^Hypervisor vendor: *//p') hypervisor"
  echo "cpu details: $(lscpu | sed -n 's/^\(Thread(s) per core\|L3 cache\|CPU MHz\|BogoMIPS\): */\1 /p' | paste -sd, -)"
  echo "memory: $(free -m | awk '/^Mem:/ {print $2 " MiB"}')"
  echo "kernel: $(uname -r)  glibc: $(getconf GNU_LIBC_VERSION 2>/dev/null)"
  echo "java: $("$JAVA" -version 2>&1 | head -1)  ($JAVA)"
  echo "gcc: $(gcc --version | head -1)"
  echo "qemu-storage-daemon: $(qemu-storage-daemon --version 2>/dev/null | head -1 || echo absent)"
  echo "dpdk-testpmd: $(dpkg-query -W -f '${Version}' dpdk-dev 2>/dev/null || (command -v dpdk-testpmd >/dev/null && echo present) || echo absent)"
  echo "rust anchor: ${RUST:-absent}"
  echo "load before: $(cat /proc/loadavg)"
} >"$out/machine.txt"

IFS=, read -ra regime_list <<<"$regimes"
for regime in "${regime_list[@]}"; do
  prefix=()
  case $regime in
    pinned) prefix=(taskset -c 0) ;;
    unpinned) ;;
    *) echo "bench.sh: regime $regime is not pinned or unpinned" >&2; exit 2 ;;
  esac
  # The anchors' timed seconds: unpinned figures say where the scheduler put two threads, not how fast they are, so a
  # full run gives them 1 s instead of 2 (12 s of its 10-minute budget)
  asecs=$secs; [[ $profile == full && $regime == unpinned ]] && asecs=1
  log "$regime: C floor"
  # rt --rcvtimeo-us: the same round trip with our brief waits' receive timeout (BriefWait.DEFAULT_MICROS) on both ends;
  # pinned only (unpinned, where the two threads land decides the figure), right after the plain one
  modes=("rt")
  [[ $regime == pinned ]] && modes+=("rt --rcvtimeo-us 4000")
  modes+=("rt --fd" "oneway" "efd")
  for mode in "${modes[@]}"; do
    # shellcheck disable=SC2086
    timeout 30 "${prefix[@]}" "$FLOOR" $mode --seconds "$asecs" --warmup "$warm" >>"$out/floor-$regime.jsonl" \
      || log "C floor $mode failed or timed out (status $?)"
  done
  if [[ -n $RUST ]]; then
    log "$regime: Rust anchor (v0.10.0 and HEAD)"
    pin=(); [[ $regime == pinned ]] && pin=(-p)
    timeout 120 "$RUST/run.sh" -n 1 -t "$asecs" -w "$rwarm" "${pin[@]}" >"$out/rust-$regime.txt" 2>&1 \
      || log "Rust anchor failed, see $out/rust-$regime.txt"
  fi
  log "$regime: vhost-java (JMH $profile profile; JMH output in java-$regime.jmh-*.log)"
  jargs=(--profile "$profile" --regime "$regime" --out "$out/java-$regime.jsonl")
  # Full profile: the whole matrix pinned (the reproducible regime); unpinned, FFM in sample-time mode only (10 min).
  [[ $profile == full && $regime == unpinned ]] && jargs+=(--matrix narrow)
  [[ $regime != "${regime_list[-1]}" ]] && jargs+=(--only control,oneway,kick,blk)
  [[ -n $jfr ]] && jargs+=(--jfr "$out/jfr")
  timeout --kill-after=10 "$jtimeout" "${prefix[@]}" "$JAVA" --enable-native-access=ALL-UNNAMED -cp "$JAR" \
    -Djava.util.logging.SimpleFormatter.format='[bench] %5$s%6$s%n' \
    io.vhost.bench.BenchMain "${jargs[@]}" >&2 || log "vhost-java run ended with status $? (partial results kept)"
  if command -v dpdk-testpmd >/dev/null; then
    log "$regime: net data plane, DPDK virtio-user txonly into our net device and into DPDK vhost (net-$regime.jsonl)"
    # shellcheck disable=SC2086
    timeout --kill-after=10 "$ntimeout" "${prefix[@]}" "$JAVA" --enable-native-access=ALL-UNNAMED -cp "$JAR" \
      -Djava.util.logging.SimpleFormatter.format='[bench] %5$s%6$s%n' \
      io.vhost.bench.NetBench --regime "$regime" --out "$out/net-$regime.jsonl" $nargs \
      $([[ $regime == pinned ]] && echo "--placements $npinned") >&2 \
      || log "net data plane ended with status $? (partial results kept; testpmd logs in $out/net-$regime)"
  else
    log "$regime: net data plane skipped: dpdk-testpmd is not installed (Debian package dpdk-dev)"
  fi
  echo "load after $regime: $(cat /proc/loadavg)" >>"$out/machine.txt"
done
echo "elapsed: $((SECONDS - start)) s" >>"$out/machine.txt"

"$JAVA" -cp "$JAR" io.vhost.bench.Report "$out"
if [[ -n $jfr && -d $out/jfr ]]; then
  timeout 300 "$JAVA" -cp "$JAR" io.vhost.bench.JfrSummary "$out/jfr" >"$out/jfr-summary.md" \
    || log "JFR summary failed (status $?); the recordings are in $out/jfr"
  log "JFR profile per benchmark fork: $out/jfr-summary.md"
fi
log "done in $((SECONDS - start)) s: $out/results.md and results.json"
cat "$out/results.md"
