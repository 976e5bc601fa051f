"""Who is using this session: secrets, sign-in (Streamlit's OIDC ``st.login``), viewer mode.

The rules live in :mod:`scaling_core.access`; this module only reads Streamlit's inputs
(``st.secrets``, ``st.user``, the URL, one environment variable) and draws the sign-in screen
and the sidebar's account block. Enforcement is not here: ``pages._ui.get_store()`` wraps the
store in a :class:`~scaling_core.workspace_store.WorkspaceStore` for the principal resolved
below, so a page that forgot to hide a button still cannot write.

Local default: no ``.streamlit/secrets.toml`` → no sign-in, one local admin.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit import config
from streamlit.errors import StreamlitSecretNotFoundError

from pages._text import plain
from scaling_core.access import (
    AccessConfigError,
    AccessPolicy,
    Principal,
    policy_from_secrets,
    resolve_principal,
)

VIEWER_ENV_VAR = "SCALESCOPE_VIEWER"
"""Set to 1/true/yes/on to make every session of this server read-only (a kiosk or a talk)."""
VIEW_QUERY_KEY, VIEW_QUERY_VALUE = "mode", "view"
"""``?mode=view`` opens a read-only session; a presenter shares this link with an audience."""
VIEWER_MODE_KEY = "viewer_mode"
"""Session-state key of the sidebar's viewer-mode toggle."""
_TRUE_WORDS = {"1", "true", "yes", "on"}


# -- inputs ---------------------------------------------------------------------------------------


def read_secrets() -> dict[str, Any]:
    """``st.secrets`` as a plain dict; ``{}`` when there is no secrets file (the local default).

    A secrets file that exists but cannot be parsed is an error, not "no secrets": treating it
    as absent would switch a hosted deployment with a typo to local mode (everyone an admin).
    """
    try:
        return st.secrets.to_dict()
    except StreamlitSecretNotFoundError as err:
        # The same lookup Streamlit's secrets loader makes (``streamlit.config``, not the
        # ``st.get_option`` alias, so a patched configuration is seen by both).
        present = [p for p in config.get_option("secrets.files") if Path(p).exists()]
        if present:
            raise AccessConfigError(f"{present[0]} cannot be read: {err}") from None
        return {}


def read_user() -> dict[str, Any]:
    """What ``st.user`` holds for this session (``is_logged_in`` plus the identity claims).

    The only place that reads ``st.user``, so tests can substitute it.
    """
    return dict(st.user.to_dict())


def viewer_mode_requested() -> bool:
    """Viewer mode from the environment, the URL (``?mode=view``) or the sidebar toggle.

    Any one of them is enough: viewer mode can only lower rights, so no source needs to be
    trusted.
    """
    forced = os.environ.get(VIEWER_ENV_VAR, "").strip().lower() in _TRUE_WORDS
    in_url = st.query_params.get(VIEW_QUERY_KEY) == VIEW_QUERY_VALUE
    return forced or in_url or bool(st.session_state.get(VIEWER_MODE_KEY, False))


def viewer_mode_forced() -> bool:
    """True when the server (``SCALESCOPE_VIEWER``) makes every session read-only."""
    return os.environ.get(VIEWER_ENV_VAR, "").strip().lower() in _TRUE_WORDS


@dataclass(frozen=True)
class SessionAccess:
    """The outcome of reading this session's inputs."""

    principal: Principal
    policy: AccessPolicy | None
    """None: no authentication configured (local mode)."""
    auth: Mapping[str, Any]
    """The ``[auth]`` section (empty in local mode): which sign-in buttons to offer."""
    config_error: str | None = None
    """Why the access configuration is unusable; nothing is accessible until it is fixed."""

    @property
    def may_enter(self) -> bool:
        """Whether pages may run at all (they still see only what the principal may see)."""
        return self.config_error is None and not self.principal.sign_in_required


NOBODY = Principal(identity="nobody (the access configuration is broken)", authenticated=False)


def session_access() -> SessionAccess:
    """This session's principal under the configured policy (never raises)."""
    try:
        secrets = read_secrets()
        policy = policy_from_secrets(secrets)
    except AccessConfigError as err:
        return SessionAccess(NOBODY, None, {}, config_error=str(err))
    user = read_user() if policy is not None else None
    principal = resolve_principal(user, policy, viewer_mode=viewer_mode_requested())
    auth = secrets.get("auth") if isinstance(secrets.get("auth"), Mapping) else {}
    return SessionAccess(principal, policy, auth)


def current_principal() -> Principal:
    """The principal ``get_store()`` enforces; a broken configuration grants nothing."""
    return session_access().principal


def sign_in_providers(auth: Mapping[str, Any]) -> list[str | None]:
    """The providers ``st.login`` can use: None for the unnamed one (``client_id`` directly in
    ``[auth]``), then each named ``[auth.<provider>]`` section."""
    named = [k for k, v in auth.items() if isinstance(v, Mapping) and k != "client_kwargs"]
    return ([None] if "client_id" in auth else []) + sorted(named)


# -- screens --------------------------------------------------------------------------------------


def gate_screen(access: SessionAccess) -> None:
    """What a session that may not enter sees instead of the pages: the configuration error or
    the sign-in buttons. The caller stops the script after it."""
    st.title("Scalescope")
    if access.config_error is not None:
        st.error(
            "Access to this deployment is closed until its configuration is fixed: "
            + plain(access.config_error)
        )
        return
    st.subheader("Sign in")
    st.write(
        "This Scalescope deployment is private: sign in to see the datasets of your workspaces."
    )
    providers = sign_in_providers(access.auth)
    for provider in providers or [None]:
        label = "Sign in" if provider is None else f"Sign in with {plain(provider)}"
        st.button(
            label,
            type="primary",
            key=f"sign_in_{provider or 'default'}",
            on_click=st.login,
            args=(provider,),
        )


def no_workspace_screen(principal: Principal) -> None:
    """A signed-in user whom the policy gives no workspace: say so and how to get one."""
    st.title("Scalescope")
    st.warning(
        f"You are signed in as {plain(principal.identity)}, but you have no role in any "
        "workspace of this deployment. Ask an admin to add your address to a workspace in the "
        "`[scalescope.workspaces]` section of `.streamlit/secrets.toml`.",
        icon=":material/lock:",
    )
    if principal.authenticated:
        st.button("Sign out", key="sign_out_no_access", on_click=st.logout)


# Buttons act in ``on_click`` callbacks, which run before the script: a click is never lost to a
# rerun that happens between the button and the code after it.


def account_sidebar(
    access: SessionAccess,
    workspaces: list[str],
    current: str,
    on_workspace_change: Callable[[str], None],
) -> None:
    """Sidebar block: who is signed in and their role here, the workspace picker (only the
    workspaces this principal may open), the viewer-mode toggle, sign in/out."""
    principal = access.principal
    bar = st.sidebar
    if access.policy is not None:
        role = principal.role_in(current)
        role_text = role.label if role is not None else "no role"
        if principal.authenticated:
            bar.caption(f"Signed in as **{plain(principal.identity)}** · {role_text}")
        else:
            bar.caption(f"Not signed in · {role_text}")
    if len(workspaces) > 1:
        st.session_state["workspace_picker"] = current

        def follow() -> None:
            on_workspace_change(st.session_state["workspace_picker"])

        bar.selectbox("Workspace", workspaces, key="workspace_picker", on_change=follow)
    viewer_toggle()
    if access.policy is not None:
        if principal.authenticated:
            bar.button("Sign out", key="sign_out", on_click=st.logout)
        elif access.auth:
            provider = (sign_in_providers(access.auth) or [None])[0]
            bar.button("Sign in", key="sign_in_sidebar", on_click=st.login, args=(provider,))


def viewer_toggle() -> None:
    """The read-only switch; it follows ``?mode=view`` and writes it back so links share it."""
    forced = viewer_mode_forced()
    in_url = st.query_params.get(VIEW_QUERY_KEY) == VIEW_QUERY_VALUE
    st.session_state[VIEWER_MODE_KEY] = bool(
        forced or in_url or st.session_state.get(VIEWER_MODE_KEY, False)
    )

    def follow() -> None:
        if st.session_state[VIEWER_MODE_KEY]:
            st.query_params[VIEW_QUERY_KEY] = VIEW_QUERY_VALUE
        else:
            st.query_params.pop(VIEW_QUERY_KEY, None)

    st.sidebar.toggle(
        "Viewer mode (read-only)",
        key=VIEWER_MODE_KEY,
        on_change=follow,
        disabled=forced,
        help="Hides and refuses uploads, renames and deletions in this session; share the link "
        "with ?mode=view for an audience."
        + (" The server enforces it for every session." if forced else ""),
    )
    if st.session_state[VIEWER_MODE_KEY] and not in_url:
        st.query_params[VIEW_QUERY_KEY] = VIEW_QUERY_VALUE
