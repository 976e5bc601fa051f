"""Just enough of the TensorBoard and W&B protobuf schemas to read scalars, built at import.

Why not the real generated classes: they live in ``tensorboard`` (which pulls grpcio, numpy
pins and a Rust data server) and ``wandb`` (a Go binary and ~100 MB) — far too much to read a few
numbers. Why not hand-decoding the wire format: the installed ``protobuf`` runtime (already a
dependency of Streamlit; C-accelerated "upb") decodes faster and has had far more hostile input
thrown at it than a decoder we would write. So this module declares the *subset* of each schema
we read, with the real field numbers, in a private descriptor pool; every other field is
skipped by the parser as an unknown field. Schemas are proto2 so a scalar's presence can be
tested (W&B's ``HistoryItem.number`` may legitimately be 0.0), and every string is declared
``bytes`` so invalid UTF-8 in a tag is our message to write, not a parser exception.

Field numbers come from tensorflow/core/util/event.proto, framework/summary.proto,
tensor.proto, tensor_shape.proto, tensorboard/plugins/hparams/plugin_data.proto,
google/protobuf/struct.proto, and wandb/proto/wandb_internal.proto (checked against
wandb 0.31.0 and tensorboard 2.21.0 descriptors when the fixtures were made).
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

__all__ = ["DecodeError", "Message", "parse"]

_F = descriptor_pb2.FieldDescriptorProto
_TYPES = {
    "double": _F.TYPE_DOUBLE,
    "float": _F.TYPE_FLOAT,
    "int64": _F.TYPE_INT64,
    "uint64": _F.TYPE_UINT64,
    "int32": _F.TYPE_INT32,
    "uint32": _F.TYPE_UINT32,
    "sint64": _F.TYPE_SINT64,
    "bool": _F.TYPE_BOOL,
    "bytes": _F.TYPE_BYTES,
}

# message name → [(field name, number, type or message name, repeated)]
_SCHEMA: dict[str, list[tuple[str, int, str, bool]]] = {
    # --- TensorBoard / TensorFlow -----------------------------------------------------------
    "Event": [
        ("wall_time", 1, "double", False),
        ("step", 2, "int64", False),
        ("file_version", 3, "bytes", False),
        ("summary", 5, "Summary", False),
    ],
    "Summary": [("value", 1, "SummaryValue", True)],
    "SummaryValue": [
        ("tag", 1, "bytes", False),
        ("simple_value", 2, "float", False),
        ("node_name", 7, "bytes", False),
        ("tensor", 8, "TensorProto", False),
        ("metadata", 9, "SummaryMetadata", False),
    ],
    "SummaryMetadata": [
        ("plugin_data", 1, "PluginData", False),
        ("display_name", 2, "bytes", False),
        ("data_class", 4, "int32", False),
    ],
    "PluginData": [("plugin_name", 1, "bytes", False), ("content", 2, "bytes", False)],
    "TensorProto": [
        ("dtype", 1, "int32", False),
        ("tensor_shape", 2, "TensorShape", False),
        ("tensor_content", 4, "bytes", False),
        ("float_val", 5, "float", True),
        ("double_val", 6, "double", True),
        ("int_val", 7, "int32", True),
        ("int64_val", 10, "int64", True),
        ("bool_val", 11, "bool", True),
        ("half_val", 13, "int32", True),
        ("uint32_val", 16, "uint32", True),
        ("uint64_val", 17, "uint64", True),
    ],
    "TensorShape": [("dim", 2, "TensorDim", True), ("unknown_rank", 3, "bool", False)],
    "TensorDim": [("size", 1, "int64", False)],
    "HParamsPluginData": [
        ("version", 1, "int32", False),
        ("session_start_info", 3, "SessionStartInfo", False),
    ],
    "SessionStartInfo": [
        ("hparams", 1, "HParamEntry", True),  # map<string, Value> on the wire
        ("group_name", 4, "bytes", False),
    ],
    "HParamEntry": [("key", 1, "bytes", False), ("value", 2, "PbValue", False)],
    "PbValue": [
        ("null_value", 1, "int32", False),
        ("number_value", 2, "double", False),
        ("string_value", 3, "bytes", False),
        ("bool_value", 4, "bool", False),
    ],
    # --- Weights & Biases (wandb_internal.proto) ----------------------------------------------
    "Record": [
        ("num", 1, "int64", False),
        ("history", 2, "HistoryRecord", False),
        ("summary", 3, "ItemsRecord", False),
        ("config", 5, "ItemsRecord", False),
        ("run", 17, "RunRecord", False),
    ],
    "HistoryRecord": [("item", 1, "HistoryItem", True), ("step", 2, "HistoryStep", False)],
    "HistoryStep": [("num", 1, "int64", False)],
    "HistoryItem": [
        ("key", 1, "bytes", False),
        ("nested_key", 2, "bytes", True),
        ("boolean", 4, "bool", False),
        ("integer", 5, "sint64", False),
        ("number", 6, "double", False),
        ("text", 7, "bytes", False),
        ("value_json", 16, "bytes", False),
    ],
    # ConfigRecord and SummaryRecord share this shape (update = 1, remove = 2).
    "ItemsRecord": [("update", 1, "ConfigItem", True), ("remove", 2, "ConfigItem", True)],
    "ConfigItem": [
        ("key", 1, "bytes", False),
        ("nested_key", 2, "bytes", True),
        ("value_json", 16, "bytes", False),
    ],
    "RunRecord": [
        ("run_id", 1, "bytes", False),
        ("project", 3, "bytes", False),
        ("config", 4, "ItemsRecord", False),
        ("summary", 5, "ItemsRecord", False),
        ("run_group", 6, "bytes", False),
        ("display_name", 8, "bytes", False),
    ],
}

_PACKAGE = "scalescope.importers"


def _build() -> dict[str, type[Message]]:
    """Register :data:`_SCHEMA` in a private pool and return the message classes."""
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="scalescope_importers.proto", package=_PACKAGE, syntax="proto2"
    )
    for message_name, fields in _SCHEMA.items():
        message = file_proto.message_type.add(name=message_name)
        for field_name, number, kind, repeated in fields:
            field = message.field.add(
                name=field_name,
                number=number,
                label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL,
            )
            if kind in _TYPES:
                field.type = _TYPES[kind]
            else:
                field.type = _F.TYPE_MESSAGE
                field.type_name = f".{_PACKAGE}.{kind}"
    pool = descriptor_pool.DescriptorPool()
    file_descriptor = pool.Add(file_proto)
    del file_descriptor
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name in _SCHEMA
    }


MESSAGES = _build()


def parse(message_name: str, data: bytes) -> Message:
    """Decode ``data`` as ``message_name``; raises :class:`DecodeError` on malformed bytes."""
    message = MESSAGES[message_name]()
    message.ParseFromString(data)
    return message
