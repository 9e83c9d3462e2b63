"""Fetch pinned raw files: offline from a raw folder, or downloaded once into a checksummed cache.

Every file is verified against its pinned sha256 and size. A download is streamed to a temporary file in
the cache folder and renamed into place only after verification, so the cache never holds a partial,
corrupt or HTML-error-page file. Nothing here prompts.
"""

from __future__ import annotations

import http.client
import logging
import os
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Iterable

from tqdm.auto import tqdm

from oncobench.datasets.errors import ChecksumError, InputFormatError, OncoBenchError
from oncobench.datasets.pins import PinnedFile
from oncobench.datasets.provenance import sha256_file
from oncobench.datasets.store import oncobench_home

log = logging.getLogger(__name__)

CHUNK = 1 << 20
# what an HTML (or XML error) page starts with, lower-cased, after leading white space
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<?xml version")


class DownloadError(OncoBenchError):
    """A pinned file could not be fetched (HTTP error, network error, no public URL)."""


def default_cache_dir() -> Path:
    """``$ONCOBENCH_HOME/cache/raw`` (home default ``~/.oncobench``)."""
    return oncobench_home() / "cache" / "raw"


def _verify(path: Path, pin: PinnedFile) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the pinned size and sha256."""
    size = path.stat().st_size
    if size != pin.bytes:
        raise ChecksumError(f"{path}: {size} bytes, the pin for {pin.name} says {pin.bytes} "
                            f"(expected sha256 {pin.sha256})")
    found = sha256_file(path)
    if found != pin.sha256:
        raise ChecksumError(f"{path}: sha256 {found} does not match the pinned {pin.sha256} for {pin.name}")


def fetch(pin: PinnedFile, cache_dir: Path | None = None, *, raw_dir: Path | None = None, timeout: float = 60,
          progress: bool = False) -> Path:
    """A verified local path for ``pin``.

    With ``raw_dir`` the file is taken from ``raw_dir/pin.name`` and the network is never used.
    Otherwise a verified copy in ``cache_dir`` (default :func:`default_cache_dir`) is returned, or the
    file is downloaded from ``pin.url`` into the cache. A cached copy that fails verification is
    downloaded again. Raises :class:`ChecksumError` (wrong bytes), :class:`InputFormatError` (an HTML
    page served in place of the data) or :class:`DownloadError` (HTTP/network error, no URL).
    """
    if raw_dir is not None:
        path = Path(raw_dir) / pin.name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found in the raw folder {raw_dir} (needed: {pin.name})")
        _verify(path, pin)
        return path
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache_dir / pin.name
    if target.is_file():
        try:
            _verify(target, pin)
            return target
        except ChecksumError as exc:
            log.warning("cached copy refused, downloading it again: %s", exc)
    if pin.url is None:
        raise DownloadError(f"{pin.name} has no public URL at a pinned commit (derived by the data curators, or copied from a package release); "
                            "build offline with --raw-dir pointing at a folder that holds it")
    created = [d for d in (target.parent, *target.parent.parents) if not d.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        _download(pin, tmp, timeout=timeout, progress=progress)
        _verify(tmp, pin)
        os.replace(tmp, target)  # atomic: readers see the old state or the verified file, nothing between
    except BaseException:
        tmp.unlink(missing_ok=True)
        for folder in created:  # innermost first; leave no empty folders behind a failed download
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    log.info("downloaded %s (%d bytes, sha256 verified)", pin.name, pin.bytes)
    return target


def _download(pin: PinnedFile, tmp: Path, *, timeout: float, progress: bool) -> None:
    """Stream ``pin.url`` into ``tmp``; refuse HTML pages and bodies longer than the pin."""
    request = urllib.request.Request(pin.url, headers={"User-Agent": "oncobench"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{pin.url}: HTTP {exc.code} {exc.reason} (fetching {pin.name})") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"{pin.url}: cannot connect ({exc}) while fetching {pin.name}; offline, use --raw-dir") from None
    with response:
        content_type = response.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() == "text/html":
            raise InputFormatError(pin.url, "the server sent an HTML page", expected=f"the data file {pin.name}",
                                   found=f"Content-Type {content_type}")
        try:
            with open(tmp, "wb") as handle, tqdm(total=pin.bytes, unit="B", unit_scale=True, desc=Path(pin.name).name,
                                                 disable=not progress) as bar:
                first = True
                while chunk := response.read(CHUNK):
                    if first and chunk.lstrip()[:14].lower().startswith(_HTML_STARTS) and not pin.name.endswith((".html", ".xml")):
                        raise InputFormatError(pin.url, "the server sent an HTML page in place of data",
                                               expected=f"the data file {pin.name}", found=repr(chunk.lstrip()[:40]))
                    first = False
                    handle.write(chunk)
                    bar.update(len(chunk))
                    if handle.tell() > pin.bytes:
                        raise ChecksumError(f"{pin.url}: more than the pinned {pin.bytes} bytes for {pin.name}; "
                                            "not the pinned file")
                handle.flush()
                os.fsync(handle.fileno())
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(f"{pin.url}: the download failed ({exc}) while fetching {pin.name}") from None


def resolve_raw_files(pins: Iterable[PinnedFile], *, raw_dir: Path | None = None, cache_dir: Path | None = None,
                      progress: bool = False) -> dict[str, Path]:
    """Map every pin's name to a verified local path (offline with ``raw_dir``, else cache or download)."""
    pins = list(pins)
    if raw_dir is None:  # fail before downloading anything when some files cannot be downloaded at all
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        offline_only = [p.name for p in pins if p.url is None and not (cache / p.name).is_file()]
        if offline_only:
            raise DownloadError(
                f"{len(offline_only)} needed files have no public URL at a pinned commit (derived by the data curators, or copied from a package release), "
                f"e.g. {offline_only[:3]}; build offline with --raw-dir pointing at the raw folder"
            )
    return {pin.name: fetch(pin, cache_dir, raw_dir=raw_dir, progress=progress and raw_dir is None) for pin in pins}


def verify_raw_dir(raw_dir: Path, pins: Iterable[PinnedFile]) -> list[str]:
    """Problems (missing files, wrong sizes or checksums) of a raw folder against the pins; empty when all is well."""
    problems = []
    for pin in pins:
        path = Path(raw_dir) / pin.name
        if not path.is_file():
            problems.append(f"missing: {pin.name}")
            continue
        try:
            _verify(path, pin)
        except ChecksumError as exc:
            problems.append(str(exc))
    return problems
