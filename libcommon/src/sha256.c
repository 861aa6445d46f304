/*
 * sha256.c - SHA-256 with OpenSSL's EVP interface (see sha256.h).
 */
#include "aegis/sha256.h"

#include <openssl/evp.h>

ag_status ag_sha256_init(ag_sha256 *h)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	h->ctx = c;
	if (!c)
		return AG_E_NOMEM;
	if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		ag_sha256_free(h);
		return AG_E_NOMEM;
	}
	return AG_OK;
}

void ag_sha256_update(ag_sha256 *h, const void *data, size_t len)
{
	if (h->ctx && len)
		EVP_DigestUpdate(h->ctx, data, len);
}

void ag_sha256_final_hex(ag_sha256 *h, char hex[AG_SHA256_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!h->ctx || EVP_DigestFinal_ex(h->ctx, d, &n) != 1 || n != AG_SHA256_HEX_LEN / 2)
		n = 0;
	for (unsigned int i = 0; i < n; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[2 * n] = '\0';
	ag_sha256_free(h);
}

void ag_sha256_free(ag_sha256 *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}
