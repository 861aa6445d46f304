/*
 * imgmeta.c - image dimensions and EXIF (see imgmeta.h).
 */
#include "imgmeta.h"

#include "docmeta.h"

#include "aegis/imghdr.h"
#include "aegis/sandbox.h"

#include <libexif/exif-data.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool imgmeta_applies(const char *mime)
{
	return strcmp(mime, "image/png") == 0 || strcmp(mime, "image/jpeg") == 0 || strcmp(mime, "image/gif") == 0 ||
	       strcmp(mime, "image/tiff") == 0;
}

/* An ASCII entry as a string, NUL-terminated inside its declared size. */
static int imgmeta_ascii(json_t *o, const char *key, ExifContent *c, ExifTag tag)
{
	ExifEntry *e = c ? exif_content_get_entry(c, tag) : NULL;
	if (!e || e->format != EXIF_FORMAT_ASCII || !e->data || e->size == 0)
		return 0;
	char buf[DOCMETA_MAX_STRING + 1];
	size_t n = e->size < sizeof buf - 1 ? e->size : sizeof buf - 1;
	memcpy(buf, e->data, n);
	buf[n] = '\0';
	return docmeta_set_str(o, key, buf);
}

static int imgmeta_date(json_t *o, ExifContent *c)
{
	static const ExifTag tags[] = {EXIF_TAG_DATE_TIME_ORIGINAL, EXIF_TAG_DATE_TIME};
	for (size_t i = 0; i < 2; i++) {
		ExifEntry *e = c ? exif_content_get_entry(c, tags[i]) : NULL;
		char raw[20];
		int y, mo, d, h, mi, s;
		if (!e || e->format != EXIF_FORMAT_ASCII || !e->data || e->size < 19)
			continue;
		memcpy(raw, e->data, 19);
		raw[19] = '\0';
		if (sscanf(raw, "%4d:%2d:%2d %2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s) != 6 || y <= 0 || mo < 1 ||
		    mo > 12 || d < 1 || d > 31)
			continue;
		char buf[32];
		snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", y, mo, d, h, mi, s);
		return docmeta_set_str(o, "taken_at", buf);
	}
	return 0;
}

/* Degrees, minutes, seconds (three RATIONALs) and a reference letter -> signed decimal degrees. */
static bool imgmeta_coord(ExifContent *gps, ExifTag tag, ExifTag ref_tag, char negative, ExifByteOrder bo, double *out)
{
	ExifEntry *e = exif_content_get_entry(gps, tag), *ref = exif_content_get_entry(gps, ref_tag);
	if (!e || e->format != EXIF_FORMAT_RATIONAL || e->components != 3 || e->size < 24 || !ref || !ref->data ||
	    ref->size < 1)
		return false;
	double v = 0, scale = 1;
	for (int i = 0; i < 3; i++, scale *= 60) {
		ExifRational r = exif_get_rational(e->data + 8 * i, bo);
		if (r.denominator == 0)
			return false;
		v += (double)r.numerator / r.denominator / scale;
	}
	*out = ref->data[0] == negative ? -v : v;
	return isfinite(v) && v <= 180;
}

static int imgmeta_gps(json_t *o, ExifData *ed)
{
	ExifContent *gps = ed->ifd[EXIF_IFD_GPS];
	ExifByteOrder bo = exif_data_get_byte_order(ed);
	double lat, lon;
	if (!gps || !imgmeta_coord(gps, EXIF_TAG_GPS_LATITUDE, EXIF_TAG_GPS_LATITUDE_REF, 'S', bo, &lat) ||
	    !imgmeta_coord(gps, EXIF_TAG_GPS_LONGITUDE, EXIF_TAG_GPS_LONGITUDE_REF, 'W', bo, &lon) || lat > 90)
		return 0;
	/* about 1 cm: more digits would only repeat rounding noise */
	int bad = json_object_set_new(o, "gps_lat", json_real(round(lat * 1e7) / 1e7));
	bad |= json_object_set_new(o, "gps_lon", json_real(round(lon * 1e7) / 1e7));
	return bad ? -1 : 0;
}

int imgmeta_read(int fd, const char *mime, json_t *o, FILE *err)
{
	unsigned char *buf = malloc(IMGMETA_HEAD_BYTES);
	int bad = 0;
	if (!buf)
		return AG_SANDBOX_EXIT_NOMEM;
	ssize_t n = pread(fd, buf, IMGMETA_HEAD_BYTES, 0);
	uint32_t w = 0, h = 0;
	if (n <= 0 || !ag_imghdr_size(buf, (size_t)n, &w, &h)) {
		free(buf);
		fprintf(err, "image_corrupt\tthe image header cannot be read");
		return AG_SANDBOX_EXIT_FAIL;
	}
	bad |= json_object_set_new(o, "width", json_integer(w));
	bad |= json_object_set_new(o, "height", json_integer(h));
	if (strcmp(mime, "image/jpeg") == 0 || strcmp(mime, "image/tiff") == 0) {
		ExifData *ed = exif_data_new_from_data(buf, (unsigned int)n);
		if (ed) {
			bad |= imgmeta_ascii(o, "camera_make", ed->ifd[EXIF_IFD_0], EXIF_TAG_MAKE);
			bad |= imgmeta_ascii(o, "camera_model", ed->ifd[EXIF_IFD_0], EXIF_TAG_MODEL);
			bad |= imgmeta_date(o, ed->ifd[EXIF_IFD_EXIF]);
			if (!json_object_get(o, "taken_at"))
				bad |= imgmeta_date(o, ed->ifd[EXIF_IFD_0]);
			bad |= imgmeta_gps(o, ed);
			exif_data_unref(ed);
		}
	}
	free(buf);
	return bad ? AG_SANDBOX_EXIT_NOMEM : 0;
}
