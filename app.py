"""Scalescope: the entry point. Page config, the sign-in gate, navigation over pages/, and the
sidebar (account, workspace, dataset).

Run with ``streamlit run app.py``. On first start the store (``SCALESCOPE_STORE`` or
``data/scalescope.duckdb``) is created and the bundled datasets are loaded, so the first screen
already shows the Chinchilla fit. Without ``.streamlit/secrets.toml`` nobody signs in (one local
admin); with an ``[auth]`` section visitors sign in first (``.streamlit/secrets.toml.example``).
"""

from __future__ import annotations

import streamlit as st

from pages._auth import (
    account_sidebar,
    gate_screen,
    no_workspace_screen,
    plain,
    session_access,
)
from pages._ui import (
    DATASET_SCOPED_KEYS,
    DATASET_SCOPED_QUERY,
    WORKSPACE_QUERY,
    available_workspaces,
    choose_workspace,
    current_dataset,
    set_query,
    switch_workspace,
)
from scaling_core.store import StoreError

st.set_page_config(page_title="Scalescope", page_icon=":material/monitoring:", layout="wide")

PAGES = [
    st.Page(
        "pages/fit.py", title="Fit", icon=":material/monitoring:", default=True, url_path="fit"
    ),
    st.Page("pages/planner.py", title="Planner", icon=":material/calculate:", url_path="planner"),
    st.Page("pages/regimes.py", title="Regimes", icon=":material/insights:", url_path="regimes"),
    st.Page(
        "pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"
    ),
    st.Page("pages/data.py", title="Data", icon=":material/database:", url_path="data"),
    st.Page("pages/present.py", title="Present", icon=":material/slideshow:", url_path="present"),
]


def dataset_picker() -> None:
    """Sidebar selectbox over stored datasets; the choice lives in the session and the URL."""
    from pages._ui import get_store

    try:
        names = [d.name for d in get_store().list_datasets()]
    except Exception as err:  # the store can be locked by another process: say so, don't crash
        st.sidebar.error(f"The run store cannot be opened: {err}")
        return
    if not names:
        st.sidebar.info("No datasets yet: upload one on the Data page.")
        return
    chosen = current_dataset()
    # The Data page may have picked a new dataset: the widget follows the session's choice.
    st.session_state["dataset_picker"] = chosen.name if chosen is not None else names[0]

    def follow_picker() -> None:
        st.session_state["dataset"] = st.session_state["dataset_picker"]
        # Settings that belong to the previous dataset (its run-exclusion default) go back to
        # the new dataset's defaults.
        for key in DATASET_SCOPED_KEYS:
            st.session_state.pop(key, None)
        for key in DATASET_SCOPED_QUERY:
            st.query_params.pop(key, None)

    picked = st.sidebar.selectbox("Dataset", names, key="dataset_picker", on_change=follow_picker)
    st.session_state["dataset"] = picked
    set_query(dataset=picked)


def account_and_workspace() -> bool:
    """Sidebar account block and workspace picker; False when the session has no workspace
    (a screen says why and the script stops)."""
    access = session_access()
    linked = st.query_params.get(WORKSPACE_QUERY)  # a shared link names its workspace
    try:
        workspaces = available_workspaces(access)
    except StoreError as err:  # locked or unreachable store: the pages say so too
        st.sidebar.error(f"The run store cannot be opened: {err}")
        return True
    current = choose_workspace(workspaces)
    if current is None:
        no_workspace_screen(access.principal)
        return False
    if linked and linked != current:
        st.sidebar.warning(
            f"You have no access to workspace {plain(linked)}; showing {plain(current)}."
        )
    account_sidebar(access, workspaces, current, on_workspace_change=switch_workspace)
    return True


access = session_access()
# Navigation is declared even for a visitor who may not enter, hidden: until st.navigation runs,
# Streamlit would list the pages/ folder in the sidebar and run a page without this gate.
navigation = st.navigation(PAGES, position="sidebar" if access.may_enter else "hidden")
if not access.may_enter:
    gate_screen(access)
    st.stop()
st.sidebar.title("Scalescope")
st.sidebar.caption("Explore neural scaling laws: fits with honest intervals, compute planning.")
if not account_and_workspace():
    st.stop()
dataset_picker()
navigation.run()
