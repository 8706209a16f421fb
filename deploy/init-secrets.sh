#!/bin/sh
# The one preparatory step of docker-compose.yml: creates every key and password it mounts as
# a secret, in ./secrets (or the directory given), each owned by the container user that
# reads it and mode 0400. Run it as root (sudo deploy/init-secrets.sh): handing a file to
# another uid needs root, and a chown followed by an unprivileged chmod leaves it 0644.
#
# Safe to run again: an existing file is never rewritten, only its owner and mode are set
# again. A key the deployment's data was made with must never be replaced (the service
# refuses to start on a different one), so to rotate a key follow the README, not this.
#
# Compose bind-mounts these files as they are (it ignores uid, gid and mode for file
# secrets), so the owners must be the uids inside the containers: 10001 is the service
# image's user (Dockerfile), 999 the postgres image's. With rootless Docker or Podman those
# are other uids on the host: pass them as CRM_UID=... PG_UID=...
set -eu
umask 077

here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$here/secrets}
crm_uid=${CRM_UID:-10001}
pg_uid=${PG_UID:-999}
tmp=

fail() {
	printf 'init-secrets: %s\n' "$*" >&2
	exit 1
}
trap '[ -z "$tmp" ] || rm -f "$tmp"' EXIT

me=$(id -u)
if [ "$me" -ne 0 ] && { [ "$crm_uid" != "$me" ] || [ "$pg_uid" != "$me" ]; }; then
	fail "run as root (sudo $0): the files must belong to uid $crm_uid and uid $pg_uid"
fi

# 32 random bytes in URL-safe base64, what the service's key files hold (crypto/kek.py).
key() { head -c 32 /dev/urandom | base64 | tr '+/' '-_'; }
# 24 random bytes: 32 characters without ':' or '\', so safe in a pgpass line.
password() { head -c 24 /dev/urandom | base64 | tr '+/' '-_'; }
admin_token() { printf 'crm_admin_%s\n' "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"; }

# What libpq reads in the service containers (PGPASSFILE): the two roles' passwords, as the
# postgres init script (deploy/postgres/10-roles.sh) gives them to the roles.
pgpass() {
	events=$(cat "$dir/crm_events_password")
	keys=$(cat "$dir/crm_keys_password")
	printf 'postgres:5432:crm:crm_events:%s\n' "$events"
	printf 'postgres:5432:crm_views_replica:crm_events:%s\n' "$events"
	printf 'postgres:5432:crm_keys:crm_keys:%s\n' "$keys"
}

# secret NAME UID COMMAND...: NAME holds COMMAND's output unless it exists; owner UID, 0400.
secret() {
	path=$dir/$1
	owner=$2
	shift 2
	if [ -L "$path" ]; then
		fail "$path is a symbolic link: replace it with the file itself"
	elif [ -e "$path" ]; then
		[ -s "$path" ] || fail "$path exists but is empty: delete it, or put the secret in it"
		echo "kept     $path"
	else
		tmp=$(mktemp "$dir/.new.XXXXXX")
		"$@" >"$tmp"
		# ln, unlike mv, never replaces a file that appeared meanwhile.
		ln "$tmp" "$path" 2>/dev/null || fail "$path appeared while it was being written: run again"
		rm -f "$tmp"
		tmp=
		echo "created  $path"
	fi
	chown "$owner" "$path"
	chmod 0400 "$path"
}

if [ ! -d "$dir" ]; then
	mkdir -p "$dir"
	# Under sudo, the directory stays the invoking user's: Compose (run as that user) looks
	# into it; the files themselves only the containers' users can read.
	[ -z "${SUDO_UID:-}" ] || chown "$SUDO_UID" "$dir"
fi
chmod 0700 "$dir"

secret kek "$crm_uid" key
secret index_key "$crm_uid" key
secret signing_key "$crm_uid" key
secret ledger_signing_key "$crm_uid" key
secret api_secret "$crm_uid" key
secret admin_token "$crm_uid" admin_token
secret postgres_password "$pg_uid" password
secret crm_events_password "$pg_uid" password
secret crm_keys_password "$pg_uid" password
secret pgpass "$crm_uid" pgpass

pgpass | cmp -s - "$dir/pgpass" ||
	fail "$dir/pgpass does not hold the passwords in crm_events_password and crm_keys_password"

echo "secrets ready in $dir; the platform admin token: sudo cat $dir/admin_token"
