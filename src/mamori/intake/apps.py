from typing import Any

from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "mamori.intake"
    label = "intake"
    verbose_name = "Intake"

    def ready(self) -> None:
        from mamori.cases.signals import message_for_reporter

        message_for_reporter.connect(_mail_to_reporter, dispatch_uid="intake-mail-to-reporter")


def _mail_to_reporter(sender: Any, *, case: Any, message: Any, **_: Any) -> None:
    from mamori.intake import receipts

    receipts.send_reply(case, message)
