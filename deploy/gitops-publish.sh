#!/bin/sh
# gitops-publish.sh - CI's last step for GitOps (docs/ci.md, docs/gitops.md):
# upload each built model file to rampd's artifact store, write the
# manifest into a checkout of the fleet repository, sign it with `rampctl
# manifest sign`, optionally raise the release to the new version, commit,
# push and ask rampd to sync. POSIX sh + curl + git + rampctl.
#
#   deploy/gitops-publish.sh --repo fleet --model invoice-ocr --version 2026.02.01 \
#       --key ci-2026.pem --key-id ci-2026 \
#       --platform rpi-arm64 --file build/ocr-rpi.tflite \
#       [--platform P --file F ...] [--release] [--push] \
#       [--server URL --token T]      # uploads the files and asks for a sync
set -eu

usage() { echo "usage: $0 --repo DIR --model M --version V --key PEM [--key-id ID]" \
	"--platform P --file F [...] [--release] [--push] [--server URL --token T]" >&2; exit 2; }
die() { echo "gitops-publish: $*" >&2; exit 1; }

REPO= MODEL= VERSION= KEY= KEY_ID= SERVER=${RAMP_SERVER:-} TOKEN=${RAMP_TOKEN:-}
RELEASE=0 PUSH=0 PLATFORMS= FILES= n=0
RAMPCTL=${RAMPCTL:-rampctl}
while [ $# -gt 0 ]; do
	case $1 in
	--repo) REPO=$2; shift 2 ;;
	--model) MODEL=$2; shift 2 ;;
	--version) VERSION=$2; shift 2 ;;
	--key) KEY=$2; shift 2 ;;
	--key-id) KEY_ID=$2; shift 2 ;;
	--server) SERVER=$2; shift 2 ;;
	--token) TOKEN=$2; shift 2 ;;
	--platform) n=$((n + 1)); eval "P_$n=\$2"; shift 2 ;;
	--file) eval "F_$n=\$2"; shift 2 ;;
	--release) RELEASE=1; shift ;;
	--push) PUSH=1; shift ;;
	*) usage ;;
	esac
done
[ -n "$REPO" ] && [ -n "$MODEL" ] && [ -n "$VERSION" ] && [ -n "$KEY" ] && [ "$n" -gt 0 ] || usage
case $MODEL$VERSION in */*|*..*) die "model and version may not hold / or .." ;; esac

dir=$REPO/models/$MODEL
manifest=$dir/$VERSION.yaml
mkdir -p "$dir"
[ ! -e "$manifest" ] || die "$manifest exists: a published version is immutable, bump the version"
{
	echo "model:"
	echo "  name: $MODEL"
	echo "  version: $VERSION"
	echo "  variants:"
} > "$manifest.tmp"
i=1
while [ $i -le $n ]; do
	eval "p=\${P_$i:-} f=\${F_$i:-}"
	[ -n "$p" ] && [ -f "$f" ] || die "variant $i needs --platform and an existing --file"
	d=$(openssl dgst -sha256 -r "$f" | cut -d' ' -f1)
	size=$(wc -c < "$f" | tr -d ' ')
	if [ -n "$SERVER" ]; then
		curl -fsS -o /dev/null -T "$f" -H "Authorization: Bearer $TOKEN" \
			-H 'Content-Type: application/octet-stream' "$SERVER/v1/artifacts/sha256:$d"
	fi
	{
		echo "    - platform: $p"
		echo "      file: $(basename "$f")"
		echo "      digest: sha256:$d"
		echo "      size: $size"
	} >> "$manifest.tmp"
	i=$((i + 1))
done
mv "$manifest.tmp" "$manifest"
if [ -n "$KEY_ID" ]; then
	"$RAMPCTL" manifest sign "$manifest" --key "$KEY" --key-id "$KEY_ID" >/dev/null
else
	"$RAMPCTL" manifest sign "$manifest" --key "$KEY" >/dev/null
fi

msg="model: $MODEL $VERSION"
if [ "$RELEASE" = 1 ]; then
	rel=$REPO/releases/$MODEL.yaml
	[ -f "$rel" ] || die "$rel does not exist: write the release (version, policy) once by hand"
	sed "s/^version:.*/version: $VERSION/" "$rel" > "$rel.tmp" && mv "$rel.tmp" "$rel"
	msg="release $MODEL $VERSION"
fi
git -C "$REPO" add -A models releases
git -C "$REPO" commit -q -m "$msg"
[ "$PUSH" = 0 ] || git -C "$REPO" push -q
if [ -n "$SERVER" ]; then
	RAMP_SERVER=$SERVER RAMP_TOKEN=$TOKEN "$RAMPCTL" gitops sync >/dev/null
fi
git -C "$REPO" rev-parse HEAD
