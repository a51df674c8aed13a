"""The channels a vulnerability report arrives by (DESIGN.md §1)."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "email"
    WEB = "web"
    API = "api"
    COORDINATOR = "coordinator"
    SUPPORT = "support"
    PUBLIC = "public"
    CUSTOMER = "customer"
    INTERNAL = "internal"

    @property
    def label(self) -> str:
        return {
            Channel.EMAIL: "Security mailbox",
            Channel.WEB: "Web form",
            Channel.API: "API",
            Channel.COORDINATOR: "Coordinator",
            Channel.SUPPORT: "Support engineer",
            Channel.PUBLIC: "Public source",
            Channel.CUSTOMER: "Customer",
            Channel.INTERNAL: "Internal",
        }[self]
