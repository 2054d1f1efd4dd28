#!/bin/sh
# One-shot MinIO set-up for docker-compose.yml (service minio-init, image minio/mc).
# Idempotent: every `docker compose up` runs it again and it converges to the same state.
#
# With MinIO's root account (the only place that account is used) it makes:
#   - the bucket S3_BUCKET, private (no anonymous access);
#   - a policy "<bucket>-app" that allows only what MFDP does, on that bucket only;
#   - the user S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY with that policy: the key the
#     application containers use.
set -eu

: "${MINIO_ROOT_USER:?MINIO_ROOT_USER is not set}"
: "${MINIO_ROOT_PASSWORD:?MINIO_ROOT_PASSWORD is not set}"
: "${S3_BUCKET:?S3_BUCKET is not set}"
: "${S3_ACCESS_KEY_ID:?S3_ACCESS_KEY_ID is not set}"
: "${S3_SECRET_ACCESS_KEY:?S3_SECRET_ACCESS_KEY is not set}"
MINIO_URL="${MINIO_URL:-http://minio:9000}"
POLICY="${S3_BUCKET}-app"
POLICY_FILE="$(mktemp)"
trap 'rm -f "$POLICY_FILE"' EXIT

if [ "$S3_ACCESS_KEY_ID" = "$MINIO_ROOT_USER" ]; then
    echo "minio-init: S3_ACCESS_KEY_ID must not be MinIO's root user" >&2
    exit 1
fi

# The root password goes through the environment (MC_HOST_*), never on a command line.
# Keep both passwords URL-safe (letters, digits, - and _), as `secrets.token_urlsafe` makes them.
export MC_HOST_mfdp="${MINIO_URL%%://*}://${MINIO_ROOT_USER}:${MINIO_ROOT_PASSWORD}@${MINIO_URL#*://}"

tries=0
until mc ready mfdp >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
        echo "minio-init: MinIO at $MINIO_URL is not ready after 60 s" >&2
        exit 1
    fi
    sleep 2
done

mc mb --ignore-existing "mfdp/${S3_BUCKET}"
mc anonymous set none "mfdp/${S3_BUCKET}"

# ListBucket also answers HeadBucket (the /readyz probe); AbortMultipartUpload lets a failed
# large upload clean up after itself. Nothing on any other bucket, nothing administrative.
cat >"$POLICY_FILE" <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
      "Resource": ["arn:aws:s3:::${S3_BUCKET}"]
    },
    {
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
      "Resource": ["arn:aws:s3:::${S3_BUCKET}/*"]
    }
  ]
}
JSON
mc admin policy create mfdp "$POLICY" "$POLICY_FILE"

# `user add` creates the user or sets its secret; the secret comes from the environment.
mc admin user add mfdp "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY" >/dev/null
if ! mc admin policy attach mfdp "$POLICY" --user "$S3_ACCESS_KEY_ID" >/dev/null 2>&1; then
    # Attaching a policy the user already has is an error for mc; check that it is the case.
    if ! mc admin user info mfdp "$S3_ACCESS_KEY_ID" | grep -q "$POLICY"; then
        echo "minio-init: could not attach policy $POLICY to $S3_ACCESS_KEY_ID" >&2
        exit 1
    fi
fi
echo "minio-init: bucket ${S3_BUCKET} (private) and user ${S3_ACCESS_KEY_ID} (policy ${POLICY}) ready"
