/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/b64.h"
#include "hdr.h"

static const uint8_t magic[4] = { 'H', 'S', 'M', 'F' };

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static int all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

unsigned hdr_slot_offset(int i)
{
	return HDR_FIXED_LEN + (unsigned)i * HDR_SLOT_LEN;
}

static void encode_fixed(const struct hdr *h, uint8_t *p)
{
	memcpy(p, magic, 4);
	put16(p + 4, HDR_VERSION);
	put16(p + 6, 0);
	put32(p + 8, HDR_LEN);
	put32(p + 12, 4096);
	memcpy(p + 16, h->file_id, ID_LEN);
}

static void encode_slot(const struct hdr_slot *s, uint8_t *p)
{
	size_t kl = strlen(s->kid);

	memset(p, 0, HDR_SLOT_LEN);
	if (s->gen == 0)
		return;
	put32(p, s->gen);
	p[4] = (uint8_t)s->alg;
	p[5] = (uint8_t)kl;
	put16(p + 6, s->wlen);
	memcpy(p + 8, s->kid, kl);
	memcpy(p + 264, s->wrapped, s->wlen);
	memcpy(p + HDR_SLOT_MACED, s->mac, 32);
}

void hdr_encode(const struct hdr *h, uint8_t buf[HDR_LEN])
{
	encode_fixed(h, buf);
	for (int i = 0; i < HDR_SLOTS; i++)
		encode_slot(&h->slot[i], buf + hdr_slot_offset(i));
}

static int kid_ok(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return 0;
	return 1;
}

static const char *parse_slot(const uint8_t *p, struct hdr_slot *s)
{
	memset(s, 0, sizeof(*s));
	s->gen = get32(p);
	if (s->gen == 0)
		return all_zero(p, HDR_SLOT_LEN) ? NULL : "empty slot not zeroed";
	s->alg = (enum kek_alg)p[4];
	if (s->alg < KEK_ALG_RSA_OAEP_256 || s->alg > KEK_ALG_WK_SIV)
		return "unknown key-wrap algorithm";
	if (p[5] == 0 || !kid_ok(p + 8, p[5]) ||
	    !all_zero(p + 8 + p[5], 256 - p[5]))
		return "bad key id";
	memcpy(s->kid, p + 8, p[5]);
	s->wlen = get16(p + 6);
	if (s->wlen == 0 || s->wlen > HDR_WRAPPED_MAX ||
	    !all_zero(p + 264 + s->wlen, HDR_WRAPPED_MAX - s->wlen))
		return "bad wrapped key length";
	memcpy(s->wrapped, p + 264, s->wlen);
	if (s->alg == KEK_ALG_WK_SIV &&
	    (s->wlen != HDR_WK_WRAPPED_LEN ||
	     strncmp(s->kid, HDR_WK_KID_PREFIX, strlen(HDR_WK_KID_PREFIX))))
		return "bad locally wrapped key";
	memcpy(s->mac, p + HDR_SLOT_MACED, 32);
	if (!all_zero(p + HDR_SLOT_MACED + 32,
		      HDR_SLOT_LEN - HDR_SLOT_MACED - 32))
		return "reserved bytes not zero";
	return NULL;
}

static const char *parse_fixed(const uint8_t *buf, struct hdr *h)
{
	if (memcmp(buf, magic, 4) != 0)
		return "not an hsmfs file (bad magic)";
	if (get16(buf + 4) != HDR_VERSION)
		return "unsupported header version";
	if (get16(buf + 6) != 0 || get32(buf + 8) != HDR_LEN ||
	    get32(buf + 12) != 4096)
		return "unsupported header flags or geometry";
	memcpy(h->file_id, buf + 16, ID_LEN);
	if (all_zero(h->file_id, ID_LEN))
		return "all-zero file id";
	return NULL;
}

int hdr_parse(const uint8_t buf[HDR_LEN], struct hdr *h, const char **why)
{
	int used = 0;

	if ((*why = parse_fixed(buf, h)))
		return -EINVAL;
	for (int i = 0; i < HDR_SLOTS; i++) {
		h->bad[i] = parse_slot(buf + hdr_slot_offset(i), &h->slot[i]);
		if (h->bad[i])
			memset(&h->slot[i], 0, sizeof(h->slot[i]));
		used += h->slot[i].gen != 0;
	}
	if (used)
		return 0;
	*why = h->bad[0] ? h->bad[0] : h->bad[1] ? h->bad[1]
						 : "no key slot in use";
	return -EINVAL;
}

int hdr_read(int fd, struct hdr *h, const char **why)
{
	uint8_t buf[HDR_LEN];
	size_t got;

	return hdr_read_head(fd, buf, HDR_LEN, &got, h, why);
}

int hdr_read_head(int fd, uint8_t *buf, size_t len, size_t *gotp,
		  struct hdr *h, const char **why)
{
	size_t got = 0;
	ssize_t n;

	*gotp = 0;
	/* A regular file reads whole; the loop is for the rare short read. */
	while (got < len) {
		n = pread(fd, buf + got, len - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*why = "cannot read the header";
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*gotp = got;
	if (got == 0) {
		*why = "empty file (no header)";
		return -ENOKEY;
	}
	if (got < HDR_LEN) {
		*why = "file too short for a header";
		return -EINVAL;
	}
	return hdr_parse(buf, h, why);
}

/* MAC input: the fixed part, then the slot's first HDR_SLOT_MACED bytes. */
/* The MAC key depends on the volume key as well as the DEK: with an RSA
 * KEK anyone can wrap a DEK of their choosing with the public key, but
 * only a holder of the volume key can make a header this volume accepts. */
static int slot_mac(const struct hdr *h, int i, const uint8_t vk[KEY_LEN],
		    const uint8_t dek[KEY_LEN], uint8_t mac[32])
{
	uint8_t msg[HDR_FIXED_LEN + HDR_SLOT_LEN], mk[KEY_LEN];
	uint8_t ikm[2 * KEY_LEN];
	int ret;

	encode_fixed(h, msg);
	encode_slot(&h->slot[i], msg + HDR_FIXED_LEN);
	memcpy(ikm, vk, KEY_LEN);
	memcpy(ikm + KEY_LEN, dek, KEY_LEN);
	ret = keys_hkdf(ikm, sizeof(ikm), KDF_HDR_MAC, mk, sizeof(mk));
	if (!ret)
		ret = keys_hmac(mk, msg, HDR_FIXED_LEN + HDR_SLOT_MACED, mac);
	secmem_wipe(ikm, sizeof(ikm));
	secmem_wipe(mk, sizeof(mk));
	return ret;
}

int hdr_slot_seal(struct hdr *h, int i, const uint8_t vk[KEY_LEN],
		  const uint8_t dek[KEY_LEN])
{
	return slot_mac(h, i, vk, dek, h->slot[i].mac);
}

int hdr_slot_verify(const struct hdr *h, int i, const uint8_t vk[KEY_LEN],
		    const uint8_t dek[KEY_LEN])
{
	uint8_t mac[32];
	int err = slot_mac(h, i, vk, dek, mac);

	if (err)
		return err;
	return keys_equal(mac, h->slot[i].mac, 32) ? 0 : -EBADMSG;
}

int hdr_slot_order(const struct hdr *h, int order[HDR_SLOTS])
{
	int n = 0;

	for (int i = 0; i < HDR_SLOTS; i++)
		if (h->slot[i].gen)
			order[n++] = i;
	if (n == 2 && h->slot[order[1]].gen > h->slot[order[0]].gen) {
		order[0] = 1;
		order[1] = 0;
	}
	return n;
}

int hdr_spare_slot(const struct hdr *h)
{
	if (h->slot[0].gen == 0)
		return 0;
	if (h->slot[1].gen == 0)
		return 1;
	return h->slot[0].gen < h->slot[1].gen ? 0 : 1;
}

void rec_pack(const char rmagic[8], const uint8_t id[ID_LEN],
	      const uint8_t key[KEY_LEN], uint8_t rec[REC_LEN])
{
	memcpy(rec, rmagic, 8);
	memcpy(rec + 8, id, ID_LEN);
	memcpy(rec + 8 + ID_LEN, key, KEY_LEN);
}

int rec_unpack(uint8_t *rec, size_t n, const char rmagic[8],
	       const uint8_t id[ID_LEN], uint8_t key[KEY_LEN])
{
	int ok = n == REC_LEN && memcmp(rec, rmagic, 8) == 0 &&
		 keys_equal(rec + 8, id, ID_LEN);

	if (ok)
		memcpy(key, rec + 8 + ID_LEN, KEY_LEN);
	secmem_wipe(rec, n);
	return ok ? 0 : -EINVAL;
}

void hdr_wk_kid(const uint8_t volume_id[ID_LEN], uint32_t gen,
		char kid[HDR_KID_MAX + 1])
{
	char id[B64_ENC_LEN(ID_LEN) + 1];

	b64url_encode(volume_id, ID_LEN, id);
	snprintf(kid, HDR_KID_MAX + 1, HDR_WK_KID_PREFIX "%s:%u", id, gen);
}

int hdr_wk_kid_gen(const char *kid, const uint8_t volume_id[ID_LEN],
		   uint32_t *gen)
{
	char want[HDR_KID_MAX + 1];
	const char *p;
	uint64_t g = 0;
	size_t n;

	/* The prefix with this volume's id, then a decimal number with no
	 * sign and no leading zero: one spelling per generation. */
	hdr_wk_kid(volume_id, 1, want);
	n = strlen(want) - 1;
	if (strncmp(kid, want, n) != 0)
		return -EINVAL;
	p = kid + n;
	if (*p < '1' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9' && g <= UINT32_MAX; p++)
		g = g * 10 + (uint64_t)(*p - '0');
	if (*p || g > UINT32_MAX)
		return -EINVAL;
	*gen = (uint32_t)g;
	return 0;
}

/* Slots are sealed with a key of their own purpose, not WK itself. */
static int wk_siv_key(const uint8_t wk[KEY_LEN], uint8_t sk[KEYS_SIV_KEY])
{
	return keys_hkdf(wk, KEY_LEN, KDF_WK_SIV, sk, KEYS_SIV_KEY);
}

int hdr_wk_wrap(const uint8_t wk[KEY_LEN], const uint8_t volume_id[ID_LEN],
		uint32_t gen, const char rmagic[8], const uint8_t id[ID_LEN],
		const uint8_t key[KEY_LEN], struct hdr_slot *s)
{
	uint8_t sk[KEYS_SIV_KEY], rec[REC_LEN];
	int ret;

	hdr_wk_kid(volume_id, gen, s->kid);
	s->alg = KEK_ALG_WK_SIV;
	rec_pack(rmagic, id, key, rec);
	ret = wk_siv_key(wk, sk);
	if (!ret)
		ret = keys_siv_seal(sk, (const uint8_t *)s->kid,
				    strlen(s->kid), rec, REC_LEN, s->wrapped);
	if (!ret)
		s->wlen = HDR_WK_WRAPPED_LEN;
	secmem_wipe(rec, sizeof(rec));
	secmem_wipe(sk, sizeof(sk));
	return ret;
}

int hdr_wk_unwrap(const uint8_t wk[KEY_LEN], const struct hdr_slot *s,
		  const char rmagic[8], const uint8_t id[ID_LEN],
		  uint8_t key[KEY_LEN])
{
	uint8_t sk[KEYS_SIV_KEY], rec[REC_LEN];
	int ret;

	if (s->alg != KEK_ALG_WK_SIV || s->wlen != HDR_WK_WRAPPED_LEN)
		return -EINVAL;
	ret = wk_siv_key(wk, sk);
	if (!ret)
		ret = keys_siv_open(sk, (const uint8_t *)s->kid,
				    strlen(s->kid), s->wrapped, s->wlen, rec);
	/* rec_unpack wipes rec whatever it finds. */
	if (!ret && rec_unpack(rec, REC_LEN, rmagic, id, key) != 0)
		ret = -EBADMSG;
	secmem_wipe(rec, sizeof(rec));
	secmem_wipe(sk, sizeof(sk));
	return ret;
}
