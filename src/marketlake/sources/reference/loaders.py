"""Symbol-master loaders for public reference files: S&P 500 constituents and NASDAQ Trader listings.

Each loader returns a DataFrame of ``symbol`` + the catalogue's METADATA_COLUMNS + ``metadata_source``,
one row per symbol. ``load_reference`` detects the format from the header, so users can load their
own copies of these formats. ``merge_reference`` combines several frames: for each symbol and column,
the first non-null value wins, in priority order ``sp500`` (GICS sector and industry, clean company
names) > ``nasdaq_listed`` > ``other_listed`` (listing exchange, ETF flag) > anything else; frames
passed first win among equal formats.

Exchange codes of the NASDAQ Trader "other listed" file: N = NYSE, P = NYSE Arca, Z = Cboe BZX,
A = NYSE American, V = IEX. MIC codes are looked up in the ISO 10383 registry (``iso10383`` package),
so a misspelt code fails loudly instead of entering the warehouse.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Literal

import pandas as pd

from marketlake.errors import ParseError
from marketlake.frames import concat_rows
from marketlake.schema import METADATA_COLUMNS

Format = Literal["sp500", "nasdaq_listed", "other_listed"]
PRIORITY: tuple[str, ...] = ("sp500", "nasdaq_listed", "other_listed")
OUTPUT_COLUMNS: tuple[str, ...] = ("symbol", *METADATA_COLUMNS, "metadata_source")

OTHER_EXCHANGES: dict[str, str] = {"N": "NYSE", "P": "NYSE Arca", "Z": "Cboe BZX", "A": "NYSE American", "V": "IEX"}
_EXCHANGE_MIC: dict[str, str] = {
    "NASDAQ": "XNAS", "NYSE": "XNYS", "NYSE Arca": "ARCX", "Cboe BZX": "BATS", "NYSE American": "XASE", "IEX": "IEXG",
}
_SIGNATURES: dict[Format, tuple[str, ...]] = {
    "sp500": ("symbol", "security", "gics sector", "gics sub-industry"),
    "nasdaq_listed": ("symbol", "security name", "market category", "test issue", "etf"),
    "other_listed": ("act symbol", "security name", "exchange", "test issue", "etf"),
}


@lru_cache(maxsize=32)
def mic_for(exchange: str | None) -> str | None:
    """The ISO 10383 MIC of a listing exchange name, verified against the registry."""
    if not exchange or exchange not in _EXCHANGE_MIC:
        return None
    import iso10383

    code = _EXCHANGE_MIC[exchange]
    try:
        return str(iso10383.MIC[code.lower()].value.mic)
    except KeyError:  # pragma: no cover - depends on the registry edition
        return None


def detect_format(columns: Sequence[str]) -> Format:
    """Which reference format a header belongs to (case-insensitive)."""
    cols = {str(c).strip().lower() for c in columns}
    for fmt, needed in _SIGNATURES.items():
        if all(n in cols for n in needed):
            return fmt
    raise ValueError(f"unknown reference format (columns: {', '.join(map(str, columns))})")


def comment_lines(path: Path) -> int:
    """Leading `#` lines (a snapshot's source and date) to skip; plain or gzip-compressed files."""
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    n = 0
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.startswith("#"):
                    break
                n += 1
    except (OSError, EOFError) as exc:
        raise ParseError(f"cannot read: {exc}", path=str(path), source="reference") from None
    return n


def _read(path: Path) -> pd.DataFrame:
    if not Path(path).is_file():
        raise ParseError("file does not exist", path=str(path), source="reference")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, skiprows=comment_lines(path))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ParseError(f"not a reference CSV: {exc}", path=str(path), source="reference") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame.apply(lambda s: s.str.strip())


def _finish(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    out = frame.copy()
    out["mic_code"] = out["exchange"].map(mic_for) if "exchange" in out else None
    out["currency"] = "USD"
    out["country"] = "United States"
    out["exchange_timezone"] = "America/New_York"
    out["metadata_source"] = source
    for c in OUTPUT_COLUMNS:
        if c not in out:
            out[c] = None
    out = out[list(OUTPUT_COLUMNS)]
    out = out[out["symbol"].fillna("") != ""].drop_duplicates("symbol", keep="first")
    return out.replace({"": None}).reset_index(drop=True)


def _listing_rows(frame: pd.DataFrame, symbol_col: str) -> pd.DataFrame:
    """Drop the footer ('File Creation Time: ...'), blank lines and test issues."""
    sym = frame[symbol_col]
    keep = (sym != "") & ~sym.str.startswith("File Creation Time") & (frame["test issue"] != "Y")
    return frame[keep]


def load_sp500(path: str | Path) -> pd.DataFrame:
    """S&P 500 constituents (`Symbol,Security,GICS Sector,GICS Sub-Industry,...`)."""
    f = _read(Path(path))
    out = pd.DataFrame({
        "symbol": f["symbol"], "name": f["security"], "asset_type": "stock",
        "sector": f["gics sector"], "industry": f["gics sub-industry"],
    })
    return _finish(out, "sp500")


def load_nasdaq_listed(path: str | Path) -> pd.DataFrame:
    """NASDAQ Trader nasdaqlisted (every row listed on NASDAQ; ETF flag -> asset_type etf)."""
    f = _listing_rows(_read(Path(path)), "symbol")
    name = f["company name"] if "company name" in f else f["security name"]
    out = pd.DataFrame({
        "symbol": f["symbol"], "name": name.where(name != "", f["security name"]),
        "asset_type": f["etf"].map({"Y": "etf"}).fillna("stock"), "exchange": "NASDAQ",
    })
    return _finish(out, "nasdaq_listed")


def load_other_listed(path: str | Path) -> pd.DataFrame:
    """NASDAQ Trader otherlisted (NYSE, NYSE Arca, NYSE American, Cboe BZX, IEX by exchange code)."""
    f = _listing_rows(_read(Path(path)), "act symbol")
    name = f["company name"] if "company name" in f else f["security name"]
    out = pd.DataFrame({
        "symbol": f["act symbol"], "name": name.where(name != "", f["security name"]),
        "asset_type": f["etf"].map({"Y": "etf"}).fillna("stock"), "exchange": f["exchange"].map(OTHER_EXCHANGES),
    })
    return _finish(out, "other_listed")


_LOADERS = {"sp500": load_sp500, "nasdaq_listed": load_nasdaq_listed, "other_listed": load_other_listed}


def load_reference(path: str | Path) -> pd.DataFrame:
    """Load a reference file of any supported format, detected from its header."""
    p = Path(path)
    if not p.is_file():
        raise ParseError("file does not exist", path=str(p), source="reference")
    try:
        header = pd.read_csv(p, nrows=0, dtype=str, skiprows=comment_lines(p)).columns.tolist()
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ParseError(f"not a reference CSV: {exc}", path=str(p), line=1, source="reference") from None
    try:
        fmt = detect_format(header)
    except ValueError as exc:
        raise ParseError(f"{exc}; expected S&P 500 constituents, nasdaqlisted or otherlisted",
                         path=str(p), line=1, source="reference") from None
    return _LOADERS[fmt](p)


def _joined_sources(allf: pd.DataFrame) -> pd.Series:
    """symbol -> its distinct sources joined by "," in `allf`'s order, vectorised (a per-symbol Python
    join over 13,000 symbols took 5 s of every `symbols load`)."""
    d = allf.dropna(subset=["metadata_source"]).drop_duplicates(["symbol", "metadata_source"])
    d = d.assign(_k=d.groupby("symbol", sort=False).cumcount())
    wide = d.pivot(index="symbol", columns="_k", values="metadata_source").astype(object)
    out = wide[0]
    for k in wide.columns[1:]:
        out = out.where(wide[k].isna(), out + "," + wide[k])
    symbols = pd.Index(sorted(allf["symbol"].unique()), name="symbol")
    return out.reindex(symbols).fillna("")


def merge_reference(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One row per symbol; per column the first non-null value in PRIORITY order (then input order)."""
    if not frames:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in OUTPUT_COLUMNS})
    parts = []
    for i, f in enumerate(frames):
        src = f["metadata_source"].iloc[0] if len(f) else ""
        rank = PRIORITY.index(src) if src in PRIORITY else len(PRIORITY)
        parts.append(f.assign(_rank=rank, _order=i))
    allf = concat_rows(parts, ignore_index=True).sort_values(["symbol", "_rank", "_order"], kind="stable")
    sources = _joined_sources(allf)
    merged = allf.drop(columns=["_rank", "_order", "metadata_source"]).groupby("symbol", sort=True).first()
    merged["metadata_source"] = sources
    return merged.reset_index()[list(OUTPUT_COLUMNS)]


__all__ = [
    "OUTPUT_COLUMNS", "PRIORITY", "detect_format", "load_nasdaq_listed", "load_other_listed", "load_reference",
    "load_sp500", "merge_reference", "mic_for",
]
