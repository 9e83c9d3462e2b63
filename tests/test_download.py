"""Pinned downloads against a real local HTTP server: checksums, HTML error pages, offline raw folder, pins."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from oncobench.datasets.download import DownloadError, default_cache_dir, fetch, resolve_raw_files, verify_raw_dir
from oncobench.datasets.errors import ChecksumError, InputFormatError
from oncobench.datasets.pins import PINS, PinnedFile, pins_for

REPO = Path(__file__).resolve().parents[1]
NAME = "src_folder/sub/table.csv"
# 2.5 MiB of deterministic bytes: the download reads 1 MiB chunks, so this spans three of them
GOOD = b"".join(hashlib.sha256(str(i).encode()).hexdigest().encode() + b"\n" for i in range(40330))[: 5 * (1 << 19)]
HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please sign in</body></html>\n"


class LocalServer:
    """Serves ``routes[path] = (status, content_type, body)``; counts the requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, bytes]] = {}
        self.requests: dict[str, int] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                with server.lock:
                    server.requests[self.path] = server.requests.get(self.path, 0) + 1
                status, content_type, body = server.routes.get(self.path, (404, "text/plain", b"no such file"))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def serve(self, path: str, body: bytes, *, status: int = 200, content_type: str = "application/octet-stream") -> str:
        self.routes[path] = (status, content_type, body)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    @property
    def total(self) -> int:
        return sum(self.requests.values())


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _pin(url: str | None, name: str = NAME, data: bytes = GOOD) -> PinnedFile:
    return PinnedFile(name=name, url=url, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), source="src_folder")


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_good_file_cached_then_served_from_cache(server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("builtins.input", lambda *a: pytest.fail("the downloader must never prompt"))
    pin = _pin(server.serve("/good.csv", GOOD))
    cache = tmp_path / "cache"
    path = fetch(pin, cache, timeout=10)
    assert path == cache / NAME and path.read_bytes() == GOOD
    assert hashlib.sha256(path.read_bytes()).hexdigest() == pin.sha256
    assert server.requests == {"/good.csv": 1}
    assert _files(cache) == [cache / NAME]  # no temporary file left beside it

    assert fetch(pin, cache, timeout=10) == path
    assert server.requests == {"/good.csv": 1}  # second fetch: from the cache, no new request


def test_corrupted_bytes_refused(server: LocalServer, tmp_path: Path) -> None:
    bad = bytearray(GOOD)
    bad[len(bad) // 2] ^= 0x01  # same size, one byte flipped
    pin = _pin(server.serve("/table.csv", bytes(bad)))
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError, match=r"sha256 .* does not match the pinned") as info:
        fetch(pin, cache, timeout=10)
    assert NAME in str(info.value)
    assert _files(cache) == []  # nothing cached, no .part file
    assert not cache.exists() or list(cache.rglob("*")) == []  # not even the empty folders it made
    assert server.total == 1


def test_shorter_body_refused(server: LocalServer, tmp_path: Path) -> None:
    pin = _pin(server.serve("/table.csv", GOOD[:-10]))
    with pytest.raises(ChecksumError, match=rf"{len(GOOD) - 10} bytes, the pin for {NAME} says {len(GOOD)}"):
        fetch(pin, tmp_path / "cache", timeout=10)
    assert _files(tmp_path / "cache") == []


@pytest.mark.parametrize("content_type", ["text/html", "text/html; charset=utf-8"])
def test_html_page_with_status_200_refused(server: LocalServer, tmp_path: Path, content_type: str) -> None:
    pin = _pin(server.serve("/table.csv", HTML, content_type=content_type))
    with pytest.raises(InputFormatError, match="HTML") as info:
        fetch(pin, tmp_path / "cache", timeout=10)
    assert "/table.csv" in str(info.value) and NAME in str(info.value)
    assert f"Content-Type {content_type}" in str(info.value)  # refused on the header, before reading the body
    assert _files(tmp_path / "cache") == []


def test_html_body_sent_as_octet_stream_refused(server: LocalServer, tmp_path: Path) -> None:
    pin = _pin(server.serve("/table.csv", b"\n  " + HTML))  # leading white space, generic content type
    with pytest.raises(InputFormatError, match="HTML page in place of data"):
        fetch(pin, tmp_path / "cache", timeout=10)
    assert _files(tmp_path / "cache") == []


def test_http_404(server: LocalServer, tmp_path: Path) -> None:
    pin = _pin(server.url("/missing.csv"))
    with pytest.raises(DownloadError, match=r"HTTP 404") as info:
        fetch(pin, tmp_path / "cache", timeout=10)
    assert "/missing.csv" in str(info.value) and NAME in str(info.value)
    assert server.requests == {"/missing.csv": 1}
    assert _files(tmp_path / "cache") == []


def test_connection_refused(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot connect.*--raw-dir"):
        fetch(_pin(f"http://127.0.0.1:{port}/table.csv"), tmp_path / "cache", timeout=5)
    assert _files(tmp_path / "cache") == []


def test_longer_body_refused(server: LocalServer, tmp_path: Path) -> None:
    pin = _pin(server.serve("/table.csv", GOOD + b"extra bytes the pin does not know"))
    with pytest.raises(ChecksumError, match=rf"more than the pinned {len(GOOD)} bytes"):
        fetch(pin, tmp_path / "cache", timeout=10)
    assert _files(tmp_path / "cache") == []


def test_offline_raw_dir_never_touches_network(server: LocalServer, tmp_path: Path) -> None:
    pin = _pin(server.serve("/table.csv", GOOD))
    raw = tmp_path / "raw"
    (raw / NAME).parent.mkdir(parents=True)
    (raw / NAME).write_bytes(GOOD)
    cache = tmp_path / "cache"
    assert fetch(pin, cache, raw_dir=raw) == raw / NAME
    assert server.total == 0 and _files(cache) == []

    (raw / NAME).write_bytes(GOOD[:-1] + b"!")  # tampered copy
    with pytest.raises(ChecksumError, match=re.escape(str(raw / NAME))):
        fetch(pin, cache, raw_dir=raw)
    (raw / NAME).unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(NAME)):
        fetch(pin, cache, raw_dir=raw)
    assert server.total == 0


def test_tampered_cache_is_not_trusted_but_downloaded_again(server: LocalServer, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    pin = _pin(server.serve("/table.csv", GOOD))
    cache = tmp_path / "cache"
    (cache / NAME).parent.mkdir(parents=True)
    (cache / NAME).write_bytes(b"x" * len(GOOD))
    with caplog.at_level("WARNING", logger="oncobench.datasets.download"):
        path = fetch(pin, cache, timeout=10)
    assert path.read_bytes() == GOOD and server.requests == {"/table.csv": 1}
    assert "cached copy refused" in caplog.text and "does not match" in caplog.text
    assert _files(cache) == [cache / NAME]


def test_tampered_cache_and_bad_server_leave_the_bad_copy_unreturned(server: LocalServer, tmp_path: Path) -> None:
    pin = _pin(server.serve("/table.csv", GOOD[:-1] + b"?"))
    cache = tmp_path / "cache"
    (cache / NAME).parent.mkdir(parents=True)
    (cache / NAME).write_bytes(b"x" * len(GOOD))
    with pytest.raises(ChecksumError, match="does not match"):
        fetch(pin, cache, timeout=10)
    assert _files(cache) == [cache / NAME]  # no temp file; the old (bad) copy is never handed out


def test_url_with_spaces_is_percent_encoded_in_pins(server: LocalServer, tmp_path: Path) -> None:
    # the TIL-map file is "mmc2 - modified.xlsx": http.client refuses a raw space in a URL
    til = next(p for p in PINS if p.name.endswith("mmc2 - modified.xlsx"))
    assert til.url.endswith("/Data/mmc2%20-%20modified.xlsx")
    pin = _pin(server.serve("/Data/mmc2%20-%20modified.xlsx", GOOD), name="src_folder/mmc2 - modified.xlsx")
    assert fetch(pin, tmp_path / "cache", timeout=10).name == "mmc2 - modified.xlsx"


def test_pin_without_url(server: LocalServer, tmp_path: Path) -> None:
    offline = _pin(None, name="src_folder/DERIVED_table.csv")
    with pytest.raises(DownloadError, match="--raw-dir"):
        fetch(offline, tmp_path / "cache")
    # resolve_raw_files refuses before downloading anything
    good = _pin(server.serve("/table.csv", GOOD))
    with pytest.raises(DownloadError, match=r"1 needed files have no public URL.*DERIVED_table\.csv.*--raw-dir"):
        resolve_raw_files([good, offline], cache_dir=tmp_path / "cache")
    assert server.total == 0


def test_resolve_raw_files_downloads_and_maps_names(server: LocalServer, tmp_path: Path) -> None:
    other = b"a,b\n1,2\n"
    pins = [_pin(server.serve("/table.csv", GOOD)), _pin(server.serve("/other.csv", other), name="src_folder/o.csv", data=other)]
    paths = resolve_raw_files(pins, cache_dir=tmp_path / "cache")
    assert paths == {NAME: tmp_path / "cache" / NAME, "src_folder/o.csv": tmp_path / "cache" / "src_folder/o.csv"}
    assert paths["src_folder/o.csv"].read_bytes() == other
    assert server.requests == {"/table.csv": 1, "/other.csv": 1}


def test_default_cache_dir_is_under_oncobench_home() -> None:
    home = Path(os.environ["ONCOBENCH_HOME"])  # set per session by conftest, never the user's home
    assert default_cache_dir() == home / "cache" / "raw"


def test_verify_raw_dir_reports_missing_and_mismatch(tmp_path: Path) -> None:
    ok, bad, gone = _pin(None, name="f/ok.csv"), _pin(None, name="f/bad.csv"), _pin(None, name="f/gone.csv")
    (tmp_path / "f").mkdir()
    (tmp_path / "f/ok.csv").write_bytes(GOOD)
    (tmp_path / "f/bad.csv").write_bytes(GOOD[:100])
    problems = verify_raw_dir(tmp_path, [ok, bad, gone])
    assert len(problems) == 2
    assert "f/bad.csv" in problems[0] and "100 bytes" in problems[0]
    assert problems[1] == "missing: f/gone.csv"


ONLINE_SOURCES = {"porpoise_tcga14_multiomics_survival", "tcga_cdr_pancancer_clinical", "subtypegan_tcga10_clinical_mirna",
                  "cprmt_tcga_brca_4omics_pam50", "imaging_saltz2018_tilmaps_tcga13", "imaging_pathai_hif2gene_hifs",
                  "imaging_kather2019_crc_tissue_fractions", "digi_wsis_tcga_tnbc_pathomics",
                  "gse7390_breast_metastasis_sksurv", "tcga_tss_centers_and_purity"}


def test_pins_are_well_formed() -> None:
    names = [p.name for p in PINS]
    assert len(names) == len(set(names)) == 313  # every data file of the raw folder (counted in test_make_pins)
    assert not any(Path(n).name.lower().startswith(("readme", "license", "provenance", "copying")) for n in names)
    for pin in PINS:
        assert re.fullmatch(r"[0-9a-f]{64}", pin.sha256) and pin.bytes > 0
        assert pin.name.startswith(pin.source + "/")
        offline_only = ("/DERIVED_" in pin.name or "/derived/" in pin.name or pin.source == "tcga_tss_centers_and_purity"
                        or pin.source not in ONLINE_SOURCES)
        # every original file of the tcga-pancan 1.0 sources has its public URL at a pinned commit; curator-made
        # files, the fedpydeseq2 wheel assets and the sources added for issue 13 (no repository commit recorded
        # in scripts/make_pins.py yet) are offline only
        assert (pin.url is None) == offline_only, pin.name
        if pin.url is None:
            continue
        assert " " not in pin.url and pin.url.isascii(), pin.url
        assert re.match(r"https://raw\.githubusercontent\.com/[^/]+/[^/]+/[0-9a-f]{40}/", pin.url), pin.url
    assert sum(p.url is None for p in PINS if p.source in ONLINE_SOURCES) == 7
    assert pins_for("digi_wsis_tcga_tnbc_pathomics")[0].url.endswith("/data/TCGA-cohort.csv")
    with pytest.raises(KeyError, match="no_such_folder"):
        pins_for("no_such_folder")


# ------------------------------------------------------------------------------------------------------ real data
@pytest.mark.realdata
def test_real_raw_dir_matches_pins(raw_dir: Path) -> None:
    from oncobench.datasets.recipes.tcga_pancan import SOURCE_FOLDERS, UNUSED

    assert verify_raw_dir(raw_dir, PINS) == []
    used = [p for folder in SOURCE_FOLDERS for p in pins_for(folder) if not p.name.startswith(UNUSED)]
    assert len(used) > len(SOURCE_FOLDERS)
    assert all((raw_dir / p.name).is_file() for folder in SOURCE_FOLDERS for p in pins_for(folder))
    names = {p.name for p in used}
    for needed in ("imaging_saltz2018_tilmaps_tcga13/mmc2 - modified.xlsx", "imaging_pathai_hif2gene_hifs/luad.hifs.csv",
                   "imaging_pathai_hif2gene_hifs/DERIVED_brca_hifs_USE_plus_HOLDOUT.csv",
                   "imaging_kather2019_crc_tissue_fractions/TCGA_MEASUREMENTS.xlsx",
                   "digi_wsis_tcga_tnbc_pathomics/TCGA-cohort.csv"):
        assert needed in names, needed
    # offline resolution hands back the raw files themselves
    paths = resolve_raw_files(used, raw_dir=raw_dir)
    assert all(paths[n] == raw_dir / n for n in names)


@pytest.mark.realdata
def test_make_pins_regenerates_pins_py(raw_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "pins.py"
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "make_pins.py"), "--raw-dir", str(raw_dir), "--out", str(out)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    # one pin per data file of the raw folder, counted here without the script's code
    n_data = sum(1 for f in raw_dir.rglob("*") if f.is_file()
                 and not f.name.lower().startswith(("provenance", "readme", "license", "licence", "copying")))
    assert n_data == 313 and f"{n_data} pins written" in result.stdout
    assert out.read_text(encoding="utf-8") == (REPO / "oncobench" / "datasets" / "pins.py").read_text(encoding="utf-8")
    out.write_text(out.read_text(encoding="utf-8").replace("'tcga_tss_centers_and_purity')", "'x')", 1), encoding="utf-8")
    check = subprocess.run([sys.executable, str(REPO / "scripts" / "make_pins.py"), "--raw-dir", str(raw_dir), "--out", str(out),
                            "--check"], capture_output=True, text=True, timeout=120, check=False)
    assert check.returncode == 1 and "is stale" in check.stderr
