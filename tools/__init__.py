"""Project tooling that is neither the site nor a test: installing and starting Redis and
PostgreSQL (services), starting served processes (serving), the size check (check_size)
and the secret scan that runs over every test (secret_scan)."""
