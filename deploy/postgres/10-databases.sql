-- Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
-- The keystore must never share a database with the event store: a dump of one is useless
-- without the other. crm_views_replica is for the optional Kafka-fed projection worker.
CREATE DATABASE crm_keys;
CREATE DATABASE crm_views_replica;
