from integration.conftest import client_for, start_node  # noqa: F401 - shared fixtures
