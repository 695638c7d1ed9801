#!/usr/bin/env bash
# Times every plan-reading command on a fleet-size plan (default 10,000 hosts × 16 egress IPs = 160,000 slices), as a
# user types it: wall clock of the whole process, the median of several runs, each as a ratio to `portshare --version`
# timed in the same rounds (the machine is shared, so absolute times drift; the ratios are what to read).
#
#   bench/fleet-commands.sh [--runs N] [--hosts H] [--egress E] [--bin PATH] [--dir DIR]
#
# --bin     the portshare executable to time (default: ./portshare's build, built first); point it at an older build
#           to get the "before" column.
# --dir     keep the generated spec, plans and raw timings there (default: a temporary directory, removed).
# As root, the whole run happens in a fresh network namespace (ip_local_port_range 1024-65535, the egress IPs on lo,
# a TCP listener), so `connect --plan` really connects; without root that row is skipped.
# Prints a Markdown table on stdout; progress on stderr.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=7 hosts=10000 egress=16 bin="" dir=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --hosts) hosts="$2"; shift 2 ;;
    --egress) egress="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --in-netns) in_netns=1; shift ;;
    *) echo "usage: $0 [--runs N] [--hosts H] [--egress E] [--bin PATH] [--dir DIR]" >&2; exit 2 ;;
  esac
done

if [[ -z "$bin" ]]; then
  "$root/portshare" --version >/dev/null   # builds when sources changed
  bin="$root/artifacts/portshare/PortShare.Cli"
fi
bin="$(realpath "$bin")"

# As root, re-run inside a scratch namespace so `connect` has its addresses, range and listener; always removed.
if [[ $EUID -eq 0 && -z "${in_netns:-}" ]]; then
  ns="psb-fleet-$$"
  ip netns add "$ns"
  trap 'ip netns del "$ns"' EXIT
  ip netns exec "$ns" "$0" --in-netns --runs "$runs" --hosts "$hosts" --egress "$egress" --bin "$bin" ${dir:+--dir "$dir"}
  exit $?
fi

cleanup=()
trap 'for c in "${cleanup[@]}"; do eval "$c"; done' EXIT
if [[ -z "$dir" ]]; then
  dir="$(mktemp -d)"
  cleanup+=('rm -rf "$dir"')
fi
mkdir -p "$dir"
cd "$dir"

egress_ip() { echo "192.0.2.$1"; }
probe_host="h$((hosts / 2))"
probe_egress="$(egress_ip $(( egress < 3 ? egress : 3 )))"

# The spec: H hosts, weights 1-3, one IPv4 next hop each, on E egress IPs sharing ports 1024-65535.
make_spec() {
  local n="$1"
  awk -v hosts="$n" -v egress="$egress" 'BEGIN {
    printf "{\n  \"version\": 1,\n  \"usable_range\": \"1024-65535\",\n  \"egress\": [\n"
    for (e = 1; e <= egress; e++) printf "    { \"address\": \"192.0.2.%d\" }%s\n", e, (e < egress ? "," : "")
    printf "  ],\n  \"hosts\": [\n"
    for (i = 1; i <= hosts; i++)
      printf "    { \"name\": \"h%d\", \"weight\": %d, \"next_hops\": [\"10.%d.%d.%d\"] }%s\n", i, 1 + i % 3, int(i / 65536), int(i / 256) % 256, i % 256, (i < hosts ? "," : "")
    printf "  ]\n}\n"
  }'
}
make_spec "$hosts" > spec.json
make_spec "$((hosts + 1))" > spec-plus-one.json
"$bin" plan new spec.json -o plan.json >/dev/null
slices=$((hosts * egress))
bytes=$(stat -c %s plan.json)

connect_ok=""
if [[ -n "${in_netns:-}" ]]; then
  ip link set lo up
  for e in $(seq 1 "$egress"); do ip addr add "$(egress_ip "$e")/32" dev lo; done
  ip addr add 192.0.2.200/32 dev lo
  sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
  python3 -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("192.0.2.200", 7000)); s.listen(4096)
while True:
    c,_=s.accept(); c.close()' &
  cleanup+=("kill $!")
  sleep 0.3
  connect_ok=1
fi

# name | target ratio | command (run through eval, output discarded).
commands=(
  "--version|—|--version"
  "plan new SPEC -o plan.json|5|plan new spec.json -o new.json"
  "plan new SPEC -o plan.json --json|5|plan new spec.json -o new.json --json"
  "plan update --previous plan.json SPEC+1 -o …|5|plan update --previous plan.json spec-plus-one.json -o next.json"
  "plan validate plan.json|5|plan validate plan.json"
  "plan show plan.json|3|plan show plan.json"
  "plan show plan.json --host $probe_host|3|plan show plan.json --host $probe_host"
  "plan slice plan.json --host $probe_host --egress $probe_egress|2|plan slice plan.json --host $probe_host --egress $probe_egress"
  "host apply plan.json --host $probe_host --dry-run|2|host apply plan.json --host $probe_host --dry-run"
)
if [[ -n "$connect_ok" ]]; then
  commands+=("connect --plan plan.json --host $probe_host --egress $probe_egress …|2|connect --plan plan.json --host $probe_host --egress $probe_egress 192.0.2.200:7000")
fi

now_ns() { date +%s%N; }
: > times.txt
echo "timing ${#commands[@]} commands × $runs runs (bin $bin, $slices slices, $bytes bytes) in $dir" >&2
for ((r = 0; r < runs; r++)); do
  # Rotate the order each round so no command always runs right after the same neighbour.
  for ((k = 0; k < ${#commands[@]}; k++)); do
    i=$(( (k + r) % ${#commands[@]} ))
    IFS='|' read -r name target cmd <<< "${commands[$i]}"
    start=$(now_ns)
    if eval "\"\$bin\" $cmd" >"out.$i.txt" 2>"err.$i.txt"; then status=ok; else status="exit $?"; fi
    end=$(now_ns)
    echo "$i $(( (end - start) / 1000 )) $status" >> times.txt
  done
  echo "  round $((r + 1))/$runs done" >&2
done

median_us() { awk -v i="$1" '$1 == i {print $2}' times.txt | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
base=$(median_us 0)
echo
echo "$hosts hosts × $egress egress IPs ($slices slices); plan file $bytes bytes ($(awk -v b="$bytes" -v s="$slices" 'BEGIN {printf "%.0f", b / s}') bytes per slice); median of $runs runs; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| command | median | × --version | target | met? |"
echo "|---|---:|---:|---:|---|"
for ((i = 0; i < ${#commands[@]}; i++)); do
  IFS='|' read -r name target cmd <<< "${commands[$i]}"
  m=$(median_us "$i")
  failed=$(awk -v i="$i" '$1 == i && $3 != "ok"' times.txt | wc -l)
  ratio=$(awk -v m="$m" -v b="$base" 'BEGIN {printf "%.2f", m / b}')
  met="—"
  if [[ "$target" != "—" ]]; then
    met=$(awk -v r="$ratio" -v t="$target" 'BEGIN {print (r <= t) ? "yes" : "no"}')
  fi
  if [[ "$failed" -gt 0 ]]; then
    met="**failed** ($(head -c 120 "err.$i.txt" | tr '\n' ' '))"
  fi
  printf '| `%s` | %s s | %s | ≤ %s | %s |\n' "$name" "$(awk -v m="$m" 'BEGIN {printf "%.3f", m / 1e6}')" "$ratio" "$target" "$met"
done
