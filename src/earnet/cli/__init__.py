"""The ``earnet`` command line: one module per command, wired in :mod:`earnet.cli.main`."""
