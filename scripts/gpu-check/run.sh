#!/bin/bash
# corral on a real GPU machine (docs/gpu-h200.md): the cuda probe against the real NVML and the CUDA
# driver's own view, CUDA_VISIBLE_DEVICES case by case, fit, and serve placing a model (through a
# wrapper that records what the server got). Runs from the repository root on the lent machine, with
# .gpu-check (scripts/gpu-check/prepare.sh) carried; writes everything under $OUT.
set -u
G=$PWD/.gpu-check
S=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
section() { echo; echo "=== $*"; }
run() { echo "\$ $*"; "$@"; echo "[exit $?]"; }

section machine
uname -a; head -2 /etc/os-release; ldd --version | head -1; nproc; grep -E "MemTotal|MemAvailable" /proc/meminfo
section nvidia-smi
nvidia-smi
nvidia-smi --query-gpu=index,name,uuid,pci.bus_id,driver_version,memory.total,memory.used,memory.free,compute_cap --format=csv,nounits
nvidia-smi --query-gpu=memory.total,memory.free,memory.used --format=csv,nounits,noheader
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"; ldconfig -p | grep -E "libnvidia-ml|libcuda\.so" ; ls -l /dev/nvidia* 2>&1 | head; ls /etc/cdi /var/run/cdi 2>&1; which podman docker nvidia-ctk 2>&1

R=/opt/corral-root
mkdir -p $R && dpkg -x "$G/corral.deb" $R
# A checkout's own build, when carried, in place of the package's (no `make package` for each try).
[ -f "$G/corral-cuda.so" ] && cp "$G/corral-cuda.so" $R/usr/lib/corral/plugins/corral-cuda.so && echo "cuda plugin: the carried build"
[ -f "$G/corral" ] && cp "$G/corral" $R/usr/bin/corral && echo "corral: the carried build"
export LD_LIBRARY_PATH=$G/libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
C=$R/usr/bin/corral
P=$R/usr/lib/corral/plugins
section corral
run $C version
L=/root/.cache/corral/llama-server/1_0.7.0+dfsg-2/usr/bin/llama-server
[ -x $L ] || mkdir -p /root/.cache/corral/llama-server && [ -x $L ] || tar xJf "$G/llama.tar.xz" -C /root/.cache/corral/llama-server
L=/root/.cache/corral/llama-server/1_0.7.0+dfsg-2/usr/bin/llama-server
run env -u LD_LIBRARY_PATH $L --version
run env -u LD_LIBRARY_PATH $L --list-devices

cfg=/tmp/probe.json
echo "{\"plugin_dirs\": [\"$P\"], \"probes\": [\"cpu\", \"cuda\"], \"runners\": {}, \"models\": {}}" > $cfg
section probe
run $C probe --config $cfg
$C --log-level debug probe --json --config $cfg > "$OUT/probe.json"; echo "[exit $?]"; cat "$OUT/probe.json"; echo
uuid=$(nvidia-smi --query-gpu=uuid --format=csv,noheader | head -1)
echo -n "cuda driver api (no CUDA_VISIBLE_DEVICES), cuMemGetInfo: "; python3 "$S/cuda_view.py" --mem
for v in 0 "${uuid:0:12}" "${uuid:0:5}" "$uuid" "${uuid,,}" "${uuid#GPU-}" 1 "" "0,0" "0, 0" "0,00" "0,+0" "00" "0,1,0" "0,x,0" "1,1" "0,1" "1,0" -1 " 0" "0 ,1" MIG-x GPU-ffff "0,GPU-ffff" \
         "0,${uuid:0:12}" "${uuid:0:12},0" "0,${uuid:0:12},0" "0,${uuid:0:12},1" "${uuid:0:12},0,0" "0,0,${uuid:0:12}" \
         "${uuid:0:12},${uuid:0:12}" "${uuid:0:12},$uuid" "$uuid,$uuid"; do
  cuda=$(CUDA_VISIBLE_DEVICES="$v" python3 "$S/cuda_view.py")
  probe=$(CUDA_VISIBLE_DEVICES="$v" $C probe --json --config $cfg)
  # One line per case: the same GPUs (UUIDs, in order) for the driver and the probe, or not.
  CUDA="$cuda" PROBE="$probe" V="$v" python3 -c '
import json, os
c = json.loads(os.environ["CUDA"]); p = [b for b in json.loads(os.environ["PROBE"])["probes"] if b["backend"] == "cuda"][0]
cu = [d["uuid"] for d in c.get("devices", [])]; pu = [d["uuid"] for d in p["devices"]]
print(("same   " if cu == pu else "DIFFER ") + repr(os.environ["V"]) + ": driver " + (str(len(cu)) + " GPU(s)" if "error" not in c else c["error"]) + "; probe " + str(len(pu)) + " GPU(s): " + p["reason"])' | tee -a "$OUT/visible.txt"
done
section vulkan
# NVIDIA's Vulkan driver through Debian 12's loader and libglvnd, carried (prepare.sh).
if ls "$G"/vk/*.deb >/dev/null 2>&1; then
  mkdir -p /tmp/vk && for f in "$G"/vk/*.deb; do dpkg -x "$f" /tmp/vk; done
  echo "{\"plugin_dirs\": [\"$P\"], \"probes\": [\"vulkan\", \"cuda\"], \"runners\": {}, \"models\": {}}" > /tmp/vk.json
  run env LD_LIBRARY_PATH=/tmp/vk/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH VK_LOADER_DEBUG=error $C probe --config /tmp/vk.json
fi
section fit
run $C fit --config $cfg "$G/tiny-a.gguf"
$C fit --json --config $cfg "$G/tiny-a.gguf" > "$OUT/fit.json"; echo "[exit $?]"; cat "$OUT/fit.json"; echo
run $C fit --config $cfg --devices "${uuid:0:12}" --gpu-layers all "$G/tiny-a.gguf"
run $C fit --config $cfg --devices cuda:1 "$G/tiny-a.gguf"
run $C fit --config $cfg --devices cpu "$G/tiny-a.gguf"

section serve
cat > /tmp/llama-wrap <<EOF
#!/bin/bash
{ echo "args: \$*"; env | grep -E '^(CUDA|GGML|LD_LIBRARY)'; echo -n "cuda driver api sees: "; python3 $S/cuda_view.py; echo; } >> /tmp/wrap.log
exec env -u LD_LIBRARY_PATH $L "\$@"
EOF
chmod +x /tmp/llama-wrap
cat > /tmp/serve.json <<EOF
{"listen": "127.0.0.1:18080", "plugin_dirs": ["$P"], "probes": ["cpu", "cuda"], "state_dir": "/tmp/corral-state",
 "runners": {"local": {"plugin": "llama_server", "binary": "/tmp/llama-wrap"}},
 "models": {"tiny": {"path": "$G/tiny-a.gguf", "ctx_size": 256, "gpu_layers": "auto"},
            "tiny-cpu": {"path": "$G/tiny-a.gguf", "ctx_size": 256, "devices": "cpu"}}}
EOF
$C serve --config /tmp/serve.json > "$OUT/serve.log" 2>&1 &
spid=$!
for i in $(seq 100); do grep -q "serving" "$OUT/serve.log" && break; sleep 0.1; done
for m in tiny tiny-cpu; do
  run curl -sS -m 60 http://127.0.0.1:18080/v1/chat/completions -H 'Content-Type: application/json' \
    -d "{\"model\": \"$m\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 4}"
  echo
  run $C ps --url http://127.0.0.1:18080
done
$C ps --json --url http://127.0.0.1:18080 > "$OUT/ps.json"; cat "$OUT/ps.json"; echo
run $C logs --url http://127.0.0.1:18080 tiny 2>&1 | grep -iE "device|cuda|gpu|offload|buffer" | head -20
echo "--- what the servers got"; cat /tmp/wrap.log
run curl -sS -m 5 http://127.0.0.1:18080/metrics -o "$OUT/metrics.txt"
grep -iE "gpu|device|memory" "$OUT/metrics.txt" | head -30
kill -TERM $spid; wait $spid; echo "[serve exit $?]"
tail -40 "$OUT/serve.log"
section done
