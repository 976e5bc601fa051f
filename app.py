"""Scalescope: the entry point. Page config, navigation over pages/, and the dataset picker.

Run with ``streamlit run app.py``. On first start the store (``SCALESCOPE_STORE`` or
``data/scalescope.duckdb``) is created and the bundled datasets are loaded, so the first screen
already shows the Chinchilla fit.
"""

from __future__ import annotations

import streamlit as st

from pages._ui import (
    DATASET_SCOPED_KEYS,
    DATASET_SCOPED_QUERY,
    current_dataset,
    set_query,
)

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


st.sidebar.title("Scalescope")
st.sidebar.caption("Explore neural scaling laws: fits with honest intervals, compute planning.")
navigation = st.navigation(PAGES)
dataset_picker()
navigation.run()
