#!/bin/sh
# ci-publish.sh - publish a model build to rampd from CI: upload each model
# file to the content-addressed artifact store, write the manifest with the
# right digests and sizes, sign its exact bytes with the CI key (ECDSA P-256
# or Ed25519, openssl CLI), and post it. POSIX sh + curl + openssl; see
# docs/ci.md. Exits non-zero, saying why, on the first failure.
#
#   ci-publish.sh --server URL --token TOKEN --key ci.key --key-id ci-2026 \
#       --model invoice-ocr --version 2026.01.10-rc1 \
#       --platform rpi-arm64 --file build/model-rpi.tflite \
#       [--platform cloud-x86-onnx --file build/model.onnx ...] [--expires 2027-01-10T00:00:00Z]
#
#   ci-publish.sh ... --template manifest.tmpl [--version V]
#       the template is the manifest with {{digest:PATH}} and {{size:PATH}}
#       for each model file (and {{version}} when --version is given)
#
# --out FILE keeps the signed manifest (and FILE.sig its signature).
# RAMP_URL and RAMP_TOKEN stand in for --server and --token.
set -eu

die() { echo "ci-publish: $*" >&2; exit 1; }
usage() { sed -n '2,20s/^# \{0,1\}//p' "$0" >&2; exit 2; }

server=${RAMP_URL:-}
token=${RAMP_TOKEN:-}
key='' key_id='' model='' version='' template='' expires='' out='' platform=''
variants=''
work=$(mktemp -d "${TMPDIR:-/tmp}/ci-publish.XXXXXX")
trap 'rm -rf "$work"' EXIT HUP INT TERM
: > "$work/variants"

while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--server) server=$2 ;;
	--token) token=$2 ;;
	--key) key=$2 ;;
	--key-id) key_id=$2 ;;
	--model) model=$2 ;;
	--version) version=$2 ;;
	--template) template=$2 ;;
	--expires) expires=$2 ;;
	--out) out=$2 ;;
	--platform) platform=$2 ;;
	--file)
		[ -n "$platform" ] || die "--file $2 needs a --platform before it"
		printf '%s\t%s\n' "$platform" "$2" >> "$work/variants"
		variants=yes platform= ;;
	*) usage ;;
	esac
	shift 2
done
[ -n "$server" ] || die "--server (or RAMP_URL) is required"
[ -n "$token" ] || die "--token (or RAMP_TOKEN) is required"
[ -r "${key:-/nonexistent}" ] || die "--key must name a readable private key (PEM)"
[ -n "$key_id" ] || die "--key-id is required"
if [ -z "$template" ]; then
	[ -n "$model" ] || die "--model is required without --template"
	[ -n "$version" ] || die "--version is required without --template"
	[ -n "$variants" ] || die "at least one --platform P --file F is required"
fi
server=${server%/}

sha256() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }
size() { wc -c < "$1" | tr -d ' '; }

# PUT the file to /v1/artifacts/sha256:<hex>; curl -T streams it from disk.
upload() {
	[ -r "$1" ] || die "cannot read model file $1"
	d=$(sha256 "$1")
	code=$(curl -sS -o "$work/resp" -w '%{http_code}' -T "$1" \
		-H "Authorization: Bearer $token" -H 'Content-Type: application/octet-stream' \
		"$server/v1/artifacts/sha256:$d") || die "upload of $1 failed"
	case $code in
	200) echo "artifact sha256:$d already stored ($1)" >&2 ;;
	201) echo "artifact sha256:$d uploaded ($1, $(size "$1") bytes)" >&2 ;;
	*) die "upload of $1 answered $code: $(cat "$work/resp")" ;;
	esac
}

# Escapes s for a sed replacement / regex with | as the delimiter.
sed_escape() { printf '%s' "$1" | sed 's/[][\.*^$|/&]/\\&/g'; }

manifest=$work/manifest.yaml
if [ -n "$template" ]; then
	[ -r "$template" ] || die "cannot read template $template"
	cp "$template" "$manifest"
	{ grep -oE '\{\{(digest|size):[^}]*\}\}' "$template" || true; } |
		sed 's/^{{[a-z]*://; s/}}$//' | sort -u > "$work/files"
	while IFS= read -r f; do
		upload "$f"
		p=$(sed_escape "$f")
		sed -e "s|{{digest:$p}}|sha256:$d|g" -e "s|{{size:$p}}|$(size "$f")|g" \
			"$manifest" > "$work/m.tmp" && mv "$work/m.tmp" "$manifest"
	done < "$work/files"
	if [ -n "$version" ]; then
		sed "s|{{version}}|$(sed_escape "$version")|g" "$manifest" > "$work/m.tmp" &&
			mv "$work/m.tmp" "$manifest"
	fi
	! grep -q '{{' "$manifest" || die "template placeholders left in $template"
else
	printf 'model:\n  name: %s\n  version: %s\n  variants:\n' "$model" "$version" > "$manifest"
	while IFS="$(printf '\t')" read -r plat f; do
		upload "$f"
		printf '    - platform: %s\n      file: %s\n      digest: sha256:%s\n      size: %s\n' \
			"$plat" "$(basename "$f")" "$d" "$(size "$f")" >> "$manifest"
	done < "$work/variants"
	[ -z "$expires" ] || printf '  expires: %s\n' "$expires" >> "$manifest"
fi
# the signed bytes end with a newline, whatever the template did
[ -z "$(tail -c 1 "$manifest")" ] || echo >> "$manifest"

# Sign the exact bytes: ECDSA -> DER over SHA-256 (openssl dgst, as cosign
# sign-blob writes it); Ed25519 -> the raw 64-byte signature (pkeyutl -rawin).
if openssl pkey -in "$key" -noout -text 2>/dev/null | grep -q '^ED25519'; then
	openssl pkeyutl -sign -rawin -inkey "$key" -in "$manifest" > "$work/sig.bin" ||
		die "signing with $key failed"
else
	openssl dgst -sha256 -sign "$key" -out "$work/sig.bin" "$manifest" ||
		die "signing with $key failed"
fi
sig=$(openssl base64 -A < "$work/sig.bin")
if [ -n "$out" ]; then
	cp "$manifest" "$out"
	printf '%s\n' "$sig" > "$out.sig"
fi

# {"manifest": <text as a JSON string>, "signature", "key_id"}
tab=$(printf '\t') cr=$(printf '\r')
{
	printf '{"manifest": "'
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e "s/$tab/\\\\t/g" -e "s/$cr/\\\\r/g" "$manifest" |
		awk '{ printf "%s\\n", $0 }'
	printf '", "signature": "%s", "key_id": "%s"}\n' "$sig" "$key_id"
} > "$work/body.json"

code=$(curl -sS -o "$work/resp" -w '%{http_code}' -X POST \
	-H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
	--data-binary @"$work/body.json" "$server/v1/manifests") || die "posting the manifest failed"
case $code in
201) echo "manifest posted" >&2 ;;
200) echo "manifest already posted with these exact bytes" >&2 ;;
*) die "posting the manifest answered $code: $(cat "$work/resp")" ;;
esac
cat "$work/resp"
echo
