"""A store seen through one principal and one workspace: the server-side enforcement point.

Pages never hold a :class:`~scaling_core.store.Store`; ``pages._ui.get_store()`` hands them a
:class:`WorkspaceStore`. Every method checks the principal's role *before* it touches the store
and raises :class:`PermissionDeniedError` with a sentence that says who, where, what and what
would help. Hiding a button is a convenience; this check is what makes a forged request (a
replayed widget callback, a hand-edited URL) fail.

The workspace is fixed at construction, so a page cannot read or write another workspace by
passing a keyword: the ``workspace=`` argument of the store's API does not exist here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from scaling_core.access import Action, Principal, Role, check_workspace_name
from scaling_core.store import StoreError

if TYPE_CHECKING:
    import pandas as pd

    from scaling_core.ingest import ParsedTable
    from scaling_core.schema import RunTable
    from scaling_core.store import DatasetInfo, Store

__all__ = [
    "PermissionDeniedError",
    "WorkspaceStore",
    "create_workspace",
    "open_workspaces",
    "write_action",
]

WRITE_MODES = ("create", "append", "replace")


class PermissionDeniedError(StoreError):
    """The principal's role does not allow the action; the message says who, where and why."""


def write_action(mode: str) -> Action:
    """The action an :meth:`WorkspaceStore.add_dataset` call needs for ``mode``.

    Creating and appending only add data (editor: *upload*); replacing discards the dataset's
    previous sources, so it is its own action even though editors hold both today.
    """
    if mode not in WRITE_MODES:
        raise StoreError(f"unknown write mode {mode!r}; expected one of {', '.join(WRITE_MODES)}")
    return Action.REPLACE if mode == "replace" else Action.UPLOAD


def _workspace_name(name: object) -> str:
    try:
        return check_workspace_name(name)
    except ValueError as err:
        raise StoreError(str(err)) from None


class WorkspaceStore:
    """Store's dataset API for one workspace, each call checked against the principal's role.

    Construction fails with :class:`PermissionDeniedError` when the principal has no role in
    the workspace, so a session can only ever hold stores it may at least view.
    """

    def __init__(self, store: Store, principal: Principal, workspace: str) -> None:
        name = _workspace_name(workspace)
        if principal.role_in(name) is None:
            raise PermissionDeniedError(principal.refusal(Action.VIEW, name))
        self._store = store
        self._principal = principal
        self._workspace = name

    def __repr__(self) -> str:
        return (
            f"WorkspaceStore(location={self.location!r}, workspace={self._workspace!r}, "
            f"identity={self._principal.identity!r}, role={self.role.label if self.role else None})"
        )

    # -- identity ------------------------------------------------------------------------------

    @property
    def location(self) -> str:
        """Where the underlying store lives (a cache key: one store per location per process)."""
        return self._store.location

    @property
    def workspace(self) -> str:
        return self._workspace

    @property
    def principal(self) -> Principal:
        return self._principal

    @property
    def role(self) -> Role | None:
        """The principal's role here (never None for a constructed store, unless it changed)."""
        return self._principal.role_in(self._workspace)

    def can(self, action: Action | str) -> bool:
        """Whether ``action`` is allowed here: pages use it to hide widgets they cannot use."""
        return self._principal.can(action, self._workspace)

    def _require(self, action: Action) -> None:
        if not self.can(action):
            raise PermissionDeniedError(self._principal.refusal(action, self._workspace))

    # -- reads (view) --------------------------------------------------------------------------

    def list_datasets(self) -> list[DatasetInfo]:
        self._require(Action.VIEW)
        return self._store.list_datasets(workspace=self._workspace)

    def get_dataset(self, name: str) -> DatasetInfo:
        self._require(Action.VIEW)
        return self._store.get_dataset(name, workspace=self._workspace)

    def load_points(self, name: str) -> pd.DataFrame:
        self._require(Action.VIEW)
        return self._store.load_points(name, workspace=self._workspace)

    def load_runs(
        self, name: str, reduction: str | None = None, *, at_step: float | None = None
    ) -> RunTable:
        self._require(Action.VIEW)
        return self._store.load_runs(
            name,
            reduction,  # type: ignore[arg-type]
            at_step=at_step,
            workspace=self._workspace,
        )

    def load_curves(self, name: str, *, max_points_per_run: int = 200) -> pd.DataFrame:
        self._require(Action.VIEW)
        return self._store.load_curves(
            name, max_points_per_run=max_points_per_run, workspace=self._workspace
        )

    def load_mapping(self, name: str) -> dict[str, str]:
        self._require(Action.VIEW)
        return self._store.load_mapping(name, workspace=self._workspace)

    def find_mapping(self, headers: Sequence[str]) -> tuple[dict[str, str], dict[str, str]] | None:
        self._require(Action.VIEW)
        return self._store.find_mapping(headers, workspace=self._workspace)

    # -- exports -------------------------------------------------------------------------------

    def load_source(self, name: str) -> tuple[str, bytes]:
        """The dataset's first original file: a download, so it needs the *export* right."""
        self._require(Action.EXPORT)
        return self._store.load_source(name, workspace=self._workspace)

    def load_sources(self, name: str) -> list[tuple[str, bytes]]:
        self._require(Action.EXPORT)
        return self._store.load_sources(name, workspace=self._workspace)

    def export_csv(self, name: str) -> bytes:
        self._require(Action.EXPORT)
        return self._store.export_csv(name, workspace=self._workspace)

    def export_parquet(self, name: str) -> bytes:
        self._require(Action.EXPORT)
        return self._store.export_parquet(name, workspace=self._workspace)

    # -- writes --------------------------------------------------------------------------------

    def add_dataset(
        self,
        name: str,
        parsed: ParsedTable,
        source_bytes: bytes,
        reduction: str = "final",
        *,
        mode: str = "create",
    ) -> DatasetInfo:
        """Create (``upload``), append to (``upload``) or replace (``replace``) a dataset."""
        self._require(write_action(mode))
        return self._store.add_dataset(
            name,
            parsed,
            source_bytes,
            reduction,  # type: ignore[arg-type]
            workspace=self._workspace,
            mode=mode,  # type: ignore[arg-type]
        )

    def rename_dataset(self, old: str, new: str) -> DatasetInfo:
        self._require(Action.RENAME)
        return self._store.rename_dataset(old, new, workspace=self._workspace)

    def delete_dataset(self, name: str) -> None:
        self._require(Action.DELETE)
        self._store.delete_dataset(name, workspace=self._workspace)

    def save_mapping(
        self, headers: Sequence[str], mapping: dict[str, str], units: dict[str, str]
    ) -> None:
        """Remember a column mapping for these headers: part of uploading (``upload``)."""
        self._require(Action.UPLOAD)
        self._store.save_mapping(headers, mapping, units, workspace=self._workspace)


def open_workspaces(store: Store, principal: Principal) -> list[str]:
    """The store's workspaces this principal may open (at least view), in the store's order."""
    return principal.workspaces(store.list_workspaces())


def create_workspace(store: Store, principal: Principal, name: str) -> WorkspaceStore:
    """Create workspace ``name`` (global admins and the local user only) and open it."""
    cleaned = _workspace_name(name)
    if not principal.may_create_workspaces:
        raise PermissionDeniedError(principal.refusal_to_create_workspace())
    created = store.create_workspace(cleaned)
    return WorkspaceStore(store, principal, created)
