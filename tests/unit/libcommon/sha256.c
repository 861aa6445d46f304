/* Tests libcommon/src/sha256.c: the standard test vectors, streamed in pieces or at once, and abandoned streams. */
#include "aegis/sha256.h"

#include "test.h"

#include <stdlib.h>
#include <string.h>

static void hex_of(const char *data, size_t len, size_t piece, char hex[AG_SHA256_HEX_LEN + 1])
{
	ag_sha256 h;
	AG_CHECK_INT(ag_sha256_init(&h), AG_OK);
	for (size_t off = 0; off < len; off += piece)
		ag_sha256_update(&h, data + off, len - off < piece ? len - off : piece);
	ag_sha256_final_hex(&h, hex);
	AG_CHECK(h.ctx == NULL);
	ag_sha256_free(&h); /* after final: a no-op */
}

static void sha256_known_vectors(void)
{
	char hex[AG_SHA256_HEX_LEN + 1];
	hex_of("", 0, 1, hex);
	AG_CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	hex_of("abc", 3, 3, hex);
	AG_CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	hex_of(two_blocks, sizeof two_blocks - 1, 7, hex);
	AG_CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* A million 'a': the same digest whether fed at once or in odd pieces. */
static void sha256_streaming_matches_one_shot(void)
{
	size_t n = 1000000;
	char *a = malloc(n);
	AG_CHECK(a != NULL);
	if (!a)
		return;
	memset(a, 'a', n);
	char once[AG_SHA256_HEX_LEN + 1], pieces[AG_SHA256_HEX_LEN + 1];
	hex_of(a, n, n, once);
	hex_of(a, n, 4099, pieces);
	AG_CHECK_STR(once, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	AG_CHECK_STR(pieces, once);
	free(a);
}

static void sha256_abandoned_stream_is_freed(void)
{
	ag_sha256 h;
	AG_CHECK_INT(ag_sha256_init(&h), AG_OK);
	ag_sha256_update(&h, "half", 4);
	ag_sha256_free(&h); /* LeakSanitizer would report the context otherwise */
	AG_CHECK(h.ctx == NULL);
	ag_sha256_free(&h);
}

int main(void)
{
	AG_TEST_RUN(sha256_known_vectors);
	AG_TEST_RUN(sha256_streaming_matches_one_shot);
	AG_TEST_RUN(sha256_abandoned_stream_is_freed);
	return ag_test_summary();
}
