# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR
# The workloads of tools/bench/run. Plain workloads run on every peer in
# the order ORDER (rotated each round), one peer after the other for each
# step, so that all peers see the same machine state; HSM workloads run on
# hsmfs only. Sizes come from run (SEQ_MB, FIO_MB, FIO_SECONDS, SMALL_N,
# SQL_N, HSM_N, CAP_N, RSS_N, STREAM_MB, LATENCY_MS, REQ_N, P11_N).

# --------------------------------------------------------------- inputs

# gen_inputs: the small-file tar and the sqlite script, made once per run.
gen_inputs() {
	mkdir -p "$DATA/small"
	"$BIN/mkfiles" "$DATA/small" "$SMALL_N" 1024 16384 1
	tar -cf "$DATA/small.tar" -C "$DATA/small" .
	rm -rf "$DATA/small"
	awk -v n="$SQL_N" 'BEGIN {
		srand(1)
		print "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);"
		for (i = 0; i < n; i++) {
			if (i % 100 == 0) print "BEGIN;"
			printf "INSERT INTO t(k, v) VALUES(%d, '\''%08x%08x%08x%08x'\'');\n", int(rand() * 1e9),
				int(rand() * 2^32), int(rand() * 2^32), int(rand() * 2^32), int(rand() * 2^32)
			if (i % 100 == 99 || i == n - 1) print "COMMIT;"
		}
	}' >"$DATA/inserts.sql"
}

# read_all DIR [P]: reads every file under DIR with P readers (default 1).
read_all() {
	find "$1" -type f -print0 | xargs -0 -r -P "${2:-1}" -n 200 cat >/dev/null
}

# extract_sync DIR [TAR]: extracts TAR (default: the small-file tar) into
# DIR, then syncs.
extract_sync() {
	mkdir -p "$1"
	tar -xf "${2:-$DATA/small.tar}" -C "$1"
	sync
}

# remove_sync DIR: removes DIR recursively, then syncs.
remove_sync() {
	rm -rf "$1"
	sync
}

# ------------------------------------------------------- plain workloads

# wl_seq: 1 GiB sequential write with fsync, cold read, warm re-read.
wl_seq() {
	local fs d
	for fs in "${ORDER[@]}"; do
		d=$(dir_of "$fs")
		drop_caches
		timed dd if=/dev/zero of="$d/seq.bin" bs=1M count="$SEQ_MB" conv=fsync status=none
		record plain "seq write $SEQ_MB MiB + fsync" MiB/s "$fs" "$(per_sec "$SEQ_MB")"
	done
	for fs in "${ORDER[@]}"; do
		d=$(dir_of "$fs")
		cold "$fs"
		timed dd if="$d/seq.bin" of=/dev/null bs=1M status=none
		record plain "seq read, cold" MiB/s "$fs" "$(per_sec "$SEQ_MB")"
		timed dd if="$d/seq.bin" of=/dev/null bs=1M status=none
		record plain "seq re-read, warm" MiB/s "$fs" "$(per_sec "$SEQ_MB")"
		rm -f "$d/seq.bin"
	done
}

# fio_iops FILE RW JOBS: runs one time-bounded 4 KiB random fio job on
# FILE and prints its IOPS (writes end with an fsync).
fio_iops() {
	local field=8 fsync=0
	if [[ $2 == randwrite ]]; then field=49 fsync=1; fi
	fio --name=bench --filename="$1" --size="${FIO_MB}M" --rw="$2" --bs=4k \
		--ioengine=psync --numjobs="$3" --group_reporting --time_based \
		--runtime="$FIO_SECONDS" --end_fsync="$fsync" \
		--output-format=terse --terse-version=3 | awk -F';' -v f="$field" 'NR == 1 { print $f }'
}

# wl_fio: random 4 KiB reads and writes on a FIO_MB file, 1 and 2 jobs.
wl_fio() {
	local fs d rw j
	for fs in "${ORDER[@]}"; do
		d=$(dir_of "$fs")
		fio --name=layout --filename="$d/rand.bin" --size="${FIO_MB}M" --rw=write \
			--bs=1M --end_fsync=1 --output=/dev/null
	done
	for rw in randread randwrite; do
		for j in 1 2; do
			for fs in "${ORDER[@]}"; do
				drop_caches
				record plain "fio $rw 4k, $j job(s)" IOPS "$fs" \
					"$(fio_iops "$(dir_of "$fs")/rand.bin" "$rw" "$j")"
			done
		done
	done
	for fs in "${ORDER[@]}"; do
		rm -f "$(dir_of "$fs")/rand.bin"
	done
}

# wl_small: extract, stat (cold), read (cold) and delete SMALL_N files.
wl_small() {
	local fs d u0
	for fs in "${ORDER[@]}"; do
		d=$(dir_of "$fs")/small
		rm -rf "$d"
		drop_caches
		timed extract_sync "$d"
		record plain "tar extract $SMALL_N files + sync" files/s "$fs" "$(per_sec "$SMALL_N")"
	done
	for fs in "${ORDER[@]}"; do
		d=$(dir_of "$fs")/small
		cold "$fs"
		timed find "$d" -printf '%s %m %T@\n' >/dev/null
		record plain "stat all (find -printf), cold" files/s "$fs" "$(per_sec "$SMALL_N")"
	done
	for fs in "${ORDER[@]}"; do
		d=$(dir_of "$fs")/small
		u0=$(unwraps)
		cold "$fs"
		timed read_all "$d"
		record plain "read all (cat), cold" files/s "$fs" "$(per_sec "$SMALL_N")"
		if [[ $fs == hsmfs* ]]; then
			record hsm "UnwrapKey calls: fresh mount + read all $SMALL_N files cold (plain rounds)" \
				calls "$fs" "$(($(unwraps) - u0))"
		fi
	done
	for fs in "${ORDER[@]}"; do
		d=$(dir_of "$fs")/small
		timed remove_sync "$d"
		record plain "rm -rf all + sync" files/s "$fs" "$(per_sec "$SMALL_N")"
	done
}

# wl_sqlite: SQL_N inserts in transactions of 100 (default journal mode).
wl_sqlite() {
	local fs d
	for fs in "${ORDER[@]}"; do
		d=$(dir_of "$fs")
		rm -f "$d"/bench.db*
		drop_caches
		timed sqlite3 "$d/bench.db" <"$DATA/inserts.sql"
		record plain "sqlite $SQL_N inserts, txn of 100" inserts/s "$fs" "$(per_sec "$SQL_N")"
		rm -f "$d"/bench.db*
	done
}

# --------------------------------------------------------- HSM workloads

# hsm_read MODE P [FS]: reads the HSM_N files of FS (default hsmfs) with
# P readers after flushing the DEK cache (MODE cold) or not (warm); page
# cache dropped either way. In volume mode the flush also re-validates
# the KEK: one unwrap, counted.
hsm_read() {
	local fs=${3:-hsmfs} d u0 u1 what
	d=$(mnt_of "$fs")/hsm
	u0=$(unwraps)
	[[ $1 == cold ]] && "$HSMFS" cache flush "$(mnt_of "$fs")" >/dev/null
	drop_caches
	timed read_all "$d" "$2"
	u1=$(unwraps)
	what="read $HSM_N files, $2 reader(s), DEK cache $1"
	[[ $1 == cold ]] && what="$what (flushed)"
	record hsm "$what" files/s "$fs" "$(per_sec "$HSM_N")"
	record hsm "  UnwrapKey calls per file opened ($1, $2 reader(s))" "calls/file" "$fs" \
		"$(awk -v a="$u0" -v b="$u1" -v n="$HSM_N" 'BEGIN { printf "%.4f", (b - a) / n }')"
}

# token: an access token for the bench client, from the emulator.
token() {
	curl -sS --cacert "$E/ca.pem" --data-urlencode grant_type=client_credentials \
		--data-urlencode client_id=bench --data-urlencode "client_secret=$AZURE_CLIENT_SECRET" \
		--data-urlencode "scope=$SCOPE" "$EMU_URL/$AZURE_TENANT_ID/oauth2/v2.0/token" |
		sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}

# cap_prepare: a token, a wrapped DEK-like record, and a curl config with
# CAP_N unwrap requests of it (all in W/cap).
cap_prepare() {
	local tok rec wrapped
	mkdir -p "$W/cap"
	tok=$(token)
	printf 'header = "Authorization: Bearer %s"\n' "$tok" >"$W/cap/auth"
	rec=$(head -c 56 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')
	wrapped=$(curl -sS --cacert "$E/ca.pem" -K "$W/cap/auth" -H 'Content-Type: application/json' \
		--data-binary "{\"alg\":\"$KEK_ALG\",\"value\":\"$rec\"}" \
		"$EMU_URL/keys/$KEK_NAME/wrapkey?api-version=7.4" |
		sed -n 's/.*"value":"\([^"]*\)".*/\1/p')
	[[ -n $wrapped ]] || { echo "bench: wrapkey failed" >&2; return 1; }
	printf '{"alg":"%s","value":"%s"}' "$KEK_ALG" "$wrapped" >"$W/cap/body"
	for _ in $(seq "$CAP_N"); do
		printf 'url = "%s/keys/%s/unwrapkey?api-version=7.4"\noutput = "/dev/null"\n' \
			"$EMU_URL" "$KEK_NAME"
	done >"$W/cap/urls"
}

# cap_run K: CAP_N unwraps over K parallel connections; prints unwraps/s
# (successful answers only).
cap_run() {
	local ok
	timed curl -s --no-progress-meter --cacert "$E/ca.pem" -K "$W/cap/auth" \
		--parallel --parallel-max "$1" -H 'Content-Type: application/json' \
		--data-binary @"$W/cap/body" -w '%{http_code}\n' -K "$W/cap/urls" \
		>"$W/cap/codes" 2>"$W/cap/err"
	ok=$(grep -c '^200$' "$W/cap/codes" || true)
	per_sec "$ok"
}

# wl_hsm_round: one round of the DEK-cache reads and the emulator's
# unwrap capacity, at LATENCY_MS per HSM call.
wl_hsm_round() {
	local k
	hsm_read cold 1
	hsm_read warm 1
	hsm_read cold 8
	hsm_read warm 8
	for k in 1 8 32; do
		record hsm "emulator unwrap capacity, $k connection(s)" unwraps/s hsmfs "$(cap_run "$k")"
	done
}

# wl_vol_round: one round of volume-mode reads at LATENCY_MS per HSM
# call: cold (DEK cache flushed) against warm.
wl_vol_round() {
	hsm_read cold 1 hsmfs-vol
	hsm_read warm 1 hsmfs-vol
	hsm_read cold 8 hsmfs-vol
	hsm_read warm 8 hsmfs-vol
}

# wl_rotate_vol: a KEK rotation (`hsmfs rekey` after a new version) of a
# volume-mode volume holding ROT_N files (mkfiles, 64 B each), mounted,
# at LATENCY_MS per call: wall time and every key operation it made.
wl_rotate_vol() {
	local d k0 k1
	d=$(mnt_of hsmfs-vol)/rot
	emu_ctl faults clear >/dev/null
	mkdir -p "$d"
	log "volume mode: creating $ROT_N files for the rotation"
	timed "$BIN/mkfiles" "$d" "$ROT_N" 64 64 3 0
	record hsm "create $ROT_N files of 64 B (volume mode)" files/s hsmfs-vol "$(per_sec "$ROT_N")"
	emu_ctl faults set --latency-ms "$LATENCY_MS" >/dev/null
	emu_ctl key rotate "$KEK_NAME" >/dev/null
	k0=$(keyops)
	if ! timed "$HSMFS" rekey -q -o "$HSMFS_O" "$(back_of hsmfs-vol)" >"$RES/rekey-vol.out" 2>&1; then
		note "volume-mode rekey failed (see rekey-vol.out)"
		return 0
	fi
	k1=$(keyops)
	record hsm "KEK rotation, volume mode, $ROT_N files, ${LATENCY_MS} ms latency" s hsmfs-vol "$(printf %.2f "$ELAPSED")"
	record hsm "  HSM calls of that rotation (every key operation)" calls hsmfs-vol "$((k1 - k0))"
	emu_ctl faults clear >/dev/null
	timed remove_sync "$d"
	record hsm "rm -rf $ROT_N files + sync (volume mode)" files/s hsmfs-vol "$(per_sec "$ROT_N")"
}

# mib KIB: KiB to MiB.
mib() {
	awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

# remount_hsmfs OPTS: a fresh hsmfs daemon with extra mount options.
remount_hsmfs() {
	umount_peer hsmfs
	# shellcheck disable=SC2034 # read by start_daemon (lib.sh)
	MOPTS["hsmfs"]=$1
	mount_peer hsmfs
}

# dek_entries: DEKs in hsmfs's cache, from `hsmfs status`.
dek_entries() {
	"$HSMFS" status "$(mnt_of hsmfs)" 2>/dev/null |
		sed -n 's|^dek cache: *\([0-9]*\)/.*|\1|p'
}

# read_dirs DIR: reads DIR/d00..d99, 2 readers each.
read_dirs() {
	local i
	for ((i = 0; i < 100; i++)); do
		read_all "$(printf '%s/d%02d' "$1" "$i")" 2
	done
}

# wl_rss_deks: daemon peak RSS with RSS_N DEKs cached: a fresh daemon
# creates RSS_N small files, reads them all, then VmHWM is read. The
# daemon keeps file handles, not descriptors, for the inodes the kernel
# knows, so this runs in one go whatever RLIMIT_NOFILE is.
wl_rss_deks() {
	local d h0 h1 u0 u1
	d=$(mnt_of hsmfs)/rss
	remount_hsmfs dek_cache_ttl=86400
	h0=$(daemon_kib hsmfs VmHWM)
	record hsm "daemon VmHWM after mount" MiB hsmfs "$(mib "$h0")"
	mkdir -p "$d"
	timed "$BIN/mkfiles" "$d" "$RSS_N" 64 64 2 0
	record hsm "create $RSS_N files of 64 B" files/s hsmfs "$(per_sec "$RSS_N")"
	drop_caches
	u0=$(unwraps)
	timed read_dirs "$d"
	u1=$(unwraps)
	record hsm "then read them all, 2 readers, no latency" files/s hsmfs "$(per_sec "$RSS_N")"
	record hsm "  UnwrapKey calls during that read" calls hsmfs "$((u1 - u0))"
	h1=$(daemon_kib hsmfs VmHWM)
	record hsm "  DEKs cached (hsmfs status)" entries hsmfs "$(dek_entries)"
	record hsm "daemon VmHWM with $RSS_N DEKs cached" MiB hsmfs "$(mib "$h1")"
	record hsm "  VmHWM growth per file created and read" bytes hsmfs \
		"$(awk -v a="$h0" -v b="$h1" -v n="$RSS_N" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')"
	"$HSMFS" status "$(mnt_of hsmfs)" >"$RES/hsmfs-status-rss.txt" 2>&1 || true
	timed remove_sync "$d"
	record hsm "rm -rf $RSS_N files + sync" files/s hsmfs "$(per_sec "$RSS_N")"
}

# sample_rss PID OUT: appends PID's VmRSS (KiB) to OUT every 0.5 s while
# PID lives (at most 2 hours).
sample_rss() {
	for _ in $(seq 14400); do
		awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" >>"$2" 2>/dev/null || return 0
		sleep 0.5
	done
}

# wl_rss_stream: a fresh daemon streams STREAM_MB (write with fsync, then
# cold read) while its RSS is sampled.
wl_rss_stream() {
	local d sp peak
	d=$(mnt_of hsmfs)
	remount_hsmfs ""
	: >"$W/rss.samples"
	sample_rss "${MPID[hsmfs]}" "$W/rss.samples" &
	sp=$!
	PIDS+=("$sp")
	timed dd if=/dev/zero of="$d/stream.bin" bs=1M count="$STREAM_MB" conv=fsync status=none
	record hsm "stream write $STREAM_MB MiB + fsync" MiB/s hsmfs "$(per_sec "$STREAM_MB")"
	drop_caches
	timed dd if="$d/stream.bin" of=/dev/null bs=1M status=none
	record hsm "stream read $STREAM_MB MiB, cold" MiB/s hsmfs "$(per_sec "$STREAM_MB")"
	kill "$sp" 2>/dev/null || true
	wait "$sp" 2>/dev/null || true
	peak=$(sort -n "$W/rss.samples" | tail -n 1)
	record hsm "  daemon VmRSS peak while streaming (sampled 2/s)" MiB hsmfs "$(mib "${peak:-0}")"
	record hsm "  daemon VmHWM after streaming" MiB hsmfs "$(mib "$(daemon_kib hsmfs VmHWM)")"
	rm -f "$d/stream.bin"
}

# wl_rekey: `hsmfs rekey` after a KEK rotation, on the mounted volume
# holding the HSM_N files, at LATENCY_MS per call (default --jobs). Skipped
# with a note while `hsmfs rekey --help` fails (builds without the
# command).
wl_rekey() {
	local u0 u1
	if ! "$HSMFS" rekey --help >/dev/null 2>&1; then
		note "rekey: skipped, \`hsmfs rekey --help\` fails (command not in this build)"
		return 0
	fi
	emu_ctl key rotate "$KEK_NAME" >/dev/null
	u0=$(unwraps)
	if ! timed "$HSMFS" rekey -q -o "$HSMFS_O" "$(back_of hsmfs)" >"$RES/rekey.out" 2>&1; then
		note "rekey: \`hsmfs rekey -q -o OPTS CIPHERDIR\` failed (see rekey.out)"
		return 0
	fi
	u1=$(unwraps)
	record hsm "rekey after KEK rotation, $HSM_N files, ${LATENCY_MS} ms latency" files/s hsmfs "$(per_sec "$HSM_N")"
	record hsm "  UnwrapKey calls (files + volume key)" calls hsmfs "$((u1 - u0))"
}

# ------------------------------------ FUSE requests and daemon syscalls

REQS_PEERS=(passthrough_ll gocryptfs securefs hsmfs hsmfs-vol)
REQS_TOP=4 # syscalls shown per step: the top REQS_TOP of each peer

# reqs_step STEP FS CMD...: runs CMD with FS's FUSE requests traced and
# strace -c attached to FS's daemon; keeps the counts in W/reqs/STEP.FS.*
# (.fuse: opcode count; .sys: syscall count).
reqs_step() {
	local step=$1 fs=$2 o
	shift 2
	o=$W/reqs/$step.$fs
	trace_start "$(mnt_of "$fs")"
	strace_start "${MPID[$fs]}" "$o.strace" ||
		note "reqs: $fs, $step: strace could not attach to the daemon (syscalls not counted)"
	"$@"
	# Replies to the last requests (a RELEASE is sent after close returns)
	sleep 0.3
	strace_stop "$o.strace" "$o.sys"
	trace_stop "$o.fuse" || note "reqs: $fs, $step: the trace buffer lost events (counts too low)"
	log "  $fs: $step: $(awk '{ n += $2 } END { print n + 0 }' "$o.fuse") FUSE requests," \
		"$(awk '{ n += $2 } END { print n + 0 }' "$o.sys") daemon syscalls"
}

# reqs_record STEP WHAT: the samples of STEP (workload WHAT) for every
# peer, per file: group reqs, all requests then each opcode sent to any
# peer; group reqs-sys, all syscalls then each syscall in the top
# REQS_TOP of any peer. Rows by decreasing total over the peers, a peer
# without the opcode or syscall counted 0.
reqs_record() {
	local fs
	for fs in "${REQS_PEERS[@]}"; do
		awk -v fs="$fs" '{ print "reqs", fs, $1, $2 }' "$W/reqs/$1.$fs.fuse"
		sort -k2,2nr -k1,1 "$W/reqs/$1.$fs.sys" |
			awk -v fs="$fs" -v top="$REQS_TOP" '{ print "reqs-sys", fs, $1, $2, (NR <= top) }'
	done | awk -v what="$2" -v n="$REQ_N" -v round="$ROUND" -v fsl="${REQS_PEERS[*]}" '
		{
			k = $1 SUBSEP $3
			if (!(k in sum)) { names[$1, ++nn[$1]] = $3; sum[k] = 0 }
			sum[k] += $4
			at[k, $2] = $4
			all[$1, $2] += $4
			if ($1 == "reqs" || $5) shown[k] = 1
		}
		END {
			nf = split(fsl, f, " ")
			row("reqs", "all requests", "req/file", "", 1)
			emit("reqs", "req/file")
			row("reqs-sys", "all syscalls", "calls/file", "", 1)
			emit("reqs-sys", "calls/file")
		}
		# emit G UNIT: the shown rows of group G, by decreasing sum.
		function emit(g, unit, i, j, m, t, s) {
			m = 0
			for (i = 1; i <= nn[g]; i++)
				if ((g, names[g, i]) in shown)
					s[++m] = names[g, i]
			for (i = 2; i <= m; i++) {
				t = s[i]
				for (j = i - 1; j >= 1 && sum[g, s[j]] < sum[g, t]; j--)
					s[j + 1] = s[j]
				s[j + 1] = t
			}
			for (i = 1; i <= m; i++)
				row(g, s[i], unit, s[i], 0)
		}
		# row G LABEL UNIT NAME TOTAL: one sample per peer.
		function row(g, label, unit, name, total, i, v) {
			for (i = 1; i <= nf; i++) {
				v = total ? all[g, f[i]] : at[g, name, f[i]]
				printf "%s\t%s: %s\t%s\t%s\t%s\t%.4f\n", g, what, label, unit, f[i], round, v / n
			}
		}' >>"$RES/samples.tsv"
}

# reqs_group: FUSE requests (the fuse:fuse_request_send tracepoint) and
# daemon syscalls (strace -c) per file, for the small-file workloads on
# a REQ_N-file tree, once: counts do not depend on the machine's speed.
# Skipped with a note without tracefs.
reqs_group() {
	local fs d
	if ! trace_open; then
		note "reqs: skipped, no tracing instance with the fuse:fuse_request_send event under $TRACEFS"
		return 0
	fi
	ROUND=1
	log "FUSE requests and daemon syscalls, $REQ_N files: ${REQS_PEERS[*]}"
	mkdir -p "$W/reqs" "$DATA/reqs"
	"$BIN/mkfiles" "$DATA/reqs" "$REQ_N" 1024 16384 1
	tar -cf "$DATA/reqs.tar" -C "$DATA/reqs" .
	rm -rf "$DATA/reqs"
	# the default mount options, whatever the HSM groups left
	[[ -z ${MOPTS[hsmfs]:-} ]] || remount_hsmfs ""
	for fs in "${REQS_PEERS[@]}"; do
		d=$(mnt_of "$fs")/reqs
		rm -rf "$d"
		drop_caches
		reqs_step extract "$fs" extract_sync "$d" "$DATA/reqs.tar"
	done
	reqs_record extract "tar extract + sync"
	for fs in "${REQS_PEERS[@]}"; do
		cold "$fs"
		reqs_step stat "$fs" find "$(mnt_of "$fs")/reqs" -printf '%s %m %T@\n' >/dev/null
	done
	reqs_record stat "stat all, cold"
	for fs in "${REQS_PEERS[@]}"; do
		cold "$fs"
		reqs_step read "$fs" read_all "$(mnt_of "$fs")/reqs"
	done
	reqs_record read "read all, cold"
	for fs in "${REQS_PEERS[@]}"; do
		reqs_step rm "$fs" remove_sync "$(mnt_of "$fs")/reqs"
	done
	reqs_record rm "rm -rf + sync"
	trace_close
}

# ------------------------------------------------------------- PKCS#11

# p11_unwraps: the unwraps the hsmfs-p11 daemon made in the HSM so far.
p11_unwraps() {
	"$HSMFS" status "$(mnt_of hsmfs-p11)" | sed -nE 's/^hsm unwrap +([0-9]+) ok.*/\1/p'
}

# p11_tool_loop N: N pkcs11-tool processes, each logging in and
# decrypting one RSA block with CKM_RSA_X_509 (what the daemon asks of
# SoftHSM2 per unwrap, which has no OAEP with SHA-256).
p11_tool_loop() {
	local i
	for ((i = 0; i < $1; i++)); do
		pkcs11-tool --module "$P11_MODULE" --token-label bench --login --pin "$P11_PIN" \
			--decrypt -m RSA-X-509 --id 01 -i "$W/p11.block" -o /dev/null 2>/dev/null || return 1
	done
}

# wl_p11: a file-mode volume whose KEK is an RSA-2048 key in SoftHSM2:
# P11_N files read cold (a fresh daemon: one unwrap each), by one reader
# and by 8, against P11_N pkcs11-tool decryptions on the same token.
wl_p11() {
	local m u0 u1 r
	p11_setup || { note "p11: SoftHSM2 is not registered with p11-kit: group skipped"; return 0; }
	init_peer hsmfs-p11
	mount_peer hsmfs-p11
	m=$(mnt_of hsmfs-p11)
	mkdir -p "$m/d"
	"$BIN/mkfiles" "$m/d" "$P11_N" 1024 4096 1
	sync
	# Below the modulus (its top byte is never 0): a valid RSA input.
	{ printf '\0' && head -c 255 /dev/urandom; } >"$W/p11.block"
	for ((ROUND = 1; ROUND <= HSM_ROUNDS; ROUND++)); do
		log "p11 round $ROUND/$HSM_ROUNDS ($P11_N files)"
		for r in 1 8; do
			cold hsmfs-p11
			u0=$(p11_unwraps)
			timed read_all "$m/d" "$r"
			u1=$(p11_unwraps)
			record p11 "cold read of $P11_N files, $r reader(s)" files/s hsmfs-p11 "$(per_sec "$P11_N")"
			((u1 - u0 == P11_N)) || note "p11: $((u1 - u0)) unwraps for $P11_N files ($r reader(s))"
			[[ $r == 1 ]] && record p11 "unwraps: hsmfs (1 reader) against a pkcs11-tool loop" \
				unwraps/s hsmfs-p11 "$(per_sec $((u1 - u0)))"
		done
		timed p11_tool_loop "$P11_N" || note "p11: pkcs11-tool --decrypt failed"
		record p11 "unwraps: hsmfs (1 reader) against a pkcs11-tool loop" unwraps/s pkcs11-tool \
			"$(per_sec "$P11_N")"
	done
	umount_peer hsmfs-p11
}
