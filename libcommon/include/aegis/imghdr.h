/*
 * imghdr.h - an image's width and height read from its header bytes (PNG
 * IHDR, GIF logical screen, JPEG start-of-frame, TIFF IFD0), without
 * decoding a pixel. Shared by validate (pixel-count limit) and
 * extract-metadata (width, height). Pure function over a buffer: safe in
 * sandbox children and in the parent alike.
 */
#ifndef AEGIS_IMGHDR_H
#define AEGIS_IMGHDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Width and height of the PNG, GIF, JPEG or TIFF whose first `len` bytes are in buf; false when the header is not
 * found in them (a JPEG's frame header may lie after large APP segments: pass enough bytes). */
bool ag_imghdr_size(const unsigned char *buf, size_t len, uint32_t *w, uint32_t *h);

#endif
