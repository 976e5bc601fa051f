"""AppTest tests of sign-in, workspaces and viewer mode across the app.

``at.secrets`` configures authentication for a run and ``at.user`` is what ``st.user`` holds,
so a hosted deployment is simulated without an identity provider. Refusals are checked twice:
the page should not offer the action, and forcing the action (a widget callback or a direct
``get_store()`` call) must be refused by the server with the store unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from scaling_core.ingest import ParsedTable, parse_table
from scaling_core.store import STORE_ENV_VAR, Store, ensure_default_datasets

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")
DATA_PAGE = str(REPO / "pages" / "data.py")
CHINCHILLA = "Chinchilla (Epoch AI reconstruction)"
SYNTHETIC = "Synthetic example runs"
RESEARCH_ONLY = "research runs"
GOOD = b"run,params,tokens,loss\na,70M,1.4B,3.1\nb,1.4e8,2.8e9,2.9\nc,2.8e8,5.6e9,2.7\n"
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret-test-cookie-secret",
    "client_id": "client",
    "client_secret": "secret",
    "server_metadata_url": "https://accounts.example.org/.well-known/openid-configuration",
}
POLICY = {
    "default_role": "none",
    "workspaces": {
        "default": {
            "admins": ["admin@lab.org"],
            "editors": ["editor@lab.org"],
            "viewers": ["viewer@x.com"],
        },
        "research": {"admins": ["admin@lab.org"], "viewers": ["viewer@x.com"]},
        "secret": {"admins": ["admin@lab.org"]},
    },
}
SIGNED_OUT = {"is_logged_in": False}


def signed_in(email: str) -> dict[str, Any]:
    return {"is_logged_in": True, "email": email, "email_verified": True}


@pytest.fixture(scope="module", autouse=True)
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh store file: the bundled datasets (default workspace) and one research dataset."""
    path = tmp_path_factory.mktemp("auth") / "auth.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(REPO))
        mp.setenv(STORE_ENV_VAR, str(path))
        mp.delenv("SCALESCOPE_VIEWER", raising=False)
        seeded = Store.open(str(path))
        try:
            ensure_default_datasets(seeded)
            parsed = parse_table("research.csv", GOOD)
            assert isinstance(parsed, ParsedTable), parsed
            seeded.add_dataset(RESEARCH_ONLY, parsed, GOOD, workspace="research")
        finally:
            seeded.close()
        st.cache_resource.clear()
        st.cache_data.clear()
        yield path
        st.cache_resource.clear()
        st.cache_data.clear()


def datasets(path: Path, workspace: str = "default") -> list[str]:
    store = Store.open(str(path))
    try:
        return [d.name for d in store.list_datasets(workspace=workspace)]
    finally:
        store.close()


def app(
    script: str = APP,
    *,
    user: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    **query: str,
) -> AppTest:
    """The app (or one page) with optional auth secrets, st.user and URL query parameters."""
    at = AppTest.from_file(script, default_timeout=120)
    for key, value in (secrets or {}).items():
        at.secrets[key] = value
    if user is not None:
        at.user = user
    for key, value in {"boot": "0", **query}.items():  # no bootstrap: these tests are not fits
        at.query_params[key] = value
    return at


def hosted(user: dict[str, Any], script: str = APP, **query: str) -> AppTest:
    return app(script, user=user, secrets={"auth": AUTH, "scalescope": POLICY}, **query)


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shows_no_data(at: AppTest) -> None:
    assert not at.dataframe
    assert not at.latex
    assert not at.get("plotly_chart")
    assert not at.metric
    assert not [s for s in at.selectbox if s.key == "dataset_picker"]


def texts(elements: Any) -> str:
    return "\n".join(str(e.value) for e in elements)


# -- signed out -------------------------------------------------------------------------------


@pytest.mark.parametrize("user", [SIGNED_OUT, {}, {"email": "admin@lab.org"}])
def test_not_signed_in_sees_the_sign_in_screen_and_no_data(user: dict[str, Any]) -> None:
    at = run(hosted(user))
    assert at.title[0].value == "Scalescope"
    assert at.subheader[0].value == "Sign in"
    assert at.button(key="sign_in_default").label == "Sign in"
    shows_no_data(at)
    # a deep link to another page lands on the same screen: the page never runs
    at.switch_page("pages/data.py")
    run(at)
    assert at.button(key="sign_in_default")
    shows_no_data(at)
    assert not at.file_uploader


def test_named_providers_get_one_button_each() -> None:
    auth = {
        "redirect_uri": AUTH["redirect_uri"],
        "cookie_secret": AUTH["cookie_secret"],
        "google": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")},
        "microsoft": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")},
    }
    at = run(app(user=SIGNED_OUT, secrets={"auth": auth, "scalescope": POLICY}))
    assert [b.label for b in at.button] == ["Sign in with google", "Sign in with microsoft"]


def test_a_page_run_on_its_own_is_refused_by_the_store_not_just_hidden(store: Path) -> None:
    at = run(hosted(SIGNED_OUT, DATA_PAGE))
    assert not at.dataframe
    assert "sign in first" in texts(at.error)
    before = datasets(store)
    forced = run(_forced_delete(SIGNED_OUT))
    assert "sign in first" in texts(forced.error)
    assert not forced.success
    assert datasets(store) == before


def test_a_broken_configuration_closes_the_app() -> None:
    at = run(app(user=signed_in("admin@lab.org"), secrets={"scalescope": POLICY}))
    assert "closed until its configuration is fixed" in at.error[0].value
    assert "[auth] is not configured" in at.error[0].value.replace("\\", "")
    shows_no_data(at)


# -- signed in --------------------------------------------------------------------------------


def test_a_signed_in_viewer_sees_their_workspaces_and_cannot_write(store: Path) -> None:
    at = run(hosted(signed_in("viewer@x.com")))
    assert at.title[0].value == "Scaling-law fit"
    assert "Signed in as **viewer@x\\.com** · viewer" in texts(at.sidebar.caption)
    picker = at.selectbox(key="workspace_picker")
    assert picker.options == ["default", "research"]  # not "secret"
    assert at.button(key="sign_out")

    at.switch_page("pages/data.py")
    run(at)
    before = datasets(store)
    assert not at.file_uploader  # the page offers a viewer no writes at all
    assert not [w for w in [*at.button, *at.selectbox] if w.key in ("delete", "delete_target")]
    forced = run(_forced_delete(signed_in("viewer@x.com")))  # and the store refuses a forged one
    assert "viewer@x.com is a viewer of workspace 'default' and may not delete datasets" in (
        texts(forced.error).replace("\\", "")
    )
    assert datasets(store) == before


def test_the_workspace_picker_switches_datasets(store: Path) -> None:
    at = run(hosted(signed_in("viewer@x.com")))
    assert at.selectbox(key="dataset_picker").value == CHINCHILLA
    at.selectbox(key="workspace_picker").select("research")
    run(at)
    assert at.query_params["ws"] == "research"
    assert at.selectbox(key="dataset_picker").options == [RESEARCH_ONLY]
    assert at.session_state["dataset"] == RESEARCH_ONLY
    # a shared link opens the same workspace
    linked = run(hosted(signed_in("viewer@x.com"), ws="research"))
    assert linked.selectbox(key="dataset_picker").options == [RESEARCH_ONLY]


def test_a_link_to_a_forbidden_workspace_falls_back_and_says_so() -> None:
    at = run(hosted(signed_in("viewer@x.com"), ws="secret"))
    assert "no access to workspace secret" in texts(at.sidebar.warning)
    assert at.selectbox(key="workspace_picker").value == "default"
    assert RESEARCH_ONLY not in at.selectbox(key="dataset_picker").options


def test_a_signed_in_user_without_any_workspace_is_told_how_to_get_one() -> None:
    at = run(hosted(signed_in("stranger@gmail.com")))
    assert "no role in any workspace" in at.warning[0].value
    assert at.button(key="sign_out_no_access")
    shows_no_data(at)


def test_sign_out_returns_to_the_sign_in_screen() -> None:
    at = run(hosted(signed_in("viewer@x.com")))
    at.button(key="sign_out").click()
    run(at)
    run(at)
    assert at.button(key="sign_in_default")
    shows_no_data(at)


def test_an_admin_may_delete(store: Path) -> None:
    at = run(hosted(signed_in("admin@lab.org"), DATA_PAGE))
    assert len(at.dataframe[0].value) == len(datasets(store))
    _force_delete_widgets(at, "Synthetic architectures")
    assert "Deleted dataset" in texts(at.success)
    assert "Synthetic architectures" not in datasets(store)


# -- viewer mode ------------------------------------------------------------------------------


def test_local_default_needs_no_sign_in_and_offers_viewer_mode() -> None:
    at = run(app())
    assert at.title[0].value == "Scaling-law fit"
    keys = {b.key for b in at.button}
    assert not keys & {"sign_in_default", "sign_in_sidebar", "sign_out"}  # no authentication
    assert not [c for c in at.sidebar.caption if "Signed in" in c.value]
    assert at.toggle(key="viewer_mode").value is False
    assert at.selectbox(key="dataset_picker").value == CHINCHILLA

    at.toggle(key="viewer_mode").set_value(True)
    run(at)
    assert at.query_params["mode"] == "view"
    at.toggle(key="viewer_mode").set_value(False)
    run(at)
    assert "mode" not in at.query_params


def test_viewer_mode_link_refuses_a_forced_delete_and_upload(store: Path) -> None:
    at = run(app(DATA_PAGE, mode="view"))
    before = datasets(store)
    if [b for b in at.button if b.key == "delete"]:  # the page still offers it: force it
        _force_delete_widgets(at, SYNTHETIC)
        assert "viewer mode is on" in texts(at.error)
    if at.file_uploader:
        at.file_uploader(key="upload").set_value(("x.csv", GOOD, "text/csv"))
        run(at)
        save = [b for b in at.button if b.key == "save"]
        if save:
            save[0].click()
            run(at)
            assert "may not upload datasets" in texts(at.error).replace("\\", "")
    forced = run(_forced_delete(None, mode="view"))
    assert "viewer mode is on" in texts(forced.error)
    assert datasets(store) == before


def test_viewer_mode_data_page_offers_no_upload_rename_or_delete() -> None:
    at = run(app(DATA_PAGE, mode="view"))
    assert at.dataframe  # still lists the datasets
    assert not at.file_uploader
    assert not [b for b in at.button if b.key in ("delete", "rename", "save")]


def test_server_wide_viewer_mode_cannot_be_switched_off(
    monkeypatch: pytest.MonkeyPatch, store: Path
) -> None:
    monkeypatch.setenv("SCALESCOPE_VIEWER", "1")
    at = run(app())
    toggle = at.toggle(key="viewer_mode")
    assert toggle.value is True and toggle.disabled
    before = datasets(store)
    forced = run(_forced_delete(None))
    assert "viewer mode is on" in texts(forced.error)
    assert datasets(store) == before


# -- helpers that force the write path ------------------------------------------------------


def _force_delete_widgets(at: AppTest, target: str) -> None:
    """Drive the Data page's delete controls as far as they go (selection, confirmation,
    click): what a user or a forged request would do."""
    at.selectbox(key="delete_target").select(target)
    run(at)
    at.checkbox(key="delete_confirm").check()
    run(at)
    at.button(key="delete").click()
    run(at)


def _delete_script() -> None:
    """Runs as an app script: call the store directly, as a forged request would."""
    import streamlit as st

    from pages._ui import get_store
    from scaling_core.store import StoreError

    try:
        get_store().delete_dataset("Synthetic example runs")
    except StoreError as err:
        st.error(str(err))
    else:
        st.success("deleted")


def _forced_delete(user: dict[str, Any] | None, **query: str) -> AppTest:
    at = AppTest.from_function(_delete_script, default_timeout=60)
    if user is not None:
        at.user = user
        at.secrets["auth"] = AUTH
        at.secrets["scalescope"] = POLICY
    for key, value in query.items():
        at.query_params[key] = value
    return at


# -- reading the secrets ----------------------------------------------------------------------


def test_an_unreadable_secrets_file_closes_access_instead_of_opening_local_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.runtime.secrets import Secrets
    from streamlit.testing.v1.util import patch_config_options

    from pages._auth import read_secrets
    from scaling_core.access import AccessConfigError

    broken = tmp_path / "secrets.toml"
    broken.write_text('[auth\nredirect_uri = "x"\n', encoding="utf-8")
    monkeypatch.setattr(st, "secrets", Secrets())
    with (
        patch_config_options({"secrets.files": [str(broken)]}),
        pytest.raises(AccessConfigError, match=r"secrets\.toml cannot be read"),
    ):
        read_secrets()
    monkeypatch.setattr(st, "secrets", Secrets())
    with patch_config_options({"secrets.files": [str(tmp_path / "absent.toml")]}):
        assert read_secrets() == {}  # no file at all: the local default
