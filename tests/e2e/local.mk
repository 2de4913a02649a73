# tests/e2e/: end-to-end tests against the real mail system from tests/mailstack.
