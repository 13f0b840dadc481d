#!/usr/bin/env bash
# An independent reader (tests/reader/hsmfs_read.py, written from
# crypto/FORMAT.md alone, keys unwrapped by the HSM emulator over HTTPS)
# decrypts volumes of formats 1 and 2, with encrypted and plaintext
# names, to exactly what was written through the mount; also after a
# rotation and rekey, after rekey --to another KEK, and the frozen
# fixtures. A changed block, header MAC, name, sidecar or config stops
# it with a message naming the backing file.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
READER=$ROOT/tests/reader/hsmfs_read.py
E=$T/emu
emu_start "$E" || { bad "emulator starts"; finish; }
emu_setup "$E" fskek RSA-HSM 3072 || { bad "emulator setup"; finish; }
KEK=$EMU_URL/keys/fskek
O=ca_file=$E/ca.pem,kek_scope=$SCOPE

# hsmfs_read BACKING OUT [ARGS...]: the reader, its messages in OUT.err.
hsmfs_read() {
	local c=$1 out=$2
	shift 2
	"$PY" "$READER" -q --ca-file "$E/ca.pem" --scope "$SCOPE" "$@" \
		"$c" "$out" 2>"$out.err"
}

# The same content goes through the mount and into a plain reference tree.
# Sizes around a block, past the first record group of format 2 (73
# blocks), exactly filling group 0 and group 1 (219 blocks) and one more
# block, and spanning group 2.
SIZES=(0 1 4095 4096 4097 $((73 * 4096)) $((73 * 4096 + 1)) $((300 * 1024 + 7))
	$((219 * 4096)) $((219 * 4096 + 1)) $((1024 * 1024 + 3)))
mkdir "$T/src"
for s in "${SIZES[@]}"; do
	head -c "$s" /dev/urandom >"$T/src/$s"
done
LONG=$(printf 'L%.0s' $(seq 200))
LONGDIR=$(printf 'D%.0s' $(seq 180))

# populate DIR: the test tree.
populate() {
	local d=$1 s
	for s in "${SIZES[@]}"; do
		cat "$T/src/$s" >"$d/size-$s"
	done
	echo "a long name" >"$d/$LONG"
	mkdir -p "$d/a/b/c" "$d/$LONGDIR"
	cp "$T/src/4097" "$d/a/b/c/deep"
	echo inside >"$d/$LONGDIR/$LONG"
	for s in 159 160 255; do
		echo "$s" >"$d/a/$(printf 'n%.0s' $(seq "$s"))"
	done
	ln -s a/b/c/deep "$d/link"
	# The longest target the format allows (3043 bytes).
	ln -s "$(printf 'x/%.0s' $(seq 1520))end" "$d/a/longlink"
	setfattr -n user.color -v blue "$d/size-4097"
	setfattr -n user.empty "$d/size-1"
	# The longest xattr name with encrypted names: "user." and 159 bytes.
	setfattr -n "user.$(printf 'k%.0s' $(seq 159))" -v "$(head -c 300 /dev/zero | tr '\0' v)" "$d/size-1"
	setfattr -n user.kind -v directory "$d/a/b"
	setfattr -n user.top -v root "$d"
	mkfifo "$d/a/fifo"
	# Names the volume reserves with encrypted names only.
	for s in hsmfs.diriv hsmfs.longname.x hsmfs.tmp.0123456789abcdef; do
		echo "$s" >"$d/a/b/$s"
	done
	echo gone >"$d/truncated" && truncate -s 0 "$d/truncated"
	printf x | dd of="$d/sparse" bs=1 seek=20000 status=none
	chmod 600 "$d/size-1"
	chmod 750 "$d/a/b"
	ln "$d/size-4096" "$d/a/hardlink"
}
mkdir "$T/ref"
populate "$T/ref"
manifest "$T/ref" >"$T/ref.manifest"

flip() { # flip FILE OFFSET
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf '%b' "\\$(printf '%03o' $(((b ^ 0x01) & 0xff)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# ciphertext_at FORMAT N: where block N's ciphertext starts (FORMAT.md 3.2).
ciphertext_at() {
	local n=$2
	if (($1 == 1)); then
		echo $((2048 + n * 4124 + 12))
	elif ((n < 73)); then
		echo $((4096 * (n + 1)))
	else
		echo $((4096 * (74 + 147 * ((n - 73) / 146) + 1 + (n - 73) % 146)))
	fi
}

# refused NAME CIPHERDIR FILE: the reader fails on CIPHERDIR, naming FILE.
refused() {
	local name=$1 c=$2 f=$3 out=$T/out.$RANDOM
	if hsmfs_read "$c" "$out"; then
		bad "$name: the reader refuses it (it exited 0)"
	elif ! grep -qF -- "$f" "$out.err"; then
		bad "$name: the reader's message names $f"
		sed 's/^/    /' "$out.err"
	else
		ok "$name: refused, naming the backing file"
	fi
}

# same NAME CIPHERDIR [READER-ARGS...]: the reader's output is the
# reference tree.
same() {
	local name=$1 c=$2 out=$T/out.$RANDOM
	shift 2
	if ! hsmfs_read "$c" "$out" "$@"; then
		bad "$name: the reader fails"
		sed 's/^/    /' "$out.err"
		return
	fi
	# The device node is made through the mount only (the mount is nodev:
	# the manifest could not read it there).
	if ((EUID == 0)); then
		check "$name: a device node keeps its type and number" \
			test "$(stat -c '%F %t:%T %a' "$out/a/null")" = "character special file 1:3 644"
		rm -f "$out/a/null"
	fi
	manifest "$out" >"$out.manifest"
	check "$name: every file, name, link, xattr and mode as written" \
		diff -u "$T/ref.manifest" "$out.manifest"
	check "$name: the largest file is byte-exact" \
		cmp "$T/src/$((1024 * 1024 + 3))" "$out/size-$((1024 * 1024 + 3))"
	check "$name: the long names are there" \
		cmp "$T/ref/$LONGDIR/$LONG" "$out/$LONGDIR/$LONG"
	check "$name: the root's xattr is there" \
		test "$(getfattr -n user.top --only-values "$out" 2>/dev/null)" = root
}

for fmt in 1 2; do
	for names in encrypted plaintext; do
		v=f$fmt-$names
		c=$T/$v
		m=$T/m-$v
		opt=()
		[[ $names == plaintext ]] && opt=(--plaintext-names)
		check "$v: init" "$HSMFS" init --kek "$KEK" --format "$fmt" "${opt[@]}" -o "$O" "$c" >/dev/null
		mount_hsm "$c" "$m" -o "$O" || { bad "$v: mount"; continue; }
		populate "$m"
		check "$v: the mount shows what was written" \
			diff -u "$T/ref.manifest" <(manifest "$m")
		((EUID == 0)) && mknod "$m/a/null" c 1 3
		ino_file=$(stat -c %i "$m/size-4097")
		ino_big=$(stat -c %i "$m/size-$((1024 * 1024 + 3))")
		ino_dir=$(stat -c %i "$m/a")
		umount_wait "$m"

		same "$v" "$c"

		# Negative checks, each on a fresh copy of the volume.
		bf=$(find "$c" -inum "$ino_file" | head -n 1)
		bb=$(find "$c" -inum "$ino_big" | head -n 1)
		bd=$(find "$c" -inum "$ino_dir")
		# Block 1 of size-4097 is its last byte.
		blk1=$(ciphertext_at "$fmt" 1)
		blk250=$(($(ciphertext_at "$fmt" 250) + 7))

		n=$T/neg
		rm -rf "$n" && cp -a "$c" "$n"
		flip "$n/${bf#"$c"/}" "$blk1"
		refused "$v: a byte of block 1 flipped" "$n" "$n/${bf#"$c"/}"

		rm -rf "$n" && cp -a "$c" "$n"
		flip "$n/${bb#"$c"/}" "$blk250"
		refused "$v: a byte of block 250 flipped" "$n" "$n/${bb#"$c"/}"

		rm -rf "$n" && cp -a "$c" "$n"
		flip "$n/${bf#"$c"/}" $((32 + 776 + 5))
		refused "$v: a byte of the header slot MAC flipped" "$n" "$n/${bf#"$c"/}"

		# A torn rewrap: slot 0 copied to the spare slot with a higher
		# generation, so its MAC fails; the reader falls back to slot 0.
		rm -rf "$n" && cp -a "$c" "$n"
		dd if="$bf" of="$n/${bf#"$c"/}" bs=1 skip=32 seek=1040 count=1008 conv=notrunc status=none
		flip "$n/${bf#"$c"/}" $((1040 + 3))
		if hsmfs_read "$n" "$T/torn"; then
			check "$v: a spare slot that fails its MAC is passed over" \
				cmp "$T/src/4097" "$T/torn/size-4097"
		else
			bad "$v: a spare slot that fails its MAC is passed over"
			sed 's/^/    /' "$T/torn.err"
		fi
		rm -rf "$T/torn"

		rm -rf "$n" && cp -a "$c" "$n"
		chmod u+w "$n/hsmfs.conf"
		off=$(grep -bo '"creator"' "$n/hsmfs.conf" | cut -d: -f1)
		flip "$n/hsmfs.conf" $((off + 14))
		refused "$v: a byte of hsmfs.conf flipped" "$n" "$n/hsmfs.conf"

		if [[ $names == encrypted ]]; then
			rm -rf "$n" && cp -a "$c" "$n"
			e=${bd##*/}
			[[ ${e:5:1} == A ]] && r=B || r=A
			mv "$n/$e" "$n/${e:0:5}$r${e:6}"
			refused "$v: a changed encrypted name" "$n" "$n/${e:0:5}$r${e:6}"

			rm -rf "$n" && cp -a "$c" "$n"
			side=$(find "$n" -maxdepth 1 -name 'hsmfs.longname.*.name' | head -n 1)
			chmod u+w "$side"
			flip "$side" 10
			refused "$v: a changed long-name sidecar" "$n" "$side"
		fi
		rm -rf "$n"
	done
done

# A rotation and a rekey (the file slots now of generation 2, a new KEK
# version), then rekey --to an AES key of the HSM.
c=$T/f2-encrypted
emu_ctl "$E" key rotate fskek >/dev/null
check "rekey after a rotation" "$HSMFS" rekey -q -o "$O" "$c" >/dev/null 2>&1
same "after rotation and rekey" "$c"
emu_ctl "$E" key create aeskek --kty oct-HSM --size 256 >/dev/null &&
	emu_ctl "$E" role assign --principal hsmfs-mount \
		--role "Managed HSM Crypto Service Encryption User" \
		--scope /keys/aeskek >/dev/null
check "rekey --to an AES key" "$HSMFS" rekey -q --to "$EMU_URL/keys/aeskek" -o "$O" "$c" >/dev/null 2>&1
same "after rekey --to an AES key" "$c" --kek "$EMU_URL/keys/aeskek"
check "the reader refuses a volume of another KEK than asked" \
	bash -c "! '$PY' '$READER' -q --ca-file '$E/ca.pem' --kek '$KEK' '$c' '$T/other' 2>/dev/null"

# rekey --data: fresh DEKs, content re-encrypted, hard links and xattrs kept.
c=$T/f2-plaintext
check "rekey --data" "$HSMFS" rekey --data -o "$O" "$c" >/dev/null
same "after rekey --data" "$c"

# An interrupted rekey --to: the config lists the old KEK in
# previous_keks and the files are wrapped by either KEK.
c=$T/f1-encrypted
emu_ctl "$E" key create aeskek2 --kty oct-HSM --size 256 >/dev/null &&
	emu_ctl "$E" role assign --principal hsmfs-mount \
		--role "Managed HSM Crypto Service Encryption User" \
		--scope /keys/aeskek2 >/dev/null
emu_ctl "$E" faults set --latency-ms 300 --ops WrapKey >/dev/null
"$HSMFS" rekey -q --jobs 1 --to "$EMU_URL/keys/aeskek2" -o "$O" "$c" >/dev/null 2>&1 &
rk=$!
for _ in $(seq 100); do
	grep -q previous_keks "$c/hsmfs.conf" && break
	sleep 0.05
done
sleep 1
kill -9 "$rk" 2>/dev/null
wait "$rk" 2>/dev/null
emu_ctl "$E" faults clear >/dev/null
check "an interrupted rekey --to leaves previous_keks in the config" \
	grep -q previous_keks "$c/hsmfs.conf"
"$HSMFS" rekey --check -o "$O" "$c" >/dev/null 2>&1
check "and files still wrapped by the previous KEK" test $? -eq 1
same "after an interrupted rekey --to" "$c"

# The frozen fixtures, their software KEK given to the reader as a file.
F=$ROOT/tests/fixtures
for v in 1 2; do
	mkdir "$T/frozen$v"
	tar --xattrs --xattrs-include='user.*' -C "$T/frozen$v" -xf "$F/v$v.tar"
	out=$T/frozen-out$v
	if "$PY" "$READER" -q --local-kek "testkek://frozen/v1=$F/v$v.key" \
		"$T/frozen$v" "$out" 2>"$out.err"; then
		check "frozen v$v: the reader's tree is the recorded one" \
			diff -u "$F/v$v.manifest" <(manifest "$out")
	else
		bad "frozen v$v: the reader fails"
		sed 's/^/    /' "$out.err"
	fi
done
finish
