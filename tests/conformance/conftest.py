"""Marks of Keras's test files, kept in the ports: rnnlab has one backend, which trains."""


def pytest_configure(config):
    config.addinivalue_line("markers", "requires_trainable_backend: Keras's mark; rnnlab's one backend trains")
