#!/usr/bin/env bash
# Runs once, as the postgres user, when the PostgreSQL volume is first initialised (the
# image's /docker-entrypoint-initdb.d). It makes the service's two roles, each with its own
# password from a secret and owning only its database:
#   crm_events  owns crm (event store, ledger, read models) and crm_views_replica (read
#               models of the optional Kafka-fed worker);
#   crm_keys    owns crm_keys (wrapped data keys and erasure fences).
# The keystore never shares a database or a role with the event store: a dump or a stolen
# password of one is useless without the other. PUBLIC loses CONNECT on the three, so
# neither role can even open the other's database.
#
# The passwords reach psql through its backquote substitution, never through a command line
# or the environment. If this fails, the server has already been initialised without the
# roles: remove the volume (docker volume rm crm_postgres-data) and start again.

crm_create_roles() {
	local secrets=${CRM_POSTGRES_SECRETS:-/run/secrets} name
	for name in pg_crm_events_password pg_crm_keys_password; do
		if [ ! -s "$secrets/$name" ] || [ ! -r "$secrets/$name" ]; then
			printf >&2 '%s: %s/%s is missing, empty or unreadable: run deploy/init-secrets.sh\n' \
				"$0" "$secrets" "$name"
			return 1
		fi
	done
	psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --username "${POSTGRES_USER:-postgres}" \
		--dbname postgres --set secrets="$secrets" <<-'EOSQL'
		\set events_password `cat :'secrets'/pg_crm_events_password`
		\set keys_password `cat :'secrets'/pg_crm_keys_password`
		CREATE ROLE crm_events LOGIN PASSWORD :'events_password';
		CREATE ROLE crm_keys LOGIN PASSWORD :'keys_password';
		CREATE DATABASE crm OWNER crm_events;
		CREATE DATABASE crm_views_replica OWNER crm_events;
		CREATE DATABASE crm_keys OWNER crm_keys;
		REVOKE ALL ON DATABASE crm, crm_views_replica, crm_keys FROM PUBLIC;
	EOSQL
}

crm_create_roles
