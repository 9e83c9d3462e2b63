"""How the ``oncobench`` command reports a failure: which ones are anticipated, and their one-line form.

Anticipated failures are problems with the user's input, files or machine, not with OncoBench: they end in one
``oncobench: error: ...`` line naming the file and the problem, and exit code 2 (``--debug`` adds the traceback).
They are

- :class:`~oncobench.datasets.errors.OncoBenchError` and its subclasses (bad input, corrupt or missing files);
- ``OSError`` (permission denied, read-only or full disk, a home that is a file...), named by its file;
- operational database errors: DuckDB's lock/IO errors, SQLite's and SQLAlchemy's ``OperationalError``, and
  MLflow errors caused by one of those (MLflow wraps them);
- ``ValueError``/``KeyError`` raised by OncoBench's own code, which uses them to refuse bad input.

Everything else (and a ``ValueError`` raised inside numpy, polars, scikit-learn...) is a bug: it keeps its
traceback, with a note asking for a report, and exits with Python's usual code 1.
"""

from __future__ import annotations

import errno
import re
import sys
import traceback
from pathlib import Path

from oncobench.datasets.errors import OncoBenchError

PACKAGE_ROOT = Path(__file__).resolve().parent
BUG_NOTE = ("oncobench: this is a bug in OncoBench, not a problem with your input or files: "
            "please report it with the traceback above")
_DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from (``raise ... from``) or while handling."""
    out: list[BaseException] = []
    while exc is not None and exc not in out:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return out


def _operational_types() -> tuple[type[BaseException], ...]:
    """DB-API "operational" errors (locks, I/O, unreadable files) of the database libraries already imported.

    Only modules already in ``sys.modules`` are consulted: an error cannot come from a library never imported,
    and importing MLflow just to name its exception would cost seconds.
    """
    types: list[type[BaseException]] = []
    if "duckdb" in sys.modules:
        duckdb = sys.modules["duckdb"]
        types += [duckdb.OperationalError, duckdb.PermissionException]
    if "sqlite3" in sys.modules:
        sqlite3 = sys.modules["sqlite3"]
        types += [sqlite3.OperationalError]
    if "sqlalchemy.exc" in sys.modules:
        types += [sys.modules["sqlalchemy.exc"].OperationalError]
    return tuple(types)


def _store_error(exc: BaseException) -> BaseException | None:
    """The innermost operational database error behind ``exc`` (itself, or what MLflow/SQLAlchemy wrapped), if any.

    Innermost: SQLAlchemy's wrapper repeats the SQL statement and its parameters; the driver's own error
    (``attempt to write a readonly database``) is the part a user needs.
    """
    types = _operational_types()
    found = [e for e in _chain(exc) if types and isinstance(e, types)]
    return found[-1] if found else None


def _raised_by_oncobench(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is OncoBench's own code (not numpy, polars...)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return False
    try:
        Path(frames[-1].filename).resolve().relative_to(PACKAGE_ROOT)
    except ValueError:
        return False
    return True


def is_anticipated(exc: BaseException) -> bool:
    """Whether ``exc`` is a problem with the user's input, files or machine (one line) rather than a bug."""
    if isinstance(exc, (OncoBenchError, OSError)):
        return True
    if _store_error(exc) is not None:
        return True
    return isinstance(exc, (ValueError, KeyError)) and _raised_by_oncobench(exc)


def _one_line(text: str) -> str:
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def _home() -> Path | None:
    from oncobench.datasets.store import oncobench_home

    try:
        return oncobench_home().resolve()
    except (OSError, RuntimeError):
        return None


def _os_message(exc: OSError) -> str:
    if exc.filename is None:
        return str(exc)
    where = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
    message = f"{where}: {exc.strerror or exc}"
    home = _home()
    path = Path(str(exc.filename)).resolve()
    if exc.errno in _DENIED | {errno.EEXIST, errno.ENOTDIR} and home is not None and (path == home or home in path.parents):
        message += " (the OncoBench home must be a writable folder: set ONCOBENCH_HOME to one)"
    return message


def describe(exc: BaseException) -> str:
    """The single line (without the ``oncobench: error:`` prefix) that tells the user what went wrong and where."""
    if isinstance(exc, OSError):
        return _one_line(_os_message(exc))
    if isinstance(exc, OncoBenchError):
        return _one_line(str(exc))
    store = _store_error(exc)
    if store is not None:
        message = str(store)
        if re.search(r"\block(ed)?\b", message, re.IGNORECASE):
            message += " (another process is using this database: let it finish, then run again)"
        if store is not exc:  # MLflow's wrapper: say which store
            from oncobench.benchmark.tracking import tracking_uri

            message = f"MLflow tracking store {tracking_uri()}: {message}"
        return _one_line(message)
    if isinstance(exc, KeyError) and exc.args:
        return _one_line(str(exc.args[0]))
    return _one_line(str(exc)) or type(exc).__name__
