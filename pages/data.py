"""Data page: upload a run log or a tracker export, map its columns, save it; manage datasets.

Thin by design: reading and validating live in :mod:`scaling_core.ingest` (and the tracker
importers behind it), persistence and permissions in the session's
:class:`~scaling_core.workspace_store.WorkspaceStore`; this page reads widget state, calls them
and draws the answers. Nothing is written until the user presses Save on a file that validated
(warnings accepted).

Every user-supplied string (file names, headers, cell values, dataset and run names) is shown as
plain text: markdown-significant characters are escaped and HTML is never enabled. Widgets the
session's principal may not use (viewer mode, a viewer's role) are not drawn at all; the
WorkspaceStore refuses the call anyway, and a refusal is shown like any other store error.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import PurePosixPath

import numpy as np
import pandas as pd
import streamlit as st
from streamlit import config

from pages._text import plain
from pages._ui import ensure_navigation, get_store
from scaling_core.filenames import download_name, upload_name
from scaling_core.ingest import (
    NONE_OPTION,
    UNIT_CHOICES,
    UNIT_LABELS,
    IngestErrors,
    ParsedTable,
    RawTable,
    ReductionError,
    check_size,
    read_table,
    suggest_mapping,
    validate_table,
)
from scaling_core.schema import CANONICAL_COLUMNS, RunTable
from scaling_core.store import DatasetInfo, StoreError
from scaling_core.workspace_store import WorkspaceStore

PREVIEW_ROWS = 20
NUMBER_FORMATS = {
    column: st.column_config.NumberColumn(format="%.3e") for column in ("params", "tokens")
}
"""Sizes span orders of magnitude: shown as 1.311e+9 (4 significant digits)."""
MAX_LISTED_RUNS = 8
"""Run names listed by name in a caption before the rest are counted."""

UPLOAD_TYPES: list[str] | None = None
"""No extension filter. A TensorBoard event file is named ``events.out.tfevents.<time>.<host>``:
its "extension" is the host name, so no ``type=`` list can admit it, and Streamlit checks the
list on the server too. Content decides instead: ``read_table`` recognises every supported
format by its bytes and rejects anything else with a precise message."""

ACCEPTED_FORMATS = (
    "CSV / TSV / delimited text, Parquet, JSON Lines (.jsonl, .ndjson, .json); tracker exports: "
    "a Weights & Biases runs-table CSV, API JSON or a .zip of wandb/ run folders, a TensorBoard "
    "event file (events.out.tfevents.*) or a .zip of a log directory, an MLflow mlruns/ folder "
    "as a .zip"
)

FORMAT_LABELS = {
    "csv": "delimited text",
    "jsonl": "JSON Lines",
    "parquet": "Parquet",
    "wandb": "a Weights & Biases export",
    "tensorboard": "TensorBoard event files",
    "mlflow": "an MLflow tracking directory",
}
DELIMITER_LABELS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

REDUCTION_OPTIONS = ("final", "best", "at_step")
REDUCTION_LABELS = {
    "final": "final — each run's last evaluation (largest step)",
    "best": "best — each run's lowest loss",
    "at_step": "at step S — each run's last evaluation at or before a step",
}

TARGET_LABELS = {
    "create": "New dataset",
    "append": "Append to an existing dataset",
    "replace": "Replace an existing dataset's data",
}
TARGET_ACTIONS = {"create": "upload", "append": "upload", "replace": "replace"}
"""The permission each target needs (``WorkspaceStore.can``)."""


# -- text and names --------------------------------------------------------------------------


# -- messages --------------------------------------------------------------------------------


def show_errors(errors: IngestErrors) -> None:
    """All reported problems (capped by ingest) in one error box, one bullet each."""
    lines = "\n".join(f"- {plain(message)}" for message in errors.messages())
    st.error(
        f"**{plain(errors.filename)} cannot be used yet** — row numbers count the header as "
        f"row 1, as in a spreadsheet:\n\n{lines}"
    )


def accept_warnings(parsed: ParsedTable, file_key: str) -> bool:
    """List the warnings; True when there are none or the user has accepted them."""
    if not parsed.warnings:
        return True
    count = len(parsed.warnings)
    lines = "\n".join(f"- {plain(issue.message())}" for issue in parsed.warnings[:20])
    more = f"\n- … and {count - 20} more" if count > 20 else ""
    st.warning(
        f"**{count} warning{'s' if count != 1 else ''}** — the file can be saved, resolved as "
        f"each warning says:\n\n{lines}{more}"
    )
    return st.checkbox(f"Accept {count} warning(s) and save", key=f"accept_{file_key}", value=False)


def count_phrase(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


# -- reading (cached per file content: a widget change must not re-read 50 MB) -------------


@st.cache_resource(show_spinner="Reading the file…", max_entries=4)
def _read(filename: str, digest: str, _data: bytes) -> RawTable | IngestErrors:
    """``read_table`` keyed by name and content digest (results are immutable: shared)."""
    return read_table(filename, _data)


@st.cache_resource(show_spinner="Checking every cell…", max_entries=8)
def _validate(
    filename: str,
    digest: str,
    mapping: tuple[tuple[str, str], ...],
    units: tuple[tuple[str, str], ...],
    _raw: RawTable,
) -> ParsedTable | IngestErrors:
    """``validate_table`` keyed by the file and the chosen mapping and units."""
    return validate_table(_raw, dict(mapping), dict(units))


def upload_limit_mb() -> float:
    """``server.maxUploadSize`` (MB), read the way Streamlit's uploader reads it."""
    return float(config.get_option("server.maxUploadSize"))


def describe(raw: RawTable) -> str:
    """How the file was read, in one caption."""
    kind = FORMAT_LABELS.get(raw.format, raw.format)
    details = ""
    if raw.format == "csv":
        delimiter = DELIMITER_LABELS.get(raw.delimiter, repr(raw.delimiter))
        details = f" ({delimiter}-separated, {raw.encoding})"
    records = "records (one per run and step)" if raw.sparse else "records"
    return (
        f"Read as {kind}{details}: {raw.n_rows:,} {records}, "
        f"{count_phrase(len(raw.headers), 'column')}."
    )


# -- mapping ---------------------------------------------------------------------------------


def mapping_preset(
    store: WorkspaceStore, raw: RawTable
) -> tuple[dict[str, str], dict[str, str], bool]:
    """(mapping, units, saved): the mapping this workspace saved for exactly these headers,
    else the one suggested from the header spellings."""
    try:
        found = store.find_mapping(raw.headers)
    except StoreError:
        found = None
    if found is None:
        return suggest_mapping(raw.headers), {}, False
    headers = set(raw.headers)
    mapping = {c: h for c, h in found[0].items() if c in CANONICAL_COLUMNS and h in headers}
    units = {c: u for c, u in found[1].items() if u in UNIT_CHOICES.get(c, ())}
    return mapping, units, True


def edit_mapping(
    raw: RawTable, file_key: str, preset: dict[str, str], preset_units: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """One selectbox per canonical column, and a unit next to the size and loss columns."""
    options = [NONE_OPTION, *raw.headers]
    mapping: dict[str, str] = {}
    units: dict[str, str] = {}
    with st.expander("Column mapping and units (detected automatically; change if wrong)", True):
        grid = st.columns(3)
        for position, (canonical, meaning) in enumerate(CANONICAL_COLUMNS.items()):
            cell = grid[position % 3]
            with_unit = canonical in UNIT_CHOICES
            column_cell, unit_cell = cell.columns([3, 2]) if with_unit else (cell, None)
            preset_header = preset.get(canonical, NONE_OPTION)
            choice = column_cell.selectbox(
                canonical,
                options,
                index=options.index(preset_header) if preset_header in options else 0,
                key=f"map_{canonical}_{file_key}",
                help=meaning,
            )
            if choice != NONE_OPTION:
                mapping[canonical] = choice
            if unit_cell is not None:
                choices = UNIT_CHOICES[canonical]
                unit = unit_cell.selectbox(
                    "unit",
                    choices,
                    index=choices.index(preset_units.get(canonical, choices[0])),
                    format_func=UNIT_LABELS.__getitem__,
                    key=f"unit_{canonical}_{file_key}",
                    disabled=choice == NONE_OPTION,
                    help=f"The unit of the file's {canonical} values; stored as "
                    f"{UNIT_LABELS[choices[0]]}.",
                )
                if choice != NONE_OPTION:
                    units[canonical] = unit
    return mapping, units


def shown_table(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` ready for ``st.dataframe``: FLOPs as text in scientific notation, because the
    grid refuses to draw whole numbers beyond 2**53 (every FLOP count) as numbers."""
    if "flops" not in frame:
        return frame
    flops = frame["flops"].to_numpy(dtype=float)
    text = [None if np.isnan(v) else f"{v:.3e}" for v in flops.tolist()]
    return frame.assign(flops=pd.Series(text, index=frame.index, dtype=object))


# -- reduction -------------------------------------------------------------------------------


def _runs_frame(runs: RunTable) -> pd.DataFrame:
    """One row per run, in the canonical units (names as cell text)."""
    frame = pd.DataFrame(
        {
            "run": runs.run,
            "params": runs.params,
            "tokens": runs.tokens,
            "flops": runs.compute,
            "loss": runs.loss,
        }
    )
    if runs.group.size:
        frame["group"] = runs.group
    return frame


def _default_step(parsed: ParsedTable) -> float | None:
    """A step at which to compare the runs: the last step every run reached, moved later if
    some run logs its first evaluation after it (so every run has one by then); None when no
    row has a step."""
    steps = np.asarray(parsed.columns["step"], dtype=float)
    logged = np.isfinite(steps)
    if not logged.any():
        return None
    codes = parsed.run_index
    if codes is None:
        codes = pd.factorize(pd.Series(parsed.columns["run"], dtype=object))[0]
    n_runs = int(codes.max()) + 1
    first, last = np.full(n_runs, np.inf), np.full(n_runs, -np.inf)
    np.minimum.at(first, codes[logged], steps[logged])
    np.maximum.at(last, codes[logged], steps[logged])
    placed = np.isfinite(first)
    return float(max(last[placed].min(), first[placed].max()))


def choose_reduction(parsed: ParsedTable, file_key: str) -> tuple[str, float | None]:
    """(reduction, at_step): the radio for step-level logs and the at-step preview."""
    if not parsed.has_step_logs:
        return "final", None
    reduction = st.radio(
        "Several rows per run: reduce each run to",
        REDUCTION_OPTIONS,
        format_func=REDUCTION_LABELS.__getitem__,
        key=f"reduction_{file_key}",
    )
    if reduction != "at_step":
        return reduction, None
    default = _default_step(parsed)
    if default is None:
        st.info(
            "No row has a step number, so runs cannot be compared at a step: map a step "
            "column, or use the final or best reduction."
        )
        return "final", None
    at_step = st.number_input(
        "Step S",
        min_value=0.0,
        value=default,
        step=1.0,
        format="%g",
        key=f"at_step_{file_key}",
        help="Preset to the last step every run reached (later if some run first logs after "
        "it, so that every run has an evaluation by S).",
    )
    return "at_step", float(at_step)


def preview_runs(parsed: ParsedTable, reduction: str, at_step: float | None) -> None:
    """How many runs the reduction keeps, and the per-run table it gives."""
    chosen = "final" if reduction == "at_step" else reduction
    try:
        runs = parsed.run_table(chosen, at_step)  # type: ignore[arg-type]
    except ReductionError as exc:
        st.warning(plain(str(exc)))
        return
    if at_step is not None:
        kept = set(runs.run.tolist())
        all_runs = list(dict.fromkeys(parsed.columns["run"].tolist()))
        missing = [name for name in all_runs if name not in kept]
        text = (
            f"{len(kept):,} of {count_phrase(len(all_runs), 'run')} have an evaluation at or "
            f"before step {at_step:g}."
        )
        if missing:
            shown = ", ".join(plain(str(name)) for name in missing[:MAX_LISTED_RUNS])
            more = (
                f" and {len(missing) - MAX_LISTED_RUNS:,} more"
                if len(missing) > MAX_LISTED_RUNS
                else ""
            )
            text += f" Left out: {shown}{more}."
        st.caption(
            text + " The store keeps every step and records final or best as the dataset's "
            "default; saving records final, and the runs at any step are shown under "
            "Stored datasets → Runs of a dataset."
        )
    st.caption("One row per run, as the fit sees it:")
    st.dataframe(shown_table(_runs_frame(runs)), hide_index=True, column_config=NUMBER_FORMATS)


# -- target and save -------------------------------------------------------------------------


def choose_target(
    store: WorkspaceStore, names: list[str], default_name: str, file_key: str
) -> tuple[str, str, str | None]:
    """(mode, dataset name, why Save is not ready or None)."""
    modes = [
        mode
        for mode in TARGET_LABELS
        if store.can(TARGET_ACTIONS[mode]) and (mode == "create" or names)
    ]
    mode = modes[0] if len(modes) == 1 else st.radio(
        "Save as",
        modes,
        format_func=TARGET_LABELS.__getitem__,
        key=f"target_{file_key}",
        horizontal=True,
    )  # fmt: skip
    if mode == "create":
        name = st.text_input("Dataset name", value=default_name, key=f"name_{file_key}")
        if not name.strip():
            return mode, name, "Give the dataset a name."
        if name.strip() in names:
            st.caption(
                f"A dataset named {plain(name.strip())} already exists: saving as new changes "
                "nothing if it holds this exact file, and is refused otherwise. Choose another "
                "name, or append to it or replace its data."
            )
        return mode, name, None
    index = names.index(default_name) if default_name in names else 0
    name = st.selectbox("Dataset", names, index=index, key=f"target_dataset_{file_key}")
    if mode == "replace":
        confirmed = st.checkbox(
            f"Yes, replace every row of {name} with this file's",
            key=f"replace_confirm_{file_key}",
            value=False,
        )
        if not confirmed:
            return mode, name, "Confirm the replacement to save."
    return mode, name, None


def save(
    store: WorkspaceStore,
    mode: str,
    name: str,
    parsed: ParsedTable,
    data: bytes,
    reduction: str,
) -> None:
    """Store the upload; report the outcome instead of raising; remember the mapping."""
    try:
        info = store.add_dataset(name, parsed, data, reduction, mode=mode)
    except StoreError as exc:
        st.error(plain(str(exc)))
        return
    st.session_state["dataset"] = info.name
    shown = plain(info.name)
    if not info.created:
        st.success(f"Dataset {shown} already holds this exact file; nothing changed.")
    elif mode == "append":
        st.success(
            f"Appended {count_phrase(parsed.n_rows, 'row')} from {plain(parsed.filename)} to "
            f"{shown}: now {count_phrase(info.n_runs, 'run')}, "
            f"{count_phrase(info.n_rows, 'row')} from {count_phrase(info.n_sources, 'file')}."
        )
    elif mode == "replace":
        st.success(
            f"Replaced the data of {shown} with {plain(parsed.filename)}: now "
            f"{count_phrase(info.n_runs, 'run')}, {count_phrase(info.n_rows, 'row')}."
        )
    else:
        st.success(
            f"Saved dataset {shown} (created): {count_phrase(info.n_runs, 'run')}, "
            f"{count_phrase(info.n_rows, 'row')}."
        )
    if store.can("upload"):
        try:
            store.save_mapping(parsed.headers, parsed.mapping, parsed.units)
        except StoreError as exc:  # the data is saved; only the convenience is lost
            st.caption(f"The column mapping was not remembered: {plain(str(exc))}")


# -- upload section --------------------------------------------------------------------------


def upload_section(store: WorkspaceStore, datasets: list[DatasetInfo]) -> None:
    """Upload → size check → read → mapping and units → validation → reduction → save."""
    st.subheader("Upload")
    limit = upload_limit_mb()
    uploaded = st.file_uploader(
        "Upload a run log or a tracker export",
        type=UPLOAD_TYPES,
        key="upload",
        help="One row per run, or one row per evaluation step with a run column. Needs a "
        "parameter count, a loss, and training tokens or FLOPs; sizes like 70M or 1.4B work.",
    )
    st.caption(
        f"Accepted: {ACCEPTED_FORMATS}. Limit {limit:g} MB per file (server.maxUploadSize): "
        "the browser refuses a larger file before it is sent; bigger logs go through the CLI "
        "(`python -m scaling_core ingest`) or as Parquet, several times smaller."
    )
    if uploaded is None:
        return
    filename = upload_name(uploaded.name)
    data = uploaded.getvalue()
    too_big = check_size(filename, len(data), limit)
    if too_big is not None:
        show_errors(too_big)
        return
    digest = hashlib.sha256(data).hexdigest()
    raw = _read(filename, digest, data)
    if isinstance(raw, IngestErrors):
        show_errors(raw)
        return
    file_key = digest[:12]
    st.caption(describe(raw))
    preset, preset_units, saved = mapping_preset(store, raw)
    if saved:
        st.caption("Using the mapping saved for these columns in this workspace.")
    mapping, units = edit_mapping(raw, file_key, preset, preset_units)
    result = _validate(
        filename, digest, tuple(sorted(mapping.items())), tuple(sorted(units.items())), raw
    )
    if isinstance(result, IngestErrors):
        show_errors(result)
        with st.expander(f"The file as read (first {PREVIEW_ROWS} records)"):
            st.dataframe(pd.DataFrame(raw.preview(PREVIEW_ROWS)), hide_index=True)
        st.button("Save dataset", type="primary", disabled=True, key="save")
        return
    parsed = result
    accepted = accept_warnings(parsed, file_key)
    st.caption(
        f"{count_phrase(parsed.n_rows, 'row')}, {count_phrase(parsed.n_runs, 'run')}; first "
        f"{PREVIEW_ROWS} rows in canonical units (params and tokens as counts, flops in FLOPs, "
        "losses in nats)."
    )
    st.dataframe(
        shown_table(parsed.points.head(PREVIEW_ROWS)),
        hide_index=True,
        column_config=NUMBER_FORMATS,
    )
    reduction, at_step = choose_reduction(parsed, file_key)
    if parsed.has_step_logs:
        preview_runs(parsed, reduction, at_step)

    names = [d.name for d in datasets]
    default_name = PurePosixPath(filename).stem or filename
    mode, name, not_ready = choose_target(store, names, default_name, file_key)
    if not_ready is None and not accepted:
        not_ready = "Accept the warnings above to save."
    clicked = st.button("Save dataset", type="primary", disabled=not_ready is not None, key="save")
    if not_ready is not None:
        st.caption(not_ready)
    if clicked and not_ready is None:
        save(store, mode, name, parsed, data, "final" if reduction == "at_step" else reduction)


# -- stored datasets -------------------------------------------------------------------------


def _delete(store: WorkspaceStore) -> None:
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


def _rename(store: WorkspaceStore) -> None:
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
            "sources": [d.n_sources for d in datasets],
            "reduction": [d.reduction for d in datasets],
            "added (UTC)": [d.created_at for d in datasets],
        }
    )


def runs_view(store: WorkspaceStore, datasets: list[DatasetInfo]) -> None:
    """One dataset's runs reduced in the store: final, best, or at a chosen step."""
    with st.expander("Runs of a dataset (final, best or at a step)"):
        names = [d.name for d in datasets]
        name = st.selectbox("Dataset", names, key="runs_target")
        total = datasets[names.index(name)].n_runs
        reduction = st.radio(
            "Reduce each run to",
            REDUCTION_OPTIONS,
            format_func=REDUCTION_LABELS.__getitem__,
            key="runs_reduction",
            horizontal=True,
        )
        at_step = None
        if reduction == "at_step":
            at_step = st.number_input(
                "Step S", min_value=0.0, value=None, step=1.0, format="%g", key="runs_step",
                placeholder="a step number, e.g. 5000",
            )  # fmt: skip
            if at_step is None:
                return
        try:
            runs = store.load_runs(
                name, "final" if reduction == "at_step" else reduction, at_step=at_step
            )
        except StoreError as exc:
            st.info(plain(str(exc)))
            return
        if at_step is not None:
            st.caption(
                f"{len(runs.run):,} of {count_phrase(total, 'run')} have an evaluation at or "
                f"before step {at_step:g}."
            )
        st.dataframe(shown_table(_runs_frame(runs)), hide_index=True, column_config=NUMBER_FORMATS)


def _sources_zip(store: WorkspaceStore, name: str) -> bytes:
    """Every source file of a dataset in one zip (member names made plain and unique)."""
    buffer = io.BytesIO()
    seen: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for position, (filename, content) in enumerate(store.load_sources(name), start=1):
            member = upload_name(filename)
            if member in seen:
                member = f"{position} {member}"
            seen.add(member)
            archive.writestr(member, content)
    return buffer.getvalue()


def export_panel(store: WorkspaceStore, datasets: list[DatasetInfo]) -> None:
    """Download buttons whose bytes are produced only when clicked (deferred callables)."""
    with st.expander("Export a dataset"):
        names = [d.name for d in datasets]
        name = st.selectbox("Dataset to export", names, key="export_target")
        info = datasets[names.index(name)]
        st.caption(
            "CSV and Parquet hold the step-level rows in canonical units; text that a "
            "spreadsheet would run as a formula is prefixed with ' in the CSV. The original "
            "upload is the file(s) exactly as received."
        )
        csv_col, parquet_col, source_col = st.columns(3)
        with csv_col:
            st.download_button(
                "CSV",
                data=lambda: store.export_csv(name),
                file_name=download_name(name, ".csv"),
                mime="text/csv",
                key="export_csv",
                on_click="ignore",
                icon=":material/download:",
            )
        with parquet_col:
            st.download_button(
                "Parquet",
                data=lambda: store.export_parquet(name),
                file_name=download_name(name, ".parquet"),
                mime="application/vnd.apache.parquet",
                key="export_parquet",
                on_click="ignore",
                icon=":material/download:",
            )
        with source_col:
            if info.n_sources == 1:
                st.download_button(
                    "Original upload",
                    data=lambda: store.load_source(name)[1],
                    file_name=upload_name(info.source_filename),
                    mime="application/octet-stream",
                    key="export_source",
                    on_click="ignore",
                    icon=":material/download:",
                )
            else:
                st.download_button(
                    f"Original uploads ({info.n_sources} files, zip)",
                    data=lambda: _sources_zip(store, name),
                    file_name=download_name(name, " sources.zip"),
                    mime="application/zip",
                    key="export_source",
                    on_click="ignore",
                    icon=":material/download:",
                )


def datasets_section(store: WorkspaceStore, datasets: list[DatasetInfo]) -> None:
    """List stored datasets; runs at a step; export, rename and delete (with confirmation),
    each drawn only when the session may use it."""
    st.subheader("Stored datasets")
    flash = st.session_state.pop("data_flash", None)
    if flash is not None:
        kind, message = flash
        (st.success if kind == "success" else st.error)(plain(message))
    if not datasets:
        st.info("No datasets stored yet.")
        return
    st.dataframe(datasets_table(datasets), hide_index=True)
    names = [d.name for d in datasets]
    runs_view(store, datasets)
    if store.can("export"):
        export_panel(store, datasets)
    if store.can("rename"):
        with st.expander("Rename a dataset"):
            st.selectbox("Dataset to rename", names, key="rename_target")
            st.text_input("New name", key="rename_to")
            st.button("Rename", key="rename", on_click=_rename, args=(store,))
    if store.can("delete"):
        with st.expander("Delete a dataset"):
            st.selectbox("Dataset to delete", names, key="delete_target")
            confirmed = st.checkbox("Yes, delete it permanently", key="delete_confirm")
            st.button(
                "Delete dataset",
                key="delete",
                disabled=not confirmed,
                on_click=_delete,
                args=(store,),
            )


def access_caption(store: WorkspaceStore) -> None:
    """Which workspace this is and, when writes are hidden, why (the store's own sentence)."""
    role = store.role.label if store.role is not None else "no role"
    text = f"Workspace {plain(store.workspace)} · {role}"
    if not store.can("upload") and not store.can("replace"):
        text += f" · read-only: {plain(store.principal.refusal('upload', store.workspace))}"
    st.caption(text)


def main() -> None:
    """Render the page; store or parsing failures become messages, never tracebacks."""
    ensure_navigation()
    st.title("Data")
    try:
        store = get_store()
        datasets = store.list_datasets()
    except StoreError as exc:
        st.error(plain(str(exc)))
        return
    access_caption(store)
    if store.can("upload") or store.can("replace"):
        try:
            upload_section(store, datasets)
        except Exception as exc:  # never crash the page on a bad file: report and carry on
            st.error(
                "Could not read the upload (nothing was saved): "
                + plain(f"{type(exc).__name__}: {exc}")
            )
        try:
            datasets = store.list_datasets()  # a save above changed the listing
        except StoreError as exc:
            st.error(plain(str(exc)))
            return
    try:
        datasets_section(store, datasets)
    except StoreError as exc:
        st.error(plain(str(exc)))


main()
