"""WorkspaceStore: every call is checked against the principal before the store is touched, and
a workspace only ever sees its own datasets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from scaling_core.access import AccessPolicy, Action, Principal, Role, resolve_principal
from scaling_core.ingest import ParsedTable, parse_table
from scaling_core.store import DatasetNotFoundError, Store, StoreError
from scaling_core.workspace_store import (
    PermissionDeniedError,
    WorkspaceStore,
    create_workspace,
    open_workspaces,
    write_action,
)

GOOD = b"run,params,tokens,loss\na,70M,1.4B,3.1\nb,1.4e8,2.8e9,2.9\nc,2.8e8,5.6e9,2.7\n"
OTHER = b"run,params,tokens,loss\nd,70M,1.4B,3.0\ne,1.4e8,2.8e9,2.8\nf,2.8e8,5.6e9,2.6\n"
POLICY = AccessPolicy.from_mapping(
    {
        "require_login": False,
        "public_workspaces": ["demo"],
        "workspaces": {
            "research": {
                "admins": ["admin@lab.org"],
                "editors": ["editor@lab.org"],
                "viewers": ["viewer@x.com"],
            },
        },
    }
)


def user(email: str | None, *, viewer_mode: bool = False) -> Principal:
    info = {"is_logged_in": True, "email": email} if email else None
    return resolve_principal(info, POLICY, viewer_mode=viewer_mode)


LOCAL = resolve_principal(None, None, viewer_mode=False)
ADMIN = user("admin@lab.org")
EDITOR = user("editor@lab.org")
VIEWER = user("viewer@x.com")
ADMIN_IN_VIEWER_MODE = user("admin@lab.org", viewer_mode=True)
VISITOR = user(None)  # not signed in: a viewer of the public "demo" workspace only


def parsed(data: bytes = GOOD) -> ParsedTable:
    table = parse_table("runs.csv", data)
    assert isinstance(table, ParsedTable), table
    return table


WRITES: dict[str, Callable[[WorkspaceStore], Any]] = {
    "create": lambda ws: ws.add_dataset("new", parsed(OTHER), OTHER),
    "append": lambda ws: ws.add_dataset("runs", parsed(OTHER), OTHER, mode="append"),
    "replace": lambda ws: ws.add_dataset("runs", parsed(OTHER), OTHER, mode="replace"),
    "rename": lambda ws: ws.rename_dataset("runs", "renamed"),
    "delete": lambda ws: ws.delete_dataset("runs"),
    "save_mapping": lambda ws: ws.save_mapping(["a", "b"], {"params": "a"}, {}),
}
READS: dict[str, Callable[[WorkspaceStore], Any]] = {
    "list_datasets": lambda ws: ws.list_datasets(),
    "get_dataset": lambda ws: ws.get_dataset("runs"),
    "load_points": lambda ws: ws.load_points("runs"),
    "load_runs": lambda ws: ws.load_runs("runs"),
    "load_curves": lambda ws: ws.load_curves("runs"),
    "load_mapping": lambda ws: ws.load_mapping("runs"),
    "find_mapping": lambda ws: ws.find_mapping(["run", "params", "tokens", "loss"]),
    "load_source": lambda ws: ws.load_source("runs"),
    "load_sources": lambda ws: ws.load_sources("runs"),
    "export_csv": lambda ws: ws.export_csv("runs"),
    "export_parquet": lambda ws: ws.export_parquet("runs"),
}


class UntouchableStore:
    """Fails the test on any use: proves a refused call is refused before the store is asked."""

    location = ":untouchable:"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the store was asked for {name!r} before the permission check")


@pytest.fixture
def store() -> Iterator[Store]:
    """A real in-memory store with dataset 'runs' in workspaces 'research' and 'demo'."""
    with Store.in_memory() as opened:
        for workspace in ("research", "demo"):
            opened.create_workspace(workspace)
            opened.add_dataset("runs", parsed(), GOOD, workspace=workspace)
        yield opened


def snapshot(store: Store) -> dict[str, list[tuple]]:
    """Everything a write could change, per workspace."""
    return {
        workspace: [
            (
                d.id,
                d.name,
                d.sha256,
                d.n_rows,
                d.n_sources,
                store.load_sources(d.name, workspace=workspace),
            )
            for d in store.list_datasets(workspace=workspace)
        ]
        for workspace in store.list_workspaces()
    }


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize(
    ("who", "workspace"),
    [(VIEWER, "research"), (ADMIN_IN_VIEWER_MODE, "research"), (VISITOR, "demo")],
    ids=["viewer", "admin-in-viewer-mode", "visitor-not-signed-in"],
)
def test_every_write_is_refused_for_read_only_principals(
    store: Store, who: Principal, workspace: str, write: str
) -> None:
    ws = WorkspaceStore(store, who, workspace)
    before = snapshot(store)
    with pytest.raises(PermissionDeniedError) as err:
        WRITES[write](ws)
    assert isinstance(err.value, StoreError)  # pages that catch StoreError show it cleanly
    assert f"workspace {workspace!r}" in str(err.value)
    assert snapshot(store) == before
    # the check comes first: the same call never reaches a store at all
    with pytest.raises(PermissionDeniedError):
        WRITES[write](WorkspaceStore(UntouchableStore(), who, workspace))  # type: ignore[arg-type]


def test_refusal_message_for_a_viewer(store: Store) -> None:
    with pytest.raises(PermissionDeniedError) as err:
        WorkspaceStore(store, VIEWER, "research").delete_dataset("runs")
    assert str(err.value) == (
        "viewer@x.com is a viewer of workspace 'research' and may not delete datasets; "
        "ask an admin for the admin role"
    )


@pytest.mark.parametrize(
    ("who", "workspace", "phrase"),
    [
        (VISITOR, "research", "sign in first"),
        (user(None, viewer_mode=True), "research", "sign in first"),
        (VIEWER, "default", "viewer@x.com has no role in workspace 'default'"),
        (
            resolve_principal({"is_logged_in": False}, AccessPolicy(), viewer_mode=False),
            "default",
            "sign in first",
        ),
    ],
)
def test_a_workspace_without_a_role_cannot_even_be_opened(
    store: Store, who: Principal, workspace: str, phrase: str
) -> None:
    with pytest.raises(PermissionDeniedError, match=phrase):
        WorkspaceStore(store, who, workspace)


@pytest.mark.parametrize("name", ["", "a\nb", "x" * 65, None])
def test_invalid_workspace_names_are_store_errors(store: Store, name: Any) -> None:
    with pytest.raises(StoreError) as err:
        WorkspaceStore(store, LOCAL, name)
    assert not isinstance(err.value, PermissionDeniedError)


def test_write_modes_map_to_actions() -> None:
    assert write_action("create") is Action.UPLOAD
    assert write_action("append") is Action.UPLOAD
    assert write_action("replace") is Action.REPLACE
    with pytest.raises(StoreError, match="unknown write mode 'overwrite'"):
        write_action("overwrite")


# -- what each role may do --------------------------------------------------------------------


@pytest.mark.parametrize("read", READS)
def test_viewers_read_and_export(store: Store, read: str) -> None:
    READS[read](WorkspaceStore(store, VIEWER, "research"))


def test_editor_uploads_appends_replaces_renames_but_does_not_delete(store: Store) -> None:
    ws = WorkspaceStore(store, EDITOR, "research")
    assert ws.role is Role.EDITOR
    assert [ws.can(a) for a in Action] == [a is not Action.DELETE for a in Action]
    assert ws.add_dataset("new", parsed(OTHER), OTHER).created
    assert ws.add_dataset("runs", parsed(OTHER), OTHER, mode="append").n_sources == 2
    replaced = ws.add_dataset("runs", parsed(OTHER), OTHER, mode="replace")
    assert replaced.n_sources == 1
    assert ws.rename_dataset("runs", "renamed").name == "renamed"
    with pytest.raises(PermissionDeniedError, match="may not delete datasets"):
        ws.delete_dataset("renamed")
    assert {d.name for d in ws.list_datasets()} == {"new", "renamed"}


def test_admin_deletes(store: Store) -> None:
    ws = WorkspaceStore(store, ADMIN, "research")
    ws.delete_dataset("runs")
    assert ws.list_datasets() == []
    assert [d.name for d in store.list_datasets(workspace="demo")] == ["runs"]


def test_identity_properties(store: Store) -> None:
    ws = WorkspaceStore(store, VIEWER, " research ")
    assert ws.workspace == "research"
    assert ws.principal is VIEWER
    assert ws.location == store.location
    assert "viewer@x.com" in repr(ws) and "research" in repr(ws)
    assert ws.can("view") and ws.can(Action.EXPORT) and not ws.can("upload")


# -- isolation --------------------------------------------------------------------------------


def test_datasets_of_one_workspace_are_invisible_from_another(store: Store) -> None:
    research = WorkspaceStore(store, LOCAL, "research")
    demo = WorkspaceStore(store, LOCAL, "demo")
    research.add_dataset("only in research", parsed(OTHER), OTHER)
    assert "only in research" not in [d.name for d in demo.list_datasets()]
    with pytest.raises(DatasetNotFoundError):
        demo.get_dataset("only in research")
    with pytest.raises(DatasetNotFoundError):
        demo.load_points("only in research")
    with pytest.raises(DatasetNotFoundError):
        demo.delete_dataset("only in research")
    # the same name in two workspaces is two datasets
    demo.delete_dataset("runs")
    assert {d.name for d in research.list_datasets()} == {"only in research", "runs"}
    assert all(d.workspace == "research" for d in research.list_datasets())


def test_open_and_create_workspaces(store: Store) -> None:
    assert open_workspaces(store, LOCAL) == store.list_workspaces()
    assert open_workspaces(store, VIEWER) == ["research", "demo"]  # demo: public
    assert open_workspaces(store, VISITOR) == ["demo"]
    with pytest.raises(PermissionDeniedError, match="may not create workspaces"):
        create_workspace(store, VIEWER, "mine")
    with pytest.raises(PermissionDeniedError, match="viewer mode"):
        create_workspace(store, LOCAL.as_viewer(), "mine")
    assert "mine" not in store.list_workspaces()
    created = create_workspace(store, LOCAL, "  mine ")
    assert created.workspace == "mine"
    assert created.list_datasets() == []
    assert "mine" in store.list_workspaces()
