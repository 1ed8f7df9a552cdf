# Sourced by the packaging tests: `start_mock_serve CORRAL WORK` starts `corral serve` on a free port
# with one mock model, "toy", and sets $serve_url and $serve_pid once it accepts requests (its first
# line on stdout, read through a FIFO: no polling); `stop_mock_serve` drains it.
start_mock_serve() {
  cat >"$2/mock-config.json" <<JSON
{
  "listen": "127.0.0.1:0",
  "probes": ["cpu"],
  "state_dir": "$2/state",
  "runners": {"fake": {"plugin": "mock"}},
  "models": {"toy": {"path": "/dev/null", "runner": "fake"}}
}
JSON
  rm -f "$2/serve.out"
  mkfifo "$2/serve.out"
  "$1" serve --config "$2/mock-config.json" >"$2/serve.out" 2>"$2/serve.log" &
  serve_pid=$!
  exec 8<"$2/serve.out"
  local line
  IFS= read -r line <&8 || { cat "$2/serve.log" >&2; return 1; }
  serve_url=${line##* on }
}

stop_mock_serve() {
  kill -TERM "$serve_pid"
  wait "$serve_pid"
  local status=$?
  exec 8<&-
  return $status
}
