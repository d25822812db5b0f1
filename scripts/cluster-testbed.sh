#!/usr/bin/env bash
# Three nodes in network namespaces on shaped links (scripts/testbed), no peer flags:
# they find each other, the receiving node plans each request (forwarding it when another node
# should decode it), and throttling a link mid-run moves the next long request. Needs root. Usage: scripts/cluster-testbed.sh [TANDEM_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
T=$(realpath "${1:-build/release/tandem}")
work=$(mktemp -d /tmp/tandem-testbed-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; scripts/testbed down >/dev/null 2>&1 || true' EXIT
"$T" make-model --shape demo --type F16 --seed 1 -o "$work/demo.gguf" 2>/dev/null
echo "testbed-cluster-key-$$-0123456789" > "$work/key"
scripts/testbed up 3 40mbit

# The demo pair's devices (reference ratios at 4e-5 scale) and a weak third node.
declare -A EMU=([1]="flops=4G,bw=10.92M" [2]="flops=1.04G,bw=32.76M" [3]="flops=0.5G,bw=5M")
declare -A NAME=([1]=compute-rich [2]=bandwidth-rich [3]=weak)
start=$(date +%s.%N)
for i in 1 2 3; do
  scripts/testbed exec "$i" "$T" node -m "$work/demo.gguf" --host "$(scripts/testbed addr "$i")" \
    --port 8800 --node-id "${NAME[$i]}" --cluster-key-file "$work/key" --emulate "${EMU[$i]}" \
    >"$work/node$i.log" 2>&1 &
done
D=$(scripts/testbed addr 2):8800
for _ in $(seq 1 100); do
  n=$(curl -s "$D/cluster" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["nodes"]))' 2>/dev/null || echo 0)
  [[ "$n" == 3 ]] && break
  sleep 0.1
done
echo "all three nodes listed by $D after $(python3 -c "print(round($(date +%s.%N) - $start, 2))") s (process start included)"
sleep 4  # one round of link probes

request() {  # node address, prompt tokens, generated tokens
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys, urllib.request
d, n, g = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
body = json.dumps({"prompt_ids": [1] + [3 + (i * 7) % 250 for i in range(n - 1)], "n_predict": g}).encode()
r = json.load(urllib.request.urlopen(urllib.request.Request(f"http://{d}/v1/generate", body, {"Content-Type": "application/json"}), timeout=600))
t = r["trace"]
print(f"{n:5d}-token prompt, {g} generated: {t['placement']:>13} prefill on {t['prefill_node']:<14} "
      f"predicted TTFT {t['predicted_ttft_s']:.2f} s / total {t['predicted_total_s']:.2f} s, "
      f"measured {t['ttft_s']:.2f} s / {t['total_s']:.2f} s "
      f"({100 * (t['total_s'] / t['predicted_total_s'] - 1):+.0f} %)")
print("   why:", t["placement_reason"])
if "forwarded" in r:
    f = r["forwarded"]
    print(f"   sent to {f['from']}, forwarded to {f['to']}: {f['plan']}")
PY
}
request "$D" 2048 8
request "$D" 32 8
echo "the same long request sent to compute-rich, which is not the best decode node:"
request "$(scripts/testbed addr 1):8800" 2048 8
echo "throttling compute-rich's link to 256 kbit/s ..."
scripts/testbed shape 1 256kbit
sleep 7  # the background probe notices
request "$D" 2048 8
echo "--- what the bandwidth-rich node logged about links and placement:"
grep -E "link from|placement changed" "$work/node2.log" | sed 's/^\[[^]]*\] \[info\] //'
