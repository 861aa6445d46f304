/*
 * imghdr.c - image dimensions from header bytes (see imghdr.h).
 */
#include "aegis/imghdr.h"

#include <string.h>

static uint32_t imghdr_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t imghdr_u16(const unsigned char *p, bool le)
{
	return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : (uint32_t)p[0] << 8 | p[1];
}

static uint32_t imghdr_u32(const unsigned char *p, bool le)
{
	return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24 : imghdr_be32(p);
}

static bool imghdr_jpeg(const unsigned char *b, size_t len, uint32_t *w, uint32_t *h)
{
	size_t i = 2;
	while (i + 9 < len) {
		if (b[i] != 0xFF) {
			i++;
			continue;
		}
		unsigned char m = b[i + 1];
		size_t seg = (size_t)b[i + 2] << 8 | b[i + 3];
		if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
			*h = (uint32_t)b[i + 5] << 8 | b[i + 6];
			*w = (uint32_t)b[i + 7] << 8 | b[i + 8];
			return true;
		}
		if (m == 0xD8 || m == 0x01 || m == 0xFF || (m >= 0xD0 && m <= 0xD7)) {
			i += m == 0xFF ? 1 : 2; /* fill bytes and markers without a length */
			continue;
		}
		i += 2 + seg;
	}
	return false;
}

/* TIFF: ImageWidth (256) and ImageLength (257) in the first IFD. */
static bool imghdr_tiff(const unsigned char *b, size_t len, uint32_t *w, uint32_t *h)
{
	bool le = b[0] == 'I';
	uint32_t off = imghdr_u32(b + 4, le);
	if (off > len || len - off < 2)
		return false;
	uint32_t n = imghdr_u16(b + off, le);
	bool gw = false, gh = false;
	for (uint32_t k = 0; k < n; k++) {
		size_t e = (size_t)off + 2 + (size_t)k * 12;
		if (e + 12 > len)
			break;
		uint32_t tag = imghdr_u16(b + e, le), type = imghdr_u16(b + e + 2, le);
		uint32_t v = type == 3 ? imghdr_u16(b + e + 8, le) : imghdr_u32(b + e + 8, le);
		if (tag == 256) {
			*w = v;
			gw = true;
		} else if (tag == 257) {
			*h = v;
			gh = true;
		}
	}
	return gw && gh;
}

bool ag_imghdr_size(const unsigned char *b, size_t len, uint32_t *w, uint32_t *h)
{
	if (len >= 24 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(b + 12, "IHDR", 4) == 0) {
		*w = imghdr_be32(b + 16);
		*h = imghdr_be32(b + 20);
		return true;
	}
	if (len >= 10 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0)) {
		*w = (uint32_t)b[6] | (uint32_t)b[7] << 8;
		*h = (uint32_t)b[8] | (uint32_t)b[9] << 8;
		return true;
	}
	if (len >= 4 && b[0] == 0xFF && b[1] == 0xD8)
		return imghdr_jpeg(b, len, w, h);
	if (len >= 8 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0))
		return imghdr_tiff(b, len, w, h);
	return false;
}
