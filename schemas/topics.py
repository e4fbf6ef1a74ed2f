"""Topic names (versioned) and which topic each event type goes to (DESIGN.md §2)."""

from schemas.section import Section

SCAN_NOTIFIED = "scan.notified"
ORDER_UPDATED = "order.updated"
ARTIFACT_STORED = "artifact.stored"
ARTIFACT_FAILED = "artifact.failed"
INBOUND_RECEIVED = "inbound.received"
CONNECTION_REAUTHORIZATION_NEEDED = "connection.reauthorization_needed"
WATCH_PATIENTS = "command.watch_patients"
ORDER_COMPLETED = "order.completed"
COMMAND_SUCCEEDED = "command.succeeded"
COMMAND_FAILED = "command.failed"
DEAD_LETTER_CREATED = "deadletter.created"
DEAD_LETTER_RETRIED = "deadletter.retried"
SUBSCRIPTION_DISABLED = "subscription.disabled"
OPERATOR_ACTION = "operator.action"


class Topics(Section):
    inbound: str = "scanbridge.inbound.v1"
    events: str = "scanbridge.events.v1"
    artifacts: str = "scanbridge.artifacts.v1"
    deadletter: str = "scanbridge.deadletter.v1"
    commands: str = "scanbridge.commands.v1"  # from practice-management systems, e.g. watch a patient

    def all(self) -> list[str]:
        return [self.inbound, self.events, self.artifacts, self.deadletter, self.commands]

    def for_type(self, event_type: str) -> str:
        if event_type == INBOUND_RECEIVED:
            return self.inbound
        if event_type in (ARTIFACT_STORED, ARTIFACT_FAILED, ORDER_COMPLETED):
            return self.artifacts
        if event_type in (DEAD_LETTER_CREATED, DEAD_LETTER_RETRIED):
            return self.deadletter
        if event_type == WATCH_PATIENTS or (
                event_type.startswith("command.") and event_type not in (COMMAND_SUCCEEDED, COMMAND_FAILED)):
            return self.commands  # commands; their results are events
        return self.events
