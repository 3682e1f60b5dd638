#!/bin/bash
# compare-rspamd.sh compares sekisho with rspamd 3.4 (Debian's package) in
# milter mode, both in front of the same clamd, and with a milter that does
# nothing (the protocol's floor), with sekisho-load on the generated corpus.
#
# Run from the repository, as root, on a Debian 12 machine:
#
#	testdata/load/compare-rspamd.sh [-rounds N] [-duration D] [-connections C] [-messages-in-corpus N]
#
# It installs what is missing (rspamd, clamav-daemon, clamav for sigtool,
# redis-server; --no-install-recommends, daemons not started by the
# packages), then starts in a temporary directory, on free loopback ports,
# and stops by their PIDs on exit: one clamd (a versioned test database, as
# the end-to-end tests build it, with EICAR), one Redis, rspamd with its
# proxy worker in milter mode, sekisho with testdata/load/local-rules.toml
# plus [rules.virus], and the do-nothing milter of sekisho-load (KEEP=1
# keeps the directory, with every daemon's configuration and log). Every
# round sends the corpus, cycled, to each milter in turn for -duration; the
# table gives, per milter, the median and range over the rounds of msg/s,
# the milter's own CPU per message and clamd's CPU per message.
#
# The variant "no repeated attachment" is approximated by turning the
# caches off on both sides (sekisho's cache = "off", rspamd's antivirus
# no_cache = true): every part is scanned as if it had never been seen. A
# corpus larger than what a round sends would be the real thing, but at
# several hundred messages a second it would take gigabytes.
#
# The policy on each side, and what differs:
#   sekisho: testdata/load/local-rules.toml (send_only, recipient_limit,
#     rate_limit in memory, attachment_size, attachment_extension,
#     attachment_no_extension, encrypted_archive pairing, ascii_only and
#     blank tagging, uninspectable) plus [rules.virus] at its defaults
#     (parts mode, no body text, no images, verdict cache in memory).
#   rspamd: its antivirus module on the same clamd at its defaults (decoded
#     parts that are neither text nor images, verdicts cached in Redis for
#     an hour, key without the signature version), mime_types (extensions,
#     archive listing, encrypted archives), ratelimit in Redis (recipient
#     bucket, the same 1,000,000 per 10 minutes), multimap refusing mail to
#     noreply@example.co.jp (send_only); its core rules (header, MIME and
#     body regular expressions, chartable) and the Bayes classifier (in the
#     same Redis, unlearned) stay, as they do in any rspamd.
#   Not expressed in rspamd: recipient_limit, attachment_size, the pairing
#   of an encrypted archive with its password mail, ascii_only, blank,
#   uninspectable. Turned off in rspamd because they need the network or
#   keep state no Sekisho rule keeps: DNS lists (rbl, surbl), SPF, DKIM,
#   DMARC, ARC, fuzzy, phishing feeds, reputation, neural, history, and
#   the other modules listed in $off below. DNS goes to a closed loopback
#   port, so that a lookup fails at once rather than timing out.
set -euo pipefail

rounds=3
duration=10s
connections=8
corpus_n=200
while [ $# -gt 0 ]; do
	case $1 in
	-rounds) rounds=$2; shift 2 ;;
	-duration) duration=$2; shift 2 ;;
	-connections) connections=$2; shift 2 ;;
	-messages-in-corpus) corpus_n=$2; shift 2 ;;
	*) echo "usage: $0 [-rounds N] [-duration D] [-connections C] [-messages-in-corpus N]" >&2; exit 2 ;;
	esac
done

[ "$(id -u)" = 0 ] || { echo "$0: run as root (rspamd and clamd are installed and run here)" >&2; exit 2; }
[ -f go.mod ] && grep -q '^module github.com/sekisho/sekisho' go.mod || { echo "$0: run from the repository's top directory" >&2; exit 2; }

need=()
for p in rspamd:rspamd clamd:clamav-daemon sigtool:clamav redis-server:redis-server; do
	command -v "${p%%:*}" >/dev/null || [ -x "/usr/sbin/${p%%:*}" ] || need+=("${p#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	# Debian's packages start their daemons at install unless policy-rc.d says no.
	made_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
	[ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi
rspamd --version | grep -q 'version 3\.' || echo "$0: warning: $(rspamd --version | head -1), the comparison was written for 3.4" >&2

T=$(mktemp -d /tmp/sekisho-compare.XXXXXX)
chmod 755 "$T"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "${KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a loopback TCP port nothing listens on (and that this
# script has not handed out yet).
used=" "
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		case $used in *" $p "*) continue ;; esac
		if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
			used="$used$p "
			echo "$p"
			return
		fi
	done
}

# wait_port waits until something accepts connections on a loopback port,
# or the process $2 has exited.
wait_port() {
	local i
	for i in $(seq 1 600); do
		if (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; then return 0; fi
		kill -0 "$2" 2>/dev/null || { echo "$0: $3 exited; its output:" >&2; cat "$T/$3.out" >&2; exit 1; }
		sleep 0.1
	done
	echo "$0: $3 not listening on port $1 after 60 s" >&2
	exit 1
}

# children prints the PIDs of the children of process $1, comma-separated.
children() {
	local d out=
	for d in /proc/[0-9]*; do
		if [ "$(awk '{sub(/.*\) /, ""); print $2}' "$d/stat" 2>/dev/null)" = "$1" ]; then
			out="$out,${d#/proc/}"
		fi
	done
	echo "${out#,}"
}

echo "== building sekisho, sekisho-load and the corpus in $T"
go build -o "$T/sekisho" ./cmd/sekisho
go build -o "$T/sekisho-load" ./cmd/sekisho-load
go run ./testdata/corpus/gen -dir "$T/corpus" -n "$corpus_n"

echo "== clamd"
mkdir -p "$T/clamd/db" "$T/clamd/daily"
eicar='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
printf '%s' "$eicar" >"$T/clamd/Eicar-Test-Signature"
(cd "$T/clamd" && sigtool --md5 Eicar-Test-Signature) >"$T/clamd/db/sekisho-test.hdb"
rm "$T/clamd/Eicar-Test-Signature"
# A database with a version, as freshclam's daily.cvd: clamd answers
# VERSION with it, and sekisho's verdict cache is keyed by it.
printf 'sekisho test database: no file is this one\n' >"$T/clamd/daily/x"
echo "$(md5sum <"$T/clamd/daily/x" | cut -d' ' -f1):$(stat -c %s "$T/clamd/daily/x"):Sekisho.Test.Version" >"$T/clamd/daily/daily.hdb"
rm "$T/clamd/daily/x"
echo "test database" >"$T/clamd/daily/COPYING"
(cd "$T/clamd/daily" && echo sekisho-compare | sigtool --unsigned --build=daily.cud --cvd-version=27480 --no-cdiff --datadir=. >/dev/null 2>&1)
mv "$T/clamd/daily/daily.cud" "$T/clamd/db/"
clamd_port=$(free_port)
cat >"$T/clamd/clamd.conf" <<EOF
Foreground yes
User root
TCPSocket $clamd_port
TCPAddr 127.0.0.1
DatabaseDirectory $T/clamd/db
LogFile $T/clamd/clamd.log
StreamMaxLength 25M
SelfCheck 3600
EOF
clamd --config-file="$T/clamd/clamd.conf" >"$T/clamd.out" 2>&1 &
clamd_pid=$!
pids+=("$clamd_pid")
wait_port "$clamd_port" "$clamd_pid" clamd
exec 3<>"/dev/tcp/127.0.0.1/$clamd_port"
printf 'zVERSION\0' >&3
IFS= read -r -d '' clamd_version <&3 || true
exec 3<&-
echo "clamd on 127.0.0.1:$clamd_port (pid $clamd_pid): $clamd_version"

echo "== redis"
redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --daemonize no --save '' --appendonly no >"$T/redis.out" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
wait_port "$redis_port" "$redis_pid" redis

# rspamd_conf writes the local configuration of one rspamd into $1,
# listening on port $2, its antivirus cache on unless $3 is "no_cache".
off="arc asn bimi clickhouse dcc dkim dkim_signing dmarc elastic emails external_relay
external_services force_actions forged_recipients fuzzy_check greylist hfilter history_redis
http_headers maillist metadata_exporter metric_exporter mid milter_headers mx_check neural
once_received p0f phishing rbl replies reputation rspamd_update spamassassin spamtrap spf surbl
trie url_redirector whitelist aws_s3 external_services"
dead_dns=$(free_port)
rspamd_conf() {
	local dir=$1 port=$2 cache=$3 m
	mkdir -p "$dir/local.d" "$dir/override.d" "$dir/db" "$dir/run" "$dir/log"
	for m in $off; do echo "enabled = false;" >"$dir/local.d/$m.conf"; done
	cat >"$dir/override.d/worker-proxy.inc" <<EOF
bind_socket = "127.0.0.1:$port";
milter = yes;
self_scan = yes;
count = 2;
timeout = 120s;
upstream "local" { default = yes; self_scan = yes; }
EOF
	echo "enabled = false;" >"$dir/override.d/worker-normal.inc"
	echo "enabled = false;" >"$dir/override.d/worker-controller.inc"
	cat >"$dir/local.d/options.inc" <<EOF
dns { nameserver = ["127.0.0.1:$dead_dns"]; timeout = 1s; retransmits = 1; }
EOF
	cat >"$dir/local.d/logging.inc" <<EOF
level = "error";
EOF
	cat >"$dir/local.d/redis.conf" <<EOF
servers = "127.0.0.1:$redis_port";
EOF
	local nc=
	[ "$cache" = no_cache ] && nc="no_cache = true;"
	cat >"$dir/local.d/antivirus.conf" <<EOF
clamav {
  type = "clamav";
  servers = "127.0.0.1:$clamd_port";
  action = "reject";
  symbol = "CLAM_VIRUS";
  $nc
}
EOF
	cat >"$dir/local.d/ratelimit.conf" <<EOF
rates {
  sekisho_to = { selector = "rcpts:addr"; bucket = { burst = 1000000; rate = "1000000 / 10min"; } }
}
EOF
	echo "noreply@example.co.jp" >"$dir/send_only.map"
	cat >"$dir/local.d/multimap.conf" <<EOF
SEKISHO_SEND_ONLY { type = "rcpt"; map = "$dir/send_only.map"; action = "reject"; }
EOF
}

# start_rspamd starts an rspamd on the configuration of $1 and sets
# rspamd_pids to its main process and its workers.
start_rspamd() {
	local dir=$1 port=$2 name=$3
	rspamd -f -u root -g root -i -c /etc/rspamd/rspamd.conf \
		--var "LOCAL_CONFDIR=$dir" --var "DBDIR=$dir/db" --var "RUNDIR=$dir/run" --var "LOGDIR=$dir/log" \
		>"$T/$name.out" 2>&1 &
	local pid=$!
	pids+=("$pid")
	wait_port "$port" "$pid" "$name"
	sleep 1
	rspamd_pids="$pid,$(children "$pid")"
	echo "$name on 127.0.0.1:$port (pids $rspamd_pids)"
}

# start_sekisho starts sekisho on local-rules.toml plus [rules.virus] with
# the cache $2 and sets sekisho_pid.
start_sekisho() {
	local port=$1 cache=$2 name=$3
	{
		cat testdata/load/local-rules.toml
		printf '\n[rules.virus]\naddress = "inet:127.0.0.1:%s"\ncache = "%s"\n' "$clamd_port" "$cache"
	} >"$T/$name.toml"
	"$T/sekisho" -config "$T/$name.toml" -listen "inet:127.0.0.1:$port" >"$T/$name.out" 2>&1 &
	sekisho_pid=$!
	pids+=("$sekisho_pid")
	wait_port "$port" "$sekisho_pid" "$name"
	echo "$name on 127.0.0.1:$port (pid $sekisho_pid)"
}

echo "== milters"
null_port=$(free_port)
"$T/sekisho-load" -serve-null "127.0.0.1:$null_port" >"$T/null.out" 2>&1 &
null_pid=$!
pids+=("$null_pid")
wait_port "$null_port" "$null_pid" null
echo "do-nothing milter on 127.0.0.1:$null_port (pid $null_pid)"

milters=(null rspamd sekisho rspamd-nocache sekisho-nocache)
declare -A port pid label
port[null]=$null_port pid[null]=$null_pid
label[null]="do-nothing milter (emersion/go-milter)"
label[rspamd]="rspamd $(rspamd --version | sed -n 's/.*version //p')"
label[sekisho]="sekisho"
label[rspamd-nocache]="rspamd, antivirus no_cache"
label[sekisho-nocache]='sekisho, cache = "off"'
for m in rspamd rspamd-nocache; do
	port[$m]=$(free_port)
	cache=cache
	[ "$m" = rspamd-nocache ] && cache=no_cache
	rspamd_conf "$T/$m" "${port[$m]}" "$cache"
	start_rspamd "$T/$m" "${port[$m]}" "$m"
	pid[$m]=$rspamd_pids
done
port[sekisho]=$(free_port)
start_sekisho "${port[sekisho]}" memory sekisho
pid[sekisho]=$sekisho_pid
port[sekisho-nocache]=$(free_port)
start_sekisho "${port[sekisho-nocache]}" off sekisho-nocache
pid[sekisho-nocache]=$sekisho_pid

load() { # milter, then sekisho-load's flags
	local m=$1
	shift
	"$T/sekisho-load" -milter "inet:127.0.0.1:${port[$m]}" -corpus "$T/corpus" -connections "$connections" \
		-per-connection 20 -pid "own=${pid[$m]}" -pid "clamd=$clamd_pid" "$@"
}

echo "== warming up: the corpus once through each milter (not counted)"
for m in "${milters[@]}"; do
	load "$m" -messages "$corpus_n" -duration 0 >"$T/warm-$m.txt" || { echo "$0: warm-up of $m failed:" >&2; cat "$T/warm-$m.txt" >&2; exit 1; }
done

echo "== $rounds rounds of $duration per milter, alternating"
results=$T/results.txt
: >"$results"
for r in $(seq 1 "$rounds"); do
	for m in "${milters[@]}"; do
		out=$T/round-$r-$m.txt
		if ! load "$m" -messages 0 -duration "$duration" >"$out"; then
			echo "$0: round $r against $m had errors:" >&2
			cat "$out" >&2
			exit 1
		fi
		# A row of sekisho-load's table: round milter messages msg/s process CPU RSS PSS.
		awk -v r="$r" -v m="$m" '$1 == 1 && $5 == "own" { rate = $4; own = $6 } $1 == 1 && $5 == "clamd" { clamd = $6 }
			END { printf "%s %s %s %s %s\n", r, m, rate, own, clamd }' "$out" | tee -a "$results"
	done
done

echo
echo "sekisho-load -corpus (generated, $corpus_n messages cycled), -connections $connections, -per-connection 20,"
echo "$rounds rounds of $duration alternating; $(nproc) cores; clamd $clamd_version"
echo "median (lowest-highest) of the rounds:"
echo
echo "| milter | msg/s | own CPU / msg | clamd CPU / msg | together |"
echo "|---|---|---|---|---|"
for m in "${milters[@]}"; do
	awk -v m="$m" -v l="${label[$m]}" '
		function stat(a, n,   i, j, t, med) {
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			med = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
			return sprintf(fmt, med) " (" sprintf(fmt, a[1]) "-" sprintf(fmt, a[n]) ")"
		}
		$2 == m { n++; rate[n] = $3; own[n] = $4; clamd[n] = $5; sum[n] = $4 + $5 }
		END {
			fmt = "%.0f"; r = stat(rate, n)
			fmt = "%.2f"; o = stat(own, n) " ms"; c = stat(clamd, n) " ms"; s = stat(sum, n) " ms"
			if (m == "null") { c = "-"; s = o }
			printf "| %s | %s | %s | %s | %s |\n", l, r, o, c, s
		}' "$results"
done
echo
echo "ratios within each round (median, lowest-highest), sekisho to rspamd:"
for v in "" -nocache; do
	target="targets: msg/s at least 2, CPU at most 0.5"
	[ -z "$v" ] || target="target: CPU below 1"
	awk -v a="sekisho$v" -v b="rspamd$v" -v target="$target" '
		$2 == a { ra[$1] = $3; ca[$1] = $4 + $5 } $2 == b { rb[$1] = $3; cb[$1] = $4 + $5 }
		function stat(x, n,   i, j, t, med) {
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
			med = n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
			return sprintf("%.2f (%.2f-%.2f)", med, x[1], x[n])
		}
		END {
			for (r in ra) if (r in rb && rb[r] > 0 && cb[r] > 0) { n++; t[n] = ra[r] / rb[r]; c[n] = ca[r] / cb[r] }
			printf "  %s / %s: msg/s %s, CPU with clamd per message %s (%s)\n", a, b, stat(t, n), stat(c, n), target
		}' "$results"
done
