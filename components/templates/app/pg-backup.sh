#!/usr/bin/env bash
# Nightly logical backup of the honeydue Postgres (Neon) to Backblaze B2, then retention.
# Runs in the backup CronJob (components/app_render.py). Every credential arrives in the
# environment from Kubernetes Secrets (secretKeyRef); nothing secret is in this file, its
# ConfigMap or the container's arguments.
#   DATABASE_URL                         libpq URL (Neon needs sslmode=require in it)
#   RCLONE_CONFIG_B2_*                   rclone's env-configured remote "b2" (S3 API of B2)
#   BACKUP_BUCKET, BACKUP_FOLDER         where the dumps go
#   BACKUP_RETENTION_DAYS                dumps older than this are deleted after a good run
set -euo pipefail

: "${DATABASE_URL:?}" "${BACKUP_BUCKET:?}" "${BACKUP_FOLDER:?}" "${BACKUP_RETENTION_DAYS:?}"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
target="b2:${BACKUP_BUCKET}/${BACKUP_FOLDER}/honeydue-${stamp}.sql.gz"

# Custom format would need pg_restore of the same major; plain SQL + gzip restores with psql.
# pipefail makes a failed pg_dump fail the upload step, so a truncated dump never counts as good.
pg_dump --dbname="$DATABASE_URL" --no-owner --no-privileges --format=plain |
  gzip -9 |
  rclone rcat --s3-no-check-bucket "$target"

# Refuse to prune unless the new dump is there and not empty.
size=$(rclone size --json "$target" | sed -n 's/.*"bytes":\([0-9]*\).*/\1/p')
if [ -z "$size" ] || [ "$size" -lt 100 ]; then
  echo "backup: $target is missing or too small ($size bytes); retention skipped" >&2
  exit 1
fi
echo "backup: wrote $target ($size bytes)"

rclone delete --min-age "${BACKUP_RETENTION_DAYS}d" --include 'honeydue-*.sql.gz' \
  "b2:${BACKUP_BUCKET}/${BACKUP_FOLDER}/"
echo "backup: removed dumps older than ${BACKUP_RETENTION_DAYS} days"
