"""The published event contract: every message type, the topic it travels on, its `data` model and an
example (README "Events"). The JSON Schemas (`schemas/json/`) and the AsyncAPI document are made from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from schemas import examples
from schemas.commands import COMMAND_FAILED, COMMAND_MODELS, COMMAND_SUCCEEDED, CommandResult
from schemas.deadletter import DeadLetter, DeadLetterRetried
from schemas.events import EVENT_MODELS
from schemas.topics import (
    ARTIFACT_FAILED,
    ARTIFACT_STORED,
    CONNECTION_REAUTHORIZATION_NEEDED,
    DEAD_LETTER_CREATED,
    DEAD_LETTER_RETRIED,
    INBOUND_RECEIVED,
    OPERATOR_ACTION,
    ORDER_COMPLETED,
    ORDER_UPDATED,
    SCAN_NOTIFIED,
    SUBSCRIPTION_DISABLED,
    WATCH_PATIENTS,
)

Channel = Literal["inbound", "events", "artifacts", "deadletter", "commands"]
KEY_FORMAT = "{vendor}:{account}:{order}"
COMMAND_KEY = "{vendor}:{connection}:{subject}"  # the command's, and its result's
Model = type[BaseModel]


@dataclass(frozen=True)
class Message:
    type: str
    channel: Channel
    model: Model | None  # None: the vendor's verbatim body
    summary: str
    key: str = KEY_FORMAT
    direction: Literal["send", "receive"] = "send"  # send: scanbridge publishes; receive: it consumes

    @property
    def strict(self) -> bool:
        """Commands are validated strictly when received, so their published schema is closed too."""
        return self.direction == "receive"

    def example(self) -> dict[str, Any]:
        return examples.EXAMPLES[self.type]


MESSAGES: tuple[Message, ...] = (
    Message(INBOUND_RECEIVED, "inbound", None,
            "A vendor's webhook body, verbatim (audit and re-processing); extension `route`."),
    Message(SCAN_NOTIFIED, "events", EVENT_MODELS[SCAN_NOTIFIED],
            "A vendor told us (webhook) or a poller saw that an order changed: vendor ids only."),
    Message(ORDER_UPDATED, "events", EVENT_MODELS[ORDER_UPDATED],
            "The full order as fetched and normalized, once per order version."),
    Message(CONNECTION_REAUTHORIZATION_NEEDED, "events", EVENT_MODELS[CONNECTION_REAUTHORIZATION_NEEDED],
            "A connection needs a person to authorize it (again).", key="{vendor}:{account}:{connection}"),
    Message(SUBSCRIPTION_DISABLED, "events", EVENT_MODELS[SUBSCRIPTION_DISABLED],
            "An HTTP subscription's endpoint failed too long and was disabled.",
            key="subscription:{subscription}"),
    Message(OPERATOR_ACTION, "events", EVENT_MODELS[OPERATOR_ACTION],
            "An operator did something in the console (the audit log's record).", key="console:{actor}"),
    Message(ARTIFACT_STORED, "artifacts", EVENT_MODELS[ARTIFACT_STORED],
            "One artifact downloaded, verified and stored: where and how to get it."),
    Message(ARTIFACT_FAILED, "artifacts", EVENT_MODELS[ARTIFACT_FAILED],
            "One artifact that could not be fetched, why, and how to retry."),
    Message(ORDER_COMPLETED, "artifacts", EVENT_MODELS[ORDER_COMPLETED],
            "Every artifact of an order version is stored or failed: the list, once per version."),
    Message(DEAD_LETTER_CREATED, "deadletter", DeadLetter,
            "An event that could not be handled: the original, the reason and the attempts."),
    Message(DEAD_LETTER_RETRIED, "deadletter", DeadLetterRetried,
            "A dead letter was published again on its topic (`scanbridge dlq retry`)."),
    Message(WATCH_PATIENTS, "commands", EVENT_MODELS[WATCH_PATIENTS],
            "Start or stop watching 3Shape patients (from a practice-management system).",
            key="{connection}", direction="receive"),
    *(Message(event_type, "commands", model, (model.__doc__ or "").strip().splitlines()[0],
              key=COMMAND_KEY, direction="receive") for event_type, model in COMMAND_MODELS.items()),
    Message(COMMAND_SUCCEEDED, "events", CommandResult,
            "A command was executed: what the vendor answered, the ids it produced.", key=COMMAND_KEY),
    Message(COMMAND_FAILED, "events", CommandResult,
            "A command was refused or failed: why, the vendor's status, whether a retry may help.",
            key=COMMAND_KEY),
)


def by_type() -> dict[str, Message]:
    return {message.type: message for message in MESSAGES}
