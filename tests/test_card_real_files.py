"""Issue 12, items 2 and 4: endpoints declared fully, and a card that reads real-world files without pandas first."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from oncobench.cli import main
from oncobench.datasets.dataset import load_dataset
from oncobench.datasets.errors import DatasetNotFoundError, InputFormatError
from oncobench.datasets.sources.generic import (
    EXAMPLE_CARD, CardProblemsError, card_content, read_card, read_generic,
)

IDS = [f"P{i:02d}" for i in range(12)]
HEAD = 'name = "toy"\nversion = "1"\n'


@pytest.fixture(autouse=True)
def _own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path / "home"))


def _clinical(folder: Path, rows: list[str] | None = None, header: str = "patient,os_months,censorship,pfi,pfi_days,stage,site") -> None:
    rows = rows if rows is not None else [
        f"{p},{6 + i},{i % 3 == 0 and 1 or 0},{i % 2},{30 * (i + 1)},{'I' if i % 2 else 'II'},{'H' + str(i % 4)}"
        for i, p in enumerate(IDS)]
    (folder / "clinical.csv").write_text(header + "\n" + "\n".join(rows) + "\n")


def _matrix(folder: Path, name: str, ids: list[str], features: int = 3, sep: str = "\t", first: str = "gene") -> None:
    lines = [first + sep + sep.join(ids)]
    lines += [f"G{g}" + sep + sep.join(str(g + i / 10) for i in range(len(ids))) for g in range(features)]
    (folder / name).write_text("\n".join(lines) + "\n")


def _card(folder: Path, body: str) -> Path:
    path = folder / "card.toml"
    path.write_text(HEAD + body)
    return path


CLIN = '[clinical]\npath = "clinical.csv"\nid_column = "patient"\n'
RNA = '[[modalities]]\nname = "rna"\npath = "expr.tsv"\norientation = "features_x_patients"\nid_column = "gene"\n'


# ------------------------------------------------------------------------------------------------ endpoints
def test_several_endpoints_censoring_flag_and_months_converted_to_days(tmp_path: Path) -> None:
    _clinical(tmp_path)
    _matrix(tmp_path, "expr.tsv", IDS)
    card = _card(tmp_path, CLIN + RNA + """
[[endpoints]]
name = "OS"
time_column = "os_months"
censoring_column = "censorship"
unit = "months"

[[endpoints]]
name = "PFI"
time_column = "pfi_days"
event_column = "pfi"
""")
    content = card_content(card)
    os_entry, pfi_entry = content.endpoints
    clinical = content.clinical
    # censorship 1 for i in {0, 3, 6, 9}: 4 censored, 8 events (event = 1 - censoring)
    assert clinical["os_event"].to_list() == [0 if i % 3 == 0 else 1 for i in range(12)] and os_entry["events"] == 8
    assert clinical["os_time"][0] == pytest.approx(6 * 365.25 / 12)  # 6 months in days
    assert (os_entry["unit"], os_entry["source_unit"], os_entry["event_from"]) == ("days", "months", "1 - censoring_column censorship")
    assert pfi_entry["events"] == 6 and clinical["pfi_time"][11] == 360.0 and pfi_entry["unit"] == "days"
    assert main(["datasets", "build", str(card)]) == 0
    manifest = load_dataset("toy").manifest
    assert [e["name"] for e in manifest["endpoints"]] == ["OS", "PFI"] and manifest["endpoints"][0]["unit"] == "days"


def test_event_column_named_like_a_censoring_flag_is_refused(tmp_path: Path) -> None:
    _clinical(tmp_path)
    _matrix(tmp_path, "expr.tsv", IDS)
    card = _card(tmp_path, CLIN + RNA + '[[endpoints]]\nname = "OS"\ntime_column = "os_months"\nevent_column = "censorship"\n')
    with pytest.raises(InputFormatError) as info:
        read_card(card)
    assert "event_column 'censorship' is named like a censoring flag" in str(info.value)
    assert "expected censoring_column = 'censorship' (event = 1 - censoring)" in str(info.value)


def test_time_zero_and_missing_rows_are_counted_in_the_report_and_manifest(tmp_path: Path) -> None:
    rows = [f"{p},{0 if i < 2 else 5 + i},{'' if i == 2 else 0},0,1,I,H0" for i, p in enumerate(IDS)]
    _clinical(tmp_path, rows)
    _matrix(tmp_path, "expr.tsv", IDS)
    card = _card(tmp_path, CLIN + RNA + '[[endpoints]]\nname = "OS"\ntime_column = "os_months"\ncensoring_column = "censorship"\nunit = "months"\n')
    content = card_content(card)
    entry = content.endpoints[0]
    assert entry["left_out"] == {"time_or_event_missing": 1, "time_not_positive": 2} and entry["patients"] == 9
    assert content.card["build_report"]["lines"] == [
        "endpoint OS: 1 patients without time or event and 2 with time <= 0 are left out of its survival tasks "
        "(9 patients, 9 events remain)"]


def test_time_from_the_first_non_missing_column(tmp_path: Path) -> None:
    rows = [f"{p},{1 if i % 2 else 0},{'' if i % 2 == 0 else 100 + i},{200 + i}" for i, p in enumerate(IDS)]
    _clinical(tmp_path, rows, header="patient,vital,days_to_death,days_to_last_followup")
    _matrix(tmp_path, "expr.tsv", IDS)
    card = _card(tmp_path, CLIN + RNA + '[[endpoints]]\nname = "OS"\ntime_column = ["days_to_death", "days_to_last_followup"]\n'
                 'event_column = "vital"\n')
    clinical, _ = read_generic(card)
    assert clinical["os_time"].to_list() == [200 + i if i % 2 == 0 else 100 + i for i in range(12)]


# ------------------------------------------------------------------------------------------------ real files
def test_select_drop_value_map_missing_tokens_and_inf(tmp_path: Path) -> None:
    _clinical(tmp_path)
    (tmp_path / "mut.csv").write_text("sample,TP53,KRAS,comment,TTN\n" + "".join(
        f"{p},{'MUTATED' if i % 2 else 'WT'},{'--' if i == 3 else 'WT'},x,{'inf' if i == 5 else '#DIV/0!' if i == 6 else i}\n"
        for i, p in enumerate(IDS)))
    card = _card(tmp_path, CLIN + """
[[modalities]]
name = "mutation"
path = "mut.csv"
orientation = "patients_x_features"
id_column = "sample"
drop = ["comment"]
values = { MUTATED = 1, WT = 0 }
missing_values = ["--", "#DIV/0!"]
infinite = "missing"
allow_missing = true
""")
    content = card_content(card)
    block = content.blocks["mutation"][0]
    assert block.features == ("TP53", "KRAS", "TTN")
    assert block.values[:, 0].tolist() == [i % 2 for i in range(12)]
    assert np.isnan(block.values[3, 1]) and np.isnan(block.values[5, 2]) and np.isnan(block.values[6, 2])
    assert block.values[7, 2] == 7
    assert content.card["build_report"]["counts"] == {"mutation_infinite_to_missing": 1}
    text = str(_raises(lambda: read_generic(_card(tmp_path, CLIN + """
[[modalities]]
name = "mutation"
path = "mut.csv"
orientation = "patients_x_features"
id_column = "sample"
select = ["TP53", "TTN"]
values = { MUTATED = 1, WT = 0 }
missing_values = ["#DIV/0!"]
allow_missing = true
"""))))
    assert "mut.csv, row P05, column 'TTN': infinite value" in text


def test_nan_error_names_the_key_that_allows_missing_values(tmp_path: Path) -> None:
    _clinical(tmp_path)
    _matrix(tmp_path, "expr.tsv", IDS)
    (tmp_path / "expr.tsv").write_text((tmp_path / "expr.tsv").read_text().replace("\t1.1\n", "\tNA\n", 1))
    text = str(_raises(lambda: read_generic(_card(tmp_path, CLIN + RNA))))
    assert "expr.tsv, row G0, column 'P11': missing value (NaN)" in text
    assert 'allow_missing = true in [[modalities]] #1 ("rna") of the card' in text


def test_id_by_position_with_blank_header_and_several_files_per_modality(tmp_path: Path) -> None:
    _clinical(tmp_path)
    _matrix(tmp_path, "a.csv", IDS[:5], sep=",", first="")
    _matrix(tmp_path, "b.csv", IDS[5:], sep=",", first="")
    # same features in another order: aligned by name
    lines = (tmp_path / "b.csv").read_text().splitlines()
    (tmp_path / "b.csv").write_text("\n".join([lines[0], lines[2], lines[1], lines[3]]) + "\n")
    card = _card(tmp_path, CLIN + '[[modalities]]\nname = "rna"\npath = ["a.csv", "b.csv"]\norientation = "features_x_patients"\nid_column = 0\n')
    _, blocks = read_generic(card)
    rna = blocks["rna"]
    assert rna.patients == tuple(IDS) and rna.features == ("G0", "G1", "G2")
    assert rna.values[:, 1].tolist() == pytest.approx([1 + i / 10 for i in range(5)] + [1 + i / 10 for i in range(7)])
    _matrix(tmp_path, "b.csv", IDS[5:], sep=",", first="", features=4)
    text = str(_raises(lambda: read_generic(card)))
    assert "b.csv: its features differ from those of a.csv (4 vs 3; only here: ['G3'], missing here: [])" in text


def test_excel_sheet_and_hdf5_matrix(tmp_path: Path) -> None:
    import h5py
    import openpyxl

    _clinical(tmp_path)
    book = openpyxl.Workbook()
    book.active.title = "notes"
    sheet = book.create_sheet("calls")
    sheet.append(["sample", "AKT", "EGFR"])
    for i, p in enumerate(IDS):
        sheet.append([p, i * 0.5, 1 if i % 2 else 0])
    book.save(tmp_path / "prot.xlsx")
    with h5py.File(tmp_path / "meth.h5", "w") as handle:
        handle["beta"] = np.arange(24, dtype=np.float64).reshape(2, 12) / 24
        handle["cpg"] = np.array([b"cg01", b"cg02"])
        handle["samples"] = np.array([p.encode() for p in IDS])
    card = _card(tmp_path, CLIN + """
[[modalities]]
name = "protein"
path = "prot.xlsx"
sheet = "calls"
orientation = "patients_x_features"
id_column = "sample"

[[modalities]]
name = "methylation"
path = "meth.h5"
orientation = "features_x_patients"
id_column = 0
hdf5 = { values = "beta", rows = "cpg", columns = "samples" }
""")
    _, blocks = read_generic(card)
    assert blocks["protein"].features == ("AKT", "EGFR") and blocks["protein"].values[:, 0].tolist() == [i * 0.5 for i in range(12)]
    assert blocks["methylation"].features == ("cg01", "cg02") and blocks["methylation"].patients == tuple(IDS)
    assert blocks["methylation"].values[3, 1] == pytest.approx(15 / 24)
    text = str(_raises(lambda: read_generic(_card(tmp_path, CLIN + (tmp_path / "card.toml").read_text().split(CLIN)[1]
                                                  .replace('sheet = "calls"\n', "")))))
    assert "prot.xlsx: the workbook has 2 sheets and the card names none" in text


def test_identical_duplicate_clinical_rows_collapse_conflicting_refused(tmp_path: Path) -> None:
    rows = [f"{p},{6 + i},0,0,1,I,H0" for i, p in enumerate(IDS)]
    _clinical(tmp_path, rows + [rows[4]])
    _matrix(tmp_path, "expr.tsv", IDS)
    content = card_content(_card(tmp_path, CLIN + RNA))
    assert content.clinical.height == 12 and content.card["build_report"]["counts"] == {"clinical_identical_duplicates_collapsed": 1}
    _clinical(tmp_path, rows + [rows[4].replace(",10,", ",11,")])
    text = str(_raises(lambda: read_generic(tmp_path / "card.toml")))
    assert "clinical.csv, row 14, column 'patient': duplicate patient ID 'P04' (also row 6) with conflicting values in column 'os_months' (10 vs 11)" in text


def test_unmatched_drop_counts_the_patients_left_out(tmp_path: Path) -> None:
    _clinical(tmp_path)
    _matrix(tmp_path, "expr.tsv", IDS + ["X1", "X2"])
    text = str(_raises(lambda: read_generic(_card(tmp_path, CLIN + RNA))))
    assert "2 of its 14 patient IDs have no row in the clinical table clinical.csv" in text and 'unmatched = "drop"' in text
    content = card_content(_card(tmp_path, CLIN.replace('"patient"\n', '"patient"\nunmatched = "drop"\n') + RNA))
    assert content.blocks["rna"][0].patients == tuple(IDS)
    assert content.card["build_report"]["counts"] == {"rna_unmatched_dropped": 2}
    assert "rna: 2 of 14 patients of expr.tsv have no clinical row and were left out" in content.card["build_report"]["lines"][0]


def test_five_problems_reported_in_one_run(tmp_path: Path) -> None:
    _clinical(tmp_path)
    _matrix(tmp_path, "expr.tsv", IDS)
    (tmp_path / "bad.tsv").write_text("gene\tP00\tP01\nG0\t1\tabc\n")
    card = _card(tmp_path, CLIN + RNA + """
[[endpoints]]
name = "OS"
time_column = "os_months"
event_column = "censorship"

[[modalities]]
name = "cnv"
path = "missing.tsv"
orientation = "features_x_patients"
id_column = "gene"

[[modalities]]
name = "protein"
path = "bad.tsv"
orientation = "features_x_patients"
id_column = "gene"

[[modalities]]
name = "mirna"
path = "expr.tsv"
orientation = "sideways"
id_column = "gene"

[[modalities]]
name = "mutation"
path = "expr.tsv"
orientation = "features_x_patients"
id_column = "gene"
scale = true
""")
    with pytest.raises(CardProblemsError) as info:
        read_generic(card)
    text = str(info.value)
    assert text.startswith(f"{card}: 5 problems in the dataset card and its files:")
    for problem in ("event_column 'censorship' is named like a censoring flag", "unknown orientation 'sideways'",
                    "unknown key 'scale' in [[modalities]] #5", "missing.tsv: no such file",
                    "bad.tsv, row G0, column 'P01': non-numeric cell"):
        assert problem in text
    assert len(info.value.problems) == 5
    assert main(["datasets", "card", "--check", str(card)]) == 2  # the same five from the command line


def test_raw_dir_paths_and_escape_refused(tmp_path: Path) -> None:
    raw = tmp_path / "raw" / "cohort"
    raw.mkdir(parents=True)
    _clinical(raw)
    _matrix(raw, "expr.tsv", IDS)
    cards = tmp_path / "repo"
    cards.mkdir()
    card = _card(cards, CLIN.replace('"clinical.csv"', '"cohort/clinical.csv"') + RNA.replace('"expr.tsv"', '"cohort/expr.tsv"'))
    assert main(["datasets", "build", str(card), "--raw-dir", str(tmp_path / "raw")]) == 0
    assert load_dataset("toy").manifest["modalities"]["rna"]["sources"][0]["files"][0]["name"] == "cohort/expr.tsv"
    card.write_text(card.read_text().replace('"cohort/expr.tsv"', '"../repo/expr.tsv"'))
    text = str(_raises(lambda: read_card(card, tmp_path / "raw")))
    assert "path '../repo/expr.tsv' escapes the raw folder (--raw-dir)" in text


def test_drawn_splits_stratify_on_a_label_and_group_on_a_column(tmp_path: Path) -> None:
    ids = [f"P{i:02d}" for i in range(64)]
    rows = [f"{p},{6 + i},0,0,1,{'A' if i % 2 else 'B'},H{i % 16}" for i, p in enumerate(ids)]
    _clinical(tmp_path, rows)
    _matrix(tmp_path, "expr.tsv", ids)
    card = _card(tmp_path, CLIN + RNA + '[splits]\nstratify = "stage"\ngroup = "site"\nseed = 3\n')
    content = card_content(card)
    table, described = content.splits["kfold"]
    assert described["grouped_on"] == "site" and described["stratified_on"] == ["cohort", "stage"]
    site = dict(zip(content.clinical["patient_id"], content.clinical["site"]))
    stage = dict(zip(content.clinical["patient_id"], content.clinical["stage"]))
    for (_, _), part in table.group_by(["repeat", "fold"]):
        train = {site[p] for p in part.filter(pl.col("role") == "train")["patient_id"]}
        held = {site[p] for p in part.filter(pl.col("role") != "train")["patient_id"]}
        assert not train & held  # no hospital on both sides
        test = part.filter(pl.col("role") == "test")["patient_id"].to_list()
        assert {stage[p] for p in test} == {"A", "B"}  # both classes in every test fold
    assert content.labels == ["stage"]


def test_example_card_is_valid_toml_with_known_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "card", "--example"]) == 0
    printed = capsys.readouterr().out
    assert printed == EXAMPLE_CARD and printed.count("#") > 30  # commented
    data = tomllib.loads(printed)
    assert {"name", "clinical", "endpoints", "splits", "modalities"} <= set(data)
    card = tmp_path / "card.toml"
    card.write_text(printed)
    parsed = read_card(card)  # every key known and well typed (files are read at build time)
    assert [m.name for m in parsed.modalities] == ["rna", "mutation", "methylation"]
    assert parsed.endpoints[0].time_columns == ("days_to_death", "days_to_last_followup")


def test_unknown_card_dataset_hint_names_the_card(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("my-own-cohort")
    assert "`oncobench datasets build path/to/card.toml [--raw-dir DIR]`" in str(info.value)
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("tcga-pancan")
    assert "`oncobench datasets build tcga-pancan --raw-dir DIR`" in str(info.value)


def _raises(call) -> Exception:
    with pytest.raises((InputFormatError, FileNotFoundError)) as info:
        call()
    return info.value


def test_write_template_accepts_a_str_path(tmp_path: Path) -> None:
    from oncobench.benchmark import catalog  # noqa: F401  (registers the tasks)
    from oncobench.benchmark.tasks import load_task
    from oncobench.leaderboard.submission import write_template

    task = load_task("pancan-type", dataset="tcga-mini")
    out = write_template(task, str(tmp_path / "submission"))  # issue 12: a str path crashed
    assert Path(out) == tmp_path / "submission" and (tmp_path / "submission" / "meta.toml").is_file()
    assert sorted(p.name for p in Path(out).glob("fold*_seed0.*")) != []
