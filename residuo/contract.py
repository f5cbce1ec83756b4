"""The machine-readable contract, generated from the pydantic models of ``messages``.

``residuo contract export DIR`` writes, and a test keeps ``docs/contract/`` equal to:

* ``schemas/events/<type>.json``: a JSON Schema (2020-12) of each inbound CloudEvent,
  envelope and `data`, from ``messages.inbound``;
* ``schemas/notifications/<type>.json``: the same for each notification, from
  ``messages.notifications.NOTIFICATION_TYPES``, so a notification type added there
  appears here when the contract is exported again;
* ``asyncapi.json``: an AsyncAPI 3.0 document of the exchanges, queues and messages on
  RabbitMQ (``residuo.asyncapi``), its schemas inline under ``components``.

The schemas are built by ``residuo.contract_schemas``. The prose (the rules, the
verbs, every decision) is ``docs/contract.md``.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from messages import NOTIFICATION_TYPES
from residuo.asyncapi import asyncapi_document
from residuo.contract_schemas import event_models, event_schema, notification_schema

__all__ = ["asyncapi_document", "contract_files", "event_models", "export"]

_JSON_SCHEMA: Final = "https://json-schema.org/draft/2020-12/schema"
_DEFS_REF: Final = "#/$defs/{model}"


def _standalone(schema: dict[str, Any], identifier: str) -> dict[str, Any]:
    return {"$schema": _JSON_SCHEMA, "$id": identifier, **schema}


def contract_files() -> dict[str, str]:
    """Every file of the contract, by its path relative to the export directory."""
    files: dict[str, str] = {}
    for event_type in event_models():
        path = f"schemas/events/{event_type}.json"
        files[path] = _dumps(_standalone(event_schema(event_type, ref_template=_DEFS_REF), path))
    for notification_type in NOTIFICATION_TYPES:
        schema = notification_schema(notification_type, ref_template=_DEFS_REF)
        path = f"schemas/notifications/{notification_type}.json"
        files[path] = _dumps(_standalone(schema, path))
    files["asyncapi.json"] = _dumps(asyncapi_document())
    return files


def export(directory: Path) -> list[Path]:
    """Write ``contract_files()`` under ``directory``; the paths written. Files of an
    earlier export that the contract no longer has (a removed type) are deleted."""
    files = contract_files()
    for stale in sorted(directory.glob("schemas/*/*.json")):
        if stale.relative_to(directory).as_posix() not in files:
            stale.unlink()
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
