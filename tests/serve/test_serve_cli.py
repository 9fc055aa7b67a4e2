"""``earnet serve`` on the command line: the install hint, bad options, a busy port."""

from __future__ import annotations

import socket
import sys

import pytest

from earnet.cli.main import main


def test_without_the_extras_one_line_says_how_to_install(monkeypatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # makes `import uvicorn` raise ImportError
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err == "earnet: error: earnet serve needs the web extras: pip install 'earnet[serve]'\n"


def test_bad_options_are_one_line_errors(capsys) -> None:  # noqa: ANN001
    pytest.importorskip("uvicorn")
    assert main(["serve", "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    assert main(["serve", "--timeout", "0"]) == 2
    assert "--timeout must be positive" in capsys.readouterr().err


def test_a_busy_port_is_a_one_line_error(capsys) -> None:  # noqa: ANN001
    pytest.importorskip("uvicorn")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_help_has_examples(capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    assert "curl -F image=@photo.jpg" in out and "reverse proxy" in out
