# report.awk: turns samples.tsv (group, workload, unit, fs, round, value;
# tab-separated) into Markdown tables for one group.
#
#   awk -v GROUP=plain -v FSLIST="raw bindfs ... hsmfs" -v REF=hsmfs \
#       -v RATIOS=1 -f report.awk samples.tsv
#
# Table 1: per workload and filesystem, the median over rounds and the
# spread "(min-max)". Table 2 (RATIOS=1): per workload and peer, the
# median over rounds of peer/REF within the same round (min-max), so that
# drifts of the machine between rounds cancel out. ONLY_RATIOS=1: table 2
# alone (a second reference).

BEGIN {
	FS = "\t"
	nfs = split(FSLIST, fsn, " ")
}

$1 == GROUP {
	w = $2
	if (!(w in unit)) {
		order[++nw] = w
		unit[w] = $3
	}
	k = w SUBSEP $4
	vals[k, ++cnt[k]] = $6 + 0
	at[w, $4, $5] = $6 + 0
	if ($5 + 0 > maxround)
		maxround = $5 + 0
}

# fmt X: X with about three significant digits.
function fmt(x, ax) {
	ax = x < 0 ? -x : x
	if (x == int(x))
		return sprintf("%d", x)
	if (ax >= 100)
		return sprintf("%.0f", x)
	if (ax >= 10)
		return sprintf("%.1f", x)
	if (ax >= 1)
		return sprintf("%.2f", x)
	return sprintf("%.3f", x)
}

# sort_copy SRC PREFIX N DST: DST[1..N] = SRC[PREFIX, 1..N], sorted.
function sort_copy(src, prefix, n, dst, i, j, t) {
	for (i = 1; i <= n; i++)
		dst[i] = src[prefix, i]
	for (i = 2; i <= n; i++) {
		t = dst[i]
		for (j = i - 1; j >= 1 && dst[j] > t; j--)
			dst[j + 1] = dst[j]
		dst[j + 1] = t
	}
}

# cell SORTED N SUFFIX: "median (min-max)" of SORTED[1..N].
# table_head HDR SEP SKIP: prints a table's header row and separator, a
# column per filesystem but SKIP, after the leading columns HDR and SEP.
function table_head(hdr, sep, skip, f) {
	for (f = 1; f <= nfs; f++) {
		if (fsn[f] == skip)
			continue
		hdr = hdr " " fsn[f] " |"
		sep = sep "---:|"
	}
	print hdr
	print sep
}

function cell(s, n, suffix, med) {
	if (n == 0)
		return "-"
	med = (n % 2) ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
	if (n == 1)
		return fmt(med) suffix
	return fmt(med) suffix " (" fmt(s[1]) "-" fmt(s[n]) ")"
}

END {
	if (nw == 0)
		exit
	if (ONLY_RATIOS)
		ratios()
	else
		medians()
}

# medians: table 1, then table 2 if RATIOS.
function medians(i, w, line, f, k, s) {
	table_head("| workload | unit |", "|---|---|", "")
	for (i = 1; i <= nw; i++) {
		w = order[i]
		line = "| " w " | " unit[w] " |"
		for (f = 1; f <= nfs; f++) {
			k = w SUBSEP fsn[f]
			delete s
			sort_copy(vals, k, cnt[k] + 0, s)
			line = line " " cell(s, cnt[k] + 0, "") " |"
		}
		print line
	}
	if (!RATIOS)
		return
	print ""
	ratios()
}

# ratios: table 2, per workload and peer, peer / REF paired per round.
function ratios(i, w, line, f, n, r, rd, s) {
	print "Ratio to " REF " (peer / " REF ", paired per round; > 1: the peer is faster):"
	print ""
	table_head("| workload |", "|---|", REF)
	for (i = 1; i <= nw; i++) {
		w = order[i]
		line = "| " w " |"
		for (f = 1; f <= nfs; f++) {
			if (fsn[f] == REF)
				continue
			n = 0
			delete r
			for (rd = 1; rd <= maxround; rd++)
				if ((w, fsn[f], rd) in at && (w, REF, rd) in at && at[w, REF, rd] > 0)
					r[1, ++n] = at[w, fsn[f], rd] / at[w, REF, rd]
			delete s
			sort_copy(r, 1, n, s)
			line = line " " cell(s, n, "x") " |"
		}
		print line
	}
}
