"""Fetch pinned raw files: offline from a raw folder, or downloaded once into a checksummed cache.

Every file is verified against its pinned sha256 and size. A download goes to a temporary file in the
cache folder and is renamed into place only after verification, so the cache never holds a partial,
corrupt or HTML-error-page file. Nothing here prompts.
"""

from __future__ import annotations

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

_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<?xml version")


class DownloadError(OncoBenchError):
    """A pinned file could not be fetched (HTTP error, network error, no public URL)."""


def default_cache_dir() -> Path:
    return oncobench_home() / "cache" / "raw"


def _verify(path: Path, pin: PinnedFile) -> None:
    size = path.stat().st_size
    if size != pin.bytes:
        raise ChecksumError(f"{path}: {size} bytes, the pin for {pin.name} says {pin.bytes}")
    found = sha256_file(path)
    if found != pin.sha256:
        raise ChecksumError(f"{path}: sha256 {found} does not match the pinned {pin.sha256} for {pin.name}")


def fetch(pin: PinnedFile, cache_dir: Path | None = None, *, raw_dir: Path | None = None, timeout: float = 60,
          progress: bool = False) -> Path:
    """A verified local path for ``pin``: from ``raw_dir`` (never the network), the cache, or a download."""
    if raw_dir is not None:
        path = Path(raw_dir) / pin.name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found in the raw folder {raw_dir} (needed: {pin.name})")
        _verify(path, pin)
        return path
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache_dir / pin.name
    if target.is_file():
        _verify(target, pin)
        return target
    if pin.url is None:
        raise DownloadError(f"{pin.name} has no public URL (it was derived by the data curators or its upstream path "
                            "is not recorded); build offline with --raw-dir pointing at a folder that holds it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        _download(pin, tmp, timeout=timeout, progress=progress)
        _verify(tmp, pin)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _download(pin: PinnedFile, tmp: Path, *, timeout: float, progress: bool) -> None:
    request = urllib.request.Request(pin.url, headers={"User-Agent": "oncobench"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{pin.url}: HTTP {exc.code} {exc.reason} (fetching {pin.name})") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"{pin.url}: cannot connect ({exc}); offline, use --raw-dir") from None
    with response:
        content_type = response.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() == "text/html":
            raise InputFormatError(pin.url, "the server sent an HTML page", expected=f"the data file {pin.name}",
                                   found=f"Content-Type {content_type}")
        first = True
        with open(tmp, "wb") as handle, tqdm(total=pin.bytes, unit="B", unit_scale=True, desc=Path(pin.name).name,
                                             disable=not progress) as bar:
            while chunk := response.read(1 << 20):
                if first and chunk.lstrip()[:14].lower().startswith(_HTML_STARTS) and not pin.name.endswith((".html", ".xml")):
                    raise InputFormatError(pin.url, "the server sent an HTML page in place of data",
                                           expected=f"the data file {pin.name}", found=repr(chunk[:40]))
                first = False
                handle.write(chunk)
                bar.update(len(chunk))
                if handle.tell() > pin.bytes:
                    raise ChecksumError(f"{pin.url}: more than the pinned {pin.bytes} bytes; not the pinned file")
            handle.flush()
            os.fsync(handle.fileno())


def resolve_raw_files(pins: Iterable[PinnedFile], *, raw_dir: Path | None = None, cache_dir: Path | None = None,
                      progress: bool = False) -> dict[str, Path]:
    """Map every pin's name to a verified local path (offline with ``raw_dir``)."""
    pins = list(pins)
    if raw_dir is None:  # fail before downloading anything when some files cannot be downloaded at all
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        offline_only = [p.name for p in pins if p.url is None and not (cache / p.name).is_file()]
        if offline_only:
            raise DownloadError(
                f"{len(offline_only)} needed files have no public URL (derived by the data curators or upstream path "
                f"not recorded), e.g. {offline_only[:3]}; build offline with --raw-dir pointing at the raw folder"
            )
    return {pin.name: fetch(pin, cache_dir, raw_dir=raw_dir, progress=progress and raw_dir is None) for pin in pins}


def verify_raw_dir(raw_dir: Path, pins: Iterable[PinnedFile]) -> list[str]:
    """Problems (missing files, wrong checksums) of a raw folder against the pins; empty when all is well."""
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
