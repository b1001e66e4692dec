# Shared by scripts/demo (make demo, make demo-stream) and scripts/demo-kafka (make demo-kafka):
# narration, commits to the scratch repository, following a rollout, and the clean-up of
# everything a demo started. Source it after setting root, sluice, work, marker, serve_pid and
# load_pid; a demo that starts a broker defines demo_stop_brokers, which the clean-up calls.
if [[ -t 1 ]]; then
  bold=$'\e[1m' dim=$'\e[2m' red=$'\e[31m' green=$'\e[32m' yellow=$'\e[33m' off=$'\e[0m'
else
  bold="" dim="" red="" green="" yellow="" off=""
fi
say() { printf '%s\n' "$*"; }
step() { printf '\n%s%s%s\n' "$bold" "$*" "$off"; }
detail() { printf '    %s\n' "$*"; }
fail() { printf '%sdemo failed:%s %s\n' "$red" "$off" "$*" >&2; exit 1; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The instances outlive `sluice serve` on purpose (the next start adopts them); the demo owns
# them, so it stops them by the marker in their environment when it ends.
cleanup() {
  trap - EXIT INT TERM
  [[ -n "$load_pid" ]] && kill "$load_pid" 2>/dev/null || true
  if [[ -n "$serve_pid" ]]; then
    kill -TERM "$serve_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$serve_pid" 2>/dev/null || true
  fi
  local pids=()
  for env_file in /proc/[0-9]*/environ; do
    if grep -qzx -- "$marker" "$env_file" 2>/dev/null; then
      pid="${env_file#/proc/}"; pids+=("${pid%/environ}")
    fi
  done
  ((${#pids[@]})) && kill -TERM "${pids[@]}" 2>/dev/null || true
  sleep 0.5
  ((${#pids[@]})) && kill -KILL "${pids[@]}" 2>/dev/null || true
  if declare -F demo_stop_brokers >/dev/null; then demo_stop_brokers; fi
  say ""
  say "${dim}Stopped sluice and the demo's instances. Work dir kept: $work${off}"
}

git_commit() {  # message
  git -C "$repo" add -A
  git -C "$repo" -c user.name="Demo User" -c user.email=demo@example.com commit -q -m "$1"
  git -C "$repo" rev-parse HEAD
}

rollout_json() { "$sluice" get "${1:-orders-api}" -o json 2>/dev/null; }

# One line per change of what a person would watch: step, weights, ready counts, analysis.
describe='
  def pct: if . == null then "-" else tostring end;
  ((.canary.revision // .desired.revision) | tostring) as $rev
  | [(.analysisRuns // [])[] | select(.name | contains("-r" + $rev + "."))] as $runs
  | ([$runs[] | .metrics[]? | select((.measurements // []) | length > 0)
      | "\(.name)=\(.measurements[-1].value | if type == "number" then (. * 1000 | round / 1000) else . end)"]
     | unique | join(" ")) as $metrics
  | "\(.phase)"
    + (if .strategy == "canary" and .currentStepIndex != null and .canary != null and ((.steps // []) | length) > 0
       then " · step \([.currentStepIndex + 1, (.steps | length)] | min)/\(.steps | length)" else "" end)
    + (if .strategy == "blueGreen" then " · active" else " · traffic" end)
    + " \(.stable.version // "-") \(.weights.stable | pct)%"
    + (if .canary != null then " / \(.canary.version) \(.weights.canary | pct)% (\(.canary.ready)/\(.canary.replicas) ready)" else "" end)
    + (if $metrics != "" then " · " + $metrics else "" end)'

# Follows a rollout until it is Healthy at `sha` (0) or Degraded (1); prints each change.
follow() {  # sha timeout_seconds [rollout]
  local sha="$1" deadline=$((SECONDS + $2)) name="${3:-orders-api}" last="" started=$SECONDS j line phase commit
  while ((SECONDS < deadline)); do
    if j=$(rollout_json "$name"); then
      line=$(jq -r "$describe" <<<"$j")
      if [[ "$line" != "$last" ]]; then
        printf '    %s%3ds%s  %s\n' "$dim" $((SECONDS - started)) "$off" "$line"
        last="$line"
      fi
      phase=$(jq -r .phase <<<"$j")
      commit=$(jq -r '.desired.commit // ""' <<<"$j")
      [[ "$phase" == Healthy && "$commit" == "$sha"* ]] && return 0
      [[ "$phase" == Degraded && "$commit" == "$sha"* ]] && return 1
    fi
    sleep 0.2
  done
  fail "$name did not finish within $2 s (see $work/serve.log)"
}

