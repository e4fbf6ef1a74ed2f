"""`[commands]`: the command executor (README "Acting on vendors").

Authorization: the bus does not tell a consumer who produced a record (neither Kafka nor the embedded log
carry the producer's identity on it), so a producer's identity is the topic it may write to. Each
`[[commands.producers]]` names a topic of its own, which the Kafka ACLs let only that producer's principal
write (`kafka-acls --add --allow-principal User:<principal> --operation Write --topic <topic>`), and the
connections its commands may target. The shared commands topic is for whoever may write to it (on the
embedded bus: whoever can open its file), and may target `shared_topic_connections`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from schemas.section import Section

# S3's limit for a single PUT (Medit uploads go to a pre-signed S3 URL in one PUT, §3.4.3; the doc gives
# no size limit of its own).
S3_SINGLE_PUT_MAX = 5 * 1024**3


class CommandProducer(Section):
    name: str = Field(min_length=1, max_length=64, description="the producer (e.g. its Kafka principal)")
    topic: str = Field(min_length=1, description="its own commands topic (write ACL: that principal only)")
    connections: list[str] = Field(
        default_factory=list,
        description='connections its commands may target: "vendor/connection", "vendor/*" or "*"')


class CommandSettings(Section):
    enabled: bool = Field(True, description="execute commands in `scanbridge worker` and `scanbridge run`")
    group: str = "scanbridge-executor"
    max_in_flight: int = Field(8, ge=1, description="commands executed at once (one at a time per subject)")
    shared_topic_connections: list[str] = Field(
        default_factory=lambda: ["*"],
        description="connections that commands on the shared commands topic may target")
    producers: list[CommandProducer] = Field(default_factory=list)
    upload_roots: list[Path] = Field(default_factory=list,
                                     description="file:// upload sources must be under one of these folders")
    upload_hosts: list[str] = Field(default_factory=list,
                                    description="https upload sources must be on one of these hosts")
    max_upload_bytes: int = Field(S3_SINGLE_PUT_MAX, ge=1, le=S3_SINGLE_PUT_MAX,
                                  description="files above this are refused (S3 single PUT: 5 GiB)")
    chunk_bytes: int = Field(1024 * 1024, ge=4096, description="upload read size: memory per upload")
    reconcile_after_s: float = Field(
        120.0, ge=0, description="a command found 'started' is reconciled only once its record has not "
                                 "moved this long (another executor may still be calling the vendor)")
