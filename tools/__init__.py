"""Project tooling that is neither the site nor a test (size checks, shared helpers)."""
