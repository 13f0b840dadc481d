#!/usr/bin/env bash
# hsmfs on a server: mounted by mount(8) and an fstab line (through
# mount.fuse3), by a systemd unit (Type=notify), with the machine's
# configuration file and a volume's, credentials from a root-only file or
# systemd credentials and never left in the daemon's environment, and the
# lines an operator gets when there are no credentials or no CA. Against
# the emulator. The machine's own /etc, fstab and systemd are never used:
# HSMFS_CONF points into $T, mount(8) reads a scratch fstab (-T), and the
# unit file is only verified.
. "$(dirname "$0")/lib.sh"

E=$T/emu
emu_launch "$E" 127.0.0.1:0 --imds-listen 127.0.0.1:0 || {
	bad "emulator starts"
	finish
}
PIDS+=("$EMU_PID")
emu_setup "$E" fskek RSA-HSM 2048 || { bad "emulator setup"; finish; }
SECRET=$AZURE_CLIENT_SECRET
export HSMFS_CONF=$T/etc/hsmfs.conf HSMFS_RUN_DIR=$T/run
V=$T/etc/volumes
mkdir -p "$V" "$T/m" "$T/bin" "$T/sbin"
ln -s "$HSMFS" "$T/bin/hsmfs"
ln -s "$HSMFS" "$T/sbin/hsmfs"
machine() {
	printf '# this machine\nca_file=%s\n  kek_scope=%s  \n' "$E/ca.pem" "$SCOPE" \
		>"$HSMFS_CONF"
	chmod 644 "$HSMFS_CONF"
}
machine
printf 'cipherdir=%s\nmountpoint=%s\n# the HSM is slow here\nhsm_timeout=20000\n' \
	"$T/c" "$T/m" >"$V/v1.conf"

# --- the machine's configuration
check "init takes ca_file and kek_scope from the machine's file (no -o)" \
	"$HSMFS" init --kek "$EMU_URL/keys/fskek" "$T/c" >/dev/null
check "and so do mount, umount and rekey" bash -c "
	'$HSMFS' mount '$T/c' '$T/m' && echo hello >'$T/m/hello' &&
	'$HSMFS' umount '$T/m' && '$HSMFS' rekey -q '$T/c' >/dev/null"

# A CA that signed nothing the emulator shows.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=other -days 2 -keyout "$T/other.key" -out "$T/other.pem" 2>/dev/null
sed -i "s|^ca_file=.*|ca_file=$T/other.pem|" "$HSMFS_CONF"
check "-o overrides the machine's file (ca_file)" \
	"$HSMFS" fsck --unwrap -o "ca_file=$E/ca.pem" "$T/c" >/dev/null
# The line of a missing or wrong CA: one line, the cure in it, short,
# and given at once: a retried call ends in "(operation deadline
# reached)" or "retry budget spent" after seconds of attempts.
sed -i '/^ca_file=/d' "$HSMFS_CONF"
out=$("$HSMFS" mount "$T/c" "$T/m" 2>&1)
echo "# $out"
check "no CA: one line naming the cure (ca_file= or the machine's file)" \
	test "$(wc -l <<<"$out")" -eq 1 -a -n "$(grep -F 'give its CA with -o ca_file=PATH or in /etc/hsmfs/hsmfs.conf' <<<"$out")"
check "no CA: the line is short (< 200 characters) and ends whole" \
	test ${#out} -lt 200 -a -n "$(grep -E 'issuer certificate\).*hsmfs\.conf$' <<<"$out")"
check "no CA: a certificate that does not verify is not retried" \
	bash -c "! grep -Eq 'deadline|retry|circuit' <<<'$out'"
machine

chmod 664 "$HSMFS_CONF"
out=$("$HSMFS" fsck "$T/c" 2>&1)
check "a group-writable machine file is refused, naming its mode" \
	grep -q "hsmfs.conf has mode 0664: .* only its owner may write it" <<<"$out"
chmod 644 "$HSMFS_CONF"
chown nobody "$HSMFS_CONF"
check "one owned by another user is refused (running as root)" \
	bash -c "'$HSMFS' mount '$T/c' '$T/m' 2>&1 | grep -q 'owned by uid .*: it must belong to root'"
chown root "$HSMFS_CONF"
echo "colour=blue" >>"$HSMFS_CONF"
check "an unknown option in it is refused with file:line" \
	bash -c "'$HSMFS' init --kek '$EMU_URL/keys/fskek' '$T/c9' 2>&1 |
		grep -qF '$HSMFS_CONF:4: unknown option '\''colour=blue'\'"
machine
mkdir -m 755 "$T/pub"
install -m 600 "$HSMFS_CONF" "$T/pub/hsmfs.conf"
check "a user kept out of the machine's file runs on the command line alone, told so" \
	bash -c "HSMFS_CONF='$T/pub/hsmfs.conf' setpriv --reuid=65534 --regid=65534 --clear-groups \
		'$HSMFS' fsck /nonexistent 2>&1 | tr '\n' ' ' |
		grep -q 'hsmfs.conf: Permission denied: its defaults are not used.*nonexistent'"
echo "cipherdir=$T/c" >>"$HSMFS_CONF"
check "cipherdir= belongs in a volume's file, not the machine's" \
	bash -c "'$HSMFS' fsck '$T/c' 2>&1 | grep -q 'hsmfs.conf:4: cipherdir= belongs in a volume'"
machine

# --- systemd: hsmfs@v1.service runs "hsmfs mount -f -o conf=v1" and is
# Type=notify; READY=1 must come once the mount is usable, STOPPING=1
# when it goes. A scratch $NOTIFY_SOCKET stands in for systemd.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(120)
for _ in range(2):
    print(s.recv(4096).decode().strip(), flush=True)
' "$T/notify.sock" >"$T/notify.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [[ -S $T/notify.sock ]] && break; sleep 0.05; done
# Options of mount(8) and systemd, as an ExecStart= copied from fstab
# would carry them, are ignored.
NOTIFY_SOCKET=$T/notify.sock "$HSMFS" mount -f \
	-o conf=v1,_netdev,nofail,x-systemd.automount,noauto,defaults >"$T/unit.log" 2>&1 &
UNIT=$!
PIDS+=("$UNIT")
ready=no
for _ in $(seq 400); do
	grep -q '^READY=1$' "$T/notify.log" && ready=yes && break
	kill -0 "$UNIT" 2>/dev/null || break
	sleep 0.05
done
check "mount -f -o conf=NAME,_netdev,nofail,x-systemd.automount,noauto says READY=1" \
	test $ready = yes || cat "$T/unit.log"
check "and the mount is usable when it does" \
	bash -c "mountpoint -q '$T/m' && grep -qx hello '$T/m/hello'"
check "hsmfs umount -o conf=NAME (the unit's ExecStop=) unmounts" \
	"$HSMFS" umount -o conf=v1
for _ in $(seq 200); do kill -0 "$UNIT" 2>/dev/null || break; sleep 0.05; done
check "the daemon said STOPPING=1 and exited" \
	bash -c "grep -qx STOPPING=1 '$T/notify.log' && ! kill -0 $UNIT 2>/dev/null"

# --- mount(8) and fstab. mount(8) drops PATH from its helpers'
# environment, and mount.fuse3 runs "hsmfs" through /bin/sh's default
# path, /usr/local/sbin first: a mount namespace of the test's own puts
# this build there (nothing of it is seen outside), and the FUSE mount
# lives and dies in it.
ns() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --propagation private bash -c '
		mount --bind "$1" /usr/local/sbin || exit 1
		shift
		trap "umount -l \"$M\" 2>/dev/null" EXIT
		"$@"' ns "$T/sbin" "$@"
}
export M=$T/m
check "mount -t fuse.hsmfs SRC MNT -o conf=...,_netdev,nofail,x-systemd.automount,noauto mounts; umount unmounts" \
	ns bash -c "
	mount -t fuse.hsmfs -o conf=$V/v1.conf,_netdev,nofail,x-systemd.automount,noauto '$T/c' '$M' &&
	findmnt -no FSTYPE '$M' | grep -qx fuse.hsmfs && grep -qx hello '$M/hello' &&
	umount '$M' && ! mountpoint -q '$M'"
printf '%s %s fuse.hsmfs _netdev,nofail,x-systemd.requires=network-online.target,conf=%s 0 0\n' \
	"$T/c" "$T/m" "$V/v1.conf" >"$T/fstab"
check "an fstab line (mount -T FSTAB MNT) mounts and unmounts" \
	ns bash -c "
	mount -T '$T/fstab' '$M' && grep -qx hello '$M/hello' &&
	umount '$M' && ! mountpoint -q '$M'"
# Nothing may be left running in a namespace no one can see.
stop_ours() {
	local p
	for p in $(pgrep -f -- "$T/c $T/m" || true); do kill "$p"; done
}
stop_ours

# --- mount.fuse3 itself (as mount(8) runs it, PATH aside): it appends
# dev,suid to every mount, which must not turn them on.
fuse3() {
	PATH=$T/bin:$PATH mount.fuse3 "$T/c" "$T/m" -t fuse.hsmfs -o "$1"
}
# daemon: the pid of the daemon serving $T/m.
daemon() {
	pgrep -f -- "$T/c $T/m" | head -n 1
}
# clean PID: the client secret is in neither its environment (which
# /proc shows as it was at exec) nor its command line.
clean() {
	[[ -r /proc/$1/environ ]] &&
		! grep -qaF -- "$SECRET" "/proc/$1/environ" &&
		! grep -qaF -- "$SECRET" "/proc/$1/cmdline"
}
nodev() {
	fuse3 "rw,conf=$V/v1.conf,nofail" &&
		findmnt -no OPTIONS "$T/m" | grep -q 'nosuid,nodev'
}
check "mount.fuse3 mounts (hsmfs SRC MNT -o OPTS), nodev,nosuid whatever it appends" \
	nodev
pid=$(daemon)
check "the daemon found (pid ${pid:-none})" test -n "$pid"
check "its environment and command line do not hold the client secret" \
	clean "${pid:-0}" || tr '\0' '\n' <"/proc/${pid:-0}/environ" | grep AZURE
check "it did have the secret: AZURE_CLIENT_SECRET was given to it" \
	bash -c "tr '\0' '\n' </proc/${pid:-0}/environ | grep -q '^AZURE_CLIENT_SECRET='"
umount_wait "$T/m"

# --- credentials from a file and from systemd, none in the environment
unset AZURE_CLIENT_SECRET
CF=$T/etc/azure.cred
printf '# hsmfs-mount\nAZURE_TENANT_ID=%s\nAZURE_CLIENT_ID="%s"\nAZURE_CLIENT_SECRET=%s\n' \
	"$AZURE_TENANT_ID" "$AZURE_CLIENT_ID" "$SECRET" >"$CF"
chmod 644 "$CF"
out=$(fuse3 "credential_file=$CF" 2>&1)
check "a credential file of mode 0644 is refused, naming the mode" \
	grep -q "azure.cred has mode 0644: it holds secrets, so only its owner may read it" <<<"$out"
chmod 600 "$CF"
check "credential_file= (mode 0600) gives the credentials" \
	fuse3 "credential_file=$CF"
pid=$(daemon)
check "the daemon's environment and command line do not hold the secret" \
	clean "${pid:-0}"
umount_wait "$T/m"

mkdir -m 700 "$T/creds"
printf '%s\n' "$SECRET" >"$T/creds/azure-client-secret"
chmod 400 "$T/creds/azure-client-secret"
CREDENTIALS_DIRECTORY=$T/creds "$HSMFS" mount -f "$T/c" "$T/m" >"$T/creds.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 400); do mountpoint -q "$T/m" && break; sleep 0.05; done
check "systemd credentials (\$CREDENTIALS_DIRECTORY/azure-client-secret) give the secret" \
	bash -c "grep -qx hello '$T/m/hello'" || cat "$T/creds.log"
check "and the daemon's environment does not hold it" clean "$(daemon)"
umount_wait "$T/m"

# --- no credentials at all: the line says what was looked for
out=$(
	for v in $(compgen -e | grep '^AZURE_'); do unset "$v"; done
	unset CREDENTIALS_DIRECTORY
	HSMFS_IMDS_ENDPOINT=$(cat "$E/imds_url") "$HSMFS" mount "$T/c" "$T/m" 2>&1
)
echo "# $out"
# shellcheck disable=SC2016 # the line names the variable, unexpanded
check "no credentials: the line lists what was tried" \
	grep -qF 'no credentials: none of AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE, credential_file= or $CREDENTIALS_DIRECTORY was given, and managed identity refused (HTTP 400' <<<"$out"

# --- the rest of the command line
check "hsmfs NAME ARG where NAME is no command and no directory is still refused" \
	bash -c "'$HSMFS' nosuchcmd '$T/m' 2>&1 | grep -q \"unknown command 'nosuchcmd'\""
check "a volume's file may not contradict the command line" \
	bash -c "! '$HSMFS' mount -o conf=v1 '$T/c9' '$T/m' 2>/dev/null"
check "the shipped example files parse" bash -c "
	HSMFS_CONF='$ROOT/dist/hsmfs.conf.example' '$HSMFS' fsck -o conf='$ROOT/dist/volume.conf.example' '$T/nonexistent' 2>&1 |
	grep -q 'nonexistent'"

# --- the systemd unit, verified but never started
if command -v systemd-analyze >/dev/null; then
	sed "s|/usr/local/bin/hsmfs|$HSMFS|g" "$ROOT/dist/systemd/hsmfs@.service" \
		>"$T/hsmfs@v1.service"
	out=$(systemd-analyze verify "$T/hsmfs@v1.service" 2>&1)
	check "systemd-analyze verify accepts hsmfs@.service, without a warning" \
		test $? -eq 0 -a -z "$out" || echo "$out"
else
	echo "# systemd-analyze not found: the unit file is not verified"
fi
finish
