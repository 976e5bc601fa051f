"""Shared Streamlit helpers for the pages (minimal version: the store accessor)."""

from __future__ import annotations

import streamlit as st

from scaling_core.store import Store, default_store_location, ensure_default_datasets


@st.cache_resource(show_spinner=False)
def _open_store(location: str) -> Store:
    """One Store per location per server process; the bundled samples fill an empty store."""
    store = Store.open(location)
    ensure_default_datasets(store)
    return store


def get_store() -> Store:
    """The process-wide store at the configured location (``SCALESCOPE_STORE``)."""
    return _open_store(default_store_location())
