"""Data page: upload a run log, check its column mapping, save it; manage stored datasets.

Thin by design: parsing and validation live in ``scaling_core.ingest``, persistence in
``scaling_core.store``; this page only places widgets and shows their results. Every
user-supplied string (file names, headers, values, dataset names) is shown as plain text:
markdown-significant characters are escaped and no HTML is ever enabled.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd
import streamlit as st

from pages._ui import ensure_navigation, get_store
from scaling_core.ingest import (
    NONE_OPTION,
    REDUCTIONS,
    IngestErrors,
    ParsedTable,
    RawTable,
    read_table,
    suggest_mapping,
    validate_table,
)
from scaling_core.schema import CANONICAL_COLUMNS
from scaling_core.store import DatasetInfo, Store, StoreError

PREVIEW_ROWS = 20
REDUCTION_LABELS = {
    "final": "final — each run's last evaluation (largest step)",
    "best": "best — each run's lowest loss",
}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&])")


def plain(text: str) -> str:
    """``text`` with markdown/directive characters escaped so Streamlit shows it verbatim."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def show_errors(errors: IngestErrors) -> None:
    """All reported problems (capped by ingest) in one error box, one bullet each."""
    lines = "\n".join(f"- {plain(message)}" for message in errors.messages())
    st.error(
        f"**{plain(errors.filename)} cannot be used yet** — row numbers count the header as "
        f"row 1, as in a spreadsheet:\n\n{lines}"
    )


def edit_mapping(raw: RawTable, file_key: str) -> dict[str, str]:
    """One selectbox per canonical column, preset from the header synonyms."""
    suggested = suggest_mapping(raw.headers)
    options = [NONE_OPTION, *raw.headers]
    mapping: dict[str, str] = {}
    with st.expander("Column mapping (detected automatically; change if wrong)", expanded=True):
        grid = st.columns(3)
        for position, (canonical, meaning) in enumerate(CANONICAL_COLUMNS.items()):
            preset = suggested.get(canonical, NONE_OPTION)
            choice = grid[position % 3].selectbox(
                canonical,
                options,
                index=options.index(preset),
                key=f"map_{canonical}_{file_key}",
                help=meaning,
            )
            if choice != NONE_OPTION:
                mapping[canonical] = choice
    return mapping


def save(store: Store, name: str, parsed: ParsedTable, data: bytes, reduction: str) -> None:
    """Store the upload; report the outcome instead of raising."""
    try:
        info = store.add_dataset(name, parsed, data, reduction)  # type: ignore[arg-type]
    except StoreError as exc:
        st.error(plain(str(exc)))
        return
    st.session_state["dataset"] = info.name
    if info.created:
        st.success(f"Saved dataset {plain(info.name)} ({info.n_runs} runs, {info.n_rows} rows).")
    else:
        st.success(f"Dataset {plain(info.name)} already holds this exact file; nothing changed.")


def upload_section(store: Store) -> None:
    """Upload → mapping → validation → preview → save."""
    uploaded = st.file_uploader("Upload run log (CSV)", type=["csv", "tsv", "txt"], key="upload")
    if uploaded is None:
        st.caption(
            "One row per run, or one row per evaluation step with a run column. Needs a "
            "parameter count, a loss, and training tokens or FLOPs; sizes like 70M or 1.4B work."
        )
        return
    data = uploaded.getvalue()
    raw = read_table(uploaded.name, data)
    if isinstance(raw, IngestErrors):
        show_errors(raw)
        return
    file_key = hashlib.sha256(data).hexdigest()[:12]
    mapping = edit_mapping(raw, file_key)
    result = validate_table(raw, mapping)
    parsed = result if isinstance(result, ParsedTable) else None
    if isinstance(result, IngestErrors):
        show_errors(result)

    reduction = "final"
    if parsed is not None:
        if parsed.has_step_logs:
            reduction = st.radio(
                "Several rows per run: reduce each run to",
                REDUCTIONS,
                format_func=REDUCTION_LABELS.__getitem__,
                key=f"reduction_{file_key}",
            )
        st.caption(
            f"{parsed.n_rows} rows, {parsed.n_runs} runs; first {PREVIEW_ROWS} rows in "
            "canonical columns (params and tokens as counts, flops in FLOPs, losses in nats)."
        )
        st.dataframe(parsed.points.head(PREVIEW_ROWS), hide_index=True)

    name = st.text_input("Dataset name", value=Path(uploaded.name).stem, key=f"name_{file_key}")
    clicked = st.button(
        "Save dataset",
        type="primary",
        disabled=parsed is None or not name.strip(),
        key="save",
    )
    if clicked and parsed is not None:
        save(store, name, parsed, data, reduction)


def _delete(store: Store) -> None:
    """Button callback: runs before the rerun, so the listing below is already current."""
    target = st.session_state.get("delete_target")
    if not target or not st.session_state.get("delete_confirm"):
        return
    try:
        store.delete_dataset(target)
    except StoreError as exc:
        st.session_state["data_flash"] = ("error", str(exc))
        return
    if st.session_state.get("dataset") == target:
        del st.session_state["dataset"]
    st.session_state["delete_confirm"] = False
    st.session_state["data_flash"] = ("success", f"Deleted dataset {target}.")


def _rename(store: Store) -> None:
    """Button callback for renaming."""
    old, new = st.session_state.get("rename_target"), st.session_state.get("rename_to", "")
    if not old:
        return
    try:
        info = store.rename_dataset(old, new)
    except StoreError as exc:
        st.session_state["data_flash"] = ("error", str(exc))
        return
    if st.session_state.get("dataset") == old:
        st.session_state["dataset"] = info.name
    st.session_state["rename_to"] = ""
    st.session_state["data_flash"] = ("success", f"Renamed {old} to {info.name}.")


def datasets_table(datasets: list[DatasetInfo]) -> pd.DataFrame:
    """The listing shown to users (names rendered as cell text, never markup)."""
    return pd.DataFrame(
        {
            "name": [d.name for d in datasets],
            "file": [d.source_filename for d in datasets],
            "runs": [d.n_runs for d in datasets],
            "rows": [d.n_rows for d in datasets],
            "reduction": [d.reduction for d in datasets],
            "added (UTC)": [d.created_at for d in datasets],
        }
    )


def datasets_section(store: Store) -> None:
    """List stored datasets; rename and delete (with confirmation)."""
    st.subheader("Stored datasets")
    flash = st.session_state.pop("data_flash", None)
    if flash is not None:
        kind, message = flash
        (st.success if kind == "success" else st.error)(plain(message))
    try:
        datasets = store.list_datasets()
    except StoreError as exc:
        st.error(plain(str(exc)))
        return
    if not datasets:
        st.info("No datasets stored yet.")
        return
    st.dataframe(datasets_table(datasets), hide_index=True)
    names = [d.name for d in datasets]
    with st.expander("Rename a dataset"):
        st.selectbox("Dataset to rename", names, key="rename_target")
        st.text_input("New name", key="rename_to")
        st.button("Rename", key="rename", on_click=_rename, args=(store,))
    with st.expander("Delete a dataset"):
        st.selectbox("Dataset to delete", names, key="delete_target")
        confirmed = st.checkbox("Yes, delete it permanently", key="delete_confirm")
        st.button(
            "Delete dataset", key="delete", disabled=not confirmed, on_click=_delete, args=(store,)
        )


def main() -> None:
    """Render the page; store or parsing failures become messages, never tracebacks."""
    ensure_navigation()
    st.title("Data")
    try:
        store = get_store()
    except StoreError as exc:
        st.error(plain(str(exc)))
        return
    try:
        upload_section(store)
    except Exception as exc:  # never crash the page on a bad file: report and carry on
        st.error(f"Could not read the upload: {plain(f'{type(exc).__name__}: {exc}')}")
    datasets_section(store)


main()
