#!/usr/bin/env python3
"""bad.py DIR - write the bad-input corpus of tests/integration/corpus.sh into DIR.

Every file here must end its job `rejected` or `failed` with a reason, and no
worker may crash on any of them. Generated at test time (no committed
binaries); the slow ones stay small enough for CI.
"""
import io, os, struct, sys, zipfile, zlib

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def put(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def zipped(entries, compression=zipfile.ZIP_DEFLATED):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", compression) as z:
        for name, data in entries:
            z.writestr(name, data)
    return b.getvalue()


CT_DOCX = (b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
           b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
           b'wordprocessingml.document.main+xml"/></Types>')
RELS = (b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        b'Target="word/document.xml"/></Relationships>')
LAUGHS = b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n' + b"".join(
    b'<!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
) + b']>\n<lolz>&lol9;</lolz>\n'
XXE = b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<r>&x;</r>\n'
EXT_DTD = b'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "http://example.com/evil.dtd">\n<r>hello</r>\n'
DEEP = b'<?xml version="1.0"?>\n' + b"<a>" * 5000 + b"x" + b"</a>" * 5000 + b"\n"
DOCX_BODY = (b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
             b'<w:body><w:p><w:r><w:t>hello</w:t></w:r></w:p></w:body></w:document>')


def docx(document):
    return zipped([("[Content_Types].xml", CT_DOCX), ("_rels/.rels", RELS), ("word/document.xml", document)])


def odt(content):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), b"application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", b'<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>')
    return b.getvalue()


def png(w, h, body=b""):
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + body


with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "README.md"), "rb") as f:
    text = f.read()[:4000]

put("empty.txt", b"")
put("zeros.bin", b"\0" * 65536)
put("random.docx", os.urandom(50000))
put("elf-named.pdf", open("/bin/true", "rb").read())
put("gzip-named.txt", zlib.compress(text))
put("zip-bomb.docx", docx(DOCX_BODY)[:0] + zipped([("[Content_Types].xml", CT_DOCX), ("_rels/.rels", RELS),
                                                   ("word/document.xml", DOCX_BODY), ("word/media/zeros.bin", b"\0" * (40 << 20))]))
put("zip-bomb.zip", zipped([("zeros.bin", b"\0" * (40 << 20))]))
put("many-entries.docx", zipped([("[Content_Types].xml", CT_DOCX), ("word/document.xml", DOCX_BODY)] +
                                [("word/x%d.bin" % i, b"") for i in range(12000)]))
put("nested.zip", zipped([("inner.zip", zipped([("a.txt", text)]))]))
put("laughs.xml", LAUGHS)
put("xxe.xml", XXE)
put("external-dtd.xml", EXT_DTD)
put("deep.xml", DEEP)
put("malformed.xml", b'<?xml version="1.0"?>\n<root><a>unclosed</root>\n')
put("laughs.docx", docx(LAUGHS.replace(b"<lolz>&lol9;</lolz>", DOCX_BODY[DOCX_BODY.index(b"<w:document"):].replace(b"hello", b"&lol9;"))))
put("xxe.docx", docx(XXE.replace(b"<r>&x;</r>", DOCX_BODY[DOCX_BODY.index(b"<w:document"):].replace(b"hello", b"&x;"))))
put("deep.docx", docx(b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">' + b"<w:p>" * 3000 + b"</w:p>" * 3000 + b"</w:document>"))
put("malformed.docx", docx(b'<?xml version="1.0"?><w:document xmlns:w="x"><w:body><w:p>'))
put("laughs.odt", odt(LAUGHS))
put("xxe.odt", odt(XXE))
put("png-huge.png", png(100000, 100000, b"\0" * 64))
put("png-zero.png", png(0, 10, b"\0" * 64))
put("png-truncated.png", b"\x89PNG\r\n\x1a\n\0\0")
put("gif-huge.gif", b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\0" * 64)
put("jpeg-huge.jpg", b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0" +
    b"\xff\xc0\0\x11\x08" + struct.pack(">HH", 65000, 65000) + b"\x03\x01\x22\0\x02\x11\x01\x03\x11\x01" + b"\0" * 64)
put("pdf-header-only.pdf", b"%PDF-1.4\n")
put("pdf-garbage.pdf", b"%PDF-1.4\n" + os.urandom(4000) + b"\n%%EOF\n")
put("polyglot-pdf-zip.pdf", b"%PDF-1.4\n" + zipped([("a.txt", text)]))
put("invalid-utf8.txt", bytes(range(0x80, 0x100)) * 64 + b"\x00\x01\x02" * 100)
put("truncated.docx", docx(DOCX_BODY + b" " * 2000)[:700])
