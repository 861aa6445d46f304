#!/usr/bin/env bash
# corpus.sh - extraction on real documents and safety on hostile ones,
# through the whole stack as a user sees it.
#
# Good corpus: one Markdown source turned by real tools into DOCX, ODT,
# HTML, EPUB, PPTX (pandoc) and PDF (pandoc -> ms -> groff/gropdf), plus
# text formats; each job must succeed and its extracted text must match a
# reference extractor (pdftotext for PDF, pandoc -t plain otherwise) with a
# token-level F1 similarity of at least 0.95.
# Bad corpus: >= 30 hostile files (corpus/bad.py, plus an encrypted and a
# truncated PDF); each job must end rejected or failed with a reason code,
# and validate, extract-metadata and extract-content must still be up.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.bash"
cd "$here/../.."

for tool in pandoc pdftotext groff gs python3; do
	command -v $tool >/dev/null || {
		not_ok "$tool is installed (scripts/deps.sh)"
		echo "0 passed, 1 failed"
		exit 1
	}
done

t_stack_up
trap 't_stack_down' EXIT
if stack_wait_ready 60; then ok "all services report ready"; else
	not_ok "all services report ready"
	exit 1
fi

email="corpus.$$.$RANDOM@example.com"
api POST /v1/auth/register -H 'Content-Type: application/json' \
	-d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}"
api POST /v1/auth/login -H 'Content-Type: application/json' \
	-d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}"
TOKEN=$(echo "$API_BODY" | jq -r .access_token)

# upload FILE: sets UPLOAD_ID (empty when refused) and API_STATUS in this shell (no subshell, so the status is this
# upload's)
upload() {
	api POST "/v1/files?filename=$(basename "$1")" -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$1"
	UPLOAD_ID=$(echo "$API_BODY" | jq -r '.job_id // empty')
}
# wait_job JOB: the terminal job JSON (90 s at most)
wait_job() {
	local deadline=$((SECONDS + 90)) state
	while :; do
		api GET "/v1/jobs/$1" -H "Authorization: Bearer $TOKEN"
		state=$(echo "$API_BODY" | jq -r .state 2>/dev/null)
		case "$state" in succeeded | failed | rejected | cancelled) break ;; esac
		[ $SECONDS -ge $deadline ] && break
		sleep 0.3
	done
	echo "$API_BODY"
}
# similarity A B: token-level F1 (lower-case alphanumeric runs, as multisets) of two text files
similarity() {
	awk 'function toks(s, side,   n, i, a) { s = tolower(s); gsub(/[^[:alnum:]]+/, " ", s); n = split(s, a, " ");
	                                         for (i = 1; i <= n; i++) { c[side, a[i]]++; w[a[i]] = 1; tot[side]++ } }
	     FNR == NR { toks($0, 1); next } { toks($0, 2) }
	     END { for (t in w) common += (c[1, t] < c[2, t] ? c[1, t] : c[2, t]);
	           if (tot[1] + tot[2] == 0) { print "0.000"; exit }
	           printf "%.3f\n", 2 * common / (tot[1] + tot[2]) }' "$1" "$2"
}

# --- good corpus ---
G="$T_DIR/good"
mkdir -p "$G"
cat >"$G/report.md" <<'MD'
---
title: Quarterly operations report
author: Corpus Test
---

# Summary

The ingestion pipeline validates every uploaded document before anything else happens.
Each document is then passed to the metadata extractor and the content extractor in parallel.
Nothing in the pipeline is lost when a worker restarts, because every step is recorded.

## Findings

- Revenue grew by twelve percent across the northern region during the third quarter.
- Customer satisfaction improved after the support team expanded its opening hours.
- Shipping delays fell sharply once the second warehouse opened near the harbour.

| Region | Sales | Growth |
|--------|-------|--------|
| North  | 120   | 12     |
| South  | 95    | 4      |

## Outlook

Finally the pipeline asks the enrichment worker for a summary, keywords and the language.
Managers expect steady demand, modest hiring and careful spending through the winter months.
MD
for f in docx odt html epub pptx; do pandoc "$G/report.md" -s -o "$G/report.$f" 2>/dev/null; done
pandoc "$G/report.md" -s -t ms 2>/dev/null | groff -ms -t -Tpdf -k >"$G/report.pdf" 2>/dev/null
pandoc "$G/report.md" -t plain -o "$G/report.txt"
printf 'region,sales,growth\nNorth,120,12\nSouth,95,4\n' >"$G/sales.csv"
printf '{"region":"North","sales":120,"note":"steady demand through the winter"}\n' >"$G/sales.json"
printf '<?xml version="1.0"?>\n<sales><region name="North">steady demand</region><region>harbour warehouse</region></sales>\n' >"$G/sales.xml"

for f in report.docx report.odt report.html report.epub report.pptx report.pdf report.txt report.md sales.csv sales.json sales.xml; do
	[ -s "$G/$f" ] || {
		not_ok "$f was produced by the tools"
		continue
	}
	upload "$G/$f"
	job=$(wait_job "$UPLOAD_ID")
	state=$(echo "$job" | jq -r .state)
	check_eq "$f: the job succeeds" "$state" succeeded
	[ "$state" = succeeded ] || {
		echo "#   $(echo "$job" | jq -c '{error_code, error}')"
		continue
	}
	api GET "/v1/documents/$(echo "$job" | jq -r .document_id)/content" -H "Authorization: Bearer $TOKEN"
	cp "$T_DIR/api.body" "$G/$f.got"
	case $f in
	*.pdf) pdftotext "$G/$f" "$G/$f.want" ;;
	*.pptx | *.txt | *.md) pandoc "$G/report.md" -t plain -o "$G/$f.want" ;;
	*.csv | *.json) cp "$G/$f" "$G/$f.want" ;;
	*.xml) sed -e 's/<[^>]*>/ /g' "$G/$f" >"$G/$f.want" ;;
	*) pandoc "$G/$f" -t plain -o "$G/$f.want" 2>/dev/null ;;
	esac
	sim=$(similarity "$G/$f.want" "$G/$f.got")
	check "$f: extracted text matches the reference extractor (similarity $sim >= 0.95)" \
		awk -v s="$sim" 'BEGIN { exit !(s >= 0.95) }'
done

# --- e-mail: messages built by Python's email package (multipart, base64, quoted-printable, encoded words) ---
python3 - "$G" <<'PY'
import sys
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timezone
g = sys.argv[1]
m = EmailMessage()
m["From"] = "Zoë Martin <zoe@example.com>"
m["To"] = "Operations <ops@example.com>"
m["Cc"] = "board@example.com"
m["Subject"] = "Quarterly report — harbour warehouse"
m["Date"] = format_datetime(datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc))
m["Message-ID"] = "<q3-report@example.com>"
m.set_content("Hello team,\n\nShipping delays fell sharply once the second warehouse opened near the harbour.\n"
              "The café on the first floor is finally open.\n", cte="quoted-printable")
m.add_alternative("<html><body><p>Shipping delays fell <b>sharply</b>.</p><script>var hidden = 1;</script></body></html>",
                  subtype="html")
with open(g + "/report.pdf", "rb") as f:
    m.add_attachment(f.read(), maintype="application", subtype="pdf", filename="report.pdf")
open(g + "/message.eml", "wb").write(bytes(m))
# A latin-1 message whose first field is Subject (libmagic alone calls that text/plain).
open(g + "/latin1.eml", "wb").write(
    b"Subject: =?iso-8859-1?q?Cr=E8me_br=FBl=E9e?=\r\nFrom: chef@example.com\r\nTo: guests@example.com\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\nLe dessert du jour est une cr=E8me br=FBl=E9e tr=\r\n"
    b"=E8s l=E9g=E8re.\r\n")
PY
pdf_size=$(stat -c %s "$G/report.pdf")
for f in message.eml latin1.eml; do
	upload "$G/$f"
	job=$(wait_job "$UPLOAD_ID")
	state=$(echo "$job" | jq -r .state)
	check_eq "$f: the job succeeds" "$state" succeeded
	[ "$state" = succeeded ] || {
		echo "#   $(echo "$job" | jq -c '{error_code, error}')"
		continue
	}
	doc=$(echo "$job" | jq -r .document_id)
	api GET "/v1/documents/$doc/content" -H "Authorization: Bearer $TOKEN"
	cp "$T_DIR/api.body" "$G/$f.got"
	api GET "/v1/documents/$doc" -H "Authorization: Bearer $TOKEN"
	echo "$API_BODY" | jq .metadata >"$G/$f.meta"
	check_eq "$f: sniffed as message/rfc822" "$(jq -r .mime "$G/$f.meta")" message/rfc822
done
if [ -s "$G/message.eml.got" ]; then
	check "message.eml: the text starts with the header block (decoded subject)" \
		grep -q -e 'Subject: Quarterly report — harbour warehouse' "$G/message.eml.got"
	check "message.eml: the plain-text body, decoded (quoted-printable, UTF-8)" \
		grep -q 'Shipping delays fell sharply once the second warehouse opened near the harbour.' "$G/message.eml.got"
	check "message.eml: the é of café survives" grep -q 'The café on the first floor' "$G/message.eml.got"
	check "message.eml: the HTML alternative is left out (plain text preferred)" \
		bash -c "! grep -q -e 'var hidden' -e '<b>' '$G/message.eml.got'"
	check "message.eml: the attachment is named in the text" \
		grep -q "Attachment: report.pdf (application/pdf, $pdf_size bytes)" "$G/message.eml.got"
	M="$G/message.eml.meta"
	check_eq "message.eml: metadata subject" "$(jq -r .subject "$M")" "Quarterly report — harbour warehouse"
	check_eq "message.eml: metadata from" "$(jq -r .from "$M")" "Zoë Martin <zoe@example.com>"
	check_eq "message.eml: metadata to, cc" "$(jq -r '.to + " / " + .cc' "$M")" "Operations <ops@example.com> / board@example.com"
	check_eq "message.eml: metadata date (RFC 3339, UTC)" "$(jq -r .date "$M")" "2026-11-02T09:30:00Z"
	check_eq "message.eml: metadata message_id" "$(jq -r .message_id "$M")" "<q3-report@example.com>"
	check_eq "message.eml: metadata parts (plain, html, pdf)" "$(jq -r .parts "$M")" 3
	check_eq "message.eml: metadata lists the attachment with its decoded size" \
		"$(jq -cS .attachments "$M")" "[{\"filename\":\"report.pdf\",\"mime\":\"application/pdf\",\"size\":$pdf_size}]"
fi
if [ -s "$G/latin1.eml.got" ]; then
	check "latin1.eml: subject and body decoded from iso-8859-1 to UTF-8" \
		grep -q -e 'Subject: Crème brûlée' "$G/latin1.eml.got"
	check "latin1.eml: soft line break joined" grep -q 'une crème brûlée très légère.' "$G/latin1.eml.got"
	check_eq "latin1.eml: metadata subject" "$(jq -r .subject "$G/latin1.eml.meta")" "Crème brûlée"
fi

# --- bad corpus ---
B="$T_DIR/bad"
python3 tests/integration/corpus/bad.py "$B"
gs -q -dNOPAUSE -dBATCH -sDEVICE=pdfwrite -sOwnerPassword=owner -sUserPassword=secret \
	-sOutputFile="$B/encrypted.pdf" "$G/report.pdf" 2>/dev/null
head -c $(($(stat -c %s "$G/report.pdf") / 2)) "$G/report.pdf" >"$B/truncated.pdf"
# an e-mail nested 500 multiparts deep (MAIL_MAX_DEPTH is 20)
{
	printf 'From: a@example.com\r\nSubject: deep\r\n'
	for i in $(seq 500); do printf 'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' $i $i; done
	printf 'Content-Type: text/plain\r\n\r\nbottom\r\n'
} >"$B/deep_nesting.eml"
n=$(ls "$B" | wc -l)
check "the bad corpus has at least 30 files ($n)" test "$n" -ge 30
jobs_ok=0
for path in "$B"/*; do
	f=$(basename "$path")
	upload "$path"
	id=$UPLOAD_ID
	if [ -z "$id" ]; then
		# refused at the door (an empty body, for one) is a clear answer too
		check "$f: refused at upload with a 4xx problem (status $API_STATUS)" \
			test "$API_STATUS" -ge 400 -a "$API_STATUS" -lt 500
		continue
	fi
	job=$(wait_job "$id")
	state=$(echo "$job" | jq -r .state)
	code=$(psql "$DATABASE_URL" -Atc "SELECT coalesce(error_code, '') FROM jobs WHERE id = '$id'")
	case "$state" in
	rejected | failed) ok "$f: $state ($code: $(echo "$job" | jq -r .error | cut -c1-90))" ;;
	*) not_ok "$f: ends rejected or failed, got '$state'" ;;
	esac
	check "$f: the job carries a reason code" test -n "$code"
done
for svc in validate extract-metadata extract-content; do
	check "$svc is still up after the bad corpus" curl -fsS -o /dev/null "http://127.0.0.1:$(stack_port "$svc")/healthz"
done

[ "$T_FAILED" -eq 0 ]
