"""TCGA barcode parsing and patient keys.

A TCGA barcode ``TCGA-A1-A0SB-01A-11R-A144-07`` reads project, tissue source site (TSS), participant,
sample type + vial, portion + analyte, plate, centre. Sources write it with ``.`` (cpRMT:
``TCGA.C8.A12P.01``) or in lower case; everything is normalised to upper case with ``-``.

References
----------
NCI GDC, "TCGA Barcode", https://docs.gdc.cancer.gov/Encyclopedia/pages/TCGA_Barcode/
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Sample type codes (first two digits of the fourth field), from the GDC code tables.
SAMPLE_TYPES: dict[str, str] = {
    "01": "primary solid tumor",
    "02": "recurrent solid tumor",
    "03": "primary blood derived cancer (peripheral blood)",
    "05": "additional new primary",
    "06": "metastatic",
    "07": "additional metastatic",
    "10": "blood derived normal",
    "11": "solid tissue normal",
    "12": "buccal cell normal",
}

_BARCODE = re.compile(
    r"^(?P<project>TCGA)-(?P<tss>[A-Z0-9]{2})-(?P<participant>[A-Z0-9]{4})"
    r"(?:-(?P<sample>\d{2})(?P<vial>[A-Z])?"
    r"(?:-(?P<portion>\d{2})(?P<analyte>[A-Z])?"
    r"(?:-(?P<slide>(?:DX|TS|BS|MS)[A-Z0-9]*)|-(?P<plate>[A-Z0-9]{4})(?:-(?P<center>\d{2}))?)?)?)?$"
)


@dataclass(frozen=True)
class TCGABarcode:
    """The fields of one TCGA barcode; fields beyond the given length are ``None``."""

    project: str
    tss: str
    participant: str
    sample: str | None = None
    vial: str | None = None
    portion: str | None = None
    analyte: str | None = None
    plate: str | None = None
    center: str | None = None
    slide: str | None = None  # diagnostic/frozen slide ID (DX1, TS1 ...) of a slide barcode

    @property
    def patient_id(self) -> str:
        """The patient key, ``TCGA-XX-XXXX``."""
        return f"{self.project}-{self.tss}-{self.participant}"

    @property
    def sample_type(self) -> str | None:
        """Human-readable sample type (``primary solid tumor`` ...), ``None`` for a patient barcode."""
        if self.sample is None:
            return None
        return SAMPLE_TYPES.get(self.sample, f"other ({self.sample})")

    @property
    def is_tumor(self) -> bool | None:
        """True for tumour sample codes 01-09, False for normals 10-19, None without a sample field."""
        if self.sample is None:
            return None
        return int(self.sample) < 10


def normalize_barcode(raw: str) -> str:
    """Upper-case, strip, and turn ``.``/``_`` separators into ``-`` (``TCGA.C8.A12P.01`` -> ``TCGA-C8-A12P-01``)."""
    return re.sub(r"[._]", "-", str(raw).strip().upper())


def parse_barcode(raw: str) -> TCGABarcode:
    """Parse a TCGA patient, sample, or aliquot barcode.

    Raises
    ------
    ValueError
        If ``raw`` is not a TCGA barcode; the message shows the value and the expected form.
    """
    match = _BARCODE.match(normalize_barcode(raw))
    if match is None:
        raise ValueError(
            f"not a TCGA barcode: {raw!r}; expected TCGA-XX-XXXX[-01A[-11R[-A144[-07]]]]"
        )
    return TCGABarcode(**match.groupdict())


def harmonize_barcode(raw: str) -> str:
    """Return the patient key (``TCGA-XX-XXXX``) of any TCGA barcode."""
    return parse_barcode(raw).patient_id


def tss_code(raw: str | int | float) -> str:
    """Normalise a tissue-source-site code to two characters.

    Sources lose leading zeros (``centers.csv``: ``5`` means ``05``) or store codes as floats
    (``5.0``); letter codes (``A1``) pass through upper-cased.
    """
    text = str(raw).strip().upper()
    if re.fullmatch(r"\d+(\.0+)?", text):
        text = f"{int(float(text)):02d}"
    if not re.fullmatch(r"[A-Z0-9]{2}", text):
        raise ValueError(f"not a TSS code: {raw!r}; expected two letters/digits such as '05' or 'A1'")
    return text
