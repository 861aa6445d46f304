/*
 * imgmeta.h - image properties for the sandboxed child of extract-metadata
 * (docmeta.h): width and height from the header (aegis/imghdr.h), and from
 * EXIF through libexif (JPEG APP1, TIFF): camera_make, camera_model,
 * taken_at (DateTimeOriginal, else DateTime, as "YYYY-MM-DDTHH:MM:SS":
 * EXIF carries no zone), gps_lat and gps_lon (decimal degrees, south and
 * west negative). Only the first IMGMETA_HEAD_BYTES of the file are read.
 */
#ifndef METADATA_IMGMETA_H
#define METADATA_IMGMETA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#define IMGMETA_HEAD_BYTES (512 * 1024) /* header and EXIF block (an APP1 segment is at most 64 KiB) */

bool imgmeta_applies(const char *mime);

/* Fill `o` from the image open on fd (not consumed). 0, or AG_SANDBOX_EXIT_FAIL with "code\tsentence" in err. */
int imgmeta_read(int fd, const char *mime, json_t *o, FILE *err);

#endif
