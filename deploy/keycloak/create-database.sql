-- Keycloak keeps its data in a database of its own on the project's PostgreSQL (docker-compose.yml).
CREATE DATABASE keycloak;
