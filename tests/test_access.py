"""Roles, the permission table, the access policy and how a session's principal is resolved."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling_core.access import (
    LOCAL_IDENTITY,
    MAX_WORKSPACE_NAME_LENGTH,
    MIN_ROLE,
    AccessConfigError,
    AccessPolicy,
    Action,
    Principal,
    Role,
    check_workspace_name,
    policy_from_secrets,
    resolve_principal,
)

AUTH = {
    "redirect_uri": "https://scalescope.example.org/oauth2callback",
    "cookie_secret": "a long random string",
    "client_id": "id",
    "client_secret": "secret",
    "server_metadata_url": "https://accounts.example.org/.well-known/openid-configuration",
}
TEAM = {
    "default_role": "viewer",
    "admins": ["boss@lab.org"],
    "workspaces": {
        "research": {
            "admins": ["ada@lab.org"],
            "editors": ["*@lab.org"],
            "viewers": ["guest@partner.com"],
        },
        "secret": {"editors": ["ada@lab.org"], "default_role": "none"},
    },
}


def signed_in(email: str, **claims: Any) -> dict[str, Any]:
    return {"is_logged_in": True, "email": email, **claims}


def principal(email: str | None, config: dict[str, Any] = TEAM, viewer: bool = False) -> Principal:
    user = signed_in(email) if email is not None else {"is_logged_in": False}
    return resolve_principal(user, AccessPolicy.from_mapping(config), viewer_mode=viewer)


# -- permission table -----------------------------------------------------------------------------

PERMITTED = {
    Role.VIEWER: {Action.VIEW, Action.EXPORT},
    Role.EDITOR: {Action.VIEW, Action.EXPORT, Action.UPLOAD, Action.REPLACE, Action.RENAME},
    Role.ADMIN: set(Action),
}


@pytest.mark.parametrize("role", list(Role))
def test_permission_table(role: Role) -> None:
    who = Principal("x@lab.org", authenticated=True, other_role=role)
    assert {a for a in Action if who.can(a, "ws")} == PERMITTED[role]


def test_every_action_has_a_minimum_role_and_higher_roles_include_lower_ones() -> None:
    assert set(MIN_ROLE) == set(Action)
    assert PERMITTED[Role.VIEWER] < PERMITTED[Role.EDITOR] < PERMITTED[Role.ADMIN]
    assert Role.VIEWER < Role.EDITOR < Role.ADMIN


def test_no_role_allows_nothing() -> None:
    nobody = Principal("x@lab.org", authenticated=True)
    assert not any(nobody.can(a, "ws") for a in Action)
    assert nobody.workspaces(["default", "ws"]) == []


# -- policy parsing -------------------------------------------------------------------------------


def test_default_policy_requires_login_and_grants_nothing() -> None:
    policy = AccessPolicy.from_mapping(None)
    assert policy.require_login
    assert policy.default_role is None
    stranger = resolve_principal(signed_in("x@gmail.com"), policy, viewer_mode=False)
    assert stranger.authenticated
    assert stranger.workspaces(["default"]) == []


def test_full_policy_is_parsed() -> None:
    policy = AccessPolicy.from_mapping(TEAM)
    assert policy.default_role is Role.VIEWER
    assert [w.name for w in policy.workspaces] == ["research", "secret"]
    assert policy.workspace_names == ("research", "secret")
    research = policy.workspace("research")
    assert research is not None
    assert [(r.pattern, r.role) for r in research.members] == [
        ("guest@partner.com", Role.VIEWER),
        ("*@lab.org", Role.EDITOR),
        ("ada@lab.org", Role.ADMIN),
    ]
    assert policy.workspace("nope") is None


@pytest.mark.parametrize(
    ("config", "phrase"),
    [
        ({"admin": ["a@b.org"]}, "[scalescope]: unknown key 'admin'"),
        ({"require_login": "yes"}, "require_login must be true or false; got 'yes'"),
        ({"default_role": "owner"}, "default_role must be one of 'viewer', 'editor', 'admin'"),
        ({"admins": "a@b.org"}, "[scalescope] admins must be a list of e-mail addresses"),
        ({"admins": ["*"]}, "'*' would make anybody who can sign in an admin"),
        ({"admins": [42]}, "not int 42"),
        ({"workspaces": {"r": {"editors": ["not an address"]}}}, "'not an address' is neither"),
        ({"workspaces": {"r": {"editors": ["*@*.org"]}}}, "'*@*.org' is neither"),
        ({"workspaces": {"r": {"editors": ["@lab.org"]}}}, "'@lab.org' is neither"),
        ({"workspaces": {"r": {"editor": ["a@b.org"]}}}, "[scalescope.workspaces.r]: unknown key"),
        ({"workspaces": {"r": {"default_role": "root"}}}, "[scalescope.workspaces.r] default_role"),
        ({"workspaces": {"r": ["a@b.org"]}}, "[scalescope.workspaces.r] must be a table"),
        ({"workspaces": {"bad\nname": {}}}, "control characters"),
        ({"workspaces": {"x" * 65: {}}}, f"at most {MAX_WORKSPACE_NAME_LENGTH} characters"),
        ({"workspaces": {"a": {}, " a ": {}}}, "workspace 'a' is listed twice"),
        ({"public_workspaces": ["default"]}, "public_workspaces has no effect while require_login"),
        ({"require_login": False, "public_workspaces": "default"}, "must be a list of workspace"),
    ],
)
def test_policy_errors_name_the_key_and_what_was_expected(config: dict, phrase: str) -> None:
    with pytest.raises(AccessConfigError) as err:
        AccessPolicy.from_mapping(config)
    assert phrase in str(err.value)


def test_policy_from_secrets_decides_the_mode() -> None:
    assert policy_from_secrets({}) is None  # local: nothing configured
    assert policy_from_secrets({"connections": {}}) is None
    assert policy_from_secrets({"auth": AUTH}) == AccessPolicy()
    assert policy_from_secrets({"auth": AUTH, "scalescope": TEAM}) == AccessPolicy.from_mapping(
        TEAM
    )
    public = {"require_login": False, "public_workspaces": ["default"]}
    assert policy_from_secrets({"scalescope": public}).public_workspaces == ("default",)


@pytest.mark.parametrize(
    ("secrets", "phrase"),
    [
        ({"scalescope": TEAM}, "requires sign-in but [auth] is not configured"),
        ({"auth": {"client_id": "x"}}, "[auth] needs redirect_uri and cookie_secret"),
        ({"auth": "on"}, "[auth] must be a table"),
    ],
)
def test_half_configured_deployments_fail_closed(secrets: dict, phrase: str) -> None:
    with pytest.raises(AccessConfigError) as err:
        policy_from_secrets(secrets)
    assert phrase in str(err.value)


def test_workspace_names() -> None:
    assert check_workspace_name("  research ") == "research"
    for bad, phrase in [
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("a\tb", "control characters"),
        ("a\u200bb", "control characters"),  # zero-width space: looks like "ab"
        ("x" * (MAX_WORKSPACE_NAME_LENGTH + 1), "at most"),
        (None, "must be text"),
    ]:
        with pytest.raises(ValueError, match=phrase):
            check_workspace_name(bad)


# -- resolving principals -------------------------------------------------------------------------


def test_local_mode_is_one_admin_of_every_workspace() -> None:
    local = resolve_principal(None, None, viewer_mode=False)
    assert local.identity == LOCAL_IDENTITY
    assert all(local.can(a, "anything") for a in Action)
    assert local.may_create_workspaces
    # st.user content is ignored when no authentication is configured
    assert resolve_principal(signed_in("x@y.org"), None, viewer_mode=False) == local


def test_not_signed_in_has_no_access_and_must_sign_in() -> None:
    for user in (None, {}, {"is_logged_in": False}, {"email": "ada@lab.org"}):
        visitor = resolve_principal(user, AccessPolicy.from_mapping(TEAM), viewer_mode=False)
        assert not visitor.authenticated
        assert visitor.sign_in_required
        assert visitor.workspaces(["default", "research", "secret"]) == []
        assert visitor.refusal(Action.VIEW, "research").endswith("sign in first")


def test_public_workspaces_are_viewable_without_signing_in() -> None:
    config = {"require_login": False, "public_workspaces": ["demo"], **TEAM}
    visitor = principal(None, config)
    assert not visitor.sign_in_required
    assert visitor.workspaces(["default", "demo", "research"]) == ["demo"]
    assert visitor.can(Action.VIEW, "demo") and not visitor.can(Action.UPLOAD, "demo")
    assert visitor.refusal(Action.UPLOAD, "demo") == (
        "a visitor who is not signed in is a viewer of workspace 'demo' and may not upload "
        "datasets; sign in first"
    )
    # signing in never lowers rights: a user without any listing still sees the demo
    private = {**config, "default_role": "none"}
    assert principal("x@gmail.com", private).workspaces(["default", "demo"]) == ["demo"]


def test_roles_from_lists_patterns_and_defaults() -> None:
    ada = principal("ada@lab.org")
    assert ada.role_in("research") is Role.ADMIN  # explicit admin beats the *@lab.org editors
    assert ada.role_in("secret") is Role.EDITOR
    assert ada.role_in("default") is Role.VIEWER  # unlisted workspace: default_role
    assert not ada.may_create_workspaces

    bob = principal("Bob@Lab.ORG")  # e-mails compare case-insensitively
    assert bob.role_in("research") is Role.EDITOR
    assert bob.role_in("secret") is None  # private: default_role = "none" there

    guest = principal("guest@partner.com")
    assert guest.role_in("research") is Role.VIEWER
    assert guest.workspaces(["default", "research", "secret"]) == ["default", "research"]

    boss = principal("boss@lab.org")
    assert all(boss.role_in(w) is Role.ADMIN for w in ("default", "research", "secret", "new"))
    assert boss.may_create_workspaces


@pytest.mark.parametrize(
    "email", ["eve@sub.lab.org", "eve@evil-lab.org", "eve@lab.org.evil.com", "lab.org@evil.com"]
)
def test_domain_patterns_match_the_exact_domain_only(email: str) -> None:
    config = {"workspaces": {"research": {"editors": ["*@lab.org"]}}}
    assert principal(email, config).role_in("research") is None
    assert principal("eve@lab.org", config).role_in("research") is Role.EDITOR


def test_star_matches_anybody_signed_in() -> None:
    config = {"workspaces": {"open": {"viewers": ["*"]}}}
    assert principal("x@gmail.com", config).role_in("open") is Role.VIEWER
    assert principal(None, config).role_in("open") is None


def test_unverified_email_matches_no_list() -> None:
    policy = AccessPolicy.from_mapping(TEAM)
    claims = signed_in("boss@lab.org", email_verified=False)
    impostor = resolve_principal(claims, policy, viewer_mode=False)
    assert impostor.identity == "boss@lab.org"
    assert not impostor.may_create_workspaces
    assert impostor.role_in("research") is Role.VIEWER  # only the default role for signed-in users
    assert impostor.role_in("secret") is None


def test_identity_without_email_uses_other_claims() -> None:
    policy = AccessPolicy.from_mapping(TEAM)
    user = {"is_logged_in": True, "preferred_username": "ada", "sub": "123"}
    who = resolve_principal(user, policy, viewer_mode=False)
    assert who.identity == "ada"
    assert who.role_in("research") is Role.VIEWER


# -- viewer mode ----------------------------------------------------------------------------------


def test_viewer_mode_caps_every_role_at_viewer() -> None:
    ada = principal("ada@lab.org", viewer=True)
    assert ada.viewer_mode
    assert ada.role_in("research") is Role.VIEWER
    assert ada.role_in("secret") is Role.VIEWER
    assert {a for a in Action if ada.can(a, "research")} == {Action.VIEW, Action.EXPORT}
    local = resolve_principal(None, None, viewer_mode=True)
    assert not local.can(Action.UPLOAD, "default") and local.can(Action.VIEW, "default")
    assert not local.may_create_workspaces
    # it never grants: somebody without access stays without access
    assert principal("bob@lab.org", viewer=True).role_in("secret") is None
    assert principal(None, viewer=True).workspaces(["default"]) == []


def test_refusal_messages_say_who_where_what_and_what_helps() -> None:
    config = {"workspaces": {"research": {"viewers": ["viewer@x.com"]}}}
    viewer = principal("viewer@x.com", config)
    assert viewer.refusal(Action.DELETE, "research") == (
        "viewer@x.com is a viewer of workspace 'research' and may not delete datasets; "
        "ask an admin for the admin role"
    )
    assert viewer.refusal(Action.UPLOAD, "research").endswith("ask an admin for the editor role")
    assert principal("viewer@x.com", config).refusal(Action.VIEW, "other") == (
        "viewer@x.com has no role in workspace 'other' and may not view datasets; "
        "ask an admin of that workspace to add you"
    )
    admin_in_viewer_mode = resolve_principal(None, None, viewer_mode=True)
    assert admin_in_viewer_mode.refusal(Action.DELETE, "default") == (
        "the local user is a viewer of workspace 'default' and may not delete datasets: "
        "viewer mode is on (this session is read-only)"
    )
    assert "sign in first" in principal(None).refusal_to_create_workspace()
    assert "viewer mode" in admin_in_viewer_mode.refusal_to_create_workspace()


EMAILS = ["ada@lab.org", "bob@lab.org", "eve@other.com", "x@sub.lab.org"]
PATTERNS = [*EMAILS, "*@lab.org", "*@other.com", "*"]
WORKSPACES = ["default", "research", "secret"]
ROLE_TEXT = st.sampled_from(["viewer", "editor", "admin", "none"])


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    def members(role: str) -> list[str]:
        pool = [p for p in PATTERNS if not (role == "admins" and p == "*")]
        return draw(st.lists(st.sampled_from(pool), max_size=3))

    workspaces = {}
    for name in draw(st.lists(st.sampled_from(WORKSPACES), unique=True)):
        section: dict[str, Any] = {key: members(key) for key in ("admins", "editors", "viewers")}
        if draw(st.booleans()):
            section["default_role"] = draw(ROLE_TEXT)
        workspaces[name] = section
    require_login = draw(st.booleans())
    public = [] if require_login else draw(st.lists(st.sampled_from(WORKSPACES), unique=True))
    return {
        "require_login": require_login,
        "default_role": draw(ROLE_TEXT),
        "admins": members("admins"),
        "public_workspaces": public,
        "workspaces": workspaces,
    }


USERS = st.one_of(
    st.none(),
    st.builds(
        lambda email, logged_in, verified: {
            "is_logged_in": logged_in,
            "email": email,
            **({} if verified is None else {"email_verified": verified}),
        },
        st.sampled_from(EMAILS),
        st.booleans(),
        st.sampled_from([None, True, False]),
    ),
)


@settings(max_examples=300, deadline=None)
@given(config=policies(), user=USERS, local=st.booleans())
def test_viewer_mode_principal_is_a_subset_of_the_normal_one(
    config: dict[str, Any], user: dict[str, Any] | None, local: bool
) -> None:
    policy = None if local else AccessPolicy.from_mapping(config)
    normal = resolve_principal(user, policy, viewer_mode=False)
    viewer = resolve_principal(user, policy, viewer_mode=True)
    for workspace in [*WORKSPACES, "unlisted"]:
        for action in Action:
            if viewer.can(action, workspace):
                assert normal.can(action, workspace), (action, workspace)
                assert MIN_ROLE[action] is Role.VIEWER  # viewer mode never writes
    assert normal.may_create_workspaces or not viewer.may_create_workspaces
    assert viewer.identity == normal.identity and viewer.authenticated == normal.authenticated


@settings(max_examples=200, deadline=None)
@given(config=policies(), email=st.sampled_from(EMAILS))
def test_signing_in_never_lowers_rights(config: dict[str, Any], email: str) -> None:
    policy = AccessPolicy.from_mapping(config)
    visitor = resolve_principal(None, policy, viewer_mode=False)
    user = resolve_principal(signed_in(email), policy, viewer_mode=False)
    for workspace in [*WORKSPACES, "unlisted"]:
        for action in Action:
            assert user.can(action, workspace) or not visitor.can(action, workspace)


def test_the_documented_example_configuration_is_valid() -> None:
    path = Path(__file__).resolve().parents[1] / ".streamlit" / "secrets.toml.example"
    secrets = tomllib.loads(path.read_text(encoding="utf-8"))
    assert set(secrets["auth"]) >= {
        "redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url",
    }  # fmt: skip
    policy = policy_from_secrets(secrets)
    assert policy is not None and policy.require_login and policy.default_role is None
    ada = resolve_principal(signed_in("ada@lab.example.org"), policy, viewer_mode=False)
    assert [ada.role_in(w) for w in ("default", "research", "board", "other")] == [
        Role.VIEWER, Role.ADMIN, Role.EDITOR, None,
    ]  # fmt: skip
    stranger = resolve_principal(signed_in("x@gmail.com"), policy, viewer_mode=False)
    assert stranger.workspaces(["default", "research", "board"]) == []
