"""Who may do what in which workspace: roles, actions, the access policy and the principal.

Pure data and functions (no Streamlit, no SQL), so the rules are tested without a server and the
same answer is given to the pages (to hide widgets) and to
:class:`scaling_core.workspace_store.WorkspaceStore` (which enforces them).

Three situations, decided by what ``.streamlit/secrets.toml`` configures:

- **Local (nothing configured).** One local user who is admin of every workspace: running
  ``streamlit run app.py`` on a laptop must not ask anybody to sign in.
- **Hosted (``[auth]`` configured).** Visitors sign in with OpenID Connect (``st.login``); the
  ``[scalescope]`` section (an :class:`AccessPolicy`) maps their e-mail to a role per workspace.
  Until they sign in they have no access at all (unless ``require_login = false``, see below).
- **Viewer mode** (``?mode=view`` or ``SCALESCOPE_VIEWER=1``) turns any principal read-only. It
  can only lower rights, never raise them: a URL anyone can edit must not grant anything.

Roles are ordered (viewer < editor < admin) and every action needs a minimum role
(:data:`MIN_ROLE`), so a higher role can always do what a lower one can.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import IntEnum, StrEnum
from typing import Any

__all__ = [
    "LOCAL_IDENTITY",
    "MAX_WORKSPACE_NAME_LENGTH",
    "MIN_ROLE",
    "ROLE_NAMES",
    "AccessConfigError",
    "AccessPolicy",
    "Action",
    "MemberRule",
    "Principal",
    "Role",
    "WorkspacePolicy",
    "check_workspace_name",
    "local_principal",
    "policy_from_secrets",
    "resolve_principal",
]

LOCAL_IDENTITY = "local"
"""Identity of the single user when no authentication is configured."""
ANONYMOUS_IDENTITY = "a visitor who is not signed in"
"""Identity shown for a visitor of a hosted deployment who has not signed in (used in messages)."""
MAX_WORKSPACE_NAME_LENGTH = 64
"""Workspace names travel in URLs (``?ws=``) and sidebars: short, one line."""
DEFAULT_WORKSPACE = "default"
"""Mirrors ``scaling_core.store.DEFAULT_WORKSPACE`` (not imported: the store pulls in DuckDB)."""


class Role(IntEnum):
    """A member's rights in one workspace; the integer order is the order of rights."""

    VIEWER = 1
    EDITOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        """Lower-case name as written in the configuration ("viewer", "editor", "admin")."""
        return self.name.lower()


ROLE_NAMES: dict[str, Role] = {role.label: role for role in Role}
NO_ROLE = "none"
"""How the configuration spells "no access" for ``default_role``."""


class Action(StrEnum):
    """Something a principal can do to the datasets of a workspace."""

    VIEW = "view"
    """List datasets and read their rows, runs, curves and mappings."""
    EXPORT = "export"
    """Download a dataset (CSV, Parquet, the original source files)."""
    UPLOAD = "upload"
    """Create a dataset or append a file to one; save a column mapping."""
    REPLACE = "replace"
    """Swap a dataset's sources for a new file."""
    RENAME = "rename"
    DELETE = "delete"


MIN_ROLE: dict[Action, Role] = {
    Action.VIEW: Role.VIEWER,
    Action.EXPORT: Role.VIEWER,
    Action.UPLOAD: Role.EDITOR,
    Action.REPLACE: Role.EDITOR,
    Action.RENAME: Role.EDITOR,
    Action.DELETE: Role.ADMIN,
}
"""The permission table. Deleting is admin-only because it is the one action that loses data
(replace keeps the dataset and an upload can be redone); exporting is a viewer's right because a
viewer already sees every number."""

_ACTION_PHRASES: dict[Action, str] = {
    Action.VIEW: "view datasets",
    Action.EXPORT: "export datasets",
    Action.UPLOAD: "upload datasets",
    Action.REPLACE: "replace datasets",
    Action.RENAME: "rename datasets",
    Action.DELETE: "delete datasets",
}


def role_allows(role: Role | None, action: Action) -> bool:
    """Whether ``role`` (None: no access) may perform ``action``."""
    return role is not None and role >= MIN_ROLE[Action(action)]


class AccessConfigError(ValueError):
    """The access configuration is unusable; the message names the key and what was expected."""


def check_workspace_name(name: object) -> str:
    """The trimmed workspace name, or :class:`ValueError` saying what is wrong with it.

    Names appear in URLs, the sidebar and messages: one printable line of bounded length.
    """
    if not isinstance(name, str):
        raise ValueError(f"a workspace name must be text, not {type(name).__name__}")
    cleaned = name.strip()
    if not cleaned:
        raise ValueError("a workspace needs a non-empty name")
    if len(cleaned) > MAX_WORKSPACE_NAME_LENGTH:
        raise ValueError(
            f"a workspace name may have at most {MAX_WORKSPACE_NAME_LENGTH} characters "
            f"(got {len(cleaned)})"
        )
    if not cleaned.isprintable():
        raise ValueError("a workspace name may not contain control characters or line breaks")
    return cleaned


# -- members -------------------------------------------------------------------------------------

_EMAIL = re.compile(r"[^@\s*]+@[^@\s*]+\.[^@\s*]+")
_DOMAIN_PATTERN = re.compile(r"\*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")


@dataclass(frozen=True)
class MemberRule:
    """One entry of a member list: who it matches and the role it grants.

    ``pattern`` is lower-case and one of: an e-mail address (``ada@lab.org``), a whole domain
    (``*@lab.org``: every address ``…@lab.org``, not its subdomains), or ``*`` (anybody signed
    in).
    """

    pattern: str
    role: Role

    def matches(self, email: str | None) -> bool:
        """Whether a signed-in user with this (verified, lower-case) e-mail is matched."""
        if self.pattern == "*":
            return True
        if email is None:
            return False
        if self.pattern.startswith("*@"):
            return email.rpartition("@")[2] == self.pattern[2:]
        return email == self.pattern


def _parse_member(entry: object, where: str, role: Role) -> MemberRule:
    if not isinstance(entry, str):
        raise AccessConfigError(
            f"{where}: members are e-mail addresses or '*@domain' patterns in quotes, "
            f"not {type(entry).__name__} {entry!r}"
        )
    pattern = entry.strip().lower()
    if pattern == "*" or _DOMAIN_PATTERN.fullmatch(pattern) or _EMAIL.fullmatch(pattern):
        return MemberRule(pattern, role)
    raise AccessConfigError(
        f"{where}: {entry!r} is neither an e-mail address (ada@lab.org), a domain pattern "
        "(*@lab.org) nor '*' (anybody signed in)"
    )


def _parse_member_list(entries: object, where: str, key: str, role: Role) -> list[MemberRule]:
    if isinstance(entries, str) or not isinstance(entries, list | tuple):
        raise AccessConfigError(
            f"{where} {key} must be a list of e-mail addresses, e.g. {key} = "
            f'["ada@lab.org", "*@lab.org"]; got {type(entries).__name__}'
        )
    rules = [_parse_member(entry, f"{where} {key}", role) for entry in entries]
    if role is Role.ADMIN and any(rule.pattern == "*" for rule in rules):
        # With a public identity provider (Google, GitHub…) "anybody signed in" is anybody.
        raise AccessConfigError(
            f"{where} {key}: '*' would make anybody who can sign in an admin; list addresses "
            "or a '*@domain' pattern instead"
        )
    return rules


def _parse_members(section: Mapping[str, Any], where: str) -> tuple[MemberRule, ...]:
    """The admins/editors/viewers lists of one workspace section."""
    rules: list[MemberRule] = []
    for role in Role:
        key = f"{role.label}s"
        rules.extend(_parse_member_list(section.get(key, []), where, key, role))
    return tuple(rules)


def _best_role(rules: Iterable[MemberRule], email: str | None) -> Role | None:
    """The highest role among the rules matching ``email`` (a person in two lists gets the
    higher role: lists only ever grant)."""
    return max((rule.role for rule in rules if rule.matches(email)), default=None)


# -- policy --------------------------------------------------------------------------------------


def _parse_role(value: object, where: str, *, allow_none: bool) -> Role | None:
    choices = [*ROLE_NAMES, *([NO_ROLE] if allow_none else [])]
    if isinstance(value, str) and value.strip().lower() in choices:
        text = value.strip().lower()
        return None if text == NO_ROLE else ROLE_NAMES[text]
    raise AccessConfigError(
        f"{where} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}"
    )


def _check_keys(section: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Unknown keys are errors: a typo such as ``admin = [...]`` must not silently grant nothing
    (or, worse, leave a workspace open to ``default_role``)."""
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise AccessConfigError(
            f"{where}: unknown key {unknown[0]!r}; expected one of {', '.join(sorted(allowed))}"
        )


def _as_section(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise AccessConfigError(f"[{where}] must be a table (a TOML section), not {value!r}")
    return value


@dataclass(frozen=True)
class WorkspacePolicy:
    """Members of one workspace, and the role of signed-in users it does not list.

    Unlisted users get the policy-wide ``default_role`` unless the workspace overrides it
    (``own_default``), e.g. ``default_role = "none"`` for a private workspace.
    """

    name: str
    members: tuple[MemberRule, ...] = ()
    own_default: bool = False
    default_role: Role | None = None
    """Only meaningful when ``own_default`` is true."""


_POLICY_KEYS = ("require_login", "default_role", "admins", "public_workspaces", "workspaces")
_WORKSPACE_KEYS = ("admins", "editors", "viewers", "default_role")


@dataclass(frozen=True)
class AccessPolicy:
    """The ``[scalescope]`` section of ``secrets.toml``: who gets which role where.

    - ``require_login``: visitors must sign in before they see anything (default). When false,
      visitors who are not signed in may *view* the ``public_workspaces`` (an audience's link).
    - ``default_role``: the role of a signed-in user in a workspace that does not list them
      (default None = no access: an OIDC provider such as Google lets *anyone* with an account
      sign in, so access must be granted, never assumed).
    - ``admins``: admins of every workspace, the only ones who may create workspaces.
    - ``workspaces``: per workspace, admins/editors/viewers lists (and an optional
      ``default_role`` override, e.g. ``"none"`` for a private workspace).
    """

    require_login: bool = True
    default_role: Role | None = None
    admins: tuple[MemberRule, ...] = ()
    public_workspaces: tuple[str, ...] = ()
    workspaces: tuple[WorkspacePolicy, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> AccessPolicy:
        """Parse the ``[scalescope]`` table (``st.secrets["scalescope"]`` or a plain dict).

        Raises :class:`AccessConfigError` naming the offending key; nothing is guessed.
        """
        if data is None:
            return cls()
        data = _as_section(data, "scalescope")
        _check_keys(data, _POLICY_KEYS, "[scalescope]")
        require_login = data.get("require_login", True)
        if not isinstance(require_login, bool):
            raise AccessConfigError(
                f"[scalescope] require_login must be true or false; got {require_login!r}"
            )
        default_role = _parse_role(
            data.get("default_role", NO_ROLE), "[scalescope] default_role", allow_none=True
        )
        admins = _parse_member_list(data.get("admins", []), "[scalescope]", "admins", Role.ADMIN)
        public = data.get("public_workspaces", [])
        if isinstance(public, str) or not isinstance(public, list | tuple):
            raise AccessConfigError(
                "[scalescope] public_workspaces must be a list of workspace names, e.g. "
                f'public_workspaces = ["default"]; got {public!r}'
            )
        if public and require_login:
            raise AccessConfigError(
                "[scalescope] public_workspaces has no effect while require_login = true; set "
                "require_login = false to let visitors who are not signed in view them"
            )
        public_names = tuple(_workspace_key(n, "[scalescope] public_workspaces") for n in public)
        return cls(
            require_login=require_login,
            default_role=default_role,
            admins=tuple(admins),
            public_workspaces=public_names,
            workspaces=_parse_workspaces(data.get("workspaces", {})),
        )

    def workspace(self, name: str) -> WorkspacePolicy | None:
        """The configured policy of workspace ``name``, if the configuration lists it."""
        return next((w for w in self.workspaces if w.name == name), None)

    @property
    def workspace_names(self) -> tuple[str, ...]:
        """Workspaces the configuration names (they exist once the app has started)."""
        names = [w.name for w in self.workspaces]
        return tuple(dict.fromkeys([*names, *self.public_workspaces]))


def _workspace_key(name: object, where: str) -> str:
    try:
        return check_workspace_name(name)
    except ValueError as err:
        raise AccessConfigError(f"{where}: {err}") from None


def _parse_workspaces(value: object) -> tuple[WorkspacePolicy, ...]:
    sections = _as_section(value, "scalescope.workspaces")
    out: list[WorkspacePolicy] = []
    for raw_name, section in sections.items():
        name = _workspace_key(raw_name, "[scalescope.workspaces]")
        if any(w.name == name for w in out):
            raise AccessConfigError(f"[scalescope.workspaces]: workspace {name!r} is listed twice")
        where = f"[scalescope.workspaces.{name}]"
        section = _as_section(section, f"scalescope.workspaces.{name}")
        _check_keys(section, _WORKSPACE_KEYS, where)
        own_default = "default_role" in section
        default = (
            _parse_role(section["default_role"], f"{where} default_role", allow_none=True)
            if own_default
            else None
        )
        out.append(WorkspacePolicy(name, _parse_members(section, where), own_default, default))
    return tuple(out)


AUTH_REQUIRED_KEYS = ("redirect_uri", "cookie_secret")
"""Keys Streamlit needs in ``[auth]`` for every provider (``st.login`` documentation)."""


def policy_from_secrets(secrets: Mapping[str, Any]) -> AccessPolicy | None:
    """The access policy that ``secrets.toml`` configures, or None for local mode.

    - neither ``[auth]`` nor ``[scalescope]``: None (one local admin; the laptop default);
    - ``[auth]`` only: the default policy (sign-in required, nobody has a role yet);
    - ``[scalescope]`` with ``require_login = true`` (the default) but no ``[auth]``: an error,
      because nobody could ever sign in. Failing here beats falling back to local mode, which
      would make every visitor of a half-configured deployment an admin.
    """
    auth = secrets.get("auth")
    scalescope = secrets.get("scalescope")
    if auth is None and scalescope is None:
        return None
    if auth is not None:
        auth = _as_section(auth, "auth")
        missing = [key for key in AUTH_REQUIRED_KEYS if not auth.get(key)]
        if missing:
            raise AccessConfigError(
                f"[auth] needs {' and '.join(missing)} (see .streamlit/secrets.toml.example)"
            )
    policy = AccessPolicy.from_mapping(scalescope)
    if auth is None and policy.require_login:
        raise AccessConfigError(
            "[scalescope] requires sign-in but [auth] is not configured, so nobody could sign "
            "in; add an [auth] section (see .streamlit/secrets.toml.example) or set "
            "require_login = false for a read-only public deployment"
        )
    return policy


# -- principal -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """The user of one session and their role in every workspace.

    ``roles`` lists explicit roles (workspace, role); ``other_role`` applies to every workspace
    not in that list (None: no access). Frozen so a page cannot promote its own user.
    """

    identity: str
    """E-mail address of a signed-in user, :data:`LOCAL_IDENTITY`, or the anonymous phrase."""
    authenticated: bool
    roles: tuple[tuple[str, Role | None], ...] = ()
    other_role: Role | None = None
    may_create_workspaces: bool = False
    viewer_mode: bool = False
    """True when viewer mode lowered this principal's rights (for messages and the sidebar)."""
    sign_in_required: bool = False
    """True for a visitor who is not signed in and, by policy, must sign in to see anything."""

    def role_in(self, workspace: str) -> Role | None:
        """This principal's role in ``workspace`` (None: no access)."""
        for name, role in self.roles:
            if name == workspace:
                return role
        return self.other_role

    def can(self, action: Action | str, workspace: str) -> bool:
        """Whether ``action`` is allowed in ``workspace`` (see :data:`MIN_ROLE`)."""
        return role_allows(self.role_in(workspace), Action(action))

    def workspaces(self, existing: Iterable[str]) -> list[str]:
        """The workspaces among ``existing`` this principal may open, in the given order."""
        return [name for name in existing if self.role_in(name) is not None]

    def as_viewer(self) -> Principal:
        """The same user, read-only: every role capped at viewer, no workspace creation."""
        roles = tuple((name, _cap(role)) for name, role in self.roles)
        return replace(
            self,
            roles=roles,
            other_role=_cap(self.other_role),
            may_create_workspaces=False,
            viewer_mode=True,
        )

    @property
    def display_name(self) -> str:
        """How messages name this principal ("the local user" rather than the bare "local")."""
        return "the local user" if self.identity == LOCAL_IDENTITY else self.identity

    def refusal(self, action: Action | str, workspace: str) -> str:
        """Why ``action`` is refused in ``workspace``, and what would help, in one sentence."""
        action = Action(action)
        what = _ACTION_PHRASES[action]
        role = self.role_in(workspace)
        if not self.authenticated and self.identity != LOCAL_IDENTITY and role is None:
            return f"{self.display_name} may not {what} in workspace {workspace!r}; sign in first"
        if role is None:
            return (
                f"{self.display_name} has no role in workspace {workspace!r} and may not {what}; "
                "ask an admin of that workspace to add you"
            )
        article = "an" if role is Role.ADMIN else "a"
        sentence = (
            f"{self.display_name} is {article} {role.label} of workspace {workspace!r} and may not "
            f"{what}"
        )
        if self.viewer_mode:
            return f"{sentence}: viewer mode is on (this session is read-only)"
        if not self.authenticated and self.identity != LOCAL_IDENTITY:
            return f"{sentence}; sign in first"
        needed = MIN_ROLE[action]
        return f"{sentence}; ask an admin for the {needed.label} role"

    def refusal_to_create_workspace(self) -> str:
        """Why this principal may not create a workspace (only global admins may)."""
        if self.viewer_mode:
            return f"{self.display_name} may not create workspaces: viewer mode is on (read-only)"
        if not self.authenticated and self.identity != LOCAL_IDENTITY:
            return f"{self.display_name} may not create workspaces; sign in first"
        return (
            f"{self.display_name} may not create workspaces; only the admins listed in "
            "[scalescope] admins may"
        )


def _cap(role: Role | None) -> Role | None:
    return None if role is None else min(role, Role.VIEWER)


def _at_least_viewer(role: Role | None) -> Role:
    return Role.VIEWER if role is None else role


def local_principal() -> Principal:
    """The single user of a deployment without authentication: admin everywhere."""
    return Principal(
        identity=LOCAL_IDENTITY,
        authenticated=False,
        other_role=Role.ADMIN,
        may_create_workspaces=True,
    )


def _verified_email(user_info: Mapping[str, Any]) -> str | None:
    """The user's e-mail for matching, or None when absent or explicitly unverified.

    An identity provider that says ``email_verified: false`` lets people claim any address;
    such an address must not match a member list.
    """
    email = user_info.get("email")
    if not isinstance(email, str) or "@" not in email:
        return None
    if user_info.get("email_verified") is False:
        return None
    return email.strip().lower()


def _display_identity(user_info: Mapping[str, Any]) -> str:
    for key in ("email", "preferred_username", "name", "sub"):
        value = user_info.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return "a signed-in user"


def resolve_principal(
    user_info: Mapping[str, Any] | None, policy: AccessPolicy | None, *, viewer_mode: bool
) -> Principal:
    """The principal of a session.

    ``user_info`` is what ``st.user`` holds (None or ``is_logged_in`` false: not signed in);
    ``policy`` None means no authentication is configured (local mode). ``viewer_mode`` caps
    the result at viewer; it is applied last, so nothing in the request can raise a right.
    """
    principal = _resolve(user_info, policy)
    return principal.as_viewer() if viewer_mode else principal


def _resolve(user_info: Mapping[str, Any] | None, policy: AccessPolicy | None) -> Principal:
    if policy is None:
        return local_principal()
    if user_info is None or user_info.get("is_logged_in") is not True:
        public = tuple((name, Role.VIEWER) for name in policy.public_workspaces)
        return Principal(
            identity=ANONYMOUS_IDENTITY,
            authenticated=False,
            roles=() if policy.require_login else public,
            sign_in_required=policy.require_login,
        )
    email = _verified_email(user_info)
    is_admin = _best_role(policy.admins, email) is not None
    roles: list[tuple[str, Role | None]] = []
    for workspace in policy.workspaces:
        listed = _best_role(workspace.members, email)
        unlisted = workspace.default_role if workspace.own_default else policy.default_role
        role = listed if listed is not None else unlisted
        roles.append((workspace.name, Role.ADMIN if is_admin else role))
    # Signing in never lowers rights: a public workspace stays viewable for a signed-in user.
    roles = [
        (name, _at_least_viewer(role) if name in policy.public_workspaces else role)
        for name, role in roles
    ]
    listed_names = {name for name, _ in roles}
    other = Role.ADMIN if is_admin else policy.default_role
    roles += [
        (name, _at_least_viewer(other))
        for name in policy.public_workspaces
        if name not in listed_names
    ]
    return Principal(
        identity=_display_identity(user_info),
        authenticated=True,
        roles=tuple(roles),
        other_role=other,
        may_create_workspaces=is_admin,
    )
